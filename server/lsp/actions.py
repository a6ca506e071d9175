"""Quick fixes from the problems' data, and "Format document", as plain edits.

An edit is ``(start, end, new_text)`` in offsets; the handler converts. Deleting a field
takes its whole line with it when nothing else is left on that line.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.formatter import FormatError, format_text
from kvcal.grammar.problems import Problem

Edit = tuple[int, int, str]
QUICKFIX = "quickfix"
FORMAT = "source.format.kvcal"


@dataclass(frozen=True)
class Fix:
    title: str
    kind: str
    edits: tuple[Edit, ...]
    problem: Problem | None = None
    preferred: bool = False


def quick_fixes(analysis: Analysis, start: int, end: int) -> list[Fix]:
    """The fixes of every problem that touches ``[start, end]``."""
    out: list[Fix] = []
    for problem in analysis.problems:
        if problem.start <= end and problem.end >= start and problem.data:
            out += fixes_for(analysis.text, problem)
    return out


def fixes_for(text: str, p: Problem) -> list[Fix]:
    data = p.data or {}
    fixes: list[Fix] = []
    shown = text[p.start : p.end]
    suggestion = data.get("suggestion")
    if isinstance(suggestion, str) and suggestion and suggestion != shown:
        title = f"Change '{shown}' to '{suggestion}'" if p.code == "unknown-field" else f"Replace with {suggestion}"
        fixes.append(Fix(title, QUICKFIX, ((p.start, p.end, suggestion),), p, preferred=True))
    valid = data.get("valid")
    if p.code == "enum-value" and not suggestion and isinstance(valid, list):  # no close one: offer each
        fixes += [Fix(f"Replace with {v}", QUICKFIX, ((p.start, p.end, v),), p) for v in valid if isinstance(v, str)]
    swap = _spans(data.get("swap"), 2)
    if swap:
        (a0, a1), (b0, b1) = sorted(swap)
        edits = ((a0, a1, text[b0:b1]), (b0, b1, text[a0:a1]))
        fixes.append(Fix(f"Swap '{text[a0:a1]}' and '{text[b0:b1]}'", QUICKFIX, edits, p, preferred=True))
    delete = _spans([data.get("delete")], 1)
    if delete:
        ((d0, d1),) = delete
        what = text[d0:d1].split(":")[0].split("{")[0].strip() or text[d0:d1]
        title = {
            "oneof-conflict": f"Remove '{what}' (keep the other algorithm)",
            "duplicate-field": f"Remove this duplicate '{what}'",
            "duplicate-layer": "Remove this duplicate override"
            if what == "override_layers_configs"
            else "Remove this duplicate layer",
        }.get(p.code, f"Delete '{_short(text[d0:d1])}'")
        fixes.append(Fix(title, QUICKFIX, (line_deletion(text, d0, d1),), p, preferred=p.code == "syntax"))
        other = _spans([data.get("other") or data.get("first")], 1)
        if other:
            ((o0, o1),) = other
            name = text[o0:o1].split(":")[0].split("{")[0].strip()
            label = "the first" if "first" in data else "the other"
            fixes.append(Fix(f"Remove {label} '{name}' instead", QUICKFIX, (line_deletion(text, o0, o1),), p))
    insert = data.get("insert")
    if isinstance(insert, dict) and isinstance(insert.get("offset"), int) and isinstance(insert.get("text"), str):
        at, new = insert["offset"], insert["text"]
        if p.code == "missing-required":
            at, new = _own_line_insert(text, at, new.strip())
            title = f"Add {new.strip().split(':')[0].split('{')[0].strip()}"
        elif isinstance(data.get("title"), str):
            title = data["title"]
        else:
            title = f"Insert {new.strip()!r}"
        fixes.append(Fix(title, QUICKFIX, ((at, at, new),), p, preferred=True))
    for choice in data.get("choices") or ():  # several inserts to choose from (schema headers)
        ins = choice.get("insert") if isinstance(choice, dict) else None
        if (
            isinstance(ins, dict)
            and isinstance(ins.get("offset"), int)
            and isinstance(ins.get("text"), str)
            and isinstance(choice.get("title"), str)
        ):
            fixes.append(Fix(choice["title"], QUICKFIX, ((ins["offset"], ins["offset"], ins["text"]),), p))
    return fixes


def format_fix(analysis: Analysis) -> Fix | None:
    """The whole document formatted, or None when it has syntax errors or is formatted."""
    try:
        formatted = format_text(analysis.parsed)
    except FormatError:
        return None
    if formatted == analysis.text:
        return None
    return Fix("Format document", FORMAT, ((0, len(analysis.text), formatted),))


def line_deletion(text: str, start: int, end: int) -> Edit:
    """Delete ``[start, end)``, and the whole line(s) when only blanks would remain."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end == -1 else line_end
    if not text[line_start:start].strip() and not text[end:line_end].strip(" \t\r,;"):
        return (line_start, min(line_end + 1, len(text)), "")
    while end < len(text) and text[end] in " \t":
        end += 1
    return (start, end, "")


def _own_line_insert(text: str, at: int, new: str) -> tuple[int, str]:
    """Insert *new* on a line of its own after the opening bracket at *at*."""
    line_start = text.rfind("\n", 0, at) + 1
    indent = text[line_start : len(text[line_start:]) - len(text[line_start:].lstrip(" \t")) + line_start]
    return at, f"\n{indent}  {new}"


def _spans(value: object, count: int) -> list[tuple[int, int]] | None:
    """*value* as *count* ``(start, end)`` offsets, or None when it is not that (a problem's
    data comes from our checks, but a client echoes it back: it is checked, not trusted)."""
    if not isinstance(value, (list, tuple)) or len(value) != count:
        return None
    spans = []
    for s in value:
        if not (isinstance(s, (list, tuple)) and len(s) == 2 and isinstance(s[0], int) and isinstance(s[1], int)):
            return None
        spans.append((s[0], s[1]))
    return spans


def _short(text: str) -> str:
    return text if len(text) <= 30 else text[:29] + "…"
