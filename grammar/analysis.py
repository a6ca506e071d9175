"""Schema analysis: the generic tree checked against the AMCT schema, as typed views.

``analyze(text)`` parses, walks the tree against the descriptors and returns a
:class:`View` of the root message plus every schema problem (unknown fields, types,
enums, duplicates, oneofs, missing required fields). A view keeps, per field name, the
well-typed occurrences in document order with their decoded values; a singular message
given twice is *merged*, the way AMCT's ``text_format.Merge`` merges it, so that the value
rules (``rules.py``) and ``resolve()`` see what AMCT sees.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kvcal.grammar import schema
from kvcal.grammar.descriptors import (
    BOOL,
    ENUM,
    NUMBER,
    SCALARS_MAX,
    TEXT,
    EnumInfo,
    FieldInfo,
    MessageInfo,
    message_info,
)
from kvcal.grammar.literals import BOOL_WORDS, float_value, parse_number
from kvcal.grammar.parser import ParseResult, gc_paused, parse
from kvcal.grammar.problems import Problem, Related, excerpt, quoted
from kvcal.grammar.tree import Field, ListValue, Message, Scalar, Value, thawed

UINT32_MAX = 2**32 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One well-typed value of a field: the field node, the value node and its value.

    For message fields ``value`` is the child :class:`View`.
    """

    field: Field
    node: Value
    value: Any


@dataclass(slots=True)
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
    rules = _rules()
    with gc_paused():  # (see there: the views are acyclic too)
        parsed = parse(text) if isinstance(text, str) else text
        walker = _Walker(parsed.text, rules.RULED_MESSAGES)
        root = walker.view(parsed.tree, _root_info(), ancestors=None, unclosed=False)
        problems = list(parsed.problems) + walker.problems
        if not parsed.binary:  # (a binary file's one diagnostic says it all)
            problems += rules.check_values(root, parsed.text, layers=layers, views=walker.views)
    problems.sort(key=Problem.sort_key)
    return Analysis(parsed, root, tuple(problems))


@functools.cache
def _rules() -> Any:
    from kvcal.grammar import rules  # the value rules read views built here (and import this)

    return rules


@functools.cache
def _root_info() -> MessageInfo:
    return message_info(schema.root())


def check(text: str, *, layers: Collection[str] | None = None) -> list[Problem]:
    """Every problem in *text*: syntax, schema and value rules, sorted by position."""
    return list(analyze(text, layers=layers).problems)


def suggest(name: str, candidates: Collection[str]) -> str | None:
    """The closest of *candidates* to *name* (a "did you mean"), or None. Case and ``-``
    for ``_`` do not count (``PER_CHANNEL``, ``per-channel`` -> ``per_channel``)."""
    by_key = {c.lower().replace("-", "_"): c for c in candidates}
    key = name.lower().replace("-", "_")
    if key in by_key:
        return by_key[key]
    match = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
    return by_key[match[0]] if match else None


_TOccurrence = thawed(Occurrence)
_new = object.__new__


def _occurrence(fld: Field, node: Value, value: Any) -> Occurrence:
    o = _TOccurrence()
    o.field, o.node, o.value = fld, node, value
    o.__class__ = Occurrence
    return o


# The enclosing messages of a view, innermost first: (info, parent chain) or None.
_Ancestors = tuple["MessageInfo", "_Ancestors"] | None


