"""LineIndex: offsets <-> (line, column), code points and UTF-16, every LSP line break."""

from __future__ import annotations

import pytest

from kvcal.grammar.text import LineIndex


@pytest.mark.parametrize("text", ["a\nb\nc", "a\r\nb\r\nc", "a\rb\rc", "a\r\nb\rc"])
def test_every_line_break_kind(text: str) -> None:
    index = LineIndex(text)
    assert index.line_count == 3
    c = text.index("c")
    assert index.position(c) == (2, 0)
    assert index.utf16_position(c) == (2, 0)
    assert index.offset_from_utf16(2, 0) == c
    assert text[index.line_start(1) : index.line_end(1)] == "b"


def test_lone_cr_is_a_line_break() -> None:
    assert LineIndex("a\rb").utf16_position(2) == (1, 0)
    assert LineIndex("a\rb").utf16_position(3) == (1, 1)


def test_utf16_columns_count_astral_characters_twice() -> None:
    text = "x: '😀é' # c\ny"
    index = LineIndex(text)
    hash_at = text.index("#")
    assert index.position(hash_at) == (0, 8)
    assert index.utf16_position(hash_at) == (0, 9)
    assert index.offset_from_utf16(0, 9) == hash_at
    assert index.offset_from_utf16(0, 999) == text.index("\n")  # clamped to the line
    assert index.offset_from_utf16(5, 0) == len(text)


def test_round_trip_over_every_offset() -> None:
    text = "ab\r\n😀c\rd\n\ne"
    index = LineIndex(text)
    for offset in range(len(text) + 1):
        if text[offset - 1 : offset + 1] == "\r\n":
            continue  # between \r and \n is not a position
        line, col = index.utf16_position(offset)
        assert index.offset_from_utf16(line, col) == offset, offset
