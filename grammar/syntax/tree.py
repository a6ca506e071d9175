"""The syntax tree of a text-format document: generic, schema-free, with exact spans.

Every node carries ``start``/``end`` character offsets into the parsed text. The parser
builds them bottom-up and nothing changes them afterwards (they are plain slotted
dataclasses, not frozen ones: a frozen dataclass's ``__init__`` costs four times as much,
and a 10,000-line file has a hundred thousand nodes). A ``Message`` whose closing bracket was
missing has ``close is None`` (the parser reported it); a ``Scalar`` standing in for a
missing value has ``kind == "missing"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

ScalarKind = Literal["string", "number", "identifier", "missing"]
NameKind = Literal["plain", "extension", "any"]


@dataclass(slots=True)
class Span:
    start: int
    end: int


@dataclass(slots=True)
class Name:
    """A field name: ``foo``, ``[pkg.ext]`` or ``[type.googleapis.com/pkg.Msg]``."""

    text: str
    kind: NameKind
    start: int
    end: int


@dataclass(slots=True)
class Scalar:
    """A scalar value as written.

    ``text`` is the source text (for strings: all adjacent parts with their quotes).
    ``negative`` is True for ``-5`` / ``-inf``; ``text`` then excludes the sign.
    For strings ``decoded`` holds the concatenated bytes after unescaping, or None when
    an escape was invalid (the parser reported it).
    """

    kind: ScalarKind
    text: str
    start: int
    end: int
    negative: bool = False
    decoded: bytes | None = None


@dataclass(slots=True)
class ListValue:
    items: tuple[Value, ...]
    start: int
    end: int


@dataclass(slots=True)
class Message:
    """``{ fields }`` or ``< fields >``; the document itself is a Message without brackets."""

    fields: tuple[Field, ...]
    start: int
    end: int
    open: Span | None = None
    close: Span | None = None

    def find(self, name: str) -> Iterator[Field]:
        """The fields with this (plain) name, in order."""
        return (f for f in self.fields if f.name.text == name)


@dataclass(slots=True)
class Field:
    name: Name
    value: Value
    start: int
    end: int
    colon: int | None = None
    separator: Span | None = None


Value = Scalar | Message | ListValue


@dataclass(slots=True)
class Comment:
    """``# text`` up to the end of its line; ``own_line`` when nothing precedes it there."""

    text: str
    start: int
    end: int
    own_line: bool


def child_fields(value: Value) -> Iterator[Field]:
    """The fields directly inside *value*: a message's, or those of a list's messages."""
    pending: list[Value] = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, Message):
            yield from node.fields
        elif isinstance(node, ListValue):
            pending.extend(reversed(node.items))


def walk_fields(message: Message) -> Iterator[tuple[Field, int]]:
    """Every field below *message* in document order, with its depth (0 = top level).

    Iterative, so arbitrarily deep nesting cannot exhaust Python's stack.
    """
    stack: list[tuple[Iterator[Field], int]] = [(iter(message.fields), 0)]
    while stack:
        fields, depth = stack[-1]
        field = next(fields, None)
        if field is None:
            stack.pop()
            continue
        yield field, depth
        if isinstance(field.value, (Message, ListValue)):
            stack.append((child_fields(field.value), depth + 1))
