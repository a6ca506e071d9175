"""What every observer does with a batch before its algorithm sees it.

A batch is checked (:func:`kvcal.calibrate.data.samples.check_batch`), must keep the channel
count (size of its last dimension) of the first batch when per_channel, and is moved to
the observer's device. Per channel, slice ``c`` is ``batch[..., c]`` flattened and the
batches' slices are concatenated in order (AMCT's ``torch.chunk`` + ``torch.cat``).
"""

from __future__ import annotations

import torch

from kvcal.calibrate.data.samples import check_batch
from kvcal.calibrate.errors import SampleDataError, where


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; ``"cuda"`` without a GPU is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SampleDataError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    return dev


class BatchStore:
    """Checks batches, keeps them (IFMR) or hands them on (HFMG), lays them out once."""

    def __init__(self, *, per_channel: bool, device: str | torch.device = "cpu",
                 name: str | None = None) -> None:  # fmt: skip
        self.per_channel = per_channel
        self.device = resolve_device(device)
        self.name = name
        #: the sample file the batches come from, for messages (set by calibrate())
        self.source: str | None = None
        self.count = 0
        self.channels: int | None = None
        self._batches: list[torch.Tensor] = []

    def check(self, batch: torch.Tensor) -> torch.Tensor:
        """The batch as ``[values, slices]`` on the device (a view where possible)."""
        context = where(self.source, self.name, self.count)
        batch = check_batch(batch, context)
        channels = batch.shape[-1] if self.per_channel else 1
        if self.channels is None:
            self.channels = channels
        elif channels != self.channels:
            raise SampleDataError(
                f"{context}has {channels} channels (last dimension) but the first batch had "
                f"{self.channels}: per_channel needs the same channel count in every batch; "
                "capture all batches from the same layer"
            )
        self.count += 1
        return batch.to(self.device).reshape(-1, channels)

    @property
    def label(self) -> str:
        """``"file: layer 'x': "`` (what is known of it) — the prefix of this layer's messages."""
        return where(self.source, self.name)

    def add(self, batch: torch.Tensor) -> None:
        self._batches.append(self.check(batch))

    def matrix(self) -> torch.Tensor:
        """All kept values as one ``[slices, values]`` float32 tensor; the batches are let go."""
        if not self._batches:
            raise SampleDataError(
                f"{self.label}no batch was observed: call observe(batch) first"
            )
        if len(self._batches) == 1 and self._batches[0].dtype == torch.float32 and self.channels == 1:
            return self._batches.pop().reshape(1, -1)  # already laid out: no copy
        total = sum(b.shape[0] for b in self._batches)
        out = torch.empty(self.channels or 1, total, dtype=torch.float32, device=self.device)
        at = 0
        while self._batches:
            b = self._batches.pop(0)
            out[:, at : at + b.shape[0]].copy_(b.T)
            at += b.shape[0]
            del b
        return out
