"""Problems are data: what a check found, where, and what a fix needs.

The same values feed the command line, the language server and the tests; they never
hold LSP types. Spans are ``(start, end)`` character offsets into the checked text
(Python ``str`` indices); :class:`kvcal.grammar.text.LineIndex` converts them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
