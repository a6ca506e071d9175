"""Where things are in a config, for editors: pure functions over an :class:`Analysis`.

What is at an offset (a field name, a value, a layer name, and inside which messages),
the completion context at a cursor, document symbols, folding ranges, token classes,
the defaults that apply where a field is omitted, and the links between an override's
``layer_name`` and the ``quant_layers`` entry of the same layer. Everything is offsets
(Python ``str`` indices) and plain values; :class:`kvcal.grammar.text.LineIndex`
converts offsets to editor positions. No LSP types here.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.plan import ALLOWED_NUM_OF_BINS
from kvcal.grammar.schema import Schema, default_text
from kvcal.grammar.syntax.literals import BOOL_WORDS
from kvcal.grammar.syntax.tree import Field, ListValue, Message, Scalar, Value, walk_fields

#: Full names of the fields whose string values name a layer (of the model AMCT quantizes).
LAYER_FIELDS = frozenset(
    {
        "AMCTPytorchQuantCaliProto.CommonCalibrationConfig.quant_layers",
        "AMCTPytorchQuantCaliProto.OverrideLayer.layer_name",
        "AMCTPytorchProto.AMCTConfig.skip_layers",
        "AMCTPytorchProto.AMCTConfig.skip_fusion_layers",
        "AMCTPytorchProto.OverrideLayer.layer_name",
        "AMCTPytorchProto.AMCTRetrainConfig.skip_layers",
        "AMCTPytorchProto.AMCTRetrainConfig.quant_skip_layers",
        "AMCTPytorchProto.AMCTRetrainConfig.regular_prune_skip_layers",
        "AMCTPytorchProto.RetrainOverrideLayer.layer_name",
        "AMCTPytorchDistillProto.AMCTDistillConfig.quant_skip_layers",
        "AMCTPytorchDistillProto.DistillOverrideLayer.layer_name",
        "AMCTPytorchDistillProto.DistillGroup.start_layer_name",
        "AMCTPytorchDistillProto.DistillGroup.end_layer_name",
    }
)
#: Messages whose fields choose and parametrise an activation algorithm (full names).
ALGORITHM_MESSAGES = frozenset(
    {
        "AMCTPytorchQuantCaliProto.FMRQuantize",
        "AMCTPytorchQuantCaliProto.HFMGQuantize",
        "AMCTPytorchProto.FMRQuantize",
        "AMCTPytorchProto.HFMGQuantize",
    }
)
#: Symbols nested deeper than this are left out of the outline (garbage can nest forever).
MAX_SYMBOL_DEPTH = 32

_WORD_BEFORE = re.compile(r"[A-Za-z0-9_.+\-]*\Z")
_WORD_AFTER = re.compile(r"[A-Za-z0-9_.+\-]*")
_NAME_BEFORE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*\Z")
#: an extension or Any name being typed: `[pkg.ex`, `[type.googleapis.com/pkg.`
_BRACKET_BEFORE = re.compile(r"\[[A-Za-z0-9_.+\-/ \t]*\Z")
_BRACKET_AFTER = re.compile(r"[A-Za-z0-9_.+\-/]*(?:[ \t]*\])?")


# -- what is at an offset -----------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A message around an offset: its node, its descriptor (None under an unknown field)
    and the field whose value it is (None for the document itself)."""

    message: Message
    descriptor: Descriptor | None
    field: Field | None = None

    @property
    def name(self) -> str | None:
        return self.descriptor.name if self.descriptor is not None else None


TargetKind = Literal["field", "value", "layer", "none"]


@dataclass(frozen=True)
class Target:
    """What an offset points at.

    ``kind`` is ``field`` on a field name, ``value`` on a scalar value, ``layer`` on a
    string that names a layer (``layer`` holds the name), ``none`` elsewhere.
    ``scopes`` are the enclosing messages, outermost (the document) first.
    """

    kind: TargetKind
    scopes: tuple[Scope, ...]
    field: Field | None = None
    field_descriptor: FieldDescriptor | None = None
    node: Scalar | None = None
    start: int = 0
    end: int = 0
    layer: str | None = None
    in_list: bool = False

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]


def _body_contains(message: Message, offset: int, text_end: int) -> bool:
    """Whether *offset* lies between a block's brackets (an unclosed block runs to the end)."""
    if message.open is None:
        return True
    end = message.close.start if message.close is not None else text_end
    return message.open.end <= offset <= end


