"""Open documents: text and version as the client has them, kept in sync incrementally.

Edits arrive as LSP ranges (UTF-16 positions); :class:`LineIndex` turns them into
offsets, so the text the server analyses and the positions it answers with go through
the same conversion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lsprotocol import types

from kvcal.grammar.text import LineIndex


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

    def open(self, item: types.TextDocumentItem) -> Document:
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
