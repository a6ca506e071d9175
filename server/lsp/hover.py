"""Hover text: a field's documentation, whether a value is valid and why, and the
effective plan of a layer. Markdown; English, or Chinese for a ``zh*`` client locale
(the documentation comes from the .proto in both languages)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor

from kvcal.grammar.checks import families
from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.checks.effective import Row, effective_rows
from kvcal.grammar.navigation import Target, layer_refs, target_at
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.problems import excerpt
from kvcal.grammar.schema import Schema, declared, default_text, shortest_float32
from kvcal.grammar.text import LineIndex

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "type": "type",
        "default": "default",
        "allowed": "allowed",
        "in": "in",
        "oneof": "one of",
        "valid": "Valid",
        "layer": "Layer",
        "algorithm": "algorithm",
        "granularity": "granularity",
        "quantization": "quantization",
        "asymmetric": "asymmetric (with offset)",
        "symmetric": "symmetric (no offset)",
        "decided": "decided by",
        "config": "config from",
        "batch_num": "batch_num",
        "parameters": "parameters",
        "result": "last calibration",
        "src.override": "this layer's override (line {line})",
        "src.common": "kv_cache_quant_config.calibration_config",
        "src.default": "nothing configured: IFMR with AMCT's defaults",
        "off.override": "`asymmetric` in this layer's override",
        "off.common": "`asymmetric` in kv_cache_quant_config",
        "off.activation_offset": "`activation_offset`",
        "off.default": "default (`activation_offset` is not set: true)",
        "unset": "(unset: inherits activation_offset)",
        "amct": "AMCT reads it as",
        "also": "also named at line {lines}",
    },
    "zh": {
        "type": "类型",
        "default": "默认值",
        "allowed": "取值",
        "in": "范围",
        "oneof": "二选一",
        "valid": "有效",
        "layer": "层",
        "algorithm": "算法",
        "granularity": "量化粒度",
        "quantization": "量化方式",
        "asymmetric": "非对称（带 offset）",
        "symmetric": "对称（无 offset）",
        "decided": "决定于",
        "config": "配置来源",
        "batch_num": "batch_num",
        "parameters": "参数",
        "result": "最近一次校准",
        "src.override": "该层的 override（第 {line} 行）",
        "src.common": "kv_cache_quant_config.calibration_config",
        "src.default": "未配置算法：IFMR 默认参数",
        "off.override": "该层 override 中的 `asymmetric`",
        "off.common": "kv_cache_quant_config 中的 `asymmetric`",
        "off.activation_offset": "`activation_offset`",
        "off.default": "默认（未设置 `activation_offset`：true）",
        "unset": "（未设置：继承 activation_offset）",
        "amct": "AMCT 读取为",
        "also": "另见第 {lines} 行",
    },
}


def labels(locale: str | None) -> Mapping[str, str]:
    return _LABELS["zh" if locale and locale.lower().startswith("zh") else "en"]


@dataclass(frozen=True)
class HoverText:
    markdown: str
    start: int
    end: int


def hover_text(
    analysis: Analysis,
    index: LineIndex,
    offset: int,
    *,
    locale: str | None,
    plans: list[LayerPlan],
    results: Mapping[str, str] | None = None,
) -> HoverText | None:
    header = header_hover(analysis, offset, locale)
    if header is not None:
        return header
    row = next((r for r in effective_rows(analysis) if r.span and r.span[0] <= offset <= r.span[1]), None)
    if row is not None and row.span is not None and analysis.family != "kv":
        return HoverText(row_markdown(row, locale), *row.span)
    target = target_at(analysis, offset)
    if target.kind == "field" and target.field_descriptor is not None:
        text = field_markdown(target.field_descriptor, locale, analysis.schema, analysis.family)
        if len(target.scopes) == 1 and analysis.resolution.how == "content":
            text += "\n\n---\n" + schema_line(analysis, locale)
        return HoverText(text, target.start, target.end)
    if target.kind == "field" and target.field is not None and target.field.name.kind == "any":
        any_text = any_markdown(analysis, target.field.name.text, locale)
        if any_text is not None:
            return HoverText(any_text, target.field.name.start, target.field.name.end)
    if target.kind == "layer" and target.layer is not None:
        plan = next((p for p in plans if p.layer_name == target.layer), None)
        text = layer_markdown(analysis, index, target.layer, plan, locale, (results or {}).get(target.layer))
        return HoverText(text, target.start, target.end)
    if target.kind == "value" and target.field_descriptor is not None:
        return HoverText(value_markdown(analysis, target, locale), target.start, target.end)
    return None


def any_markdown(analysis: Analysis, written: str, locale: str | None) -> str | None:
    """``[type.googleapis.com/pkg.Msg]``: the payload's message and its doc comment."""
    schema = analysis.schema
    type_name = written[1:-1].rpartition("/")[2]
    desc = schema.set.find_message(type_name) if schema is not None else None
    if schema is None or desc is None:
        return None
    doc = schema.doc(desc.full_name).text(locale)
    return f"**{desc.name}** · `google.protobuf.Any` payload · `{desc.full_name}`" + (f"\n\n{doc}" if doc else "")


