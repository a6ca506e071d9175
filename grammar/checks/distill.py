"""The distillation config's rule table (``AMCTDistillConfig``, spec AMCT-CONFIG-FAMILY.md §3),
read by ``create_distill_config``.

Its quantization blocks look like the retrain config's but are separate types with their
own numbers and checks (spec §5): activations and weights must have the **same** bit width
(A8W8 or A4W4: INT4 distillation is on in PyTorch, D3 never fires there), and a skip list
**wins** over an override (the opposite of retrain's quantization, DS3). Overrides replace a
layer's whole quant config: what they lack gets AMCT's built-in defaults (DS4). The list
helpers are retrain's (``retrain.py``).

Left to the model (spec D7-D12): whether names exist and are Conv2d/Linear, the distillation
groups' paths, types and overlaps. Checked without it: type names that can never be
Conv2d/Linear, two groups sharing a named module, every quantizable type skipped.
"""

from __future__ import annotations

from collections.abc import Collection

from kvcal.grammar.checks.effective import Row
from kvcal.grammar.checks.retrain import (
    BITS,
    Target,
    bad_names,
    bad_type,
    channel_wise_problems,
    data_settings,
    dst_type,
    duplicate_entries,
    duplicate_overrides,
    field_problem,
    replacement_problems,
    targets,
    weight_settings,
    words,
)
from kvcal.grammar.checks.values import ValueRule, by_message, check_rules, clip_rules, problem, related
from kvcal.grammar.checks.views import Occurrence, View, walk_views
from kvcal.grammar.problems import Problem, Related, quoted

PKG = "AMCTPytorchDistillProto"
ROOT = f"{PKG}.AMCTDistillConfig"
_CLIP = f"{PKG}.ClipMaxMin"

#: AMCT's DISTILL_TYPES: the modules distillation quantizes
DISTILL_TYPES = ("Conv2d", "Linear")
DEFAULT_ACT = "ULQ INT8 activations with the clip range initialised by IFMR"
DEFAULT_WTS = "ARQ INT8 weights, per channel except Linear"

_DATA, _WEIGHT = "distill_data_quant_config", "distill_weight_quant_config"
_DATA_ONEOF, _WEIGHT_ONEOF = "data_quant_algo", "weights_quant_algo"

VALUE_RULES: tuple[ValueRule, ...] = (
    ValueRule(
        ROOT, "batch_num", "batch-num", "error", 'AMCT refuses it ("batch_num(0) should be greater than zero")', low=0
    ),
    ValueRule(
        ROOT,
        "group_size",
        "value-range",
        "error",
        'AMCT refuses it ("group_size(0) should be greater than zero"): it is how many minimal '
        "distillation units are cascaded into one block",
        low=0,
    ),
    *clip_rules(_CLIP),
)

_RULES_BY_MESSAGE = by_message(VALUE_RULES)
RULED_MESSAGES = frozenset({*_RULES_BY_MESSAGE, ROOT})

#: what AMCT does when a required field is missing (the walk's missing-required message)
REQUIRED = {
    f"{_CLIP}.clip_max": 'AMCT does not check it: it reads 0 and refuses the file with "clip max should be '
    'larger than 0"',
    f"{_CLIP}.clip_min": 'AMCT does not check it: it reads 0 and refuses the file with the misleading "clip min '
    'should be less than 0"',
    f"{PKG}.DistillGroup.start_layer_name": "AMCT reads '' and refuses the group (no module has that name)",
    f"{PKG}.DistillGroup.end_layer_name": "AMCT reads '' and refuses the group (\"Can not find an only route from "
    'start_layer_name(...) to end_layer_name()")',
    f"{PKG}.DistillOverrideLayer.layer_name": "AMCT reads '' and refuses the file (\"distill_override_layers[''] "
    'not exist or supported for quant")',
    f"{PKG}.DistillOverrideLayerType.layer_type": "AMCT reads '' and refuses the file "
    "(\"distill_override_layer_types[''] not exist or supported for quant\")",
}


