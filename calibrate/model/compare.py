"""``kvcal evaluate --compare``: every int8 setting a config can choose, on one model and its texts.

The variants are {min-max, IFMR, HFMG} x {per_tensor, per_channel} x {symmetric,
asymmetric}, each applied to the config's layers with the config's batch_num. IFMR and HFMG
run through the engine (:func:`kvcal.calibrate.calibrate`, AMCT's defaults); min-max is the
data's min and max through spec §3.1's formulas (what neither algorithm clips). Each is
evaluated as :func:`kvcal.calibrate.model.evaluate.evaluate` does: perplexity per window of every
text, per-layer SQNR. The table gives each text's perplexity change with its interval
(:mod:`kvcal.calibrate.model.intervals`) and says which settings the data cannot tell from the best.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from kvcal.calibrate.data.layout import lay_out
from kvcal.calibrate.data.samples import open_samples
from kvcal.calibrate.factors import Factors, factors_from_range
from kvcal.calibrate.model.evaluate import Evaluation, Progress, evaluate
from kvcal.calibrate.model.intervals import Interval, delta_interval, difference_interval
from kvcal.calibrate.runner import calibrate
from kvcal.grammar import LayerPlan
from kvcal.grammar.files import write_output
from kvcal.grammar.plan import Granularity

__all__ = ["VARIANTS", "Comparison", "Variant", "compare", "format_table", "plot", "variant_factors"]

_ALGO_LABEL = {"minmax": "min-max", "ifmr": "IFMR", "hfmg": "HFMG"}


@dataclass(frozen=True)
class Variant:
    """One setting: algorithm (``minmax``/``ifmr``/``hfmg``), granularity, asymmetric or not."""

    algorithm: Literal["minmax", "ifmr", "hfmg"]
    granularity: Granularity
    with_offset: bool

    @property
    def name(self) -> str:
        mode = "asymmetric" if self.with_offset else "symmetric"
        return f"{_ALGO_LABEL[self.algorithm]} {self.granularity} {mode}"

    def settings(self) -> dict[str, Any]:
        return {"algorithm": self.algorithm, "granularity": self.granularity, "symmetric": not self.with_offset}


_ALGORITHMS: tuple[Literal["minmax", "ifmr", "hfmg"], ...] = ("minmax", "ifmr", "hfmg")
_GRANULARITIES: tuple[Granularity, ...] = ("per_tensor", "per_channel")
VARIANTS: tuple[Variant, ...] = tuple(
    Variant(a, g, o) for a in _ALGORITHMS for g in _GRANULARITIES for o in (False, True)
)


def _minmax(samples: Any, layers: Sequence[str], batch_num: int, v: Variant) -> dict[str, Factors]:
    """The calibration data's min and max per layer (per channel), through AMCT's formulas."""
    out = {}
    with open_samples(samples) as source:
        source.require(layers)
        for layer in layers:
            source.check_count(layer, batch_num)
            lay = lay_out(
                [source.batch(layer, i) for i in range(batch_num)],
                per_channel=v.granularity == "per_channel",
                device=torch.device("cpu"),
                source=str(source.path),
                layer=layer,
            )
            out[layer] = factors_from_range(lay.matrix.amin(dim=1), lay.matrix.amax(dim=1), v.with_offset)
    return out


def variant_factors(
    v: Variant,
    layers: Sequence[str],
    samples: Any,
    batch_num: int,
    *,
    device: str = "cpu",
    progress: Progress | None = None,
) -> dict[str, Factors]:
    """The factors of every layer under *v*, calibrated on *samples* (a path or source)."""
    algorithm = v.algorithm
    if algorithm == "minmax":
        return _minmax(samples, layers, batch_num, v)
    plans = [LayerPlan(name, algorithm, v.granularity, v.with_offset, batch_num) for name in layers]
    result = calibrate(plans, samples, device=device, progress=progress, cancel=None)
    return {layer.layer_name: layer.factors for layer in result.layers}


@dataclass(frozen=True)
class Comparison:
    """The unquantized baseline and one evaluation per setting, on one model and its texts.

    ``texts`` names the texts by index (the windows' ``text``); a comparison made without
    windows (perplexities only) has no intervals.
    """

    baseline: Evaluation
    rows: list[Evaluation]
    about: dict[str, Any] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)

    def text_indices(self) -> list[int]:
        ws = self.baseline.windows
        return ws.texts() if ws is not None and len(self.texts) > 1 else []

    def text_delta(self, row: Evaluation, text: int) -> float:
        return 100.0 * (row.text_perplexity(text) / self.baseline.text_perplexity(text) - 1.0)

    def interval(self, row: Evaluation, text: int | None = None) -> Interval | None:
        """Δ% of *row* on *text* (None: pooled) with its paired bootstrap interval."""
        if row.windows is None or self.baseline.windows is None:
            return None
        return delta_interval(self.baseline.windows, row.windows, text=text)

    def difference(self, row: Evaluation, other: Evaluation) -> Interval | None:
        """Pooled ``Δrow − Δother`` in percent points, paired; None without windows."""
        if row.windows is None or other.windows is None or self.baseline.windows is None:
            return None
        return difference_interval(self.baseline.windows, row.windows, other.windows)

    def worst_delta(self, row: Evaluation) -> float:
        """The largest perplexity change over the texts (the pooled one with a single text)."""
        texts = self.text_indices()
        return max(self.text_delta(row, t) for t in texts) if texts else row.delta(self.baseline.perplexity)

    def within(self, percent: float = 1.0) -> list[Evaluation]:
        """Rows at most *percent* above the baseline on every text, best (pooled) first."""
        ok = [r for r in self.rows if self.worst_delta(r) <= percent]
        return sorted(ok, key=lambda r: r.perplexity)

    def best(self, percent: float = 1.0) -> Evaluation | None:
        """The lowest pooled perplexity among the rows within *percent* on every text."""
        rows = self.within(percent)
        return rows[0] if rows else None

    def versus_best(self, row: Evaluation, percent: float = 1.0) -> str:
        """``best``, ``≈`` (not distinguishable from it), ``worse``/``better``, or ``–``."""
        best = self.best(percent)
        if best is None:
            return "–"
        if row is best:
            return "best"
        diff = self.difference(row, best)
        if diff is None:
            return "–"
        return "≈" if diff.contains(0.0) else ("worse" if diff.low > 0 else "better")

    def to_json(self) -> dict[str, Any]:
        base = self.baseline.perplexity
        best = self.best()

        def iv(x: Interval | None) -> dict[str, float] | None:
            return None if x is None else x.to_json()

        def row(r: Evaluation) -> dict[str, Any]:
            finite = {k: (v if math.isfinite(v) else None) for k, v in r.sqnr_db.items()}
            texts = {
                self.texts[t]: {
                    "perplexity": r.text_perplexity(t),
                    "delta_percent": self.text_delta(r, t),
                    "interval": iv(self.interval(r, t)),
                }
                for t in self.text_indices()
            }
            return {
                "name": r.name,
                **r.settings,
                "perplexity": r.perplexity,
                "delta_percent": r.delta(base),
                "interval": iv(self.interval(r)),
                "texts": texts,
                "versus_best": self.versus_best(r),
                "k_only_perplexity": r.k_only,
                "v_only_perplexity": r.v_only,
                "mean_sqnr_db_k": r.mean_sqnr("k"),
                "mean_sqnr_db_v": r.mean_sqnr("v"),
                "sqnr_db": finite,
                "eval_seconds": round(r.seconds, 2),
            }

        base_texts = {self.texts[t]: self.baseline.text_perplexity(t) for t in self.text_indices()}
        return {
            **self.about,
            "baseline_perplexity": base,
            "baseline_texts": base_texts,
            "rows": [row(r) for r in self.rows],
            "best_within_1_percent": best.name if best else None,
        }


def compare(
    model: Any,
    ids: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[str],
    samples: Any,
    batch_num: int,
    *,
    texts: Sequence[str] | None = None,
    extra: Mapping[str, Mapping[str, Any]] | None = None,
    variants: Sequence[Variant] = VARIANTS,
    window: int = 512,
    device: str = "cpu",
    split_kv: bool = False,
    progress: Progress | None = None,
    about: dict[str, Any] | None = None,
    extra_settings: dict[str, Any] | None = None,
) -> Comparison:
    """Baseline, then each of *extra* (name -> factors, e.g. the config's own, described by
    *extra_settings*), then *variants*."""
    baseline = evaluate(model, ids, None, name="unquantized (float32)", window=window, progress=progress)
    rows = [
        evaluate(
            model,
            ids,
            f,
            name=n,
            window=window,
            progress=progress,
            split_kv=split_kv,
            settings={"algorithm": "config", **(extra_settings or {})},
        )
        for n, f in (extra or {}).items()
    ]
    for i, v in enumerate(variants):
        if progress:
            progress(f"calibrating {v.name}", i, len(variants))
        t0 = time.perf_counter()
        factors = variant_factors(v, layers, samples, batch_num, device=device)
        settings = {**v.settings(), "calibration_seconds": round(time.perf_counter() - t0, 2)}
        rows.append(
            evaluate(
                model, ids, factors, name=v.name, window=window, progress=progress, settings=settings, split_kv=split_kv
            )
        )
    return Comparison(baseline, rows, dict(about or {}), list(texts or []))


def _pct(value: float | None, base: float) -> str:
    return "–" if value is None else f"{100.0 * (value / base - 1.0):+.2f} %"


def _db(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _iv(x: Interval | None, fallback: float) -> str:
    return f"{fallback:+.2f} %" if x is None else str(x)


def format_table(c: Comparison, percent: float = 1.0) -> str:
    """The comparison as a Markdown table (also readable as plain text): the pooled change and
    each text's, with 95 % intervals, and how each row compares with the best."""
    base = c.baseline.perplexity
    texts = c.text_indices()
    split = any(r.k_only is not None or r.v_only is not None for r in c.rows)
    pooled = "Δ pooled [95 % CI]" if texts else "Δ perplexity [95 % CI]"
    head = [
        "setting",
        "perplexity",
        pooled,
        *(f"Δ {c.texts[t]}" for t in texts),
        f"≤ +{percent:g} %" + (" each" if texts else ""),
        "vs best",
    ]
    head += ["Δ K only", "Δ V only"] if split else []
    head += ["SQNR K (dB)", "SQNR V (dB)", "calibration (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base_cells = [c.baseline.name, f"{base:.4f}", "–", *(f"({c.baseline.text_perplexity(t):.3f})" for t in texts)]
    lines.append("| " + " | ".join(base_cells + ["–"] * (len(head) - len(base_cells))) + " |")
    best = c.best(percent)
    for r in c.rows:
        name = f"**{r.name}**" if best is not None and r is best else r.name
        ok = "yes" if c.worst_delta(r) <= percent else "no"
        cells = [name, f"{r.perplexity:.4f}", _iv(c.interval(r), r.delta(base))]
        cells += [_iv(c.interval(r, t), c.text_delta(r, t)) for t in texts]
        cells += [ok, c.versus_best(r, percent)]
        cells += [_pct(r.k_only, base), _pct(r.v_only, base)] if split else []
        secs = r.settings.get("calibration_seconds")
        cells += [_db(r.mean_sqnr("k")), _db(r.mean_sqnr("v")), "–" if secs is None else f"{secs:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    where = " on every text" if texts else ""
    summary = f"best int8 setting within +{percent:g} % of the unquantized perplexity{where}: " + (
        f"{best.name} ({best.perplexity:.4f}, {_pct(best.perplexity, base)})" if best else "none"
    )
    out = [*lines, "", summary]
    same = [r.name for r in c.rows if c.versus_best(r, percent) == "≈"]
    if best is not None and best.windows is not None:
        out.append(
            "not distinguishable from it (paired 95 % interval of the difference contains 0): "
            + (", ".join(same) if same else "none")
        )
    return "\n".join(out)


def _layer_index(name: str, fallback: int) -> int:
    m = re.search(r"layers?\.(\d+)\.", name)
    return int(m.group(1)) if m else fallback


def plot(c: Comparison, path: str | Path, percent: float = 1.0) -> Path:
    """Two panels: Δ perplexity per setting (pooled with its interval, each text a marker);
    per-layer SQNR of K (solid) and V (dotted) for the
    config and the best per_tensor and per_channel settings."""
    import matplotlib  # (deliberately lazy: only a plot pays for matplotlib's import)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    base = c.baseline.perplexity
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 0.35 * len(c.rows) + 2.5))
    rows = c.rows[::-1]
    names = [r.name for r in rows]
    deltas = [r.delta(base) for r in rows]
    colors = ["tab:green" if c.worst_delta(r) <= percent else "tab:red" for r in rows]
    ivs = [c.interval(r) for r in rows]
    known = [x for x in ivs if x is not None]
    err = None
    if len(known) == len(ivs):
        # a percentile interval need not contain its estimate (rounding, skewed draws)
        err = [
            [max(d - x.low, 0.0) for d, x in zip(deltas, known, strict=True)],
            [max(x.high - d, 0.0) for d, x in zip(deltas, known, strict=True)],
        ]
    ax1.barh(
        names, deltas, color=colors, alpha=0.6, xerr=err, capsize=2, label="pooled, 95 % interval" if err else None
    )
    for t, marker in zip(c.text_indices(), "os^vDP*X", strict=False):
        ax1.scatter([c.text_delta(r, t) for r in rows], names, marker=marker, s=18, zorder=3, label=c.texts[t])
    ax1.axvline(percent, color="black", linestyle="--", linewidth=1, label=f"+{percent:g} %")
    ax1.axvline(0.0, color="grey", linewidth=0.5)
    if max(abs(d) for d in deltas) > 25:  # a broken setting: keep the small ones readable
        ax1.set_xscale("symlog", linthresh=1.0)
    ax1.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:+g} %"))
    ax1.set_xlabel("perplexity change vs float32 (%)")
    ax1.set_title(f"perplexity change (float32 pooled: {base:.3f})")
    ax1.legend(loc="lower right", fontsize=7)
    # the config's own rows, then the lowest-perplexity per_tensor and per_channel settings
    shown = [r for r in c.rows if r.settings.get("algorithm") == "config"][:2]
    for gran in ("per_tensor", "per_channel"):
        same = sorted((r for r in c.rows if r.settings.get("granularity") == gran), key=lambda r: r.perplexity)
        shown += same[:1]
    for r, color in zip(shown, ("tab:blue", "tab:green", "tab:orange", "tab:red"), strict=False):
        for kind, style in (("k", "-"), ("v", ":")):
            pts = sorted(
                (_layer_index(n, i), v)
                for i, (n, v) in enumerate(r.sqnr_db.items())
                if n.endswith(f"{kind}_proj") and math.isfinite(v)
            )
            if pts:
                ax2.plot(*zip(*pts, strict=True), style, color=color, marker=".", label=f"{r.name} ({kind.upper()})")
    ax2.set_xlabel("layer")
    ax2.set_ylabel("SQNR (dB)")
    ax2.set_title("per-layer SQNR on the evaluated text")
    if ax2.get_legend_handles_labels()[0]:
        ax2.legend(fontsize=7)
    fig.suptitle(str(c.about.get("model", "")), fontsize=9)
    fig.tight_layout()
    out = Path(path)
    picture = io.BytesIO()
    fig.savefig(picture, dpi=110, format=out.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
    write_output(out, picture.getvalue(), make_parents=True)  # (a link or FIFO there: refused)
    return out