def _field_descriptor(desc: Descriptor | None, fld: Field, schema: Schema | None = None) -> FieldDescriptor | None:
    """The field *fld* names in *desc*: by name, a group by its type name, an extension by
    its full name."""
    if desc is None:
        return None
    name = fld.name
    if name.kind == "plain":
        fd = desc.fields_by_name.get(name.text)
        if fd is None:
            lower = desc.fields_by_name.get(name.text.lower())
            if lower is not None and lower.message_type is not None and lower.message_type.name == name.text:
                fd = lower
        return fd
    if name.kind == "extension" and schema is not None:
        ext = schema.set.find_extension(name.text[1:-1])
        # (an extension's containing_type is the message it extends: never None)
        if ext is not None and ext.containing_type is not None and ext.containing_type.full_name == desc.full_name:
            return ext
    return None


def _child_descriptor(
    desc: Descriptor | None, fld: Field, fd: FieldDescriptor | None, schema: Schema | None
) -> Descriptor | None:
    """The message a block of *fld* holds: its field's type, or an Any's payload type."""
    if fd is not None:
        return fd.message_type
    if fld.name.kind == "any" and schema is not None and desc is not None and desc.full_name == "google.protobuf.Any":
        return schema.set.find_message(fld.name.text[1:-1].rpartition("/")[2])
    return None


def _root(analysis: Analysis) -> Descriptor | None:
    return analysis.schema.root if analysis.schema is not None else None


def _decoded(node: Scalar) -> str | None:
    if node.kind != "string" or node.decoded is None:
        return None
    return node.decoded.decode("utf-8", errors="replace")


def is_layer_field(fd: FieldDescriptor | None) -> bool:
    return fd is not None and fd.full_name in LAYER_FIELDS


def target_at(analysis: Analysis, offset: int) -> Target:
    """What is at *offset*: ends are inclusive, so a cursor right after a word is on it."""
    text_end = len(analysis.text)
    schema = analysis.schema
    scopes = [Scope(analysis.parsed.tree, _root(analysis))]
    while True:
        scope = scopes[-1]
        descended = False
        for fld in scope.message.fields:
            if fld.start > offset:
                break
            fd = _field_descriptor(scope.descriptor, fld, schema)
            if fld.name.start <= offset <= fld.name.end:
                return Target("field", tuple(scopes), fld, fd, start=fld.name.start, end=fld.name.end)
            values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
            for value in values:
                found = _value_target(value, offset, tuple(scopes), fld, fd, isinstance(fld.value, ListValue))
                if found is not None:
                    return found
                if isinstance(value, Message) and _body_contains(value, offset, text_end):
                    child = _child_descriptor(scope.descriptor, fld, fd, schema)
                    scopes.append(Scope(value, child, fld))
                    descended = True
                    break
            if descended:
                break
            if isinstance(fld.value, ListValue) and fld.value.start < offset <= fld.value.end:
                return Target("none", tuple(scopes), fld, fd, start=offset, end=offset, in_list=True)
        if not descended:
            return Target("none", tuple(scopes), start=offset, end=offset)


def _value_target(
    value: Value, offset: int, scopes: tuple[Scope, ...], fld: Field, fd: FieldDescriptor | None, in_list: bool
) -> Target | None:
    if not isinstance(value, Scalar) or value.kind == "missing":
        return None
    if not value.start <= offset <= value.end:
        return None
    name = _decoded(value) if is_layer_field(fd) else None
    kind: TargetKind = "layer" if name is not None else "value"
    return Target(kind, scopes, fld, fd, value, value.start, value.end, name, in_list)


# -- completion ---------------------------------------------------------------------------

CompletionKind = Literal["field", "value", "none"]


