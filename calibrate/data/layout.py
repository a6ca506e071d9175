"""One layer's sample values laid out once, the way the algorithms read them.

A ``[slices, values]`` float32 matrix — one row per channel (the last dimension) when
per_channel, one row otherwise — whose columns hold the batches in order, each batch's
values in AMCT's order (``batch.reshape(-1, channels)[:, c]`` for channel ``c``, then the
next batch: AMCT's ``torch.chunk`` + ``torch.cat``). It is filled piece by piece, read
straight from the sample file (a few MB at a time along a batch's first dimension), so a
layer's data is in memory once; HFMG observes each batch as a view of its columns and
IFMR searches the matrix itself. Every batch is checked as it is read (dtype, shape,
channel count, NaN/Inf), each error naming the file, layer and batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from kvcal.calibrate.data.batch import (
    ACCEPTED_DTYPES,
    Batch,
    check_shape,
    dtype_error,
    nonfinite_counts,
    nonfinite_error,
)
from kvcal.calibrate.errors import CalibrationCancelled, SampleDataError, where


@dataclass(frozen=True)
class Layout:
    """``matrix`` ``[slices, values]`` float32; batch ``i`` is ``matrix[:, segments[i]]``."""

    matrix: torch.Tensor
    segments: tuple[slice, ...]

    def batch(self, i: int) -> torch.Tensor:
        return self.matrix[:, self.segments[i]]


def lay_out(
    batches: Iterable[Batch],
    *,
    per_channel: bool,
    device: torch.device,
    source: str | None = None,
    layer: str | None = None,
    first_index: int = 0,
    cancel: Callable[[], bool] | None = None,
) -> Layout:
    """Check every batch and copy its values into one matrix (module docstring). Messages
    number the batches from *first_index*."""
    batches = list(batches)
    channels: int | None = None
    sizes = []
    for i, b in enumerate(batches, first_index):
        context = where(source, layer, i)
        if b.dtype not in ACCEPTED_DTYPES:
            raise dtype_error(b.dtype, context)
        check_shape(b.shape, context)
        width = b.shape[-1] if per_channel else 1
        if channels is None:
            channels = width
        elif width != channels:
            raise SampleDataError(
                f"{context}has {width} channels (last dimension) but the first batch had "
                f"{channels}: per_channel needs the same channel count in every batch; "
                "capture all batches from the same layer"
            )
        sizes.append(math.prod(b.shape) // width)
    slices = channels or 1
    matrix = torch.empty(slices, sum(sizes), dtype=torch.float32, device=device)
    segments = []
    at = 0
    for i, (b, size) in enumerate(zip(batches, sizes, strict=True), first_index):
        start, nan, inf = at, 0, 0
        for piece in b.pieces(slices):
            if cancel is not None and cancel():
                raise CalibrationCancelled("calibration cancelled")
            part = piece.to(device).reshape(-1, slices)
            n_nan, n_inf = nonfinite_counts(part)
            nan, inf = nan + n_nan, inf + n_inf
            count = part.shape[0]
            if slices == 1:  # a plain copy (through the transposed [1, n] view it is 5x slower)
                matrix[0, at : at + count].copy_(part.reshape(-1))
            else:
                matrix[:, at : at + count].copy_(part.T)
            at += count
        if nan or inf:
            raise nonfinite_error(where(source, layer, i), nan, inf)
        if at - start != size:  # pragma: no cover - a source that lied about its shape
            raise SampleDataError(f"{where(source, layer, i)}read {at - start} values per slice, expected {size}")
        segments.append(slice(start, at))
    return Layout(matrix, tuple(segments))
