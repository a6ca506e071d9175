"""AMCT's IFMR formulas (spec §3.2): the percentile ranks, the candidate ratios, each
candidate's clip range and scale, and the loss of a candidate — batched over slices and
candidates in AMCT's float32 order, so the losses are AMCT's bits. :mod:`.ifmr` runs the
search with them; :mod:`.ifmr_bounds` screens candidates for long slices.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from kvcal.calibrate.errors import CalibrationCancelled
from kvcal.calibrate.factors import FLT_EPSILON, QMAX, QMIN
from kvcal.grammar.plan import IfmrParams

#: elements per chunk of the exhaustive search ([channels, candidates, values] at once)
CHUNK = 1 << 20

Cancel = Callable[[], bool] | None


def percentile_rank(percentile: float, n: int) -> int:
    """AMCT's rank of the percentile value among *n* values (1 = the extreme)."""
    return 1 if 1.0 - percentile < FLT_EPSILON else n - int(percentile * n)


def search_count(params: IfmrParams) -> float:
    """How many ratios ``search_ratios`` would make (``arange``'s count; inf when unbounded)."""
    span = params.search_range_end - params.search_range_start
    if not (math.isfinite(span) and params.search_step > 0):
        return math.inf if span > 0 or math.isnan(span) or params.search_step <= 0 else 0.0
    return float(max(math.ceil(span / params.search_step), 0))


def search_ratios(params: IfmrParams) -> torch.Tensor:
    """The candidate ratios, ``torch.arange`` in float32 on the CPU (as AMCT on a CPU)."""
    return torch.arange(
        params.search_range_start,
        params.search_range_end,
        params.search_step,
        dtype=torch.float32,
    )


def candidates(
    max_init: torch.Tensor, min_init: torch.Tensor, ratios: torch.Tensor, with_offset: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(lo, hi, scale)``, each ``[C, K]`` float32, for per-slice inits ``[C]``."""
    r = ratios.to(max_init.device)[None, :]
    if with_offset:
        hi = r * max_init[:, None]
        scale = (hi - min_init[:, None]) / (QMAX - QMIN)
        lo = min_init[:, None].expand_as(hi)
    else:
        neg = max_init.abs() < min_init.abs()
        bound = torch.where(min_init.abs() > max_init.abs(), min_init.abs(), max_init.abs())
        hi = r * bound[:, None]
        scale = hi / (neg.to(torch.int64) + QMAX)[:, None]
        lo = -hi
    scale = torch.where(scale < FLT_EPSILON, torch.ones_like(scale), scale)
    return lo.contiguous(), hi.contiguous(), scale


def kth_extremes(x: torch.Tensor, k_max: int, k_min: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row of *x*: the ``k_max``-th largest and the ``k_min``-th smallest value."""
    n = x.shape[1]
    if k_max <= 64:
        top = torch.topk(x, k_max, dim=1).values[:, -1]
    else:
        top = torch.kthvalue(x, n - k_max + 1, dim=1).values
    if k_min <= 64:
        bottom = torch.topk(x, k_min, dim=1, largest=False).values[:, -1]
    else:
        bottom = torch.kthvalue(x, k_min, dim=1).values
    return top, bottom


def clamp_inits(top: torch.Tensor, bottom: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``max_init = max(top, 0)``, ``min_init = min(bottom, 0)`` (a +0.0 where clamped)."""
    zero = torch.zeros((), dtype=top.dtype, device=top.device)
    return torch.where(top > 0, top, zero), torch.where(bottom < 0, bottom, zero)


def exhaustive_losses(
    x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, scale: torch.Tensor, cancel: Cancel = None
) -> torch.Tensor:
    """AMCT's loss of every candidate of every row: ``[C, K]`` float32, same float32 ops."""
    rows, n = x.shape
    k = lo.shape[1]
    out = torch.empty(rows, k, dtype=torch.float32, device=x.device)
    kstep = max(1, min(k, CHUNK // n))
    rstep = max(1, CHUNK // (n * kstep))
    for r0 in range(0, rows, rstep):
        xr = x[r0 : r0 + rstep, None, :]
        for k0 in range(0, k, kstep):
            if cancel is not None and cancel():
                raise CalibrationCancelled("calibration cancelled")
            sl = (slice(r0, r0 + rstep), slice(k0, k0 + kstep), None)
            s = scale[sl]
            t = torch.clamp(xr, lo[sl], hi[sl])
            t.div_(s).round_().mul_(s).sub_(xr).square_()
            out[r0 : r0 + rstep, k0 : k0 + kstep] = t.mean(dim=-1)
    return out


def exact_loss(x: torch.Tensor, lo: float | torch.Tensor, hi: float | torch.Tensor, scale: torch.Tensor) -> float:
    """One candidate on one slice, exactly as AMCT computes it (``mse_loss`` on the slice)."""
    lo_t = torch.as_tensor(lo, dtype=torch.float32, device=x.device)
    hi_t = torch.as_tensor(hi, dtype=torch.float32, device=x.device)
    # round(clamp(x) / s) * s, then mse_loss's (q - x)² and mean — in place: one temporary
    t = torch.clamp(x, lo_t, hi_t).div_(scale).round_().mul_(scale)
    return float(t.sub_(x).square_().mean())
