"""kvcal.calibrate: AMCT-exact IFMR and HFMG calibration of KV-cache activations.

    from kvcal.grammar import resolve
    from kvcal.calibrate import calibrate, write_record
    result = calibrate(resolve(text), "kv_samples.safetensors")
    write_record("record.txt", result.factors_by_layer())

Importing it imports torch and nothing else heavy (matplotlib only when a report is drawn).
"""

from __future__ import annotations

from kvcal.calibrate.algorithms.hfmg import HfmgObserver
from kvcal.calibrate.algorithms.ifmr import IfmrObserver
from kvcal.calibrate.data.record import read_record, write_record
from kvcal.calibrate.data.samples import SampleSource, open_samples
from kvcal.calibrate.errors import (
    CalibrationCancelled,
    CalibrationError,
    CaptureError,
    PlanError,
    RecordError,
    SampleDataError,
)
from kvcal.calibrate.factors import FLT_EPSILON, Factors
from kvcal.calibrate.model.capture import Capture, capture
from kvcal.calibrate.results.outcome import CalibrationResult, LayerResult
from kvcal.calibrate.results.quality import Metrics, QualityReport
from kvcal.calibrate.runner import calibrate, calibrate_layer

__all__ = [
    "FLT_EPSILON",
    "CalibrationCancelled",
    "CalibrationError",
    "CalibrationResult",
    "Capture",
    "CaptureError",
    "Factors",
    "HfmgObserver",
    "IfmrObserver",
    "LayerResult",
    "Metrics",
    "PlanError",
    "QualityReport",
    "RecordError",
    "SampleDataError",
    "SampleSource",
    "calibrate",
    "calibrate_layer",
    "capture",
    "open_samples",
    "read_record",
    "write_record",
]
