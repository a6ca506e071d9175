"""Client settings (``workspace/configuration``, section ``kvcal``) and the sample data a
config is associated with: its ``# kvcal: data=PATH`` header, else ``kvcal.sampleData``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kvcal.grammar.association import SampleHeaderError, header_data_path, sample_layer_names

SECTION = "kvcal"


@dataclass(frozen=True)
class Settings:
    """``kvcal.sampleData``, ``kvcal.recordFile`` (paths; relative ones are relative to the
    workspace folder) and ``kvcal.inlayHints``."""

    sample_data: str | None = None
    record_file: str | None = None
    inlay_hints: bool = True


def parse_settings(raw: Any) -> Settings:
    """Settings from whatever the client sent; anything missing or malformed is the default."""
    if not isinstance(raw, dict):
        return Settings()

    def path(key: str) -> str | None:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    hints = raw.get("inlayHints")
    return Settings(path("sampleData"), path("recordFile"), hints if isinstance(hints, bool) else True)


@dataclass(frozen=True)
class SampleData:
    """The sample data of one config. ``layers`` is None when there is none or it cannot be
    read (``error`` says why); ``span`` is the header's path in the config text."""

    path: Path | None = None
    origin: Literal["header", "setting"] | None = None
    layers: tuple[str, ...] | None = None
    error: str | None = None
    span: tuple[int, int] | None = None


class SampleCache:
    """Layer names per sample file, re-read only when the file changes (size or mtime)."""

    def __init__(self) -> None:
        self._cache: dict[Path, tuple[tuple[int, int], tuple[str, ...]]] = {}

    def layers(self, path: Path) -> tuple[str, ...]:
        """Raises :class:`SampleHeaderError` when the file cannot be read as safetensors."""
        try:
            st = os.stat(path)
        except OSError as exc:
            raise SampleHeaderError(f"{path}: cannot read sample data ({exc.strerror or exc})") from exc
        key = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        names = tuple(sample_layer_names(path))
        self._cache[path] = (key, names)
        return names

    def resolve(self, text: str, config_path: Path | None, settings: Settings, root: Path | None) -> SampleData:
        found = header_data_path(text)
        if found is not None:
            path = Path(found[0]).expanduser()
            if not path.is_absolute():
                if config_path is None:
                    return SampleData(None, "header", None, "the config is not saved: a relative data= path needs a folder",
                                      (found[1], found[2]))  # fmt: skip
                path = config_path.parent / path
            return self._load(path, "header", (found[1], found[2]))
        if settings.sample_data:
            path = Path(settings.sample_data).expanduser()
            if not path.is_absolute():
                base = root or (config_path.parent if config_path else None)
                path = base / path if base else path
            return self._load(path, "setting", None)
        return SampleData()

    def _load(self, path: Path, origin: Literal["header", "setting"], span: tuple[int, int] | None) -> SampleData:
        try:
            return SampleData(path, origin, self.layers(path), None, span)
        except SampleHeaderError as exc:
            return SampleData(path, origin, None, str(exc), span)
