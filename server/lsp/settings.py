"""Client settings (``workspace/configuration``, section ``kvcal``) and the sample data a
config is associated with: its ``# kvcal: data=PATH`` header, else ``kvcal.sampleData``."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kvcal.grammar.association import SampleHeaderError, header_data_path, sample_layer_names

SECTION = "kvcal"


@dataclass(frozen=True)
class SchemaRule:
    """One ``kvcal.schemas`` entry: documents matching ``glob`` are ``message`` of ``proto``."""

    glob: str
    proto: str | None
    message: str | None

    def matches(self, relative: str, absolute: str) -> bool:
        pattern = _glob_regex(self.glob)
        return bool(
            pattern.fullmatch(relative)
            or pattern.fullmatch(absolute)
            or ("/" not in self.glob and pattern.fullmatch(relative.rpartition("/")[2]))
        )


@functools.lru_cache(maxsize=256)
def _glob_regex(glob: str) -> re.Pattern[str]:
    """A glob as VS Code writes them: ``**`` any folders, ``*`` and ``?`` within one name,
    ``{a,b}`` alternatives."""
    out, i = [], 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "{" and "}" in glob[i:]:
            end = glob.index("}", i)
            out.append("(?:" + "|".join(re.escape(a) for a in glob[i + 1 : end].split(",")) + ")")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class Settings:
    """``kvcal.sampleData``, ``kvcal.recordFile`` (paths; relative ones are relative to the
    workspace folder), ``kvcal.inlayHints``, ``kvcal.schemas`` (glob -> ``{proto, message}``)
    and ``kvcal.protoPath`` (folders for header paths and imports)."""

    sample_data: str | None = None
    record_file: str | None = None
    inlay_hints: bool = True
    schemas: tuple[SchemaRule, ...] = ()
    proto_path: tuple[str, ...] = ()

    def schema_for(self, relative: str, absolute: str) -> SchemaRule | None:
        return next((r for r in self.schemas if r.matches(relative, absolute)), None)


def parse_settings(raw: Any) -> Settings:
    """Settings from whatever the client sent; anything missing or malformed is the default."""
    if not isinstance(raw, dict):
        return Settings()

    def path(key: str) -> str | None:
        value = raw.get(key)
        return value.strip() if isinstance(value, str) and value.strip() else None

    hints = raw.get("inlayHints")
    return Settings(
        path("sampleData"),
        path("recordFile"),
        hints if isinstance(hints, bool) else True,
        _schema_rules(raw.get("schemas")),
        _strings(raw.get("protoPath")),
    )


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(v.strip() for v in value if isinstance(v, str) and v.strip())


def _text(value: object) -> str | None:
    """A non-blank string setting, stripped; None for anything else."""
    return value.strip() or None if isinstance(value, str) else None


def _schema_rules(value: Any) -> tuple[SchemaRule, ...]:
    """``{"glob": {"proto": "x.proto", "message": "pkg.Msg"}}`` (or ``"glob": "pkg.Msg"`` for
    a bundled AMCT root); a list of ``{"files": glob, "proto": ..., "message": ...}`` too."""
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(v.get("files") or v.get("glob"), v) for v in value if isinstance(v, dict)]
    out = []
    for glob, spec in items:
        if not isinstance(glob, str) or not glob.strip():
            continue
        if isinstance(spec, str):
            spec = {"message": spec}
        if not isinstance(spec, dict):
            continue
        proto, message = _text(spec.get("proto")), _text(spec.get("message"))
        if proto or message:
            out.append(SchemaRule(glob.strip(), proto, message))
    return tuple(out)


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
                    return SampleData(
                        None,
                        "header",
                        None,
                        "the config is not saved: a relative data= path needs a folder",
                        (found[1], found[2]),
                    )
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
