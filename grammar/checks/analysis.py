"""Schema analysis: the generic tree checked against the document's schema, as typed views.

``analyze(text)`` parses, resolves the schema (an explicit one, the file's header, the
AMCT family by content, or none), walks the tree against the descriptors and returns a
:class:`View` of the root message plus every problem: syntax, the descriptor's own rules
(unknown fields, literal types and ranges, enums, duplicates, oneofs, required fields,
maps, groups, extensions, ``Any``) and the rule table of the schema's AMCT family. With no
schema, only syntax is checked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal, cast

from google.protobuf.descriptor import FieldDescriptor

from kvcal.grammar.checks import families
from kvcal.grammar.checks.tables import (
    BOOL,
    BYTES,
    ENUM,
    FLOAT,
    INTEGER,
    SCALARS_MAX,
    TEXT,
    EnumInfo,
    FieldInfo,
    MessageInfo,
    extension_info,
    message_info,
)
from kvcal.grammar.checks.views import Occurrence, View, merge_views, suggest
from kvcal.grammar.problems import Problem, Related, Severity, excerpt, quoted
from kvcal.grammar.schema import Schema, amct_float
from kvcal.grammar.schema.resolution import Resolution, SchemaOptions, resolve_schema
from kvcal.grammar.syntax.literals import BOOL_WORDS, is_spec_number, python_float, python_int
from kvcal.grammar.syntax.parser import ParseResult, gc_paused, parse
from kvcal.grammar.syntax.tree import Field, ListValue, Message, Scalar, Value

__all__ = ["AUTO", "Analysis", "Occurrence", "View", "analyze", "check", "merge_views", "suggest"]

#: the smallest magnitude that float32 rounds to infinity (FLT_MAX plus half an ulp): what
#: protobuf's printer writes for FLT_MAX, 3.4028235e+38, is below it and stays finite
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
_F = FieldDescriptor


class _Auto:
    def __repr__(self) -> str:
        return "AUTO"


#: resolve the schema from the document (header, then the AMCT family by content)
AUTO: Any = _Auto()


@dataclass(frozen=True)
class Analysis:
    parsed: ParseResult
    root: View | None  # None: no schema (syntax only)
    problems: tuple[Problem, ...]
    resolution: Resolution

    @property
    def text(self) -> str:
        return self.parsed.text

    @property
    def schema(self) -> Schema | None:
        return self.resolution.schema

    @property
    def family(self) -> str | None:
        schema = self.resolution.schema
        return schema.family if schema is not None else None

    @property
    def has_errors(self) -> bool:
        return any(p.is_error for p in self.problems)


def analyze(
    text: str | ParseResult,
    *,
    schema: Schema | Resolution | None = AUTO,
    layers: Collection[str] | None = None,
    options: SchemaOptions | None = None,
    path: Any = None,
) -> Analysis:
    """Parse (unless given a ParseResult) and check *text*.

    *schema*: AUTO resolves it (*options* and the document's *path* say where the header's
    files are and what the user chose explicitly); a :class:`Schema` checks against it;
    None checks syntax only. *layers*: the layer names of the associated sample data (the
    KV-cache family's ``unknown-layer``).
    """
    with gc_paused():  # (see there: the views are acyclic too)
        parsed = parse(text) if isinstance(text, str) else text
        if schema is AUTO:
            resolution = resolve_schema(parsed.text, parsed.tree, path=path, options=options or SchemaOptions())
        elif isinstance(schema, Resolution):
            resolution = schema
        elif schema is None:
            resolution = Resolution(None, "none", "no schema was given")
        else:
            resolution = Resolution(schema, "explicit", f"{schema.shown} was given")
        problems = list(parsed.problems) + list(resolution.problems)
        root: View | None = None
        chosen = resolution.schema
        if chosen is not None and not parsed.binary:  # (a binary file's one diagnostic says it all)
            root, found = _check(parsed, chosen, layers)
            if len(resolution.candidates) > 1:  # ambiguous: only what every candidate says
                shared = {_key(p) for p in found}
                for other in resolution.candidates:
                    if other is not chosen:
                        shared &= {_key(p) for p in _check(parsed, other, layers)[1]}
                found = [p for p in found if _key(p) in shared]
            problems += found
        elif resolution.quiet and any(p.code == "syntax" for p in parsed.problems):
            problems = []  # not text format at all, and only claimed by its extension
    problems.sort(key=Problem.sort_key)
    return Analysis(parsed, root, tuple(problems), resolution)


def _key(p: Problem) -> tuple[str, int, int]:
    return (p.code, p.start, p.end)


def _check(parsed: ParseResult, schema: Schema, layers: Collection[str] | None) -> tuple[View, list[Problem]]:
    rules = families.rules_for(schema.family)
    walker = _Walker(parsed.text, schema, rules.RULED_MESSAGES if rules is not None else frozenset())
    root = walker.view(parsed.tree, message_info(schema.root, schema.set), ancestors=None, unclosed=False)
    problems = walker.problems
    if rules is not None:
        problems += rules.check_values(root, parsed.text, layers=layers, views=walker.views)
    return root, problems


def check(
    text: str,
    *,
    layers: Collection[str] | None = None,
    schema: Schema | Resolution | None = AUTO,
    options: SchemaOptions | None = None,
    path: Any = None,
) -> list[Problem]:
    """Every problem in *text*: syntax, schema and value rules, sorted by position."""
    return list(analyze(text, layers=layers, schema=schema, options=options, path=path).problems)


_INVALID = object()
#: the deepest nesting checked: protobuf's Python text_format.Parse recurses once per level
#: and, under Python's limit of 1000 frames, fails at about 326-328 levels of `m { ... }`
#: from a fresh interpreter (measured), sooner from inside a program
MAX_NESTING = 300


# The enclosing messages of a view, innermost first: (info, parent chain) or None.
_Ancestors = tuple["MessageInfo", "_Ancestors"] | None


class _Walker:
    def __init__(self, text: str, schema: Schema, ruled: Collection[str] = ()) -> None:
        self.text = text
        self.schema = schema
        self.amct = schema.family is not None
        self.problems: list[Problem] = []
        self.ruled = ruled
        self.views: list[View] = []  # the views of the *ruled* messages (for the value rules)
        #: the fields holding the messages being walked, outermost first (None: the document)
        self.owners: list[Field | None] = []
        self.too_deep = False

    def block(self) -> str:
        """The message being walked as the user writes it: its field's name, or the top level."""
        owner = self.owners[-1] if self.owners else None
        return "the top level" if owner is None else owner.name.text

    def add(self, code: str, severity: Severity, start: int, end: int, message: str, **kw: Any) -> None:
        self.problems.append(Problem(code, severity, start, end, message, **kw))

    def view(
        self, message: Message, info: MessageInfo, ancestors: _Ancestors, unclosed: bool, owner: Field | None = None
    ) -> View:
        """*ancestors*: the enclosing messages; *unclosed*: inside a block whose closing
        bracket is missing, where a field of an enclosing message most likely belongs there
        (the syntax error already says so: no second diagnostic)."""
        if len(self.owners) > MAX_NESTING:  # (owners[0]: the document)
            if not self.too_deep:
                self.too_deep = True
                at = message.open or message
                self.add(
                    "nesting",
                    "error",
                    at.start,
                    at.end,
                    f"nested more than {MAX_NESTING} levels deep: protobuf's Python text_format (AMCT's "
                    "parser) recurses once per level and fails (RecursionError) at about 330 levels, "
                    "sooner when called from deep inside a program; nothing deeper is checked",
                )
            return View(info.desc, [message], {})
        self.owners.append(owner)
        view = View(info.desc, [message], {})
        if info.full_name in self.ruled:
            self.views.append(view)
        unclosed = unclosed or (message.open is not None and message.close is None)
        suppressed = ancestors if unclosed else None
        inner = ((info, ancestors), unclosed)
        for fld in message.fields:
            self.field(view, info, fld, suppressed, inner)
        if info.required:
            self.missing_required(view, info, message, owner)
        self.owners.pop()
        return view

    def missing_required(self, view: View, info: MessageInfo, message: Message, owner: Field | None) -> None:
        for name in info.required:
            if view.fields.get(name):
                continue
            fi = info.fields[name]
            if any(f.name.text == name for f in message.fields):
                continue  # written, but not well-typed: its own error says why
            anchor = owner.name if owner is not None else None
            start, end = (anchor.start, anchor.end) if anchor is not None else (0, 0)
            note = families.required_note(self.schema.family, fi.full_name)
            if note is None:
                note = (
                    "AMCT does not check it and silently uses the default (" + _zero_text(fi) + ")"
                    if self.amct
                    else "protobuf parses the file but cannot serialize the message"
                )
            offset = message.open.end if message.open is not None else 0
            self.add(
                "missing-required",
                "error",
                start,
                end,
                f"{self.block()} needs '{name}' (a required field): {note}; add {name}",
                data={"insert": {"offset": offset, "text": f" {name}{_placeholder(fi)} "}, "field": name},
            )

    def lookup(self, info: MessageInfo, fld: Field) -> FieldInfo | Literal[False] | None:
        """The field a name refers to; None for an unknown name (reported here or by the
        caller), False when a problem was reported here already."""
        name = fld.name
        if name.kind == "plain":
            return info.lookup(name.text)
        if name.text[-2:-1] in ("", "[", ".", "/"):  # `[]`, `[pkg.]`: unfinished, a syntax error says so
            return False
        if name.kind == "extension":
            if not info.extendable:
                self.add(
                    "unknown-field",
                    "error",
                    name.start,
                    name.end,
                    f"{self.block()} ({info.full_name}) has no extensions: remove {name.text}",
                    data={"delete": [fld.start, fld.end]},
                )
                return False
            ext = self.schema.set.find_extension(name.text[1:-1])
            extended = ext.containing_type if ext is not None else None  # (never None for an extension)
            if ext is None or extended is None or extended.full_name != info.full_name:
                where = (
                    f"it extends {extended.full_name}, not {info.full_name}"
                    if extended is not None
                    else "the schema defines no such extension (name it in full, or add its .proto with "
                    "'# proto-import:')"
                )
                self.add("unknown-field", "error", name.start, name.end, f"unknown extension {name.text}: {where}")
                return False
            return extension_info(ext, self.schema.set)
        # an Any written expanded: [type.googleapis.com/pkg.Msg] { ... }
        if not info.is_any:
            self.add(
                "unknown-field",
                "error",
                name.start,
                name.end,
                f"{name.text} is the expanded form of a google.protobuf.Any, but {self.block()} is a "
                f"{info.name}, not an Any",
                data={"delete": [fld.start, fld.end]},
            )
            return False
        return None  # handled by any()

    def field(
        self, view: View, info: MessageInfo, fld: Field, suppressed: _Ancestors, inner: tuple[_Ancestors, bool]
    ) -> None:
        name = fld.name
        fi = info.lookup(name.text) if name.kind == "plain" else self.lookup(info, fld)
        if fi is False:
            return
        if fi is None:
            if name.kind == "any":
                self.any(view, fld, inner)
            else:
                self.unknown(info, fld, suppressed)
            return
        fields = view.fields
        key = fi.key
        previous = fields.get(key)
        if previous and not fi.repeated:
            first = previous[0].field
            if fi.presence or fi.is_message:
                self.duplicate(fi, fld, first, "error")
            else:  # a proto3 scalar without presence: protobuf's Parse takes a default first value
                self.duplicate(fi, fld, first, "error" if not _is_default(previous[0].value) else "warning")
        if fi.oneof is not None:
            for other in fi.oneof_members:
                if other == key or not fields.get(other):
                    continue
                o = fields[other][-1].field
                consequence = "AMCT silently keeps only the last one" if self.amct else "protobuf refuses both"
                self.add(
                    "oneof-conflict",
                    "error",
                    name.start,
                    name.end,
                    f"'{key}' and '{other}' are alternatives ({fi.oneof}): {consequence}; remove one of them",
                    related=(Related(o.name.start, o.name.end, f"'{other}' is set here"),),
                    data={"delete": [fld.start, fld.end], "other": [o.start, o.end]},
                )
                break
        node = fld.value
        # (`node.__class__ is X`, which mypy narrows, rather than isinstance: the walk's hot path)
        if node.__class__ is ListValue:
            if not fi.repeated:
                self.type_error(fld, node, f"'{fi.name}' is not repeated: give one value, not a list")
                return
            if not fi.is_message and fld.colon is None:
                self.add(
                    "syntax",
                    "error",
                    name.end,
                    node.start,
                    f"expected ':' between '{fi.name}' and its list of values",
                    data={"insert": {"offset": name.end, "text": ":"}},
                )
            bucket = fields.setdefault(key, [])
            for item in node.items:
                value = self.value(fi, fld, item, inner)
                if value is not _INVALID:
                    bucket.append(Occurrence(fld, item, value))
            if not bucket:
                del fields[key]
            return
        # one value: value() inlined for the two common cases
        if node.__class__ is Message and fi.message is not None:  # (message_info fills it for message fields)
            value = self.view(node, fi.message, inner[0], inner[1], fld)
        elif node.__class__ is Scalar and not fi.is_message:
            value = _INVALID if node.kind == "missing" else self.scalar(fi, fld, node)
        else:
            value = self.value(fi, fld, node, inner)
        if value is _INVALID:
            return  # (an empty bucket would be dropped: fields are as they were)
        occ = Occurrence(fld, node, value)
        if previous is None:
            fields[key] = [occ]
        else:
            previous.append(occ)

    def duplicate(self, fi: FieldInfo, fld: Field, first: Field, severity: Severity) -> None:
        name = fld.name
        if self.amct:
            consequence = "AMCT silently " + ("merges the blocks" if fi.is_message else "keeps the last value")
        elif severity == "warning":
            consequence = "protobuf keeps the last value (the first is the default, so it does not object)"
        else:
            consequence = "protobuf's parser refuses a second value"
        self.add(
            "duplicate-field",
            severity,
            name.start,
            name.end,
            f"'{fi.name}' is set more than once; {consequence}: keep one",
            related=(Related(first.name.start, first.name.end, f"first '{fi.name}' here"),),
            data={"delete": [fld.start, fld.end], "first": [first.start, first.end]},
        )

    def any(self, view: View, fld: Field, inner: tuple[_Ancestors, bool]) -> None:
        """``[prefix/pkg.Msg] { ... }`` inside a google.protobuf.Any: checked as a pkg.Msg."""
        name = fld.name
        url = name.text[1:-1]
        prefix, _, type_name = url.rpartition("/")
        desc = self.schema.set.find_message(type_name) if prefix else None
        if desc is None:
            problem = (
                f"the type URL [{url}] needs a prefix, e.g. [type.googleapis.com/{type_name}]"
                if not prefix
                else f"the Any names {type_name}, which the schema does not define: add its .proto with "
                "'# proto-import: FILE', or fix the name"
            )
            self.add("unknown-field", "error", name.start, name.end, problem)
            return
        node = fld.value
        if not isinstance(node, Message):
            if not (isinstance(node, Scalar) and node.kind == "missing"):
                self.type_error(fld, node, f"an expanded Any holds a message: write [{url}] {{ ... }}")
            return
        previous = view.fields.get("[Any]")
        if previous:
            first = previous[0].field
            self.add(
                "duplicate-field",
                "warning",
                name.start,
                name.end,
                "this Any is written twice: protobuf keeps only the last payload",
                related=(Related(first.name.start, first.name.end, "first payload here"),),
            )
        child = self.view(node, message_info(desc, self.schema.set), inner[0], inner[1], fld)
        occ = Occurrence(fld, node, child)
        # protobuf's parser sets the Any's type_url and value from it: a `type_url:` or
        # `value:` written after it is a second value, which it refuses
        for key in ("[Any]", "type_url", "value"):
            view.fields.setdefault(key, []).append(occ)

    def unknown(self, info: MessageInfo, fld: Field, suppressed: _Ancestors) -> None:
        name = fld.name
        chain = suppressed
        while chain is not None:
            if chain[0].lookup(name.text) is not None:
                return
            chain = chain[1]
        known = list(info.known)
        elsewhere = families.where_defined(self.schema, name.text)
        # the family's note on a name the schema lacks but AMCT users know (from an older
        # release, another framework) beats a look-alike: that name is no typo
        note = families.unknown_note(self.schema.family, name.text) if not elsewhere else None
        suggestion = None if note else suggest(name.text, known)
        hint = f"did you mean '{suggestion}'?" if suggestion else "valid here: " + (", ".join(known) or "nothing")
        if elsewhere and not suggestion:
            hint = f"'{name.text}' belongs in {elsewhere}"
        sibling = families.sibling_hint(self.schema, name.text) if note or (not suggestion and not elsewhere) else None
        if sibling:
            hint = sibling
        consequence = "AMCT rejects the file" if self.amct else "protobuf rejects the file"
        self.add(
            "unknown-field",
            "error",
            name.start,
            name.end,
            f"{self.block()} has no field '{name.text}': {hint} ({consequence})",
            data={"suggestion": suggestion, "valid": known} if suggestion else {"valid": known},
        )

    def type_error(self, fld: Field, node: Value, message: str, **data: Any) -> None:
        self.add("type", "error", node.start, node.end, message, data=data or None)

    def value(self, fi: FieldInfo, fld: Field, node: Value, inner: tuple[_Ancestors, bool]) -> Any:
        if fi.is_message:
            if node.__class__ is Message and fi.message is not None:  # (filled for every message field)
                return self.view(node, fi.message, inner[0], inner[1], fld)
            if not (node.__class__ is Scalar and node.kind == "missing"):
                what = "map entry" if fi.is_map else f"{fi.type_name} message"
                self.type_error(fld, node, f"'{fi.name}' is a {what}: write {fi.name} {{ ... }}")
            return _INVALID
        if node.__class__ is Scalar:
            return _INVALID if node.kind == "missing" else self.scalar(fi, fld, node)
        if node.__class__ is Message:
            self.type_error(fld, node, f"'{fi.name}' takes {_a(fi.type_name)} value, not a message block")
        else:
            self.type_error(fld, node, "lists cannot be nested")
        return _INVALID

    def scalar(self, fi: FieldInfo, fld: Field, node: Scalar) -> Any:
        """The value of *node* for field *fi*, or _INVALID after a diagnostic."""
        decode = fi.decode
        kind = node.kind
        if decode in (INTEGER, FLOAT):
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
        elif fi.enum is not None and kind == "identifier" and not node.negative:  # (exactly the ENUM fields)
            number = fi.enum.by_name.get(node.text)
            if number is not None:
                return number
        return self.slow_scalar(fi, fld, node)

    def slow_scalar(self, fi: FieldInfo, fld: Field, node: Scalar) -> Any:
        decode = fi.decode
        written = self.text[node.start : node.end]
        shown = excerpt(written, 60)  # (a name or a number of thousands of characters: shortened)
        if decode in (TEXT, BYTES):
            if node.kind != "string":
                self.type_error(
                    fld, node, f"'{fi.name}' is {_a(fi.type_name)}: quote it, '{shown}'", suggestion=f"'{written}'"
                )
                return _INVALID
            if node.decoded is None:
                return _INVALID  # a bad escape, already reported
            if decode == BYTES:
                return node.decoded
            try:
                return node.decoded.decode("utf-8")
            except UnicodeDecodeError:
                self.type_error(
                    fld,
                    node,
                    "this string is not valid UTF-8 (check its \\x and octal escapes); a bytes field would take it",
                )
                return _INVALID
        if node.kind == "string":
            self.type_error(fld, node, f"'{fi.name}' takes {_a(fi.type_name)}, not a string: remove the quotes")
            return _INVALID
        token = ("-" if node.negative else "") + node.text
        if decode == BOOL:
            if token in BOOL_WORDS:
                return BOOL_WORDS[token]
            self.type_error(fld, node, f"'{fi.name}' is a bool: write true or false, not {shown}", suggestion="true")
            return _INVALID
        if fi.enum is not None:  # (exactly the ENUM fields)
            return self.enum(fi.enum, node, token, shown, fi.name)
        if (
            node.kind == "number"
            and not is_spec_number(node.text)
            and python_int(token) is None
            and python_float(token) is None
        ):
            return _INVALID  # malformed, reported by the parser
        if decode == FLOAT:
            value = python_float(token)
            if value is None:
                why = "is not a number"
                whole = python_int(token) if node.kind == "number" else None
                if whole is not None:
                    decimal = f" ({whole})" if abs(whole) < 10**30 else ""
                    why = (
                        "is an octal or hex integer, which protobuf does not take for a float field; "
                        f"write it in decimal{decimal}"
                    )
                self.type_error(fld, node, f"'{fi.name}' is {_a(fi.type_name)}: {shown} {why}")
                return _INVALID
            self.portable(node)
            if fi.type == _F.TYPE_DOUBLE:
                return value
            if abs(value) >= FLOAT32_OVERFLOW and value not in (float("inf"), float("-inf")):
                self.add(
                    "type",
                    "warning",
                    node.start,
                    node.end,
                    f"{shown} is beyond float32's range: "
                    + ("AMCT reads" if self.amct else "protobuf stores")
                    + " it as infinity",
                )
            return amct_float(value)
        # integers
        number = python_int(token) if node.kind == "number" else None
        if number is None:
            fraction = python_float(token) if node.kind == "number" else None
            if fraction is not None:
                truncated = str(int(fraction)) if fraction == fraction and abs(fraction) < 2**63 else None
                self.type_error(
                    fld,
                    node,
                    f"'{fi.name}' is an integer ({fi.type_name}): {shown} has a fraction or exponent",
                    suggestion=truncated,
                )
            else:
                self.type_error(fld, node, f"'{fi.name}' is {_a(fi.type_name)}: {shown} is not a number")
            return _INVALID
        low, high = cast("tuple[int, int]", fi.range)  # (every integer type has its range)
        if not low <= number <= high:
            what = (
                "cannot be negative"
                if number < 0 and low == 0
                else f"is at least {low}"
                if number < low
                else f"is at most {high}"
            )
            self.type_error(fld, node, f"'{fi.name}' is {_a(fi.type_name)} and {what}: {shown} is out of range")
            return _INVALID
        self.portable(node)
        return number

    def portable(self, node: Scalar) -> None:
        """A number protobuf's Python parser (AMCT's) reads, but the text format does not
        allow (``1_000``, ``0b11``, ``0o17``): other parsers refuse it."""
        if node.kind == "number" and not is_spec_number(node.text):
            self.add(
                "syntax",
                "warning",
                node.start,
                node.end,
                f"'{node.text}' is read by protobuf's Python parser"
                + (" (AMCT's)" if self.amct else "")
                + ", but it is not a text-format number: C++, Java "
                "and Go parsers refuse it; write it in decimal",
            )

    def enum(self, enum: EnumInfo, node: Scalar, token: str, shown: str, field: str) -> Any:
        names = enum.names
        if node.kind == "identifier" and not node.negative:
            if node.text in enum.by_name:
                return enum.by_name[node.text]
            suggestion = suggest(node.text, names)
            hint = (
                f"did you mean '{suggestion}'? (one of {', '.join(names)})"
                if suggestion
                else f"use one of {', '.join(names)}"
            )
            self.add(
                "enum-value",
                "error",
                node.start,
                node.end,
                f"{field} has no value {quoted(node.text, 60)}: {hint}",
                data={"suggestion": suggestion, "valid": names} if suggestion else {"valid": names},
            )
            return _INVALID
        try:  # protobuf's ParseEnum: int(token, 0)
            number = int(token, 0) if node.kind == "number" else None
        except ValueError:
            number = None
        if number is not None:
            if number in enum.by_number:
                return number
            if not enum.closed and -(2**31) <= number < 2**31:
                self.add(
                    "enum-value",
                    "information",
                    node.start,
                    node.end,
                    f"{field} has no value {number}; {enum.name} is an open enum, so protobuf keeps the "
                    f"number as it is (known values: {', '.join(names)})",
                )
                return number
        valid = ", ".join(f"{v.name} ({v.number})" for v in enum.desc.values)
        self.add(
            "enum-value",
            "error",
            node.start,
            node.end,
            f"{field} has no value {shown}: use one of {valid}",
            data={"valid": names},
        )
        return _INVALID


def _a(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _is_default(value: Any) -> bool:
    return value in (0, 0.0, False, "", b"") and not (isinstance(value, float) and str(value).startswith("-"))


def _zero_text(fi: FieldInfo) -> str:
    if fi.decode in (TEXT, BYTES):
        return "''"
    if fi.decode == BOOL:
        return "false"
    if fi.is_message:
        return "an empty message"
    if fi.decode == ENUM and fi.enum is not None and fi.enum.names:
        return fi.enum.names[0]
    return "0"


def _placeholder(fi: FieldInfo) -> str:
    if fi.is_message:
        return " {}"
    if fi.decode in (TEXT, BYTES):
        return ": ''"
    return ": " + _zero_text(fi)
