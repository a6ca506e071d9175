"""One mistake, one diagnostic, in linear time.

Valid configs are drawn at random (nested messages in either bracket style, lists of
scalars or messages, comments), one mistake is injected where its diagnostic is
well-defined, and the parser must report exactly one syntax problem, of the right kind,
and never a bracket error that is not there. On any text, no fix deletes a bracket the text
pairs with another. Pathological nesting costs a number of scanned tokens linear in the
input (counted, not timed: benchmarks/bench_grammar.py prints the times). Lone CRs get
the hint of what AMCT's parser makes of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from kvcal.grammar import parse
from kvcal.grammar.syntax import parser as parser_module
from kvcal.grammar.syntax.scanner import COMMENT_GROUP, KINDS, PUNCT, PUNCT_GROUP, SCAN

SCALARS = st.sampled_from(["1", "-2", "0.5", "'s'", '"t"', "per_channel", "true", "-inf", "1e3", "0x1F"])
NAMES = st.sampled_from(["a", "b", "c", "layer_name", "quant_layers", "x1"])
BREAKS = st.sampled_from(["\n", " ", "\n  # a comment\n"])


def _message(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from([("{", "}"), ("<", ">")]), inner).map(lambda t: f"{t[0][0]} {t[1]} {t[0][1]}")


def _body(value: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    field = st.tuples(NAMES, value, BREAKS).map(lambda t: f"{t[0]}: {t[1]}{t[2]}")
    return st.lists(field, max_size=3).map("".join)


VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        _message(_body(inner)),
        st.lists(SCALARS, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(_message(_body(inner)), min_size=1, max_size=2).map(lambda xs: "[" + ", ".join(xs) + "]"),
    ),
    max_leaves=12,
)
CONFIGS = _body(VALUES).filter(bool)


def tokens(text: str) -> list[tuple[str, str, int, int]]:
    out = []
    for m in SCAN.finditer(text):
        g = m.lastindex
        if g is None or g >= COMMENT_GROUP:
            continue
        out.append((PUNCT[m[g]] if g == PUNCT_GROUP else KINDS[g], m[g], *m.span(g)))
    return out


def textual_pairs(text: str) -> set[int]:
    """The test's own oracle: offsets of the brackets one stack pairs (a closer with the
    innermost opener of its kind; openers of other kinds above it stay unpaired)."""
    stack: list[tuple[str, int]] = []
    paired: set[int] = set()
    for kind, _, start, _ in tokens(text):
        if kind in ("LBRACE", "LANGLE", "LBRACKET"):
            stack.append((kind, start))
        elif kind in ("RBRACE", "RANGLE", "RBRACKET"):
            want = {"RBRACE": "LBRACE", "RANGLE": "LANGLE", "RBRACKET": "LBRACKET"}[kind]
            for depth in range(len(stack) - 1, -1, -1):
                if stack[depth][0] == want:
                    paired |= {stack[depth][1], start}
                    del stack[depth:]
                    break
    return paired


def syntax(text: str) -> list:
    return [p for p in parse(text).problems if p.code == "syntax"]


BRACKET_WORDS = re.compile(r"never closed|unmatched|does not close|unexpected '[\]}>]'")


def no_bracket_error_that_is_not_there(text: str) -> None:
    pairs = textual_pairs(text)
    for p in parse(text).problems:
        delete = (p.data or {}).get("delete")
        if delete and text[delete[0] : delete[1]].strip() in ("}", ">", "]", "{", "<", "["):
            at = delete[0] + text[delete[0] : delete[1]].index(text[delete[0] : delete[1]].strip())
            assert at not in pairs, (text, p)


@settings(max_examples=300, deadline=None)
@given(CONFIGS)
def test_the_drawn_configs_are_valid(text: str) -> None:
    assert parse(text).problems == (), text


@settings(max_examples=400, deadline=None)
@given(CONFIGS, st.data())
def test_a_missing_value_is_one_diagnostic(text: str, data: st.DataObject) -> None:
    toks = tokens(text)
    spots = [
        i
        for i in range(1, len(toks))
        if toks[i - 1][0] == "COLON" and toks[i][0] in ("NUMBER", "IDENT", "STRING", "MINUS")
    ]
    if not spots:
        return
    i = data.draw(st.sampled_from(spots))
    end = toks[i + 1][3] if toks[i][0] == "MINUS" else toks[i][3]
    broken = text[: toks[i][2]] + text[end:]
    found = syntax(broken)
    assert len(found) == 1 and "value" in found[0].message and not BRACKET_WORDS.search(found[0].message), (
        broken,
        found,
    )


@settings(max_examples=300, deadline=None)
@given(CONFIGS, st.data())
def test_a_trailing_comma_is_one_diagnostic(text: str, data: st.DataObject) -> None:
    closers = [t for t in tokens(text) if t[0] == "RBRACKET"]
    if not closers:
        return
    c = data.draw(st.sampled_from(closers))
    broken = text[: c[2]] + ", " + text[c[2] :]
    found = syntax(broken)
    assert len(found) == 1 and "','" in found[0].message and found[0].data["delete"], (broken, found)
    fixed = broken[: found[0].data["delete"][0]] + broken[found[0].data["delete"][1] :]
    assert syntax(fixed) == []  # the fix is the whole repair


@settings(max_examples=400, deadline=None)
@given(CONFIGS, st.data())
def test_a_wrong_closer_is_one_diagnostic(text: str, data: st.DataObject) -> None:
    closers = [t for t in tokens(text) if t[0] in ("RBRACE", "RANGLE")]
    if not closers:
        return
    c = data.draw(st.sampled_from(closers))
    broken = text[: c[2]] + {"}": ">", ">": "}"}[c[1]] + text[c[3] :]
    found = syntax(broken)
    assert len(found) == 1, (broken, found)
    no_bracket_error_that_is_not_there(broken)


@settings(max_examples=400, deadline=None)
@given(CONFIGS, st.data())
def test_a_deleted_closer_is_one_diagnostic(text: str, data: st.DataObject) -> None:
    closers = [t for t in tokens(text) if t[0] in ("RBRACE", "RANGLE", "RBRACKET")]
    if not closers:
        return
    c = data.draw(st.sampled_from(closers))
    broken = text[: c[2]] + text[c[3] :]
    found = syntax(broken)
    assert len(found) == 1, (broken, found)  # (`[{a: 1, {}]` without its '}': the ',' is a's separator)
    no_bracket_error_that_is_not_there(broken)


@settings(max_examples=400, deadline=None)
@given(CONFIGS, st.data(), st.sampled_from(["}", ">", "]"]))
def test_an_extra_closer_between_fields_is_one_diagnostic(text: str, data: st.DataObject, closer: str) -> None:
    toks = tokens(text)
    # between two fields of a message body that is no list item (there an early '}' ends the item)
    spots = [
        t[2]
        for i, t in enumerate(toks)
        if t[0] == "IDENT"
        and i + 1 < len(toks)
        and toks[i + 1][0] == "COLON"
        and text[: t[2]].count("[") == text[: t[2]].count("]")
    ]
    if not spots:
        return
    at = data.draw(st.sampled_from(spots))
    broken = text[:at] + closer + " " + text[at:]
    found = syntax(broken)
    assert len(found) == 1 and BRACKET_WORDS.search(found[0].message), (broken, found)
    no_bracket_error_that_is_not_there(broken)


@settings(max_examples=300, deadline=None)
@given(CONFIGS, st.data())
def test_truncation_reports_only_brackets_that_are_open(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(text)))
    broken = text[:cut]
    pairs = textual_pairs(broken)
    for p in syntax(broken):
        assert "unmatched" not in p.message and "does not close" not in p.message, (broken, p)
        if "never closed" in p.message:
            assert p.start not in pairs, (broken, p)


ALPHABET = st.sampled_from([*"{}<>[]{}<>[]:;, \n#'\"abc19"])


@settings(max_examples=500, deadline=None)
@given(st.text(ALPHABET, max_size=120))
def test_no_fix_deletes_a_bracket_the_text_pairs(text: str) -> None:
    no_bracket_error_that_is_not_there(text)


def test_the_issue_cases() -> None:
    cases = {
        "a {\n b {\n  c {\n   d:\n  }\n }\n}\n": 1,
        "a { b { c { d: [ } } }\n": 1,
        "kv_cache_quant_config { quant_layers: ['a', 'b',] }\n": 1,
        "a: [1, 2, ]\n": 1,
        "a { b: [1,] c: 2 }\n": 1,
        "a { b: [1, 2 c: 3 }\n": 1,
        "a { b: 1 > }\n": 1,
        "a { b < c: 1 } d: 2 }\n": 1,
        "a { b { } } }\n": 1,
    }
    for text, count in cases.items():
        found = syntax(text)
        assert len(found) == count, (text, found)
        no_bracket_error_that_is_not_there(text)


# -- linear time: scanned tokens, counted -------------------------------------------------------------


class _CountingScan:
    def __init__(self) -> None:
        self.matches = 0

    def finditer(self, text: str, pos: int = 0):
        for m in SCAN.finditer(text, pos):
            self.matches += 1
            yield m


PATHOLOGICAL = {
    "unclosed": lambda n: "a {\n" * n,
    "unclosed lists": lambda n: "a: [" * n,
    "stray closers": lambda n: "a: 1\n" + "}\n" * n,
    "wrong closers": lambda n: "a {\n" * n + ">\n" * n,
    "mixed": lambda n: "a <\n" * n + "]\n}\n" * n,
    "crossed": lambda n: ("a { b: [1\n" * n) + ("}\n" * n),
}


class _CountingStack(list):
    """The parser's value stack, counting the entries any recovery step walks over."""

    walked = 0

    def __iter__(self):
        for item in super().__iter__():
            _CountingStack.walked += 1
            yield item

    def __reversed__(self):
        for item in super().__reversed__():
            _CountingStack.walked += 1
            yield item


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_nesting_costs_linear_work(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work = tokens scanned (lookahead included) + parser stack entries walked (by recovery):
    4x the input may cost at most ~4x the work, whatever the nesting."""
    make = PATHOLOGICAL[name]
    init = parser_module._Parser.__init__

    def counting_init(self, text: str) -> None:
        init(self, text)
        self.values = _CountingStack()

    monkeypatch.setattr(parser_module._Parser, "__init__", counting_init)
    work = []
    for n in (1_000, 4_000):
        counter = _CountingScan()
        monkeypatch.setattr(parser_module, "SCAN", counter)
        _CountingStack.walked = 0
        result = parse(make(n))
        work.append(counter.matches + _CountingStack.walked)
        assert 1 <= len(result.problems) <= 2 * n + 10
    assert work[1] <= 4.4 * work[0], work


# -- lone CRs -------------------------------------------------------------------------------------------


def _amct_reads(text: str) -> str:
    from kvcal.grammar import schema

    msg = schema.message_class()()
    text_format.Merge(text, msg)
    return str(msg)


def test_lone_crs_get_what_amct_reads() -> None:
    hidden = "# kvcal: data=kv.safetensors\rbatch_num: 0\rkv_cache_quant_config {\r  quant_layers: 'a'\r}\r"
    assert _amct_reads(hidden) == ""  # protobuf: the comment runs to the end of the file
    (warning,) = [p for p in parse(hidden).problems if p.code == "line-breaks"]
    assert warning.severity == "warning" and "lone CR" in warning.message and "hides" in warning.message
    plain = "batch_num: 1\rkv_cache_quant_config {\r  quant_layers: 'a'\r}\r"
    assert "quant_layers" in _amct_reads(plain)  # without comments the CRs are blanks to it
    (hint,) = [p for p in parse(plain).problems if p.code == "line-breaks"]
    assert hint.severity == "hint" and "one line" in hint.message
    for fine in ("batch_num: 1\r\n# c\r\nbatch_num: 2\r\n", "a: 1\n# c\n", "a: 'x\\r'\n", "# c\r\n"):
        assert not [p for p in parse(fine).problems if p.code == "line-breaks"], fine


@settings(max_examples=200, deadline=None)
@given(CONFIGS)
def test_crs_for_line_breaks(text: str) -> None:
    cr = text.replace("\n", "\r")
    found = [p for p in parse(cr).problems if p.code == "line-breaks"]
    if "\r" not in cr.rstrip("\r"):
        return
    hides = any(c.text[c.text.index("\r") :].strip() for c in parse(cr).comments if "\r" in c.text)
    assert len(found) >= 1 and hides == (found[0].severity == "warning"), (cr, found)


# -- a field being typed: every prefix of a field, inside a block, with fields after it ------
TYPED = [
    "[type.googleapis.com/acme.Msg] { a: 1 }",
    "[acme.ext]: 1",
    "[acme.ext] < a: 1 >",
    '[type.googleapis.com/acme.Msg]: { s: "x" }',
    'name: "x"',
    "quant_granularity: per_channel",
    "inner { a: 1 }",
    "m: { k: -1 }",
]
_FALSE_BRACKET = re.compile(r"unexpected '[\]}>]'|unmatched|does not close|cannot be part")


@pytest.mark.parametrize("full", TYPED)
def test_a_field_being_typed_is_one_diagnostic_per_thing_left_out(full: str) -> None:
    for i in range(1, len(full)):
        typed = full[:i]
        text = f"outer {{\n  {typed}\n}}\nafter: 1\n"
        errors = syntax(text)
        if not errors:  # a complete field already (`name: x`, `quant_granularity: p`)
            assert re.fullmatch(r"[\w\]\[./]+: *[\w\"]+", typed) or typed.endswith("}"), typed
            continue
        assert not [e for e in errors if _FALSE_BRACKET.search(e.message)], (typed, errors)
        inner = typed.rstrip().endswith(("{", "<")) or re.search(r"[{<][^}>]*$", typed) is not None
        # a bare name or an unfinished [name]: one error; a block left open inside: perhaps one
        # more, for what is unfinished in it (`inner { a`: the '{' and a's value)
        assert len(errors) <= 2 if inner else len(errors) == 1, (typed, errors)
        no_value = [e for e in errors if "has no value" in e.message]
        if typed[-1].isalnum() and ":" not in typed and " " not in typed.strip() and typed[0] != "[":
            assert no_value and text[no_value[0].start : no_value[0].end] == typed.strip(), (typed, errors)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('name: "x"\nstage {\n  [\n}\n', 3, "'[' is an unfinished extension or Any name"),
        ("[]\n", 1, "'[]' is an unfinished extension or Any name"),
        ("a { [x]\n}\n", 1, "'[x]' has no value"),
        ("a {\n  [ext\n}\nb: 1\n", 2, "'[ext' is an unfinished"),
        ("a { [x: 1 }\n", 1, "'[' is never closed: add ']'"),
        ("[1]\nb: 2\n", 1, "'1' cannot be part of an extension or Any name"),
        ("x: 1 [", 1, "'[' is an unfinished"),
        ("a {\n  b\n}\nc: 1\n", 2, "'b' has no value"),
        ("a\nb: 1\n", 1, "'a' has no value"),
        ('m {\n  [/x.Y] { s: "x" }\n}\n', 2, "an Any's type URL needs a prefix before '/'"),
        ("m { [a b: 1 }\n", 1, "'[a' is an unfinished"),
        ('m\n  s: "a"\n}\ns: "b"\n', 1, "its block's '{' is missing (the '}' on line 3 closes it)"),
        ('outer {\n  m\n    s: "a"\n  }\n  t: 1\n}\n', 2, "its block's '{' is missing (the '}' on line 4"),
        ('m\n  s: "a"\nt: 1\n', 1, "'m' has no value: add one after it"),
        ("[a\nb: 1\n", 1, "'[a' is an unfinished"),
        ("m {\n  [a.b c { }\n}\n", 2, "'[a.b' is an unfinished"),
    ],
)
def test_an_unfinished_name_is_one_error_on_its_line(text: str, line: int, words: str) -> None:
    errors = syntax(text)
    assert len(errors) == 1 and words in errors[0].message, errors
    assert text[: errors[0].start].count("\n") + 1 == line
    no_bracket_error_that_is_not_there(text)  # (a fix never deletes one bracket of a pair)


@settings(max_examples=300, deadline=None)
@given(CONFIGS, st.data())
def test_a_deleted_opener_in_a_formatted_file_is_one_diagnostic(text: str, data: st.DataObject) -> None:
    from kvcal.grammar.formatter import format_text

    laid_out = format_text(text)  # (the layout people write: one field a line, indented blocks)
    openers = [m.start() for m in re.finditer(r"(?<=[\w\]]) \{\n", laid_out)]  # `name {`, not a list item
    if not openers:
        return
    at = data.draw(st.sampled_from(openers))
    broken = laid_out[:at] + laid_out[at + 2 :]
    found = syntax(broken)
    assert len(found) == 1 and "its block's '{' is missing" in found[0].message, (broken, found)
    insert = found[0].data["insert"]
    repaired = broken[: insert["offset"]] + insert["text"] + broken[insert["offset"] :]
    assert syntax(repaired) == []


# -- a field half typed on its own line, anywhere in a real config ---------------------------
ROOT_DIR = Path(__file__).resolve().parents[2]
TYPED_SNIPPETS = ["[", "[a.", "[type.googleapis.com/", "a", "a:", "a {", "a: {", "a: [", 'a: "x', "a <", "}", "a: -"]
REAL_CONFIGS = [
    *sorted((ROOT_DIR / "examples").glob("*.cfg")),
    *sorted((ROOT_DIR / "tests/data/amct").glob("*/clean/*.cfg"))[::4],
]


@pytest.mark.parametrize("path", REAL_CONFIGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_field_half_typed_in_a_real_config_is_one_diagnostic(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for i in range(1, len(lines)):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            continue
        indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
        for typed in TYPED_SNIPPETS:
            text = "".join(lines[:i]) + indent + typed + "\n" + "".join(lines[i:])
            errors = [p for p in syntax(text) if p.severity == "error"]
            assert len(errors) == 1, (path.name, i, typed, errors)
