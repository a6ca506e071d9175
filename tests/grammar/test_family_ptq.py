"""The post-training quantization configs (spec AMCT-CONFIG-FAMILY.md §1): the PyTorch
schema (family ``ptq``) and the ONNX/TensorFlow/Caffe one (``ptq-framework``). Golden
fixtures per rule, the clean and mistaken corpus configs resolved by content, which member
a file resolves to, the unknown-field notes, and the effective config against the spec's
precedence statements."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvcal.grammar import check
from kvcal.grammar.checks import families
from kvcal.grammar.checks.analysis import analyze
from kvcal.grammar.checks.effective import Row, effective_rows
from kvcal.grammar.schema import FAMILIES, family_schema
from kvcal.grammar.text import LineIndex
from tests.grammar.golden import Expected, expectations, fixtures

DATA = Path(__file__).parent.parent / "data" / "amct" / "ptq"
FRAMEWORK = DATA / "framework"
#: the rule ids of the corpus mistakes and the code each one gets
MISTAKE_CODES = {"P1": "duplicate-layer", "P9": "channel-wise", "P20": "search-step", "PS22": "channel-wise"}
CODES = {
    "batch-num",
    "percentile",
    "search-range",
    "search-step",
    "num-of-bins",
    "value-range",
    "duplicate-layer",
    "layer-type",
    "channel-wise",
    "data-type",
    "no-layers",
    "skip-override",
    "override-replaces",
    "compat",
    "precedence",
    "no-effect",
    "missing-required",
    "oneof-conflict",
    "duplicate-field",
    "unknown-field",
}


def actual(text: str, key: str) -> list[Expected]:
    index = LineIndex(text)
    out = []
    for p in check(text, schema=family_schema(key)):
        line, col = index.position(p.start)
        end_line, end_col = index.position(p.end)
        assert end_line == line, f"multi-line span for {p}"
        out.append(Expected(line, col, end_col, p.severity, p.code))
    return sorted(out)


def _golden(path: Path, key: str) -> None:
    text = path.read_text(encoding="utf-8")
    expected, _ = expectations(text)
    got = actual(text, key)
    lines = text.splitlines()

    def show(items: list[Expected]) -> str:
        return "\n".join(
            f"  {e.line + 1}:{e.start}-{e.end} {e.severity} {e.code}  | {lines[e.line][e.start : e.end]!r}"
            for e in items
        )

    assert got == expected, f"\nexpected:\n{show(expected)}\ngot:\n{show(got)}"


@pytest.mark.parametrize("path", fixtures(DATA), ids=lambda p: p.stem)
def test_golden_pytorch(path: Path) -> None:
    _golden(path, "ptq")


@pytest.mark.parametrize("path", fixtures(FRAMEWORK), ids=lambda p: p.stem)
def test_golden_framework(path: Path) -> None:
    _golden(path, "ptq-framework")


def test_every_code_has_a_golden_case() -> None:
    covered = {
        e.code
        for folder in (DATA, FRAMEWORK)
        for p in fixtures(folder)
        for e in expectations(p.read_text(encoding="utf-8"))[0]
    }
    assert covered >= CODES, f"codes without a golden case: {sorted(CODES - covered)}"


@pytest.mark.parametrize("path", fixtures(DATA / "clean"), ids=lambda p: p.stem)
def test_clean_corpus_resolves_to_ptq_without_errors_or_warnings(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert analyze(text).family == "ptq"
    bad = [p for p in check(text) if p.severity in ("error", "warning")]
    assert not bad, bad


@pytest.mark.parametrize("path", fixtures(DATA / "mistakes"), ids=lambda p: p.stem)
def test_each_corpus_mistake_gets_its_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    rule = re.search(r"^# mistake: (\w+):", text, re.M)
    assert rule is not None
    assert analyze(text).family == "ptq"
    codes = {p.code for p in check(text) if p.severity in ("error", "warning")}
    assert MISTAKE_CODES[rule[1]] in codes, codes


# -- which member a file is -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "batch_num: 2\nskip_layers: 'conv1'\n",
        "common_config { arq_quantize { channel_wise: true } }\noverride_layer_configs { layer_name: 'fc' "
        "calibration_config { arq_quantize { channel_wise: false } } }\n",
        "do_fusion: false\nskip_fusion_layers: 'conv1'\n",
    ],
)
def test_a_pytorch_only_file_resolves_to_ptq(text: str) -> None:
    analysis = analyze(text)
    assert analysis.family == "ptq"
    assert analysis.schema is not None and analysis.schema.root.full_name == "AMCTPytorchProto.AMCTConfig"


@pytest.mark.parametrize(
    "text",
    [
        "batch_num: 24\njoint_quant: true\n",
        "joint_quant: true",
        "activation_offset: true\nnuq_config { mapping_file: 'a.json' nuq_quantize { num_steps: 32 } }\n",
        "tensor_quantize { layer_name: 'MaxPool_3' input_index: 0 }\n",
        "skip_approximation_layers: 'dense/MatMul'\n",
        "conv_calibration_config { arq_quantize {} }\n",
    ],
)
def test_a_file_with_framework_fields_resolves_to_ptq_framework(text: str) -> None:
    analysis = analyze(text)
    assert analysis.family == "ptq-framework"
    assert not analysis.has_errors, analysis.problems


def test_a_tie_keeps_the_rules_both_members_share() -> None:
    """A file both members fit is checked as PyTorch's, keeping what the other member says
    too, unless its layer types tell the framework: an ONNX type picks the other frameworks'
    member (no error), a PyTorch class PyTorch's (its checks)."""
    onnx = "override_layer_types { layer_type: 'Gemm' calibration_config { arq_quantize { channel_wise: false } } }\n"
    assert analyze(onnx).family == "ptq-framework"
    assert not [p for p in check(onnx) if p.severity == "error"]
    assert analyze("skip_layers: 'conv1'\n").family == "ptq"  # no type: a tie, PyTorch's shown
    assert [p.code for p in check(onnx, schema=family_schema("ptq")) if p.is_error] == ["layer-type"]
    torch = "override_layer_types { layer_type: 'Linear' calibration_config { arq_quantize { channel_wise: true } } }\n"
    assert analyze(torch).family == "ptq" and len(analyze(torch).resolution.candidates) == 1
    assert [p.code for p in check(torch) if p.is_error] == ["channel-wise"]
    lower = "skip_layer_types: 'conv2d'\ndo_fusion: true\n"
    assert [p.code for p in check(lower) if p.is_error] == ["layer-type"]


