"""Presenting a calibration: one row per layer (table, JSON) and a Markdown report with a
histogram picture per layer (matplotlib, Agg backend, imported only here and lazily).

The report folder and the files in it are outputs (:mod:`kvcal.grammar.files`): the folder
is created or must be a folder (not a link to one), and each file is written atomically
as a regular file, so a symbolic link or FIFO planted in the folder is refused, never
followed.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

from kvcal.calibrate.results.outcome import CalibrationResult, LayerResult, clip_range
from kvcal.grammar.files import check_output, output_dir, write_output
from kvcal.grammar.problems import excerpt, quoted


def number(v: float, digits: int = 4) -> str:
    if not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return f"{v + 0.0:.{digits}g}"  # (+ 0.0: no "-0")


def gain(db: float) -> str:
    """An SQNR difference: ``+1.23 dB``; ``±0 dB`` when both sides are exact (inf − inf)."""
    return "±0 dB" if math.isnan(db) else f"{db:+.2f} dB"


def other_gain(q: Any) -> str:
    """The gain over the other algorithm, or ``n/a`` when it could not run on the data."""
    return "n/a" if q.other_error is not None else gain(q.vs_other_db)


def summary(values: list[float] | list[int]) -> str:
    """One value as itself, many as ``min…max (n ch)`` (one value when they are all equal)."""
    if len(values) == 1:
        return number(values[0]) if isinstance(values[0], float) else str(values[0])
    lo, hi = min(values), max(values)
    show = number if isinstance(lo, float) else str
    text = show(lo) if lo == hi else f"{show(lo)}…{show(hi)}"
    return f"{text} ({len(values)} ch)"


def table(result: CalibrationResult) -> str:
    """The per-layer table the CLI prints."""
    head = [
        "layer",
        "algo",
        "granularity",
        "mode",
        "scale",
        "offset",
        "clip range",
        "SQNR dB",
        "MSE",
        "vs min-max",
        "vs other",
    ]
    rows = [head]
    for r in result.layers:
        q = r.quality
        lo, hi = clip_range(r.factors)
        scales, offsets = r.factors.to_lists()
        rows.append(
            [
                excerpt(r.layer_name),
                r.plan.algorithm.upper(),
                r.plan.granularity,
                "asym" if r.plan.with_offset else "sym",
                summary(scales),
                summary(offsets),
                f"[{number(lo)}, {number(hi)}]",
                number(q.chosen.sqnr_db, 4),
                number(q.chosen.mse, 3),
                gain(q.vs_minmax_db),
                f"{other_gain(q)} ({q.other_algorithm.upper()})",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def warnings_of(result: CalibrationResult) -> list[str]:
    """What a user should look at: layers whose chosen factors keep no signal."""
    out = []
    for r in result.layers:
        sqnr = r.quality.chosen.sqnr_db
        if math.isfinite(sqnr) and sqnr <= 0:
            extreme = max(abs(float(r.histogram.slice_min.min())), abs(float(r.histogram.slice_max.max())))
            why = (
                f" (its values, at most {extreme:.3g}, are below AMCT's smallest scale: it uses scale 1 there)"
                if float(r.factors.scale.max()) == 1.0
                else ""
            )
            out.append(f"layer {quoted(r.layer_name)}: SQNR {sqnr:.1f} dB — int8 keeps nothing of it{why}")
        if r.quality.other_error is not None:
            out.append(
                f"layer {quoted(r.layer_name)}: {r.plan.algorithm.upper()} calibrated it; no comparison with "
                f"{r.quality.other_algorithm.upper()} (AMCT's defaults), which cannot run on this data: "
                f"{r.quality.other_error}"
            )
    return out


def picture_name(layer: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", layer) + ".png"


def draw_layer(r: LayerResult, path: Path) -> Path:
    """Histogram of the layer's values (log counts) with the chosen clip range marked,
    written to *path* as an output (atomically; a link or FIFO there is refused)."""
    import matplotlib  # (deliberately lazy: only a report with pictures pays for matplotlib's import)

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    h = r.histogram
    per_channel = len(r.factors) > 1
    fig = Figure(figsize=(8, 5.5 if per_channel else 3.6), layout="constrained")
    axes = fig.subplots(2 if per_channel else 1, 1, squeeze=False)[:, 0]
    ax = axes[0]
    edges = h.edges.numpy()
    ax.stairs(h.counts.numpy(), edges, fill=True, color="#8aa9c9", label="values")
    ax.set_yscale("symlog", linthresh=1)
    lo, hi = clip_range(r.factors)
    ax.axvspan(lo, hi, color="#2a7", alpha=0.12)
    for x in (lo, hi):
        ax.axvline(x, color="#2a7", lw=1.6)
    ax.plot([], [], color="#2a7", lw=1.6, label=f"{r.plan.algorithm.upper()} clip (chosen)")
    if r.quality.other_factors is not None:
        for x in clip_range(r.quality.other_factors):
            ax.axvline(x, color="#c63", lw=1, ls="--")
        ax.plot([], [], color="#c63", lw=1, ls="--", label=f"{r.quality.other_algorithm.upper()} clip")
    ax.set_title(
        f"{excerpt(r.layer_name)} — {r.plan.algorithm.upper()} {r.plan.granularity}, "
        f"SQNR {number(r.quality.chosen.sqnr_db)} dB",
        fontsize=9,
    )
    ax.set_xlabel("activation value")
    ax.set_ylabel("count")
    ax.legend(fontsize=7, loc="upper right")
    if per_channel:
        ch = range(len(r.factors))
        bx = axes[1]
        bx.fill_between(
            ch, h.slice_min.numpy(), h.slice_max.numpy(), color="#8aa9c9", alpha=0.6, step="mid", label="data range"
        )
        bx.fill_between(
            ch,
            r.factors.clip_min.numpy(),
            r.factors.clip_max.numpy(),
            color="#2a7",
            alpha=0.35,
            step="mid",
            label="clip range",
        )
        bx.set_xlabel("channel")
        bx.set_ylabel("value")
        bx.legend(fontsize=7, loc="upper right")
    check_output(path)  # (before drawing: a refused path costs no picture)
    png = io.BytesIO()
    fig.savefig(png, dpi=110, format="png")
    write_output(path, png.getvalue(), make_parents=True)
    return path


def write_report(
    result: CalibrationResult, directory: str | Path, *, config: str | None = None, record: str | None = None
) -> Path:
    """``report.md`` plus one PNG per layer in *directory*; returns the Markdown path.
    Every target is checked before anything is written (FileRefused names the first one
    that is a link, FIFO, device or folder)."""
    out = output_dir(directory)
    path = out / "report.md"
    for target in (path, *(out / picture_name(r.layer_name) for r in result.layers)):
        check_output(target)
    lines = ["# kvcal calibration report", ""]
    if config:
        lines.append(f"- config: `{config}`")
    lines += [f"- samples: `{result.samples}`", f"- device: {result.device}", f"- time: {result.seconds:.2f} s"]
    if record:
        lines.append(f"- record: `{record}`")
    lines += [
        "",
        "| layer | algorithm | mode | scale | offset | clip range | SQNR dB | MSE | "
        "max abs err | clipped | vs min-max | vs other |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in result.layers:
        q = r.quality
        scales, offsets = r.factors.to_lists()
        lo, hi = clip_range(r.factors)
        mode = "asymmetric" if r.plan.with_offset else "symmetric"
        lines.append(
            f"| `{excerpt(r.layer_name)}` | {r.plan.algorithm.upper()} {r.plan.granularity} | {mode} | "
            f"{summary(scales)} | {summary(offsets)} | [{number(lo)}, {number(hi)}] | "
            f"{number(q.chosen.sqnr_db)} | {number(q.chosen.mse, 3)} | {number(q.chosen.max_abs_err, 3)} | "
            f"{q.chosen.clipped_fraction:.2e} | {gain(q.vs_minmax_db)} | "
            f"{other_gain(q)} ({q.other_algorithm.upper()}) |"
        )
    for r in result.layers:
        picture = draw_layer(r, out / picture_name(r.layer_name))
        q = r.quality
        lines += [
            "",
            f"## `{excerpt(r.layer_name)}`",
            "",
            f"![histogram of {excerpt(r.layer_name)}]({picture.name})",
            "",
            "| factors | SQNR dB | MSE | max abs err | clipped |",
            "|---|---:|---:|---:|---:|",
        ]
        for label, m in (
            (f"{r.plan.algorithm.upper()} (chosen)", q.chosen),
            ("min-max", q.minmax),
            (f"{q.other_algorithm.upper()} (defaults)", q.other),
        ):
            lines.append(
                f"| {label} | {number(m.sqnr_db)} | {number(m.mse, 3)} | "
                f"{number(m.max_abs_err, 3)} | {m.clipped_fraction:.2e} |"
            )
    write_output(path, "\n".join(lines) + "\n")
    return path
