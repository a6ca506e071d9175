"""The retrain config's rule table (spec AMCT-CONFIG-FAMILY.md §2): golden fixtures for every
rule, the realistic corpus (clean, and one mistake per file), the effective config against
the spec's precedence statements."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvcal.grammar import analyze, check
from kvcal.grammar.checks import retrain
from kvcal.grammar.checks.effective import Row, effective_rows
from kvcal.grammar.schema import family_schema
from kvcal.grammar.text import LineIndex
from tests.grammar.golden import Expected, expectations, fixtures

SCHEMA = family_schema("retrain")
DATA = Path(__file__).parent.parent / "data" / "amct" / "retrain"
MISTAKE = re.compile(r"^# mistake: (?P<rule>[A-Z]+\d+):", re.MULTILINE)
#: spec rule id -> the code kvcal reports it with
RULE_CODES = {
    "R1": "duplicate-layer",
    "R2": "duplicate-layer",
    "R3": "missing-required",
    "R4": "clip-range",
    "R5": "clip-range",
    "R6": "data-type",
    "R7": "data-type",
    "R8": "channel-wise",
    "R9": "prune-config",
    "R10": "missing-required",
    "R11": "value-range",
    "R12": "batch-num",
    "R13": "prune-config",
    "R14": "prune-config",
    "R15": "prune-config",
    "R16": "prune-config",
    "R17": "prune-config",
    "R18": "prune-config",
    "R19": "layer-type",
    "RS1": "oneof-conflict",
    "RS2": "duplicate-layer",
    "RS3": "skip-override",
    "RS4": "override-replaces",
    "RS6": "prune-config",
    "RS7": "missing-required",
    "RS8": "skip-override",
    "RS9": "no-effect",
    "RS10": "clip-range",
    "RS11": "compat",
    "RS12": "prune-config",
    "RS14": "prune-config",
}


def actual(text: str) -> list[Expected]:
    index = LineIndex(text)
    out = []
    for p in check(text, schema=SCHEMA):
        (line, col), (end_line, end_col) = index.position(p.start), index.position(p.end)
        assert end_line == line, f"multi-line span for {p}"
        out.append(Expected(line, col, end_col, p.severity, p.code))
    return sorted(out)


@pytest.mark.parametrize("path", fixtures(DATA), ids=lambda p: p.stem)
def test_golden_diagnostics(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected, _ = expectations(text)
    got = actual(text)
    lines = text.splitlines()

    def show(items: list[Expected]) -> str:
        return "\n".join(
            f"  {e.line + 1}:{e.start}-{e.end} {e.severity} {e.code}  | {lines[e.line][e.start : e.end]!r}"
            for e in items
        )

    assert got == expected, f"\nexpected:\n{show(expected)}\ngot:\n{show(got)}"


def test_every_code_has_a_golden_case() -> None:
    covered = {e.code for path in fixtures(DATA) for e in expectations(path.read_text(encoding="utf-8"))[0]}
    wanted = set(RULE_CODES.values()) - {"oneof-conflict"}  # the walk's own (tested with the walk)
    assert covered >= wanted, f"codes without a golden case: {sorted(wanted - covered)}"


@pytest.mark.parametrize("path", sorted((DATA / "clean").glob("*.cfg")), ids=lambda p: p.stem)
def test_clean_corpus_resolves_to_retrain_and_is_clean(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text)
    assert analysis.family == "retrain", analysis.resolution.why
    bad = [p for p in analysis.problems if p.severity in ("error", "warning")]
    assert not bad, bad


@pytest.mark.parametrize("path", sorted((DATA / "mistakes").glob("*.cfg")), ids=lambda p: p.stem)
def test_each_mistake_gives_its_rules_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    match = MISTAKE.search(text)
    assert match, "a mistake file names its rule: '# mistake: <rule id>: ...'"
    analysis = analyze(text)
    assert analysis.family == "retrain", analysis.resolution.why
    codes = {p.code for p in analysis.problems if p.severity in ("error", "warning")}
    assert RULE_CODES[match["rule"]] in codes, [(p.code, p.message) for p in analysis.problems]


# -- messages that name the mode ----------------------------------------------------------


def messages(text: str, code: str) -> list[str]:
    return [p.message for p in check(text, schema=SCHEMA) if p.code == code]


def test_mode_dependent_messages_name_both_apis() -> None:
    (crash,) = messages("prune_config {}\n", "prune-config")
    assert "create_prune_retrain_model" in crash and "UnboundLocalError" in crash
    assert "create_quant_retrain_config silently ignores it" in crash
    (refused,) = messages(
        "retrain_weight_quant_config { arq_retrain {} }\nregular_prune_skip_layers: 'fc'\n", "prune-config"
    )
    assert "every API refuses it" in refused


def test_a_file_with_nothing_is_for_qat_only() -> None:
    (note,) = [p for p in check("", schema=SCHEMA) if p.code == "prune-config"]
    assert note.severity == "information" and (note.start, note.end) == (0, 0)
    assert "proto can not neither retrain nor prune." in note.message


def test_a_pruning_file_says_which_apis_take_it() -> None:
    text = "prune_config { filter_pruner { balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } }\n"
    (note,) = [p for p in check(text, schema=SCHEMA) if p.code == "prune-config"]
    assert note.severity == "information"
    assert (
        "create_compressed_retrain_model" in note.message and "create_quant_retrain_config refuses it" in note.message
    )


def test_skip_override_says_which_wins_for_which_feature() -> None:
    text = (
        "retrain_data_quant_config { ulq_quantize {} }\n"
        "prune_config { filter_pruner { balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } }\n"
        "skip_layers: 'conv1'\n"
        "override_layer_configs { layer_name: 'conv1' retrain_data_quant_config { ulq_quantize {} }\n"
        "  prune_config { filter_pruner { balanced_l2_norm_filter_prune { prune_ratio: 0.5 } } } }\n"
    )
    (message,) = messages(text, "skip-override")
    assert "for quantization the override wins" in message and "for pruning the skip wins" in message


def test_required_notes_say_what_amct_does() -> None:
    (ratio,) = messages("prune_config { filter_pruner { balanced_l2_norm_filter_prune {} } }\n", "missing-required")
    assert "prune_ratio is required for balanced_l2_norm_filter_prune" in ratio
    (clip,) = messages(
        "retrain_data_quant_config { ulq_quantize { clip_max_min { clip_min: -1 } } }\n", "missing-required"
    )
    assert "clip_max and clip_min are both required." in clip


def test_hover_range_rules_come_from_the_table() -> None:
    ratio = next(r for r in retrain.VALUE_RULES if r.field == "prune_ratio")
    assert ratio.describe() == "in (0, 1)" and not ratio.allows(1.0) and ratio.allows(0.5)


# -- effective config ---------------------------------------------------------------------


def rows(text: str) -> dict[str, Row]:
    analysis = analyze(text, schema=SCHEMA)
    return {r.target: r for r in effective_rows(analysis)}


def setting(row: Row, name: str) -> str:
    return dict(row.settings)[name]


QAT = """
retrain_data_quant_config { ulq_quantize { dst_type: INT16 clip_max_min { clip_max: 6 clip_min: -6 } } }
retrain_weight_quant_config { arq_retrain { dst_type: INT8 } }
quant_skip_layers: "fc"
skip_layer_types: "Conv2d"
override_layer_configs { layer_name: "fc" retrain_weight_quant_config { ulq_retrain { channel_wise: false } } }
override_layer_types { layer_type: "Conv2d" retrain_weight_quant_config { arq_retrain { channel_wise: true } } }
"""


def test_effective_qat_override_wins_over_skip_and_replaces_the_global_config() -> None:
    by = rows(QAT)
    fc, conv = by["fc"], by["Conv2d"]
    assert (fc.kind, conv.kind) == ("layer", "type")
    # §2.3: for quantization the override wins over the skip
    assert setting(fc, "retrain_enable").startswith("true (the override wins over quant_skip_layers)")
    assert setting(conv, "retrain_enable").startswith("true (the override wins over skip_layer_types)")
    # §2.3: replacement, not merge: the override's missing activation config is the built-in default
    assert "dst_type INT8" in setting(fc, "retrain_data_config") and "built-in default" in setting(
        fc, "retrain_data_config"
    )
    assert setting(fc, "retrain_weight_config").startswith("ulq_retrain, channel_wise false")
    assert "channel_wise true" in setting(conv, "retrain_weight_config")
    glob = by["every other layer"]
    assert setting(glob, "api").startswith("create_quant_retrain_config")
    assert setting(glob, "retrain_data_config") == "ulq_quantize, clip_max 6.0, clip_min -6.0, dst_type INT16"
    assert "regular_prune_enable" not in dict(glob.settings)
    assert any("wins over quant_skip_layers" in n for n in glob.notes)
    assert fc.span is not None and QAT[fc.span[0] : fc.span[1]] == '"fc"'


COMPRESSED = """
prune_config { filter_pruner { balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } }
skip_layer_types: "Conv2d"
regular_prune_skip_layers: "layer1.0.conv1"
override_layer_configs { layer_name: "layer2.0.conv1" prune_config {} }
override_layer_configs { layer_name: "layer1.0.conv1"
  prune_config { n_out_of_m_pruner { l1_selective_prune {} } } }
