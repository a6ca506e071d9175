"""The automatic channel-prune search config's rule table (``AutoChannelPruneConfig``,
spec AMCT-CONFIG-FAMILY.md §4): the bounds AMCT checks on the search target, the
``override_prune_cfg`` file (where AMCT looks for it, and what it may contain), and the
effective search.

The override file is a retrain-schema file: when kvcal finds it (an absolute path, or a
relative one from kvcal's own working directory, as AMCT resolves it from the search's),
its content is checked as AMCT checks it (A7-A9); the layer names in it need the model.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

from kvcal.grammar.checks.analysis import analyze
from kvcal.grammar.checks.effective import Row
from kvcal.grammar.checks.values import ValueRule, by_message, check_rules, problem, show
from kvcal.grammar.checks.views import Occurrence, View
from kvcal.grammar.files import read_regular
from kvcal.grammar.problems import Problem, quoted
from kvcal.grammar.schema import family_schema

PKG = "AMCTProto"
ROOT = f"{PKG}.AutoChannelPruneConfig"
#: AMCT's filter-prunable module types (capacity PRUNABLE_TYPES)
PRUNABLE = ("Conv2d", "Linear")
#: the root fields an override_prune_cfg file may set (AMCT's OVERRIDE_FIELDS)
OVERRIDE_FIELDS = (
    "skip_layers",
    "skip_layer_types",
    "regular_prune_skip_layers",
    "regular_prune_skip_types",
    "override_layer_configs",
    "override_layer_types",
)

VALUE_RULES: tuple[ValueRule, ...] = (
    ValueRule(
        ROOT,
        "compress_ratio",
        "value-range",
        "error",
        'AMCT rejects it ("compress_ratio not supported. compress_ratio should be larger than 1."): the '
        "compute of the prunable layers is divided by it, so 2 means half",
        low=1.0,
    ),
    ValueRule(
        ROOT,
        "max_prune_ratio",
        "value-range",
        "error",
        'AMCT rejects it ("max_prune_ratio not supported. max_prune_ratio should be in (0, 1]."): it is a '
        "fraction of a layer's filters, 0.8 for 80 %",
        low=0.0,
        high=1.0,
    ),
    ValueRule(
        ROOT,
        "test_iteration",
        "value-range",
        "error",
        'AMCT rejects it ("test_iteration not supported. test_iteration should be no smaller than 1.")',
        low=1,
        low_inclusive=True,
    ),
)
_RULES_BY_MESSAGE = by_message(VALUE_RULES)
RULED_MESSAGES = frozenset(_RULES_BY_MESSAGE)

#: what AMCT does when a required field is missing (the walk's missing-required message)
REQUIRED = {
    f"{ROOT}.compress_ratio": 'a missing compress_ratio reads as 0, and AMCT rejects it ("compress_ratio not '
    'supported. compress_ratio should be larger than 1."; an empty file fails before that: "config file is '
    'empty.")',
}

_REMOVED = (
    "is a field of AutoMixedPrecisionConfig, the automatic mixed-precision search AMCT removed in April 2026 "
    "(commit e568df7): no current AMCT reads this file"
)
#: fields of the removed root that shares this one's compress_ratio and test_iteration (§4.4)
UNKNOWN_NOTES = {name: f"'{name}' {_REMOVED}" for name in ("quant_bit_limit", "ptq_cfg", "override_qat_cfg")}


def check_values(
    root: View, text: str, *, layers: Collection[str] | None = None, views: Collection[View] | None = None
) -> list[Problem]:
    """A3-A5 (value rules), the max_prune_ratio given as a percentage, the override file
    (A6-A9, AS1) and the ascend_optimized note (AS4)."""
    out: list[Problem] = []
    for view in [root] if views is None else views:
        rules = _RULES_BY_MESSAGE.get(view.descriptor.full_name)
        if rules:
            out += _with_percent_fix(check_rules(view, rules), view, text)
    path = root.last("override_prune_cfg")
    if path is not None:
        out += _check_override_file(path)
        optimized = root.last("ascend_optimized")
        if optimized is not None:
            out.append(
                problem(
                    "precedence",
                    "information",
                    optimized,
                    "ascend_optimized applies to the searched layers only: the layers of override_prune_cfg "
                    "keep the config written there",
                )
            )
    return out


def _with_percent_fix(found: list[Problem], view: View, text: str) -> list[Problem]:
    """max_prune_ratio written as a percentage (80): say so, and suggest the fraction."""
    occ = view.last("max_prune_ratio")
    if occ is None or not 1 < occ.value <= 100:
        return found
    written = text[occ.node.start : occ.node.end]
    fraction = show(occ.value / 100)
    message = (
        f"max_prune_ratio is a fraction of a layer's filters in (0, 1], not a percentage: for {written} % write "
        f'{fraction}; AMCT rejects {written} ("max_prune_ratio not supported. max_prune_ratio should be in (0, '
        '1].")'
    )
    return [
        problem(p.code, p.severity, occ, message, data={"suggestion": fraction})
        if (p.start, p.end) == (occ.node.start, occ.node.end)
        else p
        for p in found
    ]


def _check_override_file(occ: Occurrence) -> list[Problem]:
    """A6 and AS1: where AMCT looks for the file; A7-A9 when kvcal finds it."""
    written: str = occ.value
    if not written:
        return [
            problem(
                "file-path",
                "error",
                occ,
                "override_prune_cfg is empty: AMCT resolves '' to the working directory and fails to read it "
                "as a file; give the path of the override file, or remove the field",
            )
        ]
    path = Path(written).expanduser() if written.startswith("~") else Path(written)
    if path.is_absolute():
        if not path.is_file():
            return [
                problem(
                    "file-path",
                    "warning",
                    occ,
                    f"override_prune_cfg {quoted(written)} does not exist here: AMCT rejects the search unless it "
                    'exists where the search runs ("The ... in AutoChannelPruneConfig does not exist, please '
                    'check the file path.")',
                )
            ]
        return _check_override_content(occ, path)
    found = Path(os.getcwd(), path)
    if found.is_file():
        return _check_override_content(occ, found)
    return [
        problem(
            "file-path",
            "information",
            occ,
            f"AMCT resolves {quoted(written)} against the working directory of the process that runs "
            "auto_channel_prune_search, not against this file's folder (kvcal does not find it from its own "
            "working directory); an absolute path avoids the surprise",
        )
    ]


def _check_override_content(occ: Occurrence, path: Path) -> list[Problem]:
    """A7-A9 and the file's own problems (it is read with the retrain rules)."""
    schema = family_schema("retrain")
    try:
        text = read_regular(path).decode("utf-8")  # a regular file only, bounded (a FIFO would hang)
    except (OSError, UnicodeDecodeError) as exc:
        return [problem("file-path", "error", occ, f"override_prune_cfg {quoted(occ.value)} cannot be read: {exc}")]
    if schema is None:  # pragma: no cover - the retrain proto is always bundled
        return []
    analysis = analyze(text, schema=schema)
    # the retrain rules about which API a file is for (prune-config) and whether anything is
    # left to train (no-layers) do not apply: the search merges this file into its output;
    # its types are A9's to check (below), in the search's words
    errors = [p for p in analysis.problems if p.is_error and p.code not in ("prune-config", "no-layers", "layer-type")]
    where = f"override_prune_cfg {quoted(occ.value)}"
    if errors:
        line = text.count("\n", 0, errors[0].start) + 1
        return [
            problem(
                "prune-config",
                "error",
                occ,
                f"{where} has {len(errors)} error(s) as a retrain config, and AMCT reads it as one (line "
                f"{line}: {errors[0].message}); run kvcal check on it",
            )
        ]
    root = analysis.root
    assert root is not None
    out: list[Problem] = []
    extra = [name for name, occs in root.fields.items() if occs and name not in OVERRIDE_FIELDS]
    if extra:
        out.append(
            problem(
                "prune-config",
                "error",
                occ,
                f'{where} sets {", ".join(extra)}: AMCT rejects it ("override_prune_cfg should contain only '
                f'override or skip config."); keep only {", ".join(OVERRIDE_FIELDS)}',
            )
        )
    for name in ("override_layer_configs", "override_layer_types"):
        for entry in root.children(name):
            quant = [f for f in ("retrain_data_quant_config", "retrain_weight_quant_config") if entry.has(f)]
            prune = entry.child("prune_config")
            strategy = prune.oneof_choice("regular_prune_strategy") if prune is not None else None
            if quant or strategy == "n_out_of_m_pruner":
                what = ", ".join(quant) if quant else "n_out_of_m_pruner (2:4 pruning)"
                out.append(
                    problem(
                        "prune-config",
                        "error",
                        occ,
                        f'{where}: an entry of {name} carries {what}: AMCT rejects it ("{name} in '
                        'override_prune_cfg should contain only filter_pruner config.")',
                    )
                )
                break
    types = [
        (o.value, "override_layer_types")
        for e in root.children("override_layer_types")
        if (o := e.last("layer_type")) is not None
    ]
    types += [(o.value, "regular_prune_skip_types") for o in root.all("regular_prune_skip_types")]
    for kind, field in types:
        if kind not in PRUNABLE:
            said = (
                "some override_types not supported for filter prune"
                if field == "override_layer_types"
                else "some regular_prune_skip_types not supported"
            )
            out.append(
                problem(
                    "layer-type",
                    "error",
                    occ,
                    f"{where}: {field} has '{kind}', which filter pruning does not take (only "
                    f'{", ".join(PRUNABLE)}): AMCT rejects it ("{said}")',
                )
            )
    return out


