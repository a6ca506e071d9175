"""``kvcal tune``'s output: the chosen settings as a commented quant.cfg, and the evidence.

The most common setting becomes ``kv_cache_quant_config``'s ``calibration_config`` with its
layers in ``quant_layers``; every other layer gets an ``override_layers_configs`` entry.
``asymmetric`` and ``quant_granularity`` are always written (AMCT's defaults for them depend
on ``activation_offset``); IFMR's search range only when it is not AMCT's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from kvcal.calibrate.model.intervals import delta_interval, difference_interval
from kvcal.calibrate.model.tune import Finalist, Setting, TuneResult
from kvcal.grammar import IfmrParams

__all__ = ["algorithm_block", "config_text", "evidence_lines", "report"]


def _quote(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def algorithm_block(s: Setting, indent: str) -> list[str]:
    """``ifmr_quantize { ... }`` / ``hfmg_quantize { ... }`` for *s*, indented."""
    inner = indent + "  "
    lines = [f"{indent}{s.algorithm}_quantize {{"]
    if s.algorithm == "hfmg":
        lines.append(f"{inner}num_of_bins: {s.hfmg_params.num_of_bins}")
    else:
        p, d = s.ifmr_params, IfmrParams()
        for name in ("search_range_start", "search_range_end", "search_step", "max_percentile", "min_percentile"):
            if getattr(p, name) != getattr(d, name):
                lines.append(f"{inner}{name}: {getattr(p, name):g}")
    lines += [
        f"{inner}asymmetric: {'true' if s.with_offset else 'false'}",
        f"{inner}quant_granularity: {s.granularity}",
        f"{indent}}}",
    ]
    return lines


def config_text(settings: dict[str, Setting], batch_num: int, header: Sequence[str] = ()) -> str:
    """A quant.cfg giving each layer of *settings* its setting (layer order kept)."""
    counts = Counter(settings.values())
    common = max(counts, key=lambda s: (counts[s], -list(settings.values()).index(s)))
    # the schema header first (the text format's own), so every editor and kvcal know the file
    lines = [
        "# proto-file: quant_calibration_config_pytorch.proto",
        "# proto-message: AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig",
    ]
    lines += [f"# {h}".rstrip() for h in header]
    lines += [f"batch_num: {batch_num}", "", "kv_cache_quant_config {"]
    lines += [f"  quant_layers: {_quote(n)}" for n, s in settings.items() if s == common]
    lines += ["  calibration_config {", *algorithm_block(common, "    "), "  }", "}"]
    others = [(n, s) for n, s in settings.items() if s != common]
    if others:
        lines += ["", f"# {len(others)} layer(s) with their own setting:"]
    for n, s in others:
        lines += [
            "override_layers_configs {",
            f"  layer_name: {_quote(n)}",
            "  kv_data_quant_config {",
            *algorithm_block(s, "    "),
            "  }",
            "}",
        ]
    return "\n".join(lines) + "\n"


def _finalist_line(r: TuneResult, f: Finalist) -> str:
    if f.scores is None:
        return f"{f.label}: (no model run)"
    pooled = delta_interval(r.baseline, f.scores)
    texts = ", ".join(f"{n} {r.delta(f, t):+.2f} %" for t, n in zip(r.baseline.texts(), r.text_names, strict=False))
    if f is r.chosen or r.chosen.scores is None:
        mark = "CHOSEN" if f is r.chosen else "?"
    else:
        diff = difference_interval(r.baseline, f.scores, r.chosen.scores)
        mark = "not distinguishable" if diff.contains(0.0) else ("worse" if diff.low > 0 else "better")
    return f"{f.label}: {pooled} ({texts}) [{mark}]"


def evidence_lines(r: TuneResult, top: int = 5) -> list[str]:
    """The comment lines that say why: finalists by held-out perplexity, each kind's settings
    by held-out SQNR."""
    out = ["Held-out perplexity change of the finalists, pooled with its 95 % interval (per text):"]
    out += [f"  {_finalist_line(r, f)}" for f in r.finalists]
    for kind, table in r.kinds.items():
        out.append(f"{kind}: held-out SQNR by setting (dB; '~': within noise or 0.1 dB of the best):")
        for i, row in enumerate(table[:top]):
            tag = " ~" if row["same"] and i else (" best" if not i else "")
            tag += " <- chosen" if row["chosen"] else ""
            out.append(f"  {row['db']:6.2f}  {row['setting'].name}{tag}")
        if len(table) > top:
            out.append(f"  ... {len(table) - top} more in the report")
    return out


def report(r: TuneResult, about: dict[str, Any]) -> dict[str, Any]:
    """Every number of the run as plain JSON values (``kvcal tune --report``)."""

    def fin(f: Finalist) -> dict[str, Any]:
        row: dict[str, Any] = {
            "label": f.label,
            "chosen": f is r.chosen,
            "settings": {n: s.name for n, s in f.settings.items()},
        }
        if f.scores is not None:
            row["perplexity"] = f.scores.perplexity()
            row["delta"] = delta_interval(r.baseline, f.scores).to_json()
            row["texts"] = {
                n: delta_interval(r.baseline, f.scores, text=t).to_json()
                for t, n in zip(r.baseline.texts(), r.text_names, strict=False)
            }
        return row

    kinds = {
        k: [{**{key: v for key, v in row.items() if key != "setting"}, "setting": row["setting"].name} for row in table]
        for k, table in r.kinds.items()
    }
    return {
        **about,
        "baseline_perplexity": r.baseline.perplexity(),
        "batch_num": r.batch_num,
        "limit_percent": r.limit,
        "folds": [
            {"name": f.name, "batches": [list(b) for b in f.batches], "held_out": list(f.held_out)} for f in r.folds
        ],
        "kinds": kinds,
        "finalists": [fin(f) for f in r.finalists],
        "seconds": r.seconds,
    }
