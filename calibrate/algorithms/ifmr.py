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

import itertools
from collections.abc import Callable

import torch

from kvcal.calibrate.algorithms.ifmr_bounds import screened_search
from kvcal.calibrate.algorithms.ifmr_formulas import (
    candidates,
    clamp_inits,
    exhaustive_losses,
    kth_extremes,
    percentile_rank,
    search_count,
    search_ratios,
)
from kvcal.calibrate.algorithms.observer import Observer
from kvcal.calibrate.errors import PlanError, SampleDataError, first_bad
from kvcal.calibrate.factors import (
    Factors,
    factors_from_scale_offset,
)
from kvcal.grammar.plan import MAX_IFMR_CANDIDATES, MAX_SEARCH_CANDIDATES, IfmrParams

#: slices shorter than this are reduced serially by torch, so batched rows give AMCT's bits
EXHAUSTIVE_LIMIT = 32768
Cancel = Callable[[], bool] | None


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


def ifmr_search(
    x: torch.Tensor, params: IfmrParams, with_offset: bool, *, cancel: Cancel = None, label: str = ""
) -> Factors:
    """IFMR on each row of *x* (``[C, N]`` float32, one row per slice) → Factors ``[C]``."""
    n = x.shape[1]
    k_max = percentile_rank(params.max_percentile, n)
    k_min = percentile_rank(params.min_percentile, n)
    for name, k, p in (("max", k_max, params.max_percentile), ("min", k_min, params.min_percentile)):
        if not 1 <= k <= n:
            raise PlanError(
                f"{label}{name}_percentile {p} selects rank {k} of {n} values: it must lie in (0.5, 1]; fix the config"
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
        max_init, min_init, lo, hi, scale, best = screened_search(
            x,
            k_max,
            k_min,
            ratios,
            with_offset,
            cancel=cancel,
            check=lambda scale, top, bottom: _check_scales(scale, top, bottom, label),
        )
    chosen = scale.gather(1, best[:, None])[:, 0]
    # asymmetric: offset = -round(min_init / scale) - 128; symmetric: 0
    offset = -torch.round(min_init / chosen) - 2**7 if with_offset else torch.zeros_like(chosen)
    return factors_from_scale_offset(chosen, offset)


class IfmrObserver(Observer):
    """IFMR over everything observed: the batches are kept (views, when the engine's layout
    gives them: no copy) and ``compute()`` searches them as one ``[slices, values]`` matrix.
    After ``compute()``, :attr:`data` holds that matrix (for quality metrics)."""

    def __init__(
        self,
        params: IfmrParams | None = None,
        *,
        per_channel: bool,
        with_offset: bool,
        device: str | torch.device = "cpu",
        name: str | None = None,
    ) -> None:
        super().__init__(per_channel=per_channel, with_offset=with_offset, device=device, name=name)
        self.params = params or IfmrParams()
        self._parts: list[torch.Tensor] = []
        self.data: torch.Tensor | None = None

    def _observe(self, values: torch.Tensor) -> None:
        self._parts.append(values)

    def _compute(self, cancel: Cancel) -> Factors:
        self.data, self._parts = joined(self._parts), []
        return ifmr_search(self.data, self.params, self.with_offset, cancel=cancel, label=self.label)


def joined(parts: list[torch.Tensor]) -> torch.Tensor:
    """``[slices, values]`` batches side by side: a view when they are adjacent columns of one
    matrix (the engine's layout: no copy of a layer's data), else a concatenation."""
    first = parts[0]
    if len(parts) == 1:
        return first
    if first.stride()[1] == 1:
        storage, at = first.untyped_storage().data_ptr(), first.storage_offset()
        for previous, part in itertools.pairwise(parts):
            at += previous.shape[1]
            if (part.untyped_storage().data_ptr(), part.stride(), part.storage_offset()) != (
                storage,
                first.stride(),
                at,
            ):
                break
        else:
            total = sum(p.shape[1] for p in parts)
            return torch.as_strided(first, (first.shape[0], total), first.stride(), first.storage_offset())
    return torch.cat(parts, dim=1)