def effective(root: View, text: str) -> list[Row]:
    """The search: every prunable layer not fixed by override_prune_cfg (spec §4.1)."""
    settings = [
        (name, _shown(root, name))
        for name in ("compress_ratio", "max_prune_ratio", "test_iteration", "ascend_optimized")
    ]
    notes = [
        "searches a filter-prune ratio per prunable layer (Conv2d, Linear) until their total compute is divided "
        "by compress_ratio",
        "writes output_cfg as a retrain config (AMCTRetrainConfig): one override_layer_configs entry per searched "
        "layer; fully kept layers go to regular_prune_skip_layers",
    ]
    cfg = root.last("override_prune_cfg")
    if cfg is not None:
        settings.append(("override_prune_cfg", repr(cfg.value)))
        notes.append(
            "the layers and types of override_prune_cfg keep their own filter_pruner config and are not "
            "searched (ascend_optimized does not change them); the file is merged into output_cfg"
        )
    anchor = root.last("compress_ratio")
    span = (anchor.field.name.start, anchor.field.name.end) if anchor is not None else None
    return [
        Row("every prunable layer", "global", "auto_channel_prune_search", tuple(settings), tuple(notes), span=span)
    ]


def _shown(root: View, name: str) -> str:
    occ = root.last(name)
    if name == "compress_ratio" and occ is None:
        return "missing (reads 0: AMCT rejects the file)"
    value = root.value(name)
    text = str(value).lower() if isinstance(value, bool) else show(value)
    return text if occ is not None else f"{text} (default)"
