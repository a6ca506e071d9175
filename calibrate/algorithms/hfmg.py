"""HFMG (spec §3.3): a histogram per slice, merged batch by batch, then a range search.

Per slice a histogram of ``num_of_bins`` bins over ``[mn, mx]``:

1. first batch: ``mn, mx = min, max``; ``hist = histc(data, bins, mn, mx)``;
2. later batches: ``mn' = min(mn, data.min())``, ``mx' = max(mx, data.max())``,
   ``new = histc(data, bins, mn', mx')``; if both ends moved by at most FLT_EPSILON the old
   counts are added bin by bin, else each old bin ``[lo_j, hi_j)`` moves into the new bins
   ``a = floor((lo_j - mn') / w')``, ``b = min(floor((hi_j - mn') / w'), bins - 1)``:
   all to ``a`` when ``a == b``, else ``int(count * (hi'_a - lo_j) / (hi_j - lo_j))`` to
   ``a`` and the rest to ``b`` — float32 as AMCT computes it, counts stay integers.

All slices' histograms are one ``[slices, bins]`` int64 tensor: one ``bincount`` fills
them (the bin index is torch.histc's own float32 formula, offset per slice), and the merge
is two ``scatter_add`` of the split counts. The search is in :mod:`hfmg_search`.
"""

from __future__ import annotations

import math

import torch

from kvcal.calibrate.algorithms.hfmg_search import hfmg_search
from kvcal.calibrate.algorithms.observer import Cancel, Observer
from kvcal.calibrate.errors import SampleDataError, first_bad, where
from kvcal.calibrate.factors import FLT_EPSILON, Factors
from kvcal.grammar.plan import HfmgParams

#: values per chunk when binning many slices at once (bounds the int64 temporaries)
CHUNK = 1 << 19