@dataclass(frozen=True)
class CompletionContext:
    """What a completion at a cursor should offer.

    ``kind`` ``field``: names of fields of ``scope`` (``present`` are the ones already set
    there, the one being typed excluded); ``value``: values of ``field_descriptor``.
    ``replace`` is the span a completion replaces (the word or string being typed);
    ``quote`` is the quote character when the cursor is inside a string; ``followed``
    means the name is already followed by ``:`` or a block, so only the name is inserted;
    ``after_colon`` means a value is typed right after ``:`` with no space.
    """

    kind: CompletionKind
    scope: Scope
    replace: tuple[int, int]
    prefix: str = ""
    field_descriptor: FieldDescriptor | None = None
    present: frozenset[str] = frozenset()
    present_values: tuple[str, ...] = ()
    quote: str | None = None
    followed: bool = False
    after_colon: bool = False
    #: an extension or Any name is typed (`[pkg.ex`): ``replace`` spans its brackets
    bracketed: bool = False


def completion_context(analysis: Analysis, offset: int) -> CompletionContext:
    text = analysis.text
    offset = min(max(offset, 0), len(text))
    target = target_at(analysis, offset)
    scope = target.scope
    present = _present(scope.message, exclude=target.field if target.kind == "field" else None)
    if any(c.start < offset <= c.end for c in analysis.parsed.comments):
        return CompletionContext("none", scope, (offset, offset))
    node = target.node
    if node is not None and node.kind == "string" and node.start < offset and (offset < node.end or not _closed(node)):
        values = _values_in(scope.message, target.field_descriptor, exclude=node)
        return CompletionContext(
            "value",
            scope,
            (node.start, node.end),
            text[node.start + 1 : offset],
            target.field_descriptor,
            present,
            values,
            quote=text[node.start],
        )
    line_start = text.rfind("\n", 0, offset) + 1
    word = _WORD_BEFORE.search(text, line_start, offset)
    start = word.start() if word else offset
    after = _WORD_AFTER.match(text, offset)
    end = after.end() if after is not None else offset  # (it matches an empty word too: never None)
    before = text[:start].rstrip()
    prev = before[-1:] if before else ""
    if prev == ":" or target.in_list or (prev in "[," and _in_list_of(scope.message, offset)):
        fd = target.field_descriptor
        if fd is None and prev == ":":
            name = _NAME_BEFORE.search(before, 0, len(before) - 1)
            fd = scope.descriptor.fields_by_name.get(name.group(1)) if name and scope.descriptor else None
        values = _values_in(scope.message, fd, exclude=node)
        return CompletionContext(
            "value",
            scope,
            (start, end),
            text[start:offset],
            fd,
            present,
            values,
            after_colon=text[start - 1 : start] == ":",
        )
    bracket = _BRACKET_BEFORE.search(text, line_start, offset)
    bracketed = bracket is not None and text[: bracket.start()].rstrip()[-1:] not in (":", ",", "[")
    if bracket is not None and bracketed:  # the whole `[...]` is replaced
        closing = _BRACKET_AFTER.match(text, offset)
        start, end = bracket.start(), closing.end() if closing is not None else offset
    rest = text[end : end + 200].lstrip()
    followed = rest[:1] in (":", "{", "<")
    return CompletionContext(
        "field", scope, (start, end), text[start:offset], None, present, followed=followed, bracketed=bracketed
    )


def _closed(node: Scalar) -> bool:
    return len(node.text) >= 2 and node.text[-1] == node.text[0] and node.text[-2:-1] != "\\"


def _present(message: Message, exclude: Field | None) -> frozenset[str]:
    return frozenset(f.name.text for f in message.fields if f is not exclude and f.name.kind == "plain")


def _values_in(message: Message, fd: FieldDescriptor | None, exclude: Scalar | None) -> tuple[str, ...]:
    """The decoded string values of *fd* already written in *message* (layer names)."""
    if fd is None:
        return ()
    out = []
    for fld in message.find(fd.name):
        items = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
        out += [v for item in items if isinstance(item, Scalar) and item is not exclude and (v := _decoded(item))]
    return tuple(out)


def _in_list_of(message: Message, offset: int) -> bool:
    return any(isinstance(f.value, ListValue) and f.value.start < offset <= f.value.end for f in message.fields)


def field_candidates(context: CompletionContext) -> list[FieldDescriptor]:
    """The fields that may still be written in the context's message, in schema order:
    non-repeated fields already set and the other members of a set oneof are left out."""
    desc = context.scope.descriptor
    if desc is None or context.kind != "field":
        return []
    out = []
    for fd in desc.fields:
        if not fd.is_repeated and fd.name in context.present:
            continue
        oneof = fd.containing_oneof
        if oneof is not None and any(o.name in context.present for o in oneof.fields if o is not fd):
            continue
        out.append(fd)
    return out


