"""Quantization factors: the value every algorithm returns, and spec §3.1's formulas.

KV-cache quantization is 8-bit, quantized range [-128, 127]; the factors follow
``q = clamp(round(x / scale) + offset, -128, 127)``, ``x' = (q - offset) * scale``.
All arithmetic is float32 in AMCT's order (torch ops on float32 tensors), ``round`` is
half-to-even, offsets are int32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kvcal.grammar.schema import amct_float

__all__ = [
    "FLT_EPSILON",
    "QMAX",
    "QMIN",
    "Factors",
    "amct_float",
    "factors_from_range",
    "factors_from_scale_offset",
]

#: C's FLT_EPSILON as AMCT writes it; compared against float32 tensors it is 2**-23.
FLT_EPSILON = 1.192092896e-07
QMIN, QMAX = -128, 127


@dataclass(frozen=True)
class Factors:
    """The factors of one layer: one entry per channel when per_channel, else one.

    ``scale`` float32, ``offset`` int32, ``clip_min``/``clip_max`` float32: the range the
    factors represent, as AMCT reports it: ``clip_max = (127 - offset) * scale``,
    ``clip_min = -(128 + offset) * scale``.
    """

    scale: torch.Tensor
    offset: torch.Tensor
    clip_min: torch.Tensor
    clip_max: torch.Tensor

    def __len__(self) -> int:
        return int(self.scale.numel())

    def cpu(self) -> Factors:
        return Factors(self.scale.cpu(), self.offset.cpu(), self.clip_min.cpu(), self.clip_max.cpu())

    def to_lists(self) -> tuple[list[float], list[int]]:
        """``(scales, offsets)`` as Python numbers, what a record file stores."""
        return self.scale.cpu().tolist(), self.offset.cpu().tolist()


def factors_from_scale_offset(scale: torch.Tensor, offset: torch.Tensor) -> Factors:
    """Factors with AMCT's clip range from float32 *scale* and float *offset* (1-D)."""
    scale = scale.to(torch.float32).reshape(-1)
    off = offset.to(torch.float32).reshape(-1)
    clip_max = (QMAX - off) * scale
    clip_min = (-QMIN + off) * -scale
    return Factors(scale, off.to(torch.int32), clip_min, clip_max)


def factors_from_range(lo: torch.Tensor, hi: torch.Tensor, with_offset: bool) -> Factors:
    """Spec §3.1, AMCT's ``calculate_scale_offset`` then ``process_scale``, elementwise.

    asymmetric: ``hi = max(hi, 0)``, ``lo = min(lo, 0)``, ``scale = (hi - lo) / 255``,
    ``offset = round(-128 - lo / scale)`` (``-128`` when ``hi == lo``); then
    ``scale < FLT_EPSILON`` gives ``scale = 1``, ``offset = -128``.
    symmetric: ``neg = |hi| < |lo|``, ``scale = max(|hi|, |lo|) / (128 if neg else 127)``,
    ``offset = 0``; ``scale < FLT_EPSILON`` gives ``scale = 1``.
    """
    lo = lo.to(torch.float32).reshape(-1)
    hi = hi.to(torch.float32).reshape(-1)
    one = torch.ones((), dtype=torch.float32, device=lo.device)
    if with_offset:
        hi = torch.clamp(hi, 0, None)
        lo = torch.clamp(lo, None, 0)
        scale = (hi - lo) / (QMAX - QMIN)
        edge = torch.full((), float(QMIN), dtype=torch.float32, device=lo.device)
        offset = torch.where(hi != lo, QMIN - lo / scale, edge)
        tiny = scale < FLT_EPSILON
        offset = torch.where(tiny, edge, offset)
        scale = torch.where(tiny, one, scale)
        return factors_from_scale_offset(scale, offset.round())
    neg = hi.abs() < lo.abs()
    boundary = torch.where(hi.abs() > lo.abs(), hi.abs(), lo.abs())
    scale = boundary / (neg.to(torch.int64) + QMAX)
    scale = torch.where(scale < FLT_EPSILON, one, scale)
    return factors_from_scale_offset(scale, torch.zeros_like(scale))
