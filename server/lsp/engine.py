"""The bridge to the calibration engine (:mod:`kvcal.calibrate`, which imports torch).

Imported only when a calibration runs, from the worker thread's caller; everything here
runs in that thread. Turns the engine's result into the command's JSON-able result and
its errors into :class:`Failed` naming the layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kvcal.server.lsp.calibration import Job



class Cancelled(Exception):
    """The client cancelled the calibration (work-done progress cancel)."""


class Failed(Exception):
    """The engine refused the data or the plan; ``layer`` is the layer it names, if any."""

    def __init__(self, message: str, layer: str | None) -> None:
        super().__init__(message)
        self.layer = layer


def run(job: Job, *, progress: Callable[[str, int, int], None], cancel: Callable[[], bool],
        device: str = "auto") -> dict[str, Any]:  # fmt: skip
    from kvcal.calibrate import CalibrationCancelled, CalibrationError, calibrate, write_record
    from kvcal.calibrate.results.report import picture_name, write_report

    total = len(job.plans)
    try:
        result = calibrate(list(job.plans), job.data, device=device, progress=progress, cancel=cancel)
        if cancel():
            raise Cancelled()
        progress(f"writing {job.record.name} and the report", total, total)
        job.record.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # "replaced the record of N layers": expected here
            warnings.simplefilter("ignore")
            write_record(job.record, result.factors_by_layer())
        write_report(result, job.report, config=job.label, record=str(job.record))
    except CalibrationCancelled as exc:
        raise Cancelled() from exc
    except CalibrationError as exc:
        layer = getattr(exc, "layer", None) or _layer_named(str(exc), job)
        raise Failed(str(exc), layer) from exc
    except OSError as exc:
        raise Failed(f"cannot write {exc.filename or job.record}: {exc.strerror or exc}", None) from exc
    layers = []
    for layer in result.layers:
        picture = job.report / picture_name(layer.layer_name)
        layers.append(_layer_row(layer, str(picture) if picture.exists() else None))
    return {"markdown": _markdown(job, layers, result.device, result.seconds), "record": str(job.record),
            "report": str(job.report), "errors": [], "layers": layers}  # fmt: skip


def _layer_named(message: str, job: Job) -> str | None:
    """The layer of *job* a message names (as ``layer 'x'``, escaped: grammar.problems.quoted)."""
    from kvcal.grammar.problems import quoted

    return next((p.layer_name for p in job.plans if f"layer {quoted(p.layer_name)}" in message), None)


def _layer_row(layer: Any, histogram: str | None) -> dict[str, Any]:
    """The engine's JSON row (the same as ``kvcal calibrate --json``), with its picture."""
    from kvcal.calibrate.results.report import layer_row

    return {**layer_row(layer), "histogram": histogram}


def _markdown(job: Job, layers: list[dict[str, Any]], device: str, seconds: float) -> str:
    from kvcal.grammar.problems import excerpt
    from kvcal.server.lsp.outcome import summary

    lines = [f"### Calibration of {job.label}", "", f"{len(layers)} layer(s) in {seconds:.2f} s on {device}", "",
             "| layer | algorithm | granularity | mode | scale / offset | SQNR (dB) | MSE |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in layers:
        mode = "symmetric" if row["symmetric"] else "asymmetric"
        sq = f"{row['sqnr_db']:.2f}" if row["sqnr_db"] is not None else "–"
        mse = f"{row['mse']:.3g}" if row["mse"] is not None else "–"
        scale_offset = summary(row).split(" · ")[0]
        lines.append(f"| `{excerpt(row['layer'])}` | {row['algorithm']} | {row['granularity']} | {mode} | {scale_offset} | {sq} | {mse} |")
    lines += ["", f"Record: `{job.record}`  ", f"Report: `{job.report}`"]
    return "\n".join(lines)