def check_values(
    root: View, text: str, *, layers: Collection[str] | None = None, views: Collection[View] | None = None
) -> list[Problem]:
    """Every rule of spec §3 that needs no model."""
    out: list[Problem] = []
    for view in walk_views(root) if views is None else views:
        rules = _RULES_BY_MESSAGE.get(view.descriptor.full_name)
        if rules:
            out += check_rules(view, rules)
    overrides = targets(root, "distill_override_layers", "distill_override_layer_types")
    out += _check_lists(root, overrides)
    out += _check_groups(root)
    out += _check_data_types(root, overrides)
    skipped = {o.value for o in root.all("quant_skip_layer_types")}
    out += channel_wise_problems(
        root,
        overrides,
        weight=_WEIGHT,
        oneof=_WEIGHT_ONEOF,
        skipped=skipped,
        type_list="distill_override_layer_types",
        skip_list="quant_skip_layer_types",
    )
    out += _check_skip_override(root, overrides)
    top_act, top_wts = _top_quant(root)
    used = [t for t in overrides if t.key is None or (t.kind, t.key.value) not in _skipped(root)]  # the skip wins
    out += replacement_problems(
        used,
        [(_DATA, top_act, DEFAULT_ACT, "activations"), (_WEIGHT, top_wts, DEFAULT_WTS, "weights")],
        "distill config",
    )
    dump = root.last("data_dump")
    if dump is not None and dump.value:  # DS7
        out.append(
            problem(
                "data-dump",
                "information",
                dump,
                "data_dump: true makes AMCT dump every distillation block's teacher inputs and outputs to "
                "disk: expect heavy disk use",
            )
        )
    return out


def _check_lists(root: View, overrides: list[Target]) -> list[Problem]:
    out = duplicate_overrides(
        [t for t in overrides if t.kind == "layer"],
        "distill_override_layers",
        "Please delete repeated items in distill_override_layers ...",
    )
    out += duplicate_overrides(
        [t for t in overrides if t.kind == "type"],
        "distill_override_layer_types",
        "Please delete repeated items in distill_override_layer_types ...",
    )
    out += duplicate_entries(root, ("quant_skip_layers", "quant_skip_layer_types"), "AMCT warns and ignores the repeat")
    names = [*root.all("quant_skip_layers"), *(t.key for t in overrides if t.kind == "layer" and t.key is not None)]
    out += bad_names(names, "... not exist or supported")
    for occ in root.all("quant_skip_layer_types"):
        if occ.value not in DISTILL_TYPES:
            out.append(
                bad_type(
                    occ,
                    DISTILL_TYPES,
                    "distills",
                    f'AMCT refuses the file ("quant_skip_layer_types[{quoted(occ.value)}] not exist or supported")',
                )
            )
    for t in overrides:
        if t.kind == "type" and t.key is not None and t.key.value not in DISTILL_TYPES:
            written = quoted(t.key.value)
            out.append(
                bad_type(
                    t.key,
                    DISTILL_TYPES,
                    "distills",
                    f'AMCT refuses the file ("distill_override_layer_types[{written}] not exist or '
                    'supported for quant")',
                )
            )
    skipped = {o.value for o in root.all("quant_skip_layer_types")}
    if skipped >= set(DISTILL_TYPES):  # D8: the skip wins over any override
        occ = root.all("quant_skip_layer_types")[0]
        out.append(
            field_problem(
                "no-layers",
                "error",
                occ,
                "Conv2d and Linear, the only types distillation quantizes, are both skipped (a skip "
                'wins over any override): AMCT refuses the file ("No layer enabled distillation")',
            )
        )
    return out


