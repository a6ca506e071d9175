"""The effective per-layer config: what AMCT will actually run for one layer.

These frozen values are the interface between the config language (``resolve()``
builds them from a ``quant.cfg``) and the calibration engine (which runs them).
Floats are already converted the way AMCT converts them (spec §1.1/§3: the float32's
shortest decimal form, ``float(str(numpy.float32(v)))``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Algorithm = Literal["ifmr", "hfmg"]
Granularity = Literal["per_tensor", "per_channel"]

#: Where the symmetric/asymmetric choice of a layer came from (spec §1.1 precedence).
OffsetSource = Literal["override", "common", "activation_offset", "default"]
#: Where the layer's algorithm config came from.
ConfigSource = Literal["override", "common", "default"]

ALLOWED_NUM_OF_BINS: tuple[int, ...] = (1024, 2048, 4096, 8192)
#: Ascend's IFMR operator searches at most this many clip ratios (more: a warning).
MAX_IFMR_CANDIDATES = 4096
#: More ratios than this are an error: AMCT's search makes one full quantize pass over the
#: data per ratio (days for millions), Ascend's operator refuses them, and an engine would
#: need [channels x ratios] tensors of gigabytes; ``kvcal calibrate`` refuses them first.
MAX_SEARCH_CANDIDATES = 16 * MAX_IFMR_CANDIDATES


@dataclass(frozen=True)
class IfmrParams:
    """IFMR parameters (spec §3.2), AMCT defaults."""

    max_percentile: float = 0.999999
    min_percentile: float = 0.999999
    search_range_start: float = 0.7
    search_range_end: float = 1.3
    search_step: float = 0.01


@dataclass(frozen=True)
class HfmgParams:
    """HFMG parameters (spec §3.3), AMCT defaults."""

    num_of_bins: int = 4096


@dataclass(frozen=True)
class LayerPlan:
    """The effective calibration of one layer.

    ``with_offset`` is True for asymmetric quantization. ``offset_source`` and
    ``config_source`` say which setting decided it, for explanations and hover.
    Exactly one of ``ifmr`` / ``hfmg`` is set, matching ``algorithm``.
    """

    layer_name: str
    algorithm: Algorithm
    granularity: Granularity = "per_tensor"
    with_offset: bool = True
    batch_num: int = 1
    ifmr: IfmrParams | None = None
    hfmg: HfmgParams | None = None
    config_source: ConfigSource = "default"
    offset_source: OffsetSource = "default"
    #: offsets (start, end) of the layer's name in the config text, where it came from one
    name_span: tuple[int, int] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm == "ifmr" and self.ifmr is None:
            object.__setattr__(self, "ifmr", IfmrParams())
        if self.algorithm == "hfmg" and self.hfmg is None:
            object.__setattr__(self, "hfmg", HfmgParams())

    @property
    def per_channel(self) -> bool:
        return self.granularity == "per_channel"

    @property
    def params(self) -> IfmrParams | HfmgParams:
        """The algorithm's parameters (``ifmr`` or ``hfmg``)."""
        chosen = self.ifmr if self.algorithm == "ifmr" else self.hfmg
        if chosen is None:  # pragma: no cover - __post_init__ fills it
            raise ValueError(f"layer {self.layer_name}: no {self.algorithm} parameters")
        return chosen
