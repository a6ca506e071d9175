"""Open documents: text and version as the client has them, kept in sync incrementally.

Edits arrive as LSP ranges (UTF-16 positions); :class:`LineIndex` turns them into
offsets, so the text the server analyses and the positions it answers with go through
the same conversion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from lsprotocol import types

from kvcal.grammar.text import LineIndex

#: language ids editors give quant configs (VS Code's, Neovim's filetype, text format ones)
QUANT_LANGUAGES = frozenset({"amct-quant-cfg", "amctquantcfg", "amct_quant_cfg", "quant.cfg", "textproto",
                             "pbtxt", "prototxt", "txtpb", "proto-text", "protobuf-text"})  # fmt: skip
#: file names that can be quant configs whatever language id the editor gives them
QUANT_NAME = re.compile(r".*\.(cfg|pbtxt|prototxt|textproto|txtpb)$", re.IGNORECASE)
#: the first-line headers that mark a file as a quant config (the VS Code extension's too)
QUANT_HEADER = re.compile(r"#\s*(proto-message:\s*(AMCTPytorchQuantCaliProto\.)?AMCTQuantCaliConfig\b"
                          r"|proto-file:.*quant_calibration_config|kvcal:)")  # fmt: skip


def is_quant_config(item: types.TextDocumentItem) -> bool:
    """Whether a document the client opened is an AMCT quant config: by its language id,
    else by its name (``*.cfg`` and the text format's extensions) or first-line header. A
    client that sends every file (Markdown, Python, untitled notes) gets no kvcal
    diagnostics on them."""
    if item.language_id.lower() in QUANT_LANGUAGES:
        return True
    name = PurePosixPath(unquote(urlsplit(item.uri).path)).name
    return bool(QUANT_NAME.fullmatch(name) or QUANT_HEADER.match(item.text[:200].lstrip("\ufeff")))


@dataclass
class Document:
    uri: str
    text: str
    version: int | None
    language_id: str = ""
    _index: LineIndex | None = field(default=None, repr=False)

    @property
    def index(self) -> LineIndex:
        if self._index is None or self._index.text is not self.text:
            self._index = LineIndex(self.text)
        return self._index

    def apply(self, change: types.TextDocumentContentChangeEvent) -> None:
        """Apply one change: a range edit, or the whole text when the change has no range."""
        if isinstance(change, types.TextDocumentContentChangePartial):
            index = self.index
            start = index.offset_from_utf16(change.range.start.line, change.range.start.character)
            end = index.offset_from_utf16(change.range.end.line, change.range.end.character)
            if end < start:
                start, end = end, start
            self.text = self.text[:start] + change.text + self.text[end:]
        else:
            self.text = change.text


class Documents:
    """The documents the client has open, by URI."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def __iter__(self):
        return iter(list(self._docs.values()))

    def __contains__(self, uri: object) -> bool:
        return uri in self._docs

    def open(self, item: types.TextDocumentItem) -> Document | None:
        """Keep *item*, unless it is not a quant config (then the server ignores it)."""
        if not is_quant_config(item):
            self._docs.pop(item.uri, None)
            return None
        doc = Document(item.uri, item.text, item.version, item.language_id)
        self._docs[item.uri] = doc
        return doc

    def change(self, params: types.DidChangeTextDocumentParams) -> Document | None:
        doc = self._docs.get(params.text_document.uri)
        if doc is None:
            return None
        for change in params.content_changes:
            doc.apply(change)
        doc.version = params.text_document.version
        return doc

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)
