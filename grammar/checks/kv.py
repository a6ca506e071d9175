"""The KV-cache config's rule table (``AMCTQuantCaliConfig``, spec AMCT-KV-CACHE.md): the
value rules the .proto cannot express, then the relations between fields (search range
order, step, candidate count), the layer checks and the precedence notes.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection

from kvcal.grammar import schema
from kvcal.grammar.checks.values import (
    ValueRule,
    by_message,
    check_rules,
    nonfinite_search,
    problem,
    related,
    show,
)
from kvcal.grammar.checks.views import Occurrence, View, suggest, walk_views
from kvcal.grammar.plan import ALLOWED_NUM_OF_BINS, MAX_IFMR_CANDIDATES, MAX_SEARCH_CANDIDATES
from kvcal.grammar.problems import Problem, Related, quoted
from kvcal.grammar.syntax.tree import Message

PKG = schema.CONFIG_PACKAGE


VALUE_RULES: tuple[ValueRule, ...] = (
    ValueRule(
        f"{PKG}.AMCTQuantCaliConfig",
        "batch_num",
        "batch-num",
        "error",
        'AMCT rejects it: "batch_num(0) should be greater than zero"',
        low=0,
    ),
    ValueRule(
        f"{PKG}.HFMGQuantize", "num_of_bins", "num-of-bins", "error", "AMCT rejects it", choices=ALLOWED_NUM_OF_BINS
    ),
    ValueRule(f"{PKG}.FMRQuantize", "max_percentile", "percentile", "error", "AMCT rejects it", low=0.5, high=1.0),
    ValueRule(
        f"{PKG}.FMRQuantize",
        "min_percentile",
        "percentile",
        "error",
        "AMCT never checks it (the manual documents the range) and calibrates with it anyway",
        low=0.5,
        high=1.0,
    ),
    ValueRule(
        f"{PKG}.FMRQuantize",
        "search_range_start",
        "search-range",
        "error",
        "AMCT accepts it and its search then scales the clip range by a ratio <= 0",
        low=0.0,
    ),
    ValueRule(f"{PKG}.FMRQuantize", "search_step", "search-step", "error", "AMCT rejects it", low=0.0),
)

_RULES_BY_MESSAGE = by_message(VALUE_RULES)
_FMR = f"{PKG}.FMRQuantize"
# The messages whose views check_values reads: value rules, FMRQuantize's relations.
RULED_MESSAGES = frozenset({*_RULES_BY_MESSAGE, _FMR})
#: what AMCT does when a required field is missing (the walk's missing-required message)
REQUIRED = {
    f"{PKG}.OverrideLayer.layer_name": "AMCT looks the layer up by its name and fails later with "
    '"Layer  does not exist in the model"',
}


def _check_ifmr(view: View) -> list[Problem]:
    """Relations of FMRQuantize: start < end, step <= end - start, candidate count.

    Omitted fields take their defaults, as AMCT converts them (0.7, 1.3, 0.01).
    """
    fields = view.fields
    occs = [fields.get(n) for n in _IFMR_RANGE]
    if not any(occs):
        return []
    s_occ, e_occ, step_occ = (o[-1] if o else None for o in occs)
    defaults = _ifmr_defaults()
    start, end, step = (
        o.value if o is not None else d for o, d in zip((s_occ, e_occ, step_occ), defaults, strict=True)
    )
    endless = nonfinite_search(s_occ, e_occ, step_occ, "its search (arange)")
    if endless:
        return endless
    if math.isnan(start) or math.isnan(step):
        return []  # the value rules report these
    anchor = s_occ or e_occ
    other = e_occ if anchor is s_occ else None
    if anchor is not None and start >= end:
        if start > end:
            data = None
            if s_occ and e_occ:
                data = {"swap": [[s_occ.node.start, s_occ.node.end], [e_occ.node.start, e_occ.node.end]]}
            message = (
                f"search_range_start ({show(start)}) must be smaller than search_range_end "
                f'({show(end)}): AMCT rejects it ("Search range start must smaller than search range end")'
            )
        else:
            data = None
            message = (
                f"search_range_start equals search_range_end ({show(end)}): the search is empty; "
                "AMCT accepts this and crashes at calibration time"
            )
        return [problem("search-range", "error", anchor, message, data=data, related=related(other))]
    if step <= 0:
        return []  # the value rule reports it
    where = step_occ or anchor
    assert where is not None
    if step > end - start:
        return [
            problem(
                "search-step",
                "warning",
                where,
                f"search_step {show(step)} is larger than the search range "
                f"[{show(start)}, {show(end)}): IFMR tries a single clip ratio ({show(start)})",
            )
        ]
    ratio = (end - start) / step
    count = math.ceil(ratio) if math.isfinite(ratio) else math.inf
    if count > MAX_IFMR_CANDIDATES:
        severe = count > MAX_SEARCH_CANDIDATES
        shown = f"{count:,}" if count < 10**15 else f"{count:.3g}"
        why = (
            f"more than {MAX_SEARCH_CANDIDATES:,}: AMCT makes one full pass over the data per ratio, "
            f"Ascend's IFMR operator takes at most {MAX_IFMR_CANDIDATES:,}"
            if severe
            else f"Ascend's IFMR operator supports at most {MAX_IFMR_CANDIDATES}"
        )
        return [
            problem(
                "search-step",
                "error" if severe else "warning",
                where,
                f"{shown} clip ratios to search: {why}; use a search_step of at least "
                f"{show((end - start) / MAX_IFMR_CANDIDATES)}",
            )
        ]
    return []


_IFMR_RANGE = ("search_range_start", "search_range_end", "search_step")


@functools.cache
def _ifmr_defaults() -> tuple[float, ...]:
    """The defaults of _IFMR_RANGE as AMCT uses them (0.7, 1.3, 0.01 after float32)."""
    fields = schema.message_descriptor(f"{schema.CONFIG_PACKAGE}.FMRQuantize").fields_by_name
    return tuple(schema.amct_float(fields[n].default_value) for n in _IFMR_RANGE)


def check_values(
    root: View, text: str, *, layers: Collection[str] | None = None, views: Collection[View] | None = None
) -> list[Problem]:
    """Value rules, relations and layer checks over an analysed document.

    *views*: the views below *root* of the messages in RULED_MESSAGES (any order), when
    the caller has them at hand; the others are not looked at.
    """
    out: list[Problem] = []
    for view in walk_views(root) if views is None else views:
        name = view.descriptor.full_name
        if name in _RULES_BY_MESSAGE:
            out += check_rules(view, _RULES_BY_MESSAGE[name])
        if name == _FMR:
            out += _check_ifmr(view)
    out += _check_layers(root, layers)
    out += _check_offsets(root)
    return out


def _check_layers(root: View, known: Collection[str] | None) -> list[Problem]:
    out: list[Problem] = []
    common = root.child("kv_cache_quant_config")
    quant = common.all("quant_layers") if common else []
    override_occs = root.all("override_layers_configs")
    override_names = [o.value.last("layer_name") for o in override_occs]
    named = [(name, ov) for name, ov in zip(override_names, override_occs, strict=True) if name]
    out += _check_names([*quant, *(name for name, _ in named)])
    for label, pairs in (("quant_layers", [(q, q) for q in quant]), ("override_layers_configs", named)):
        first: dict[str, Occurrence] = {}
        for occ, whole in pairs:
            if occ.value in first:
                f = first[occ.value]
                what = "this one" if whole is occ else "this override"
                out.append(
                    problem(
                        "duplicate-layer",
                        "error",
                        occ,
                        f"layer {quoted(occ.value)} is listed twice in {label}: AMCT rejects it "
                        f'("Please delete repeated items ..."); delete {what}',
                        related=(Related(f.node.start, f.node.end, "first listed here"),),
                        data={"delete": [whole.field.start, whole.field.end]},
                    )
                )
            else:
                first[occ.value] = occ
    quant_first = {o.value: o for o in reversed(quant)}
    for occ in override_names:
        if occ is not None and occ.value in quant_first:
            q = quant_first[occ.value]
            out.append(
                problem(
                    "precedence",
                    "information",
                    occ,
                    f"{quoted(occ.value)} is also in kv_cache_quant_config.quant_layers: this override's "
                    "config wins for it",
                    related=(Related(q.node.start, q.node.end, "also listed here"),),
                )
            )
    malformed = not quant and _malformed_layers(root)
    if not quant and not any(override_names) and not malformed:
        anchor = root.last("kv_cache_quant_config")
        start, end = (anchor.field.name.start, anchor.field.name.end) if anchor else (0, 0)
        out.append(
            Problem(
                "no-layers",
                "error",
                start,
                end,
                'nothing to quantize: AMCT refuses the config ("No quant enable layer in quant config '
                'file"); add quant_layers to kv_cache_quant_config or an override_layers_configs entry '
                "with a layer_name",
            )
        )
    if common is not None and not quant and common.has("calibration_config") and not malformed:
        occ = common.last("calibration_config")
        assert occ is not None
        out.append(
            Problem(
                "no-effect",
                "hint",
                occ.field.name.start,
                occ.field.name.end,
                "this calibration_config applies to no layer: kv_cache_quant_config has no quant_layers",
                tags=("unnecessary",),
            )
        )
    elif common is not None and quant and common.has("calibration_config"):
        overridden = {o.value for o in override_names if o}
        if all(q.value in overridden for q in quant):
            occ = common.last("calibration_config")
            assert occ is not None
            out.append(
                Problem(
                    "no-effect",
                    "hint",
                    occ.field.name.start,
                    occ.field.name.end,
                    "every layer in quant_layers has an override: this calibration_config is never used",
                    tags=("unnecessary",),
                )
            )
    if known is not None:
        known_set = set(known)
        for occ in [*quant, *(o for o in override_names if o)]:
            if occ.value not in known_set and occ.value.strip():
                close = suggest(occ.value, sorted(known_set))
                hint = f"did you mean {quoted(close)}?" if close else _listing(sorted(known_set))
                out.append(
                    problem(
                        "unknown-layer",
                        "warning",
                        occ,
                        f"layer {quoted(occ.value)} is not in the sample data: {hint}",
                        data={"suggestion": repr(close) if close else None},
                    )
                )
    return out


def _listing(names: list[str], most: int = 6) -> str:
    if not names:
        return "the sample data holds no layer"
    shown = ", ".join(quoted(n) for n in names[:most])
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f"it holds {shown}{more}"


def _check_names(occs: list[Occurrence]) -> list[Problem]:
    """A layer name AMCT cannot find: empty, or with blanks around it (it looks names up
    as written among the model's modules)."""
    out = []
    for occ in occs:
        name = occ.value
        if not name.strip():
            out.append(
                problem(
                    "layer-name",
                    "error",
                    occ,
                    "empty layer name: AMCT looks it up among the model's modules and fails "
                    '("Layer  does not exist in the model"); write the module\'s name, e.g. '
                    "'model.layers.0.self_attn.k_proj'",
                )
            )
        elif name != name.strip():
            out.append(
                problem(
                    "layer-name",
                    "error",
                    occ,
                    f"layer name {quoted(name)} has blanks around it: AMCT looks names up exactly "
                    f"and finds no module {quoted(name)}; remove them",
                    data={"suggestion": repr(name.strip())},
                )
            )
    return out


def _malformed_layers(root: View) -> bool:
    """A quant_layers entry or layer_name was written but did not type-check (its own
    error says why): then "nothing to quantize" would be a second diagnostic for it."""
    wanted = {"kv_cache_quant_config": "quant_layers", "override_layers_configs": "layer_name"}
    for doc in root.messages:
        for f in doc.fields:
            inner = wanted.get(f.name.text)
            if inner is not None and isinstance(f.value, Message) and next(f.value.find(inner), None) is not None:
                return True
    return False


def _check_offsets(root: View) -> list[Problem]:
    """`asymmetric` next to `activation_offset`: a note on which one wins, and where it has no effect."""
    out: list[Problem] = []
    global_occ = root.last("activation_offset")
    if global_occ is None:
        return out
    common = root.child("kv_cache_quant_config")
    cals = []
    if common is not None and common.all("quant_layers"):
        cals.append(common.child("calibration_config"))
    cals += [o.value.child("kv_data_quant_config") for o in root.all("override_layers_configs")]
    blocks: list[Occurrence] = []
    decided_elsewhere = bool(cals)  # every calibration config's every algorithm sets its own
    for cal in cals:
        if cal is None:
            decided_elsewhere = False  # (no algorithm block: not decided there)
            continue
        fields = cal.fields
        algorithms = [*fields.get("ifmr_quantize", ()), *fields.get("hfmg_quantize", ())]  # the algorithm blocks
        blocks += algorithms
        if decided_elsewhere and not any(b.value.fields.get("asymmetric") for b in algorithms):
            decided_elsewhere = False
    shown, near = str(global_occ.value).lower(), related(global_occ)
    for block in blocks:
        occ = block.value.last("asymmetric")
        if occ is not None and occ.value != global_occ.value:
            out.append(
                problem(
                    "precedence",
                    "information",
                    occ,
                    f"asymmetric: {str(occ.value).lower()} wins over activation_offset: "
                    f"{shown} for the layers of this {block.field.name.text}",
                    related=near,
                )
            )
    if decided_elsewhere:
        out.append(
            problem(
                "no-effect",
                "hint",
                global_occ,
                "activation_offset has no effect: every algorithm block sets its own asymmetric",
                tags=("unnecessary",),
            )
        )
    return out
