"""Completion items for a cursor: field names that may still be written there, values that
fit the field (enum names, true/false, the four num_of_bins, layer names from the sample
data), and whole-block snippets."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf.descriptor import FieldDescriptor
from lsprotocol import types

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.navigation import (
    CompletionContext,
    ValueChoice,
    completion_context,
    field_candidates,
    value_candidates,
)
from kvcal.grammar.schema import declared
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.convert import lsp_range
from kvcal.server.lsp.hover import field_markdown

_K = types.CompletionItemKind
_VALUE_KIND = {
    "enum": _K.EnumMember,
    "bool": _K.Keyword,
    "number": _K.Value,
    "layer": _K.Reference,
    "block": _K.Struct,
    "default": _K.Value,
}

_COMMON_BLOCK = (
    "kv_cache_quant_config {\n\tquant_layers: '${1:%s}'\n\tcalibration_config {\n"
    "\t\t${2|hfmg_quantize,ifmr_quantize|} {\n\t\t\t$0\n\t\t}\n\t}\n}"
)
_OVERRIDE_BLOCK = (
    "override_layers_configs {\n\tlayer_name: '${1:%s}'\n\tkv_data_quant_config {\n"
    "\t\t${2|ifmr_quantize,hfmg_quantize|} {\n\t\t\t$0\n\t\t}\n\t}\n}"
)


def completion_items(
    analysis: Analysis,
    index: LineIndex,
    offset: int,
    *,
    layers: Collection[str] = (),
    snippets: bool = False,
    locale: str | None = None,
    markdown: bool = True,
) -> list[types.CompletionItem]:
    ctx = completion_context(analysis, offset)
    doc_kind = types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText
    rng = lsp_range(index, *ctx.replace)
    if ctx.kind == "field" and ctx.bracketed:  # `[pkg.ex`: extensions or Any payload types only
        return _bracketed_items(analysis, ctx, rng)
    if ctx.kind == "field":
        items = [_field_item(fd, ctx, rng, index, snippets, locale, doc_kind, analysis) for fd in field_candidates(ctx)]
        if snippets and ctx.scope.descriptor is not None and ctx.scope.field is None and analysis.family == "kv":
            items += _block_snippets(ctx, rng, layers)
        items += _bracketed_items(analysis, ctx, rng)
        return items
    if ctx.kind == "value":
        return [
            _value_item(choice, ctx, rng, i, locale, doc_kind, analysis)
            for i, choice in enumerate(value_candidates(ctx, layers))
        ]
    return []


def _field_item(
    fd: FieldDescriptor,
    ctx: CompletionContext,
    rng: types.Range,
    index: LineIndex,
    snippets: bool,
    locale: str | None,
    doc_kind: types.MarkupKind,
    analysis: Analysis,
) -> types.CompletionItem:
    is_message = fd.message_type is not None
    fmt = types.InsertTextFormat.PlainText
    name = _written(fd)
    if ctx.followed:
        text = name
    elif is_message and snippets:
        text, fmt = f"{name} {{\n\t$0\n}}", types.InsertTextFormat.Snippet
    elif is_message:
        line_start = index.line_start(index.position(ctx.replace[0])[0])
        indent = index.text[line_start : ctx.replace[0]]
        indent = indent if not indent.strip() else ""
        text = f"{name} {{\n{indent}}}"
    else:
        text = f"{name}: "
    return types.CompletionItem(
        label=name,
        kind=_K.Module if is_message else _K.Field,
        detail=declared(fd),
        documentation=types.MarkupContent(
            kind=doc_kind, value=field_markdown(fd, locale, analysis.schema, analysis.family)
        ),
        text_edit=types.TextEdit(range=rng, new_text=text),
        insert_text_format=fmt,
        insert_text_mode=types.InsertTextMode.AdjustIndentation if fmt == types.InsertTextFormat.Snippet else None,
        filter_text=name,
        sort_text=f"{fd.number:04d}" if fd.number < 10000 else f"9{fd.number}",
    )


def _bracketed_items(analysis: Analysis, ctx: CompletionContext, rng: types.Range) -> list[types.CompletionItem]:
    """``[type.googleapis.com/pkg.Msg]`` in a google.protobuf.Any, ``[pkg.ext]`` in an
    extendable message."""
    desc, schema = ctx.scope.descriptor, analysis.schema
    if desc is None or schema is None:
        return []
    if desc.full_name == "google.protobuf.Any":
        names = [n for n in schema.set.message_names() if not n.startswith("google.protobuf.")]
        return [
            types.CompletionItem(
                label=f"[type.googleapis.com/{n}]",
                kind=_K.Class,
                detail="Any payload",
                text_edit=types.TextEdit(
                    range=rng, new_text=f"[type.googleapis.com/{n}]" + ("" if ctx.followed else " {}")
                ),
                filter_text=f"[type.googleapis.com/{n}]",
                sort_text=f"y{i:04d}",
            )
            for i, n in enumerate(names)
        ]
    if not desc.is_extendable:
        return []
    try:
        extensions = schema.set.pool.FindAllExtensions(desc)
    except (KeyError, TypeError):  # pragma: no cover - a pool without extension support
        return []
    return [
        types.CompletionItem(
            label=f"[{x.full_name}]",
            kind=_K.Field,
            detail=f"extension · {declared(x)}",
            text_edit=types.TextEdit(
                range=rng,
                new_text=f"[{x.full_name}]" + ("" if ctx.followed else " {}" if x.message_type else ": "),
            ),
            filter_text=f"[{x.full_name}]",
            sort_text=f"y{i:04d}",
        )
        for i, x in enumerate(extensions)
    ]


def _written(fd: FieldDescriptor) -> str:
    """How the text format writes a field: a proto2 group by its type name."""
    t = fd.message_type
    if fd.type == FieldDescriptor.TYPE_GROUP and t is not None and fd.name == t.name.lower():
        return t.name
    return fd.name


def _value_item(
    choice: ValueChoice,
    ctx: CompletionContext,
    rng: types.Range,
    i: int,
    locale: str | None,
    doc_kind: types.MarkupKind,
    analysis: Analysis,
) -> types.CompletionItem:
    text = choice.text
    filter_text = None
    if choice.kind == "layer":
        quote = ctx.quote or "'"
        escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
        text = filter_text = f"{quote}{escaped}{quote}"
    if ctx.after_colon:
        text = " " + text
    doc = analysis.schema.doc(choice.doc).text(locale) if choice.doc and analysis.schema is not None else ""
    return types.CompletionItem(
        label=choice.text,
        kind=_VALUE_KIND[choice.kind],
        detail={"default": "default", "layer": "layer in the sample data"}.get(choice.kind),
        documentation=types.MarkupContent(kind=doc_kind, value=doc) if doc else None,
        text_edit=types.TextEdit(range=rng, new_text=text),
        filter_text=filter_text,
        preselect=choice.preferred or None,
        sort_text=f"{i:04d}",
    )


def _block_snippets(ctx: CompletionContext, rng: types.Range, layers: Collection[str]) -> list[types.CompletionItem]:
    layer = next(iter(layers), "LAYER").replace("$", "\\$").replace("}", "\\}")
    blocks = [("override_layers_configs block", _OVERRIDE_BLOCK % layer, "an override for one layer")]
    if "kv_cache_quant_config" not in ctx.present:
        blocks.insert(0, ("kv_cache_quant_config block", _COMMON_BLOCK % layer, "the common config and its layers"))
    return [
        types.CompletionItem(
            label=label,
            kind=_K.Snippet,
            detail=detail,
            text_edit=types.TextEdit(range=rng, new_text=body),
            insert_text_format=types.InsertTextFormat.Snippet,
            insert_text_mode=types.InsertTextMode.AdjustIndentation,
            filter_text=label.split()[0],
            sort_text=f"zz{i}",
        )
        for i, (label, body, detail) in enumerate(blocks)
    ]
