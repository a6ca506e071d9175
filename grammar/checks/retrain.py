"""The retrain config's rule table (``AMCTRetrainConfig``, spec AMCT-CONFIG-FAMILY.md §2):
quantization-aware training (QAT), filter and 2:4 pruning, and both at once.

**One schema, three modes, and the file cannot say which.** AMCT reads the same file with
``create_quant_retrain_config`` (QAT only: prune content is refused, R15, or silently
ignored, RS6), with ``create_prune_retrain_model`` / ``create_compressed_retrain_model`` and
their ``restore_*`` ("compressed": the file's content switches quantization and pruning on,
R14, R16-R18), and writes it from ``auto_channel_prune_search``. kvcal infers the mode from
the content, as a reader of the file would:

- a file with any prune content (a ``prune_config`` anywhere, even an empty one, or a
  ``regular_prune_skip_*`` list) is meant for the prune/compressed APIs;
- any other file is meant for ``create_quant_retrain_config``.

Rules that hold in every mode are errors. A mode-dependent rule (R13-R18, RS6, RS14) is
reported for the implied mode, and its message names the API it is about and, where the
other mode differs, what that one does ("create_prune_retrain_model ... crash; with
create_quant_retrain_config it is ignored"). Where both modes refuse a thing (prune skip
lists with no prune_config anywhere: R15 and R17) the message says so. Where the implied
mode accepts what the other refuses, kvcal says which APIs the file is for as information
(R14 for a file that enables nothing, R15 for a pruning file), and warns where the other
mode would silently do something else (RS6: a file that quantizes and prunes only through
``override_layer_types`` loses its pruning, without an error, under
``create_quant_retrain_config``).

Skips and overrides resolve differently per feature (spec §2.3): for **quantization the
override wins** (any override naming a layer or its type quantizes it, even a skipped one:
RS3), for **pruning the skip wins** (RS8). Overrides replace a layer's whole quant config:
parts they lack get AMCT's built-in defaults, not the top-level config (RS4). The
``skip-override`` and ``override-replaces`` diagnostics and the :func:`effective` rows say
which wins for which feature. The distillation config (``distill.py``) reuses the list
helpers here; there the skip wins.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvcal.grammar.checks.effective import Row, RowKind
from kvcal.grammar.checks.values import (
    ValueRule,
    by_message,
    check_rules,
    clip_rules,
    problem,
    related,
    show,
)
from kvcal.grammar.checks.views import Occurrence, View, suggest, walk_views
from kvcal.grammar.problems import Problem, ProblemExtras, Related, Severity, quoted

if TYPE_CHECKING:  # (typing.Unpack is Python 3.11+)
    from typing_extensions import Unpack

PKG = "AMCTPytorchProto"
ROOT = f"{PKG}.AMCTRetrainConfig"
_CLIP = f"{PKG}.ClipMaxMin"
_BCP = f"{PKG}.BalancedL2NormFilterPruner"

#: AMCT's capacity lists (capacity_config.csv): QAT, filter pruning, 2:4 pruning
RETRAIN_TYPES = ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "Linear", "LSTM", "GRU")
FILTER_PRUNE_TYPES = ("Conv2d", "Linear")
SELECTIVE_PRUNE_TYPES = ("Conv2d", "Linear", "ConvTranspose2d")
STRATEGY_TYPES = {"filter_pruner": FILTER_PRUNE_TYPES, "n_out_of_m_pruner": SELECTIVE_PRUNE_TYPES}
STRATEGY_WORDS = {"filter_pruner": "filter pruning", "n_out_of_m_pruner": "2:4 pruning"}
STRATEGY_ALGO = {"filter_pruner": "balanced_l2_norm_filter_prune", "n_out_of_m_pruner": "l1_selective_prune"}

#: DataType numbers (retrain's DataType: INT4 0, INT8 1, INT16 2) -> bits
BITS = {0: 4, 1: 8, 2: 16}
INT8 = 1
#: the activation/weight pairs AMCT trains (RETRAIN_ACT_WTS_TYPES; A4W4 is listed, R6 blocks it)
QAT_PAIRS = frozenset({(8, 8), (16, 8), (8, 4)})

QAT_API = "create_quant_retrain_config"
PRUNE_APIS = "create_prune_retrain_model / create_compressed_retrain_model"
DEFAULT_ACT = "ULQ INT8 activations with the clip range initialised by IFMR"
DEFAULT_WTS = "ARQ INT8 weights, per channel except Linear"

_DATA, _WEIGHT, _PRUNE = "retrain_data_quant_config", "retrain_weight_quant_config", "prune_config"

VALUE_RULES: tuple[ValueRule, ...] = (
    ValueRule(
        ROOT, "batch_num", "batch-num", "error", 'AMCT refuses it ("batch_num(0) should be greater than zero.")', low=0
    ),
    ValueRule(
        _BCP,
        "prune_ratio",
        "value-range",
        "error",
        'AMCT refuses it ("prune ration should be greater than 0 and less than 1"): it is the '
        "fraction of filters removed; the manual suggests 0.2",
        low=0,
        high=1,
        high_inclusive=False,
    ),
    *clip_rules(_CLIP),
)

_RULES_BY_MESSAGE = by_message(VALUE_RULES)
RULED_MESSAGES = frozenset({*_RULES_BY_MESSAGE, ROOT})

#: what AMCT does when a required field is missing (the walk's missing-required message)
REQUIRED = {
    f"{_CLIP}.clip_max": 'AMCT refuses the file ("clip_max and clip_min are both required.")',
    f"{_CLIP}.clip_min": 'AMCT refuses the file ("clip_max and clip_min are both required.")',
    f"{_BCP}.prune_ratio": 'AMCT checks it itself and refuses the file ("prune_ratio is required for '
    'balanced_l2_norm_filter_prune, please add it.")',
    f"{PKG}.RetrainOverrideLayer.layer_name": "AMCT reads '' and ignores the entry, unless it carries a "
    'retrain config, which it then refuses ("some override_layer not in valid_layers for quant")',
    f"{PKG}.RetrainOverrideLayerType.layer_type": "AMCT reads '' and refuses the entry when it carries a "
    'config ("some override layers types not supported for quant" / "... for filter prune")',
}


# -- the file as AMCT reads it ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Who a block of settings is for: the top level (every other layer), or one override."""

    kind: RowKind  # "global", "layer", "type"
    view: View  # the root, or the override entry
    entry: Occurrence | None = None  # the override entry (None: the top level)
    key: Occurrence | None = None  # its layer_name / layer_type

    @property
    def name(self) -> str | None:
        return self.key.value if self.key is not None else None

    def shown(self) -> str:
        if self.kind == "global":
            return "every other layer"
        if self.key is None:
            return "this override"
        return f"{quoted(self.key.value)}" + (" layers" if self.kind == "type" else "")

    def anchor(self) -> tuple[int, int]:
        if self.key is not None:
            return self.key.node.start, self.key.node.end
        if self.entry is not None:
            return self.entry.field.name.start, self.entry.field.name.end
        return 0, 0


