"""IFMR (spec §3.2): percentile initialisation, then a search of the clip's upper bound.

For each slice (the whole tensor, or one channel of the last dimension), with all
batches' values ``x`` (N of them):

1. ``k_max = 1 if 1 - max_percentile < FLT_EPSILON else N - int(max_percentile * N)``;
   ``max_init = max(k_max-th largest, 0)``, likewise ``min_init = min(k_min-th smallest, 0)``.
2. ratios ``r = arange(start, end, step)`` in float32;
   symmetric: ``M = max(|max_init|, |min_init|)``, ``c = r * M``,
   ``scale = c / (128 if |max_init| < |min_init| else 127)``, clip ``[-c, c]``;
   asymmetric: ``c = r * max_init``, ``scale = (c - min_init) / 255``, clip ``[min_init, c]``;
   ``scale < FLT_EPSILON`` gives 1.
3. ``loss_i = mean((round(clamp(x, lo_i, hi_i) / scale_i) * scale_i - x) ** 2)`` (no offset).
4. first arg-min; asymmetric ``offset = -round(min_init / scale) - 128``, symmetric 0.

Speed without changing the numbers: slices of fewer than 32,768 values are searched
exhaustively for all channels and candidates at once (the same float32 operations AMCT
runs, so the losses are bit-identical); longer slices are screened with exact bounds
from a fine histogram (``ifmr_bounds``) and only the candidates that can still win are
evaluated, each with AMCT's own ``mse_loss`` on the slice.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kvcal.calibrate.algorithms.factors import (
    FLT_EPSILON,
    QMAX,
    QMIN,
    Factors,
    factors_from_scale_offset,
)
from kvcal.calibrate.algorithms.observer import BatchStore
from kvcal.calibrate.errors import CalibrationCancelled, PlanError, SampleDataError, first_bad
from kvcal.grammar.plan import MAX_IFMR_CANDIDATES, MAX_SEARCH_CANDIDATES, IfmrParams

#: slices shorter than this are reduced serially by torch, so batched rows give AMCT's bits
EXHAUSTIVE_LIMIT = 32768
#: elements per chunk of the exhaustive search ([channels, candidates, values] at once)
CHUNK = 1 << 20

Cancel = Callable[[], bool] | None


def percentile_rank(percentile: float, n: int) -> int:
    """AMCT's rank of the percentile value among *n* values (1 = the extreme)."""
    return 1 if 1.0 - percentile < FLT_EPSILON else n - int(percentile * n)


def search_count(params: IfmrParams) -> float:
    """How many ratios ``search_ratios`` would make (``arange``'s count; inf when unbounded)."""
    import math

    span = params.search_range_end - params.search_range_start
    if not (math.isfinite(span) and params.search_step > 0):
        return math.inf if span > 0 or math.isnan(span) or params.search_step <= 0 else 0.0
    return float(max(math.ceil(span / params.search_step), 0))


def search_ratios(params: IfmrParams) -> torch.Tensor:
    """The candidate ratios, ``torch.arange`` in float32 on the CPU (as AMCT on a CPU)."""
    return torch.arange(
        params.search_range_start, params.search_range_end, params.search_step,
        dtype=torch.float32,
    )  # fmt: skip