def test_a_nested_list_of_layer_types_is_a_type_error_not_a_crash() -> None:
    """Telling the tied members apart by layer types looked at every list item as a scalar:
    a nested list (which parses; the walk refuses it) raised AttributeError in analyze."""
    text = "activation_offset: true\nskip_layer_types: [['Conv2d']]\n"
    analysis = analyze(text)
    assert analysis.family == "ptq"
    assert [p.message for p in analysis.problems if p.is_error] == ["lists cannot be nested"]


def test_the_framework_member_is_registered() -> None:
    keys = [f.key for f in FAMILIES]
    assert keys.index("ptq-framework") == keys.index("ptq") + 1
    family = next(f for f in FAMILIES if f.key == "ptq-framework")
    assert family.root == "AMCTFrameworkProto.AMCTConfig" and family.proto == "calibration_config_framework.proto"
    assert families.rules_for("ptq-framework") is families.rules_for("ptq")
    schema = family_schema("ptq-framework")
    assert schema is not None
    pytorch = family_schema("ptq")
    assert pytorch is not None
    top = set(schema.root.fields_by_name)
    assert top == set(pytorch.root.fields_by_name) | {
        "joint_quant",
        "nuq_config",
        "tensor_quantize",
        "skip_approximation_layers",
        "conv_calibration_config",
        "fc_calibration_config",
    }
    nuq = schema.set.message("AMCTFrameworkProto.NUQuantize").fields_by_name
    assert (nuq["num_steps"].default_value, nuq["num_of_iteration"].default_value) == (32, 1)
    tensor = schema.set.message("AMCTFrameworkProto.TensorQuantize")
    assert [f.name for f in tensor.oneofs_by_name["tensor_quant_algo"].fields] == ["ifmr_quantize", "hfmg_quantize"]