def targets(root: View, layers: str, types: str) -> list[Target]:
    """The overrides of *root* (by name under *layers*, by type under *types*)."""
    out = [Target("layer", occ.value, occ, occ.value.last("layer_name")) for occ in root.all(layers)]
    out += [Target("type", occ.value, occ, occ.value.last("layer_type")) for occ in root.all(types)]
    return out


@dataclass(frozen=True)
class Mode:
    """What the content says about the API (module docstring) and what AMCT turns on."""

    prune: bool  # the file has prune content: it is for the prune/compressed APIs
    quant_content: bool  # a retrain config at the top level or in an override
    prune_on: bool  # a prune_config at the top level or in an override (AMCT's HasField)
    strategy: str | None  # the top-level prune strategy (filter_pruner / n_out_of_m_pruner)

    @property
    def quant_on(self) -> bool:
        """Quantization runs: always with create_quant_retrain_config, by content otherwise."""
        return self.quant_content or not self.prune


def mode_of(root: View, overrides: list[Target]) -> Mode:
    quant = root.has(_DATA) or root.has(_WEIGHT) or any(t.view.has(_DATA) or t.view.has(_WEIGHT) for t in overrides)
    prune_on = root.has(_PRUNE) or any(t.view.has(_PRUNE) for t in overrides)
    prune = prune_on or root.has("regular_prune_skip_layers") or root.has("regular_prune_skip_types")
    top = root.child(_PRUNE)
    strategy = top.oneof_choice("regular_prune_strategy") if top is not None else None
    return Mode(prune, quant, prune_on, strategy)


def data_settings(block: View | None, ulq_oneof: str) -> dict[str, str]:
    """An activation config in AMCT's JSON words (``retrain_data_config``/``distill_data_config``)."""
    out = {"algo": "ulq_quantize"}
    ulq = block.oneof_view(ulq_oneof)[1] if block is not None else None
    clip = ulq.child("clip_max_min") if ulq is not None else None
    if clip is not None and clip.has("clip_max") and clip.has("clip_min"):
        out["clip_max"], out["clip_min"] = show(clip.value("clip_max")), show(clip.value("clip_min"))
    else:
        out["clip"] = "initialised by IFMR"
    if ulq is not None and ulq.has("fixed_min"):
        out["fixed_min"] = str(ulq.value("fixed_min")).lower()
    out["dst_type"] = f"INT{BITS.get(ulq.value('dst_type') if ulq is not None else INT8, '?')}"
    return out


def weight_settings(block: View | None, oneof: str, default_algo: str, layer_type: str | None = None) -> dict[str, str]:
    """A weight config in AMCT's JSON words (for *layer_type*'s layers, when known)."""
    algo, algo_view = block.oneof_view(oneof) if block is not None else (None, None)
    out = {"algo": algo or default_algo}
    if algo_view is not None and algo_view.has("channel_wise"):
        out["channel_wise"] = str(algo_view.value("channel_wise")).lower()
    elif layer_type is not None:
        out["channel_wise"] = f"{str(layer_type != 'Linear').lower()} ({layer_type}'s default)"
    else:
        out["channel_wise"] = "type default (false for Linear, else true)"
    out["dst_type"] = f"INT{BITS.get(algo_view.value('dst_type') if algo_view is not None else INT8, '?')}"
    return out


def words(settings: dict[str, str]) -> str:
    return ", ".join(f"{k} {v}" if k not in ("algo",) else v for k, v in settings.items())


def dst_type(block: View | None, oneof: str) -> tuple[int, Occurrence | None]:
    """The dst_type of a data or weight config (INT8 when unset) and where it is written."""
    view = block.oneof_view(oneof)[1] if block is not None else None
    occ = view.last("dst_type") if view is not None else None
    return (occ.value if occ is not None else INT8), occ


def prune_settings(prune: View | None) -> dict[str, str] | None:
    """A prune config in AMCT's JSON words (``regular_prune_config``); None when it has no strategy."""
    if prune is None:
        return None
    strategy, view = prune.oneof_view("regular_prune_strategy")
    if strategy == "filter_pruner":
        bcp = view.child("balanced_l2_norm_filter_prune") if view is not None else None
        out = {"prune_type": "filter_prune", "algo": "balanced_l2_norm_filter_prune"}
        if bcp is not None:
            out["prune_ratio"] = show(bcp.value("prune_ratio")) if bcp.has("prune_ratio") else "missing"
            out["ascend_optimized"] = str(bcp.value("ascend_optimized")).lower()
        return out
    if strategy == "n_out_of_m_pruner":
        l1 = view.child("l1_selective_prune") if view is not None else None
        return {
            "prune_type": "selective_prune",
            "algo": "l1_selective_prune",
            "n_out_of_m_type": "M4N2",
            "update_freq": str(l1.value("update_freq") if l1 is not None else 0),
        }
    return None


# -- shared list checks (distill.py uses them too) -----------------------------------------