override_layer_types { layer_type: "Conv2d" retrain_weight_quant_config { arq_retrain {} }
  prune_config { filter_pruner { balanced_l2_norm_filter_prune { prune_ratio: 0.5 } } } }
"""


def test_effective_compressed_skip_wins_for_pruning() -> None:
    by = rows(COMPRESSED)
    # §2.3: for pruning the skip wins, by name and by type
    assert setting(by["layer1.0.conv1"], "regular_prune_enable").startswith("false (regular_prune_skip_layers")
    conv = by["Conv2d"]
    assert setting(conv, "regular_prune_enable").startswith("false (skip_layer_types")
    assert setting(conv, "retrain_enable").startswith("true (the override wins over skip_layer_types)")
    # an override with an empty prune_config gets the global one
    empty = by["layer2.0.conv1"]
    assert "prune_ratio 0.3" in setting(empty, "regular_prune_config") and "top-level" in setting(
        empty, "regular_prune_config"
    )
    glob = by["every other layer"]
    assert setting(glob, "api").startswith("create_prune_retrain_model")
    # compressed mode without a top-level retrain config: only overridden layers are quantized
    assert setting(glob, "retrain_enable").startswith("false: only layers an override names")
    assert "prune_ratio 0.3" in setting(glob, "regular_prune_config")


def test_effective_prune_only_drops_batch_num_and_quantizes_nothing() -> None:
    by = rows(
        "batch_num: 4\nprune_config { n_out_of_m_pruner { l1_selective_prune { update_freq: 5 } } }\n"
        "override_layer_configs { layer_name: 'fc' }\n"
    )
    glob = by["every other layer"]
    assert setting(glob, "batch_num") == "dropped (quantization is off)"
    assert setting(glob, "retrain_enable").startswith("false (no retrain config")
    assert setting(glob, "regular_prune_config") == (
        "prune_type selective_prune, l1_selective_prune, n_out_of_m_type M4N2, update_freq 5"
    )
    assert setting(by["fc"], "retrain_enable").startswith("false")