def candidates(max_init: torch.Tensor, min_init: torch.Tensor, ratios: torch.Tensor,
               with_offset: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # fmt: skip
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


def exhaustive_losses(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, scale: torch.Tensor,
                      cancel: Cancel = None) -> torch.Tensor:  # fmt: skip
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


def exact_loss(x: torch.Tensor, lo: float | torch.Tensor, hi: float | torch.Tensor,
               scale: torch.Tensor) -> float:  # fmt: skip
    """One candidate on one slice, exactly as AMCT computes it (``mse_loss`` on the slice)."""
    lo_t = torch.as_tensor(lo, dtype=torch.float32, device=x.device)
    hi_t = torch.as_tensor(hi, dtype=torch.float32, device=x.device)
    # round(clamp(x) / s) * s, then mse_loss's (q - x)² and mean — in place: one temporary
    t = torch.clamp(x, lo_t, hi_t).div_(scale).round_().mul_(scale)
    return float(t.sub_(x).square_().mean())


def _check_span(x: torch.Tensor, label: str) -> None:
    """Rows whose values span more than float32 holds (extremes near ±3.4e38) cannot be
    searched (and AMCT's candidate scales overflow on them): say so, naming the layer."""
    lo, hi = x.amin(dim=1), x.amax(dim=1)
    found = first_bad(~torch.isfinite(hi - lo), per_channel=x.shape[0] > 1)
    if found is not None:
        i, part = found
        raise SampleDataError(
            f"{label}{part}values from {float(lo[i]):.3g} to {float(hi[i]):.3g}: their span overflows "
            "float32, so IFMR cannot search them; real K/V activations are far smaller: check how the "
            "data was captured"
        )


def _check_scales(scale: torch.Tensor, max_init: torch.Tensor, min_init: torch.Tensor, label: str) -> None:
    """AMCT checks every candidate scale and stops on a non-finite one ("Param scale has
    invalid value inf, nan or zeros!"): so does this, naming the layer and what caused it."""
    found = first_bad(~torch.isfinite(scale).all(dim=1), per_channel=scale.shape[0] > 1)
    if found is not None:
        i, part = found
        raise SampleDataError(
            f"{label}{part}a clip range of {float(min_init[i]):.3g} .. {float(max_init[i]):.3g} makes "
            "IFMR's candidate scales overflow float32 (AMCT stops with 'Param scale has invalid "
            "value inf, nan or zeros!'); real K/V activations are far smaller: check how the data "
            "was captured"
        )


def ifmr_search(x: torch.Tensor, params: IfmrParams, with_offset: bool, *,
                cancel: Cancel = None, label: str = "") -> Factors:  # fmt: skip
    """IFMR on each row of *x* (``[C, N]`` float32, one row per slice) → Factors ``[C]``."""
    n = x.shape[1]
    k_max = percentile_rank(params.max_percentile, n)
    k_min = percentile_rank(params.min_percentile, n)
    for name, k, p in (("max", k_max, params.max_percentile), ("min", k_min, params.min_percentile)):
        if not 1 <= k <= n:
            raise PlanError(
                f"{label}{name}_percentile {p} selects rank {k} of {n} values: it must lie in "
                "(0.5, 1]; fix the config"
            )
    count = search_count(params)
    if count > MAX_SEARCH_CANDIDATES:  # refused before arange allocates them
        raise PlanError(
            f"{label}IFMR: search range [{params.search_range_start}, {params.search_range_end}) with step "
            f"{params.search_step} gives {count:.4g} clip ratios, more than {MAX_SEARCH_CANDIDATES:,} "
            f"(Ascend's IFMR operator takes {MAX_IFMR_CANDIDATES:,}); use a larger search_step"
        )
    ratios = search_ratios(params)
    if ratios.numel() == 0:
        raise PlanError(
            f"{label}search range [{params.search_range_start}, {params.search_range_end}) "
            f"with step {params.search_step} has no candidate; fix the config"
        )
    _check_span(x, label)
    if n < EXHAUSTIVE_LIMIT:
        max_init, min_init = clamp_inits(*kth_extremes(x, k_max, k_min))
        lo, hi, scale = candidates(max_init, min_init, ratios, with_offset)
        _check_scales(scale, max_init, min_init, label)
        best = exhaustive_losses(x, lo, hi, scale, cancel).argmin(dim=1)
    else:
        from kvcal.calibrate.algorithms.ifmr_bounds import screened_search

        max_init, min_init, lo, hi, scale, best = screened_search(
            x, k_max, k_min, ratios, with_offset, cancel=cancel,
            check=lambda scale, top, bottom: _check_scales(scale, top, bottom, label),
        )
    chosen = scale.gather(1, best[:, None])[:, 0]
    # asymmetric: offset = -round(min_init / scale) - 128; symmetric: 0
    offset = -torch.round(min_init / chosen) - 2**7 if with_offset else torch.zeros_like(chosen)
    return factors_from_scale_offset(chosen, offset)


class IfmrObserver:
    """Collects batches of one layer's activations; ``compute()`` runs IFMR on them.

    ``observe(batch)`` keeps the batch (no copy, float16 stays float16 until compute);
    ``compute()`` lays all values out once as ``[slices, values]`` float32 and searches.
    After ``compute()``, :attr:`data` holds that matrix (for quality metrics).
    """

    def __init__(self, params: IfmrParams | None = None, *, per_channel: bool,
                 with_offset: bool, device: str | torch.device = "cpu",
                 name: str | None = None) -> None:  # fmt: skip
        self.params = params or IfmrParams()
        self.per_channel = per_channel
        self.with_offset = with_offset
        self.store = BatchStore(per_channel=per_channel, device=device, name=name)
        self.data: torch.Tensor | None = None

    def observe(self, batch: torch.Tensor) -> None:
        self.store.add(batch)

    def compute(self, *, cancel: Cancel = None) -> Factors:
        self.data = self.store.matrix()
        label = self.store.label
        return ifmr_search(self.data, self.params, self.with_offset, cancel=cancel, label=label)
