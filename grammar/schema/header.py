"""The text format's schema header: ``# proto-file:``, ``# proto-message:`` and repeatable
``# proto-import:`` comments among a file's leading comment lines (the protobuf Text Format
Language Specification; JetBrains IDEs read the same lines).

::

    # proto-file: configs/experiment.proto
    # proto-message: acme.Experiment
    # proto-import: configs/extensions.proto

Only the comments before the first non-comment line count. Each key's value and its span
are kept, so that problems (a file that does not exist, a message it lacks) point at it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Header", "HeaderValue", "header_text", "read_header"]

_LINE = re.compile(
    r"[ \t]*#[ \t]*(?P<key>proto-file|proto-message|proto-import)[ \t]*:[ \t]*(?P<value>[^\n\r]*?)[ \t]*\r?$"
)


@dataclass(frozen=True)
class HeaderValue:
    value: str
    start: int  # span of the value in the document
    end: int
    line_start: int  # span of the whole comment line (for edits)
    line_end: int


@dataclass(frozen=True)
class Header:
    file: HeaderValue | None = None
    message: HeaderValue | None = None
    imports: tuple[HeaderValue, ...] = ()
    #: where a header line may be inserted: after the leading comment lines that are not
    #: part of the header (a ``# kvcal:`` line, a licence), before the first content line
    end: int = 0

    @property
    def present(self) -> bool:
        return self.file is not None or self.message is not None

    @property
    def anchor(self) -> tuple[int, int]:
        """The span problems about the header point at."""
        first = self.file or self.message or (self.imports[0] if self.imports else None)
        return (first.start, first.end) if first is not None else (0, 0)


def read_header(text: str) -> Header:
    """The header of *text* (empty when it has none). A key given twice: the first wins."""
    found: dict[str, HeaderValue] = {}
    imports: list[HeaderValue] = []
    pos = 1 if text.startswith("\ufeff") else 0
    end = pos
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos)
        line_end = n if nl < 0 else nl
        line = text[pos:line_end]
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        m = _LINE.match(line)
        if m:
            value = HeaderValue(
                m["value"], pos + m.start("value"), pos + m.end("value"), pos, line_end + (1 if nl >= 0 else 0)
            )
            if m["key"] == "proto-import":
                imports.append(value)
            else:
                found.setdefault(m["key"], value)
        if stripped:
            end = line_end + (1 if nl >= 0 else 0)
        pos = line_end + 1
    return Header(found.get("proto-file"), found.get("proto-message"), tuple(imports), end)


def header_text(proto_file: str | None, message: str, newline: str = "\n") -> str:
    """The header lines naming a schema (a bundled one needs only the message)."""
    lines = []
    if proto_file:
        lines.append(f"# proto-file: {proto_file}")
    lines.append(f"# proto-message: {message}")
    return newline.join(lines) + newline
