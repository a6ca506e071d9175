"""The calibration engine's exceptions: one base, each message says where and what to do.

Every message names the file, the layer and the batch where they apply, and ends with
what the user can do about it. Nothing is half-written when one is raised.
"""

from __future__ import annotations

from typing import Any

from kvcal.grammar.problems import quoted


class CalibrationError(Exception):
    """Base of every error the calibration engine raises on bad input or state."""


class SampleDataError(CalibrationError):
    """Sample activations that cannot be used: unreadable file, missing layer, too few
    batches, wrong dtype, NaN/Inf, empty tensors, channel count changing between batches."""


class RecordError(CalibrationError):
    """A record file that cannot be read (malformed text) or written (unwritable path)."""


class CaptureError(CalibrationError):
    """A layer name that is not an ``nn.Linear`` module of the model being captured."""


class PlanError(CalibrationError):
    """A layer plan the engine cannot run (a percentile that selects no element, say)."""


class CalibrationCancelled(CalibrationError):
    """Raised when the caller's ``cancel()`` returned True; nothing was written."""


def where(source: str | None = None, layer: str | None = None, batch: int | None = None) -> str:
    """``"file.safetensors: layer 'x', batch 2: "`` — the prefix of a located message."""
    parts = []
    if source:
        parts.append(str(source))
    loc = []
    if layer is not None:
        loc.append(f"layer {quoted(layer)}")
    if batch is not None:
        loc.append(f"batch {batch}")
    if loc:
        parts.append(", ".join(loc))
    return ": ".join(parts) + (": " if parts else "")


def first_bad(bad: Any, *, per_channel: bool) -> tuple[int, str] | None:
    """The first slice flagged in the boolean tensor *bad*, and how a message names it
    (``"channel 3: "`` per channel, nothing per tensor); None when none is flagged."""
    if not bool(bad.any()):
        return None
    i = int(bad.nonzero()[0, 0])
    return i, f"channel {i}: " if per_channel else ""