def test_the_framework_proto_is_documented_in_both_languages() -> None:
    schema = family_schema("ptq-framework")
    assert schema is not None
    missing, seen, stack = [], set(), [schema.root]
    while stack:
        desc = stack.pop()
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        names = [desc.full_name, *(f"{desc.full_name}.{f.name}" for f in desc.fields)]
        for enum in desc.enum_types:
            names += [f"{enum.full_name}.{v.name}" for v in enum.values]
        missing += [n for n in names if not schema.doc(n).en or not schema.doc(n).zh]
        stack += [f.message_type for f in desc.fields if f.message_type is not None]
    assert not missing, missing


# -- unknown fields ---------------------------------------------------------------------------


def test_nuq_config_in_the_pytorch_schema_says_where_nuq_lives() -> None:
    text = "batch_num: 1\nnuq_config { mapping_file: 'a.json' }\n"
    (p,) = [p for p in check(text, schema=family_schema("ptq")) if p.code == "unknown-field"]
    assert "older commercial AMCT releases" in p.message and "did you mean" not in p.message
    assert not (p.data or {}).get("suggestion")  # the look-alike common_config is no fix


def test_unknown_notes_are_looked_up_per_family_and_only_for_unknown_names() -> None:
    assert families.unknown_note("ptq", "nuq_config") is not None
    assert families.unknown_note("kv", "nuq_config") is None
    assert families.unknown_note(None, "nuq_config") is None
    schema = family_schema("ptq-framework")
    assert schema is not None
    # known at the top level of this schema: misplaced, not unknown
    assert families.sibling_hint(schema, "nuq_config") is None
    (p,) = check("common_config { nuq_config {} }\n", schema=schema)
    assert "belongs in the top level" in p.message


def test_a_field_of_another_framework_names_it() -> None:
    (p,) = check("joint_quant: true\n", schema=family_schema("ptq"))
    assert "amct_onnx" in p.message and p.code == "unknown-field"


# -- effective config -------------------------------------------------------------------------


def rows(text: str, key: str = "ptq") -> list[Row]:
    analysis = analyze(text, schema=family_schema(key))
    return effective_rows(analysis)


def settings(row: Row) -> dict[str, str]:
    return dict(row.settings)


PRECEDENCE = """
activation_offset: false
skip_layers: "conv1"
skip_layer_types: "GRU"
common_config {
  arq_quantize { quant_bits: 4 }
  hfmg_quantize { num_of_bins: 2048 asymmetric: true }
  dmq_balancer { migration_strength: 0.3 }
}
override_layer_configs {
  layer_name: "conv1"
  calibration_config { arq_quantize { channel_wise: true } }
}
override_layer_configs {
  layer_name: "layer1.0.conv1"
  calibration_config { hfmg_quantize { num_of_bins: 8192 } }
}
override_layer_types {
  layer_type: "Linear"
  calibration_config { arq_quantize { channel_wise: false } ifmr_quantize { search_step: 0.02 } }
}
override_layer_types {
  layer_type: "GRU"
  calibration_config { arq_quantize {} }
}
"""