def repeated(occs: Iterable[Occurrence]) -> list[tuple[Occurrence, Occurrence]]:
    """(repeat, first) for every value seen before, in document order."""
    first: dict[str, Occurrence] = {}
    out = []
    for occ in occs:
        if occ.value in first:
            out.append((occ, first[occ.value]))
        else:
            first[occ.value] = occ
    return out


def duplicate_entries(view: View, lists: Iterable[str], consequence: str) -> list[Problem]:
    """RS2/DS2: a name or type repeated in one skip list (AMCT warns and de-duplicates)."""
    out = []
    for name in lists:
        for occ, first in repeated(view.all(name)):
            out.append(
                problem(
                    "duplicate-layer",
                    "warning",
                    occ,
                    f"{quoted(occ.value)} is listed twice in {name}: {consequence}; delete this one",
                    related=(Related(first.node.start, first.node.end, "first listed here"),),
                    data={"delete": [occ.node.start, occ.node.end]},
                )
            )
    return out


def duplicate_overrides(items: list[Target], label: str, amct: str) -> list[Problem]:
    """R1/R2/D6: two overrides for one layer or type: AMCT refuses the file."""
    out = []
    keyed = [t.key for t in items if t.key is not None]
    by_key = {id(t.key): t for t in items if t.key is not None}
    for occ, first in repeated(keyed):
        entry = by_key[id(occ)].entry
        assert entry is not None
        out.append(
            problem(
                "duplicate-layer",
                "error",
                occ,
                f'{quoted(occ.value)} has two {label} entries: AMCT refuses the file ("{amct}"); merge them into one',
                related=(Related(first.node.start, first.node.end, "first override here"),),
                data={"delete": [entry.field.start, entry.field.end]},
            )
        )
    return out


def bad_names(occs: Iterable[Occurrence], quote: str) -> list[Problem]:
    """An empty or blank-padded layer name: AMCT looks names up exactly among the model's
    modules and refuses the file with *quote*."""
    out = []
    for occ in occs:
        name = occ.value
        if not name.strip():
            out.append(
                problem(
                    "layer-name",
                    "error",
                    occ,
                    f"empty layer name: AMCT finds no module named {quoted(name)} and refuses the file "
                    f'("{quote}"); write the module\'s name as model.named_modules() gives it, '
                    "e.g. 'layer1.0.conv1'",
                )
            )
        elif name != name.strip():
            out.append(
                problem(
                    "layer-name",
                    "error",
                    occ,
                    f"layer name {quoted(name)} has blanks around it: AMCT looks names up exactly, finds no "
                    f'module {quoted(name)} and refuses the file ("{quote}"); remove them',
                    data={"suggestion": repr(name.strip())},
                )
            )
    return out


def bad_type(occ: Occurrence, allowed: Collection[str], what: str, amct: str, severity: Severity = "error") -> Problem:
    """A type name AMCT does not take for *what* (case-sensitive PyTorch class names)."""
    close = suggest(occ.value, list(allowed))
    hint = f"did you mean '{close}'?" if close else "it takes " + ", ".join(allowed)
    return problem(
        "layer-type",
        severity,
        occ,
        f"{quoted(occ.value)} is not a type AMCT {what} ({hint}): {amct}",
        data={"suggestion": repr(close)} if close else None,
    )


def first_field(view: View, name: str) -> Occurrence:
    occs = view.all(name)
    return occs[0]


def field_problem(code: str, severity: Severity, occ: Occurrence, message: str, **kw: Unpack[ProblemExtras]) -> Problem:
    """A problem on the field's name (``prune_config``, ``regular_prune_skip_layers``)."""
    return Problem(code, severity, occ.field.name.start, occ.field.name.end, message, **kw)


# -- the checks ---------------------------------------------------------------------------


def check_values(
    root: View, text: str, *, layers: Collection[str] | None = None, views: Collection[View] | None = None
) -> list[Problem]:
    """Every rule of spec §2 that needs no model, for the mode the content implies."""
    out: list[Problem] = []
    for view in walk_views(root) if views is None else views:
        rules = _RULES_BY_MESSAGE.get(view.descriptor.full_name)
        if rules:
            out += check_rules(view, rules)
    overrides = targets(root, "override_layer_configs", "override_layer_types")
    mode = mode_of(root, overrides)
    out += _check_lists(root, overrides, mode)
    out += _check_types(root, overrides, mode)
    out += _check_data_types(root, overrides)
    out += _check_channel_wise(root, overrides, mode)
    out += _check_clips(root, overrides)
    out += _check_prune_structure(root, overrides, mode)
    out += _check_mode(root, overrides, mode)
    out += _check_skip_override(root, overrides, mode)
    out += _check_replacement(root, overrides, mode)
    return out


_NAME_LISTS = ("skip_layers", "quant_skip_layers", "regular_prune_skip_layers")
_TYPE_LISTS = ("skip_layer_types", "quant_skip_types", "regular_prune_skip_types")


