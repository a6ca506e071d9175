"""The schema analysis as it was before the speed work (kvcal 73e3769), kept as an oracle.

``test_analysis_oracle.py`` checks that ``kvcal.grammar.analyze`` gives exactly the same
problems (with their data) and views as this straightforward walk plus the value rules
of ``reference_rules.py``. Do not optimise.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kvcal.grammar import schema
from kvcal.grammar.literals import BOOL_WORDS, float_value, parse_number
from kvcal.grammar.parser import ParseResult, parse
from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.tree import Field, ListValue, Message, Scalar, Value

UINT32_MAX = 2**32 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Occurrence:
    """One well-typed value of a field: the field node, the value node and its value.

    For message fields ``value`` is the child :class:`View`.
    """

    field: Field
    node: Value
    value: Any


@dataclass
class View:
    """The fields of one message (or several merged occurrences of it)."""

    descriptor: Descriptor
    messages: list[Message] = field(default_factory=list)
    fields: dict[str, list[Occurrence]] = field(default_factory=dict)

    def all(self, name: str) -> list[Occurrence]:
        return self.fields.get(name, [])

    def last(self, name: str) -> Occurrence | None:
        occ = self.fields.get(name)
        return occ[-1] if occ else None

    def has(self, name: str) -> bool:
        return bool(self.fields.get(name))

    def value(self, name: str) -> Any:
        """The effective value: the last occurrence, else the schema default."""
        occ = self.last(name)
        if occ is not None:
            return occ.value
        return self.descriptor.fields_by_name[name].default_value

    def child(self, name: str) -> View | None:
        """A singular message field: all its occurrences merged (AMCT's Merge semantics)."""
        occs = self.fields.get(name)
        if not occs:
            return None
        return merge_views([occ.value for occ in occs])

    def oneof_choice(self, oneof: str) -> str | None:
        """The member of *oneof* that is set last (the one AMCT keeps), or None."""
        best: tuple[int, str] | None = None
        for member in self.descriptor.oneofs_by_name[oneof].fields:
            occ = self.last(member.name)
            if occ is not None and (best is None or occ.field.start > best[0]):
                best = (occ.field.start, member.name)
        return best[1] if best else None


def merge_views(views: list[View]) -> View:
    """Several occurrences of one message as one view, fields in document order."""
    if len(views) == 1:
        return views[0]
    merged = View(views[0].descriptor)
    for view in views:
        merged.messages.extend(view.messages)
        for key, items in view.fields.items():
            merged.fields.setdefault(key, []).extend(items)
    return merged


@dataclass(frozen=True)
class Analysis:
    parsed: ParseResult
    root: View
    problems: tuple[Problem, ...]

    @property
    def text(self) -> str:
        return self.parsed.text

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)


def analyze(text: str | ParseResult, *, layers: Collection[str] | None = None) -> Analysis:
    """Parse (unless given a ParseResult) and check *text* against the AMCT schema.

    *layers*, when given, are the layer names known from associated sample data
    (for ``unknown-layer``).
    """
    from tests.grammar import reference_rules as rules  # the value rules read views built here

    parsed = parse(text) if isinstance(text, str) else text
    walker = _Walker(parsed.text)
    root = walker.view(parsed.tree, schema.root(), ancestors=frozenset(), unclosed=False)
    problems = list(parsed.problems) + walker.problems
    problems += rules.check_values(root, parsed.text, layers=layers)
    problems.sort(key=Problem.sort_key)
    return Analysis(parsed, root, tuple(problems))


def check(text: str, *, layers: Collection[str] | None = None) -> list[Problem]:
    """Every problem in *text*: syntax, schema and value rules, sorted by position."""
    return list(analyze(text, layers=layers).problems)