def test_effective_rows_follow_the_precedence() -> None:
    """§1.3: layer override > type override > common_config > defaults; each replaces the
    lower ones wholesale; asymmetric comes from common_config only for the same algorithm;
    a skip wins over an override."""
    conv1, layer1, linear, gru, other = rows(PRECEDENCE)
    assert [r.kind for r in (conv1, layer1, linear, gru, other)] == ["layer", "layer", "type", "type", "global"]
    assert conv1.source == "override_layer_configs" and linear.source == "override_layer_types"
    # replacement, not merge: conv1 set only ARQ, so IFMR defaults, 8-bit weights, no DMQ
    s = settings(conv1)
    assert s["activation_quant_params"].startswith("act_algo ifmr (default)")
    assert "num_bits 8" in s["weight_quant_params"] and "dmq_balancer_param" not in s
    assert any("hfmg_quantize (gets IFMR defaults)" in n and "dmq_balancer" in n for n in conv1.notes)
    # a skipped layer's override is never used
    assert any("skip wins" in n for n in conv1.notes)
    assert any("skip wins" in n for n in gru.notes)
    assert not any("skip wins" in n for n in layer1.notes)
    # asymmetric: common_config's for the same algorithm (HFMG), else activation_offset
    assert settings(layer1)["asymmetric"].startswith("true (common_config's")
    assert settings(conv1)["asymmetric"] == "false (activation_offset)"
    assert settings(linear)["asymmetric"] == "false (activation_offset)"
    assert "search_step 0.02," in settings(linear)["activation_quant_params"]
    assert "max_percentile 0.999999 (default)" in settings(linear)["activation_quant_params"]
    # every other layer: common_config as written
    assert other.source == "common_config" and other.target == "every other layer"
    s = settings(other)
    assert s["activation_quant_params"].startswith("act_algo hfmg, num_of_bins 2048")
    assert s["asymmetric"] == "true" and "num_bits 4" in s["weight_quant_params"]
    assert s["dmq_balancer_param"] == "0.3"
    assert any("'conv1'" in n and "every GRU" in n for n in other.notes)
    assert any("dropped on AvgPool2d" in n for n in other.notes)
    text = PRECEDENCE
    assert conv1.span is not None and text[conv1.span[0] : conv1.span[1]] == '"conv1"'


def test_without_common_config_every_other_layer_gets_the_defaults() -> None:
    (other,) = rows("batch_num: 2\n")
    assert other.source == "built-in defaults"
    s = settings(other)
    assert s["activation_quant_params"] == (
        "act_algo ifmr (default), search_range [0.7 (default), 1.3 (default)], "
        "search_step 0.01 (default), max_percentile 0.999999 (default), "
        "min_percentile 0.999999 (default), num_bits 8"
    )
    assert s["weight_quant_params"] == "wts_algo arq_quantize (default), channel_wise by layer type (unset), num_bits 8"
    assert s["asymmetric"] == "true (activation_offset, default)"


def test_framework_rows_cover_tensor_quantize_and_the_deprecated_configs() -> None:
    text = (
        "conv_calibration_config { hfmg_quantize { num_of_bins: 1024 } }\n"
        "tensor_quantize { layer_name: 'MaxPool_3' input_index: 1 hfmg_quantize { asymmetric: false } }\n"
    )
    tensor, other = rows(text, "ptq-framework")
    assert tensor.target == "MaxPool_3 input 1" and tensor.source == "tensor_quantize"
    assert settings(tensor)["asymmetric"] == "false"
    assert "weight_quant_params" not in settings(tensor)
    assert other.source == "conv_calibration_config (deprecated)"
    assert "num_of_bins 1024" in settings(other)["activation_quant_params"]


def test_activation_offset_is_decided_elsewhere_only_when_every_config_sets_asymmetric() -> None:
    common = "activation_offset: false\ncommon_config { ifmr_quantize { asymmetric: false } }\n"
    assert [p.code for p in check(common, schema=family_schema("ptq"))] == ["no-effect"]
    tensor = common + "tensor_quantize { layer_name: 'Add_3' input_index: 0 }\n"
    assert [p.code for p in check(tensor, schema=family_schema("ptq-framework"))] == []
