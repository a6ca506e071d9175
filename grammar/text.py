"""Positions in a text: the one owner of offset <-> (line, column) conversion.

Offsets are Python ``str`` indices (code points). Lines and columns are 0-based here;
``character`` columns come in two units: code points (the CLI shows them 1-based) and
UTF-16 code units (what LSP clients count by default).
"""

from __future__ import annotations

import re
from bisect import bisect_right

# LSP line breaks: \r\n, \n and a lone \r.
_BREAK = re.compile(r"\r\n?|\n")


class LineIndex:
    """Line starts of a text, for fast offset/position conversion."""

    __slots__ = ("_ends", "_starts", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        starts = [0]
        ends = []
        if "\r" in text:
            for m in _BREAK.finditer(text):
                ends.append(m.start())
                starts.append(m.end())
        else:
            find = text.find
            i = find("\n")
            while i != -1:
                ends.append(i)
                starts.append(i + 1)
                i = find("\n", i + 1)
        ends.append(len(text))
        self._starts = starts
        self._ends = ends

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_start(self, line: int) -> int:
        line = min(max(line, 0), len(self._starts) - 1)
        return self._starts[line]

    def line_end(self, line: int) -> int:
        """Offset of the end of *line*, before its line break."""
        line = min(max(line, 0), len(self._ends) - 1)
        return self._ends[line]

    def position(self, offset: int) -> tuple[int, int]:
        """(line, column in code points) of *offset*, both 0-based."""
        offset = min(max(offset, 0), len(self.text))
        line = bisect_right(self._starts, offset) - 1
        return line, offset - self._starts[line]

    def offset(self, line: int, column: int) -> int:
        """The offset of (line, code-point column), clamped to the line."""
        if line >= len(self._starts):
            return len(self.text)
        start = self.line_start(line)
        return min(start + max(column, 0), self.line_end(line))

    def utf16_position(self, offset: int) -> tuple[int, int]:
        """(line, column in UTF-16 code units) of *offset*."""
        line, column = self.position(offset)
        start = self._starts[line]
        segment = self.text[start : start + column]
        if segment.isascii():
            return line, column
        return line, column + sum(1 for ch in segment if ord(ch) > 0xFFFF)

    def offset_from_utf16(self, line: int, character: int) -> int:
        """The offset of an LSP position (UTF-16 column), clamped to the line."""
        if line >= len(self._starts):
            return len(self.text)
        start = self.line_start(line)
        end = self.line_end(line)
        segment = self.text[start:end]
        if segment.isascii():
            return start + min(max(character, 0), len(segment))
        units = 0
        for i, ch in enumerate(segment):
            if units >= character:
                return start + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return end