def _check_groups(root: View) -> list[Problem]:
    """D9/D11 without the model: a module named by two groups is in both."""
    out: list[Problem] = []
    groups = root.children("distill_group")
    ends: list[tuple[Occurrence, bool]] = []  # (name, is a start)
    for group in groups:
        start, end = group.last("start_layer_name"), group.last("end_layer_name")
        if start is not None:
            ends.append((start, True))
        if end is not None and (start is None or end.value != start.value):
            ends.append((end, False))
    out += bad_names([o for o, _ in ends], "layer [...] in distill_group(...) not exist or not a nn.Module object.")
    first: dict[str, tuple[Occurrence, bool]] = {}
    for occ, is_start in ends:
        seen = first.get(occ.value)
        if seen is None:
            first[occ.value] = (occ, is_start)
            continue
        near = (Related(seen[0].node.start, seen[0].node.end, "also in this distill_group"),)
        if is_start or seen[1]:
            out.append(
                problem(
                    "duplicate-layer",
                    "error",
                    occ,
                    f"{quoted(occ.value)} is in two distill_group blocks (it starts one of them): AMCT refuses "
                    'the file ("There is an intersection between distill_group(...) and '
                    'distill_group(...)"); a module belongs to one group',
                    related=near,
                )
            )
        else:
            out.append(
                problem(
                    "duplicate-layer",
                    "warning",
                    occ,
                    f'{quoted(occ.value)} ends two distill_group blocks: AMCT refuses the file ("There is an '
                    'intersection between distill_group(...)") unless that module is reused (called '
                    "more than once, like a shared ReLU)",
                    related=near,
                )
            )
    return out


def _check_data_types(root: View, overrides: list[Target]) -> list[Problem]:
    """D2: activations and weights of one layer must have the same bit width."""
    out = []
    for t in [Target("global", root), *overrides]:
        act, act_occ = dst_type(t.view.child(_DATA), _DATA_ONEOF)
        wts, wts_occ = dst_type(t.view.child(_WEIGHT), _WEIGHT_ONEOF)
        if act == wts or (act_occ is None and wts_occ is None):
            continue
        anchor = wts_occ or act_occ
        assert anchor is not None
        a, w = BITS.get(act, 0), BITS.get(wts, 0)
        unset = [part for part, occ in (("activation", act_occ), ("weight", wts_occ)) if occ is None]
        why = ""
        if unset:
            where = (
                "at the top level"
                if t.kind == "global"
                else "in this override, which replaces the whole quant config (the top-level one does not apply)"
            )
            why = f"; its {unset[0]} dst_type is not written {where}, so it is INT8"
        fix = "INT4" if 4 in (a, w) else "INT8"
        out.append(
            problem(
                "data-type",
                "error",
                anchor,
                f"A{a}W{w}: distillation needs activations and weights of the same width (A8W8 or A4W4) "
                f'and AMCT refuses it ("Activation and weights with different data_type are not supported '
                f'for now"){why}; set both to {fix} or both to INT8',
                related=related(act_occ if anchor is wts_occ else None),
            )
        )
    return out


def _skipped(root: View) -> set[tuple[str, str]]:
    return {("layer", o.value) for o in root.all("quant_skip_layers")} | {
        ("type", o.value) for o in root.all("quant_skip_layer_types")
    }


def _check_skip_override(root: View, overrides: list[Target]) -> list[Problem]:
    """DS3: a skipped layer or type that is also overridden stays skipped (the skip wins)."""
    out = []
    skips = {
        ("N:" if lst == "quant_skip_layers" else "T:") + o.value: (o, lst)
        for lst in ("quant_skip_layer_types", "quant_skip_layers")
        for o in reversed(root.all(lst))
    }
    for t in overrides:
        if t.key is None:
            continue
        hit = skips.get(("T:" if t.kind == "type" else "N:") + t.key.value)
        if hit is None:
            continue
        occ, lst = hit
        out.append(
            problem(
                "skip-override",
                "warning",
                t.key,
                f"{quoted(t.key.value)} is in {lst} and has this override: in distillation the skip wins, so "
                f"{'they are' if t.kind == 'type' else 'it is'} distilled but not quantized and this "
                "override is unused (the opposite of the retrain config, where an override wins); "
                "remove it from the skip list or delete the override",
                related=(Related(occ.node.start, occ.node.end, f"skipped in {lst}"),),
            )
        )
    return out


def _top_quant(root: View) -> tuple[str | None, str | None]:
    act = data_settings(root.child(_DATA), _DATA_ONEOF)
    wts = weight_settings(root.child(_WEIGHT), _WEIGHT_ONEOF, "arq_distill")
    return (
        words(act) if root.has(_DATA) and act != data_settings(None, _DATA_ONEOF) else None,
        words(wts) if root.has(_WEIGHT) and wts != weight_settings(None, _WEIGHT_ONEOF, "arq_distill") else None,
    )


