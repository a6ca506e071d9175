"""Completion items for a cursor: field names that may still be written there, values that
fit the field (enum names, true/false, the four num_of_bins, layer names from the sample
data), and whole-block snippets."""

from __future__ import annotations

from collections.abc import Collection

from google.protobuf.descriptor import FieldDescriptor
from lsprotocol import types

from kvcal.grammar import schema
from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.navigation import (
    CompletionContext,
    ValueChoice,
    completion_context,
    field_candidates,
    value_candidates,
)
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.convert import lsp_range
from kvcal.server.lsp.hover import field_markdown

_K = types.CompletionItemKind
_VALUE_KIND = {"enum": _K.EnumMember, "bool": _K.Keyword, "number": _K.Value, "layer": _K.Reference,
               "block": _K.Struct, "default": _K.Value}  # fmt: skip

_COMMON_BLOCK = (
    "kv_cache_quant_config {\n\tquant_layers: '${1:%s}'\n\tcalibration_config {\n"
    "\t\t${2|hfmg_quantize,ifmr_quantize|} {\n\t\t\t$0\n\t\t}\n\t}\n}"
)
_OVERRIDE_BLOCK = (
    "override_layers_configs {\n\tlayer_name: '${1:%s}'\n\tkv_data_quant_config {\n"
    "\t\t${2|ifmr_quantize,hfmg_quantize|} {\n\t\t\t$0\n\t\t}\n\t}\n}"
)


def completion_items(analysis: Analysis, index: LineIndex, offset: int, *, layers: Collection[str] = (),
                     snippets: bool = False, locale: str | None = None,
                     markdown: bool = True) -> list[types.CompletionItem]:  # fmt: skip
    ctx = completion_context(analysis, offset)
    doc_kind = types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText
    rng = lsp_range(index, *ctx.replace)
    if ctx.kind == "field":
        items = [_field_item(fd, ctx, rng, index, snippets, locale, doc_kind) for fd in field_candidates(ctx)]
        if snippets and ctx.scope.descriptor is not None and ctx.scope.field is None:
            items += _block_snippets(ctx, rng, layers)
        return items
    if ctx.kind == "value":
        return [_value_item(choice, ctx, rng, i, locale, doc_kind)
                for i, choice in enumerate(value_candidates(ctx, layers))]  # fmt: skip
    return []


def _field_item(fd: FieldDescriptor, ctx: CompletionContext, rng: types.Range, index: LineIndex,
                snippets: bool, locale: str | None, doc_kind: types.MarkupKind) -> types.CompletionItem:  # fmt: skip
    is_message = fd.type == FieldDescriptor.TYPE_MESSAGE
    fmt = types.InsertTextFormat.PlainText
    if ctx.followed:
        text = fd.name
    elif is_message and snippets:
        text, fmt = f"{fd.name} {{\n\t$0\n}}", types.InsertTextFormat.Snippet
    elif is_message:
        line_start = index.line_start(index.position(ctx.replace[0])[0])
        indent = index.text[line_start : ctx.replace[0]]
        indent = indent if not indent.strip() else ""
        text = f"{fd.name} {{\n{indent}}}"
    else:
        text = f"{fd.name}: "
    return types.CompletionItem(
        label=fd.name,
        kind=_K.Module if is_message else _K.Field,
        detail=f"{schema.label(fd)} {schema.type_name(fd)}",
        documentation=types.MarkupContent(kind=doc_kind, value=field_markdown(fd, locale)),
        text_edit=types.TextEdit(range=rng, new_text=text),
        insert_text_format=fmt,
        insert_text_mode=types.InsertTextMode.AdjustIndentation if fmt == types.InsertTextFormat.Snippet else None,
        filter_text=fd.name,
        sort_text=f"{fd.number:04d}",
    )


def _value_item(choice: ValueChoice, ctx: CompletionContext, rng: types.Range, i: int,
                locale: str | None, doc_kind: types.MarkupKind) -> types.CompletionItem:  # fmt: skip
    text = choice.text
    filter_text = None
    if choice.kind == "layer":
        quote = ctx.quote or "'"
        escaped = text.replace("\\", "\\\\").replace(quote, "\\" + quote)
        text = filter_text = f"{quote}{escaped}{quote}"
    if ctx.after_colon:
        text = " " + text
    doc = schema.doc(choice.doc).text(locale) if choice.doc else ""
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
            label=label, kind=_K.Snippet, detail=detail,
            text_edit=types.TextEdit(range=rng, new_text=body),
            insert_text_format=types.InsertTextFormat.Snippet,
            insert_text_mode=types.InsertTextMode.AdjustIndentation,
            filter_text=label.split()[0], sort_text=f"zz{i}",
        )
        for i, (label, body, detail) in enumerate(blocks)
    ]  # fmt: skip
