"""The generic text-format parser: the whole spec, exact spans, recovery, never raising."""

from __future__ import annotations

import pytest

from kvcal.grammar import parse, parse_bytes
from kvcal.grammar.schema import kv_schema
from kvcal.grammar.syntax.literals import parse_number, unescape
from kvcal.grammar.syntax.tree import ListValue, Message, Scalar, walk_fields

KV = kv_schema()


def only(text: str):
    result = parse(text)
    assert not result.problems, result.problems
    return result.tree


@pytest.mark.parametrize(
    ("text", "kind", "negative"),
    [
        ("5", "number", False),
        ("-5", "number", True),
        ("0x1F", "number", False),
        ("017", "number", False),
        (".5", "number", False),
        ("1.", "number", False),
        ("1e5", "number", False),
        ("1.5f", "number", False),
        ("1E-3F", "number", False),
        ("inf", "identifier", False),
        ("-inf", "identifier", True),
        ("NaN", "identifier", False),
        ("per_channel", "identifier", False),
        ("'s'", "string", False),
    ],
)
def test_scalar_forms(text: str, kind: str, negative: bool) -> None:
    tree = only(f"f: {text}")
    value = tree.fields[0].value
    assert isinstance(value, Scalar)
    assert (value.kind, value.negative) == (kind, negative)
    assert (value.start, value.end) == (3, 3 + len(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("17", 17),
        ("0x1f", 31),
        ("017", 15),
        ("1.5", 1.5),
        (".5", 0.5),
        ("1.", 1.0),
        ("2f", 2.0),
        ("1e3", 1000.0),
        ("1E-3f", 0.001),
    ],
)
def test_numbers_decode(text: str, value: float) -> None:
    assert parse_number(text).value == value


def test_every_escape() -> None:
    tree = only(r"""s: "\n\t\r\a\b\f\v\\\'\"\?\101\x41\x4\u00e9\U0001F600" 'x' "y" """)
    value = tree.fields[0].value
    assert value.decoded == b"\n\t\r\a\b\f\v\\'\"?AA\x04" + "é😀".encode() + b"xy"


def test_adjacent_strings_concatenate_across_lines() -> None:
    tree = only("s: 'a'\n   \"b\" # comment\n 'c'\nt: 1")
    assert tree.fields[0].value.decoded == b"abc"
    assert [f.name.text for f in tree.fields] == ["s", "t"]


def test_messages_lists_extensions_and_separators() -> None:
    tree = only(
        "a { b: 1, c < d: 'x'; > }; l: [1, -2, inf] m [{x: 1}, <y: 2>] [p.ext]: 1 [type.googleapis.com/p.M] { } e: []"
    )
    names = [f.name.text for f in tree.fields]
    assert names == ["a", "l", "m", "[p.ext]", "[type.googleapis.com/p.M]", "e"]
    assert isinstance(tree.fields[0].value, Message)
    assert isinstance(tree.fields[1].value, ListValue) and len(tree.fields[1].value.items) == 3
    assert [f.name.text for f, _ in walk_fields(tree)][:4] == ["a", "b", "c", "d"]


def test_comments_are_kept_with_spans() -> None:
    text = "# head\na: 1  # tail\n  # own\n"
    result = parse(text)
    assert [(c.text, c.own_line) for c in result.comments] == [("# head", True), ("# tail", False), ("# own", True)]
    assert text[result.comments[1].start : result.comments[1].end] == "# tail"


@pytest.mark.parametrize(
    ("text", "bad", "message_part", "rest"),
    [
        ("a 5\nb: 1\n", " ", "expected ':'", ["a", "b"]),
        ("a:\nb: 1\n", "a", "has no value", ["a", "b"]),
        ("a { b: 1\nc: 2\n", "{", "never closed", ["a"]),
        ("a: 1 }\nb: 2\n", "}", "unmatched", ["a", "b"]),
        ("a { b: 1 >\nc: 2\n", ">", "does not close", ["a", "c"]),
        ("a: 'abc\nb: 2\n", "'abc", "unterminated", ["a", "b"]),
        ("a: 1 @@@\nb: 2\n", "@@@", "unexpected character", ["a", "b"]),
        ("a: 1\n\x00\x01b: 2\n", "\x00\x01", "unexpected character", ["a", "b"]),
        ("a: 1abc\nb: 2\n", "1abc", "not a number", ["a", "b"]),
        ("a: - 1\nb: 2\n", "- ", "right before", ["a", "b"]),
        ("a: {\n", "{", "never closed", ["a"]),
        ("a: 1 : 2\nb: 3\n", ":", "unexpected", ["a", "b"]),
    ],
)
def test_one_mistake_one_diagnostic_and_the_rest_parses(
    text: str, bad: str, message_part: str, rest: list[str]
) -> None:
    result = parse(text)
    assert len(result.problems) == 1, result.problems
    p = result.problems[0]
    assert p.code == "syntax" and p.severity == "error"
    assert message_part in p.message
    assert text[p.start : p.end] == bad
    assert [f.name.text for f in result.tree.fields] == rest


def test_an_unknown_escape_is_kept_as_written_with_a_warning() -> None:
    # protobuf's Python parser (AMCT's) keeps '\\q' as the two characters; C++ refuses it
    result = parse('a: "x\\qy"\nb: 2\n')
    (p,) = result.problems
    assert (p.code, p.severity) == ("syntax", "warning") and "\\q" in p.message
    assert result.tree.fields[0].value.decoded == b"x\\qy"
    assert [f.name.text for f in result.tree.fields] == ["a", "b"]


def test_invalid_utf8_is_a_diagnostic() -> None:
    result = parse_bytes(b"a: 'x\xff\xfey'\nb: 1\n")
    assert [p.message for p in result.problems if "UTF-8" in p.message]
    assert [f.name.text for f in result.tree.fields] == ["a", "b"]


def test_deep_nesting_does_not_crash() -> None:
    depth = 20_000
    result = parse("a {" * depth + "}" * depth)
    assert not result.problems
    unclosed = parse("a {" * depth)
    assert 1 <= len(unclosed.problems) <= 6  # a few named, the rest summarised


def test_escape_helper_rejects_bad_code_points() -> None:
    with pytest.raises(ValueError):
        unescape(r"\400")
    with pytest.raises(ValueError):
        unescape(r"\uD800")


def test_a_byte_order_mark_is_named() -> None:
    from kvcal.grammar.syntax.parser import parse_bytes

    (p,) = [p for p in parse_bytes(b"\xef\xbb\xbfbatch_num: 1\n").problems]
    assert p.code == "syntax" and (p.start, p.end) == (0, 1) and "byte order mark" in p.message
    assert p.data == {"delete": [0, 1]}


def test_a_binary_file_is_one_diagnostic() -> None:
    from kvcal.grammar import analyze
    from kvcal.grammar.syntax.parser import parse_bytes

    data = bytes(range(256)) * 4000  # a megabyte of everything, NUL first
    result = analyze(parse_bytes(data), schema=KV)
    (p,) = result.problems
    assert "binary file" in p.message and "offset 0" in p.message


def test_a_long_string_costs_little_memory() -> None:
    import tracemalloc

    text = "quant_layers: '" + "a" * 2_000_000 + "'\n"
    tracemalloc.start()
    try:
        (field,) = parse(text).tree.fields
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(field.value.decoded) == 2_000_000
    assert peak < 40 * len(text)  # was ~280 bytes a character (the regex's backtracking frames)