ChoiceKind = Literal["enum", "bool", "number", "layer", "block", "default"]


@dataclass(frozen=True)
class ValueChoice:
    """A value to offer: ``text`` as it is inserted, ``doc`` the schema name documenting it."""

    text: str
    kind: ChoiceKind
    doc: str | None = None
    preferred: bool = False


def value_candidates(context: CompletionContext, layers: Collection[str] = ()) -> list[ValueChoice]:
    """The values that fit the field the context expects a value for."""
    fd = context.field_descriptor
    if fd is None or context.kind != "value":
        return []
    default = default_text(fd)
    if fd.message_type is not None:
        return [ValueChoice("{ }", "block")]
    enum = fd.enum_type  # (set exactly for enum fields)
    if enum is not None:
        return [ValueChoice(v.name, "enum", f"{enum.full_name}.{v.name}", v.name == default) for v in enum.values]
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return [ValueChoice(w, "bool", preferred=w == default) for w in ("true", "false")]
    owner = fd.containing_type  # (a field's message: never None)
    if owner is not None and (owner.name, fd.name) == ("HFMGQuantize", "num_of_bins"):
        return [ValueChoice(str(n), "number", preferred=str(n) == default) for n in ALLOWED_NUM_OF_BINS]
    if is_layer_field(fd):
        taken = set(context.present_values) if fd.is_repeated else set()
        return [ValueChoice(name, "layer") for name in layers if name not in taken]
    if default is not None:
        return [ValueChoice(default, "default", preferred=True)]
    return []


# -- outline, folding, tokens ----------------------------------------------------------------

SymbolKind = Literal["message", "field", "layer"]


@dataclass(frozen=True)
class Symbol:
    """An outline entry: a block, a scalar field or a layer name, with its children."""

    name: str
    kind: SymbolKind
    detail: str
    start: int
    end: int
    selection_start: int
    selection_end: int
    children: tuple[Symbol, ...] = ()


def document_symbols(analysis: Analysis) -> list[Symbol]:
    """The outline: blocks with their fields; ``quant_layers`` entries and overrides are
    named by their layer."""
    text = analysis.text
    return _symbols(analysis.parsed.tree, _root(analysis), text, 0, analysis.schema)


def _symbols(message: Message, desc: Descriptor | None, text: str, depth: int, schema: Schema | None) -> list[Symbol]:
    out: list[Symbol] = []
    for fld in message.fields:
        fd = _field_descriptor(desc, fld, schema)
        values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
        for value in values:
            if isinstance(value, Message):
                children: tuple[Symbol, ...] = ()
                if depth < MAX_SYMBOL_DEPTH:
                    child = _child_descriptor(desc, fld, fd, schema)
                    children = tuple(_symbols(value, child, text, depth + 1, schema))
                detail = _message_detail(value, fd)
                start, end = (fld.start, fld.end) if len(values) == 1 else (value.start, value.end)
                out.append(Symbol(fld.name.text, "message", detail, start, end, fld.name.start, fld.name.end, children))
            elif isinstance(value, Scalar) and value.kind != "missing":
                layer = _decoded(value) if is_layer_field(fd) else None
                if layer is not None:
                    out.append(
                        Symbol(layer or "''", "layer", fld.name.text, fld.start, fld.end, value.start, value.end)
                    )
                else:
                    out.append(
                        Symbol(
                            fld.name.text,
                            "field",
                            text[value.start : value.end],
                            fld.start,
                            fld.end,
                            fld.name.start,
                            fld.name.end,
                        )
                    )
    return out


def _message_detail(message: Message, fd: FieldDescriptor | None) -> str:
    """A block's one-line summary: the layer an override names, or the algorithm chosen."""
    if fd is None:
        return ""
    for inner in message.fields:
        if inner.name.text == "layer_name" and isinstance(inner.value, Scalar):
            return _decoded(inner.value) or ""
        if inner.name.text in ("ifmr_quantize", "hfmg_quantize"):
            return inner.name.text
    return ""


FoldKind = Literal["region", "comment"]


@dataclass(frozen=True)
class Fold:
    """A foldable range: from ``start`` (the opening bracket or first comment) to ``end``
    (the closing bracket, or the start of the last comment line)."""

    start: int
    end: int
    kind: FoldKind


