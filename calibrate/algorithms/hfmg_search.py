"""HFMG's range search (spec §3.3 steps 4-5) for all slices' histograms at once; the
candidates come from :mod:`hfmg_walk`.

Loss of ``(l, r)`` (caffe2's L2 estimate): every source bin is uniform density
``n_j / w``; 256 destination bins of width ``d = w (r - l + 1) / 256`` over the range,
indices clamped to ``[0, 255]``; loss ``= ∫ ρ(x) (x - c(x))² dx`` with ``c(x)`` the centre
of ``x``'s destination bin. In bin-width units with ``F_p(y) = ∫_0^y ρ x^p``, summing
by parts gives ``loss = Q(c_255) + 2 D Σ_{k=1}^{255} (F_1(e_k) - e_k F_0(e_k))`` with
``D = d / w``, edges ``e_k = l + k D``, ``Q(c) = ∫ ρ (x - c)²``: 255 lookups per candidate
instead of a dense ``[bins, candidates]`` tensor, in float64 (exact up to rounding).
A loss with float32 ``d < FLT_EPSILON`` is 0.

The candidates within ``ETA`` of the best are then scored with AMCT's own float32
formula (per-bin terms, summed over bins) and the first minimum wins. ``lo = mn + l w``,
``hi = mn + (r + 1) w``; factors by spec §3.1.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import torch

from kvcal.calibrate.algorithms.hfmg_walk import walk
from kvcal.calibrate.errors import CalibrationCancelled
from kvcal.calibrate.factors import FLT_EPSILON, Factors, factors_from_range

DST = 256
#: relative distance from the best float64 loss within which AMCT's float32 ranking decides
ETA = 1e-3
#: candidates scored with the float32 formula per slice, at most
MAX_FINALISTS = 32
#: candidates scored together (slices are grouped up to about this many)
GROUP_CANDIDATES = 1 << 16
#: neighbours (each side, in walk order) of each slice's best-guessed candidate scored first
GUESSES = 2
CHUNK = 1 << 20
#: candidates scored together by the float32 formula ([bins, FINAL_CHUNK] temporaries)
FINAL_CHUNK = 64
F64 = torch.float64


class Prefix:
    """Per-slice prefix sums of a histogram in bin-width units (bin ``j`` is ``[j, j+1)``):
    ``Σ n``, ``Σ n (j + 1/2)``, ``Σ n ((j + 1/2)² + 1/12)`` over bins ``< j``, stored as
    ``p[slice * (bins + 1) + j, 0..2]`` so that one lookup fetches all three."""

    def __init__(self, counts: torch.Tensor) -> None:
        slices, bins = counts.shape
        self.bins = bins
        self.n = counts.to(F64)
        mid = torch.arange(bins, dtype=F64, device=counts.device) + 0.5
        weights = torch.stack([torch.ones_like(mid), mid, mid.square() + 1 / 12], dim=1)  # [bins, 3]
        p = torch.zeros(slices, bins + 1, 3, dtype=F64, device=counts.device)
        torch.cumsum(self.n[:, :, None] * weights, dim=1, out=p[:, 1:])
        self.p = p.reshape(-1, 3)
        self.p0, self.p1 = self.p[:, 0].contiguous(), self.p[:, 1].contiguous()
        self.end = p[:, -1]  # [slices, 3] totals
        self.total = self.end[:, 0]
        self.mean = self.end[:, 1] / self.total
        self.spread = (self.n * (mid - self.mean[:, None]).square()).sum(dim=1) + self.total / 12

    def at(self, s: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """``[..., 3]`` prefix sums of slice ``s`` before bin ``j``."""
        flat = (s * (self.bins + 1) + j).reshape(-1)
        return self.p.index_select(0, flat).reshape(*j.shape, 3)


def tails(pre: Prefix, s: torch.Tensor, lft: torch.Tensor, rgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tails, guess)``: the exact loss of the bins outside ``[l, r]`` (clamped to the
    first / last destination centre) — a lower bound of the loss — and a cheap guess of the
    whole loss (tails + interior mass times ``(D² + 1) / 12``)."""
    d = (rgt - lft + 1).to(F64) / DST
    c0 = lft.to(F64) + d / 2
    c255 = lft.to(F64) + (DST - 0.5) * d
    a = pre.at(s, lft)
    b = pre.end[s] - pre.at(s, rgt + 1)
    left = a[:, 2] - 2 * c0 * a[:, 1] + c0.square() * a[:, 0]
    right = b[:, 2] - 2 * c255 * b[:, 1] + c255.square() * b[:, 0]
    out = (left + right).clamp_min(0)
    inside = pre.total[s] - a[:, 0] - b[:, 0]
    return out, out + inside * (d.square() + 1) / 12


