"""Open documents: text and version as the client has them, kept in sync incrementally.

Edits arrive as LSP ranges (UTF-16 positions); :class:`LineIndex` turns them into
offsets, so the text the server analyses and the positions it answers with go through
the same conversion.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from lsprotocol import types

from kvcal.grammar.text import LineIndex

#: language ids editors give AMCT configs and text-format files (VS Code's, Neovim's filetype)
TEXTPROTO_LANGUAGES = frozenset(
    {"textproto", "pbtxt", "prototxt", "txtpb", "proto-text", "protobuf-text", "textpb", "proto_text"}
)
QUANT_LANGUAGES = TEXTPROTO_LANGUAGES | {"amct-quant-cfg", "amctquantcfg", "amct_quant_cfg", "quant.cfg"}
#: the text format's own extensions: such a file is text format whatever it holds
TEXTPROTO_NAME = re.compile(r".*\.(pbtxt|prototxt|textproto|txtpb|textpb)$", re.IGNORECASE)
#: file names that can be configs whatever language id the editor gives them
QUANT_NAME = re.compile(r".*\.(cfg|pbtxt|prototxt|textproto|txtpb|textpb)$", re.IGNORECASE)
#: the header lines that mark a file as text format (the text format spec's, kvcal's)
QUANT_HEADER = re.compile(r"(?:[ \t]*#[^\n]*\n)*?[ \t]*#\s*(proto-message:|proto-file:|kvcal:)")


def _name(uri: str) -> str:
    return PurePosixPath(unquote(urlsplit(uri).path)).name


def is_quant_config(item: types.TextDocumentItem) -> bool:
    """Whether a document the client opened is one kvcal serves (an AMCT config or any
    text-format file): by its language id, else by its name (``*.cfg`` and the text format's
    extensions) or a schema header among its first comment lines. A client that sends every
    file (Markdown, Python, untitled notes) gets no kvcal diagnostics on them."""
    if item.language_id.lower() in QUANT_LANGUAGES:
        return True
    return bool(QUANT_NAME.fullmatch(_name(item.uri)) or QUANT_HEADER.match(item.text[:2000].lstrip("\ufeff")))


def claimed_by_extension_only(uri: str, language_id: str) -> bool:
    """Whether kvcal serves *uri* only because of a generic extension (``setup.cfg``): then a
    file with no schema that is not text format at all gets no diagnostics."""
    return language_id.lower() not in TEXTPROTO_LANGUAGES and not TEXTPROTO_NAME.fullmatch(_name(uri))


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

    def __iter__(self) -> Iterator[Document]:
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
