"""HFMG's candidate walk (spec §3.3 step 3), for all slices' histograms at once.

``step = max(ceil(total / 100000), 1)``, ``min_bins = ceil(bins / 4)``, ``l, r = 0, bins - 1``;
while ``r - l > min_bins``: take bins from the left until their count reaches ``step`` (not
past the right cursor) — cursor ``tl``; then from the right likewise (not past ``tl``) —
``tr``; if ``r - tr >= tl - l`` set ``r = tr`` else ``l = tl``; append ``(l, r)``.

With prefix counts ``P`` each move is a lookup: ``TL[l]`` = the first ``t`` with
``P[t] >= P[l] + step`` and ``TR[r]`` likewise from the right, so ``tl = min(TL[l], r)`` and
``tr = max(TR[r], tl)``: a few integer operations per step. A per-tensor layer walks in a
plain loop; many slices walk together, one vectorized step per iteration (as many
iterations as the longest walk).

The common per-channel case needs no loop: with ``step == 1`` (at most 100,000 values in
the slice) and bin 0 non-empty (it holds the data's minimum, unless a merge's integer
split emptied it), the left move is always one bin and the right move at least one, so
the walk only ever moves the right cursor, from one non-empty bin to the next: the
candidates are ``(0, max(q - 1, 1))`` for the non-empty bins ``q`` from the top down,
for as long as the cursor before the move is above ``min_bins``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: AMCT's ``step = max(ceil(total / 100000), 1)``: 1 for slices of at most this many values
STEP_DIVISOR = 100000


def tables(counts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(TL, TR, unit_step)``: both cursor moves for every position, int32 ``[slices, bins]``."""
    slices, bins = counts.shape
    counts = counts.cpu()
    prefix = torch.zeros(slices, bins + 1, dtype=torch.int64)
    torch.cumsum(counts, dim=1, out=prefix[:, 1:])
    step = torch.ceil(prefix[:, -1].to(torch.float64) / STEP_DIVISOR).clamp_min(1).to(torch.int64)[:, None]
    if bool((step == 1).all()):  # one count suffices: the next / previous non-empty bin
        pos = np.arange(bins, dtype=np.int32)[None, :]
        full = (counts > 0).numpy()
        left_to = np.minimum.accumulate(np.where(full, pos, bins)[:, ::-1], axis=1)[:, ::-1] + 1
        right_to = np.maximum.accumulate(np.where(full, pos, -1), axis=1) - 1
        return left_to, right_to, True
    lefts = torch.searchsorted(prefix, prefix[:, :bins] + step, side="left").to(torch.int32)
    rights = torch.searchsorted(prefix, prefix[:, 1:] - step, side="right") - 2
    return lefts.numpy(), rights.to(torch.int32).numpy(), False


def walk_one(
    left_to: list[int], right_to: list[int], bins: int, left: int = 0, right: int | None = None
) -> list[tuple[int, int]]:
    """The plain loop for one slice, from state ``(left, right)``."""
    min_bins = math.ceil(bins / 4)
    right = bins - 1 if right is None else right
    got = []
    while right - left > min_bins:
        tl = min(left_to[left], right)
        tr = max(right_to[right], tl)
        if right - tr >= tl - left:
            right = tr
        else:
            left = tl
        got.append((left, right))
    return got