class _Walker:
    def __init__(self, text: str, ruled: Collection[str] = ()) -> None:
        self.text = text
        self.problems: list[Problem] = []
        self.ruled = ruled
        self.views: list[View] = []  # the views of the *ruled* messages (for the value rules)
        #: the fields holding the messages being walked, outermost first (None: the document)
        self.owners: list[Field | None] = []

    def block(self) -> str:
        """The message being walked as the user writes it: its field's name, or the top level."""
        owner = self.owners[-1] if self.owners else None
        return "the top level" if owner is None else owner.name.text

    def add(self, code: str, severity: str, start: int, end: int, message: str, **kw: Any) -> None:
        self.problems.append(Problem(code, severity, start, end, message, **kw))  # type: ignore[arg-type]

    def view(self, message: Message, info: MessageInfo, ancestors: _Ancestors, unclosed: bool,
             owner: Field | None = None) -> View:  # fmt: skip
        """*ancestors*: the enclosing messages; *unclosed*: inside a block whose closing
        bracket is missing, where a field of an enclosing message most likely belongs there
        (the syntax error already says so: no second diagnostic)."""
        self.owners.append(owner)
        view = _new(View)
        view.descriptor, view.messages, view.fields = info.desc, [message], {}
        if info.name in self.ruled:
            self.views.append(view)
        unclosed = unclosed or (message.open is not None and message.close is None)
        suppressed = ancestors if unclosed else None
        inner = ((info, ancestors), unclosed)
        fields, infos = view.fields, info.fields
        for fld in message.fields:
            # The usual field (known, first of its name or repeated, not in a oneof, one
            # scalar or message value) inline; field() does everything else, from scratch.
            name = fld.name
            fi = infos.get(name.text) if name.kind == "plain" else None
            node = fld.value
            cls = node.__class__
            if fi is None or fi.oneof is not None or cls is ListValue:
                self.field(view, info, fld, suppressed, inner)
                continue
            key = fi.name
            previous = fields.get(key)
            if previous and not fi.repeated:
                self.field(view, info, fld, suppressed, inner)
                continue
            if fi.is_message:
                if cls is not Message:
                    self.field(view, info, fld, suppressed, inner)
                    continue
                value = self.view(node, fi.message, inner[0], inner[1], fld)  # type: ignore[arg-type]
            elif cls is Scalar:
                kind = node.kind  # type: ignore[union-attr]
                if kind == "missing":
                    continue
                # a number seen before (scalar()'s cache, looked up here first)
                value = fi.cache.get(node.text) if kind == "number" and not node.negative else None  # type: ignore[union-attr]
                if value is None:
                    value = self.scalar(fi, fld, node)  # type: ignore[arg-type]
                    if value is _INVALID:
                        continue
            else:
                self.field(view, info, fld, suppressed, inner)
                continue
            o = _TOccurrence()
            o.field, o.node, o.value = fld, node, value
            o.__class__ = Occurrence
            if previous is None:
                fields[key] = [o]
            else:
                previous.append(o)
        if info.required and message.open is not None:
            for name in info.required:
                if view.fields.get(name):
                    continue
                anchor = owner.name if owner is not None else message.open
                self.add(
                    "missing-required", "error", anchor.start, anchor.end,
                    f"{self.block()} needs '{name}': AMCT would fail later with "
                    f"\"Layer  does not exist in the model\"; add {name}: 'LAYER'",
                    data={"insert": {"offset": message.open.end, "text": f" {name}: '' "},
                          "field": name},
                )  # fmt: skip
        self.owners.pop()
        return view

    def field(self, view: View, info: MessageInfo, fld: Field, suppressed: _Ancestors,
              inner: tuple[_Ancestors, bool]) -> None:  # fmt: skip
        name = fld.name
        fi = info.fields.get(name.text) if name.kind == "plain" else None
        if fi is None:
            self.unknown(info, fld, suppressed)
            return
        fields = view.fields
        key = fi.name
        previous = fields.get(key)
        if previous and not fi.repeated:
            first = previous[0].field
            self.add(
                "duplicate-field", "error", name.start, name.end,
                f"'{key}' is set more than once; AMCT silently "
                + ("merges the blocks" if fi.is_message else "keeps the last value")
                + ": keep one",
                related=(Related(first.name.start, first.name.end, f"first '{key}' here"),),
                data={"delete": [fld.start, fld.end], "first": [first.start, first.end]},
            )  # fmt: skip
        if fi.oneof is not None:
            for other in fi.oneof_members:
                if other == key or not fields.get(other):
                    continue
                o = fields[other][-1].field
                self.add(
                    "oneof-conflict", "error", name.start, name.end,
                    f"'{key}' and '{other}' are alternatives ({fi.oneof}): "
                    f"AMCT silently keeps only the last one; remove one of them",
                    related=(Related(o.name.start, o.name.end, f"'{other}' is set here"),),
                    data={"delete": [fld.start, fld.end], "other": [o.start, o.end]},
                )  # fmt: skip
                break
        node = fld.value
        cls = node.__class__
        if cls is ListValue:
            if not fi.repeated:
                self.type_error(fld, node, f"'{key}' is not repeated: give one value, not a list")
                return
            if not fi.is_message and fld.colon is None:
                self.add("syntax", "error", name.end, node.start,
                         f"expected ':' between '{key}' and its list of values",
                         data={"insert": {"offset": name.end, "text": ":"}})  # fmt: skip
            bucket = fields.setdefault(key, [])
            for item in node.items:  # type: ignore[union-attr]
                value = self.value(fi, fld, item, inner)
                if value is not _INVALID:
                    bucket.append(_occurrence(fld, item, value))
            if not bucket:
                del fields[key]
            return
        # one value: value() inlined for the two common cases
        if fi.is_message and cls is Message:
            value = self.view(node, fi.message, inner[0], inner[1], fld)  # type: ignore[arg-type]
        elif cls is Scalar and not fi.is_message:
            value = _INVALID if node.kind == "missing" else self.scalar(fi, fld, node)  # type: ignore[union-attr, arg-type]
        else:
            value = self.value(fi, fld, node, inner)
        if value is _INVALID:
            return  # (an empty bucket would be dropped: fields are as they were)
        o = _TOccurrence()
        o.field, o.node, o.value = fld, node, value
        o.__class__ = Occurrence
        if previous is None:
            fields[key] = [o]
        else:
            previous.append(o)

    def unknown(self, info: MessageInfo, fld: Field, suppressed: _Ancestors) -> None:
        name = fld.name
        if name.kind != "plain":
            self.add("unknown-field", "error", name.start, name.end,
                     f"{self.block()} takes no extension or Any fields: remove {name.text}",
                     data={"delete": [fld.start, fld.end]})  # fmt: skip
            return
        chain = suppressed
        while chain is not None:
            if name.text in chain[0].names:
                return
            chain = chain[1]
        known = list(info.known)
        suggestion = suggest(name.text, known)
        hint = f"did you mean '{suggestion}'?" if suggestion else "valid here: " + ", ".join(known)
        elsewhere = _where_defined(name.text)
        if elsewhere and not suggestion:
            hint = f"'{name.text}' belongs in {elsewhere}"
        self.add("unknown-field", "error", name.start, name.end,
                 f"{self.block()} has no field '{name.text}': {hint} (AMCT rejects the file)",
                 data={"suggestion": suggestion, "valid": known} if suggestion else {"valid": known})  # fmt: skip

    def type_error(self, fld: Field, node: Value, message: str, **data: Any) -> None:
        self.add("type", "error", node.start, node.end, message, data=data or None)

    def value(self, fi: FieldInfo, fld: Field, node: Value, inner: tuple[_Ancestors, bool]) -> Any:
        cls = node.__class__
        if fi.is_message:
            if cls is Message:
                return self.view(node, fi.message, inner[0], inner[1], fld)  # type: ignore[arg-type]
            if not (cls is Scalar and node.kind == "missing"):  # type: ignore[union-attr]
                self.type_error(fld, node, f"'{fi.name}' is a {fi.type_name} message: write {fi.name} {{ ... }}")
            return _INVALID
        if cls is Message:
            self.type_error(fld, node, f"'{fi.name}' takes a {fi.type_name} value, not a message block")
            return _INVALID
        if cls is ListValue:
            self.type_error(fld, node, "lists cannot be nested")
            return _INVALID
        if node.kind == "missing":  # type: ignore[union-attr]
            return _INVALID
        return self.scalar(fi, fld, node)  # type: ignore[arg-type]

    def scalar(self, fi: FieldInfo, fld: Field, node: Scalar) -> Any:
        """The value of *node* for field *fi*, or _INVALID after a diagnostic."""
        decode = fi.decode
        kind = node.kind
        if decode == NUMBER:
            if kind != "string":
                key = node.text if kind == "number" and not node.negative else (kind, node.text, node.negative)
                cache = fi.cache
                value = cache.get(key)
                if value is not None:
                    return value
                reported = len(self.problems)
                value = self.slow_scalar(fi, fld, node)
                if value is not _INVALID and value == value and len(self.problems) == reported:
                    if len(cache) >= SCALARS_MAX:
                        cache.clear()
                    cache[key] = value
                return value
        elif decode == TEXT:
            if kind == "string" and node.decoded is not None:
                try:
                    return node.decoded.decode("utf-8")
                except UnicodeDecodeError:
                    pass
        elif decode == BOOL:
            if not node.negative and node.text in BOOL_WORDS:
                return BOOL_WORDS[node.text]
        elif decode == ENUM and kind == "identifier" and not node.negative:
            number = fi.enum.by_name.get(node.text)  # type: ignore[union-attr]
            if number is not None:
                return number
        return self.slow_scalar(fi, fld, node)

    def slow_scalar(self, fi: FieldInfo, fld: Field, node: Scalar) -> Any:
        t = fi.type
        written = self.text[node.start : node.end]
        shown = excerpt(written, 60)  # (a name or a number of thousands of characters: shortened)
        if t == FieldDescriptor.TYPE_STRING:
            if node.kind != "string":
                self.type_error(fld, node, f"'{fi.name}' is a string: quote it, '{shown}'", suggestion=f"'{written}'")
                return _INVALID
            if node.decoded is None:
                return _INVALID  # a bad escape, already reported
            try:
                return node.decoded.decode("utf-8")
            except UnicodeDecodeError:
                self.type_error(fld, node, "this string is not valid UTF-8 (check its \\x and octal escapes)")
                return _INVALID
        if node.kind == "string":
            self.type_error(fld, node, f"'{fi.name}' takes a {fi.type_name}, not a string: remove the quotes")
            return _INVALID
        if t == FieldDescriptor.TYPE_BOOL:
            if not node.negative and node.text in BOOL_WORDS:
                return BOOL_WORDS[node.text]
            self.type_error(fld, node, f"'{fi.name}' is a bool: write true or false, not {shown}",
                            suggestion="true")  # fmt: skip
            return _INVALID
        if t == FieldDescriptor.TYPE_ENUM:
            return self.enum(fi.enum, node, shown, fi.name)  # type: ignore[arg-type]
        if t == FieldDescriptor.TYPE_FLOAT:
            value = float_value(node.text, node.negative, node.kind == "identifier")
            if value is None:
                if node.kind == "number" and parse_number(node.text) is None:
                    return _INVALID  # malformed number, reported by the parser
                self.type_error(fld, node, f"'{fi.name}' is a float: {shown} is not a number")
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
            self.type_error(fld, node, f"'{fi.name}' is a {fi.type_name}: {shown} is not a number")
            return _INVALID
        if not number.is_int:
            self.type_error(fld, node, f"'{fi.name}' is an integer ({fi.type_name}): {shown} has a fraction or exponent",
                            suggestion=str(int(number.value)) if abs(number.value) < 2**63 else None)  # fmt: skip
            return _INVALID
        low, high = (0, UINT32_MAX) if t == FieldDescriptor.TYPE_UINT32 else (INT32_MIN, INT32_MAX)
        if not low <= number.value <= high:
            what = "cannot be negative" if number.value < 0 else f"is at most {high}"
            self.type_error(fld, node, f"'{fi.name}' is a {fi.type_name} and {what}: {shown} is out of range")
            return _INVALID
        return number.value

    def enum(self, enum: EnumInfo, node: Scalar, shown: str, field: str) -> Any:
        names = enum.names
        if node.kind == "identifier" and not node.negative:
            if node.text in enum.by_name:
                return enum.by_name[node.text]
            suggestion = suggest(node.text, names)
            hint = f"did you mean '{suggestion}'? (one of {', '.join(names)})" if suggestion else f"use one of {', '.join(names)}"
            self.add("enum-value", "error", node.start, node.end,
                     f"{field} has no value {quoted(node.text, 60)}: {hint}",
                     data={"suggestion": suggestion, "valid": names} if suggestion else {"valid": names})  # fmt: skip
            return _INVALID
        number = parse_number(node.text, node.negative) if node.kind == "number" else None
        if number is not None and number.is_int and number.value in enum.by_number:
            return number.value
        if node.kind == "number" and number is None:
            return _INVALID
        valid = ", ".join(f"{v.name} ({v.number})" for v in enum.desc.values)
        self.add("enum-value", "error", node.start, node.end,
                 f"{field} has no value {shown}: use one of {valid}", data={"valid": names})  # fmt: skip
        return _INVALID


_INVALID = object()


@functools.cache
def _where_defined(name: str) -> str | None:
    """Where a field *name* belongs, as the user writes it: the blocks (the fields holding
    the messages) that have it, or the top level — ``ifmr_quantize or hfmg_quantize``."""
    root = schema.root()
    holders: dict[str, list[str]] = {}  # message full name -> the fields of that type
    seen, stack = set(), [root]
    while stack:
        desc = stack.pop()
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        for f in desc.fields:
            if f.message_type is not None:
                holders.setdefault(f.message_type.full_name, []).append(f.name)
                stack.append(f.message_type)
    places: list[str] = []
    stack, seen = [root], set()
    while stack:
        desc = stack.pop(0)
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        if name in desc.fields_by_name:
            places += holders.get(desc.full_name, ["the top level"])
        stack.extend(f.message_type for f in desc.fields if f.message_type is not None)
    places = list(dict.fromkeys(places))
    return " or ".join(places) if places else None
