"""The calibration's worker-thread side: a :class:`Job` (what the command prepared) run
through :func:`kvcal.calibrate.runner.calibrate_and_write`, the result turned into the
command's JSON-able result and its errors into :class:`Failed` naming the layer.

:func:`run` imports the calibration engine (torch) when a calibration runs — a deliberate
lazy import: the language server starts and answers without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.problems import excerpt, quoted
from kvcal.server.lsp.outcome import summary


@dataclass(frozen=True)
class Job:
    """A calibration the command prepared: the layers' plans, the sample data, where the
    record and the report go."""

    uri: str
    label: str
    plans: tuple[LayerPlan, ...]
    data: Path
    record: Path
    report: Path
    #: only some of the config's layers: the record and the shown results of the others stay
    subset: bool = False


class Cancelled(Exception):
    """The client cancelled the calibration (work-done progress cancel)."""


class Failed(Exception):
    """The engine refused the data or the plan; ``layer`` is the layer it names, if any."""

    def __init__(self, message: str, layer: str | None) -> None:
        super().__init__(message)
        self.layer = layer


def run(
    job: Job, *, progress: Callable[[str, int, int], None], cancel: Callable[[], bool], device: str = "auto"
) -> dict[str, Any]:
    from kvcal.calibrate import (  # (torch: see the module's docstring)
        CalibrationCancelled,
        CalibrationError,
    )
    from kvcal.calibrate.results.outcome import layer_row
    from kvcal.calibrate.results.report import picture_name
    from kvcal.calibrate.runner import calibrate_and_write

    try:
        job.record.parent.mkdir(parents=True, exist_ok=True)
        written = calibrate_and_write(
            list(job.plans),
            job.data,
            record=job.record,
            report=job.report,
            config=job.label,
            device=device,
            progress=progress,
            cancel=cancel,
        )
    except CalibrationCancelled as exc:
        raise Cancelled() from exc
    except CalibrationError as exc:
        layer = getattr(exc, "layer", None) or _layer_named(str(exc), job)
        raise Failed(str(exc), layer) from exc
    except OSError as exc:
        raise Failed(f"cannot write {exc.filename or job.record}: {exc.strerror or exc}", None) from exc
    result = written.result
    layers = []
    for layer in result.layers:
        picture = job.report / picture_name(layer.layer_name)
        layers.append({**layer_row(layer), "histogram": str(picture) if picture.exists() else None})
    return {
        "markdown": _markdown(job, layers, result.device, result.seconds),
        "record": str(job.record),
        "report": str(job.report),
        "errors": [],
        "layers": layers,
    }


def _layer_named(message: str, job: Job) -> str | None:
    """The layer of *job* a message names (as ``layer 'x'``, escaped: grammar.problems.quoted)."""
    return next((p.layer_name for p in job.plans if f"layer {quoted(p.layer_name)}" in message), None)


def _markdown(job: Job, layers: list[dict[str, Any]], device: str, seconds: float) -> str:
    lines = [
        f"### Calibration of {job.label}",
        "",
        f"{len(layers)} layer(s) in {seconds:.2f} s on {device}",
        "",
        "| layer | algorithm | granularity | mode | scale / offset | SQNR (dB) | MSE |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in layers:
        mode = "symmetric" if row["symmetric"] else "asymmetric"
        sq = f"{row['sqnr_db']:.2f}" if row["sqnr_db"] is not None else "–"
        mse = f"{row['mse']:.3g}" if row["mse"] is not None else "–"
        scale_offset = summary(row).split(" · ")[0]
        lines.append(
            f"| `{excerpt(row['layer'])}` | {row['algorithm']} | {row['granularity']} | {mode} | {scale_offset} | {sq} | {mse} |"
        )
    lines += ["", f"Record: `{job.record}`  ", f"Report: `{job.report}`"]
    return "\n".join(lines)