def folding_ranges(analysis: Analysis) -> list[Fold]:
    text = analysis.text
    out: list[Fold] = []
    for fld, _depth in walk_fields(analysis.parsed.tree):
        values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
        if isinstance(fld.value, ListValue) and "\n" in text[fld.value.start : fld.value.end]:
            out.append(Fold(fld.value.start, fld.value.end - 1, "region"))
        for value in values:
            if (
                isinstance(value, Message)
                and value.open is not None
                and value.close is not None
                and "\n" in text[value.open.start : value.close.start]
            ):
                out.append(Fold(value.open.start, value.close.start, "region"))
    run: list[int] = []
    for comment in analysis.parsed.comments:
        if run and comment.own_line and text.count("\n", run[-1], comment.start) == 1:
            run.append(comment.start)
            continue
        if len(run) > 1:
            out.append(Fold(run[0], run[-1], "comment"))
        run = [comment.start] if comment.own_line else []
    if len(run) > 1:
        out.append(Fold(run[0], run[-1], "comment"))
    out.sort(key=lambda f: (f.start, -f.end))
    return out


TokenKind = Literal["field", "message", "enum", "bool", "number", "string", "layer", "comment"]


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    kind: TokenKind


def tokens(analysis: Analysis) -> list[Token]:
    """Every name, value and comment with its class, in document order. Names of fields the
    schema does not know get no token (an editor's plain colouring marks them)."""
    out: list[Token] = [Token(c.start, c.end, "comment") for c in analysis.parsed.comments]
    schema = analysis.schema
    pending: list[tuple[Message, Descriptor | None]] = [(analysis.parsed.tree, _root(analysis))]
    while pending:
        message, desc = pending.pop()
        for fld in message.fields:
            fd = _field_descriptor(desc, fld, schema)
            if fd is not None:
                kind: TokenKind = "message" if fd.message_type is not None else "field"
                out.append(Token(fld.name.start, fld.name.end, kind))
            values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
            for value in values:
                if isinstance(value, Message):
                    pending.append((value, _child_descriptor(desc, fld, fd, schema)))
                elif isinstance(value, Scalar) and value.kind != "missing":
                    value_kind = _value_kind(value, fd)
                    if value_kind is not None:
                        out.append(Token(value.start, value.end, value_kind))
    out.sort(key=lambda t: t.start)
    return out


def _value_kind(value: Scalar, fd: FieldDescriptor | None) -> TokenKind | None:
    if value.kind == "string":
        return "layer" if is_layer_field(fd) else "string"
    if value.kind == "number":
        return "number"
    if fd is not None and fd.type == FieldDescriptor.TYPE_ENUM:
        return "enum"
    if value.text in BOOL_WORDS:
        return "bool"
    return "number" if value.text.lower() in ("inf", "infinity", "nan") else None


# -- defaults that apply where a field is omitted -------------------------------------------


@dataclass(frozen=True)
class DefaultHint:
    """The defaults in force in one block: ``(field, value as text)`` pairs, shown at
    ``offset`` (after the block's opening bracket; before the first field for the file)."""

    offset: int
    items: tuple[tuple[str, str], ...]
    at_start: bool = False


def default_hints(analysis: Analysis) -> list[DefaultHint]:
    """For every block of a known message: its omitted fields and the values that apply."""
    tree = analysis.parsed.tree
    root, schema = _root(analysis), analysis.schema
    if root is None or analysis.root is None:
        return []
    has_offset = "activation_offset" in root.fields_by_name
    inherited = ("true" if analysis.root.value("activation_offset") else "false") if has_offset else None
    out: list[DefaultHint] = []
    first = tree.fields[0].start if tree.fields else len(analysis.text)
    items = _omitted(tree, root, inherited)
    if items:
        out.append(DefaultHint(first, items, at_start=True))
    pending: list[tuple[Message, Descriptor | None]] = [(tree, root)]
    while pending:
        message, desc = pending.pop()
        for fld in message.fields:
            fd = _field_descriptor(desc, fld, schema)
            child = _child_descriptor(desc, fld, fd, schema)
            values = fld.value.items if isinstance(fld.value, ListValue) else (fld.value,)
            for value in values:
                if not isinstance(value, Message) or child is None:
                    continue
                pending.append((value, child))
                items = _omitted(value, child, inherited)
                if items and value.open is not None:
                    out.append(DefaultHint(value.open.end, items))
    out.sort(key=lambda h: h.offset)
    return out


