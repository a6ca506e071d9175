"""Spec §3.1 and the config-float conversion, against closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kvcal.calibrate.factors import (
    FLT_EPSILON,
    amct_float,
    factors_from_range,
    factors_from_scale_offset,
)

f32 = st.floats(-1e6, 1e6, allow_nan=False, width=32)


def test_flt_epsilon_is_float32_epsilon_as_amct_writes_it() -> None:
    assert pytest.approx(float(np.finfo(np.float32).eps), rel=1e-9) == FLT_EPSILON
    assert FLT_EPSILON == 1.192092896e-07
    # against a float32 tensor it compares as 2**-23
    assert not bool(torch.tensor(2.0**-23) < FLT_EPSILON)


@pytest.mark.parametrize(
    ("value", "expected"), [(0.999999, 0.999999), (0.7, 0.7), (0.01, 0.01), (1.3, 1.3), (0.1 + 0.2, 0.3)]
)
def test_config_floats_go_through_float32_shortest_form(value: float, expected: float) -> None:
    assert amct_float(value) == expected
    assert amct_float(value) == float(str(np.float32(value)))


def test_asymmetric_closed_form() -> None:
    f = factors_from_range(torch.tensor([-1.0]), torch.tensor([3.0]), True)
    scale = np.float32(4.0) / np.float32(255)
    assert float(f.scale) == pytest.approx(float(scale), rel=1e-7)
    assert int(f.offset) == round(-128 - (-1.0) / float(scale))  # -128 + 63.75 -> -64
    assert int(f.offset) == -64


def test_asymmetric_range_is_widened_to_contain_zero() -> None:
    pos = factors_from_range(torch.tensor([2.0]), torch.tensor([4.0]), True)  # lo -> 0
    assert float(pos.scale) == pytest.approx(4.0 / 255, rel=1e-6)
    assert int(pos.offset) == -128
    neg = factors_from_range(torch.tensor([-4.0]), torch.tensor([-2.0]), True)  # hi -> 0
    assert float(neg.scale) == pytest.approx(4.0 / 255, rel=1e-6)
    assert int(neg.offset) == 127


@pytest.mark.parametrize(("lo", "hi", "offset"), [(-0.5, 254.5, -128), (-1.5, 253.5, -126), (-2.5, 252.5, -126)])
def test_asymmetric_offset_rounds_half_to_even(lo: float, hi: float, offset: int) -> None:
    # scale = (hi - lo) / 255 = 1 exactly, so -128 - lo / scale is a half-integer
    f = factors_from_range(torch.tensor([lo]), torch.tensor([hi]), True)
    assert float(f.scale) == 1.0
    assert int(f.offset) == offset


def test_zero_range_gives_scale_one_offset_minus_128() -> None:
    f = factors_from_range(torch.tensor([0.0]), torch.tensor([0.0]), True)
    assert float(f.scale) == 1.0 and int(f.offset) == -128
    tiny = factors_from_range(torch.tensor([-1e-6]), torch.tensor([1e-6]), True)
    assert float(tiny.scale) == 1.0 and int(tiny.offset) == -128
    sym = factors_from_range(torch.tensor([-1e-6]), torch.tensor([1e-6]), False)
    assert float(sym.scale) == 1.0 and int(sym.offset) == 0


@pytest.mark.parametrize(("lo", "hi", "den"), [(-1.0, 2.54, 127), (-2.56, 1.0, 128), (-1.0, 1.0, 127)])
def test_symmetric_closed_form(lo: float, hi: float, den: int) -> None:
    f = factors_from_range(torch.tensor([lo]), torch.tensor([hi]), False)
    assert float(f.scale) == pytest.approx(max(abs(lo), abs(hi)) / den, rel=1e-6)
    assert int(f.offset) == 0


@given(f32, f32, st.booleans())
def test_factors_represent_the_range(a: float, b: float, with_offset: bool) -> None:
    lo, hi = min(a, b), max(a, b)
    f = factors_from_range(torch.tensor([lo]), torch.tensor([hi]), with_offset)
    scale = float(f.scale)
    assert scale > 0
    assert -128 <= int(f.offset) <= 127
    if scale != 1.0 and with_offset:
        # the representable range covers [min(lo, 0), max(hi, 0)] up to one step
        assert float(f.clip_min) <= min(lo, 0.0) + scale
        assert float(f.clip_max) >= max(hi, 0.0) - scale


def test_clip_range_is_what_the_factors_represent() -> None:
    f = factors_from_scale_offset(torch.tensor([0.5]), torch.tensor([-10.0]))
    assert float(f.clip_max) == (127 + 10) * 0.5
    assert float(f.clip_min) == -(128 - 10) * 0.5
    assert f.offset.dtype == torch.int32 and f.scale.dtype == torch.float32
