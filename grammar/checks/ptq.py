"""The post-training quantization config's rule table (``AMCTConfig``, spec
AMCT-CONFIG-FAMILY.md §1): the PyTorch schema (``AMCTPytorchProto``, family ``ptq``) and
the ONNX/TensorFlow/Caffe one (``AMCTFrameworkProto``, family ``ptq-framework``, §1.8),
which AMCT reads with the same shared code: the value rules the .proto cannot express,
the relations between fields, the repeated-item checks, the layer types (PyTorch class
names; the other frameworks' operator types are checked for case only), what a
``common_config`` setting turns into on the layers that cannot take it, and the
effective config of each override and of every other layer.

Rules that need the model (a layer name that exists, the type of a named layer) are out
of scope: kvcal has no layer inventory for these configs.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from decimal import Decimal
from typing import TYPE_CHECKING

from kvcal.grammar.checks.effective import Row
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
from kvcal.grammar.plan import ALLOWED_NUM_OF_BINS
from kvcal.grammar.problems import Problem, ProblemExtras, Related, Severity, quoted
from kvcal.grammar.schema.fields import message_type

if TYPE_CHECKING:  # (typing.Unpack is Python 3.11+)
    from typing_extensions import Unpack

PT = "AMCTPytorchProto"
FW = "AMCTFrameworkProto"
PACKAGES = (PT, FW)

#: AMCT's quantizable PyTorch module types (capacity_config.csv QUANTIZABLE_TYPES)
QUANTIZABLE = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear", "AvgPool2d", "LSTM", "GRU")
#: the types whose weights are never per-channel (channel_wise must be false)
NOT_CHANNEL_WISE = ("Linear", "AvgPool2d")
NO_DMQ = ("AvgPool2d", "LSTM", "GRU")
NO_INT16 = ("Conv3d", "AvgPool2d")
ADA_TYPES = ("Conv2d", "ConvTranspose2d", "Linear")
WINOGRAD_TYPES = ("Conv2d",)  # quant_bits 6 and 7
SYMMETRIC_ONLY = ("Conv3d",)
#: PyTorch class names no other framework uses as an operator type (ONNX and Caffe have
#: LSTM and GRU too): a type override naming one is a PyTorch config's, whatever the schema
PYTORCH_ONLY = tuple(t for t in QUANTIZABLE if t not in ("LSTM", "GRU"))
#: the other frameworks' operator types the manual names (spec §1.8): not complete lists,
#: so a type is only checked for its case against these and the PyTorch names
FRAMEWORK_TYPES = {
    "Conv": "ONNX",
    "Gemm": "ONNX",
    "MatMul": "ONNX/TensorFlow",
    "Conv2D": "TensorFlow",
    "Convolution": "Caffe",
    "InnerProduct": "Caffe",
    "Pooling": "Caffe",
}
#: fully-connected and pooling types of every framework (per-tensor weights only)
ANY_NOT_CHANNEL_WISE = (*NOT_CHANNEL_WISE, "Gemm", "MatMul", "InnerProduct", "Pooling")
# Ascend's IFMR operator searches at most this many clip ratios.
MAX_IFMR_CANDIDATES = 4096
NUQ_STEPS = (16, 32)


def _value_rules(pkg: str) -> tuple[ValueRule, ...]:
    return (
        ValueRule(
            f"{pkg}.AMCTConfig",
            "batch_num",
            "batch-num",
            "error",
            'AMCT rejects it: "The batch_num must be greater than zero."',
            low=0,
        ),
        ValueRule(
            f"{pkg}.HFMGQuantize",
            "num_of_bins",
            "num-of-bins",
            "error",
            'AMCT rejects it ("num_of_bins N must be in [1024, 2048, 4096, 8192]")',
            choices=ALLOWED_NUM_OF_BINS,
        ),
        *(
            ValueRule(
                f"{pkg}.FMRQuantize",
                f,
                "percentile",
                "error",
                f'AMCT rejects it: "The {f} must be greater than 0.5 and less than or equal to 1.0"',
                low=0.5,
                high=1.0,
            )
            for f in ("max_percentile", "min_percentile")
        ),
        ValueRule(
            f"{pkg}.FMRQuantize",
            "search_range_start",
            "search-range",
            "error",
            'AMCT rejects it: "search_range[0] must be greater than zero"',
            low=0.0,
        ),
        ValueRule(
            f"{pkg}.FMRQuantize",
            "search_step",
            "search-step",
            "error",
            'AMCT rejects it: "The search_step must be greater than zero"',
            low=0.0,
        ),
        ValueRule(
            f"{pkg}.ARQuantize",
            "quant_bits",
            "value-range",
            "error",
            'AMCT rejects it: "weight num_bits is not in [4, 6, 7, 8]"',
            choices=(4, 6, 7, 8),
        ),
        ValueRule(
            f"{pkg}.DMQBalancer",
            "migration_strength",
            "value-range",
            "error",
            'AMCT rejects it: "The dmq_balancer_param must be in range [0.2, 0.8]"',
            low=0.2,
            low_inclusive=True,
            high=0.8,
        ),
        ValueRule(
            f"{pkg}.ADAquantize",
            "beta_range_end",
            "value-range",
            "error",
            'AMCT rejects it: "beta_range_end must large than 0"',
            low=0.0,
        ),
        ValueRule(
            f"{pkg}.ADAquantize",
            "warm_start",
            "value-range",
            "error",
            'AMCT rejects it: "warm_start must be less than 1 and larger than 0"',
            low=0.0,
            high=1.0,
            high_inclusive=False,
        ),
        ValueRule(
            f"{pkg}.ADAquantize",
            "reg_param",
            "value-range",
            "error",
            'AMCT rejects it: "reg_param must be less than 1 and larger than 0"',
            low=0.0,
            high=1.0,
            high_inclusive=False,
        ),
    )


VALUE_RULES: tuple[ValueRule, ...] = (
    *_value_rules(PT),
    *_value_rules(FW),
    # NUQ (spec §1.8: the constants AMCT's shared field code keeps for it)
    ValueRule(
        f"{FW}.NUQuantize",
        "num_steps",
        "value-range",
        "error",
        "AMCT's NUQ takes 16 or 32 steps only",
        choices=NUQ_STEPS,
    ),
    ValueRule(
        f"{FW}.NUQuantize",
        "num_of_iteration",
        "value-range",
        "error",
        "AMCT's NUQ takes 0 to 5 iterations",
        choices=(0, 1, 2, 3, 4, 5),
    ),
)

_RULES_BY_MESSAGE = by_message(VALUE_RULES)
_FMR = {f"{p}.FMRQuantize" for p in PACKAGES}
_ADA = {f"{p}.ADAquantize" for p in PACKAGES}
#: the messages whose views check_values reads: value rules, IFMR's and ADA's relations
RULED_MESSAGES = frozenset({*_RULES_BY_MESSAGE, *_FMR, *_ADA})

_DEFAULTS_NOTE = (
    "the entry silently gets all built-in defaults (ARQ and IFMR with default parameters), not common_config"
)
#: what AMCT does when a required field is missing (the walk's missing-required message)
REQUIRED = {
    **{
        f"{p}.OverrideLayer.layer_name": "AMCT reads '' (the model's root module), so the entry passes the "
        "existence check and is then silently ignored"
        for p in PACKAGES
    },
    **{
        f"{p}.OverrideLayerType.layer_type": "AMCT reads '' and rejects it (\"Layer type  does not support quantize.\")"
        for p in PACKAGES
    },
    **{f"{p}.{m}.calibration_config": _DEFAULTS_NOTE for p in PACKAGES for m in ("OverrideLayer", "OverrideLayerType")},
    f"{FW}.TensorQuantize.layer_name": 'AMCT raises RuntimeError "To quantize tensor, must set \\"layer_name\\" '
    'at first."',
    f"{FW}.TensorQuantize.input_index": 'AMCT raises RuntimeError "To quantize tensor, must set \\"input_index\\" '
    'at first."',
    f"{FW}.NuqConfig.mapping_file": "AMCT reads '' and NUQ has no fused-graph JSON of the deployed model to read",
}

_OTHER_FRAMEWORKS = (
    "is a field of the amct_onnx / amct_tensorflow / amct_caffe AMCTConfig, not of amct_pytorch's: "
    "AMCT's PyTorch proto has no such field"
)
#: unknown fields of the PyTorch schema that users copy from other releases and frameworks
UNKNOWN_NOTES = {
    "nuq_config": "NUQ (nuq_config) is only in older commercial AMCT releases (up to 8.5) and in the amct_onnx / "
    "amct_tensorflow / amct_caffe AMCTConfig; the open-source amct_pytorch proto has no such field: remove it, or "
    "check the file as an ONNX/TensorFlow/Caffe config",
    **{
        name: f"'{name}' {_OTHER_FRAMEWORKS}"
        for name in (
            "joint_quant",
            "tensor_quantize",
            "skip_approximation_layers",
            "conv_calibration_config",
            "fc_calibration_config",
        )
    },
}


def _framework(root: View) -> bool:
    return root.descriptor.full_name.startswith(FW + ".")


# -- relations inside one message -------------------------------------------------------------

_IFMR_RANGE = ("search_range_start", "search_range_end", "search_step")


def _check_ifmr(view: View) -> list[Problem]:
    """FMRQuantize: start < end (P18), step <= end - start in exact decimals (P20, PS15),
    candidate count (PS16). Omitted fields take their defaults, as AMCT converts them."""
    occs = [view.last(n) for n in _IFMR_RANGE]
    if not any(occs):
        return []
    s_occ, e_occ, step_occ = occs
    start, end, step = (float(view.value(n)) for n in _IFMR_RANGE)
    start, end, step = (float(show(v)) if math.isfinite(v) else v for v in (start, end, step))
    endless = nonfinite_search(s_occ, e_occ, step_occ, "its search")
    if endless:
        return endless
    if math.isnan(start) or math.isnan(step):
        return []  # the value rules report these
    anchor = s_occ or e_occ
    if anchor is not None and start >= end:
        data = None
        if s_occ and e_occ and start > end:
            data = {"swap": [[s_occ.node.start, s_occ.node.end], [e_occ.node.start, e_occ.node.end]]}
        other = e_occ if anchor is s_occ else None
        return [
            problem(
                "search-range",
                "error",
                anchor,
                f"search_range_start ({show(start)}) must be less than search_range_end ({show(end)}): "
                'AMCT rejects it ("search_range[0] must be less than search_range[1]")',
                data=data,
                related=related(other),
            )
        ]
    if step <= 0 or start <= 0:
        return []  # the value rules report it
    where = step_occ or anchor
    assert where is not None
    width = Decimal(show(end)) - Decimal(show(start))
    if Decimal(show(step)) > width:
        return [
            problem(
                "search-step",
                "error",
                where,
                f"search_step {show(step)} is larger than the search range ({show(end)} - {show(start)} = "
                f'{width}): AMCT rejects it ("The search_step must be less than or equal to '
                '(search_range[1] - search_range[0])")',
            )
        ]
    if Decimal(show(step)) == width:
        return [
            problem(
                "search-step",
                "warning",
                where,
                f"search_step {show(step)} equals the search range: IFMR tries one single clip ratio ({show(start)})",
            )
        ]
    count = math.ceil((end - start) / step)
    if count > MAX_IFMR_CANDIDATES:
        return [
            problem(
                "search-step",
                "warning",
                where,
                f"{count} clip ratios to search: Ascend's IFMR operator supports at most "
                f"{MAX_IFMR_CANDIDATES}; use a search_step of at least "
                f"{show((end - start) / MAX_IFMR_CANDIDATES)}",
            )
        ]
    return []


def _check_ada(view: View) -> list[Problem]:
    """ADAquantize: beta_range_start > beta_range_end (P24); omitted ends take their defaults."""
    s_occ, e_occ = view.last("beta_range_start"), view.last("beta_range_end")
    if s_occ is None and e_occ is None:
        return []
    start, end = float(view.value("beta_range_start")), float(view.value("beta_range_end"))
    if math.isnan(start) or math.isnan(end) or start > end:
        return []
    anchor = s_occ or e_occ
    assert anchor is not None
    return [
        problem(
            "value-range",
            "error",
            anchor,
            f"beta_range_start ({show(start)}) must be greater than beta_range_end ({show(end)}): AMCT "
            'rejects it ("beta_range_start must large than beta_range_end")',
            related=related(e_occ if anchor is s_occ else None),
        )
    ]


def check_values(
    root: View, text: str, *, layers: Collection[str] | None = None, views: Collection[View] | None = None
) -> list[Problem]:
    """Value rules, relations, lists, layer types and common_config notes (spec §1.4, §1.6)."""
    out: list[Problem] = []
    for view in walk_views(root) if views is None else views:
        name = view.descriptor.full_name
        if name in _RULES_BY_MESSAGE:
            out += check_rules(view, _RULES_BY_MESSAGE[name])
        if name in _FMR:
            out += _check_ifmr(view)
            out += _check_int16(view)
        elif name.endswith(".HFMGQuantize"):
            out += _check_int16(view)
        elif name in _ADA:
            out += _check_ada(view)
    framework = _framework(root)
    out += _check_lists(root, framework)
    out += _check_types(root, framework)
    out += _check_common(root, framework)
    out += _check_skipped_overrides(root)
    out += _check_partial_overrides(root)
    out += _check_fusion(root)
    out += _check_offsets(root)
    if framework:
        out += _check_framework(root)
    return out


# -- lists ------------------------------------------------------------------------------------

_LISTS = ("skip_layers", "skip_layer_types", "skip_fusion_layers")


def _check_lists(root: View, framework: bool) -> list[Problem]:
    """A name or type listed twice (P1-P5; skip_approximation_layers in the TensorFlow variant)."""
    out: list[Problem] = []
    for name in (*_LISTS, *(("skip_approximation_layers",) if framework else ())):
        out += _repeats(name, [(o, o) for o in root.all(name)], "this one")
    for name, key in (("override_layer_configs", "layer_name"), ("override_layer_types", "layer_type")):
        pairs = [(v.last(key), o) for o in root.all(name) if isinstance((v := o.value), View)]
        out += _repeats(name, [(k, o) for k, o in pairs if k is not None], "this override")
    return out


def _repeats(label: str, pairs: list[tuple[Occurrence, Occurrence]], what: str) -> list[Problem]:
    out: list[Problem] = []
    first: dict[str, Occurrence] = {}
    for occ, whole in pairs:
        f = first.get(occ.value)
        if f is None:
            first[occ.value] = occ
            continue
        # two [...] lists of one field (PS21: alternative blocks pasted into one file)
        merged = (
            f.field is not occ.field
            and label in _LISTS
            and (f.field.value is not f.node or occ.field.value is not occ.node)
        )
        why = f" ({label} is written more than once: protobuf's Merge joins the lists)" if merged else ""
        if whole is not occ or whole.field.value is occ.node:  # an override, or a one-value field
            delete: list[int] | None = [whole.field.start, whole.field.end]
        else:
            delete = None  # an item of a [...] list
        out.append(
            problem(
                "duplicate-layer",
                "error",
                occ,
                f'{quoted(occ.value)} is listed twice in {label}: AMCT rejects the file ("Please delete '
                f'repeated items in {label}, repeated items are [{quoted(occ.value)}]"){why}; delete {what}',
                related=(Related(f.node.start, f.node.end, "first listed here"),),
                data={"delete": delete} if delete else None,
            )
        )
    return out


# -- layer types ------------------------------------------------------------------------------


def _type_overrides(root: View) -> list[tuple[Occurrence, View]]:
    """(layer_type occurrence, the entry's view) of every override_layer_types entry with a type."""
    return [
        (t, o.value)
        for o in root.all("override_layer_types")
        if isinstance(o.value, View) and (t := o.value.last("layer_type")) is not None
    ]


def _check_types(root: View, framework: bool) -> list[Problem]:
    out: list[Problem] = []
    occs = [*(t for t, _ in _type_overrides(root)), *root.all("skip_layer_types")]
    for occ in occs:
        out += _framework_type(occ) if framework else _pytorch_type(occ)
    skipped = {o.value for o in root.all("skip_layer_types")}
    if skipped >= set(QUANTIZABLE):
        last = root.all("skip_layer_types")[-1]
        out.append(
            Problem(
                "no-layers",
                "error",
                last.field.name.start,
                last.field.name.end,
                "skip_layer_types lists all nine quantizable types: nothing is left to quantize; AMCT "
                'rejects the file ("Except skip_types, no type need to quantize.")',
            )
        )
    # In the ONNX/TensorFlow/Caffe schema, an override naming a PyTorch-only class gets the
    # PyTorch checks too: the file is a PyTorch config, or AMCT rejects the type anyway.
    limited = PYTORCH_ONLY if framework else QUANTIZABLE
    for occ, entry in _type_overrides(root):
        if occ.value in limited:
            out += _type_override_limits(occ, entry.child("calibration_config"))
    return out


def _pytorch_type(occ: Occurrence) -> list[Problem]:
    """P6/P7: a type AMCT's PyTorch flow does not quantize (class names, case-sensitive)."""
    if occ.value in QUANTIZABLE:
        return []
    close = suggest(occ.value, QUANTIZABLE)
    hint = f"did you mean '{close}'? " if close else ""
    where = occ.field.name.text
    return [
        problem(
            "layer-type",
            "error",
            occ,
            f'{where} {quoted(occ.value)} is not a quantizable PyTorch module type: AMCT rejects it ("Layer type '
            f'{occ.value} does not support quantize."); {hint}types are class names, case-sensitive: '
            f"{', '.join(QUANTIZABLE)}",
            data={"suggestion": repr(close)} if close else None,
        )
    ]


def _framework_type(occ: Occurrence) -> list[Problem]:
    """ONNX/TensorFlow/Caffe: the type lists are not published; a type that matches a known
    type except for its case is certainly wrong (AMCT compares types exactly)."""
    known = (*QUANTIZABLE, *FRAMEWORK_TYPES)
    if occ.value in known:
        return []
    same = [k for k in known if k.lower() == occ.value.lower()]
    if not same:
        return []
    shown = " or ".join(f"'{k}' ({FRAMEWORK_TYPES.get(k, 'PyTorch')})" for k in same)
    return [
        problem(
            "layer-type",
            "error",
            occ,
            f"layer type {quoted(occ.value)} differs from {shown} only in case: AMCT compares operator types "
            f'exactly and rejects it ("Layer type {occ.value} does not support quantize.")',
            data={"suggestion": repr(same[0])},
        )
    ]


def _algorithms(cal: View | None) -> tuple[tuple[str | None, View | None], tuple[str | None, View | None], View | None]:
    """The weight algorithm, the activation algorithm (each: the member Merge keeps and its
    view) and the dmq_balancer view of a CalibrationConfig."""
    if cal is None:
        return (None, None), (None, None), None
    return cal.oneof_view("wts_quant_algo"), cal.oneof_view("acts_quant_algo"), cal.child("dmq_balancer")


def _type_override_limits(type_occ: Occurrence, cal: View | None) -> list[Problem]:
    """P9-P14: settings a type override may not give its type."""
    kind = type_occ.value
    out: list[Problem] = []
    (wts, wts_view), (_, act_view), dmq = _algorithms(cal)
    if wts_view is not None:
        cw = wts_view.last("channel_wise")
        if cw is not None and cw.value and kind in NOT_CHANNEL_WISE:
            consequence = (
                f'AMCT rejects it ("channel_wise can only be False for {kind} type")'
                if wts == "arq_quantize"
                else f'AMCT fails on every {kind} module ("The channel_wise must be False for layer type {kind}")'
            )
            out.append(
                problem(
                    "channel-wise",
                    "error",
                    cw,
                    f"{kind} weights are per-tensor only: channel_wise: true in its type override; "
                    f"{consequence}; set channel_wise: false or remove it",
                    data={"suggestion": "false"},
                )
            )
        bits = wts_view.last("quant_bits") if wts == "arq_quantize" else None
        if bits is not None and bits.value in (6, 7) and kind not in WINOGRAD_TYPES:
            out.append(
                problem(
                    "data-type",
                    "error",
                    bits,
                    f'quant_bits {bits.value} is for Conv2d only: AMCT rejects it for {kind} ("quant_bits '
                    f'{bits.value} not support for {kind} type"); use 8 (or 4)',
                    data={"suggestion": "8"},
                )
            )
        if wts == "ada_quantize" and kind not in ADA_TYPES:
            occ = cal.last("ada_quantize") if cal is not None else None
            assert occ is not None
            out.append(
                _on_name(
                    "layer-type",
                    "error",
                    occ,
                    f"AdaRound (ada_quantize) is for Conv2d, ConvTranspose2d and Linear only: AMCT rejects it "
                    f'for {kind} ("ada_quantizable not support for {kind} layer"); use arq_quantize',
                )
            )
    if act_view is not None:
        asym = act_view.last("asymmetric")
        if asym is not None and asym.value and kind in SYMMETRIC_ONLY:
            out.append(
                problem(
                    "layer-type",
                    "error",
                    asym,
                    f"{kind} activations are symmetric only: AMCT rejects asymmetric: true in its type "
                    f'override ("Layer type {kind} can only set asymmetric be False")',
                    data={"suggestion": "false"},
                )
            )
        dst = act_view.last("dst_type")
        if dst is not None and dst.value == 2 and kind in NO_INT16:
            out.append(
                problem(
                    "data-type",
                    "error",
                    dst,
                    f"{kind} has no 16-bit activations: AMCT rejects dst_type: INT16 in its type override "
                    f'("int16_quantizable not support for {kind} type"); use INT8',
                    data={"suggestion": "INT8"},
                )
            )
    if dmq is not None and kind in NO_DMQ and cal is not None:
        occ = cal.last("dmq_balancer")
        assert occ is not None
        out.append(
            _on_name(
                "layer-type",
                "error",
                occ,
                f'dmq_balancer is not for {kind}: AMCT rejects it ("dmq_balancer not support for {kind} '
                'type"); remove it from this override',
            )
        )
    return out


def _on_name(code: str, severity: Severity, occ: Occurrence, message: str, **kw: Unpack[ProblemExtras]) -> Problem:
    """A problem on the field name of *occ* (a message block: its name, not the whole block)."""
    return Problem(code, severity, occ.field.name.start, occ.field.name.end, message, **kw)


# -- what common_config becomes on the layers that cannot take it -----------------------------


def _covered(root: View) -> set[str]:
    """Types that never get common_config: skipped by type, or with a type override."""
    return {o.value for o in root.all("skip_layer_types")} | {t.value for t, _ in _type_overrides(root)}


def _check_common(root: View, framework: bool) -> list[Problem]:
    common = root.child("common_config")
    if common is None:
        return []
    out: list[Problem] = []
    covered = _covered(root)
    (wts, wts_view), (_, act_view), dmq = _algorithms(common)
    cw = wts_view.last("channel_wise") if wts_view is not None else None
    if cw is not None and cw.value:
        if framework:
            if not covered & set(ANY_NOT_CHANNEL_WISE):
                out.append(
                    problem(
                        "channel-wise",
                        "warning",
                        cw,
                        "channel_wise: true in common_config reaches every fully-connected and pooling layer "
                        "(ONNX Gemm/MatMul, TensorFlow MatMul, Caffe InnerProduct/Pooling) without a type "
                        'override: AMCT fails on the first one ("The channel_wise must be False for layer '
                        'type ..."); give those types an override_layer_types entry with channel_wise: false, '
                        "or skip them (fine if the model has none)",
                    )
                )
        else:
            affected = NOT_CHANNEL_WISE if wts == "arq_quantize" else ("Linear",)
            missing = [t for t in affected if t not in covered]
            if missing:
                names = " and ".join(missing)
                out.append(
                    problem(
                        "channel-wise",
                        "warning",
                        cw,
                        f"channel_wise: true in common_config reaches every {names} module (no type override "
                        f"or skip for {names}; in ONNX/TensorFlow/Caffe models: every fully-connected and "
                        'pooling layer): AMCT fails on the first one ("The channel_wise must be False '
                        f'for layer type {missing[0]} in layer ..."); add override_layer_types for {names} '
                        "with channel_wise: false, or skip them (fine if the model has none)",
                    )
                )
    asym = act_view.last("asymmetric") if act_view is not None else None
    if asym is not None and asym.value and "Conv3d" not in covered and not framework:
        out.append(
            problem(
                "no-effect",
                "warning",
                asym,
                "asymmetric: true in common_config does not reach Conv3d modules: AMCT forces them "
                "symmetric (an info log only); give Conv3d a type override with asymmetric: false to say "
                "so",
            )
        )
    # what AMCT's shared code lowers or drops per layer: named for PyTorch, said generally otherwise
    bits = wts_view.last("quant_bits") if wts == "arq_quantize" and wts_view is not None else None
    if bits is not None and bits.value in (6, 7):
        which = "the layers that support 6- and 7-bit weights (in PyTorch: Conv2d)" if framework else "Conv2d modules"
        out.append(
            problem(
                "data-type",
                "information",
                bits,
                f"quant_bits {bits.value} from common_config: only {which} keep it; AMCT quietly uses 8 bits "
                "for every other layer",
            )
        )
    if dmq is not None and (framework or "AvgPool2d" not in covered):
        which = "layers that do not support it" if framework else "AvgPool2d modules"
        occ = common.last("dmq_balancer")
        assert occ is not None
        out.append(
            _on_name(
                "no-effect",
                "information",
                occ,
                f'dmq_balancer from common_config is dropped on {which} (AMCT warns "Layer X does not '
                'support dmq_balancer"); run quantize_preprocess before quantize_model',
            )
        )
    if wts == "ada_quantize":
        which = "the layers AdaRound supports" if framework else "Conv2d, ConvTranspose2d and Linear modules"
        occ = common.last("ada_quantize")
        assert occ is not None
        out.append(
            _on_name(
                "no-effect",
                "information",
                occ,
                f"ada_quantize from common_config is kept on {which} only: every other quantized layer "
                "silently loses these weight settings",
            )
        )
    return out


def _check_int16(view: View) -> list[Problem]:
    """PS20 (and PS9 in common_config): INT16 activations."""
    dst = view.last("dst_type")
    if dst is None or dst.value != 2:
        return []
    which = "" if view.descriptor.full_name.startswith(FW + ".") else " (Conv3d, AvgPool2d, Linear without bias)"
    return [
        problem(
            "compat",
            "information",
            dst,
            "dst_type: INT16 (16-bit activations): the AMCT manual says only INT8 is supported, the code "
            f"accepts INT16; layers that cannot do it{which} fall back to INT8 with a warning when INT16 "
            "comes from common_config, and are rejected when an override gives it to them",
        )
    ]


# -- skips, overrides, fusion, offsets --------------------------------------------------------


def _check_skipped_overrides(root: View) -> list[Problem]:
    """PS6: a layer (type) both skipped and overridden: the skip wins."""
    out: list[Problem] = []
    for skip, entries, key in (
        ("skip_layers", "override_layer_configs", "layer_name"),
        ("skip_layer_types", "override_layer_types", "layer_type"),
    ):
        skipped = {o.value: o for o in reversed(root.all(skip))}
        for entry in root.children(entries):
            occ = entry.last(key)
            if occ is not None and occ.value in skipped:
                s = skipped[occ.value]
                out.append(
                    problem(
                        "skip-override",
                        "warning",
                        occ,
                        f"{quoted(occ.value)} is also in {skip}: the skip wins, AMCT does not quantize it and this "
                        "override is never used; remove one of them",
                        related=(Related(s.node.start, s.node.end, f"skipped here ({skip})"),),
                    )
                )
    return out


_GROUPS = (
    ("wts_quant_algo", "weights", "ARQ"),
    ("acts_quant_algo", "activations", "IFMR"),
    ("tensor_balancer", "balancing", "none"),
)


def replaced(common: View | None, cal: View | None) -> list[str]:
    """What an override's CalibrationConfig loses by replacing *common* wholesale (PS7):
    one phrase per common_config setting it does not repeat (``asymmetric`` excepted: that
    one is inherited when both use the same algorithm)."""
    if common is None or cal is None:
        return []
    out: list[str] = []
    for oneof, _what, default in _GROUPS:
        mine, mine_view = cal.oneof_view(oneof)
        theirs, theirs_view = common.oneof_view(oneof)
        if theirs is None:
            continue
        if mine is None:
            out.append(f"{theirs} (gets {'no balancer' if default == 'none' else default + ' defaults'})")
        elif mine == theirs and theirs_view is not None:
            lost = [
                n
                for n, occs in theirs_view.fields.items()
                if occs
                and n != "asymmetric"
                and (mine_view is None or not mine_view.has(n))
                and not _is_default(theirs_view, n)
            ]
            out += [f"{theirs}.{n} (gets the default)" for n in lost]
    return out


#: what AMCT uses for an unset field the .proto gives no default
_IMPLIED_DEFAULTS = {"quant_bits": 8}


def _is_default(view: View, name: str) -> bool:
    """Whether *view*'s value of *name* is what AMCT uses when the field is unset."""
    fd = view.descriptor.fields_by_name.get(name)
    if fd is None or fd.message_type is not None:
        return False
    value: object = view.value(name)
    if fd.has_default_value:
        return show(value) == show(fd.default_value) if isinstance(value, float) else value == fd.default_value
    return _IMPLIED_DEFAULTS.get(name) == value


def _check_partial_overrides(root: View) -> list[Problem]:
    common = root.child("common_config")
    if common is None:
        return []
    out: list[Problem] = []
    for entry in (*root.children("override_layer_configs"), *root.children("override_layer_types")):
        occ = entry.last("calibration_config")
        if occ is None:
            continue
        lost = replaced(common, entry.child("calibration_config"))
        if lost:
            out.append(
                _on_name(
                    "override-replaces",
                    "information",
                    occ,
                    "this calibration_config replaces common_config wholesale, it does not merge with it: "
                    f"not inherited here: {', '.join(lost)}; repeat what should stay",
                )
            )
    return out


def _check_fusion(root: View) -> list[Problem]:
    """PS17: skip_fusion_layers while do_fusion is false."""
    fusion = root.last("do_fusion")
    if fusion is None or fusion.value or not root.has("skip_fusion_layers"):
        return []
    first = root.all("skip_fusion_layers")[0]
    return [
        Problem(
            "no-effect",
            "information",
            first.field.name.start,
            first.field.name.end,
            "skip_fusion_layers has no effect: do_fusion is false, nothing is fused (AMCT still rejects a "
            "repeated name)",
            related=related(fusion),
            tags=("unnecessary",),
        )
    ]


def _act_blocks(cal: View | None) -> tuple[str | None, View | None]:
    """The activation algorithm of a CalibrationConfig (or a TensorQuantize entry) and its view."""
    if cal is None:
        return None, None
    oneof = "acts_quant_algo" if "acts_quant_algo" in cal.descriptor.oneofs_by_name else "tensor_quant_algo"
    return cal.oneof_view(oneof)


def _check_offsets(root: View) -> list[Problem]:
    """PS19: an algorithm's `asymmetric` next to activation_offset: which one wins."""
    global_occ = root.last("activation_offset")
    if global_occ is None:
        return []
    out: list[Problem] = []
    common = root.child("common_config")
    cals: list[tuple[str, View | None]] = [("common_config", common)] if common is not None else []
    cals += [
        (e.field.name.text, e.value.child("calibration_config"))
        for name in ("override_layer_configs", "override_layer_types")
        for e in root.all(name)
        if isinstance(e.value, View)
    ]
    cals += [("tensor_quantize", entry) for entry in root.children("tensor_quantize")]  # (ONNX/TensorFlow)
    shown = str(global_occ.value).lower()
    decided = common is not None and bool(cals)
    for where, cal in cals:
        _, act = _act_blocks(cal)
        occ = act.last("asymmetric") if act is not None else None
        if occ is None:
            decided = False
            continue
        if occ.value != global_occ.value:
            out.append(
                problem(
                    "precedence",
                    "information",
                    occ,
                    f"asymmetric: {str(occ.value).lower()} wins over activation_offset: {shown} for the "
                    f"layers of this {where}",
                    related=related(global_occ),
                )
            )
    if decided:
        out.append(
            problem(
                "no-effect",
                "hint",
                global_occ,
                "activation_offset has no effect: common_config and every override set their own asymmetric",
                tags=("unnecessary",),
            )
        )
    return out


# -- the ONNX/TensorFlow/Caffe fields ---------------------------------------------------------


def _check_framework(root: View) -> list[Problem]:
    out: list[Problem] = []
    modern = [n for n in ("common_config", "override_layer_types") if root.has(n)]
    for name in ("conv_calibration_config", "fc_calibration_config"):
        occ = root.last(name)
        if occ is None:
            continue
        if modern:
            out.append(
                _on_name(
                    "no-effect",
                    "warning",
                    occ,
                    f'{name} is ignored: the file has {" and ".join(modern)} (AMCT warns "{name} field would '
                    'be ignored when common_config or override_layer_types exists"); move its settings there',
                    tags=("unnecessary",),
                )
            )
            continue
        out.append(
            _on_name(
                "compat",
                "information",
                occ,
                f'{name} is deprecated (AMCT logs "{name} field has been deprecated, use common_config and '
                'override_layer_types instead"); it still applies here',
            )
        )
        fc = root.child(name)
        (wts, wts_view), _, _ = _algorithms(fc)
        cw = wts_view.last("channel_wise") if wts_view is not None and wts == "arq_quantize" else None
        if name == "fc_calibration_config" and cw is not None and cw.value:
            out.append(
                problem(
                    "channel-wise",
                    "error",
                    cw,
                    'fully-connected weights are per-tensor only: AMCT rejects it ("channel_wise can only be '
                    'False for fc_calibration_config field")',
                    data={"suggestion": "false"},
                )
            )
    nuq = root.last("nuq_config")
    if nuq is not None:
        out.append(
            _on_name(
                "compat",
                "information",
                nuq,
                "nuq_config (non-uniform quantization) is listed by the AMCT manuals up to 8.5 only: later "
                "releases may reject the file, and the open-source amct_pytorch always does (its proto has "
                "no nuq_config)",
            )
        )
    return out


# -- the effective config ---------------------------------------------------------------------


def _member(cal: View, name: str) -> View:
    """The view of the algorithm block *name* of *cal*, or an empty one (its defaults)."""
    view = cal.child(name)
    return view if view is not None else View(message_type(cal.descriptor.fields_by_name[name]))


def _activation(cal: View) -> str:
    act, _ = _act_blocks(cal)
    view = _member(cal, act or "ifmr_quantize")
    if act == "hfmg_quantize":
        params = [_param(view, "num_of_bins")]
    else:
        start, end = (_param(view, n).split(" ", 1)[1] for n in ("search_range_start", "search_range_end"))
        params = [
            f"search_range [{start}, {end}]",
            *(_param(view, n) for n in ("search_step", "max_percentile", "min_percentile")),
        ]
    algo = "hfmg" if act == "hfmg_quantize" else "ifmr" + ("" if act else " (default)")
    bits = "16" if view.value("dst_type") == 2 else "8"
    return f"act_algo {algo}, " + ", ".join(params) + f", num_bits {bits}"


def _weights(cal: View) -> str:
    wts, _ = cal.oneof_view("wts_quant_algo")
    view = _member(cal, wts or "arq_quantize")
    cw = view.last("channel_wise")
    channel = str(cw.value).lower() if cw is not None else "by layer type (unset)"
    if wts == "ada_quantize":
        start, end = (_param(view, n).split(" ", 1)[1] for n in ("beta_range_start", "beta_range_end"))
        params = [
            _param(view, "num_iteration"),
            _param(view, "reg_param"),
            f"beta_range [{start}, {end}]",
            _param(view, "warm_start"),
        ]
        return f"wts_algo ada_quantize, channel_wise {channel}, num_bits 8, " + ", ".join(params)
    bits = show(view.value("quant_bits")) if view.has("quant_bits") else "8"
    return f"wts_algo arq_quantize{'' if wts else ' (default)'}, channel_wise {channel}, num_bits {bits}"


def _param(view: View, name: str) -> str:
    return f"{name} {show(view.value(name))}" + ("" if view.has(name) else " (default)")


def _asymmetric(cal: View | None, common: View | None, root: View, own: bool) -> str:
    """§1.3: the config's own asymmetric; else common_config's when both use the same
    activation algorithm; else activation_offset."""
    act, view = _act_blocks(cal)
    occ = view.last("asymmetric") if view is not None else None
    if occ is not None:
        return f"{str(occ.value).lower()} (this config)" if not own else f"{str(occ.value).lower()}"
    c_act, c_view = _act_blocks(common)
    c_occ = c_view.last("asymmetric") if c_view is not None else None
    if not own and c_occ is not None and (act or "ifmr_quantize") == (c_act or "ifmr_quantize"):
        return f"{str(c_occ.value).lower()} (common_config's, same activation algorithm)"
    offset = root.last("activation_offset")
    return f"{str(root.value('activation_offset')).lower()} (activation_offset" + ("" if offset else ", default") + ")"


def _settings(cal: View, common: View | None, root: View, own: bool) -> tuple[tuple[str, str], ...]:
    rows = [("activation_quant_params", _activation(cal)), ("asymmetric", _asymmetric(cal, common, root, own))]
    if "wts_quant_algo" in cal.descriptor.oneofs_by_name:
        rows.append(("weight_quant_params", _weights(cal)))
        dmq = cal.child("dmq_balancer")
        if dmq is not None:
            rows.append(("dmq_balancer_param", show(dmq.value("migration_strength"))))
    return tuple(rows)


def _calibration(root: View, cal: View | None) -> View:
    """*cal*, or an empty CalibrationConfig (every algorithm at its defaults)."""
    return cal if cal is not None else View(message_type(root.descriptor.fields_by_name["common_config"]))


def _span(occ: Occurrence | None) -> tuple[int, int] | None:
    return (occ.node.start, occ.node.end) if occ is not None else None


def effective(root: View, text: str) -> list[Row]:
    """One row per layer override, per type override, per tensor_quantize entry, and one for
    every other layer (spec §1.3)."""
    common = root.child("common_config")
    framework = _framework(root)
    skip_names = {o.value for o in root.all("skip_layers")}
    skip_types = {o.value for o in root.all("skip_layer_types")}
    rows: list[Row] = []
    replaces = "replaces common_config wholesale: what it leaves out gets the built-in defaults"
    for entry in root.children("override_layer_configs"):
        name = entry.last("layer_name")
        target = name.value if name is not None else "(no layer_name)"
        cal = entry.child("calibration_config")
        notes = []
        if target in skip_names:
            notes.append("in skip_layers: the skip wins; AMCT writes quant_enable false and never uses this override")
        if common is not None:
            lost = replaced(common, cal)
            notes.append(replaces + (f" (not inherited: {', '.join(lost)})" if lost else ""))
        notes.append("wins over any override_layer_types entry for its type")
        rows.append(
            Row(
                target,
                "layer",
                "override_layer_configs",
                _settings(_calibration(root, cal), common, root, False),
                tuple(notes),
                span=_span(name),
            )
        )
    for occ, entry in _type_overrides(root):
        cal = entry.child("calibration_config")
        notes = []
        if occ.value in skip_types:
            notes.append("in skip_layer_types: the skip wins; these layers are not quantized")
        if common is not None:
            lost = replaced(common, cal)
            notes.append(replaces + (f" (not inherited: {', '.join(lost)})" if lost else ""))
        if occ.value in SYMMETRIC_ONLY and not framework:
            notes.append("Conv3d is always quantized symmetric")
        if root.has("override_layer_configs"):
            notes.append("layers named in override_layer_configs use their own override instead")
        rows.append(
            Row(
                f"every {occ.value}",
                "type",
                "override_layer_types",
                _settings(_calibration(root, cal), common, root, False),
                tuple(notes),
                span=_span(occ),
            )
        )
    for entry in root.children("tensor_quantize"):
        name, index = entry.last("layer_name"), entry.last("input_index")
        target = f"{name.value if name else '(no layer_name)'} input {index.value if index else '(no input_index)'}"
        rows.append(
            Row(
                target,
                "layer",
                "tensor_quantize",
                _settings(entry, None, root, True),
                ("quantizes this input tensor of the node (IFMR unless hfmg_quantize is given)",),
                span=_span(name),
            )
        )
    rows.append(_global_row(root, common, framework, skip_names, skip_types))
    return rows


def _global_row(root: View, common: View | None, framework: bool, skip_names: set[str], skip_types: set[str]) -> Row:
    source, cal = "built-in defaults", None
    if common is not None:
        source, cal = "common_config", common
    elif framework and root.has("conv_calibration_config") and not root.has("override_layer_types"):
        source, cal = "conv_calibration_config (deprecated)", root.child("conv_calibration_config")
    notes = []
    if skip_names or skip_types:
        skipped = [*(f"{quoted(n)}" for n in sorted(skip_names)), *(f"every {t}" for t in sorted(skip_types))]
        notes.append("not quantized (quant_enable false): " + ", ".join(skipped))
    if root.has("override_layer_configs") or root.has("override_layer_types"):
        notes.append("layers and types with an override use it instead")
    if not framework and cal is not None:
        (wts, wview), (_, aview), dmq = _algorithms(cal)
        if aview is not None and aview.value("dst_type") == 2:
            notes.append(
                "INT16 activations fall back to INT8 on layers that cannot do it (Conv3d, AvgPool2d, "
                "Linear without bias)"
            )
        if wts == "arq_quantize" and wview is not None and wview.value("quant_bits") in (6, 7):
            notes.append(f"quant_bits {wview.value('quant_bits')} is kept on Conv2d only; other layers use 8")
        if dmq is not None:
            notes.append("dmq_balancer is dropped on AvgPool2d")
        if wts == "ada_quantize":
            notes.append(
                "ada_quantize is kept on Conv2d, ConvTranspose2d and Linear only; other layers lose their "
                "weight settings"
            )
    if not framework:
        notes.append("Conv3d is always quantized symmetric")
    anchor = root.last("common_config")
    span = (anchor.field.name.start, anchor.field.name.end) if anchor is not None else None
    return Row(
        "every other layer",
        "global",
        source,
        _settings(_calibration(root, cal), None, root, True),
        tuple(notes),
        span=span,
    )
