"""``kvcal evaluate --compare``: every int8 setting a config can choose, on one model and text.

The variants are {min-max, IFMR, HFMG} x {per_tensor, per_channel} x {symmetric,
asymmetric}, each applied to the config's layers with the config's batch_num. IFMR and HFMG
run through the engine (:func:`kvcal.calibrate.calibrate`, AMCT's defaults); min-max is the
data's min and max through spec §3.1's formulas (what neither algorithm clips). Each is
evaluated as :func:`kvcal.calibrate.evaluate.evaluate` does: perplexity and per-layer SQNR.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kvcal.calibrate.evaluate import Evaluation, Progress, evaluate
from kvcal.calibrate.factors import Factors, factors_from_range
from kvcal.calibrate.samples import open_samples
from kvcal.grammar.plan import LayerPlan

__all__ = ["VARIANTS", "Comparison", "Variant", "compare", "format_table", "plot", "variant_factors"]

_ALGO_LABEL = {"minmax": "min-max", "ifmr": "IFMR", "hfmg": "HFMG"}


@dataclass(frozen=True)
class Variant:
    """One setting: algorithm (``minmax``/``ifmr``/``hfmg``), granularity, asymmetric or not."""

    algorithm: str
    granularity: str
    with_offset: bool

    @property
    def name(self) -> str:
        mode = "asymmetric" if self.with_offset else "symmetric"
        return f"{_ALGO_LABEL[self.algorithm]} {self.granularity} {mode}"

    def settings(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "granularity": self.granularity,
                "symmetric": not self.with_offset}  # fmt: skip


VARIANTS: tuple[Variant, ...] = tuple(
    Variant(a, g, o) for a in ("minmax", "ifmr", "hfmg")
    for g in ("per_tensor", "per_channel") for o in (False, True)
)  # fmt: skip


def _minmax(samples: Any, layers: Sequence[str], batch_num: int, v: Variant) -> dict[str, Factors]:
    out = {}
    with open_samples(samples) as source:
        for layer in layers:
            lo = hi = None
            for batch in source.batches(layer, batch_num):
                b = batch.to(torch.float32)
                b = b.reshape(-1, b.shape[-1]) if v.granularity == "per_channel" else b.reshape(-1, 1)
                bmin, bmax = b.amin(dim=0), b.amax(dim=0)
                lo = bmin if lo is None else torch.minimum(lo, bmin)
                hi = bmax if hi is None else torch.maximum(hi, bmax)
            out[layer] = factors_from_range(lo, hi, v.with_offset)
    return out


def variant_factors(v: Variant, layers: Sequence[str], samples: Any, batch_num: int, *,
                    device: str = "cpu", progress: Progress | None = None) -> dict[str, Factors]:  # fmt: skip
    """The factors of every layer under *v*, calibrated on *samples* (a path or source)."""
    if v.algorithm == "minmax":
        return _minmax(samples, layers, batch_num, v)
    from kvcal.calibrate import calibrate

    plans = [LayerPlan(name, v.algorithm, v.granularity, v.with_offset, batch_num)  # type: ignore[arg-type]
             for name in layers]  # fmt: skip
    result = calibrate(plans, samples, device=device, progress=progress, cancel=None)
    return {layer.layer_name: layer.factors for layer in result.layers}


@dataclass(frozen=True)
class Comparison:
    """The unquantized baseline and one evaluation per setting, on one model and text."""

    baseline: Evaluation
    rows: list[Evaluation]
    about: dict[str, Any] = field(default_factory=dict)

    def within(self, percent: float = 1.0) -> list[Evaluation]:
        """Rows whose perplexity is at most *percent* above the baseline, best first."""
        ok = [r for r in self.rows if r.delta(self.baseline.perplexity) <= percent]
        return sorted(ok, key=lambda r: r.perplexity)

    def best(self, percent: float = 1.0) -> Evaluation | None:
        """The lowest-perplexity row within *percent* of the baseline, if any."""
        rows = self.within(percent)
        return rows[0] if rows else None

    def to_json(self) -> dict[str, Any]:
        base = self.baseline.perplexity
        best = self.best()

        def row(r: Evaluation) -> dict[str, Any]:
            finite = {k: (v if math.isfinite(v) else None) for k, v in r.sqnr_db.items()}
            return {"name": r.name, **r.settings, "perplexity": r.perplexity,
                    "delta_percent": r.delta(base), "k_only_perplexity": r.k_only,
                    "v_only_perplexity": r.v_only, "mean_sqnr_db_k": r.mean_sqnr("k"),
                    "mean_sqnr_db_v": r.mean_sqnr("v"), "sqnr_db": finite,
                    "eval_seconds": round(r.seconds, 2)}  # fmt: skip

        return {**self.about, "baseline_perplexity": base, "rows": [row(r) for r in self.rows],
                "best_within_1_percent": best.name if best else None}  # fmt: skip


def compare(model: Any, ids: torch.Tensor, layers: Sequence[str], samples: Any, batch_num: int, *,
            extra: Mapping[str, Mapping[str, Any]] | None = None,
            variants: Sequence[Variant] = VARIANTS, window: int = 512, device: str = "cpu",
            split_kv: bool = False, progress: Progress | None = None,
            about: dict[str, Any] | None = None,
            extra_settings: dict[str, Any] | None = None) -> Comparison:  # fmt: skip
    """Baseline, then each of *extra* (name -> factors, e.g. the config's own, described by
    *extra_settings*), then *variants*."""
    baseline = evaluate(model, ids, None, name="unquantized (float32)", window=window,
                        progress=progress)  # fmt: skip
    rows = [evaluate(model, ids, f, name=n, window=window, progress=progress, split_kv=split_kv,
                     settings={"algorithm": "config", **(extra_settings or {})})
            for n, f in (extra or {}).items()]  # fmt: skip
    for i, v in enumerate(variants):
        if progress:
            progress(f"calibrating {v.name}", i, len(variants))
        t0 = time.perf_counter()
        factors = variant_factors(v, layers, samples, batch_num, device=device)
        settings = {**v.settings(), "calibration_seconds": round(time.perf_counter() - t0, 2)}
        rows.append(evaluate(model, ids, factors, name=v.name, window=window, progress=progress,
                             settings=settings, split_kv=split_kv))  # fmt: skip
    return Comparison(baseline, rows, dict(about or {}))


def _pct(value: float | None, base: float) -> str:
    return "–" if value is None else f"{100.0 * (value / base - 1.0):+.2f} %"


def _db(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def format_table(c: Comparison, percent: float = 1.0) -> str:
    """The comparison as a Markdown table (also readable as plain text)."""
    base = c.baseline.perplexity
    split = any(r.k_only is not None or r.v_only is not None for r in c.rows)
    head = ["setting", "perplexity", "Δ perplexity", f"≤ +{percent:g} %"]
    head += ["Δ K only", "Δ V only"] if split else []
    head += ["SQNR K (dB)", "SQNR V (dB)", "calibration (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines.append(f"| {c.baseline.name} | {base:.4f} | – | – |" + (" – | – |" if split else "")
                 + " – | – | – |")  # fmt: skip
    best = c.best(percent)
    for r in c.rows:
        name = f"**{r.name}**" if best is not None and r is best else r.name
        ok = "yes" if r.delta(base) <= percent else "no"
        cells = [name, f"{r.perplexity:.4f}", _pct(r.perplexity, base), ok]
        cells += [_pct(r.k_only, base), _pct(r.v_only, base)] if split else []
        secs = r.settings.get("calibration_seconds")
        cells += [_db(r.mean_sqnr("k")), _db(r.mean_sqnr("v")), "–" if secs is None else f"{secs:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    summary = (f"best int8 setting within +{percent:g} % of the unquantized perplexity: "
               + (f"{best.name} ({best.perplexity:.4f}, {_pct(best.perplexity, base)})" if best
                  else "none"))  # fmt: skip
    return "\n".join([*lines, "", summary])


def _layer_index(name: str, fallback: int) -> int:
    m = re.search(r"layers?\.(\d+)\.", name)
    return int(m.group(1)) if m else fallback


def plot(c: Comparison, path: str | Path, percent: float = 1.0) -> Path:
    """Two panels: Δ perplexity per setting; per-layer SQNR of K (solid) and V (dotted) for the
    config and the best per_tensor and per_channel settings."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    base = c.baseline.perplexity
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.35 * len(c.rows) + 2.5))
    names = [r.name for r in c.rows][::-1]
    deltas = [r.delta(base) for r in c.rows][::-1]
    colors = ["tab:green" if d <= percent else "tab:red" for d in deltas]
    ax1.barh(names, deltas, color=colors)
    ax1.axvline(percent, color="black", linestyle="--", linewidth=1, label=f"+{percent:g} %")
    if max(abs(d) for d in deltas) > 25:  # a broken setting: keep the small ones readable
        ax1.set_xscale("symlog", linthresh=1.0)
    ax1.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:+g} %"))
    ax1.set_xlabel("perplexity change vs float32 (%)")
    ax1.set_title(f"perplexity (float32: {base:.3f})")
    ax1.legend(loc="lower right")
    # the config's own rows, then the lowest-perplexity per_tensor and per_channel settings
    shown = [r for r in c.rows if r.settings.get("algorithm") == "config"][:2]
    for gran in ("per_tensor", "per_channel"):
        same = sorted((r for r in c.rows if r.settings.get("granularity") == gran), key=lambda r: r.perplexity)
        shown += same[:1]
    for r, color in zip(shown, ("tab:blue", "tab:green", "tab:orange", "tab:red"), strict=False):
        for kind, style in (("k", "-"), ("v", ":")):
            pts = sorted((_layer_index(n, i), v) for i, (n, v) in enumerate(r.sqnr_db.items())
                         if n.endswith(f"{kind}_proj") and math.isfinite(v))  # fmt: skip
            if pts:
                ax2.plot(*zip(*pts, strict=True), style, color=color, marker=".",
                         label=f"{r.name} ({kind.upper()})")  # fmt: skip
    ax2.set_xlabel("layer")
    ax2.set_ylabel("SQNR (dB)")
    ax2.set_title("per-layer SQNR on the evaluated text")
    ax2.legend(fontsize=7)
    fig.suptitle(str(c.about.get("model", "")), fontsize=9)
    fig.tight_layout()
    import io

    from kvcal.grammar.files import write_output

    out = Path(path)
    picture = io.BytesIO()
    fig.savefig(picture, dpi=110, format=out.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    write_output(out, picture.getvalue(), make_parents=True)  # (a link or FIFO there: refused)
    return out
