"""The table-driven parser against Lark's own LALR parser (its lexer, its parser, its tree
builder) with the tree-building Transformer of ``lark_builder.py``, on generated valid text:
the same tree, comments and problems. (Broken text is covered by test_parser.py's recovery
cases, the fuzz tests and the differential tests against protobuf.)"""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Lark

from kvcal.grammar import parse
from kvcal.grammar.syntax.parser import ParseResult
from kvcal.grammar.syntax.tree import Comment
from tests.grammar import lark_builder
from tests.scripts import load

lalr = load("generate_lalr")

SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def flat(node: object) -> list:
    """The tree in preorder as a flat list of classes and values (no recursion, any depth)."""
    out: list = []
    stack = [node]
    while stack:
        item = stack.pop()
        if dataclasses.is_dataclass(item):
            out.append(type(item))
            stack.extend(reversed([getattr(item, f.name) for f in dataclasses.fields(item)]))
        elif isinstance(item, tuple):
            out.append(len(item))
            stack.extend(reversed(item))
        else:
            out.append((type(item), item))
    return out


def same(ours: ParseResult, tree, comments, problems) -> None:  # type: ignore[no-untyped-def]
    assert flat(ours.tree) == flat(tree)
    assert list(ours.comments) == list(comments)
    assert list(ours.problems) == list(problems)
    # Problem equality leaves out `data` (the fixes): compare it too, and the types
    assert [p.data for p in ours.problems] == [p.data for p in problems]


# -- 1. Lark's standard parser + Transformer on valid text --------------------------------------
def _lark_reference() -> Lark:
    def on_comment(tok):  # type: ignore[no-untyped-def]
        text = lark_builder._state.text
        line_start = text.rfind("\n", 0, tok.start_pos) + 1
        own_line = not text[line_start : tok.start_pos].strip()
        lark_builder._state.comments.append(Comment(str(tok), tok.start_pos, tok.end_pos, own_line))

    return Lark(
        lalr.grammar_text(),
        parser="lalr",
        lexer="basic",
        maybe_placeholders=True,
        transformer=lark_builder._Builder(),
        lexer_callbacks={"COMMENT": on_comment},
    )


LARK = _lark_reference()


def lark_parse(text: str):  # type: ignore[no-untyped-def]
    state = lark_builder._state
    state.text, state.problems, state.comments = text, [], []
    tree = LARK.parse(text)
    from kvcal.grammar.problems import Problem

    return tree, state.comments, sorted(state.problems, key=Problem.sort_key)


GAP = st.sampled_from([" ", " ", "\n", "  ", "\t", "\r\n", " # note\n", "\n# own line\n  ", "\f", "\v"])
IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
TYPE_NAME = st.lists(IDENT, min_size=1, max_size=3).map(".".join)
NUMBER = st.sampled_from(
    [
        "0",
        "5",
        "17",
        "0x1F",
        "017",
        ".5",
        "1.",
        "1e5",
        "1E-3F",
        "1.5f",
        "2f",
        "1e+5",
        "1abc",
        "1.2.3",
        "08",
        "0x",
        "9" * 30,
        "0.8",
        "4096",
    ]
)
ESCAPES = [
    "\\n",
    "\\t",
    "\\x41",
    "\\101",
    "\\u00e9",
    "\\U0001F600",
    "\\q",
    "\\400",
    "\\uD800",
    "\\\\",
    "\\'",
    '\\"',
    "\\x4",
    "\\x",
]


@st.composite
def string_token(draw: st.DrawFn) -> str:
    quote, other = draw(st.sampled_from([("'", '"'), ('"', "'")]))
    body = "".join(draw(st.lists(st.sampled_from([*"ab é", other, *ESCAPES]), max_size=6)))
    if draw(st.integers(0, 5)) == 0:
        return quote + body + draw(st.sampled_from(["", "\\"])) + "\n"  # unterminated: to the end of the line
    return quote + body + quote


@st.composite
def scalar(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "ident", "string", "signed", "signed"]))
    if kind == "number":
        return draw(NUMBER)
    if kind == "ident":
        return draw(IDENT)
    if kind == "signed":
        sign = draw(st.sampled_from(["-", "-", "+"]))
        return sign + draw(st.sampled_from(["", "", " ", "\n"])) + draw(st.one_of(NUMBER, IDENT))
    parts = draw(st.lists(string_token(), min_size=1, max_size=3))
    return "".join(p + (draw(GAP) if not p.endswith("\n") else "") for p in parts)


def value(depth: int) -> st.SearchStrategy[str]:
    if depth <= 0:
        return scalar()
    return st.one_of(scalar(), scalar(), message(depth - 1), listing(depth - 1))


@st.composite
def message(draw: st.DrawFn, depth: int) -> str:
    open_, close = draw(st.sampled_from([("{", "}"), ("<", ">")]))
    fields = draw(st.lists(field(depth), max_size=3))
    return open_ + draw(GAP) + draw(GAP).join(fields) + draw(GAP) + close


@st.composite
def listing(draw: st.DrawFn, depth: int) -> str:
    items = draw(st.lists(value(depth), max_size=3))
    return "[" + draw(GAP) + ("," + draw(GAP)).join(i + draw(GAP) for i in items) + "]"


@st.composite
def field(draw: st.DrawFn, depth: int) -> str:
    kind = draw(st.sampled_from(["plain", "plain", "plain", "extension", "any"]))
    if kind == "plain":
        name = draw(IDENT)
    elif kind == "extension":
        name = "[" + draw(TYPE_NAME) + "]"
    else:
        name = "[" + draw(TYPE_NAME) + "/" + draw(TYPE_NAME) + "]"
    colon = draw(st.sampled_from([":", ": ", " : ", ""]))
    v = draw(value(depth))
    sep = draw(st.sampled_from(["", "", ",", ";", " ;"]))
    return name + colon + (" " if not colon else "") + v + " " + sep


@st.composite
def document(draw: st.DrawFn) -> str:
    return draw(GAP) + draw(GAP).join(draw(st.lists(field(3), max_size=6))) + draw(GAP)


@SETTINGS
@given(document())
def test_valid_text_builds_what_lark_and_the_transformer_build(text: str) -> None:
    same(parse(text), *lark_parse(text))


def test_the_generator_covers_the_grammar() -> None:
    """The hand-written reductions are all exercised by valid text (no dead rule)."""
    text = (
        "a: 1 b: -2; c - x, d: 'x' \"y\"\n 'unterminated\n e {f: 1} g <> h: [] i: [1] j: [1, {k: 2}, <l: 3>]"
        " [p.q.r]: 1 [a.b/c.d] {} m: -\n inf # tail\n"
    )
    same(parse(text), *lark_parse(text))
