"""Canonical formatting of a text-format file that keeps every comment and every value.

Layout: two-space indentation, one field per line, ``name: value`` for scalars,
``name {`` ... ``}`` for messages (``< >`` become ``{ }``; ``name {}`` when empty),
``name: [a, b]`` for scalar lists (one item per line when comments sit among the items)
and one message per line group for message lists, no ``,``/``;`` separators, at most one
blank line kept where the author left one. Scalars are copied as written (quotes,
escapes, number spelling), so formatting never changes a value; adjacent strings that
span lines keep one source line per output line, indented under their field. Own-line
comments stay on their own line before what follows them; trailing comments stay at the
end of their line (a comment between a field's name and its value goes to the end of
the field's line). The file's line break (``\n`` or ``\r\n``) is kept. A file with syntax
errors is not formatted (:class:`FormatError`).
"""

from __future__ import annotations

import bisect
import re

from kvcal.grammar.syntax.parser import ParseResult, parse
from kvcal.grammar.syntax.tree import Comment, Field, ListValue, Message, Scalar, Value
from kvcal.grammar.text import LineIndex

INDENT = "  "
MAX_DEPTH = 200
#: the pieces of a string scalar's source: its string parts, comments, line breaks
_STRING_PIECES = re.compile(r"""(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<comment>#[^\n]*)|(?P<nl>\n)""")


class FormatError(ValueError):
    """The text cannot be formatted safely; the message says where and why. ``line`` and
    ``column`` (1-based, None when no place is to blame) and ``reason`` are its parts."""

    def __init__(self, reason: str, line: int | None = None, column: int | None = None) -> None:
        super().__init__(f"line {line}, column {column}: {reason}" if line is not None else reason)
        self.reason, self.line, self.column = reason, line, column


def format_text(text: str | ParseResult, indent: str = INDENT) -> str:
    """The canonical form of *text*, each level indented by *indent* (blanks or one tab).
    Raises :class:`FormatError` on syntax errors."""
    if not indent or indent.strip(" \t") or ("\t" in indent and indent != "\t"):
        raise ValueError(f"indent {indent!r}: give spaces or one tab")
    parsed = parse(text) if isinstance(text, str) else text
    # (a warning, `"\q"` that protobuf's Python parser keeps as written, is printed as written)
    syntax = [p for p in parsed.problems if p.code == "syntax" and p.is_error]
    if syntax:
        line, col = LineIndex(parsed.text).position(syntax[0].start)
        raise FormatError(
            f"{syntax[0].message} (fix the {len(syntax)} syntax error(s) first; nothing was changed)",
            line + 1,
            col + 1,
        )
    out = _Printer(parsed, indent).run()
    first_break = parsed.text.find("\n")
    if first_break > 0 and parsed.text[first_break - 1] == "\r":
        out = out.replace("\n", "\r\n")  # the file's own line break
    return out


