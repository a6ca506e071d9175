"""The bootstrap intervals against an exhaustive enumeration of every resample and against
closed forms (a constant shift, the normal approximation of a mean)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kvcal.calibrate.model.intervals import (
    WindowScores,
    bootstrap_indices,
    delta_interval,
    difference_interval,
)


def scores(nll: list[float], tokens: list[int], text: list[int]) -> WindowScores:
    return WindowScores(tuple(nll), tuple(tokens), tuple(text))


BASE = scores([310.0, 295.5, 402.25, 120.0, 133.5], [100, 100, 130, 40, 45], [0, 0, 0, 1, 1])
OTHER = scores([311.5, 295.0, 405.0, 120.25, 134.5], [100, 100, 130, 40, 45], [0, 0, 0, 1, 1])
THIRD = scores([310.5, 296.5, 403.0, 121.0, 133.0], [100, 100, 130, 40, 45], [0, 0, 0, 1, 1])


def every_resample(text: tuple[int, ...]) -> np.ndarray:
    """All stratified resamples, each once: the exact bootstrap distribution's support."""
    groups = [[i for i, t in enumerate(text) if t == s] for s in dict.fromkeys(text)]
    rows = []
    for picks in itertools.product(*(itertools.product(g, repeat=len(g)) for g in groups)):
        row = [0] * len(text)
        for g, pick in zip(groups, picks, strict=True):
            for slot, chosen in zip(g, pick, strict=True):
                row[slot] = chosen
        rows.append(row)
    return np.asarray(rows)


def brute_delta(base: WindowScores, other: WindowScores, row: list[int]) -> float:
    """Δ% of one resample, with plain Python arithmetic."""
    nb = sum(base.nll[i] for i in row)
    no = sum(other.nll[i] for i in row)
    n = sum(base.tokens[i] for i in row)
    return 100.0 * (math.exp((no - nb) / n) - 1.0)


def exact_quantiles(values: list[float], level: float = 0.95) -> tuple[float, float]:
    alpha = (1 - level) / 2
    return tuple(float(q) for q in np.quantile(np.asarray(values), [alpha, 1 - alpha]))  # type: ignore[return-value]


def test_the_point_estimate_is_the_pooled_perplexity_ratio() -> None:
    got = delta_interval(BASE, OTHER)
    want = 100.0 * (OTHER.perplexity() / BASE.perplexity() - 1.0)
    assert got.estimate == pytest.approx(want, rel=1e-12)
    text1 = delta_interval(BASE, OTHER, text=1)
    assert text1.estimate == pytest.approx(100.0 * (OTHER.perplexity(1) / BASE.perplexity(1) - 1.0))


def test_the_vectorized_statistic_matches_a_brute_force_enumeration() -> None:
    rows = every_resample(BASE.text)
    assert len(rows) == 3**3 * 2**2  # text 0: 3 windows, text 1: 2 windows
    got = delta_interval(BASE, OTHER, indices=rows)
    assert (got.low, got.high) == pytest.approx(exact_quantiles([brute_delta(BASE, OTHER, list(r)) for r in rows]))
    diff = difference_interval(BASE, OTHER, THIRD, indices=rows)
    brute = [brute_delta(BASE, OTHER, list(r)) - brute_delta(BASE, THIRD, list(r)) for r in rows]
    assert (diff.low, diff.high) == pytest.approx(exact_quantiles(brute))


def test_random_resamples_approach_the_exact_bootstrap_distribution() -> None:
    rows = every_resample(BASE.text)
    exact = np.sort([brute_delta(BASE, OTHER, list(r)) for r in rows])
    got = delta_interval(BASE, OTHER, resamples=20000, seed=3)
    # each bound sits where the exact distribution puts about 2.5 % / 97.5 % of its mass
    assert np.mean(exact <= got.low) == pytest.approx(0.025, abs=0.03)
    assert np.mean(exact <= got.high) == pytest.approx(0.975, abs=0.03)


def test_stratified_draws_stay_inside_their_text() -> None:
    idx = bootstrap_indices([0, 0, 0, 1, 1, 2], resamples=500, seed=1)
    assert idx.shape == (500, 6)
    assert set(idx[:, :3].ravel()) <= {0, 1, 2} and set(idx[:, 3:5].ravel()) <= {3, 4}
    assert set(idx[:, 5]) == {5}
    assert np.array_equal(idx, bootstrap_indices([0, 0, 0, 1, 1, 2], resamples=500, seed=1))


def test_a_constant_shift_per_token_has_an_exact_zero_width_interval() -> None:
    shifted = scores(
        [x + 0.002 * n for x, n in zip(BASE.nll, BASE.tokens, strict=True)], list(BASE.tokens), list(BASE.text)
    )
    got = delta_interval(BASE, shifted)
    want = 100.0 * math.expm1(0.002)
    assert got.estimate == pytest.approx(want) and got.low == pytest.approx(want) and got.high == pytest.approx(want)
    same = difference_interval(BASE, OTHER, OTHER)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0) and same.contains(0.0)


def test_the_interval_of_many_windows_is_the_normal_approximation() -> None:
    rng = np.random.default_rng(7)
    n, tokens, sd = 400, 50, 0.004  # per-window mean NLL change: N(0.001, sd)
    base_nll = rng.uniform(100, 200, n)
    change = rng.normal(0.001, sd, n)
    base = scores(list(base_nll), [tokens] * n, [0] * n)
    other = scores(list(base_nll + change * tokens), [tokens] * n, [0] * n)
    got = delta_interval(base, other, resamples=8000)
    half = 1.96 * 100.0 * change.std(ddof=0) / math.sqrt(n)  # expm1 ~ identity this close to 0
    assert (got.high - got.low) / 2 == pytest.approx(half, rel=0.08)
    assert got.estimate == pytest.approx(100 * math.expm1(change.mean()), rel=1e-9)


def test_windows_must_be_paired() -> None:
    other = scores([1.0, 2.0], [10, 10], [0, 0])
    with pytest.raises(ValueError, match="same windows"):
        delta_interval(BASE, other)
    with pytest.raises(ValueError, match="one entry per window"):
        WindowScores((1.0,), (1, 2), (0,))
