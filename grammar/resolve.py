"""``resolve()``: what AMCT will actually run for each layer (spec §1.1), and the JSON
config AMCT's ``create_quant_cali_config`` writes for the file (spec §4).

Resolution reads the analysed views, which follow AMCT's ``text_format.Merge``: for a
singular field the last value wins, a singular message given twice is merged, and
setting one member of a oneof clears the other (so a later member wins, starting empty).
"""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from kvcal.grammar import schema
from kvcal.grammar.checks.analysis import Analysis, analyze
from kvcal.grammar.checks.views import Occurrence, View
from kvcal.grammar.plan import (
    Algorithm,
    ConfigSource,
    Granularity,
    HfmgParams,
    IfmrParams,
    LayerPlan,
    OffsetSource,
)

_ONEOF = "acts_quant_algo"


def resolve(text: str) -> list[LayerPlan]:
    """The effective plan of every quantized layer of a KV-cache config, in config order
    (quant_layers first, then layers that only an override names). Best effort on a file
    with errors; the text is read as a KV-cache config whatever its content."""
    return resolve_analysis(analyze(text, schema=schema.kv_schema()))


def _algorithm(cal: View | None) -> tuple[Algorithm, View | None]:
    """The algorithm AMCT keeps and its merged parameters (empty/absent config: IFMR)."""
    if cal is None:
        return "ifmr", None
    choice, params = cal.oneof_view(_ONEOF)
    if choice is None:
        return "ifmr", None
    return ("ifmr" if choice == "ifmr_quantize" else "hfmg"), params


def _param(view: View | None, descriptor_name: str, field: str) -> Any:
    if view is not None and view.has(field):
        return view.value(field)
    fd = schema.message_descriptor(f"{schema.CONFIG_PACKAGE}.{descriptor_name}").fields_by_name[field]
    value = fd.default_value
    return schema.amct_float(value) if fd.type == FieldDescriptor.TYPE_FLOAT else value


def _plan(
    name: str,
    span: tuple[int, int] | None,
    cal: View | None,
    source: ConfigSource,
    batch_num: int,
    global_offset: bool,
    global_set: bool,
) -> LayerPlan:
    algorithm, params = _algorithm(cal)
    message = "FMRQuantize" if algorithm == "ifmr" else "HFMGQuantize"
    granularity_number = _param(params, message, "quant_granularity")
    granularity: Granularity = "per_channel" if granularity_number == 1 else "per_tensor"
    offset_source: OffsetSource
    if params is not None and params.has("asymmetric"):
        with_offset = bool(params.value("asymmetric"))
        offset_source = "override" if source == "override" else "common"
    else:
        with_offset = global_offset
        offset_source = "activation_offset" if global_set else "default"
    ifmr = hfmg = None
    if algorithm == "ifmr":
        ifmr = IfmrParams(**{f: _param(params, message, f) for f in IfmrParams.__dataclass_fields__})
    else:
        hfmg = HfmgParams(num_of_bins=_param(params, message, "num_of_bins"))
    return LayerPlan(
        layer_name=name,
        algorithm=algorithm,
        granularity=granularity,
        with_offset=with_offset,
        batch_num=batch_num,
        ifmr=ifmr,
        hfmg=hfmg,
        config_source=source if cal is not None or source == "override" else "default",
        offset_source=offset_source,
        name_span=span,
    )


def resolve_analysis(analysis: Analysis) -> list[LayerPlan]:
    """The plans of a KV-cache config (none for a document of another schema)."""
    root = analysis.root
    if root is None or analysis.family != "kv":
        return []
    batch_num = int(root.value("batch_num"))
    global_set = root.has("activation_offset")
    global_offset = bool(root.value("activation_offset"))
    common = root.child("kv_cache_quant_config")
    common_cal = common.child("calibration_config") if common else None

    overrides: dict[str, tuple[Occurrence, View | None]] = {}
    for occ in root.all("override_layers_configs"):
        name_occ = occ.value.last("layer_name")
        if name_occ is not None:  # an override without layer_name names no layer
            overrides[name_occ.value] = (name_occ, occ.value.child("kv_data_quant_config"))

    order: dict[str, tuple[int, int]] = {}
    for occ in common.all("quant_layers") if common else []:
        order.setdefault(occ.value, (occ.node.start, occ.node.end))
    for name, (name_occ, _) in overrides.items():
        order.setdefault(name, (name_occ.node.start, name_occ.node.end))

    plans = []
    source: ConfigSource
    for name, span in order.items():
        if name in overrides:
            cal, source = overrides[name][1], "override"
        else:
            cal, source = common_cal, "common"
        plans.append(_plan(name, span, cal, source, batch_num, global_offset, global_set))
    return plans


def amct_config(analysis: Analysis) -> dict[str, Any]:
    """The dict AMCT's ``create_quant_cali_config`` builds for this file (spec §4)."""
    root = analysis.root
    if root is None or analysis.family != "kv":
        shown = analysis.schema.shown if analysis.schema is not None else "a file with no schema"
        raise ValueError(f"amct_config is for KV-cache configs; this analysis is {shown}")
    out: dict[str, Any] = {
        "batch_num": int(root.value("batch_num")),
        "activation_offset": bool(root.value("activation_offset")),
    }
    for plan in resolve_analysis(analysis):
        entry: dict[str, Any] = {"act_algo": plan.algorithm}
        if plan.ifmr is not None:
            p = plan.ifmr
            entry.update(
                max_percentile=p.max_percentile,
                min_percentile=p.min_percentile,
                search_range=[p.search_range_start, p.search_range_end],
                search_step=p.search_step,
            )
        else:
            assert plan.hfmg is not None
            entry["num_of_bins"] = plan.hfmg.num_of_bins
        entry["quant_granularity"] = 1 if plan.per_channel else 0
        if plan.offset_source in ("override", "common"):
            entry["asymmetric"] = plan.with_offset
        out[plan.layer_name] = {"kv_data_quant_config": entry}
    return out


def amct_json(analysis: Analysis) -> str:
    """``amct_config`` as the compact JSON text of spec §4."""
    return json.dumps(amct_config(analysis), separators=(",", ":"), ensure_ascii=False)