class _Printer:
    def __init__(self, parsed: ParseResult, indent: str = INDENT) -> None:
        self.indent = indent
        self.text = parsed.text
        self.tree = parsed.tree
        self.comments: list[Comment] = list(parsed.comments)
        self.comment_starts = [c.start for c in self.comments]
        self.next_comment = 0
        self.lines: list[str] = []
        self.last_end = 0  # source offset of the last thing printed

    def run(self) -> str:
        self.body(self.tree.fields, 0, len(self.text))
        out = "\n".join(self.lines).rstrip()
        return out + "\n" if out else ""

    # -- comments and blank lines ------------------------------------------------------------
    def blank_line_before(self, start: int) -> bool:
        return (
            self.text.count("\n", self.last_end, start) >= 2
            and bool(self.lines)
            and not self.lines[-1].endswith(("{", "["))
        )

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
                self.lines.append(self.indent * depth + c.text.rstrip())
            else:
                self.lines[-1] += "  " + c.text.rstrip()
            self.last_end = max(self.last_end, c.end)

    def trailing_comment(self, after: int) -> None:
        """A comment on the same source line right after offset *after* joins the last line;
        so do comments inside the field just printed (between its name and its value)."""
        while self.next_comment < len(self.comments):
            c = self.comments[self.next_comment]
            if c.start < after:  # inside the field: `name: # c` then the value on the next line
                self.lines[-1] += "  " + c.text.rstrip()
                self.next_comment += 1
                continue
            if not c.own_line and not self.text[after : c.start].strip(" \t\r,;"):
                self.lines[-1] += "  " + c.text.rstrip()
                self.next_comment += 1
                self.last_end = max(self.last_end, c.end)
            return

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
        pad = self.indent * depth
        value = f.value
        if isinstance(value, Message):
            if not value.fields and not self.has_comments(value.start, value.end):
                self.lines.append(f"{pad}{f.name.text} {{}}")
                self.last_end = value.end
                self.trailing_comment(value.end)
                return
            self.lines.append(f"{pad}{f.name.text} {{")
            self.last_end = value.open.end if value.open else f.name.end
            self.trailing_comment(self.last_end)
            self.block(value, depth)
        elif isinstance(value, ListValue):
            self.list(f, value, depth)
        elif isinstance(value, Scalar) and value.kind == "string" and "\n" in value.text:
            self.string_lines(f, value, depth)
        else:
            self.lines.append(f"{pad}{f.name.text}: {self.scalar(value)}")
            self.last_end = f.end
            self.trailing_comment(f.end)

    def has_comments(self, start: int, end: int) -> bool:
        """A comment starts strictly inside ``(start, end)`` (comments are in text order)."""
        i = bisect.bisect_right(self.comment_starts, start)
        return i < len(self.comment_starts) and self.comment_starts[i] < end

    def string_lines(self, f: Field, value: Scalar, depth: int) -> None:
        """Adjacent strings over several source lines: one output line per source line, the
        comments among them kept at the end of their lines (those between the name and the
        value at the end of the first)."""
        head = ""  # `name: # why` then the strings on the next lines
        while self.next_comment < len(self.comments) and self.comments[self.next_comment].start < value.end:
            c = self.comments[self.next_comment]
            if c.start < value.start:
                head += "  " + c.text.rstrip()
            self.next_comment += 1  # (the others are printed with their strings)
        rows: list[list[str]] = [["", head]]  # per source line: the strings, the comments
        for m in _STRING_PIECES.finditer(value.text):
            if m.lastgroup == "nl":
                rows.append(["", ""])
            elif m.lastgroup == "comment":
                rows[-1][1] += "  " + m.group().rstrip()
            else:
                rows[-1][0] += (" " if rows[-1][0] else "") + m.group()
        # (the first row has a string: the value starts with one; a row of comments only
        # stays a line of its own)
        lines = [code + comments if code else comments.lstrip() for code, comments in rows if code or comments]
        pad = self.indent * depth
        self.lines.append(f"{pad}{f.name.text}: {lines[0]}")
        self.lines += [f"{pad}{self.indent * 2}{line}" for line in lines[1:]]
        self.last_end = f.end
        self.trailing_comment(f.end)

    def block(self, message: Message, depth: int) -> None:
        close = message.close.start if message.close else message.end
        self.body(message.fields, depth + 1, close)
        self.lines.append(self.indent * depth + "}")
        self.last_end = message.end
        self.trailing_comment(message.end)

    def scalar(self, node: Value) -> str:
        assert isinstance(node, Scalar)
        return self.text[node.start : node.end]

    def list(self, f: Field, value: ListValue, depth: int) -> None:
        pad = self.indent * depth
        self.check_items(value)
        scalars = not any(isinstance(v, Message) for v in value.items)
        if scalars and not self.has_comments(value.start, value.end):
            inner = ", ".join(self.scalar(v) for v in value.items)
            self.lines.append(f"{pad}{f.name.text}: [{inner}]")
            self.last_end = value.end
            self.trailing_comment(value.end)
            return
        # one item per line (scalars when comments sit among them, else messages), each
        # comment where it was
        self.lines.append(f"{pad}{f.name.text}: [")
        self.last_end = value.start + 1
        self.trailing_comment(self.last_end)
        last = len(value.items) - 1
        for i, item in enumerate(value.items):
            self.comments_before(item.start, depth + 1)
            if scalars:
                self.lines.append(self.indent * (depth + 1) + self.scalar(item) + ("," if i < last else ""))
                self.last_end = item.end
                self.trailing_comment(item.end)
                continue
            assert isinstance(item, Message)
            self.lines.append(self.indent * (depth + 1) + "{")
            self.last_end = item.open.end if item.open else item.start
            self.trailing_comment(self.last_end)
            self.block(item, depth + 1)
            if i < last:
                self.lines[-1] = _add_before_comment(self.lines[-1], ",")
        self.comments_before(value.end - 1, depth + 1)
        self.lines.append(pad + "]")
        self.last_end = value.end
        self.trailing_comment(value.end)

    def check_items(self, value: ListValue) -> None:
        """A list holds scalars or messages: a list inside it, or both kinds, is no text
        format protobuf reads (the parser takes it, the schema check reports it)."""
        kinds = {type(v) for v in value.items}
        bad: Value | None = next((v for v in value.items if isinstance(v, ListValue)), None)
        if bad is None and len(kinds) > 1:
            bad = next(v for v in value.items if type(v) is not type(value.items[0]))
        if bad is not None:
            line, col = LineIndex(self.text).position(bad.start)
            what = "a list inside a list" if isinstance(bad, ListValue) else "a list mixing messages and values"
            raise FormatError(
                f"{what}: protobuf's text format has none, so it is not formatted (fix it first; nothing was changed)",
                line + 1,
                col + 1,
            )


def _add_before_comment(line: str, suffix: str) -> str:
    """Append *suffix* to the code of *line*, before a trailing comment if any."""
    stripped = line.lstrip()
    if stripped.startswith("}") and "  #" in line:
        code, comment = line.split("  #", 1)
        return f"{code}{suffix}  #{comment}"
    return line + suffix