# -- effective config ---------------------------------------------------------------------


def _quant_rows(view: View, *, override: bool, layer_type: str | None = None) -> list[tuple[str, str]]:
    out = []
    for field, name in ((_DATA, "distill_data_config"), (_WEIGHT, "distill_weight_config")):
        block = view.child(field)
        if field == _DATA:
            settings = data_settings(block, _DATA_ONEOF)
        else:
            settings = weight_settings(block, _WEIGHT_ONEOF, "arq_distill", layer_type)
        where = (
            ""
            if block is not None
            else (" — built-in default" + (f" (no {field} here; the top-level one does not apply)" if override else ""))
        )
        out.append((name, words(settings) + where))
    return out


def effective(root: View, text: str) -> list[Row]:
    """What AMCT builds (spec §3.3): skip lists > layer override > type override > top level."""
    overrides = targets(root, "distill_override_layers", "distill_override_layer_types")
    skips: dict[str, tuple[Occurrence, str]] = {}
    for lst, prefix in (("quant_skip_layers", "N:"), ("quant_skip_layer_types", "T:")):
        for occ in root.all(lst):
            skips.setdefault(prefix + occ.value, (occ, lst))
    type_overrides = any(t.kind == "type" for t in overrides)
    rows = []
    seen = set()
    for t in overrides:
        key = ("T:" if t.kind == "type" else "N:") + (t.name or "")
        seen.add(key)
        skip = skips.get(key)
        notes = []
        if skip is not None:
            settings = [("quant_enable", f"false ({skip[1]} wins over the override)")]
            notes.append(f"in distillation the skip wins: {skip[1]} keeps it unquantized and this override is unused")
        else:
            layer_type = t.name if t.kind == "type" else None
            settings = [("quant_enable", "true"), *_quant_rows(t.view, override=True, layer_type=layer_type)]
            if not (t.view.has(_DATA) and t.view.has(_WEIGHT)):
                notes.append(
                    "the override replaces the whole quant config: what it lacks comes from AMCT's built-in "
                    "defaults, not from the top-level configs"
                )
        if t.kind == "layer":
            notes.append("a layer skipped by its type (quant_skip_layer_types) stays skipped")
            if type_overrides:
                notes.append("a layer override wins over any distill_override_layer_types entry for the layer's type")
        else:
            notes.append(f"applies to every {t.name} layer that no distill_override_layers entry names")
        rows.append(
            Row(
                t.name if t.name is not None else "(no name)",
                t.kind,
                "distill_override_layers" if t.kind == "layer" else "distill_override_layer_types",
                tuple(settings),
                tuple(notes),
                span=t.anchor() if t.key is not None else None,
            )
        )
    for key, (occ, lst) in skips.items():
        if key in seen:
            continue
        rows.append(
            Row(
                key[2:],
                "type" if key.startswith("T:") else "layer",
                lst,
                (("quant_enable", f"false ({lst}): distilled, not quantized"),),
                ("a skip wins over any override",),
                span=(occ.node.start, occ.node.end),
            )
        )
    settings = [
        ("quant_enable", "true"),
        *_quant_rows(root, override=False),
        ("batch_num", str(root.value("batch_num")) + ("" if root.has("batch_num") else " (default)")),
        ("group_size", str(root.value("group_size")) + ("" if root.has("group_size") else " (default)")),
    ]
    groups = len(root.children("distill_group"))
    settings.append(
        (
            "distill_group",
            f"{groups} user group{'s' if groups != 1 else ''} first; the other Conv2d/Linear "
            "layers form automatic units (optionally with BatchNorm2d and an activation), cascaded "
            "up to group_size",
        )
    )
    if root.value("data_dump"):
        settings.append(("data_dump", "true (every block's teacher inputs and outputs are dumped)"))
    precedence = (
        "quant_skip_layers / quant_skip_layer_types > layer override > type override > top level: in "
        "distillation a skip wins over an override",
    )
    rows.append(Row("every other layer", "global", "top level", tuple(settings), precedence))
    return rows