def _check_lists(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    out = duplicate_overrides(
        [t for t in overrides if t.kind == "layer"],
        "override_layer_configs",
        "Please delete repeated items in retrain_override_layers, ...",
    )
    out += duplicate_overrides(
        [t for t in overrides if t.kind == "type"],
        "override_layer_types",
        "Please delete repeated items in override_layer_types, ...",
    )
    out += duplicate_entries(
        root, (*_NAME_LISTS, *_TYPE_LISTS), 'AMCT warns ("Please delete repeated items ...") and ignores the repeat'
    )
    names = [o for n in _NAME_LISTS for o in root.all(n)]
    names += [t.key for t in overrides if t.kind == "layer" and t.key is not None]
    out += bad_names(names, "some ... not in valid_layers")
    if _no_layers(root, overrides, mode):
        occ = first_field(root, "skip_layer_types" if root.has("skip_layer_types") else "quant_skip_types")
        out.append(
            field_problem(
                "no-layers",
                "error",
                occ,
                "every type AMCT trains is skipped and no override names a layer: nothing is "
                'left to quantize, and AMCT refuses the file ("No layer retrain enabled")',
            )
        )
    return out


def _no_layers(root: View, overrides: list[Target], mode: Mode) -> bool:
    """QAT: every type AMCT trains skipped, and no override to re-enable a layer."""
    skipped = {o.value for n in ("quant_skip_types", "skip_layer_types") for o in root.all(n)}
    return not mode.prune and skipped >= set(RETRAIN_TYPES) and not overrides


def _check_types(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """R19: type names AMCT does not take where they are written (no model needed)."""
    out = []
    # the prune skips' types are checked against the strategy the file prunes with (if AMCT has it)
    pruning = mode.strategy if mode.prune and mode.prune_on and mode.strategy in STRATEGY_TYPES else None
    for occ in root.all("skip_layer_types"):
        if occ.value not in RETRAIN_TYPES:
            out.append(
                bad_type(
                    occ,
                    RETRAIN_TYPES,
                    "trains or prunes",
                    'AMCT refuses the file ("some skip_layer_types not supported")',
                )
            )
        elif pruning is not None and occ.value not in STRATEGY_TYPES[pruning]:
            out.append(
                bad_type(
                    occ,
                    STRATEGY_TYPES[pruning],
                    f"prunes with {STRATEGY_WORDS[pruning]}",
                    "skip_layer_types join the prune skips, and AMCT refuses the file "
                    '("some regular_prune_skip_types not supported")',
                )
            )
    if mode.quant_on:
        for occ in root.all("quant_skip_types"):
            if occ.value not in RETRAIN_TYPES:
                out.append(
                    bad_type(
                        occ, RETRAIN_TYPES, "trains", 'AMCT refuses the file ("some quant_skip_types not supported")'
                    )
                )
    if pruning is not None:
        for occ in root.all("regular_prune_skip_types"):
            if occ.value not in STRATEGY_TYPES[pruning]:
                out.append(
                    bad_type(
                        occ,
                        STRATEGY_TYPES[pruning],
                        f"prunes with {STRATEGY_WORDS[pruning]}",
                        'AMCT refuses the file ("some regular_prune_skip_types not supported")',
                    )
                )
    for t in overrides:
        if t.kind != "type" or t.key is None:
            continue
        prune = t.view.child(_PRUNE)
        strategy = prune.oneof_choice("regular_prune_strategy") if prune is not None else None
        if mode.quant_on and (t.view.has(_DATA) or t.view.has(_WEIGHT)) and t.name not in RETRAIN_TYPES:
            out.append(
                bad_type(
                    t.key,
                    RETRAIN_TYPES,
                    "trains",
                    'AMCT refuses the file ("some override layers types not supported for quant")',
                )
            )
        elif mode.prune and strategy is not None and t.name not in STRATEGY_TYPES[strategy]:
            word = "filter prune" if strategy == "filter_pruner" else "selective prune"
            out.append(
                bad_type(
                    t.key,
                    STRATEGY_TYPES[strategy],
                    f"prunes with {STRATEGY_WORDS[strategy]}",
                    f'AMCT refuses the file ("some override_types not supported for {word}")',
                )
            )
        elif t.name not in RETRAIN_TYPES:
            out.append(
                bad_type(t.key, RETRAIN_TYPES, "trains or prunes", "this override matches no layer", severity="warning")
            )
    return out


def _check_data_types(root: View, overrides: list[Target]) -> list[Problem]:
    """R6 (no INT4 activations), R7 (the pairs AMCT trains), RS11 (what the manual disclaims)."""
    out: list[Problem] = []
    noted: set[int] = set()  # the bit widths already noted (once per file)
    for t in [Target("global", root), *overrides]:
        act, act_occ = dst_type(t.view.child(_DATA), "data_retrain_algo")
        wts, wts_occ = dst_type(t.view.child(_WEIGHT), "weights_retrain_algo")
        if act_occ is None and wts_occ is None:
            continue
        a, w = BITS.get(act, 0), BITS.get(wts, 0)
        if a == 4:
            assert act_occ is not None
            out.append(
                problem(
                    "data-type",
                    "error",
                    act_occ,
                    'INT4 activations: AMCT refuses them ("Int4 quantization aware training is not '
                    "supported.\"); QAT activations are INT8 or INT16 (amct_tensorflow's capacity "
                    "differs)",
                    data={"suggestion": "INT8"},
                )
            )
            continue
        if (a, w) not in QAT_PAIRS:
            anchor = wts_occ or act_occ
            assert anchor is not None
            unset = [part for part, occ in (("activation", act_occ), ("weight", wts_occ)) if occ is None]
            why = ""
            if unset:
                where = (
                    "at the top level"
                    if t.kind == "global"
                    else "in this override, which replaces the whole quant config (the top-level one does not apply)"
                )
                why = f"; its {unset[0]} dst_type is not written {where}, so it is INT8"
            out.append(
                problem(
                    "data-type",
                    "error",
                    anchor,
                    f"A{a}W{w} (INT{a} activations, INT{w} weights) is not a pair AMCT trains: it refuses "
                    f'it ("Activation and weights data_type are not supported for now"){why}; use A8W8, '
                    "A16W8 or A8W4",
                    related=related(act_occ if anchor is wts_occ else None),
                )
            )
            continue
        for occ, bits in ((act_occ, a), (wts_occ, w)):
            if occ is None or bits == 8 or bits in noted:
                continue
            noted.add(bits)
            what = (
                "16-bit activations (A16W8)"
                if bits == 16
                else "4-bit weights (A8W4; layers that cannot pack "
                "INT4, such as grouped or depthwise convolutions, fall back to INT8 with a warning)"
            )
            out.append(
                problem(
                    "compat", "information", occ, f"the AMCT manual documents INT8 QAT only; AMCT's code trains {what}"
                )
            )
    return out


def channel_wise_problems(
    root: View, overrides: list[Target], *, weight: str, oneof: str, skipped: set[str], type_list: str, skip_list: str
) -> list[Problem]:
    """R8/D5: per-channel weights for Linear: refused for a Linear type override, and at the top
    level unless every Linear layer gets its weight config elsewhere."""
    out = []
    for t in overrides:
        own = t.view.child(weight) if t.kind == "type" else None
        algo_view = own.oneof_view(oneof)[1] if own is not None else None
        occ = algo_view.last("channel_wise") if algo_view is not None and t.name == "Linear" else None
        if occ is not None and occ.value:
            out.append(
                problem(
                    "channel-wise",
                    "error",
                    occ,
                    'Linear layers cannot be quantized per channel: AMCT refuses it ("<layer> layer '
                    "can not be channewised\"); set channel_wise: false (Linear's default)",
                    data={"suggestion": "false"},
                )
            )
    block = root.child(weight)
    algo, algo_view = block.oneof_view(oneof) if block is not None else (None, None)
    occ = algo_view.last("channel_wise") if algo_view is not None else None
    # no Linear layer takes the top-level weight config by its type when a Linear type override
    # replaces it or Linear is skipped (whichever of the two wins, Linear is then covered)
    covered = "Linear" in skipped or any(t.kind == "type" and t.name == "Linear" for t in overrides)
    if occ is not None and occ.value and not covered:
        out.append(
            problem(
                "channel-wise",
                "warning",
                occ,
                "channel_wise: true at the top level applies to Linear layers too, and AMCT refuses "
                'the file if the model has one that no override names ("<layer> layer can not be '
                f'channewised"): add a "Linear" entry to {type_list} with '
                f'{algo} {{ channel_wise: false }}, or add "Linear" to {skip_list}',
            )
        )
    return out


def _check_channel_wise(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    if not mode.quant_on:
        return []
    skipped = {o.value for n in ("quant_skip_types", "skip_layer_types") for o in root.all(n)}
    return channel_wise_problems(
        root,
        overrides,
        weight=_WEIGHT,
        oneof="weights_retrain_algo",
        skipped=skipped,
        type_list="override_layer_types",
        skip_list="quant_skip_types",
    )


def ulq_blocks(root: View, overrides: list[Target], data: str, oneof: str) -> list[View]:
    out = []
    for view in [root, *(t.view for t in overrides)]:
        block = view.child(data)
        ulq = block.oneof_view(oneof)[1] if block is not None else None
        if ulq is not None:
            out.append(ulq)
    return out


def _check_clips(root: View, overrides: list[Target]) -> list[Problem]:
    """RS10: fixed_min: true next to a negative initial clip_min."""
    out = []
    for ulq in ulq_blocks(root, overrides, _DATA, "data_retrain_algo"):
        fixed = ulq.last("fixed_min")
        clip = ulq.child("clip_max_min")
        low = clip.last("clip_min") if clip is not None else None
        if fixed is not None and fixed.value and low is not None and low.value < 0:
            out.append(
                problem(
                    "clip-range",
                    "warning",
                    fixed,
                    f"fixed_min: true keeps the lower clip at 0, but clip_max_min starts it at "
                    f"{show(low.value)}: the two disagree about the lower bound (AMCT accepts both); "
                    "drop one of them",
                    related=(Related(low.node.start, low.node.end, "clip_min is set here"),),
                )
            )
    return out


def _check_prune_structure(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """R9 (a strategy without its algorithm), RS12 (strategies mixed), empty override prune_config."""
    out = []
    blocks = [(None, root.child(_PRUNE))] + [(t, t.view.child(_PRUNE)) for t in overrides]
    for target, prune in blocks:
        if prune is None:
            continue
        strategy, view = prune.oneof_view("regular_prune_strategy")
        if strategy is None:
            continue
        occ = prune.last(strategy)
        assert occ is not None
        algo = STRATEGY_ALGO[strategy]
        if view is None or not view.has(algo):
            example = f"{algo} {{ prune_ratio: 0.3 }}" if strategy == "filter_pruner" else f"{algo} {{}}"
            out.append(
                field_problem(
                    "prune-config",
                    "error",
                    occ,
                    f'{strategy} has no algorithm: AMCT refuses the file ("only {algo} is '
                    f'support, but {algo} is not found."); add {example}',
                )
            )
        elif target is not None and mode.strategy is not None and strategy != mode.strategy:
            out.append(
                field_problem(
                    "prune-config",
                    "information",
                    occ,
                    f"{target.shown()} {'use' if target.kind == 'type' else 'uses'} {STRATEGY_WORDS[strategy]} while the top-level "
                    f"prune_config uses {STRATEGY_WORDS[mode.strategy]}: AMCT accepts the mix, each "
                    "layer keeps its own strategy",
                )
            )
    return out


def _prune_fields(root: View, overrides: list[Target], *, only_layers: bool = False) -> list[Occurrence]:
    """The prune content AMCT's QAT-only check looks at (non-empty): the prune_configs in
    document order, then the prune skip lists."""
    out = []
    top = root.last(_PRUNE)
    if top is not None and top.value.fields:
        out.append(top)
    for t in overrides:
        occ = t.view.last(_PRUNE)
        if occ is not None and occ.value.fields and (t.kind == "layer" or not only_layers):
            out.append(occ)
    out.sort(key=lambda o: o.field.start)
    return [*out, *root.all("regular_prune_skip_layers")[:1], *root.all("regular_prune_skip_types")[:1]]


def _check_mode(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """R13-R18, RS6, RS9, RS14: what depends on the API, for the API the content implies."""
    out: list[Problem] = []
    top = root.last(_PRUNE)
    if top is not None and mode.strategy is None:  # R13 (and RS6's empty top-level prune_config)
        out.append(
            field_problem(
                "prune-config",
                "error",
                top,
                f"prune_config has no strategy: {PRUNE_APIS} crash on it (UnboundLocalError about "
                f"'prune_type'), and {QAT_API} silently ignores it; add filter_pruner "
                "{ balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } or n_out_of_m_pruner "
                "{ l1_selective_prune {} }, or delete it",
            )
        )
    skips = [root.all(n)[0] for n in ("regular_prune_skip_layers", "regular_prune_skip_types") if root.has(n)]
    if skips and not mode.prune_on:  # R17 and R15: refused by every API
        for occ in skips:
            name = occ.field.name.text
            out.append(
                field_problem(
                    "prune-config",
                    "error",
                    occ,
                    f"{name} without any prune_config: every API refuses it ({PRUNE_APIS}: "
                    f'"unexpected {name} ... if prune is disable."; {QAT_API} likewise); add a '
                    "prune_config or delete the list",
                )
            )
    if mode.prune and not mode.quant_content:
        for name in ("quant_skip_layers", "quant_skip_types"):  # R16
            if root.has(name):
                out.append(
                    field_problem(
                        "prune-config",
                        "error",
                        root.all(name)[0],
                        f"{name} in a file that quantizes nothing: this file prunes, so it is for "
                        f'{PRUNE_APIS}, which refuse it ("unexpected {name} in config_defination if '
                        'retrain is disable."); add a retrain_data_quant_config or '
                        "retrain_weight_quant_config, or delete the list",
                    )
                )
        if root.has("batch_num"):  # RS9
            out.append(
                field_problem(
                    "no-effect",
                    "information",
                    root.all("batch_num")[0],
                    "batch_num has no effect: this file only prunes (no retrain config), and AMCT "
                    "drops batch_num, which initialises quantization factors",
                    tags=("unnecessary",),
                )
            )
    if mode.prune_on and top is None:
        out += _check_override_only_prune(root, overrides)
    if not mode.prune and not mode.quant_content and not _no_layers(root, overrides, mode):  # R14: QAT only
        anchor = next(iter(o for occs in root.fields.values() for o in occs), None)
        start, end = (anchor.field.name.start, anchor.field.name.end) if anchor is not None else (0, 0)
        out.append(
            Problem(
                "prune-config",
                "information",
                start,
                end,
                f"this file switches on neither quantization nor pruning: {QAT_API} quantizes every layer "
                f"it can train with the built-in defaults ({DEFAULT_ACT}, {DEFAULT_WTS}); {PRUNE_APIS} "
                'refuse it ("proto can not neither retrain nor prune.")',
            )
        )
    out += _mode_note(root, overrides, mode)
    return out


def _check_override_only_prune(root: View, overrides: list[Target]) -> list[Problem]:
    """Pruning switched on by overrides alone: R18 (skip lists refused), RS14 (nothing configured)."""
    out: list[Problem] = []
    prunes = [t.view.last(_PRUNE) for t in overrides if t.view.has(_PRUNE)]
    if all(not occ.value.fields for occ in prunes if occ is not None):  # RS14
        for occ in prunes:
            assert occ is not None
            out.append(
                field_problem(
                    "prune-config",
                    "error",
                    occ,
                    f"this empty prune_config is the file's only prune content: {PRUNE_APIS} switch "
                    f"pruning on and configure nothing, so no layer is pruned and nothing says so "
                    f"({QAT_API} ignores it); give it a strategy, e.g. filter_pruner "
                    "{ balanced_l2_norm_filter_prune { prune_ratio: 0.3 } }, or delete it",
                )
            )
        return out
    for name in ("regular_prune_skip_layers", "regular_prune_skip_types", "skip_layers", "skip_layer_types"):  # R18
        if root.has(name):
            joins = "" if name.startswith("regular") else " (its entries join the prune skips)"
            out.append(
                field_problem(
                    "prune-config",
                    "error",
                    root.all(name)[0],
                    f"pruning is switched on only by overrides (no top-level prune_config), and then "
                    f'{PRUNE_APIS} refuse any prune skip list{joins} ("some regular_prune_skip_'
                    f"{'types not supported' if name.endswith('types') else 'layers not in valid_layers'}"
                    '", a misleading message); add a top-level prune_config or delete this list',
                )
            )
    return out


def _mode_note(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """R15/RS6: which APIs a pruning file is for, and what create_quant_retrain_config does with it."""
    if not mode.prune or not mode.prune_on:
        return []
    refused = _prune_fields(root, overrides, only_layers=True)
    if refused:
        occ = refused[0]
        return [
            field_problem(
                "prune-config",
                "information",
                occ,
                f"this file prunes: it is for {PRUNE_APIS} (and their restore_*); {QAT_API} refuses it "
                f'("unexpected {occ.field.name.text} in config_defination if prune is disable.")',
            )
        ]
    by_type = _prune_fields(root, overrides)
    if not by_type:
        return []  # only empty prune_configs: R13/RS14 say it
    occ = by_type[0]
    if mode.quant_content:  # RS6: a plausible QAT file whose pruning would vanish
        return [
            field_problem(
                "prune-config",
                "warning",
                occ,
                f"this file quantizes, and prunes only through override_layer_types: {PRUNE_APIS} do "
                f"both, but {QAT_API} silently ignores this prune_config (AMCT looks for prune content "
                "only at the top level and in override_layer_configs); read it with the compressed "
                "APIs, or delete the prune_config",
            )
        ]
    return [
        field_problem(
            "prune-config",
            "information",
            occ,
            f"this file prunes: it is for {PRUNE_APIS} (and their restore_*); {QAT_API} would silently "
            "ignore this prune_config (it looks only at the top level and override_layer_configs)",
        )
    ]


def _skip_sets(root: View, names: tuple[str, ...], types: tuple[str, ...]) -> dict[str, tuple[Occurrence, str]]:
    """name or type -> (first entry, the list holding it), for the given lists."""
    out: dict[str, tuple[Occurrence, str]] = {}
    for lst in (*names, *types):
        for occ in root.all(lst):
            out.setdefault(("T:" if lst in types else "N:") + occ.value, (occ, lst))
    return out


def _check_skip_override(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """RS3 (quantization: the override wins) and RS8 (pruning: the skip wins), one diagnostic per override."""
    quant = _skip_sets(root, ("quant_skip_layers", "skip_layers"), ("quant_skip_types", "skip_layer_types"))
    prune = _skip_sets(
        root, ("regular_prune_skip_layers", "skip_layers"), ("regular_prune_skip_types", "skip_layer_types")
    )
    out = []
    for t in overrides:
        if t.key is None:
            continue
        key = ("T:" if t.kind == "type" else "N:") + t.key.value
        parts, near = [], []
        q = quant.get(key) if mode.quant_on else None
        if q is not None:
            how = (
                ""
                if t.view.has(_DATA) or t.view.has(_WEIGHT)
                else f" (with the built-in defaults, {DEFAULT_ACT} and {DEFAULT_WTS}: this override has no retrain config)"
            )
            parts.append(
                f"for quantization the override wins: AMCT quantizes {'them' if t.kind == 'type' else 'it'} anyway{how}"
            )
            near.append(q)
        p = prune.get(key) if mode.prune and t.view.has(_PRUNE) else None
        if p is not None:
            parts.append(
                "for pruning the skip wins: "
                + ("they are" if t.kind == "type" else "it is")
                + " not pruned and this prune_config is unused"
            )
            if p not in near:
                near.append(p)
        if not parts:
            continue
        lists = " and ".join(dict.fromkeys(lst for _, lst in near))
        out.append(
            problem(
                "skip-override",
                "warning",
                t.key,
                f"{quoted(t.key.value)} is in {lists} and has this override: "
                + "; ".join(parts)
                + ". Remove it from the skip list or delete the override",
                related=tuple(Related(o.node.start, o.node.end, f"skipped in {lst}") for o, lst in near),
            )
        )
    return out


def _check_replacement(root: View, overrides: list[Target], mode: Mode) -> list[Problem]:
    """RS4: an override without a retrain config drops the top-level one for built-in defaults
    (warning); a partial override does the same for the part it lacks (information)."""
    if not mode.quant_on:
        return []
    top_act, top_wts = _top_quant(root)
    return replacement_problems(
        overrides,
        [(_DATA, top_act, DEFAULT_ACT, "activations"), (_WEIGHT, top_wts, DEFAULT_WTS, "weights")],
        "retrain config",
    )


def _top_quant(root: View) -> tuple[str | None, str | None]:
    """The top-level activation/weight settings when they differ from the built-in defaults."""
    act = data_settings(root.child(_DATA), "data_retrain_algo")
    wts = weight_settings(root.child(_WEIGHT), "weights_retrain_algo", "arq_retrain")
    default_act = data_settings(None, "data_retrain_algo")
    default_wts = weight_settings(None, "weights_retrain_algo", "arq_retrain")
    return (
        words(act) if root.has(_DATA) and act != default_act else None,
        words(wts) if root.has(_WEIGHT) and wts != default_wts else None,
    )


def replacement_problems(
    overrides: list[Target], parts: list[tuple[str, str | None, str, str]], what: str
) -> list[Problem]:
    """*parts*: (block field, the top-level settings or None when they are the defaults, the
    built-in defaults, what they are for)."""
    out = []
    for t in overrides:
        dropped = [
            (field, top, default, noun)
            for field, top, default, noun in parts
            if top is not None and not t.view.has(field)
        ]
        if not dropped:
            continue
        start, end = t.anchor()
        lacks_all = all(not t.view.has(field) for field, *_ in parts)
        if lacks_all:
            tops = " and ".join(f"{field} ({top})" for field, top, _, _ in dropped)
            out.append(
                Problem(
                    "override-replaces",
                    "warning",
                    start,
                    end,
                    f"this override has no {what}, so AMCT quantizes {t.shown()} with its built-in defaults "
                    f"({', '.join(d for _, _, d, _ in parts)}), not with the top-level {tops}: an override "
                    "replaces a layer's whole quant config; copy the blocks in if they should apply",
                )
            )
            continue
        for field, top, default, noun in dropped:
            out.append(
                Problem(
                    "override-replaces",
                    "information",
                    start,
                    end,
                    f"this override replaces the whole quant config of {t.shown()}: its {noun} get the "
                    f"built-in defaults ({default}), not the top-level {field} ({top}); copy that block "
                    "in if it should apply",
                )
            )
    return out


# -- effective config ---------------------------------------------------------------------


def effective(root: View, text: str) -> list[Row]:
    """What AMCT builds per override, per skipped name or type, and for every other layer
    (spec §2.3), in the words of its JSON (§2.7)."""
    overrides = targets(root, "override_layer_configs", "override_layer_types")
    mode = mode_of(root, overrides)
    top_prune = prune_settings(root.child(_PRUNE))
    quant_skips = _skip_sets(root, ("quant_skip_layers", "skip_layers"), ("quant_skip_types", "skip_layer_types"))
    prune_skips = _skip_sets(
        root, ("regular_prune_skip_layers", "skip_layers"), ("regular_prune_skip_types", "skip_layer_types")
    )
    type_overrides = any(t.kind == "type" for t in overrides)
    rows = []
    seen: set[str] = set()
    for t in overrides:
        key = ("T:" if t.kind == "type" else "N:") + (t.name or "")
        seen.add(key)
        settings, notes = [], []
        if mode.quant_on:
            q = quant_skips.get(key)
            settings.append(("retrain_enable", "true" + (f" (the override wins over {q[1]})" if q else "")))
            settings += _quant_rows(t.view, override=True, layer_type=t.name if t.kind == "type" else None)
            if q:
                notes.append(
                    f"quantization: this override wins over {q[1]} (for quantization an override "
                    "re-enables a skipped layer)"
                )
            if not (t.view.has(_DATA) and t.view.has(_WEIGHT)):
                notes.append(
                    "the override replaces the whole quant config: what it lacks comes from AMCT's built-in "
                    "defaults, not from the top-level retrain configs"
                )
        else:
            settings.append(("retrain_enable", "false (the file has no retrain config)"))
        if mode.prune:
            settings += _prune_rows(t, key, prune_skips, top_prune, notes)
        if t.kind == "layer" and type_overrides:
            notes.append("a layer override wins over any override_layer_types entry for the layer's type")
        type_skips = sorted({lst for k, (_, lst) in prune_skips.items() if k.startswith("T:")})
        if t.kind == "layer" and mode.prune and t.view.has(_PRUNE) and type_skips:
            notes.append(
                f"pruning: if the layer's type is in {' or '.join(type_skips)}, it is not pruned (the skip wins)"
            )
        if t.kind == "type":
            notes.append(f"applies to every {t.name} layer that no override_layer_configs entry names")
        source = "override_layer_configs" if t.kind == "layer" else "override_layer_types"
        rows.append(
            Row(
                t.name if t.name is not None else "(no name)",
                t.kind,
                source,
                tuple(settings),
                tuple(notes),
                span=t.anchor() if t.key is not None else None,
            )
        )
    rows += _skip_rows(root, mode, quant_skips, prune_skips, top_prune, seen, type_overrides)
    rows.append(_global_row(root, mode, top_prune))
    return rows


def _quant_rows(view: View, *, override: bool, layer_type: str | None = None) -> list[tuple[str, str]]:
    out = []
    for field, name, oneof, default in (
        (_DATA, "retrain_data_config", "data_retrain_algo", None),
        (_WEIGHT, "retrain_weight_config", "weights_retrain_algo", "arq_retrain"),
    ):
        block = view.child(field)
        settings = (
            data_settings(block, oneof) if default is None else weight_settings(block, oneof, default, layer_type)
        )
        where = (
            ""
            if block is not None
            else (" — built-in default" + (f" (no {field} here; the top-level one does not apply)" if override else ""))
        )
        out.append((name, words(settings) + where))
    return out


def _prune_rows(
    t: Target,
    key: str,
    prune_skips: dict[str, tuple[Occurrence, str]],
    top_prune: dict[str, str] | None,
    notes: list[str],
) -> list[tuple[str, str]]:
    own = prune_settings(t.view.child(_PRUNE))
    skip = prune_skips.get(key)
    if skip is not None:
        if t.view.has(_PRUNE):
            notes.append(
                f"pruning: {skip[1]} wins over this override (for pruning the skip wins); its prune_config "
                "is recorded but unused"
            )
        return [("regular_prune_enable", f"false ({skip[1]} wins over the override)")]
    if own is not None:
        return [("regular_prune_enable", "true"), ("regular_prune_config", words(own))]
    if top_prune is not None:
        return [
            ("regular_prune_enable", "true"),
            ("regular_prune_config", words(top_prune) + " — from the top-level prune_config"),
        ]
    return [
        (
            "regular_prune_enable",
            "false (no prune strategy for it)"
            if not t.view.has(_PRUNE)
            else "true, with nothing configured (empty prune_config, no top-level strategy)",
        )
    ]


def _skip_rows(
    root: View,
    mode: Mode,
    quant_skips: dict[str, tuple[Occurrence, str]],
    prune_skips: dict[str, tuple[Occurrence, str]],
    top_prune: dict[str, str] | None,
    seen: set[str],
    type_overrides: bool,
) -> list[Row]:
    rows = []
    keys = [k for k in dict.fromkeys([*quant_skips, *prune_skips]) if k not in seen]
    for key in keys:
        kind: RowKind = "type" if key.startswith("T:") else "layer"
        occ, _ = quant_skips.get(key) or prune_skips[key]
        settings, notes = [], []
        q = quant_skips.get(key) if mode.quant_on else None
        if mode.quant_on:
            settings.append(("retrain_enable", f"false ({q[1]})" if q else "as every other layer"))
            if q and kind == "layer" and type_overrides:
                notes.append(
                    "an override_layer_types entry for this layer's type would win over the skip and quantize it"
                )
        p = prune_skips.get(key) if mode.prune else None
        if mode.prune:
            settings.append(
                (
                    "regular_prune_enable",
                    f"false ({p[1]})" if p else ("as every other layer" if top_prune is not None else "false"),
                )
            )
        if not settings:
            continue
        rows.append(
            Row(key[2:], kind, "skip lists", tuple(settings), tuple(notes), span=(occ.node.start, occ.node.end))
        )
    return rows


def _global_row(root: View, mode: Mode, top_prune: dict[str, str] | None) -> Row:
    settings: list[tuple[str, str]] = []
    notes: list[str] = []
    api = f"{PRUNE_APIS} (the file prunes)" if mode.prune else f"{QAT_API} (no prune content)"
    settings.append(("api", api))
    top_quant = root.has(_DATA) or root.has(_WEIGHT)
    if not mode.quant_on:
        settings.append(("retrain_enable", "false (no retrain config in the file)"))
    elif mode.prune and not top_quant:
        settings.append(
            ("retrain_enable", "false: only layers an override names are quantized (no top-level retrain config)")
        )
    else:
        settings.append(("retrain_enable", "true"))
        settings += _quant_rows(root, override=False)
    if mode.prune:
        if top_prune is not None:
            settings += [("regular_prune_enable", "true"), ("regular_prune_config", words(top_prune))]
        else:
            settings.append(
                (
                    "regular_prune_enable",
                    "false: only layers an override names are pruned" if mode.prune_on else "false",
                )
            )
    batch = root.last("batch_num")
    if mode.quant_on:
        settings.append(("batch_num", str(root.value("batch_num")) + ("" if batch is not None else " (default)")))
    elif batch is not None:
        settings.append(("batch_num", "dropped (quantization is off)"))
    if root.has("fakequant_precision_mode"):
        settings.append(("fakequant_precision_mode", "FORCE_FP16_QUANT"))
    if mode.quant_on:
        notes.append(
            "quantization: layer override > type override > top level, and an override (by name or type) "
            "wins over quant_skip_layers/quant_skip_types/skip_layers/skip_layer_types"
        )
    if mode.prune:
        notes.append(
            "pruning: layer override > type override > top level, and regular_prune_skip_layers/_types and "
            "skip_layers/skip_layer_types win over overrides"
        )
    return Row("every other layer", "global", "top level", tuple(settings), tuple(notes))