def screen(
    pre: Prefix, s: torch.Tensor, lft: torch.Tensor, rgt: torch.Tensor, cancel: Callable[[], bool] | None
) -> torch.Tensor:
    """Float64 L2 loss (bin-width units) of candidates ``(s, l, r)``:
    ``Q(c_255) + 2 D Σ_k (F_1(e_k) - e_k F_0(e_k))``."""
    bins = pre.bins
    k = torch.arange(1, DST, device=s.device, dtype=torch.int64)[None, :]
    flat0, flat1, flatn = pre.p0, pre.p1, pre.n.reshape(-1)
    out = torch.empty(s.shape[0], dtype=F64, device=s.device)
    step = max(1, CHUNK // DST)
    for i in range(0, s.shape[0], step):
        if cancel is not None and cancel():
            raise CalibrationCancelled("calibration cancelled")
        si, li, ri = s[i : i + step, None], lft[i : i + step, None], rgt[i : i + step, None]
        width = ri - li + 1
        y256 = 256 * li + k * width  # 256 * edge, exact
        j = torch.div(y256, 256, rounding_mode="floor")
        frac = (y256 - 256 * j).to(F64) / 256
        at = (si * (bins + 1) + j).reshape(-1)
        g = flat1.index_select(0, at) - (j.to(F64) + frac).reshape(-1) * flat0.index_select(0, at)
        g = g.reshape(j.shape) - flatn.index_select(0, (si * bins + j).reshape(-1)).reshape(j.shape) * frac.square() / 2
        d = width[:, 0].to(F64) / DST
        c255 = li[:, 0].to(F64) + (DST - 0.5) * d
        sc = si[:, 0]
        out[i : i + step] = pre.total[sc] * (c255 - pre.mean[sc]).square() + pre.spread[sc] + 2 * d * g.sum(1)
    return out


def losses(
    counts: torch.Tensor, s: torch.Tensor, lft: torch.Tensor, rgt: torch.Tensor, cancel: Callable[[], bool] | None
) -> torch.Tensor:
    """The float64 loss of every candidate that can be within ETA of its slice's best,
    ``inf`` for the others: the best-guessed candidate of each slice and its neighbours in
    walk order give an upper bound ``U``; a candidate whose tails alone exceed
    ``U (1 + ETA)`` cannot be within ETA of the best."""
    pre = Prefix(counts)
    low, guess = tails(pre, s, lft, rgt)
    slices, m = counts.shape[0], s.shape[0]
    dev = s.device
    best = torch.full((slices,), float("inf"), dtype=F64, device=dev).scatter_reduce(0, s, guess, "amin")
    index = torch.arange(m, device=dev)
    at = torch.full((slices,), m, dtype=torch.int64, device=dev)
    at = at.scatter_reduce(0, s, torch.where(guess == best[s], index, m), "amin")
    near = (at[:, None] + torch.arange(-GUESSES, GUESSES + 1, device=dev)).clamp(0, m - 1).reshape(-1)
    near = near[s[near] == torch.arange(slices, device=dev).repeat_interleave(2 * GUESSES + 1)]
    near = torch.unique(near)
    out = torch.full_like(low, float("inf"))
    out[near] = screen(pre, s[near], lft[near], rgt[near], cancel)
    bound = torch.full((slices,), float("inf"), dtype=F64, device=dev)
    bound = bound.scatter_reduce(0, s[near], out[near], "amin")
    slack = 1e-12 * pre.end[s, 2]
    rest = ((low <= bound[s] * (1 + ETA) + slack) & torch.isinf(out)).nonzero()[:, 0]
    out[rest] = screen(pre, s[rest], lft[rest], rgt[rest], cancel)
    return out


def amct_losses(counts: torch.Tensor, width: torch.Tensor, lft: torch.Tensor, rgt: torch.Tensor) -> torch.Tensor:
    """AMCT's float32 L2 of candidates (one column each): ``counts`` ``[F, bins]``,
    ``width`` ``[F]`` float32 bin widths, ``lft``/``rgt`` ``[F]`` — same per-bin terms."""
    bins = counts.shape[1]

    def norm(begin: torch.Tensor, end: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
        return (end.pow(3) - begin.pow(3)) / 3 * density

    dens = (counts.to(torch.float32) / width[:, None]).T  # [bins, F]
    d = width * (rgt - lft + 1) / DST
    begin = (torch.arange(bins)[:, None] - lft[None, :]) * width[None, :]
    end = begin + width[None, :]
    top = torch.tensor(DST - 1)
    i_begin = torch.min(top, (begin // d).relu())
    i_end = torch.min(top, (end // d).relu())
    half = (d / 2)[None, :].expand(bins, -1)
    centre = i_begin * d + half
    same, diff = i_begin == i_end, i_begin != i_end
    loss = norm((begin - centre) * same, (end - centre) * same, dens * same).sum(dim=0)
    loss += norm((begin - centre) * diff, half * diff, dens * diff).sum(dim=0)
    middle = (i_end - i_begin) * diff - 1
    loss += (middle * norm(-half * diff, half * diff, dens * diff)).sum(dim=0)
    loss += norm(-half * diff, (end - i_end * d - half) * diff, dens * diff).sum(dim=0)
    return torch.where(d < FLT_EPSILON, torch.zeros(()), loss)


def hfmg_search(
    counts: torch.Tensor,
    mn: torch.Tensor,
    mx: torch.Tensor,
    with_offset: bool,
    *,
    cancel: Callable[[], bool] | None = None,
) -> Factors:
    """HFMG's factors ``[slices]`` from histograms ``[slices, bins]`` over ``[mn, mx]``."""
    slices, bins = counts.shape
    dev = counts.device
    # AMCT's float32 bin geometry: bins rebuilt from the range, then the width again.
    step32 = (mx - mn) / bins
    width = ((mn + bins * step32) - mn) / bins
    s_np, l_np, r_np = walk(counts)
    # Ranges whose cubed distances overflow float32 (about 7e12 and up): AMCT's losses turn
    # inf or NaN there and torch.argmin takes the first NaN, so every candidate of such a
    # slice is ranked by AMCT's own float32 formula, not by the float64 loss.
    overflows = torch.isinf((width * bins).cpu().pow(3)).numpy()
    starts = np.searchsorted(s_np, np.arange(slices + 1))
    best = np.empty(slices, dtype=np.int64)
    # slices scored together: about GROUP_CANDIDATES candidates (small, cache-sized tensors)
    cuts = np.searchsorted(starts, np.arange(0, starts[-1], GROUP_CANDIDATES), side="right") - 1
    bounds = sorted({*cuts.tolist(), slices})
    for g0, g1 in pairwise(bounds):
        a, b = starts[g0], starts[g1]
        s = torch.from_numpy(s_np[a:b] - g0).to(dev, torch.int64)
        lft = torch.from_numpy(l_np[a:b]).to(dev, torch.int64)
        rgt = torch.from_numpy(r_np[a:b]).to(dev, torch.int64)
        part = counts[g0:g1].to(torch.int64)
        loss = losses(part, s, lft, rgt, cancel)
        d32 = width[g0:g1][s] * (rgt - lft + 1) / DST
        loss = torch.where(d32 < FLT_EPSILON, torch.zeros_like(loss), loss).cpu()
        best[g0:g1] = a + _choose(
            part.cpu(), width[g0:g1].cpu(), s_np[a:b] - g0, l_np[a:b], r_np[a:b], loss, overflows[g0:g1]
        )
    lo = mn + torch.from_numpy(l_np[best]).to(dev, torch.int64) * width
    hi = mn + (torch.from_numpy(r_np[best]).to(dev, torch.int64) + 1) * width
    return factors_from_range(lo, hi, with_offset)


def _choose(
    counts: torch.Tensor,
    width: torch.Tensor,
    s: np.ndarray,
    lft: np.ndarray,
    rgt: np.ndarray,
    loss: torch.Tensor,
    overflows: np.ndarray,
) -> np.ndarray:
    """Per slice, the index (into the candidate arrays) AMCT's arg-min picks: the first
    zero-width candidate, else the float32 arg-min among those within ETA of the best
    (among all of them where float32 overflows, NaN first as torch.argmin has it)."""
    slices = counts.shape[0]
    starts = np.searchsorted(s, np.arange(slices + 1))
    lossn = loss.numpy()
    chosen = np.empty(slices, dtype=np.int64)
    multi: list[tuple[int, np.ndarray]] = []
    for sl in range(slices):
        a, b = starts[sl], starts[sl + 1]
        if overflows[sl]:
            multi.append((sl, np.arange(a, b)))
            continue
        seg = lossn[a:b]
        best = seg.min()
        if best <= 0:  # d < FLT_EPSILON: AMCT's loss is exactly 0; the first such wins
            chosen[sl] = a + int(np.argmax(seg <= 0))
            continue
        near = np.nonzero(seg <= best * (1 + ETA))[0]
        if near.size > MAX_FINALISTS:
            near = np.sort(near[np.argsort(seg[near], kind="stable")[:MAX_FINALISTS]])
        if near.size == 1:
            chosen[sl] = a + near[0]
        else:
            multi.append((sl, a + near))
    if multi:
        flat = np.concatenate([idx for _, idx in multi])
        f32 = np.empty(flat.size, dtype=np.float32)
        for c0 in range(0, flat.size, FINAL_CHUNK):
            part = torch.from_numpy(flat[c0 : c0 + FINAL_CHUNK])
            owner = torch.from_numpy(s)[part]
            f32[c0 : c0 + part.numel()] = amct_losses(
                counts[owner], width[owner], torch.from_numpy(lft)[part], torch.from_numpy(rgt)[part]
            ).numpy()
        at = 0
        for sl, idx in multi:
            seg = f32[at : at + idx.size]
            at += idx.size
            chosen[sl] = idx[int(np.argmin(seg))]  # float32 ties (and NaN): the first, as torch.argmin
    return chosen
