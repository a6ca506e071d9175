"""The tree-building half of the parser: one reduction per rule of the LALR table.

Lark's tree builder and a Transformer would build these nodes from the rule's children
after their filtering (``?rule`` inlining, ``__x_star_n`` lists, ``[]`` placeholders);
these functions take the children as the rule's expansion lists them and build the node
directly (``tests/grammar/test_parser_oracle.py`` checks they build the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.syntax import textproto_table as _table
from kvcal.grammar.syntax.literals import EscapeError, is_number, number_problem, unescape
from kvcal.grammar.syntax.scanner import Token
from kvcal.grammar.syntax.tree import Field, ListValue, Message, Name, Scalar, Span, Value

__all__ = ["END_ROW", "ROWS", "START_ROW", "ReduceAction", "Reductions", "Row", "ValueStack", "syntax_error"]

_T = TypeVar("_T")
_Build = TypeVar("_Build", bound=Callable[..., None])

#: the parser's value stack: tokens, the nodes built so far and the lists of `x*` rules
ValueStack = list[Any]
#: a dotted name's ``[text, start, end]``: a list, never mistaken for a token (a tuple)
TypeName = list[str | int]
#: a rule of the table: (origin, expansion, alias, inlined, placeholders), as textproto_table.RULES has it
RuleShape = tuple[str, tuple[str, ...], str | None, bool, tuple[bool, ...]]
#: a reduce action: (opcode, size, function, lhs); the function is None for INLINE
ReduceAction = tuple[int, int, Callable[..., Any] | None, str]
#: a state of the table: a terminal maps to the Row to shift to or to a ReduceAction, a
#: nonterminal to the goto Row (Any: a recursive union the driver tells apart by class)
Row = dict[str, Any]


def syntax_error(start: int, end: int, message: str, **data: object) -> Problem:
    related: tuple[Related, ...] = ()
    span = data.pop("related", None)
    if isinstance(span, list):
        related = (Related(span[0], span[1], "the opening bracket"),)
    return Problem("syntax", "error", start, end, message, related, data=data or None)


# How the driver applies a reduction (the opcode of a reduce action, see _rows):
# INLINE `?rule` (its one child is the value), WRAP/APPEND a `__x_star_n` list,
# CALL1/CALLN/CALL0 the rule's method (CALLN: it takes the stack, pops its children and
# pushes the node).
INLINE, WRAP, APPEND, CALL1, CALLN, CALL0 = range(6)

#: the CALLN reductions that take the stack themselves (the others get _on_stack's wrapper)
_ON_STACK: set[str] = set()


def _takes_stack(build: _Build) -> _Build:
    """Mark a reduction as working on the stack (it pops its children and pushes the node)."""
    _ON_STACK.add(build.__name__)
    return build


class Reductions:
    """The reductions, as methods of the parser (they read ``text``, add to ``problems``)."""

    __slots__ = ()
    text: str
    problems: list[Problem]
    #: the '[' of the last name recovery reported: that name is written `[]` (no schema check)
    _name_reported: int

    # (Lark's tree builder would pass the children after its filtering; these take them as
    # the rule's expansion lists them. `__x_star_n`/`__x_plus_n` rules are lists, inlined
    # into their parent. A token is truthy-texted unless recovery made it up.)
    def start_empty(self) -> Message:
        return Message((), 0, len(self.text), None, None)

    def start(self, fields: list[Field]) -> Message:
        return Message(tuple(fields), 0, len(self.text), None, None)

    def one(self, item: _T) -> list[_T]:
        return [item]

    def more(self, items: list[_T], item: _T) -> list[_T]:
        items.append(item)
        return items

    def more_after_separator(self, items: list[_T], _sep: Token, item: _T) -> list[_T]:
        items.append(item)
        return items

    def one_after_separator(self, _sep: Token, item: _T) -> list[_T]:
        return [item]

    def two(self, first: Token, second: Token) -> list[Token]:
        return [first, second]

    def two_more(self, items: list[Token], first: Token, second: Token) -> list[Token]:
        items.append(first)
        items.append(second)
        return items

    def _missing_colon(self, name: Name, value: Value) -> None:
        if value.__class__ is Scalar and value.kind != "missing":
            message = f"expected ':' between '{name.text}' and its value"
            self.problems.append(syntax_error(name.end, value.start, message, insert={"offset": name.end, "text": ":"}))

    @_takes_stack
    def field_colon(self, values: ValueStack) -> None:  # name COLON value
        value = values.pop()
        colon = values.pop()
        name = values[-1]
        values[-1] = Field(name, value, name.start, value.end, colon[2], None)

    def field_colon_separator(self, name: Name, colon: Token, value: Value, sep: Token) -> Field:
        return Field(name, value, name.start, sep[3], colon[2], Span(sep[2], sep[3]))

    @_takes_stack
    def field_bare(self, values: ValueStack) -> None:  # name value
        value = values.pop()
        name = values[-1]
        if value.__class__ is Scalar and value.kind != "missing":
            self._missing_colon(name, value)
        values[-1] = Field(name, value, name.start, value.end, None, None)

    def field_bare_separator(self, name: Name, value: Value, sep: Token) -> Field:
        self._missing_colon(name, value)
        return Field(name, value, name.start, sep[3], None, Span(sep[2], sep[3]))

    def plain_name(self, tok: Token) -> Name:
        return Name(tok[1], "plain", tok[2], tok[3])

    def type_name(self, tok: Token) -> TypeName:
        return [tok[1], tok[2], tok[3]]  # a list, never mistaken for a token

    def dotted_type_name(self, tok: Token, rest: list[Token]) -> TypeName:
        return [tok[1] + "".join(t[1] for t in rest), tok[2], rest[-1][3]]

    def extension_name(self, lb: Token, type_name: TypeName, rb: Token) -> Name:
        written = "" if lb[2] == self._name_reported else type_name[0]
        return Name(f"[{written}]", "extension", lb[2], rb[3] or lb[3])

    def any_name(self, lb: Token, url: TypeName, _slash: Token, type_name: TypeName, rb: Token) -> Name:
        written = "" if lb[2] == self._name_reported else f"{url[0]}/{type_name[0]}"
        return Name(f"[{written}]", "any", lb[2], rb[3] or lb[3])

    def url_first(self, type_name: TypeName) -> TypeName:
        return type_name

    def url_more(self, url: TypeName, _slash: Token, type_name: TypeName) -> TypeName:
        return [f"{url[0]}/{type_name[0]}", url[1], type_name[2]]

    def message_empty(self, open_tok: Token, close_tok: Token) -> Message:
        close = Span(close_tok[2], close_tok[3]) if close_tok[1] else None
        end = close_tok[3] if close_tok[1] else open_tok[3]
        return Message((), open_tok[2], end, Span(open_tok[2], open_tok[3]), close)

    @_takes_stack
    def message(self, values: ValueStack) -> None:  # LBRACE fields RBRACE
        close_tok = values.pop()
        fields = values.pop()
        _, _, start, open_end = values[-1]
        if close_tok[1]:
            close: Span | None = Span(close_tok[2], close_tok[3])
            end = close_tok[3]
        else:
            close, end = None, fields[-1].end
        values[-1] = Message(tuple(fields), start, end, Span(start, open_end), close)

    def _list(self, open_tok: Token, items: tuple[Value, ...], close_tok: Token) -> ListValue:
        end = close_tok[3] if close_tok[1] else (items[-1].end if items else open_tok[3])
        return ListValue(items, open_tok[2], end)

    def list_empty(self, open_tok: Token, close_tok: Token) -> ListValue:
        return self._list(open_tok, (), close_tok)

    def list_one(self, open_tok: Token, value: Value, close_tok: Token) -> ListValue:
        return self._list(open_tok, (value,), close_tok)

    def list_more(self, open_tok: Token, value: Value, rest: list[Value], close_tok: Token) -> ListValue:
        return self._list(open_tok, (value, *rest), close_tok)

    def string_parts(self, toks: list[Token]) -> Scalar:
        if len(toks) == 1 and toks[0][0] == "STRING" and "\\" not in toks[0][1]:  # the usual case
            _, text, start, end = toks[0]
            return Scalar("string", text, start, end, False, text[1:-1].encode("utf-8", "surrogateescape"))
        decoded = bytearray()
        ok = True
        for kind, tok_text, start, end in toks:
            quote = tok_text[0]
            terminated = kind == "STRING"
            body = tok_text[1:-1] if terminated else tok_text[1:]
            if not terminated:
                message = f"unterminated string: add the closing {quote} on this line"
                self.problems.append(syntax_error(start, end, message, insert={"offset": end, "text": quote}))
            if "\\" not in body:
                decoded += body.encode("utf-8", "surrogateescape")
                continue
            kept: list[tuple[int, int, str]] = []
            try:
                decoded += unescape(body, kept)
            except EscapeError as exc:
                ok = False
                at = start + 1 + exc.offset
                self.problems.append(syntax_error(at, at + exc.length, str(exc)))
            for offset, length, message in kept:
                at = start + 1 + offset
                self.problems.append(Problem("syntax", "warning", at, at + length, message))
        start, end = toks[0][2], toks[-1][3]
        return Scalar("string", self.text[start:end], start, end, False, bytes(decoded) if ok else None)

    def number(self, tok: Token) -> Scalar:
        if not is_number(tok[1]):
            self.problems.append(syntax_error(tok[2], tok[3], number_problem(tok[1])))
        return Scalar("number", tok[1], tok[2], tok[3], False, None)

    def identifier(self, tok: Token) -> Scalar:
        return Scalar("identifier" if tok[1] else "missing", tok[1], tok[2], tok[3], False, None)

    def _signed(self, minus: Token, tok: Token, kind: Literal["number", "identifier"]) -> Scalar:
        """``-5``, ``+5``, ``-inf``: the sign is part of the value (protobuf's Python parser
        reads one token, so a space after the sign is an error). A ``+`` stays in the text."""
        if not tok[1]:  # placeholder after a dangling sign
            return Scalar("missing", "", minus[2], minus[3])
        if tok[2] != minus[3]:
            self.problems.append(
                syntax_error(
                    minus[2],
                    tok[2],
                    f"write the '{minus[1]}' right before the value: protobuf's Python text_format "
                    "(AMCT's parser) rejects a sign followed by a space",
                    delete=[minus[3], tok[2]],
                )
            )
        if kind == "number" and not is_number(tok[1]):
            self.problems.append(syntax_error(tok[2], tok[3], number_problem(tok[1])))
        if minus[1] == "+":
            return Scalar(kind, "+" + tok[1], minus[2], tok[3])
        return Scalar(kind, tok[1], minus[2], tok[3], True)

    def signed_number(self, minus: Token, tok: Token) -> Scalar:
        return self._signed(minus, tok, "number")

    def signed_identifier(self, minus: Token, tok: Token) -> Scalar:
        return self._signed(minus, tok, "identifier")

    plus_number = signed_number
    plus_identifier = signed_identifier


# Each rule of the table -- (origin, expansion, alias, inlined, placeholders) as Lark
# compiled it -- and the Reductions method that reduces it; None: an inlined rule whose one
# child is the value. A grammar change that alters any rule's shape fails here, at import.
REDUCTIONS_BY_RULE: dict[RuleShape, str | None] = {
    ("start", (), None, False, ()): "start_empty",
    ("start", ("__start_star_0",), None, False, ()): "start",
    ("__start_star_0", ("field",), None, False, ()): "one",
    ("__start_star_0", ("__start_star_0", "field"), None, False, ()): "more",
    ("field", ("name", "COLON", "value"), None, False, ()): "field_colon",
    ("field", ("name", "COLON", "value", "separator"), None, False, ()): "field_colon_separator",
    ("field", ("name", "value"), None, False, ()): "field_bare",
    ("field", ("name", "value", "separator"), None, False, ()): "field_bare_separator",
    ("separator", ("COMMA",), None, True, ()): None,
    ("separator", ("SEMICOLON",), None, True, ()): None,
    ("name", ("IDENT",), "plain_name", False, ()): "plain_name",
    ("name", ("LBRACKET", "type_name", "RBRACKET"), "extension_name", False, ()): "extension_name",
    ("name", ("LBRACKET", "url", "SLASH", "type_name", "RBRACKET"), "any_name", False, ()): "any_name",
    ("url", ("type_name",), "url_first", False, ()): "url_first",
    ("url", ("url", "SLASH", "type_name"), "url_more", False, ()): "url_more",
    ("type_name", ("IDENT",), None, False, ()): "type_name",
    ("type_name", ("IDENT", "__type_name_star_1"), None, False, ()): "dotted_type_name",
    ("__type_name_star_1", ("DOT", "IDENT"), None, False, ()): "two",
    ("__type_name_star_1", ("__type_name_star_1", "DOT", "IDENT"), None, False, ()): "two_more",
    ("value", ("message",), None, True, ()): None,
    ("value", ("list",), None, True, ()): None,
    ("value", ("scalar",), None, True, ()): None,
    ("message", ("LBRACE", "RBRACE"), None, False, ()): "message_empty",
    ("message", ("LBRACE", "__start_star_0", "RBRACE"), None, False, ()): "message",
    ("message", ("LANGLE", "RANGLE"), None, False, ()): "message_empty",
    ("message", ("LANGLE", "__start_star_0", "RANGLE"), None, False, ()): "message",
    ("list", ("LBRACKET", "RBRACKET"), None, False, (False, True, False)): "list_empty",
    ("list", ("LBRACKET", "value", "RBRACKET"), None, False, ()): "list_one",
    ("list", ("LBRACKET", "value", "__list_star_2", "RBRACKET"), None, False, ()): "list_more",
    ("__list_star_2", ("COMMA", "value"), None, False, ()): "one_after_separator",
    ("__list_star_2", ("__list_star_2", "COMMA", "value"), None, False, ()): "more_after_separator",
    ("scalar", ("string_parts",), None, True, ()): None,
    ("string_parts", ("__string_parts_plus_3",), None, False, ()): "string_parts",
    ("__string_parts_plus_3", ("STRING",), None, False, ()): "one",
    ("__string_parts_plus_3", ("UNTERMINATED_STRING",), None, False, ()): "one",
    ("__string_parts_plus_3", ("__string_parts_plus_3", "STRING"), None, False, ()): "more",
    ("__string_parts_plus_3", ("__string_parts_plus_3", "UNTERMINATED_STRING"), None, False, ()): "more",
    ("scalar", ("NUMBER",), "number", True, ()): "number",
    ("scalar", ("MINUS", "NUMBER"), "signed_number", True, ()): "signed_number",
    ("scalar", ("IDENT",), "identifier", True, ()): "identifier",
    ("scalar", ("MINUS", "IDENT"), "signed_identifier", True, ()): "signed_identifier",
    ("scalar", ("PLUS", "NUMBER"), "plus_number", True, ()): "plus_number",
    ("scalar", ("PLUS", "IDENT"), "plus_identifier", True, ()): "plus_identifier",
}


def _on_stack(build: Callable[..., Any], size: int) -> Callable[[Reductions, ValueStack], None]:
    """*build* (which takes the rule's children) as a reduction that takes the stack."""

    def reduce(parser: Reductions, values: ValueStack) -> None:
        children = values[-size:]
        del values[-size:]
        values.append(build(parser, *children))

    return reduce


def _rows() -> tuple[list[Row], Row, Row]:
    """The table's states as rows: a terminal maps to the row to shift to or to a reduce
    action ``(opcode, size, function, lhs)``, a nonterminal to the goto row."""
    reduce_actions: list[ReduceAction] = []
    for shape in _table.RULES:
        if shape not in REDUCTIONS_BY_RULE:
            raise RuntimeError(
                f"textproto_table.py has a rule the parser does not know: {shape}; "
                "update reductions.REDUCTIONS_BY_RULE (and regenerate the table: make proto)"
            )
        name, size = REDUCTIONS_BY_RULE[shape], len(shape[1])
        op = {None: INLINE, "one": WRAP, "more": APPEND}.get(name, CALL1 if size == 1 else CALLN if size else CALL0)
        build: Callable[..., Any] | None = None
        if name:
            build = getattr(Reductions, name)
            if op == CALLN and name not in _ON_STACK:
                build = _on_stack(build, size)
        reduce_actions.append((op, size, build, shape[0]))
    rows: list[Row] = [{} for _ in _table.STATES]
    for row, actions in zip(rows, _table.STATES, strict=True):
        for symbol, code in actions.items():
            row[symbol] = rows[code] if code >= 0 else reduce_actions[~code]
    return rows, rows[_table.START_STATE], rows[_table.END_STATE]


ROWS, START_ROW, END_ROW = _rows()
