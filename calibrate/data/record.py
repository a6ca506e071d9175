"""AMCT record files (spec §2): the text format of ``AMCTPytorchProto.ScaleOffsetRecord``.

Written the way AMCT writes them (``text_format.MessageToString(as_utf8=True)``), one
``record`` entry per layer with ``kv_cache_value { scale: … offset: … }``. Writing is
atomic (a temporary file beside the target, then ``os.replace``); updating an existing
file replaces the entries of the given layers in place, appends the others and keeps
every other entry (weight/activation records too) untouched. The record path must be
missing or a regular file: a symbolic link, FIFO, socket, device or folder there is
refused before anything is read or written (:mod:`kvcal.grammar.files`, docs/files.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from kvcal.calibrate.errors import RecordError
from kvcal.calibrate.factors import Factors
from kvcal.grammar import schema
from kvcal.grammar.files import FileRefused, check_output, read_regular, write_output
from kvcal.grammar.problems import quoted

LayerFactors = Factors | tuple[Sequence[float], Sequence[int]]
#: the largest record file read (thousands of per-channel layers fit in a few MB)
RECORD_LIMIT = 512 * 1024 * 1024


def _message() -> Any:
    return schema.message_class(schema.RECORD_MESSAGE)()


def _parse(path: Path) -> Any:
    try:
        text = read_regular(path, RECORD_LIMIT).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(
            f"{path}: not a text record file (invalid UTF-8 at byte {exc.start}); give an AMCT record .txt"
        ) from exc
    except FileRefused as exc:
        raise RecordError(f"{path}: cannot read the record file: it {exc.strerror}") from exc
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the record file ({exc.strerror or exc})") from exc
    msg = _message()
    try:
        text_format.Parse(text, msg)
    except text_format.ParseError as exc:
        line, col = exc.GetLine(), exc.GetColumn()
        at = f"{path}:{line}:{col}" if line else str(path)
        raise RecordError(
            f"{at}: malformed record file: {exc}; it must be the text format of "
            "AMCTPytorchProto.ScaleOffsetRecord (record { key: ... kv_cache_value { ... } })"
        ) from exc
    return msg


def read_record(path: str | os.PathLike[str]) -> dict[str, tuple[list[float], list[int]]]:
    """The KV-cache entries of a record file: ``{layer: (scales, offsets)}``."""
    p = Path(path)
    out: dict[str, tuple[list[float], list[int]]] = {}
    for entry in _parse(p).record:
        if not entry.HasField("kv_cache_value"):
            continue
        kv = entry.kv_cache_value
        if len(kv.scale) != len(kv.offset):
            raise RecordError(
                f"{p}: layer '{entry.key}' has {len(kv.scale)} scale(s) but {len(kv.offset)} "
                "offset(s); each scale needs its offset"
            )
        out[entry.key] = (list(kv.scale), list(kv.offset))
    return out


def _lists(value: LayerFactors) -> tuple[list[float], list[int]]:
    if isinstance(value, Factors):
        return value.to_lists()
    scales, offsets = value
    return [float(v) for v in scales], [int(v) for v in offsets]


def write_record(
    path: str | os.PathLike[str], factors_by_layer: Mapping[str, LayerFactors], *, update: bool = True
) -> list[str]:
    """Write *factors_by_layer* to the record file *path*, atomically.

    With ``update`` and an existing file, its other entries are kept and the given layers'
    entries replaced; the names of the replaced layers are returned (and warned about).
    """
    p = Path(path)
    try:
        exists = check_output(p)
    except FileRefused as exc:
        raise RecordError(f"{p}: not written: it {exc.strerror}") from exc
    except OSError as exc:
        raise RecordError(
            f"{p}: cannot write the record file ({exc.strerror or exc}); choose a writable path with --record"
        ) from exc
    msg = _parse(p) if update and exists else _message()
    # A file that repeats a layer's key: readers take the last entry, so that one is
    # replaced and the earlier KV-only copies of the layers written here are dropped.
    last = {e.key: i for i, e in enumerate(msg.record)}
    for i in reversed(range(len(msg.record))):
        e = msg.record[i]
        if e.key in factors_by_layer and last[e.key] != i and not e.HasField("value"):
            del msg.record[i]
    entries = {e.key: e for e in msg.record}
    overwritten = []
    for layer, value in factors_by_layer.items():
        scales, offsets = _lists(value)
        if len(scales) != len(offsets) or not scales:
            raise RecordError(f"{p}: layer {quoted(layer)}: {len(scales)} scale(s), {len(offsets)} offset(s)")
        entry = entries.get(layer)
        if entry is None:
            entry = msg.record.add()
            entry.key = layer
            entries[layer] = entry
        elif entry.HasField("kv_cache_value"):
            overwritten.append(layer)
        entry.kv_cache_value.Clear()
        entry.kv_cache_value.scale.extend(scales)
        entry.kv_cache_value.offset.extend(offsets)
    text = text_format.MessageToString(msg, as_utf8=True)
    _write_atomic(p, text)
    if overwritten:
        warnings.warn(
            f"{p}: replaced the record of {len(overwritten)} layer(s): {', '.join(overwritten)}",
            stacklevel=2,
        )
    return overwritten


def _write_atomic(path: Path, text: str) -> None:
    try:
        write_output(path, text, make_parents=True)
    except FileRefused as exc:
        raise RecordError(f"{path}: not written: it {exc.strerror}") from exc
    except OSError as exc:
        raise RecordError(
            f"{path}: cannot write the record file ({exc.strerror or exc}); choose a writable path with --record"
        ) from exc
