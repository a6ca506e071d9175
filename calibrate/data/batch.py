"""One batch of sample data before it is read, and the checks every batch passes.

A :class:`Batch` is its shape, its dtype and ``pieces(unit)``: its values in order, read a
few MB at a time (from a sample file, or views of a tensor in memory). The checks — dtype,
shape, NaN/Inf — are applied in one place, :func:`kvcal.calibrate.data.layout.lay_out`, as
the values are laid out for the algorithms; each error names the file, layer and batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from kvcal.calibrate.errors import SampleDataError

#: values read per piece of a batch (a few MB, whatever the batch's size)
PIECE = 1 << 20


@dataclass(frozen=True)
class Batch:
    """One batch before it is read: its shape and dtype, and ``pieces(unit)``: its values in
    order, in pieces of a multiple of *unit* values each (a piece is only valid until the
    next one is asked for: a reader may reuse its buffer)."""

    shape: tuple[int, ...]
    dtype: torch.dtype
    pieces: Callable[[int], Iterator[torch.Tensor]]


def piece_spans(shape: Sequence[int], unit: int) -> Iterator[tuple[int, int]]:
    """``(first, count)`` in values of each piece: whole runs of dim 0 for a batch of two or
    more dimensions (each a multiple of its channels), runs of *unit* values for a 1-D one."""
    total = math.prod(shape)
    step = math.prod(shape[1:]) if len(shape) > 1 else max(1, unit)
    per = max(1, PIECE // step) * step
    for first in range(0, total, per):
        yield first, min(per, total - first)


def tensor_batch(tensor: torch.Tensor) -> Batch:
    """A batch already in memory (its pieces are views)."""

    def pieces(unit: int) -> Iterator[torch.Tensor]:
        flat = tensor.reshape(-1)
        for first, count in piece_spans(tuple(tensor.shape), unit):
            yield flat[first : first + count]

    return Batch(tuple(tensor.shape), tensor.dtype, pieces)


ACCEPTED_DTYPES = (torch.float32, torch.float16)


def dtype_error(dtype: torch.dtype, context: str) -> SampleDataError:
    hint = " (convert it with .float())" if dtype.is_floating_point else ""
    return SampleDataError(
        f"{context}dtype {str(dtype).removeprefix('torch.')} is not accepted: AMCT "
        f"calibrates float32 or float16 activations{hint}; save the K/V projection outputs "
        "as float32 or float16"
    )


def check_shape(shape: Sequence[int], context: str) -> None:
    """A batch is a layer's output ``[..., channels]`` with at least one value."""
    if len(shape) == 0:
        raise SampleDataError(
            f"{context}a single number (shape []): a batch is a layer's output, [..., channels]; "
            "save batch i under '<layer>/<i>', or all batches stacked under '<layer>' with the "
            "batches along dim 0 and the channels last"
        )
    if math.prod(shape) == 0:
        raise SampleDataError(
            f"{context}empty tensor (shape {list(shape)}): each batch needs at least one "
            "value per channel; re-capture it with a non-empty input"
        )


def nonfinite_counts(t: torch.Tensor) -> tuple[int, int]:
    """``(NaN, Inf)`` counts of *t*, cheaply when it has neither (one min/max pass)."""
    lo, hi = torch.aminmax(t)  # NaN propagates, Inf is an extreme: no full-size temporary
    if bool(torch.isfinite(lo)) and bool(torch.isfinite(hi)):
        return 0, 0
    bad = t[~torch.isfinite(t)]
    n_nan = int(torch.isnan(bad).sum())
    return n_nan, bad.numel() - n_nan


def nonfinite_error(context: str, n_nan: int, n_inf: int) -> SampleDataError:
    return SampleDataError(
        f"{context}{n_nan} NaN and {n_inf} Inf value(s): calibration needs "
        "finite activations; re-capture the batch (an fp16 overflow is a common cause)"
    )


def batches_of(tensors: Sequence[torch.Tensor]) -> list[Batch]:
    """In-memory batches (``calibrate_layer`` with tensors), each checked to be a tensor."""
    out = []
    for i, t in enumerate(tensors):
        if not isinstance(t, torch.Tensor):
            raise SampleDataError(f"batch {i}: expected a tensor, got {type(t).__name__}")
        out.append(tensor_batch(t))
    return out
