"""Quantization error of factors on the data they were computed from.

Fake quantization as the factors are used: ``q = clamp(round(x / scale) + offset, -128, 127)``,
``x' = (q - offset) * scale``, ``e = x' - x``. Reported (float64 accumulation):
``mse = mean(e²)``, ``sqnr_db = 10 log10(Σx² / Σe²)``, ``max_abs_err = max |e|``,
``clipped_fraction`` = share of values whose ``round(x / scale) + offset`` falls outside
[-128, 127]. Each layer gets them for its chosen factors, for plain min-max factors (the
baseline) and for the other algorithm with its default parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from kvcal.calibrate.factors import QMAX, QMIN, Factors, factors_from_range

CHUNK = 1 << 18


@dataclass(frozen=True)
class Metrics:
    """Error of one set of factors on one layer's data."""

    mse: float
    sqnr_db: float
    max_abs_err: float
    clipped_fraction: float

    def as_dict(self) -> dict[str, float]:
        return {
            "mse": self.mse,
            "sqnr_db": self.sqnr_db,
            "max_abs_err": self.max_abs_err,
            "clipped_fraction": self.clipped_fraction,
        }


@dataclass(frozen=True)
class QualityReport:
    """A layer's chosen factors beside the min-max baseline and the other algorithm."""

    chosen: Metrics
    minmax: Metrics
    other: Metrics
    other_algorithm: str
    minmax_factors: Factors
    #: None when the other algorithm could not run on this data (``other_error`` says why;
    #: its metrics are then NaN): the comparison is missing, the calibration is not
    other_factors: Factors | None
    other_error: str | None = None

    @property
    def mse(self) -> float:
        """The chosen factors' MSE (``chosen.mse``)."""
        return self.chosen.mse

    @property
    def sqnr_db(self) -> float:
        """The chosen factors' SQNR in dB (``chosen.sqnr_db``)."""
        return self.chosen.sqnr_db

    @property
    def max_abs_err(self) -> float:
        return self.chosen.max_abs_err

    @property
    def clipped_fraction(self) -> float:
        return self.chosen.clipped_fraction

    @property
    def vs_minmax_db(self) -> float:
        """SQNR gained over min-max factors (dB; positive is better)."""
        return self.chosen.sqnr_db - self.minmax.sqnr_db

    @property
    def vs_other_db(self) -> float:
        """SQNR gained over the other algorithm (dB; positive is better)."""
        return self.chosen.sqnr_db - self.other.sqnr_db


def measure(x: torch.Tensor, factors: Factors) -> Metrics:
    """Metrics of *factors* (one entry per row, or one for all) on *x* ``[rows, values]``."""
    rows, n = x.shape
    scale = factors.scale.to(x.device).reshape(-1, 1).expand(rows, 1)
    offset = factors.offset.to(x.device, torch.float32).reshape(-1, 1).expand(rows, 1)
    err2 = sig2 = 0.0
    worst = 0.0
    clipped = 0
    step = max(1, CHUNK // rows)
    for j0 in range(0, n, step):
        part = x[:, j0 : j0 + step]
        q = torch.round(part / scale) + offset
        clipped += int(((q < QMIN) | (q > QMAX)).sum())
        err = (q.clamp_(QMIN, QMAX) - offset) * scale - part
        err2 += float(err.to(torch.float64).square().sum())
        sig2 += float(part.to(torch.float64).square().sum())
        worst = max(worst, float(err.abs().max()))
    total = rows * n
    if err2 == 0.0:
        sqnr = math.inf
    elif sig2 == 0.0:
        sqnr = -math.inf
    else:
        sqnr = 10 * math.log10(sig2 / err2)
    return Metrics(err2 / total, sqnr, worst, clipped / total)


def minmax_factors(x: torch.Tensor, with_offset: bool) -> Factors:
    """The baseline: spec §3.1 on each row's plain minimum and maximum."""
    lo, hi = x.amin(dim=1), x.amax(dim=1)  # (aminmax over a dim is ~8x slower on CPU)
    return factors_from_range(lo, hi, with_offset)


_NO_METRICS = Metrics(math.nan, math.nan, math.nan, math.nan)


def quality_report(
    x: torch.Tensor,
    chosen: Factors,
    other: Factors | None,
    other_algorithm: str,
    with_offset: bool,
    *,
    other_error: str | None = None,
) -> QualityReport:
    baseline = minmax_factors(x, with_offset)
    return QualityReport(
        chosen=measure(x, chosen),
        minmax=measure(x, baseline),
        other=measure(x, other) if other is not None else _NO_METRICS,
        other_algorithm=other_algorithm,
        minmax_factors=baseline.cpu(),
        other_factors=other.cpu() if other is not None else None,
        other_error=other_error,
    )
