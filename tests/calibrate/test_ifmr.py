"""IFMR: closed forms of spec §3.2, and the fast engine against the plain reference."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcal.calibrate import IfmrObserver
from kvcal.calibrate.algorithms.ifmr_bounds import bin_count, bounds, moments
from kvcal.calibrate.algorithms.ifmr_formulas import (
    exhaustive_losses,
    percentile_rank,
    search_ratios,
)
from kvcal.grammar.plan import IfmrParams
from tests.calibrate import reference as ref
from tests.calibrate.data import Case, cases

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def engine(batches: list[torch.Tensor], params: IfmrParams, per_channel: bool, with_offset: bool):
    obs = IfmrObserver(params, per_channel=per_channel, with_offset=with_offset)
    for b in batches:
        obs.observe(b)
    return obs.compute()


def assert_same(batches, params, per_channel, with_offset) -> None:
    f = engine(batches, params, per_channel, with_offset)
    scales, offsets, _ = ref.ifmr(batches, params, per_channel, with_offset)
    assert f.scale.dtype == torch.float32 and f.offset.dtype == torch.int32
    assert f.scale.tolist() == pytest.approx(scales, rel=1e-6, abs=0)
    assert f.offset.tolist() == offsets


# ------------------------------------------------------------------ closed forms
def test_default_search_has_61_float32_ratios() -> None:
    r = search_ratios(IfmrParams())
    assert r.dtype == torch.float32 and r.numel() == 61
    assert float(r[0]) == pytest.approx(0.7) and float(r[-1]) == pytest.approx(1.3, rel=1e-6)


@pytest.mark.parametrize(
    ("p", "n", "k"),
    [
        (0.999999, 16_000_000, 16),
        (0.999999, 1_000_000, 1),
        (0.999999, 2048, 1),
        (1.0, 100, 1),
        (0.9, 100, 10),
        (0.99, 1000, 10),
        (0.5, 7, 4),
    ],
)
def test_percentile_rank(p: float, n: int, k: int) -> None:
    assert percentile_rank(p, n) == k


def test_symmetric_constant_positive_picks_the_exact_grid() -> None:
    # x = c everywhere: candidate r=1.0 puts c on the grid (127 steps); loss 0 there.
    x = torch.full((1000,), 2.0)
    f = engine([x], IfmrParams(), False, False)
    assert float(f.scale) == pytest.approx(2.0 / 127, rel=1e-6)
    assert int(f.offset) == 0


def test_all_zero_gives_scale_one() -> None:
    f = engine([torch.zeros(64, 8)], IfmrParams(), True, True)
    assert f.scale.tolist() == [1.0] * 8 and f.offset.tolist() == [-128] * 8


def test_asymmetric_offset_formula() -> None:
    x = torch.linspace(-1.0, 3.0, 4001)
    f = engine([x], IfmrParams(), False, True)
    # max_init = 3, min_init = -1 (percentile rank 1), offset = -round(-1 / scale) - 128
    assert int(f.offset) == int(-torch.round(torch.tensor(-1.0) / f.scale) - 128)


def test_exhaustive_losses_are_amct_mse_loss_bit_for_bit() -> None:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 700, generator=g)
    lo = -torch.rand(5, 7, generator=g) - 0.5
    hi = torch.rand(5, 7, generator=g) + 0.5
    scale = (hi - lo) / 255
    got = exhaustive_losses(x, lo, hi, scale)
    for r in range(5):
        for c in range(7):
            q = torch.round(torch.clamp(x[r], lo[r, c], hi[r, c]) / scale[r, c]) * scale[r, c]
            assert got[r, c].item() == torch.nn.functional.mse_loss(q, x[r]).item()


# ------------------------------------------------------------------ engine == reference
@SLOW
@given(cases(), st.booleans(), st.booleans())
def test_matches_reference(case: Case, per_channel: bool, with_offset: bool) -> None:
    assert_same(case.build(), IfmrParams(), per_channel, with_offset)


@settings(max_examples=25, deadline=None)
@given(
    cases(max_rows=40, max_channels=3),
    st.booleans(),
    st.sampled_from([0.9, 0.99, 0.999999, 1.0]),
    st.sampled_from([0.6, 0.95, 0.999999]),
    st.sampled_from([(0.5, 1.5, 0.05), (0.7, 1.3, 0.01), (0.9, 1.0, 0.03)]),
)
def test_matches_reference_with_other_parameters(
    case: Case, with_offset: bool, pmax: float, pmin: float, search: tuple
) -> None:
    params = IfmrParams(pmax, pmin, *search)
    assert_same(case.build(), params, case.channels > 1, with_offset)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(
        [
            "gaussian",
            "heavy",
            "positive",
            "negative",
            "outlier_tokens",
            "constant",
            "zero",
            "tiny",
            "huge",
            "growing",
            "discrete",
            "clustered",
        ]
    ),
    st.integers(33_000, 70_000),
    st.integers(1, 2),
    st.integers(0, 2**31 - 1),
    st.booleans(),
    st.booleans(),
)
def test_long_slices_screened_path_matches_reference(
    kind: str, n: int, batches: int, seed: int, half: bool, with_offset: bool
) -> None:
    # slices of >= 32768 values take the histogram-bounds path
    data = Case(kind, batches, n // batches, 1, seed, half).build()
    assert_same(data, IfmrParams(), False, with_offset)


def test_per_channel_long_slices_match_reference() -> None:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(2, 17_000, 3, generator=g) * torch.tensor([1.0, 30.0, 0.01])
    assert_same([x[0], x[1]], IfmrParams(), True, True)
    assert_same([x[0], x[1]], IfmrParams(), True, False)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("with_offset", [False, True])
def test_clustered_long_slices_tie_as_amct_ties(seed: int, with_offset: bool) -> None:
    # Values a few float32 steps apart far from 0: ratios 1.0 and 1.27 put them all on the
    # grid, AMCT's float32 losses tie exactly and the first wins. The bounds' sums must not
    # cancel to noise there (they did when taken about 0).
    g = torch.Generator().manual_seed(seed)
    cluster = 1e5 + 0.01 * torch.randn(33_048, generator=g)
    assert_same([cluster], IfmrParams(), False, with_offset)
    dead = 5.0 + torch.randint(-2, 3, (33_000,), generator=g) * 2.0**-21  # 5.0 +- 2 ulp
    x = torch.stack([torch.randn(33_000, generator=g), dead], dim=1)
    assert_same([x], IfmrParams(), True, with_offset)


def test_float16_input_is_converted_to_float32_first() -> None:
    g = torch.Generator().manual_seed(5)
    x = (torch.randn(300, 4, generator=g) * 3).half()
    a = engine([x], IfmrParams(), True, True)
    b = engine([x.float()], IfmrParams(), True, True)
    assert torch.equal(a.scale, b.scale) and torch.equal(a.offset, b.offset)


# ------------------------------------------------------------------ the bounds are bounds
@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["gaussian", "heavy", "positive", "discrete", "constant"]), st.integers(0, 10**6), st.booleans())
def test_histogram_bounds_enclose_the_exact_loss(kind: str, seed: int, with_offset: bool) -> None:
    from kvcal.calibrate.algorithms.ifmr_formulas import candidates, clamp_inits, kth_extremes

    x = Case(kind, 1, 40_000, 1, seed, False).build()[0].reshape(1, -1)
    mn, mx = torch.aminmax(x, dim=1)
    bins = bin_count(x.shape[1], 1)
    mom = moments(x, mn, mx, bins, None)
    inits = clamp_inits(*kth_extremes(x, 1, 1))
    lo, hi, scale = candidates(*inits, search_ratios(IfmrParams()), with_offset)
    lower, upper = bounds(mom, mn, mx, bins, lo, hi, scale)
    q = torch.round(torch.clamp(x[:, None, :], lo[..., None], hi[..., None]) / scale[..., None]) * scale[..., None]
    exact = (q - x[:, None, :]).square().to(torch.float64).sum(-1)
    tol = 1e-9 * exact.abs().max() + 1e-300
    assert bool((lower <= exact * (1 + 1e-6) + tol).all())
    assert bool((exact <= upper * (1 + 1e-6) + tol).all())