_KV_CALIBRATION = "AMCTPytorchQuantCaliProto.CalibrationConfig"


def _omitted(message: Message, desc: Descriptor, inherited_offset: str | None) -> tuple[tuple[str, str], ...]:
    present = _present(message, exclude=None)
    items: list[tuple[str, str]] = []
    if desc.full_name == _KV_CALIBRATION and not present & {"ifmr_quantize", "hfmg_quantize"}:
        return (("ifmr_quantize", "defaults"),)
    for fd in desc.fields:
        if fd.name in present or fd.is_repeated:
            continue
        if fd.message_type is not None:
            if fd.message_type.full_name == _KV_CALIBRATION and desc.name != "AMCTQuantCaliConfig":
                items.append((fd.name, "IFMR defaults"))
            continue
        text = default_text(fd)
        if text is None and fd.name == "asymmetric" and desc.full_name in ALGORITHM_MESSAGES and inherited_offset:
            text = f"{inherited_offset} (activation_offset)"
        if text is not None:
            items.append((fd.name, text))
    return tuple(items)


# -- layers: overrides and their quant_layers entries ---------------------------------------

LayerRole = Literal["quant_layers", "override"]


@dataclass(frozen=True)
class LayerRef:
    """One place a layer is named: a ``quant_layers`` entry or an override's ``layer_name``."""

    name: str
    role: LayerRole
    start: int
    end: int


def layer_refs(analysis: Analysis) -> list[LayerRef]:
    """Every well-typed layer name in the config, in document order."""
    out: list[LayerRef] = []
    if analysis.root is None or analysis.family != "kv":
        return out
    for occ in analysis.root.all("kv_cache_quant_config"):
        out += [LayerRef(o.value, "quant_layers", o.node.start, o.node.end) for o in occ.value.all("quant_layers")]
    for occ in analysis.root.all("override_layers_configs"):
        out += [LayerRef(o.value, "override", o.node.start, o.node.end) for o in occ.value.all("layer_name")]
    out.sort(key=lambda r: r.start)
    return out


def layer_ref_at(analysis: Analysis, offset: int) -> LayerRef | None:
    return next((r for r in layer_refs(analysis) if r.start <= offset <= r.end), None)


def layer_definitions(analysis: Analysis, offset: int) -> list[LayerRef]:
    """From an override's ``layer_name`` to the layer's ``quant_layers`` entry, and back."""
    here = layer_ref_at(analysis, offset)
    if here is None:
        return []
    return [r for r in layer_refs(analysis) if r.name == here.name and r.role != here.role]


def layer_references(analysis: Analysis, offset: int, include_self: bool = True) -> list[LayerRef]:
    """Every place that names the layer at *offset*."""
    here = layer_ref_at(analysis, offset)
    if here is None:
        return []
    return [r for r in layer_refs(analysis) if r.name == here.name and (include_self or r != here)]


# -- the schema's declarations ----------------------------------------------------------------


def declaration_name(analysis: Analysis, offset: int) -> str | None:
    """The full name of the schema declaration at *offset*, for go to definition: the field
    a name refers to, the enum value a value names, the message an ``Any`` payload names, or
    the message a ``# proto-message:`` header names."""
    schema = analysis.schema
    if schema is None:
        return None
    header = analysis.resolution.header
    if header is not None and header.message is not None and header.message.line_start <= offset <= header.message.end:
        return schema.name
    target = target_at(analysis, offset)
    fd = target.field_descriptor
    if target.kind == "field" and target.field is not None:
        if fd is not None:
            return fd.full_name
        if target.field.name.kind == "any":
            child = _child_descriptor(target.scope.descriptor, target.field, None, schema)
            return child.full_name if child is not None else None
        return None
    if target.kind == "value" and fd is not None and fd.enum_type is not None and target.node is not None:
        text = target.node.text
        value = fd.enum_type.values_by_name.get(text)
        if value is None and text.isdigit():
            value = fd.enum_type.values_by_number.get(int(text))
        return f"{fd.enum_type.full_name}.{value.name}" if value is not None else fd.enum_type.full_name
    return None
