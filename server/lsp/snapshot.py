"""One version of a document with everything derived from it, computed once."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pygls.uris import to_fs_path

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.resolve import resolve_analysis
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

    @cached_property
    def plans(self) -> list[LayerPlan]:
        return resolve_analysis(self.analysis)

    @property
    def path(self) -> Path | None:
        return fs_path(self.uri)


def fs_path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None
