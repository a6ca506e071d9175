"""The scanner: one regex over the terminals of textproto.lark, one match per token.

A token is a plain tuple ``(type, text, start, end)``; recovery inserts zero-width ones
with empty text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, cast

from kvcal.grammar.syntax import textproto_table as _table

__all__ = ["COMMENT_GROUP", "GARBAGE_GROUP", "KINDS", "PUNCT", "PUNCT_GROUP", "SCAN", "Scanner", "Token", "TokenMatch"]

Token = tuple[str, str, int, int]


class TokenMatch(Protocol):
    """A match of ``SCAN``: exactly one of its groups took part (each alternative is a group,
    END included), so ``lastindex`` is never None and that group's text is a ``str``."""

    @property
    def lastindex(self) -> int: ...

    def __getitem__(self, group: int, /) -> str: ...

    def start(self, group: int = 0, /) -> int: ...

    def end(self, group: int = 0, /) -> int: ...

    def span(self, group: int = 0, /) -> tuple[int, int]: ...


class Scanner(Protocol):
    """``SCAN`` as the parser uses it: a compiled ``re.Pattern`` whose matches are TokenMatches."""

    def finditer(self, string: str, pos: int = 0, /) -> Iterator[TokenMatch]: ...


def _scanner() -> tuple[Scanner, list[str]]:
    """The lexer as one regex over the terminals of textproto.lark (as Lark reads them).

    One match per token, the whitespace before it included; ``lastindex`` tells the
    terminal (every group inside a terminal is made non-capturing: fewer groups, cheaper
    matches). Whatever cannot start a token is one GARBAGE match, up to the next
    character that can (reported and skipped); END matches the trailing whitespace.
    Alternatives sharing a first character keep Lark's priority: NUMBER before ``.``,
    STRING before UNTERMINATED_STRING. Returns the regex and the terminal of each group
    (``PUNCT``: look the character up in ``PUNCT``).
    """
    terms = _table.TERMINALS

    def group(name: str, regex: str) -> str:
        regex = re.sub(r"(?<!\\)\((?!\?)", "(?:", regex)
        if re.compile(regex).groups:  # pragma: no cover - a terminal this rewrite cannot handle
            raise RuntimeError(f"terminal {name}: cannot make its groups non-capturing: {regex}")
        return f"(?P<{name}>{regex})"

    punct = "".join(re.escape(c) for c in PUNCT)
    whitespace = terms["WS"].removesuffix("+")  # WS: /[ \t\f\r\n\v]+/
    groups = [
        group("IDENT", terms["IDENT"]),
        group("NUMBER", terms["NUMBER"]),
        f"(?P<PUNCT>[{punct}])",
        group("STRING", terms["STRING"]),
        group("UNTERMINATED_STRING", terms["UNTERMINATED_STRING"]),
        group("COMMENT", terms["COMMENT"]),
        # a run of garbage: anything but whitespace, then up to whatever can start a token
        f"(?P<GARBAGE>[^{whitespace[1:-1]}]" + r"[^\s{}<>\[\]:;,#\"'A-Za-z0-9_./+-]*)",
        r"(?P<END>\Z)",
    ]
    scan = re.compile(f"{whitespace}*(?:{'|'.join(groups)})")
    kinds = [""] * (scan.groups + 1)  # (group 0, the whole match, is no terminal: never looked up)
    for name, index in scan.groupindex.items():
        kinds[index] = name
    if kinds[1:] != ["IDENT", "NUMBER", "PUNCT", "STRING", "UNTERMINATED_STRING", "COMMENT", "GARBAGE", "END"]:
        raise RuntimeError(f"unexpected scanner groups: {kinds}")  # pragma: no cover
    return cast(Scanner, scan), kinds  # (every match has one group: see TokenMatch)


PUNCT = {
    ":": "COLON",
    ",": "COMMA",
    ";": "SEMICOLON",
    "{": "LBRACE",
    "}": "RBRACE",
    "<": "LANGLE",
    ">": "RANGLE",
    "[": "LBRACKET",
    "]": "RBRACKET",
    "-": "MINUS",
    "+": "PLUS",
    ".": "DOT",
    "/": "SLASH",
}
SCAN, KINDS = _scanner()
PUNCT_GROUP, COMMENT_GROUP, GARBAGE_GROUP = 3, 6, 7
