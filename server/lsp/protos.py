"""The .proto files of the workspace (offered when a document has no schema) and the stamp
of a document's schema files (a changed .proto means the document is analysed again)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kvcal.grammar.schema.resolution import Resolution

__all__ = ["ProtoFinder", "schema_stamp"]

#: folders never searched for .proto files
_SKIP = frozenset({".git", "node_modules", ".venv", "venv", "__pycache__", "build", "dist", ".tox", ".mypy_cache"})


class ProtoFinder:
    """``*.proto`` files under the workspace folders: a bounded walk, kept for ``ttl_s``."""

    def __init__(self, ttl_s: float = 30.0, limit: int = 200, max_dirs: int = 2000) -> None:
        self.ttl_s, self.limit, self.max_dirs = ttl_s, limit, max_dirs
        self._cache: dict[tuple[Path, ...], tuple[float, list[Path]]] = {}

    def forget(self) -> None:
        """A .proto was created or deleted: walk again on the next :meth:`find`."""
        self._cache.clear()

    def find(self, folders: tuple[Path, ...]) -> list[Path]:
        now = time.monotonic()
        cached = self._cache.get(folders)
        if cached is not None and now - cached[0] < self.ttl_s:
            return cached[1]
        found: list[Path] = []
        seen_dirs = 0
        for folder in folders:
            for dirpath, dirnames, filenames in os.walk(folder):
                seen_dirs += 1
                dirnames[:] = sorted(d for d in dirnames if d not in _SKIP and not d.startswith("."))
                found += [Path(dirpath) / f for f in sorted(filenames) if f.endswith(".proto")]
                if len(found) >= self.limit or seen_dirs >= self.max_dirs:
                    break
        self._cache[folders] = (now, found[: self.limit])
        return self._cache[folders][1]


def schema_stamp(resolution: Resolution) -> tuple[tuple[str, int, int], ...]:
    """Size and mtime of every file the document's schema came from (none: bundled)."""
    paths: set[Path] = set(resolution.protos)
    schema = resolution.schema
    if schema is not None and schema.proto is not None:
        paths.update(p for p in schema.set.sources.values() if p is not None)
    out = []
    for path in sorted(paths):
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), -1, -1))
    return tuple(out)