def row_markdown(row: Row, locale: str | None) -> str:
    """An effective-config row (PTQ, retrain, distill...): what AMCT builds for the target."""
    lines = [f"**{row.target}** — {row.source}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in row.settings]
    if row.notes:
        lines += ["", *(f"- {n}" for n in row.notes)]
    return "\n".join(lines)


def header_hover(analysis: Analysis, offset: int, locale: str | None) -> HoverText | None:
    """On a ``# proto-file:`` / ``# proto-message:`` value: the schema it resolves to, and why."""
    header = analysis.resolution.header
    if header is None:
        return None
    for value in (header.file, header.message, *header.imports):
        if value is not None and value.line_start <= offset <= value.end:
            return HoverText(schema_line(analysis, locale), value.start, value.end)
    return None


def schema_line(analysis: Analysis, locale: str | None) -> str:
    res = analysis.resolution
    zh = bool(locale and locale.lower().startswith("zh"))
    if res.schema is None:
        return ("**无 schema**（只检查语法）：" if zh else "**No schema** (syntax only): ") + res.why
    where = f" — `{res.schema.proto}`" if res.schema.proto is not None else ""
    return ("**Schema**：" if zh else "**Schema**: ") + f"`{res.schema.name}` ({res.schema.shown}){where}\n\n{res.why}"


def field_markdown(
    fd: FieldDescriptor, locale: str | None, schema: Schema | None = None, family: str | None = None
) -> str:
    lab = labels(locale)
    owner = fd.containing_type.name if fd.containing_type is not None else fd.full_name
    head = f"**{fd.name}** · `{declared(fd)}` · {owner}"
    lines = [head]
    facts = []
    default = default_text(fd)
    if default is not None:
        facts.append(f"{lab['default']}: `{default}`")
    elif fd.name == "asymmetric" and family is not None:
        facts.append(f"{lab['default']}: {lab['unset']}")
    allowed = allowed_text(fd, locale, family)
    if allowed:
        facts.append(allowed)
    if fd.containing_oneof is not None:
        members = " | ".join(f"`{f.name}`" for f in fd.containing_oneof.fields)
        facts.append(f"{lab['oneof']} `{fd.containing_oneof.name}`: {members}")
    doc = schema.doc(fd.full_name).text(locale) if schema is not None else ""
    if doc:
        lines += ["", doc]
    entry = fd.message_type
    if schema is not None and entry is not None and not entry.GetOptions().map_entry:
        type_doc = schema.doc(entry.full_name).text(locale)  # the message's own comment
        if type_doc and type_doc != doc:
            lines += ["", f"`{entry.name}`: {type_doc}"]
    if facts:
        lines += ["", " · ".join(facts)]
    return "\n".join(lines)


def allowed_text(fd: FieldDescriptor, locale: str | None, family: str | None = None) -> str | None:
    lab = labels(locale)
    if fd.type == FieldDescriptor.TYPE_ENUM and fd.enum_type is not None:
        values = ", ".join(f"`{v.name}` ({v.number})" for v in fd.enum_type.values)
        return f"{lab['allowed']}: {values}"
    if fd.type == FieldDescriptor.TYPE_BOOL:
        return f"{lab['allowed']}: `true`, `false`"
    rules = getattr(families.rules_for(family), "VALUE_RULES", ())
    owner = fd.containing_type.full_name if fd.containing_type is not None else None
    rule = next((r for r in rules if (r.message, r.field) == (owner, fd.name)), None)
    if rule is not None:
        return f"{lab['allowed']}: {rule.describe()}"
    return None


def value_markdown(analysis: Analysis, target: Target, locale: str | None) -> str:
    lab = labels(locale)
    fd = target.field_descriptor
    assert fd is not None and target.node is not None
    shown = analysis.text[target.start : target.end]
    lines = [f"`{fd.name}: {shown}`"]
    problems = [
        p
        for p in analysis.problems
        if (p.start < target.end and p.end > target.start) or (p.start == p.end == target.start)
    ]
    if problems:
        lines += ["", *(f"- **{p.severity}** ({p.code}): {p.message}" for p in problems)]
    else:
        why = allowed_text(fd, locale, analysis.family)
        lines += ["", f"✓ {lab['valid']}" + (f" — {why}" if why else "")]
        if fd.type == FieldDescriptor.TYPE_FLOAT:
            occ = _occurrence_value(analysis, target)
            if occ is not None:
                lines.append(f"\n{lab['amct']} float32 `{shortest_float32(occ)}`")
        enum = fd.enum_type if fd.type == FieldDescriptor.TYPE_ENUM else None
        if enum is not None:
            name = target.node.text if target.node.text in enum.values_by_name else None
            if name is None and target.node.text.isdigit() and int(target.node.text) in enum.values_by_number:
                name = enum.values_by_number[int(target.node.text)].name
            doc = analysis.schema.doc(f"{enum.full_name}.{name}").text(locale) if name and analysis.schema else ""
            if doc:
                lines += ["", doc]
    return "\n".join(lines)


def _occurrence_value(analysis: Analysis, target: Target) -> float | None:
    """The decoded value of the field occurrence under the cursor (from the analysed views)."""
    pending = [analysis.root] if analysis.root is not None else []
    while pending:
        view = pending.pop()
        for occs in view.fields.values():
            for occ in occs:
                if occ.node is target.node:
                    return occ.value if isinstance(occ.value, float) else None
                if hasattr(occ.value, "fields"):
                    pending.append(occ.value)
    return None


def layer_markdown(
    analysis: Analysis, index: LineIndex, layer: str, plan: LayerPlan | None, locale: str | None, result: str | None
) -> str:
    lab = labels(locale)
    lines = [f"**{lab['layer']}** `{excerpt(layer)}`"]
    refs = [r for r in layer_refs(analysis) if r.name == layer]
    override = next((r for r in refs if r.role == "override"), None)
    if plan is None:
        return "\n".join(lines)
    params = plan.params
    if plan.ifmr is not None:
        p = plan.ifmr
        detail = (
            f"search [{_num(p.search_range_start)}, {_num(p.search_range_end)}) step {_num(p.search_step)}, "
            f"max_percentile {_num(p.max_percentile)}, min_percentile {_num(p.min_percentile)}"
        )
    else:
        detail = f"num_of_bins {getattr(params, 'num_of_bins', '')}"
    source = lab[f"src.{plan.config_source}"].format(line=index.position(override.start)[0] + 1 if override else "?")
    mode = lab["asymmetric"] if plan.with_offset else lab["symmetric"]
    rows = [
        (lab["algorithm"], f"**{plan.algorithm.upper()}** — {lab['config']} {source}"),
        (lab["parameters"], detail),
        (lab["granularity"], f"`{plan.granularity}`"),
        (lab["quantization"], f"{mode} — {lab['decided']} {lab['off.' + plan.offset_source]}"),
        (lab["batch_num"], str(plan.batch_num)),
    ]
    lines += ["", "| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    others = sorted({index.position(r.start)[0] + 1 for r in refs})
    if len(others) > 1:
        lines += ["", lab["also"].format(lines=", ".join(map(str, others)))]
    if result:
        lines += ["", f"**{lab['result']}**: {result}"]
    return "\n".join(lines)


def _num(value: float) -> str:
    return shortest_float32(value)
