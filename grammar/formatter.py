"""Canonical formatting of a text-format file that keeps every comment and every value.

Layout: two-space indentation, one field per line, ``name: value`` for scalars,
``name {`` ... ``}`` for messages (``< >`` become ``{ }``), ``name: [a, b]`` for scalar
lists and one message per line group for message lists, no ``,``/``;`` separators, at
most one blank line kept where the author left one. Scalars are copied as written
(quotes, escapes, number spelling), so formatting never changes a value. Own-line
comments stay on their own line before what follows them; trailing comments stay at
the end of their line. A file with syntax errors is not formatted (:class:`FormatError`).
"""

from __future__ import annotations

from kvcal.grammar.parser import ParseResult, parse
from kvcal.grammar.tree import Comment, Field, ListValue, Message, Scalar, Value

INDENT = "  "
MAX_DEPTH = 200


class FormatError(ValueError):
    """The text cannot be formatted safely; the message says where and why."""


def format_text(text: str | ParseResult) -> str:
    """The canonical form of *text*. Raises :class:`FormatError` on syntax errors."""
    parsed = parse(text) if isinstance(text, str) else text
    syntax = [p for p in parsed.problems if p.code == "syntax"]
    if syntax:
        from kvcal.grammar.text import LineIndex

        line, col = LineIndex(parsed.text).position(syntax[0].start)
        raise FormatError(
            f"line {line + 1}, column {col + 1}: {syntax[0].message} "
            f"(fix the {len(syntax)} syntax error(s) first; nothing was changed)"
        )
    return _Printer(parsed).run()


class _Printer:
    def __init__(self, parsed: ParseResult) -> None:
        self.text = parsed.text
        self.tree = parsed.tree
        self.comments: list[Comment] = list(parsed.comments)
        self.next_comment = 0
        self.lines: list[str] = []
        self.last_end = 0  # source offset of the last thing printed

    def run(self) -> str:
        self.body(self.tree.fields, 0, len(self.text))
        out = "\n".join(self.lines).rstrip()
        return out + "\n" if out else ""

    # -- comments and blank lines ------------------------------------------------------------
    def blank_line_before(self, start: int) -> bool:
        return self.text.count("\n", self.last_end, start) >= 2 and bool(self.lines) and not self.lines[-1].endswith(("{", "["))

    def comments_before(self, pos: int, depth: int) -> None:
        """Print the comments that start before *pos* (own-line ones on their own line)."""
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].start < pos:
            c = self.comments[self.next_comment]
            self.next_comment += 1
            if c.start < self.last_end:
                continue  # inside a scalar printed verbatim
            if c.own_line or not self.lines:
                if self.blank_line_before(c.start):
                    self.lines.append("")
                self.lines.append(INDENT * depth + c.text.rstrip())
            else:
                self.lines[-1] += "  " + c.text.rstrip()
            self.last_end = c.end

    def trailing_comment(self, after: int) -> None:
        """A comment on the same source line right after offset *after* joins the last line."""
        if self.next_comment >= len(self.comments):
            return
        c = self.comments[self.next_comment]
        if not c.own_line and not self.text[after : c.start].strip(" \t\r,;"):
            self.lines[-1] += "  " + c.text.rstrip()
            self.next_comment += 1
            self.last_end = c.end

    # -- structure ---------------------------------------------------------------------------
    def body(self, fields: tuple[Field, ...], depth: int, end: int) -> None:
        if depth > MAX_DEPTH:
            raise FormatError(f"nesting deeper than {MAX_DEPTH} levels: not formatted")
        for f in fields:
            self.comments_before(f.start, depth)
            if self.blank_line_before(f.start):
                self.lines.append("")
            self.field(f, depth)
        self.comments_before(end, depth)

    def field(self, f: Field, depth: int) -> None:
        pad = INDENT * depth
        value = f.value
        if isinstance(value, Message):
            self.lines.append(f"{pad}{f.name.text} {{")
            self.last_end = value.open.end if value.open else f.name.end
            self.trailing_comment(self.last_end)
            self.block(value, depth)
        elif isinstance(value, ListValue):
            self.list(f, value, depth)
        else:
            self.lines.append(f"{pad}{f.name.text}: {self.scalar(value)}")
            self.last_end = f.end
            self.trailing_comment(f.end)

    def block(self, message: Message, depth: int) -> None:
        close = message.close.start if message.close else message.end
        self.body(message.fields, depth + 1, close)
        self.lines.append(INDENT * depth + "}")
        self.last_end = message.end
        self.trailing_comment(message.end)

    def scalar(self, node: Value) -> str:
        assert isinstance(node, Scalar)
        return self.text[node.start : node.end]

    def list(self, f: Field, value: ListValue, depth: int) -> None:
        pad = INDENT * depth
        if not any(isinstance(v, Message) for v in value.items):
            inner = ", ".join(self.scalar(v) for v in value.items)
            self.lines.append(f"{pad}{f.name.text}: [{inner}]")
            self.last_end = value.end
            self.trailing_comment(value.end)
            return
        self.lines.append(f"{pad}{f.name.text}: [")
        self.last_end = value.start + 1
        self.trailing_comment(self.last_end)
        for i, item in enumerate(value.items):
            assert isinstance(item, Message)
            self.comments_before(item.start, depth + 1)
            self.lines.append(INDENT * (depth + 1) + "{")
            self.last_end = item.open.end if item.open else item.start
            self.trailing_comment(self.last_end)
            self.block(item, depth + 1)
            if i < len(value.items) - 1:
                self.lines[-1] = _add_before_comment(self.lines[-1], ",")
        self.comments_before(value.end - 1, depth + 1)
        self.lines.append(pad + "]")
        self.last_end = value.end
        self.trailing_comment(value.end)


def _add_before_comment(line: str, suffix: str) -> str:
    """Append *suffix* to the code of *line*, before a trailing comment if any."""
    stripped = line.lstrip()
    if stripped.startswith("}") and "  #" in line:
        code, comment = line.split("  #", 1)
        return f"{code}{suffix}  #{comment}"
    return line + suffix

