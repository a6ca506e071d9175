"""Perplexity with its uncertainty: a seeded, stratified, paired bootstrap over windows.

A text is evaluated in non-overlapping windows; window ``w`` contributes the summed
negative log-likelihood ``L_w`` of its ``n_w`` predicted tokens. A text's perplexity is
``exp(Σ L_w / Σ n_w)``, and the change a setting makes against the unquantized model is

    Δ% = 100 · (exp((Σ L'_w − Σ L_w) / Σ n_w) − 1)

The resampling unit is the window (tokens inside a window are not independent; windows of
a long text nearly are). Each resample draws, within every text separately (stratified:
the set of texts is the design, not a sample), as many windows as the text has, with
replacement; the *same* draw is applied to both settings (paired), so what varies between
windows alike for both — hard passages — cancels. The interval is the percentile interval
of the resampled statistic. Two settings are *not distinguishable* when the interval of
their difference ``Δa − Δb`` contains 0.

Deterministic: the draws come from ``numpy.random.default_rng(seed)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "LEVEL",
    "RESAMPLES",
    "SEED",
    "Interval",
    "WindowScores",
    "bootstrap_indices",
    "delta_interval",
    "delta_percent",
    "difference_interval",
    "interval_from",
]

LEVEL = 0.95
RESAMPLES = 4000
SEED = 0


@dataclass(frozen=True)
class WindowScores:
    """Summed NLL and predicted-token count per window, and the text each window is from."""

    nll: tuple[float, ...]
    tokens: tuple[int, ...]
    text: tuple[int, ...]

    def __post_init__(self) -> None:
        if not (len(self.nll) == len(self.tokens) == len(self.text)):
            raise ValueError("nll, tokens and text need one entry per window")

    def __len__(self) -> int:
        return len(self.nll)

    def texts(self) -> list[int]:
        """The text indices, in order of first appearance."""
        return list(dict.fromkeys(self.text))

    def select(self, text: int | None) -> WindowScores:
        """The windows of one text (all of them for None)."""
        if text is None:
            return self
        keep = [i for i, t in enumerate(self.text) if t == text]
        return WindowScores(
            tuple(self.nll[i] for i in keep), tuple(self.tokens[i] for i in keep), tuple(self.text[i] for i in keep)
        )

    def perplexity(self, text: int | None = None) -> float:
        """``exp(mean NLL per token)`` over the windows of *text* (None: all, pooled)."""
        part = self.select(text)
        count = sum(part.tokens)
        if count == 0:
            raise ValueError(f"no tokens for text {text}")
        return math.exp(sum(part.nll) / count)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its ``level`` confidence interval (percent or percent points)."""

    estimate: float
    low: float
    high: float
    level: float = LEVEL

    def contains(self, value: float = 0.0) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.estimate:+.2f} % [{self.low:+.2f}, {self.high:+.2f}]"

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "level": self.level}


def delta_percent(base_nll: float, other_nll: float, tokens: float) -> float:
    """``100 · (exp((other − base) / tokens) − 1)``: the perplexity change in percent."""
    return 100.0 * math.expm1((other_nll - base_nll) / tokens)


def bootstrap_indices(strata: Sequence[int], resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """``[resamples, n]`` window indices: each row redraws every stratum's windows from that
    stratum, with replacement, keeping its size."""
    strata_arr = np.asarray(strata)
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, strata_arr.size), dtype=np.int64)
    for s in dict.fromkeys(strata_arr.tolist()):
        members = np.flatnonzero(strata_arr == s)
        out[:, members] = members[rng.integers(0, members.size, size=(resamples, members.size))]
    return out


def interval_from(estimate: float, samples: np.ndarray, level: float = LEVEL) -> Interval:
    """The percentile interval of bootstrap *samples* around *estimate*."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(samples, [alpha, 1.0 - alpha])
    return Interval(float(estimate), float(low), float(high), level)


def _check_paired(*scores: WindowScores) -> None:
    first = scores[0]
    for s in scores[1:]:
        if s.tokens != first.tokens or s.text != first.text:
            raise ValueError("paired intervals need the same windows (same texts, same token counts)")


def _deltas(base: np.ndarray, other: np.ndarray, tokens: np.ndarray, idx: np.ndarray) -> np.ndarray:
    diff: np.ndarray = (other - base)[idx].sum(axis=1) / tokens[idx].sum(axis=1)
    percent: np.ndarray = 100.0 * np.expm1(diff)
    return percent


def delta_interval(
    base: WindowScores,
    other: WindowScores,
    *,
    text: int | None = None,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    indices: np.ndarray | None = None,
) -> Interval:
    """Δ% of *other* against *base* (the same windows), on *text* or pooled over all texts,
    with a paired, stratified bootstrap interval. *indices* replaces the random draws."""
    _check_paired(base, other)
    b, o = base.select(text), other.select(text)
    tokens = np.asarray(b.tokens, dtype=np.float64)
    nb, no = np.asarray(b.nll, dtype=np.float64), np.asarray(o.nll, dtype=np.float64)
    idx = bootstrap_indices(b.text, resamples, seed) if indices is None else indices
    estimate = delta_percent(float(nb.sum()), float(no.sum()), float(tokens.sum()))
    return interval_from(estimate, _deltas(nb, no, tokens, idx), level)


def difference_interval(
    base: WindowScores,
    a: WindowScores,
    b: WindowScores,
    *,
    text: int | None = None,
    level: float = LEVEL,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    indices: np.ndarray | None = None,
) -> Interval:
    """``Δa − Δb`` in percent points, paired: every resample draws the same windows for the
    baseline and both settings. Contains 0: *a* and *b* are not distinguishable."""
    _check_paired(base, a, b)
    pb, pa, pbb = base.select(text), a.select(text), b.select(text)
    tokens = np.asarray(pb.tokens, dtype=np.float64)
    n0, na, nb = (np.asarray(s.nll, dtype=np.float64) for s in (pb, pa, pbb))
    idx = bootstrap_indices(pb.text, resamples, seed) if indices is None else indices
    total = float(tokens.sum())
    estimate = delta_percent(float(n0.sum()), float(na.sum()), total) - delta_percent(
        float(n0.sum()), float(nb.sum()), total
    )
    samples = _deltas(n0, na, tokens, idx) - _deltas(n0, nb, tokens, idx)
    return interval_from(estimate, samples, level)