def walk(counts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate ranges of every slice: ``(slice, l, r)`` int32 arrays, slice-major, in
    walk order within a slice."""
    slices, bins = counts.shape
    if slices > 4:
        counts = counts.cpu()
        simple = (counts[:, 0] > 0) & (counts.sum(dim=1) <= STEP_DIVISOR)  # (step 1)
        if bool(simple.all()):
            return _right_only(counts)
        if bool(simple.any()):  # rare: walk the two kinds apart, then interleave by slice
            ids = [simple.nonzero()[:, 0].numpy(), (~simple).nonzero()[:, 0].numpy()]
            parts = [walk(counts[torch.from_numpy(i)]) for i in ids]
            s = np.concatenate([i[p[0]] for i, p in zip(ids, parts, strict=True)]).astype(np.int32)
            order = np.argsort(s, kind="stable")
            lv, rv = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
            return s[order], lv[order], rv[order]
    left_to, right_to, _ = tables(counts)
    if slices <= 4:
        rows = [
            np.array(
                [(s, lv, rv) for lv, rv in walk_one(left_to[s].tolist(), right_to[s].tolist(), bins)], dtype=np.int32
            ).reshape(-1, 3)
            for s in range(slices)
        ]
        out = np.concatenate(rows)
        return out[:, 0], out[:, 1], out[:, 2]
    return _lockstep(left_to, right_to, bins)


def _lockstep(left_to: np.ndarray, right_to: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every slice's walk advanced together, one step per iteration (vectorized over slices)."""
    slices = left_to.shape[0]
    min_bins = math.ceil(bins / 4)
    lt_flat, rt_flat = left_to.reshape(-1), right_to.reshape(-1)
    active = np.arange(slices, dtype=np.int32)
    base = active * bins
    left = np.zeros(slices, dtype=np.int32)
    right = np.full(slices, bins - 1, dtype=np.int32)
    steps = []
    while active.size:
        lt = np.minimum(lt_flat[base + left], right)
        rt = np.maximum(rt_flat[base + right], lt)
        move_r = (right - rt) >= (lt - left)
        right = np.where(move_r, rt, right)
        left = np.where(move_r, left, lt)
        steps.append((active, left, right))
        keep = right - left > min_bins
        active, base, left, right = active[keep], base[keep], left[keep], right[keep]
    del lt_flat, rt_flat, left_to, right_to
    # slice-major order without a sort: slice c's i-th step goes to start[c] + i
    count = np.zeros(slices, dtype=np.int64)
    for a, _, _ in steps:
        count[a] += 1
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    out = np.empty((3, int(count.sum())), dtype=np.int32)
    while steps:  # emptied as it goes: the steps and the output are never both whole
        i = len(steps) - 1
        a, lv, rv = steps.pop()
        at = start[a] + i
        out[0, at], out[1, at], out[2, at] = a, lv, rv
    return out[0], out[1], out[2]


#: slices walked together by the loop-free walk (bounds its temporaries to a few MB)
RIGHT_ONLY_GROUP = 128


def _right_only(counts: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The walks of slices whose bin 0 is non-empty and whose step is 1 (module docstring):
    the right cursor passes the non-empty bins from the top down."""
    parts = [
        _right_only_group(counts[g0 : g0 + RIGHT_ONLY_GROUP], g0) for g0 in range(0, counts.shape[0], RIGHT_ONLY_GROUP)
    ]
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _right_only_group(counts: torch.Tensor, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    slices, bins = counts.shape
    min_bins = math.ceil(bins / 4)
    rows, q = (a.astype(np.int32) for a in np.nonzero(counts.numpy() > 0))  # each slice's bins ascending
    # the cursor before the move past q: one below the next non-empty bin above q (or the top)
    above = np.empty_like(q)
    above[:-1] = q[1:]
    above[-1] = bins
    last = np.ones(rows.size, dtype=bool)
    last[:-1] = rows[1:] != rows[:-1]
    above[last] = bins
    keep = above - 1 > min_bins
    rows, q = rows[keep], q[keep]
    count = np.bincount(rows, minlength=slices)
    start = np.zeros(slices + 1, dtype=np.int64)
    np.cumsum(count, out=start[1:])
    # walk order within a slice is from the top down: reverse each slice's run in place
    rank = np.arange(rows.size) - start[rows]
    at = start[rows] + count[rows] - 1 - rank
    s_out = np.empty(rows.size, dtype=np.int32)
    r_out = np.empty(rows.size, dtype=np.int32)
    s_out[at] = rows + first
    r_out[at] = np.maximum(q - 1, 1)
    return s_out, np.zeros(rows.size, dtype=np.int32), r_out
