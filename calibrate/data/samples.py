"""Sample activations: the data calibration runs on (DESIGN.md, "Sample data").

A ``.safetensors`` file (the default; read lazily, one tensor at a time) whose key
``<layer>/<i>`` holds batch ``i`` (0-based) of that layer's K/V projection output, any
shape ``[..., channels]``; a key ``<layer>`` alone holds a tensor whose dim 0 indexes
batches. float32 or float16. A ``.pt`` file is read only with
``torch.load(weights_only=True)`` (no pickle code runs) and must hold such a dict.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from kvcal.calibrate.data.batch import Batch, piece_spans, tensor_batch
from kvcal.calibrate.errors import SampleDataError, where
from kvcal.grammar.association import SampleHeaderError, safetensors_header
from kvcal.grammar.files import FileRefused, open_regular
from kvcal.grammar.problems import excerpt, quoted

_BATCH_KEY = re.compile(r"(?P<layer>.*)/(?P<index>\d+)\Z", re.DOTALL)  # (a name may hold any character)
#: safetensors' dtype names of the accepted dtypes (others are read to report them)
_DTYPES = {"F32": torch.float32, "F16": torch.float16}


class SampleSource:
    """Sample data opened from a file: layer names and their batches, loaded on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._tensors: Mapping[str, torch.Tensor] | None = None
        self._handle: Any = None
        self._meta: dict[str, tuple[str, list[int], int]] | None = None
        keys = self._open()
        self._batch_keys: dict[str, dict[int, str]] = {}
        self._stacked: dict[str, str] = {}
        for key in keys:
            m = _BATCH_KEY.match(key)
            if m:
                self._batch_keys.setdefault(m["layer"], {})[int(m["index"])] = key
            else:
                self._stacked[key] = key

    def _open(self) -> list[str]:
        if not self.path.exists():
            raise SampleDataError(f"{self.path}: no such sample file; give --data a .safetensors file")
        if self.path.is_dir():
            raise SampleDataError(f"{self.path}: is a directory; give --data a .safetensors file")
        try:  # a FIFO or a device (/dev/stdin, /dev/zero) is never opened: it would block or never end
            os.close(open_regular(self.path))
        except FileRefused as exc:
            raise SampleDataError(
                f"{self.path}: not read: it {exc.strerror}; give --data a .safetensors file"
            ) from None
        except OSError as exc:
            raise SampleDataError(f"{self.path}: cannot read sample data ({exc.strerror or exc})") from None
        if self.path.suffix in (".pt", ".pth", ".bin") and not _is_safetensors(self.path):
            return self._open_pt()
        self._index()  # our own bounded header read first: its messages never quote the file
        try:
            self._handle = safe_open(str(self.path), framework="pt", device="cpu")
            return list(self._handle.keys())
        except Exception as exc:  # safetensors raises its own error types
            reason = str(exc).split(":", 1)[0]  # (its details can quote the header's strings)
            raise SampleDataError(
                f"{self.path}: not a readable safetensors file ({reason}); write sample data with "
                "safetensors.torch.save_file or kvcal.calibrate.model.capture(...).save(path)"
            ) from None

    def _open_pt(self) -> list[str]:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as exc:
            # (torch's own message can quote the file's bytes: "invalid load key, 'x'": not shown)
            reason = "it is not a file torch.save wrote"
            if "weights_only" in str(exc) or "Unsupported global" in str(exc):
                reason = "it holds pickled objects besides tensors, which are never run here"
            raise SampleDataError(
                f"{self.path}: not loaded ({reason}): only plain dicts of tensors are read from "
                ".pt files, with torch.load(weights_only=True); save the sample data with "
                "safetensors.torch.save_file instead"
            ) from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()
        ):
            raise SampleDataError(
                f"{self.path}: a .pt sample file must hold a dict of tensors keyed "
                f"'<layer>/<batch>' (got {type(data).__name__})"
            )
        self._tensors = data
        return list(data)

    def close(self) -> None:
        self._handle = None
        self._tensors = None

    def __enter__(self) -> SampleSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def layers(self) -> list[str]:
        """Layer names, in file order."""
        return list(dict.fromkeys([*self._batch_keys, *self._stacked]))

    def __contains__(self, layer: object) -> bool:
        return layer in self._batch_keys or layer in self._stacked

    def _get(self, key: str) -> torch.Tensor:
        if self._tensors is not None:
            return self._tensors[key]
        try:
            tensor: torch.Tensor = self._handle.get_tensor(key)  # (safetensors is untyped)
            return tensor
        except Exception as exc:
            raise SampleDataError(
                f"{self.path}: cannot read tensor '{key}' ({exc}); the file may be truncated: write it again"
            ) from exc

    def batch_count(self, layer: str) -> int:
        """How many batches the file holds for *layer* (contiguous from 0)."""
        self.require([layer])
        if layer in self._batch_keys:
            indices = self._batch_keys[layer]
            n = 0
            while n in indices:
                n += 1
            return n
        return self._stacked_tensor_len(layer)

    def _stacked_tensor_len(self, layer: str) -> int:
        if self._tensors is not None:
            shape = list(self._tensors[layer].shape)
        else:
            shape = list(self._handle.get_slice(layer).get_shape())
        return shape[0] if shape else 0

    def require(self, layers: Iterable[str]) -> None:
        """Raise one SampleDataError naming every layer of *layers* the file lacks."""
        missing = [name for name in layers if name not in self]
        if not missing:
            return
        have = self.layers
        hints = []
        for name in missing:
            close = get_close_matches(name, have, n=2)
            hints.append(quoted(name) + (f" (did you mean {' or '.join(quoted(c) for c in close)}?)" if close else ""))
        listing = ", ".join(excerpt(n) for n in have[:12]) + (f", … ({len(have)} in all)" if len(have) > 12 else "")
        raise SampleDataError(
            f"{self.path}: layer(s) {', '.join(hints)} not in the sample data; the file holds: "
            f"{listing or 'no layers'}. Capture those layers' outputs or fix their names in the config"
        )

    def check_count(self, layer: str, batch_num: int) -> None:
        """Raise if *layer* has fewer than *batch_num* batches."""
        self.require([layer])
        available = self.batch_count(layer)
        if available < batch_num:
            present = sorted(self._batch_keys.get(layer, {}))
            gap = ""
            if present and present[-1] >= available:
                gap = f" (batch {available} is missing; the file has {present})"
            raise SampleDataError(
                f"{where(str(self.path), layer)}batch_num is {batch_num} but the sample data "
                f"holds {available} batch(es){gap}: AMCT would write no record. Capture more "
                "forward passes or lower batch_num"
            )

    def batch(self, layer: str, i: int) -> Batch:
        """Batch *i* of *layer* before it is read: shape, dtype and its pieces (runs of the
        batch's first dimension, a few MB each). From a safetensors file the pieces are read
        with plain reads into one reused buffer: the file is never mapped, so a layer's
        values are in memory once, in the engine's layout."""
        if self._tensors is not None:
            tensors = self._tensors
            return tensor_batch(tensors[self._batch_keys[layer][i]] if layer in self._batch_keys else tensors[layer][i])
        stacked = layer not in self._batch_keys
        key = layer if stacked else self._batch_keys[layer][i]
        meta = self._index().get(key)
        dtype = _DTYPES.get(meta[0]) if meta else None
        if meta is None or dtype is None:  # read it whole (its error names the dtype)
            return tensor_batch(self._get(key)[i] if stacked else self._get(key))
        shape = meta[1][1:] if stacked else meta[1]
        begin = meta[2] + (i * math.prod(shape) * dtype.itemsize if stacked else 0)
        return Batch(
            tuple(shape),
            dtype,
            lambda unit: self._read_pieces(begin, shape, dtype, where(str(self.path), layer, i), unit),
        )

    def _index(self) -> dict[str, tuple[str, list[int], int]]:
        """``key -> (dtype, shape, file offset of the data)`` from the safetensors header."""
        if self._meta is None:
            try:
                header, data = safetensors_header(self.path)
            except SampleHeaderError as exc:
                raise SampleDataError(f"{exc}; write sample data with safetensors.torch.save_file") from None
            meta = {}
            for k, v in header.items():
                if k == "__metadata__":
                    continue
                try:
                    dtype, shape, begin = v["dtype"], [int(n) for n in v["shape"]], data + int(v["data_offsets"][0])
                    if not isinstance(dtype, str) or min(shape, default=0) < 0:
                        raise ValueError
                except (KeyError, TypeError, ValueError, IndexError):
                    raise SampleDataError(
                        f"{self.path}: not a readable safetensors file (the header's entry for "
                        f"{quoted(k)} is malformed)"
                    ) from None
                meta[k] = (dtype, shape, begin)
            self._meta = meta
        return self._meta

    def _read_pieces(
        self, begin: int, shape: Sequence[int], dtype: torch.dtype, context: str, unit: int
    ) -> Iterator[torch.Tensor]:
        item = dtype.itemsize
        spans = list(piece_spans(shape, unit))
        buffer = torch.empty(max(count for _, count in spans), dtype=dtype)
        raw = buffer.view(torch.uint8).numpy()
        with open(self.path, "rb") as fh:
            fh.seek(begin)
            for _, count in spans:
                got = fh.readinto(memoryview(raw.data)[: count * item])
                if got != count * item:
                    raise SampleDataError(
                        f"{context}the file ends inside this batch ({self.path} is truncated): write it again"
                    )
                yield buffer[:count]


def _is_safetensors(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
    except OSError:
        return False
    return len(head) == 9 and head[8:9] == b"{"


def open_samples(samples: str | os.PathLike[str] | SampleSource) -> SampleSource:
    """A :class:`SampleSource` for a path, or *samples* itself when already opened."""
    return samples if isinstance(samples, SampleSource) else SampleSource(samples)
