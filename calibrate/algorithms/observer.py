"""The observer contract both algorithms implement, and the engine drives.

An observer is created for one layer's plan (its parameters, per_channel, with_offset),
is fed that layer's batches in order, then computes the factors::

    obs = IfmrObserver(params, per_channel=True, with_offset=True)   # or HfmgObserver
    for batch in batches:
        obs.observe(batch)            # any [..., channels] float32/float16 tensor
    factors = obs.compute()

``observe`` checks a batch and lays it out as ``[slices, values]`` float32 — one row per
channel (the last dimension) when per_channel — with :func:`~kvcal.calibrate.data.layout.lay_out`,
the one place batches are checked, then hands it to ``observe_laid_out``. The engine
(:mod:`kvcal.calibrate.runner`) lays a layer's batches out once itself, straight from the
sample file, and calls ``observe_laid_out`` with views of that matrix.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from kvcal.calibrate.data.batch import batches_of
from kvcal.calibrate.data.layout import lay_out
from kvcal.calibrate.errors import SampleDataError, where
from kvcal.calibrate.factors import Factors

Cancel = Callable[[], bool] | None


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; ``"cuda"`` without a GPU is an error."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SampleDataError("--device cuda: no CUDA GPU is available here; use --device cpu or auto")
    return dev


class Observer(ABC):
    """Observe one layer's batches, then compute its quantization factors."""

    def __init__(
        self, *, per_channel: bool, with_offset: bool, device: str | torch.device = "cpu", name: str | None = None
    ) -> None:
        self.per_channel = per_channel
        self.with_offset = with_offset
        self.device = resolve_device(device)
        self.name = name
        #: the sample file the batches come from, for messages (the engine sets it)
        self.source: str | None = None
        #: batches observed so far, and their slice count (channels, or 1)
        self.batches = 0
        self.slices: int | None = None

    @property
    def label(self) -> str:
        """``"file: layer 'x': "`` (what is known of it): the prefix of this layer's messages."""
        return where(self.source, self.name)

    def observe(self, batch: torch.Tensor) -> None:
        """One batch ``[..., channels]``: checked and laid out, then observed."""
        lay = lay_out(
            batches_of([batch]),
            per_channel=self.per_channel,
            device=self.device,
            source=self.source,
            layer=self.name,
            first_index=self.batches,
        )
        self.observe_laid_out(lay.matrix)

    def observe_laid_out(self, values: torch.Tensor) -> None:
        """One batch already checked and laid out as ``[slices, values]`` float32."""
        slices = values.shape[0]
        if self.slices is None:
            self.slices = slices
        elif slices != self.slices:
            raise SampleDataError(
                f"{where(self.source, self.name, self.batches)}has {slices} channels (last dimension) but the "
                f"first batch had {self.slices}: per_channel needs the same channel count in every batch; "
                "capture all batches from the same layer"
            )
        self._observe(values)
        self.batches += 1

    def compute(self, *, cancel: Cancel = None) -> Factors:
        """The factors of everything observed (SampleDataError when nothing was)."""
        if not self.batches:
            raise SampleDataError(f"{self.label}no batch was observed: call observe(batch) first")
        return self._compute(cancel)

    @abstractmethod
    def _observe(self, values: torch.Tensor) -> None:
        """Take one checked ``[slices, values]`` batch."""

    @abstractmethod
    def _compute(self, cancel: Cancel) -> Factors:
        """The factors of the observed batches (at least one)."""
