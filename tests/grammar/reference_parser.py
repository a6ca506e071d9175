"""The parser as it was before the table-driven rewrite (kvcal 73e3769), kept as an oracle.

Lark builds the LALR parser at import and runs its own tree-builder callbacks (the
``_Builder`` transformer) through a small driver; recovery is the same as the production
parser's. ``test_parser_oracle.py`` checks that ``kvcal.grammar.parse`` gives exactly
the same trees, comments and problems on generated and random text. Do not optimise.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files

from lark import Lark, Token, Transformer

from kvcal.grammar.literals import EscapeError, parse_number, unescape
from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.tree import Comment, Field, ListValue, Message, Name, Scalar, Span, Value

_OPENERS = {"LBRACE": "RBRACE", "LANGLE": "RANGLE", "LBRACKET": "RBRACKET"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
_SHOW = {
    "RBRACE": "'}'", "RANGLE": "'>'", "RBRACKET": "']'", "LBRACE": "'{'", "LANGLE": "'<'",
    "LBRACKET": "'['", "COLON": "':'", "COMMA": "','", "SEMICOLON": "';'", "MINUS": "'-'",
    "DOT": "'.'", "SLASH": "'/'", "IDENT": "a name", "NUMBER": "a number",
    "STRING": "a string", "UNTERMINATED_STRING": "a string", "$END": "the end of the file",
}  # fmt: skip
_VALUE_START = {"NUMBER", "STRING", "UNTERMINATED_STRING", "IDENT", "MINUS"}
_SUPPRESS_AFTER_ERROR = 3
_MAX_UNCLOSED_REPORTS = 5
# A name followed by one of these starts a field, so it cannot be the previous field's value.
_FIELD_FOLLOWERS = frozenset({"COLON", "LBRACE", "LANGLE"})
_SEPARATORS = frozenset({"COLON", "COMMA", "SEMICOLON"})
# Where a run of unexpected characters ends: the next character that can start a token.
_GARBAGE_END = re.compile(r"[\s{}<>\[\]:;,#\"'A-Za-z0-9_./-]")


@dataclass(frozen=True)
class ParseResult:
    """The tree (the document as a bracket-less Message), comments and syntax problems."""

    tree: Message
    comments: tuple[Comment, ...]
    problems: tuple[Problem, ...]
    text: str


class _State(threading.local):
    text: str = ""
    problems: list[Problem]
    comments: list[Comment]


_state = _State()


def _syntax(start: int, end: int, message: str, **data: object) -> Problem:
    related: tuple[Related, ...] = ()
    span = data.pop("related", None)
    if isinstance(span, list):
        related = (Related(span[0], span[1], "the opening bracket"),)
    return Problem("syntax", "error", start, end, message, related, data=data or None)


class _Builder(Transformer):
    """Builds tree nodes bottom-up as the LALR parser reduces (Lark's inline transformer)."""

    def start(self, children: list[Field]) -> Message:
        return Message(tuple(children), 0, len(_state.text))

    def field(self, children: list) -> Field:
        name: Name = children[0]
        colon: int | None = None
        separator: Span | None = None
        value: Value | None = None
        for child in children[1:]:
            if isinstance(child, Token):
                if child.type == "COLON":
                    colon = child.start_pos
                else:
                    separator = Span(child.start_pos, child.end_pos)
            else:
                value = child
        assert value is not None  # the grammar guarantees a value
        if colon is None and isinstance(value, Scalar) and value.kind != "missing":
            _state.problems.append(
                _syntax(
                    name.end, value.start,
                    f"expected ':' between '{name.text}' and its value",
                    insert={"offset": name.end, "text": ":"},
                )
            )
        end = separator.end if separator else value.end
        return Field(name, value, name.start, end, colon, separator)

    def plain_name(self, children: list[Token]) -> Name:
        tok = children[0]
        return Name(str(tok), "plain", tok.start_pos, tok.end_pos)

    def type_name(self, children: list[Token]) -> tuple[str, int, int]:
        return "".join(children), children[0].start_pos, children[-1].end_pos

    def extension_name(self, children: list) -> Name:
        lb, (text, _, _), rb = children
        return Name(f"[{text}]", "extension", lb.start_pos, rb.end_pos or lb.end_pos)

    def any_name(self, children: list) -> Name:
        lb, (domain, _, _), _slash, (type_name, _, _), rb = children
        return Name(f"[{domain}/{type_name}]", "any", lb.start_pos, rb.end_pos or lb.end_pos)

    def message(self, children: list) -> Message:
        open_tok, close_tok = children[0], children[-1]
        fields = tuple(children[1:-1])
        close = Span(close_tok.start_pos, close_tok.end_pos) if close_tok else None
        end = close_tok.end_pos if close_tok else (fields[-1].end if fields else open_tok.end_pos)
        return Message(fields, open_tok.start_pos, end, Span(open_tok.start_pos, open_tok.end_pos), close)

    def list(self, children: list) -> ListValue:
        items = tuple(c for c in children[1:-1] if not isinstance(c, Token) and c is not None)
        close = children[-1]
        end = close.end_pos if close else (items[-1].end if items else children[0].end_pos)
        return ListValue(items, children[0].start_pos, end)

    def string_parts(self, children: list[Token]) -> Scalar:
        decoded = bytearray()
        ok = True
        for tok in children:
            quote = tok[0]
            terminated = tok.type == "STRING"
            body = tok[1:-1] if terminated else tok[1:]
            if not terminated:
                _state.problems.append(
                    _syntax(
                        tok.start_pos, tok.end_pos,
                        f"unterminated string: add the closing {quote} on this line",
                        insert={"offset": tok.end_pos, "text": quote},
                    )
                )
            try:
                decoded += unescape(body)
            except EscapeError as exc:
                ok = False
                at = tok.start_pos + 1 + exc.offset
                _state.problems.append(_syntax(at, at + exc.length, str(exc)))
        first, last = children[0], children[-1]
        return Scalar(
            "string", _state.text[first.start_pos : last.end_pos], first.start_pos, last.end_pos,
            decoded=bytes(decoded) if ok else None,
        )  # fmt: skip

    def number(self, children: list[Token]) -> Scalar:
        tok = children[0]
        if parse_number(tok) is None:
            _state.problems.append(_syntax(tok.start_pos, tok.end_pos, f"'{tok}' is not a number"))
        return Scalar("number", str(tok), tok.start_pos, tok.end_pos)

    def identifier(self, children: list[Token]) -> Scalar:
        tok = children[0]
        kind = "identifier" if tok else "missing"
        return Scalar(kind, str(tok), tok.start_pos, tok.end_pos)

    def _signed(self, children: list[Token], kind: str) -> Scalar:
        minus, tok = children
        if not tok:  # placeholder after a dangling '-'
            return Scalar("missing", "", minus.start_pos, minus.end_pos)
        if tok.start_pos != minus.end_pos:
            _state.problems.append(
                _syntax(
                    minus.start_pos, tok.start_pos,
                    "write the '-' right before the value: AMCT's parser (protobuf's Python "
                    "text_format) rejects a sign followed by a space",
                    delete=[minus.end_pos, tok.start_pos],
                )
            )
        if kind == "number" and parse_number(tok) is None:
            _state.problems.append(_syntax(tok.start_pos, tok.end_pos, f"'{tok}' is not a number"))
        return Scalar(kind, str(tok), minus.start_pos, tok.end_pos, negative=True)  # type: ignore[arg-type]

    def signed_number(self, children: list[Token]) -> Scalar:
        return self._signed(children, "number")

    def signed_identifier(self, children: list[Token]) -> Scalar:
        return self._signed(children, "identifier")


def _on_comment(value: str, start: int, end: int) -> None:
    text = _state.text
    line_start = text.rfind("\n", 0, start) + 1
    own_line = not text[line_start:start].strip()
    _state.comments.append(Comment(value, start, end, own_line))


def _scanner() -> re.Pattern[str]:
    """The lexer as one regex: the terminals of textproto.lark, read from Lark itself."""
    terms = {t.name: t.pattern.to_regexp() for t in _LARK.terminals}
    order = ["COMMENT", "IDENT", "NUMBER", "STRING", "UNTERMINATED_STRING"]
    groups = [f"(?P<{name}>{terms[name]})" for name in order]
    groups.append("(?P<PUNCT>[" + re.escape("".join(_PUNCT)) + "])")
    return re.compile(r"[ \t\f\r\n\v]*(?:" + "|".join(groups) + ")")


_LARK = Lark(
    files("kvcal.grammar").joinpath("textproto.lark").read_text(encoding="utf-8"),
    parser="lalr",
    lexer="basic",
    transformer=_Builder(),
    maybe_placeholders=True,
    propagate_positions=False,
    cache=False,
)


def _describe(tok: Token) -> str:
    if tok.type in ("IDENT", "NUMBER"):
        return f"'{tok}'"
    return _SHOW.get(tok.type, repr(str(tok)))


def _synthetic(kind: str, at: int) -> Token:
    """A zero-width token inserted by recovery (empty text marks it as synthetic)."""
    return Token(kind, "", start_pos=at, end_pos=at)


class _Rejected(Exception):
    """The current token has no action in the current state (cheap, internal)."""


_SHIFT_ACTION = object()


def _fast_table() -> tuple[dict[int, dict[str, tuple]], int, int]:
    """Lark's LALR table with reductions pre-resolved to (size, callback, goto name).

    Lark builds the table and the tree-builder callbacks; this flattening only removes
    per-token overhead (Rule hashing, Token-keyed lookups) from the driver loop.
    """
    lalr = _LARK.parser.parser.parser
    table = lalr.parse_table
    callbacks = lalr.callbacks
    fast: dict[int, dict[str, tuple]] = {}
    for state, actions in table.states.items():
        row = {}
        for symbol, (action, arg) in actions.items():
            if action.name == "Shift":
                row[str(symbol)] = (_SHIFT_ACTION, arg)
            else:
                row[str(symbol)] = (len(arg.expansion), callbacks[arg], str(arg.origin.name))
        fast[state] = row
    return fast, table.start_states["start"], table.end_states["start"]


class _Machine:
    """A minimal LALR driver over Lark's table: state and value stacks, one token at a time."""

    __slots__ = ("state_stack", "value_stack")

    def __init__(self) -> None:
        self.state_stack = [_START_STATE]
        self.value_stack: list = []

    @property
    def position(self) -> int:
        return self.state_stack[-1]

    def expected(self) -> set[str]:
        return {t for t in _TABLE[self.state_stack[-1]] if t.isupper()}

    def feed(self, kind: str, token: object) -> object:
        """Shift *token* of type *kind* after the reductions it triggers; on ``$END`` return
        the finished tree. Raises :class:`_Rejected` (with the stacks as they were after
        the reductions) when the token does not fit."""
        states, values = self.state_stack, self.value_stack
        table = _TABLE
        while True:
            action = table[states[-1]].get(kind)
            if action is None:
                raise _Rejected
            first, arg = action[0], action[1]
            if first is _SHIFT_ACTION:
                states.append(arg)
                values.append(token)
                return None
            size, callback, origin = first, arg, action[2]
            if size:
                children = values[-size:]
                del states[-size:]
                del values[-size:]
            else:
                children = []
            values.append(callback(children))
            states.append(table[states[-1]][origin][1])
            if kind == "$END" and states[-1] == _END_STATE:
                return values[-1]


_TABLE, _START_STATE, _END_STATE = _fast_table()


class _Recovering:
    """The token loop: feeds Lark's parser state and repairs it on errors."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.state = _Machine()
        self.suppress = 0

    # -- lexing: one compiled scanner; garbage characters are reported and skipped ---------
    def tokens(self) -> Iterator[Token]:
        """The tokens of the text (comments recorded on the side), whitespace skipped.

        One regex match per token (leading whitespace is part of the match), much faster
        than Lark's own lexer loop; the token definitions mirror ``textproto.lark``.
        """
        text = self.text
        match = _SCAN.match
        new = str.__new__
        pos, n = 0, len(text)
        while pos < n:
            m = match(text, pos)
            kind = m.lastgroup if m is not None else None
            if kind is None:
                start = _WHITESPACE.match(text, pos).end()  # type: ignore[union-attr]
                if start >= n:
                    return
                g = _GARBAGE_END.search(text, start + 1)
                end = g.start() if g else n
                bad = text[start:end]
                shown = bad if len(bad) <= 20 else bad[:20] + "…"
                self.report(start, end, f"unexpected character(s) {shown!r}: delete them",
                            force=True, delete=[start, end])  # fmt: skip
                pos = end
                continue
            start, pos = m.start(kind), m.end()
            value = m.group(kind)
            if kind == "COMMENT":
                _on_comment(value, start, pos)
                continue
            tok = new(Token, value)
            tok.type = _PUNCT[value] if kind == "PUNCT" else kind
            tok.value = value
            tok.start_pos = start
            tok.end_pos = pos
            yield tok

    def expected(self) -> set[str]:
        return self.state.expected()

    def report(self, start: int, end: int, message: str, force: bool = False, **data: object) -> None:
        if self.suppress and not force:
            return
        _state.problems.append(_syntax(start, max(end, start), message, **data))

    def feed(self, tok: Token) -> bool:
        try:
            self.state.feed(tok.type, tok)
        except _Rejected:
            return False
        if self.suppress:
            self.suppress -= 1
        return True

    def open_brackets(self) -> list[Token]:
        """Opening brackets on the parser's stack that are not closed yet, innermost last."""
        return [v for v in self.state.value_stack if isinstance(v, Token) and v.type in _OPENERS]

    # -- recovery ---------------------------------------------------------------------------
    def run(self) -> Message:
        tokens = self.tokens()
        feed = self.state.feed
        pending: Token | None = next(tokens, None)
        last_end = 0
        while pending is not None:
            tok = pending
            pending = next(tokens, None)
            if tok.type == "IDENT" and pending is not None and pending.type in _FIELD_FOLLOWERS:
                self._fill_missing_value(tok)
            try:
                feed(tok.type, tok)
                if self.suppress:
                    self.suppress -= 1
            except _Rejected:
                self.recover(tok)
            last_end = tok.end_pos
        return self.finish(max(last_end, len(self.text.rstrip())))

    def _in_value_position(self) -> bool:
        top = self.state.value_stack[-1] if self.state.value_stack else None
        return isinstance(top, Name) or (isinstance(top, Token) and top.type in ("COLON", "MINUS"))

    def _fill_missing_value(self, tok: Token) -> None:
        """`name:` directly followed by the next field (`other: ...`, `other {`): no value."""
        if not self._in_value_position():
            return
        self._report_no_value(tok.start_pos)
        self.feed(_synthetic("IDENT", tok.start_pos))

    def _report_no_value(self, at: int) -> None:
        name = self._last_name()
        if name is not None:
            self.report(name[0], name[1], f"'{self.text[name[0]:name[1]]}' has no value: add one after it",
                        force=True)  # fmt: skip
        else:
            self.report(at, at, "a value is missing here", force=True)

    def recover(self, tok: Token) -> None:
        if (tok.type in _CLOSERS or tok.type in _SEPARATORS) and self._in_value_position():
            # `name: }` -- the value is missing
            self._report_no_value(tok.start_pos)
            if self.feed(_synthetic("IDENT", tok.start_pos)) and self.feed(tok):
                return
        if tok.type in _CLOSERS:
            self._stray_closer(tok)
            return
        # Nothing specific fits: report once and drop the token (panic mode).
        expected = self.expected()
        what = ", ".join(sorted({_SHOW[e] for e in expected if e in _SHOW}))
        self.report(tok.start_pos, tok.end_pos,
                    f"unexpected {_describe(tok)}" + (f"; expected {what}" if what else ""))  # fmt: skip
        self.suppress = _SUPPRESS_AFTER_ERROR

    def _stray_closer(self, tok: Token) -> None:
        opened = self.open_brackets()
        want = _OPENERS[opened[-1].type] if opened else None
        if want is not None and want in self.expected():
            # `{ ... >`: the wrong closer for the innermost opener; take it as the right one.
            o = opened[-1]
            self.report(tok.start_pos, tok.end_pos,
                        f"{_SHOW[tok.type]} does not close {_SHOW[o.type]}: use {_SHOW[want]}",
                        force=True, suggestion=_CLOSE_TEXT[want],
                        related=[o.start_pos, o.end_pos])  # fmt: skip
            self.feed(_synthetic(want, tok.start_pos))
            return
        self.report(tok.start_pos, tok.end_pos, f"unmatched {_SHOW[tok.type]}: delete it",
                    force=True, delete=[tok.start_pos, tok.end_pos])  # fmt: skip

    def _last_name(self) -> tuple[int, int] | None:
        """Span of the field name just before the cursor, if the parser is inside a field."""
        for item in reversed(self.state.value_stack[-3:]):
            if isinstance(item, Name):
                return item.start, item.end
        return None

    def finish(self, end: int) -> Message:
        """Feed the end of input, closing what is still open (one diagnostic per opener)."""
        eof = Token("$END", "", start_pos=end, end_pos=end)
        unclosed: list[Token] = []
        opened: list[Token] | None = None
        for _ in range(2 * len(self.state.value_stack) + 8):
            try:
                result = self.state.feed("$END", eof)
                break
            except _Rejected:
                pass
            if opened is None:  # after the reductions $END triggered; scanned once: O(depth)
                opened = self.open_brackets()
            expected = self.expected()
            if opened and _OPENERS[opened[-1].type] in expected:
                opener = opened.pop()
                unclosed.append(opener)
                self.feed(_synthetic(_OPENERS[opener.type], end))
            elif expected & {"IDENT", "NUMBER"}:
                self._report_no_value(end)
                self.feed(_synthetic("IDENT", end))
            else:  # pragma: no cover - no state of this grammar gets here
                break
        else:  # pragma: no cover
            result = Message(tuple(v for v in self.state.value_stack if isinstance(v, Field)), 0, len(self.text))
        self._report_unclosed(unclosed, end)
        return result  # type: ignore[no-any-return]

    def _report_unclosed(self, unclosed: list[Token], end: int) -> None:
        """One diagnostic per unclosed bracket, innermost first; a long tail is summarised."""
        for o in unclosed[:_MAX_UNCLOSED_REPORTS]:
            closer = _CLOSE_TEXT[_OPENERS[o.type]]
            self.report(o.start_pos, o.end_pos, f"{_SHOW[o.type]} is never closed: add '{closer}'",
                        force=True, insert={"offset": end, "text": closer})  # fmt: skip
        if len(unclosed) > _MAX_UNCLOSED_REPORTS:
            rest = unclosed[_MAX_UNCLOSED_REPORTS:]
            self.report(rest[-1].start_pos, rest[-1].end_pos,
                        f"{len(rest)} more brackets are never closed", force=True)  # fmt: skip


_CLOSE_TEXT = {"RBRACE": "}", "RANGLE": ">", "RBRACKET": "]"}
_PUNCT = {
    ":": "COLON", ",": "COMMA", ";": "SEMICOLON", "{": "LBRACE", "}": "RBRACE", "<": "LANGLE",
    ">": "RANGLE", "[": "LBRACKET", "]": "RBRACKET", "-": "MINUS", ".": "DOT", "/": "SLASH",
}  # fmt: skip
_SCAN = _scanner()
_WHITESPACE = re.compile(r"[ \t\f\r\n\v]*")
_lock = threading.Lock()


def parse(text: str) -> ParseResult:
    """Parse *text*; never raises. Problems are sorted by position."""
    with _lock:  # Lark's inline transformer and callbacks are shared: one parse at a time
        _state.text = text
        _state.problems = []
        _state.comments = []
        try:
            tree = _Recovering(text).run()
        except (_Rejected, RecursionError) as exc:  # pragma: no cover - defensive
            _state.problems.append(_syntax(0, 0, f"the file could not be parsed: {exc}"))
            tree = Message((), 0, len(text))
        problems = sorted(_state.problems, key=Problem.sort_key)
        comments = tuple(_state.comments)
    return ParseResult(tree, comments, tuple(problems), text)


def parse_bytes(data: bytes) -> ParseResult:
    """Parse raw file content: invalid UTF-8 is reported (and shown as U+FFFD), never fatal."""
    try:
        return parse(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="replace")
    result = parse(text)
    bad = [
        _syntax(m.start(), m.end(), "invalid UTF-8 bytes here: save the file as UTF-8")
        for m in re.finditer("\ufffd+", text)
    ]
    problems = sorted((*result.problems, *bad), key=Problem.sort_key)
    return ParseResult(result.tree, result.comments, tuple(problems), text)