def histc_rows(data: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bins: int) -> torch.Tensor:
    """``torch.histc`` of each column of *data* (``[values, slices]``) over ``[lo, hi]``
    (``[slices]`` float32), as ``[slices, bins]`` int32 (AMCT's histograms are int32 too).

    The bin of ``x`` is ``int((x - lo) * bins / (hi - lo))`` in float32, the top edge in
    the last bin; ``lo == hi`` widens the range as histc does: to the farther of the next
    float32 and ``lo - 1`` (``hi + 1``), computed in double.
    """
    slices = data.shape[1]
    if slices == 1:
        hist = torch.histc(data.reshape(-1), bins, min=float(lo[0]), max=float(hi[0]))
        return hist.to(torch.int32)[None, :]
    equal = lo == hi
    down = torch.nextafter(lo, torch.full_like(lo, -math.inf)).to(torch.float64)
    up = torch.nextafter(hi, torch.full_like(hi, math.inf)).to(torch.float64)
    left = torch.where(equal, torch.minimum(down, lo.to(torch.float64) - 1).to(torch.float32), lo)
    right = torch.where(equal, torch.maximum(up, hi.to(torch.float64) + 1).to(torch.float32), hi)
    span = right - left
    offset = torch.arange(slices, device=data.device) * bins
    counts = torch.zeros(slices * bins, dtype=torch.int32, device=data.device)
    step = max(1, CHUNK // slices)
    ones = torch.ones(step * slices, dtype=torch.int32, device=data.device)
    for r0 in range(0, data.shape[0], step):
        part = data[r0 : r0 + step].to(torch.float32)
        pos = ((part - left) * bins / span).to(torch.int64).clamp_(max=bins - 1).add_(offset)
        counts.scatter_add_(0, pos.reshape(-1), ones[: pos.numel()])  # in place: no [S*bins] temporary
    return counts.reshape(slices, bins)


def _isclose(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``math.isclose(a, b, abs_tol=FLT_EPSILON)`` elementwise, in double."""
    a64, b64 = a.to(torch.float64), b.to(torch.float64)
    tol = torch.clamp((1e-9 * torch.maximum(a64.abs(), b64.abs())), min=FLT_EPSILON)
    return (a64 - b64).abs() <= tol


def merge(
    old: torch.Tensor, mn: torch.Tensor, mx: torch.Tensor, new: torch.Tensor, new_mn: torch.Tensor, new_mx: torch.Tensor
) -> torch.Tensor:
    """Old counts ``[S, bins]`` over ``[mn, mx]`` moved into the new histogram ``new`` (its
    own, updated in place and returned; only the non-empty old bins do anything, so only
    they are computed)."""
    bins = old.shape[1]
    same = _isclose(new_mn, mn) & _isclose(new_mx, mx)
    out = new
    out[same] += old[same]
    rows, j = old.nonzero(as_tuple=True)
    moved = ~same[rows]
    rows, j = rows[moved], j[moved]
    if rows.numel() == 0:
        return out
    cnt = old[rows, j].to(torch.int64)
    width = ((mx - mn) / bins)[rows]  # AMCT's float32 bin bounds, old and new
    new_width = ((new_mx - new_mn) / bins)[rows]
    lo0, nlo = mn[rows], new_mn[rows]
    jf = j.to(torch.float32)
    lower, upper = lo0 + jf * width, lo0 + (jf + 1) * width
    a = torch.div(lower - nlo, new_width, rounding_mode="floor").to(torch.int64)
    b = torch.div(upper - nlo, new_width, rounding_mode="floor").to(torch.int64)
    a = a.clamp_(0, bins - 1)  # AMCT raises IndexError when a == bins (documented)
    b = b.clamp_(max=bins - 1)
    new_upper = nlo + (a + 1).to(torch.float32) * new_width
    part = (new_upper - lower) / (upper - lower)
    low = torch.trunc(cnt.to(torch.float32) * part).to(torch.int64)
    split = a != b
    flat = out.view(-1)
    flat.scatter_add_(0, rows * bins + a, torch.where(split, low, cnt).to(out.dtype))
    flat.scatter_add_(0, rows * bins + b, torch.where(split, cnt - low, torch.zeros_like(cnt)).to(out.dtype))
    return out


class HfmgObserver(Observer):
    """HFMG: one histogram per slice (``[slices, bins]`` int32), merged as batches arrive;
    ``compute()`` searches the range (:mod:`.hfmg_search`)."""

    def __init__(
        self,
        params: HfmgParams | None = None,
        *,
        per_channel: bool,
        with_offset: bool,
        device: str | torch.device = "cpu",
        name: str | None = None,
    ) -> None:
        super().__init__(per_channel=per_channel, with_offset=with_offset, device=device, name=name)
        self.params = params or HfmgParams()
        self.mn: torch.Tensor | None = None
        self.mx: torch.Tensor | None = None
        self.hist: torch.Tensor | None = None

    def _observe(self, values: torch.Tensor) -> None:
        """Merge one ``[slices, values]`` batch into the histograms."""
        data = values.T  # [values, slices]: histc_rows bins each column
        bins = self.params.num_of_bins
        lo, hi = data.amin(dim=0), data.amax(dim=0)  # (aminmax over a dim is slow on CPU)
        lo, hi = lo.to(torch.float32), hi.to(torch.float32)
        if self.hist is None or self.mn is None or self.mx is None:
            self._check_range(lo, hi)
            self.mn, self.mx = lo, hi
            self.hist = histc_rows(data, lo, hi, bins)
            return
        new_mn, new_mx = torch.minimum(lo, self.mn), torch.maximum(hi, self.mx)
        self._check_range(new_mn, new_mx)
        new = histc_rows(data, new_mn, new_mx, bins)
        self.hist = merge(self.hist, self.mn, self.mx, new, new_mn, new_mx)
        self.mn, self.mx = new_mn, new_mx

    def _check_range(self, lo: torch.Tensor, hi: torch.Tensor) -> None:
        """A histogram whose range times its bin count overflows float32 cannot be binned
        (torch.histc, which AMCT runs, puts such values in the wrong bins or refuses)."""
        bins = self.params.num_of_bins
        found = first_bad(~torch.isfinite((hi - lo) * bins), per_channel=self.per_channel)
        if found is not None:
            i, part = found
            raise SampleDataError(
                f"{where(self.source, self.name, self.batches)}{part}values from "
                f"{float(lo[i]):.3g} to {float(hi[i]):.3g}: a {bins}-bin histogram of that range "
                "overflows float32, so HFMG cannot bin them (AMCT's torch.histc bins them wrongly "
                "or fails); real K/V activations are far smaller: check how the data was captured"
            )

    def _compute(self, cancel: Cancel) -> Factors:
        assert self.hist is not None and self.mn is not None and self.mx is not None  # (a batch was observed)
        return hfmg_search(self.hist, self.mn, self.mx, self.with_offset, cancel=cancel)
