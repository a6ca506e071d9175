"""Problems are data: what a check found, where, and what a fix needs.

The same values feed the command line, the language server and the tests; they never
hold LSP types. Spans are ``(start, end)`` character offsets into the checked text
(Python ``str`` indices); :class:`kvcal.grammar.text.LineIndex` converts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

Severity = Literal["error", "warning", "information", "hint"]
Tag = Literal["unnecessary", "deprecated"]

SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "information": 2, "hint": 3}


@dataclass(frozen=True)
class Related:
    """Another place that explains a problem (the first of two duplicates, say)."""

    start: int
    end: int
    message: str


@dataclass(frozen=True)
class Problem:
    """One diagnostic. ``code`` is one of DESIGN.md's stable codes.

    ``data`` carries what a quick fix needs, with these keys where they apply:
    ``suggestion`` (a replacement text for the span), ``delete`` (``[start, end]`` to
    remove), ``insert`` (``{"offset": int, "text": str}``), ``swap`` (two spans).
    """

    code: str
    severity: Severity
    start: int
    end: int
    message: str
    related: tuple[Related, ...] = ()
    data: Mapping[str, Any] | None = field(default=None, compare=False)
    tags: tuple[Tag, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[int, int, int, str]:
        return (self.start, self.end, SEVERITY_ORDER[self.severity], self.code)


class ProblemExtras(TypedDict, total=False):
    """A :class:`Problem`'s optional fields, for helpers that pass them on (``**kw: Unpack[ProblemExtras]``)."""

    related: tuple[Related, ...]
    data: Mapping[str, Any] | None
    tags: tuple[Tag, ...]


def excerpt(text: str, limit: int = 120) -> str:
    """*text* (a name or value from the config or a sample file) as a message shows it:
    control and other non-printable characters escaped (``\\n``, ``\\x1b``, ``\\u2028``, and
    ``\\`` itself), so a message is one line and a terminal runs no escape sequence; longer
    than *limit*, its start and end with the length between."""
    if text.isprintable() and "\\" not in text:
        body = text
    else:
        body = "".join(c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(body) > limit:
        body = f"{body[: limit - 20]}…{body[-12:]} ({len(text):,} characters)"
    return body


def quoted(name: str, limit: int = 120) -> str:
    """``'name'``: :func:`excerpt` in single quotes (how messages name a layer)."""
    return f"'{excerpt(name, limit)}'"
