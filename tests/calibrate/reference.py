"""A plain, slow, obviously-correct reference of spec §3, for tests and benchmarks only.

Written literally from the spec, in AMCT's order: per slice a Python loop; IFMR runs one
full quantize pass per candidate; HFMG keeps bins as Python objects, merges them bin by
bin, walks the candidates with Python loops and scores them with dense
``[bins, candidates]`` float32 tensors. No cleverness: the engine is checked against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

FLT_EPSILON = 1.192092896e-07


# ---------------------------------------------------------------------------- slices
def slices(batches: list[torch.Tensor], per_channel: bool) -> list[list[torch.Tensor]]:
    """Per slice, its per-batch flattened float32 values (AMCT: chunk along the last dim)."""
    out: list[list[torch.Tensor]] = []
    for batch in batches:
        b = batch.to(torch.float32)
        parts = list(torch.chunk(b, b.shape[-1], dim=-1)) if per_channel else [b]
        if not out:
            out = [[] for _ in parts]
        for i, p in enumerate(parts):
            out[i].append(p.reshape(-1))
    return out


# ---------------------------------------------------------------------------- §3.1
def factors_from_range(lo: torch.Tensor, hi: torch.Tensor, with_offset: bool) -> tuple[float, int]:
    lo = lo.to(torch.float32)
    hi = hi.to(torch.float32)
    if with_offset:
        hi = torch.clamp(hi, 0, None)
        lo = torch.clamp(lo, None, 0)
        scale = (hi - lo) / 255
        offset = -128 - lo / scale if bool(hi != lo) else torch.tensor(-128.0)
        if bool(scale < FLT_EPSILON):
            scale, offset = torch.tensor(1.0), torch.tensor(-128.0)
        return float(scale), int(torch.round(offset))
    neg = bool(hi.abs() < lo.abs())
    scale = torch.maximum(hi.abs(), lo.abs()) / (128 if neg else 127)
    if bool(scale < FLT_EPSILON):
        scale = torch.tensor(1.0)
    return float(scale), 0


# ---------------------------------------------------------------------------- §3.2 IFMR
def ifmr_slice(data: torch.Tensor, params, with_offset: bool) -> tuple[float, int, list[float]]:
    """One slice: ``(scale, offset, losses)``."""
    n = data.numel()
    k_max = 1 if 1.0 - params.max_percentile < FLT_EPSILON else n - int(params.max_percentile * n)
    k_min = 1 if 1.0 - params.min_percentile < FLT_EPSILON else n - int(params.min_percentile * n)
    max_init = torch.sort(data, descending=True).values[k_max - 1]
    min_init = torch.sort(data).values[k_min - 1]
    max_init = max(torch.tensor(0.0), max_init)
    min_init = min(torch.tensor(0.0), min_init)
    ratios = torch.arange(params.search_range_start, params.search_range_end, params.search_step, dtype=torch.float32)
    if with_offset:
        highs = ratios * max_init
        scales = (highs - min_init) / 255
    else:
        neg = bool(abs(max_init) < abs(min_init))
        highs = ratios * max(abs(max_init), abs(min_init))
        scales = highs / (128 if neg else 127)
    scales = torch.where(scales < FLT_EPSILON, torch.tensor(1.0), scales)
    losses = []
    for i in range(len(ratios)):
        lo = min_init if with_offset else -highs[i]
        quantized = torch.round(torch.clamp(data, lo, highs[i]) / scales[i]) * scales[i]
        losses.append(F.mse_loss(quantized, data))
    best = int(torch.argmin(torch.stack(losses)))
    scale = scales[best]
    offset = int(-torch.round(min_init / scale) - 128) if with_offset else 0
    return float(scale), offset, [float(v) for v in losses]


def ifmr(batches: list[torch.Tensor], params, per_channel: bool, with_offset: bool):
    """``(scales, offsets, losses per slice)``."""
    out = [ifmr_slice(torch.cat(parts), params, with_offset) for parts in slices(batches, per_channel)]
    return [o[0] for o in out], [o[1] for o in out], [o[2] for o in out]


# ---------------------------------------------------------------------------- §3.3 HFMG
@dataclass
class Bin:
    count: float
    lower: torch.Tensor
    upper: torch.Tensor


def to_bins(hist: torch.Tensor, mn: torch.Tensor, mx: torch.Tensor, nbins: int) -> list[Bin]:
    width = (mx - mn) / nbins
    counts = hist.tolist()
    return [Bin(counts[i], mn + i * width, mn + (i + 1) * width) for i in range(nbins)]


class HfmgSlice:
    """One slice's histogram, accumulated batch by batch."""

    def __init__(self, nbins: int) -> None:
        self.nbins = nbins
        self.mn: torch.Tensor | None = None
        self.mx: torch.Tensor | None = None
        self.hist: torch.Tensor | None = None

    def observe(self, data: torch.Tensor) -> None:
        if self.hist is None:
            self.mn, self.mx = torch.min(data), torch.max(data)
            self.hist = torch.histc(data, self.nbins, min=float(self.mn), max=float(self.mx))
            return
        new_mn = torch.min(torch.min(data), self.mn)
        new_mx = torch.max(torch.max(data), self.mx)
        new = torch.histc(data, self.nbins, min=float(new_mn), max=float(new_mx))
        old_bins = to_bins(self.hist, self.mn, self.mx, self.nbins)
        merged = to_bins(new, new_mn, new_mx, self.nbins)
        width = (new_mx - new_mn) / self.nbins
        same = math.isclose(float(new_mn), float(self.mn), abs_tol=FLT_EPSILON) and math.isclose(
            float(new_mx), float(self.mx), abs_tol=FLT_EPSILON
        )
        if same:
            for i in range(self.nbins):
                merged[i].count += old_bins[i].count
        else:
            for b in old_bins:
                a = int((b.lower - new_mn) // width)
                z = int((b.upper - new_mn) // width)
                z = min(z, self.nbins - 1)
                a = min(a, self.nbins - 1)  # AMCT would raise IndexError here (documented)
                if a == z:
                    merged[a].count += b.count
                else:
                    part = (merged[a].upper - b.lower) / (b.upper - b.lower)
                    low = int(b.count * part)
                    merged[a].count += low
                    merged[z].count += b.count - low
        self.mn, self.mx = new_mn, new_mx
        self.hist = torch.tensor([b.count for b in merged], dtype=torch.int32)


def search_range(bins: list[Bin]) -> list[tuple[int, int]]:
    left, right = 0, len(bins) - 1
    total = sum(b.count for b in bins)
    step = max(math.ceil(total / 100000), 1)
    min_bins = math.ceil(len(bins) / 4)
    out = []
    while right - left > min_bins:
        tl, tr, ls, rs = left, right, 0, 0
        while tl < tr and ls < step:
            ls += bins[tl].count
            tl += 1
        while tl < tr and rs < step:
            rs += bins[tr].count
            tr -= 1
        if right - tr >= tl - left:
            right = tr
        else:
            left = tl
        out.append((left, right))
    return out


def _norm(begin: torch.Tensor, end: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    return (end.pow(3) - begin.pow(3)) / 3 * density


def l2_losses(bins: list[Bin], cands: list[tuple[int, int]], dst: int = 256) -> torch.Tensor:
    """Spec §3.3 step 4 over all candidates at once: a dense [bins, candidates] float32."""
    nb = len(bins)
    mn, mx = bins[0].lower, bins[-1].upper
    width = (mx - mn) / nb
    counts = torch.tensor([b.count for b in bins])
    dens = (counts / width).reshape(-1, 1).repeat(1, len(cands))
    rng = torch.tensor(cands)
    left, right = rng[:, 0], rng[:, 1]
    d = width * (right - left + 1) / dst
    begin = (torch.arange(nb).reshape(-1, 1).repeat(1, len(cands)) - left) * width
    end = begin + width
    i_begin = torch.min(torch.tensor(dst - 1), (begin // d).relu())
    i_end = torch.min(torch.tensor(dst - 1), (end // d).relu())
    half = (d / 2).reshape(-1, len(cands)).repeat(nb, 1)
    centre = i_begin * d + half
    same, diff = i_begin == i_end, i_begin != i_end
    loss = _norm((begin - centre) * same, (end - centre) * same, dens * same).sum(dim=0)
    loss += _norm((begin - centre) * diff, half * diff, dens * diff).sum(dim=0)
    middle = (i_end - i_begin) * diff - 1
    loss += (middle * _norm(-half * diff, half * diff, dens * diff)).sum(dim=0)
    right_delta = (end - i_end * d - half) * diff
    loss += _norm(-half * diff, right_delta, dens * diff).sum(dim=0)
    return torch.where(d < FLT_EPSILON, torch.tensor(0.0), loss)


def hfmg_slice(state: HfmgSlice, with_offset: bool) -> tuple[float, int, list[tuple[int, int]], torch.Tensor]:
    bins = to_bins(state.hist, state.mn, state.mx, state.nbins)
    cands = search_range(bins)
    losses = l2_losses(bins, cands)
    best = int(torch.argmin(losses))
    left, right = cands[best]
    mn, mx = bins[0].lower, bins[-1].upper
    width = (mx - mn) / len(bins)
    scale, offset = factors_from_range(mn + left * width, mn + (right + 1) * width, with_offset)
    return scale, offset, cands, losses


def hfmg(batches: list[torch.Tensor], nbins: int, per_channel: bool, with_offset: bool):
    """``(scales, offsets, (candidates, losses) per slice)``."""
    states: list[HfmgSlice] = []
    for batch in batches:
        parts = slices([batch], per_channel)
        if not states:
            states = [HfmgSlice(nbins) for _ in parts]
        for state, part in zip(states, parts, strict=True):
            state.observe(part[0])
    out = [hfmg_slice(s, with_offset) for s in states]
    return [o[0] for o in out], [o[1] for o in out], [(o[2], o[3]) for o in out]
