"""IFMR on long slices: exact bounds from a fine histogram, then AMCT's loss for the few
candidates that can still win.

One pass bins each slice into ``B`` bins keeping, per bin, the count and the first two
moments of the values' positions (float64). For candidate ``(lo, hi, scale)`` a value
``x`` costs ``(q(x) - x)**2`` with ``q(x) = fl32(k * scale)``,
``k = round(clamp(x, lo, hi) / scale)``; ``k`` only changes at ``lo``, ``hi`` and the
rounding edges ``(k + 1/2) * scale`` (at most 258 breakpoints). Bins clear of every
breakpoint (by ``delta``, which covers float32's division error) form runs with one
``q`` each, whose cost is exact from prefix sums:
``sum (q - x)**2 = q**2 * S0 - 2 q * S1 + S2``. The few bins around a breakpoint are
bounded: between two levels by ``[max(G_a, G_b) - 2 n |q_b - q_a| W, min(G_a, G_b)]``
(each value takes the nearer level), otherwise by ``[0, n * max corner]``.
Every candidate whose lower bound is within ``ETA`` of the best upper bound is then
evaluated exactly, with AMCT's ``mse_loss``; ``ETA`` covers AMCT's own float32 rounding,
so AMCT's arg-min is always among them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kvcal.calibrate.algorithms.ifmr_formulas import (
    candidates,
    clamp_inits,
    exact_loss,
    kth_extremes,
)
from kvcal.calibrate.errors import CalibrationCancelled

#: relative slack between the bounds and AMCT's float32 losses (ours are float64)
ETA = 3e-5
#: a sum of squared errors this far below float32's maximum cannot overflow in float32
SAFE_SUM = 1e37
CHUNK = 1 << 18
F64 = torch.float64


def bin_count(n: int, rows: int) -> int:
    """Bins per slice: about n/16, a power of two in [4096, 2**18], at most 2**22 in all."""
    b = 4096
    while b < 2**18 and b * 16 < n and rows * b * 2 <= 2**22:
        b *= 2
    return b


def moments(
    x: torch.Tensor, mn: torch.Tensor, mx: torch.Tensor, bins: int, cancel: Callable[[], bool] | None
) -> torch.Tensor:
    """``[3, rows * bins]``: count, sum of u, sum of u**2 with ``x = mn + (j + 1/2 + u) w``."""
    rows, n = x.shape
    span = (mx - mn).to(F64)
    factor = torch.where(span > 0, bins / span, torch.zeros_like(span))[:, None]
    base = (torch.arange(rows, device=x.device, dtype=F64) * bins)[:, None]
    out = torch.zeros(3, rows * bins, dtype=F64, device=x.device)
    step = max(1, CHUNK // rows)
    for j0 in range(0, n, step):
        if cancel is not None and cancel():
            raise CalibrationCancelled("calibration cancelled")
        t = x[:, j0 : j0 + step].to(F64).sub_(mn.to(F64)[:, None]).mul_(factor)
        idx = t.floor().clamp_(0, bins - 1)
        u = t.sub_(idx).sub_(0.5)
        g = idx.add_(base).reshape(-1).long()
        u = u.reshape(-1)
        out[0] += torch.bincount(g, minlength=rows * bins)
        out[1] += torch.bincount(g, weights=u, minlength=rows * bins)
        out[2] += torch.bincount(g, weights=u.square_(), minlength=rows * bins)
    return out


def bounds(
    mom: torch.Tensor,
    mn: torch.Tensor,
    mx: torch.Tensor,
    bins: int,
    lo: torch.Tensor,
    hi: torch.Tensor,
    scale: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lower, upper)`` ``[C, K]`` float64 on the sum of AMCT's per-value costs."""
    rows = mn.shape[0]
    dev = mn.device
    mn64 = mn.to(F64)
    w = ((mx - mn).to(F64) / bins)[:, None]  # [C, 1]
    j = torch.arange(bins, device=dev, dtype=F64)[None, :]
    # Sums of x and x² about the slice's midpoint, not about 0: the costs below subtract
    # them, and far from 0 (values 1e5 ± 0.01) sums about 0 would cancel to noise.
    mid = ((mn64 + mx.to(F64)) / 2)[:, None]
    centre = (mn64[:, None] - mid) + (j + 0.5) * w
    s0, s1, s2 = (m.reshape(rows, bins) for m in mom)
    a1 = s0 * centre + w * s1
    a2 = s0 * centre.square() + 2 * centre * w * s1 + w.square() * s2
    prefix = torch.zeros(3, rows, bins + 1, dtype=F64, device=dev)
    for i, a in enumerate((s0, a1, a2)):
        torch.cumsum(a, dim=1, out=prefix[i, :, 1:])
    # what float64 rounding can still move a cost by: a few ulps of the spread's sum
    rounding = (prefix[2, :, -1] * 2.0**-40)[:, None]

    delta = (torch.maximum(mn.abs(), mx.abs()).to(F64) * 2.0**-22 + 1e-300)[:, None, None]
    wg = torch.where(w > 0, w, delta[:, :, 0])[:, :, None]  # bin width for geometry
    origin = mn64[:, None, None]
    lo64, hi64, s64 = lo.to(F64)[..., None], hi.to(F64)[..., None], scale.to(F64)[..., None]

    # k at lo and at hi as AMCT's float32 computes it (every value beyond clamps to these)
    k_lo = torch.round(lo / scale)
    k_hi = torch.round(hi / scale)
    k_lo64, k_hi64 = k_lo.to(F64)[..., None], k_hi.to(F64)[..., None]

    def level(y: torch.Tensor) -> torch.Tensor:
        """k of a value y at least delta from every breakpoint, as AMCT's float32 gives it."""
        k = torch.round(torch.minimum(torch.maximum(y, lo64), hi64) / s64)
        return torch.where(y <= lo64, k_lo64, torch.where(y >= hi64, k_hi64, k))

    def quant(k: torch.Tensor) -> torch.Tensor:  # AMCT's float32 k * scale, about the midpoint
        return (k.to(torch.float32) * scale[..., None]).to(F64) - mid[:, :, None]

    def sums(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, ...]:  # bins a..b
        a_c = a.clamp(0, bins).long()
        b_c = (b + 1).clamp(0, bins).long()
        b_c = torch.maximum(a_c, b_c)
        flat = prefix.reshape(3, rows, 1, bins + 1).expand(3, rows, a.shape[1], bins + 1)
        return tuple((flat[i].gather(2, b_c) - flat[i].gather(2, a_c)) for i in range(3))

    def cost(q: torch.Tensor, r: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return (q.square() * r[0] - 2 * q * r[1] + r[2]).clamp_min(0)

    # Breakpoints: lo, hi, and the rounding edges (k + 1/2) s for k_lo <= k < k_hi.
    m = int((k_hi - k_lo).max().item()) if k_lo.numel() else 0
    t = torch.arange(max(m, 0), device=dev, dtype=F64)
    kk = k_lo.to(F64)[..., None] + t
    edges = (kk + 0.5) * s64
    edges = torch.where(kk < k_hi.to(F64)[..., None], edges, torch.full_like(edges, float("inf")))
    points = torch.cat([lo64, edges, hi64], dim=2).sort(dim=2).values  # [C, K, M]
    finite = torch.isfinite(points)
    first = torch.floor((points - delta - origin) / wg).clamp(-1, bins)
    last = torch.floor((points + delta - origin) / wg).clamp(-1, bins)
    first = torch.where(finite, first, torch.full_like(first, bins))
    last = torch.where(finite, last, torch.full_like(last, bins))
    # Merge overlapping bin ranges into blocks (ranges are sorted by construction).
    prev_last = torch.cat([torch.full_like(last[..., :1], -2), last[..., :-1]], dim=2)
    block = torch.cumsum((first > prev_last).long(), dim=2) - 1
    start = torch.full_like(first, bins).scatter_reduce(2, block, first, "amin")
    end = torch.full_like(last, -1).scatter_reduce(2, block, last, "amax")
    used = torch.arange(first.shape[2], device=dev)[None, None, :] <= block[..., -1:]
    start = torch.where(used, start, torch.full_like(start, bins))
    end = torch.where(used, end, torch.full_like(end, bins))

    # Runs between blocks: one level each, exact.
    run_a = torch.cat([torch.zeros_like(end[..., :1]), end + 1], dim=2)
    run_b = torch.cat([start - 1, torch.full_like(start[..., :1], bins - 1)], dim=2)
    run_q = quant(level(origin + (run_a.clamp(0, bins - 1) + 0.5) * wg))
    total = cost(run_q, sums(run_a, run_b)).sum(dim=2)

    # Blocks: exact when one level, two-level bound, else [0, n * max corner].
    r = sums(start, end)
    ya = origin + start.clamp(0, bins) * wg - delta
    yb = origin + (end.clamp(-1, bins - 1) + 1) * wg + delta
    ka, kb = level(ya), level(yb)
    qa, qb = quant(ka), quant(kb)
    ga, gb = cost(qa, r), cost(qb, r)
    gap = (qb - qa).abs()
    width = yb - ya
    slack = r[0] * 4 * gap * delta  # a value within delta of the edge may take the far level
    inside = (ya > lo64) & (yb < hi64) & (kb - ka == 1)
    ya_m, yb_m = ya - mid[:, :, None], yb - mid[:, :, None]  # the block's ends about the midpoint
    corner = torch.stack([(qa - ya_m), (qa - yb_m), (qb - ya_m), (qb - yb_m)]).square().amax(dim=0)
    lower = torch.where(
        ka == kb,
        ga,
        torch.where(
            inside, (torch.maximum(ga, gb) - r[0] * 2 * gap * (width + delta)).clamp_min(0), torch.zeros_like(ga)
        ),
    )
    upper = torch.where(ka == kb, ga, torch.where(inside, torch.minimum(ga, gb) + slack, r[0] * corner))
    return (total + lower.sum(dim=2) - rounding).clamp_min(0), total + upper.sum(dim=2) + rounding


def _extremes_one(
    x: torch.Tensor, counts: torch.Tensor, mn: torch.Tensor, mx: torch.Tensor, k_max: int, k_min: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """k-th largest / smallest of one long slice: the histogram says which few values
    can be it; ``topk`` runs on those alone (the value is the same as over all values)."""
    bins = counts.shape[0]
    w = (mx - mn).to(F64) / bins
    margin = w + torch.maximum(mn.abs(), mx.abs()).to(F64) * 2.0**-20
    from_top = torch.flip(torch.cumsum(torch.flip(counts, [0]), 0), [0])
    j_top = int((from_top >= k_max).nonzero().max())
    above = x[x >= (mn.to(F64) + j_top * w - margin).to(torch.float32)]
    from_bottom = torch.cumsum(counts, 0)
    j_bot = int((from_bottom >= k_min).nonzero().min())
    below = x[x <= (mn.to(F64) + (j_bot + 1) * w + margin).to(torch.float32)]
    top = torch.topk(above, k_max).values[-1]
    bottom = torch.topk(below, k_min, largest=False).values[-1]
    return top.reshape(1), bottom.reshape(1)


def _pick(
    x: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    lo: torch.Tensor,
    hi: torch.Tensor,
    scale: torch.Tensor,
    cancel: Callable[[], bool] | None,
) -> int:
    """AMCT's arg-min for one slice: exact losses of the candidates the bounds allow."""

    cut = float(upper.min()) * (1 + ETA)
    order = (lower <= cut).nonzero()[:, 0].tolist()
    if len(order) == 1 and float(upper[order[0]]) < SAFE_SUM:
        # One candidate can be AMCT's first minimum and its float32 sum cannot overflow
        # (its terms are >= 0, so no partial sum exceeds the bound): no exact pass is needed,
        # nor its slice-sized temporary.
        return int(order[0])
    triples = list(zip(lo.tolist(), hi.tolist(), scale.tolist(), strict=True))
    seen: dict[tuple[float, float, float], float] = {}
    best, best_loss = 0, float("inf")
    for i in order:
        if cancel is not None and cancel():
            raise CalibrationCancelled("calibration cancelled")
        if triples[i] not in seen:
            seen[triples[i]] = exact_loss(x, lo[i], hi[i], scale[i])
        if seen[triples[i]] < best_loss:
            best, best_loss = i, seen[triples[i]]
    if best_loss != best_loss or best_loss == float("inf"):
        # float32 overflow (huge values): AMCT's losses are inf; rank every candidate as it does
        losses = torch.tensor([exact_loss(x, lo[i], hi[i], scale[i]) for i in range(len(triples))])
        best = int(losses.argmin())
    return best


def screened_search(
    x: torch.Tensor,
    k_max: int,
    k_min: int,
    ratios: torch.Tensor,
    with_offset: bool,
    *,
    cancel: Callable[[], bool] | None = None,
    check: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, ...]:
    """IFMR on long rows: ``(max_init, min_init, lo, hi, scale, best)`` like the exhaustive
    path, the rows processed in groups that bound the memory of the histograms.
    ``check(scale, max_init, min_init)`` sees each group's candidate scales before the search."""

    rows, n = x.shape
    bins = bin_count(n, rows)
    group = max(1, (1 << 20) // bins)
    parts: list[tuple[torch.Tensor, ...]] = []
    for r0 in range(0, rows, group):
        xs = x[r0 : r0 + group]
        mn, mx = xs.amin(dim=1), xs.amax(dim=1)
        mom = moments(xs, mn, mx, bins, cancel)
        if xs.shape[0] == 1:
            top, bottom = _extremes_one(xs[0], mom[0], mn, mx, k_max, k_min)
        else:
            top, bottom = kth_extremes(xs, k_max, k_min)
        max_init, min_init = clamp_inits(top, bottom)
        lo, hi, scale = candidates(max_init, min_init, ratios, with_offset)
        if check is not None:
            check(scale, max_init, min_init)
        lower, upper = bounds(mom, mn, mx, bins, lo, hi, scale)
        best = [_pick(xs[i], lower[i], upper[i], lo[i], hi[i], scale[i], cancel) for i in range(xs.shape[0])]
        parts.append((max_init, min_init, lo, hi, scale, torch.tensor(best, device=x.device)))
    return tuple(torch.cat([p[i] for p in parts]) for i in range(6))