def suggest(name: str, candidates: Collection[str]) -> str | None:
    """The closest of *candidates* to *name* (a "did you mean"), or None."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


class _Walker:
    def __init__(self, text: str) -> None:
        self.text = text
        self.problems: list[Problem] = []

    def add(self, code: str, severity: str, start: int, end: int, message: str, **kw: Any) -> None:
        self.problems.append(Problem(code, severity, start, end, message, **kw))  # type: ignore[arg-type]

    def view(self, message: Message, desc: Descriptor, ancestors: frozenset[str], unclosed: bool,
             owner: Field | None = None) -> View:  # fmt: skip
        """*ancestors*: field names of the enclosing messages; *unclosed*: inside a block
        whose closing bracket is missing, where a field of an enclosing message most likely
        belongs there (the syntax error already says so: no second diagnostic)."""
        view = View(desc, [message])
        unclosed = unclosed or (message.open is not None and message.close is None)
        suppressed = ancestors if unclosed else frozenset()
        inner = (ancestors | frozenset(desc.fields_by_name), unclosed)
        for fld in message.fields:
            self.field(view, fld, suppressed, inner)
        for fd in desc.fields:
            if fd.is_required and not view.has(fd.name) and message.open is not None:
                anchor = owner.name if owner is not None else message.open
                self.add(
                    "missing-required", "error", anchor.start, anchor.end,
                    f"{desc.name} needs '{fd.name}': AMCT would fail later with "
                    f"\"Layer  does not exist in the model\"; add {fd.name}: 'LAYER'",
                    data={"insert": {"offset": message.open.end, "text": f" {fd.name}: '' "},
                          "field": fd.name},
                )  # fmt: skip
        return view

    def field(self, view: View, fld: Field, unclosed_names: frozenset[str],
              inner: tuple[frozenset[str], bool]) -> None:  # fmt: skip
        desc = view.descriptor
        name = fld.name
        fd = desc.fields_by_name.get(name.text) if name.kind == "plain" else None
        if fd is None:
            self.unknown(desc, fld, unclosed_names)
            return
        previous = view.fields.get(fd.name)
        if previous and not fd.is_repeated:
            first = previous[0].field
            self.add(
                "duplicate-field", "error", name.start, name.end,
                f"'{fd.name}' is set more than once; AMCT silently "
                + ("merges the blocks" if fd.type == FieldDescriptor.TYPE_MESSAGE else "keeps the last value")
                + ": keep one",
                related=(Related(first.name.start, first.name.end, f"first '{fd.name}' here"),),
                data={"delete": [fld.start, fld.end], "first": [first.start, first.end]},
            )  # fmt: skip
        if fd.containing_oneof is not None:
            for other in fd.containing_oneof.fields:
                if other is fd or not view.has(other.name):
                    continue
                o = view.fields[other.name][-1].field
                self.add(
                    "oneof-conflict", "error", name.start, name.end,
                    f"'{fd.name}' and '{other.name}' are alternatives ({fd.containing_oneof.name}): "
                    f"AMCT silently keeps only the last one; remove one of them",
                    related=(Related(o.name.start, o.name.end, f"'{other.name}' is set here"),),
                    data={"delete": [fld.start, fld.end], "other": [o.start, o.end]},
                )  # fmt: skip
                break
        items: tuple[Value, ...]
        if isinstance(fld.value, ListValue):
            if not fd.is_repeated:
                self.type_error(fld, fld.value, f"'{fd.name}' is not repeated: give one value, not a list")
                return
            items = fld.value.items
            if fd.type != FieldDescriptor.TYPE_MESSAGE and fld.colon is None:
                self.add("syntax", "error", name.end, fld.value.start,
                         f"expected ':' between '{fd.name}' and its list of values",
                         data={"insert": {"offset": name.end, "text": ":"}})  # fmt: skip
        else:
            items = (fld.value,)
        bucket = view.fields.setdefault(fd.name, [])
        for item in items:
            value = self.value(fd, fld, item, inner)
            if value is not _INVALID:
                bucket.append(Occurrence(fld, item, value))
        if not bucket:
            del view.fields[fd.name]

    def unknown(self, desc: Descriptor, fld: Field, unclosed_names: frozenset[str]) -> None:
        name = fld.name
        if name.kind != "plain":
            self.add("unknown-field", "error", name.start, name.end,
                     f"{desc.name} has no extensions or Any fields: remove {name.text}",
                     data={"delete": [fld.start, fld.end]})  # fmt: skip
            return
        if name.text in unclosed_names:
            return
        known = [f.name for f in desc.fields]
        suggestion = suggest(name.text, known)
        hint = f"did you mean '{suggestion}'?" if suggestion else "valid here: " + ", ".join(known)
        elsewhere = _where_defined(name.text)
        if elsewhere and not suggestion:
            hint = f"'{name.text}' belongs in {elsewhere}, not in {desc.name}"
        self.add("unknown-field", "error", name.start, name.end,
                 f"{desc.name} has no field '{name.text}': {hint} (AMCT rejects the file)",
                 data={"suggestion": suggestion, "valid": known} if suggestion else {"valid": known})  # fmt: skip

    def type_error(self, fld: Field, node: Value, message: str, **data: Any) -> None:
        self.add("type", "error", node.start, node.end, message, data=data or None)

    def value(self, fd: FieldDescriptor, fld: Field, node: Value, inner: tuple[frozenset[str], bool]) -> Any:
        if fd.type == FieldDescriptor.TYPE_MESSAGE:
            if isinstance(node, Message):
                return self.view(node, fd.message_type, inner[0], inner[1], fld)
            if not (isinstance(node, Scalar) and node.kind == "missing"):
                self.type_error(fld, node, f"'{fd.name}' is a {fd.message_type.name} message: write {fd.name} {{ ... }}")
            return _INVALID
        if isinstance(node, Message):
            self.type_error(fld, node, f"'{fd.name}' takes a {schema.type_name(fd)} value, not a message block")
            return _INVALID
        if isinstance(node, ListValue):
            self.type_error(fld, node, "lists cannot be nested")
            return _INVALID
        if node.kind == "missing":
            return _INVALID
        return self.scalar(fd, fld, node)

    def scalar(self, fd: FieldDescriptor, fld: Field, node: Scalar) -> Any:
        t = fd.type
        shown = self.text[node.start : node.end]
        if t == FieldDescriptor.TYPE_STRING:
            if node.kind != "string":
                self.type_error(fld, node, f"'{fd.name}' is a string: quote it, '{shown}'", suggestion=f"'{shown}'")
                return _INVALID
            if node.decoded is None:
                return _INVALID  # a bad escape, already reported
            try:
                return node.decoded.decode("utf-8")
            except UnicodeDecodeError:
                self.type_error(fld, node, "this string is not valid UTF-8 (check its \\x and octal escapes)")
                return _INVALID
        if node.kind == "string":
            self.type_error(fld, node, f"'{fd.name}' takes a {schema.type_name(fd)}, not a string: remove the quotes")
            return _INVALID
        if t == FieldDescriptor.TYPE_BOOL:
            if not node.negative and node.text in BOOL_WORDS:
                return BOOL_WORDS[node.text]
            self.type_error(fld, node, f"'{fd.name}' is a bool: write true or false, not {shown}",
                            suggestion="true")  # fmt: skip
            return _INVALID
        if t == FieldDescriptor.TYPE_ENUM:
            return self.enum(fd, fld, node, shown)
        if t == FieldDescriptor.TYPE_FLOAT:
            value = float_value(node.text, node.negative, node.kind == "identifier")
            if value is None:
                if node.kind == "number" and parse_number(node.text) is None:
                    return _INVALID  # malformed number, reported by the parser
                self.type_error(fld, node, f"'{fd.name}' is a float: {shown} is not a number")
                return _INVALID
            if abs(value) > FLOAT32_MAX and value not in (float("inf"), float("-inf")):
                self.add("type", "warning", node.start, node.end,
                         f"{shown} is beyond float32's range: AMCT reads it as infinity")  # fmt: skip
            return schema.amct_float(value)
        # integers (uint32 / int32)
        number = parse_number(node.text, node.negative) if node.kind == "number" else None
        if number is None:
            if node.kind == "number":
                return _INVALID  # malformed, reported by the parser
            self.type_error(fld, node, f"'{fd.name}' is a {schema.type_name(fd)}: {shown} is not a number")
            return _INVALID
        if not number.is_int:
            self.type_error(fld, node, f"'{fd.name}' is an integer ({schema.type_name(fd)}): {shown} has a fraction or exponent",
                            suggestion=str(int(number.value)) if abs(number.value) < 2**63 else None)  # fmt: skip
            return _INVALID
        low, high = (0, UINT32_MAX) if t == FieldDescriptor.TYPE_UINT32 else (INT32_MIN, INT32_MAX)
        if not low <= number.value <= high:
            what = "cannot be negative" if number.value < 0 else f"is at most {high}"
            self.type_error(fld, node, f"'{fd.name}' is a {schema.type_name(fd)} and {what}: {shown} is out of range")
            return _INVALID
        return number.value

    def enum(self, fd: FieldDescriptor, fld: Field, node: Scalar, shown: str) -> Any:
        enum = fd.enum_type
        names = schema.enum_names(enum)
        if node.kind == "identifier" and not node.negative:
            if node.text in enum.values_by_name:
                return enum.values_by_name[node.text].number
            suggestion = suggest(node.text, names) or names[0]
            self.add("enum-value", "error", node.start, node.end,
                     f"{enum.name} has no value '{node.text}': did you mean '{suggestion}'? "
                     f"(one of {', '.join(names)})", data={"suggestion": suggestion, "valid": names})  # fmt: skip
            return _INVALID
        number = parse_number(node.text, node.negative) if node.kind == "number" else None
        if number is not None and number.is_int and number.value in enum.values_by_number:
            return number.value
        if node.kind == "number" and number is None:
            return _INVALID
        valid = ", ".join(f"{v.name} ({v.number})" for v in enum.values)
        self.add("enum-value", "error", node.start, node.end,
                 f"{enum.name} has no value {shown}: use one of {valid}",
                 data={"suggestion": names[0], "valid": names})  # fmt: skip
        return _INVALID


_INVALID = object()


def _where_defined(name: str) -> str | None:
    """The schema message that has a field *name*, to say where it belongs."""
    seen: list[Descriptor] = [schema.root()]
    visited: set[str] = set()
    while seen:
        desc = seen.pop()
        if desc.full_name in visited:
            continue
        visited.add(desc.full_name)
        if name in desc.fields_by_name:
            return desc.name
        seen.extend(f.message_type for f in desc.fields if f.message_type is not None)
    return None
