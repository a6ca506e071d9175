"""Sample data associated with a config: the ``# kvcal: data=PATH`` header and the layer
names a sample file holds (read from the safetensors header alone: no torch, fast).

A config names the file, so the file may be anything: it is opened only if it is a
regular file (never a FIFO, a device or ``/dev/stdin``: see :mod:`kvcal.grammar.files`),
at most 8 bytes and the header they announce (safetensors' own limit, 100 MB) are read,
and a message never shows the file's bytes, only what kind of file it is not.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

from kvcal.grammar.files import FileRefused, open_regular

# `# kvcal: data=relative/or/absolute.safetensors` among the leading comment lines.
_HEADER = re.compile(r"^[ \t]*#[ \t]*kvcal:(?P<rest>[^\n]*)", re.MULTILINE)
_DATA = re.compile(r"(?:^|[\s,;])data=(?P<path>\"[^\"]+\"|'[^']+'|\S+)")
_MAX_HEADER = 100 * 1024 * 1024


class SampleHeaderError(ValueError):
    """A sample file whose header cannot be read; the message names the file."""


def header_data_path(text: str) -> tuple[str, int, int] | None:
    """The ``data=`` value of the first ``# kvcal:`` comment before any field, with its span."""
    for m in _HEADER.finditer(text):
        before = text[: m.start()]
        if any(line.strip() and not line.strip().startswith("#") for line in before.splitlines()):
            return None  # only the file's leading comments count
        d = _DATA.search(m["rest"])
        if d:
            raw = d["path"]
            start = m.start("rest") + d.start("path")
            return raw.strip("\"'"), start, start + len(raw)
    return None


def safetensors_header(path: Path) -> tuple[dict[str, Any], int]:
    """A safetensors file's header (``key -> {dtype, shape, data_offsets}``, and
    ``__metadata__``) and the file offset its data starts at; SampleHeaderError otherwise."""
    try:
        with os.fdopen(open_regular(path), "rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise SampleHeaderError(f"{path}: not a readable safetensors file (too short)")
            (size,) = struct.unpack("<Q", raw)
            if size > _MAX_HEADER:
                if raw[:4] == b"PK\x03\x04" or raw[:1] == b"\x80":  # torch.save's zip, or a bare pickle
                    raise SampleHeaderError(
                        f"{path}: a torch .pt file, not safetensors: layer names are read from "
                        ".safetensors headers here (kvcal calibrate also reads .pt files); convert "
                        "it with safetensors.torch.save_file"
                    )
                # (the size is the file's first 8 bytes: not shown)
                raise SampleHeaderError(
                    f"{path}: not a readable safetensors file (its first 8 bytes announce no header)"
                )
            body = fh.read(size)
            if len(body) != size:
                raise SampleHeaderError(f"{path}: not a readable safetensors file (it ends inside its header)")
    except FileRefused as exc:
        raise SampleHeaderError(f"{path}: not read: it {exc.strerror}") from exc
    except OSError as exc:
        raise SampleHeaderError(f"{path}: cannot read sample data ({exc.strerror or exc})") from exc
    header = _header_json(path, body)
    return header, 8 + size


def _header_json(path: Path, body: bytes) -> dict[str, Any]:
    """The header's JSON object: a SampleHeaderError for anything else, naming where the JSON
    stops being valid, never its content (JSON's own messages do not quote the document;
    a UnicodeDecodeError's would show the bytes)."""
    try:
        header = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise SampleHeaderError(
            f"{path}: not a readable safetensors file (its header is not UTF-8 at byte {8 + exc.start})"
        ) from None
    except json.JSONDecodeError as exc:
        raise SampleHeaderError(
            f"{path}: not a readable safetensors file (bad header: {exc.msg} at byte {8 + exc.pos})"
        ) from None
    except RecursionError:
        raise SampleHeaderError(f"{path}: not a readable safetensors file (its header nests too deeply)") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise SampleHeaderError(
            f"{path}: not a readable safetensors file (its header holds an absurdly long number)"
        ) from None
    if not isinstance(header, dict):
        raise SampleHeaderError(f"{path}: not a readable safetensors file (header is not an object)")
    return header


def sample_layer_names(path: Path) -> list[str]:
    """Layer names in a safetensors sample file (keys ``<layer>/<i>`` or ``<layer>``)."""
    header, _ = safetensors_header(path)
    names: dict[str, None] = {}
    for key in header:
        if key == "__metadata__":
            continue
        layer, sep, index = key.rpartition("/")
        names[layer if sep and index.isdigit() else key] = None
    return list(names)
