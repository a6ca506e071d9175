"""One version of a document with everything derived from it, computed once."""

from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path

from pygls.uris import to_fs_path

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.resolve import resolve_analysis
from kvcal.grammar.schema import compile as compiled
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.protos import schema_stamp
from kvcal.server.lsp.settings import SampleData, Settings


class Snapshot:
    """One version of a document with everything derived from it, computed once."""

    def __init__(
        self,
        uri: str,
        version: int | None,
        text: str,
        analysis: Analysis,
        samples: SampleData,
        settings: Settings,
        cost_s: float = 0.0,
    ) -> None:
        self.uri = uri
        self.version = version
        self.text = text
        self.index = LineIndex(text)
        self.analysis = analysis
        self.samples = samples
        self.settings = settings
        self.cost_s = cost_s
        #: the schema's files on disk when it was analysed: a changed .proto means a new analysis
        self.stamp = schema_stamp(analysis.resolution)
        self.made = time.monotonic()

    def retry_schema(self) -> bool:
        """The header's schema could not be used (a .proto missing or not compiling) and a
        while has passed: worth another analysis, since a file it imports may have been
        fixed, which no stamp shows."""
        resolution = self.analysis.resolution
        if resolution.header is None or resolution.schema is not None:
            return False
        if not any(p.code == "schema" and p.is_error for p in resolution.problems):
            return False
        return time.monotonic() - self.made > compiled.RETRY_FAILED_S

    @cached_property
    def plans(self) -> list[LayerPlan]:
        return resolve_analysis(self.analysis)

    @property
    def path(self) -> Path | None:
        return fs_path(self.uri)


def fs_path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None
