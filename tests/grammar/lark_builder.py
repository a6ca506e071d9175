"""The tree builder as a Lark Transformer: what the parser's hand-written reductions
(``kvcal.grammar.syntax.reductions``) must build. ``test_parser_oracle.py`` runs Lark's own
standard LALR parser with it on valid text and compares trees, comments and problems
with ``kvcal.grammar.parse``. (It is the builder of the parser before the table-driven
rewrite; the rest of that parser, its recovery, was dropped as an oracle once recovery
messages started to change on purpose.)
"""

from __future__ import annotations

import threading

from lark import Token, Transformer

from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.syntax.literals import EscapeError, is_number, number_problem, unescape
from kvcal.grammar.syntax.tree import Comment, Field, ListValue, Message, Name, Scalar, Span, Value


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
                    name.end,
                    value.start,
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
        lb, url, _slash, (type_name, _, _), rb = children
        return Name(f"[{url}/{type_name}]", "any", lb.start_pos, rb.end_pos or lb.end_pos)

    def url_first(self, children: list) -> str:
        return children[0][0]

    def url_more(self, children: list) -> str:
        url, _slash, (type_name, _, _) = children
        return f"{url}/{type_name}"

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
                        tok.start_pos,
                        tok.end_pos,
                        f"unterminated string: add the closing {quote} on this line",
                        insert={"offset": tok.end_pos, "text": quote},
                    )
                )
            kept: list[tuple[int, int, str]] = []
            try:
                decoded += unescape(body, kept)
            except EscapeError as exc:
                ok = False
                at = tok.start_pos + 1 + exc.offset
                _state.problems.append(_syntax(at, at + exc.length, str(exc)))
            for offset, length, message in kept:
                at = tok.start_pos + 1 + offset
                _state.problems.append(Problem("syntax", "warning", at, at + length, message))
        first, last = children[0], children[-1]
        return Scalar(
            "string",
            _state.text[first.start_pos : last.end_pos],
            first.start_pos,
            last.end_pos,
            decoded=bytes(decoded) if ok else None,
        )

    def number(self, children: list[Token]) -> Scalar:
        tok = children[0]
        if not is_number(str(tok)):
            _state.problems.append(_syntax(tok.start_pos, tok.end_pos, number_problem(str(tok))))
        return Scalar("number", str(tok), tok.start_pos, tok.end_pos)

    def identifier(self, children: list[Token]) -> Scalar:
        tok = children[0]
        kind = "identifier" if tok else "missing"
        return Scalar(kind, str(tok), tok.start_pos, tok.end_pos)

    def _signed(self, children: list[Token], kind: str) -> Scalar:
        minus, tok = children
        if not tok:  # placeholder after a dangling sign
            return Scalar("missing", "", minus.start_pos, minus.end_pos)
        if tok.start_pos != minus.end_pos:
            _state.problems.append(
                _syntax(
                    minus.start_pos,
                    tok.start_pos,
                    f"write the '{minus}' right before the value: protobuf's Python text_format "
                    "(AMCT's parser) rejects a sign followed by a space",
                    delete=[minus.end_pos, tok.start_pos],
                )
            )
        if kind == "number" and not is_number(str(tok)):
            _state.problems.append(_syntax(tok.start_pos, tok.end_pos, number_problem(str(tok))))
        if str(minus) == "+":
            return Scalar(kind, "+" + str(tok), minus.start_pos, tok.end_pos)  # type: ignore[arg-type]
        return Scalar(kind, str(tok), minus.start_pos, tok.end_pos, negative=True)  # type: ignore[arg-type]

    def signed_number(self, children: list[Token]) -> Scalar:
        return self._signed(children, "number")

    def signed_identifier(self, children: list[Token]) -> Scalar:
        return self._signed(children, "identifier")

    plus_number = signed_number
    plus_identifier = signed_identifier
