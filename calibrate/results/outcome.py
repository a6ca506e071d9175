"""What a calibration gives: per layer its plan, factors, quality and a histogram summary;
for the run the layers in plan order, where and how long it ran. ``layer_row`` is the one
JSON row of a layer (``kvcal calibrate --json`` and the language server's result)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from kvcal.calibrate.factors import Factors
from kvcal.calibrate.results.quality import QualityReport
from kvcal.grammar.plan import LayerPlan


@dataclass(frozen=True)
class Histogram:
    """A small summary of a layer's values for pictures: counts over ``edges``."""

    counts: torch.Tensor
    edges: torch.Tensor
    slice_min: torch.Tensor
    slice_max: torch.Tensor


@dataclass(frozen=True)
class LayerResult:
    """One layer: its plan, the chosen factors, their quality beside the alternatives."""

    layer_name: str
    plan: LayerPlan
    factors: Factors
    quality: QualityReport
    histogram: Histogram
    values: int
    seconds: float


@dataclass(frozen=True)
class CalibrationResult:
    """Every layer's result, in plan order, and where and how long it ran."""

    layers: list[LayerResult]
    samples: str
    device: str
    seconds: float = 0.0

    def factors_by_layer(self) -> dict[str, Factors]:
        return {r.layer_name: r.factors for r in self.layers}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (the CLI's ``--json``, the language server's result)."""
        return {
            "samples": self.samples,
            "device": self.device,
            "seconds": self.seconds,
            "layers": [layer_row(r) for r in self.layers],
        }


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def clip_range(f: Factors) -> tuple[float, float]:
    return float(f.clip_min.min()), float(f.clip_max.max())


def layer_row(r: LayerResult) -> dict[str, Any]:
    """A layer's result as plain JSON values: ``kvcal calibrate --json`` and the language
    server's ``kvcal.calibrate`` result (docs/lsp.md) give the same row. Scales and offsets
    are lists (one per channel, or one); a metric that is not finite is null."""
    scales, offsets = r.factors.to_lists()
    q = r.quality
    lo, hi = clip_range(r.factors)
    return {
        "layer": r.layer_name,
        "algorithm": r.plan.algorithm,
        "granularity": r.plan.granularity,
        "symmetric": not r.plan.with_offset,
        "channels": len(scales),
        "scale": scales,
        "offset": offsets,
        "clip_min": _finite(lo),
        "clip_max": _finite(hi),
        "sqnr_db": _finite(q.chosen.sqnr_db),
        "mse": _finite(q.chosen.mse),
        "max_abs_error": _finite(q.chosen.max_abs_err),
        "clipped_fraction": _finite(q.chosen.clipped_fraction),
        "minmax_sqnr_db": _finite(q.minmax.sqnr_db),
        "vs_minmax_db": _finite(q.vs_minmax_db),
        "other_algorithm": q.other_algorithm,
        "other_sqnr_db": _finite(q.other.sqnr_db),
        "vs_other_db": _finite(q.vs_other_db),
        "other_error": q.other_error,
        "batches": r.plan.batch_num,
        "values": r.values,
        "seconds": round(r.seconds, 4),
    }
