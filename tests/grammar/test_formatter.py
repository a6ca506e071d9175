"""Formatting keeps every value and every comment, and is idempotent."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from kvcal.grammar import parse
from kvcal.grammar.formatter import FormatError, format_text
from kvcal.grammar.syntax.tree import ListValue, Message, Scalar
from tests.grammar.test_differential import config

ROOT = Path(__file__).resolve().parents[2]
FILES = [*sorted((ROOT / "examples").glob("*.cfg")), *sorted((ROOT / "tests/data/check").glob("*.cfg"))]


def values(node, text: str):
    """The document's content, independent of layout: names, value texts and nesting."""
    if isinstance(node, Message):
        return [(f.name.text, values(f.value, text)) for f in node.fields]
    if isinstance(node, ListValue):
        return ["list", *[values(v, text) for v in node.items]]
    assert isinstance(node, Scalar)
    return (node.kind, node.negative, node.text if node.kind != "string" else node.decoded)


def check_roundtrip(text: str) -> None:
    before = parse(text)
    out = format_text(text)
    after = parse(out)
    assert not after.problems or [p.code for p in after.problems] == [p.code for p in before.problems]
    assert values(after.tree, out) == values(before.tree, text)
    assert [c.text.rstrip() for c in after.comments] == [c.text.rstrip() for c in before.comments]
    assert format_text(out) == out


@pytest.mark.parametrize("path", [p for p in FILES if p.stem not in ("syntax", "unclosed")], ids=lambda p: p.stem)
def test_fixtures_roundtrip(path: Path) -> None:
    check_roundtrip(path.read_text(encoding="utf-8"))


@settings(max_examples=200, deadline=None)
@given(config())
def test_generated_configs_roundtrip(text: str) -> None:
    if any(p.code == "syntax" for p in parse(text).problems):
        with pytest.raises(FormatError):
            format_text(text)
        return
    check_roundtrip(text)


def test_canonical_layout() -> None:
    src = "batch_num:2;kv_cache_quant_config <quant_layers: ['a', \"b\"] # q\n calibration_config: {hfmg_quantize{}}>"
    assert format_text(src) == (
        "batch_num: 2\n"
        "kv_cache_quant_config {\n"
        "  quant_layers: ['a', \"b\"]  # q\n"
        "  calibration_config {\n"
        "    hfmg_quantize {}\n"
        "  }\n"
        "}\n"
    )


@pytest.mark.parametrize(
    ("src", "want"),
    [
        # adjacent strings over lines: one line each, their comments kept once (idempotent)
        (
            'quant_layers: "model." # part one\n  "layers.0"  # part two\n',
            'quant_layers: "model."  # part one\n    "layers.0"  # part two\n',
        ),
        ('x: "a" "b"\n   "c" # c1\n  # own\n "d"\ny: 1\n', 'x: "a" "b"\n    "c"  # c1\n    # own\n    "d"\ny: 1\n'),
        # comments among a list's items: one item per line, each comment where it was
        (
            'k {\n q: ["a", # after a\n # own line\n "b" # after b\n ] # after list\n}\n',
            'k {\n  q: [\n    "a",  # after a\n    # own line\n    "b"  # after b\n  ]  # after list\n}\n',
        ),
        # a comment between a field's name and its value ends the field's line; no blank line appears
        ("batch_num: # c\n 2\nactivation_offset: true\n", "batch_num: 2  # c\nactivation_offset: true\n"),
        ('k # c\n{\n q: "a"\n}\nbatch_num: 1\n', 'k {  # c\n  q: "a"\n}\nbatch_num: 1\n'),
        # an empty block with a comment inside stays open
        ("c { # nothing yet\n}\n", "c {  # nothing yet\n}\n"),
        # the file's CRLF line breaks are kept
        ('batch_num:2\r\nk {\r\n  q: "a"  # x\r\n}\r\n', 'batch_num: 2\r\nk {\r\n  q: "a"  # x\r\n}\r\n'),
    ],
)
def test_layout_around_comments(src: str, want: str) -> None:
    assert format_text(src) == want
    check_roundtrip(src)


def test_syntax_errors_are_refused_with_the_location() -> None:
    with pytest.raises(FormatError, match="line 2, column 1"):
        format_text("a: 1\n}\n")


# -- a comment in every gap between tokens, for every kind of value --------------------------
GAP_SNIPPETS = [
    's: "A"\n"B"',
    's: "A" "B"',
    "n: -1",
    "l: [1, 2]",
    "l: [{ a: 1 }, { a: 2 }]",
    "m { a: 1 }",
    "m: < a: 1 >",
    "[pkg.ext]: 1",
    "[type.googleapis.com/x.Y] { a: 1 }",
]


def _gaps(snippet: str) -> list[int]:
    """Offsets between two tokens of *snippet* (before each token but the first)."""
    from kvcal.grammar.syntax.scanner import SCAN

    starts = [m.start(m.lastindex) for m in SCAN.finditer(snippet) if m.lastindex and m.group(m.lastindex)][1:]
    return [at for at in starts if not snippet[:at].rstrip().endswith("-")]  # (`- 1` is a syntax error)


def _comment_words(text: str) -> list[str]:
    return [w.strip() for c in parse(text).comments for w in c.text.split("#") if w.strip()]


@pytest.mark.parametrize("snippet", GAP_SNIPPETS)
def test_a_comment_in_any_gap_survives_formatting(snippet: str) -> None:
    gaps = _gaps(snippet)
    variants = []
    for i, at in enumerate(gaps):  # one comment at a time, then one in every gap
        variants.append(snippet[:at] + f" # c{i}\n" + snippet[at:])
    every = snippet
    for i, at in reversed(list(enumerate(gaps))):
        every = every[:at] + f" # c{i}\n" + every[at:]
    variants.append(every)
    for text in variants:
        text = f"# top\nouter {{\n{text}\n}}\nafter: 1  # end\n"
        before = parse(text)
        assert not before.problems, (text, before.problems)
        out = format_text(text)
        assert _comment_words(out) == _comment_words(text), (text, out)
        assert values(parse(out).tree, out) == values(before.tree, text), (text, out)
        assert format_text(out) == out, (text, out)


@pytest.mark.parametrize("indent", ["    ", "\t", " "])
def test_any_indentation_keeps_every_value_and_comment(indent: str) -> None:
    for path in FILES:
        if path.stem in ("syntax", "unclosed"):
            continue
        text = path.read_text()
        out = format_text(text, indent)
        assert values(parse(out).tree, out) == values(parse(text).tree, text)
        assert _comment_words(out) == _comment_words(text)
        assert format_text(out, indent) == out
        assert format_text(out) == format_text(text)  # (back to the default layout)
        levels = {len(line) - len(line.lstrip(indent[0])) for line in out.splitlines() if line.startswith(indent[0])}
        assert all(n % len(indent) == 0 for n in levels), (path, indent)
    with pytest.raises(ValueError):
        format_text("a: 1\n", "x")
