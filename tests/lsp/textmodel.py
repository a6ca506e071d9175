"""The client's side of the text: LSP positions (UTF-16 columns; lines end at \\n, \\r\\n
or \\r) computed independently of the server's LineIndex, and edits applied the way an
editor applies them."""

from __future__ import annotations

from collections.abc import Iterable

from lsprotocol import types

_BREAKS = ("\r\n", "\n", "\r")


def line_starts(text: str) -> list[int]:
    starts = [0]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and text[i + 1 : i + 2] == "\n":
            i += 2
            starts.append(i)
        elif ch in "\r\n":
            i += 1
            starts.append(i)
        else:
            i += 1
    return starts


def _line_bounds(text: str, line: int) -> tuple[int, int]:
    starts = line_starts(text)
    if line >= len(starts):
        return len(text), len(text)
    start = starts[line]
    end = starts[line + 1] if line + 1 < len(starts) else len(text)
    for brk in _BREAKS:
        if line + 1 < len(starts) and text[:end].endswith(brk):
            end -= len(brk)
            break
    return start, end


def offset(text: str, pos: types.Position) -> int:
    start, end = _line_bounds(text, pos.line)
    units = 0
    for i in range(start, end):
        if units >= pos.character:
            return i
        units += 2 if ord(text[i]) > 0xFFFF else 1
    return end


def position(text: str, off: int) -> types.Position:
    starts = line_starts(text)
    line = max(i for i, s in enumerate(starts) if s <= off)
    col = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text[starts[line] : off])
    return types.Position(line=line, character=col)


def apply(text: str, edits: Iterable[types.TextEdit]) -> str:
    """Apply non-overlapping edits (all relative to *text*), as an editor does."""
    spans = sorted(
        ((offset(text, e.range.start), offset(text, e.range.end), e.new_text) for e in edits),
        key=lambda s: (s[0], s[1]),
        reverse=True,
    )
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def find(text: str, needle: str, nth: int = 0, delta: int = 0) -> types.Position:
    """The position of the *nth* occurrence of *needle*, plus *delta* characters."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    return position(text, at + delta)
