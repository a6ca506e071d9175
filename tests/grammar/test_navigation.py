"""grammar/navigation.py: what is at an offset, completion contexts, outline, folding,
tokens, default hints and the override <-> quant_layers links, on small texts where the
cursor is marked with ``|``."""

from __future__ import annotations

import pytest

from kvcal.grammar import analyze
from kvcal.grammar.navigation import (
    completion_context,
    default_hints,
    document_symbols,
    field_candidates,
    folding_ranges,
    layer_definitions,
    layer_references,
    target_at,
    tokens,
    value_candidates,
)
from kvcal.grammar.schema import kv_schema

KV = kv_schema()

CONFIG = """# kvcal: data=kv.safetensors
batch_num: 2
kv_cache_quant_config {
  quant_layers: 'k0'
  quant_layers: 'v0'
  calibration_config {
    hfmg_quantize {
      num_of_bins: 4096
    }
  }
}
# keys have outliers
override_layers_configs {
  layer_name: 'k0'
  kv_data_quant_config {
    ifmr_quantize { quant_granularity: per_channel }
  }
}
"""


def at(text: str) -> tuple[str, int]:
    """The text without its ``|`` and the offset the ``|`` marked."""
    offset = text.index("|")
    return text[:offset] + text[offset + 1 :], offset


# -- target_at ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("marked", "kind", "field", "scope"),
    [
        ("batch_n|um: 2", "field", "batch_num", "AMCTQuantCaliConfig"),
        ("batch_num|: 2", "field", "batch_num", "AMCTQuantCaliConfig"),  # end is inclusive
        ("batch_num: |2", "value", "batch_num", "AMCTQuantCaliConfig"),
        ("kv_cache_quant_config { quant_layers: 'a|' }", "layer", "quant_layers", "CommonCalibrationConfig"),
        ("override_layers_configs { layer_name: |'a' }", "layer", "layer_name", "OverrideLayer"),
        (
            "kv_cache_quant_config { calibration_config { hfmg_quantize { num_of_bins: 10|24 } } }",
            "value",
            "num_of_bins",
            "HFMGQuantize",
        ),
        ("kv_cache_quant_config { calibration_config { | } }", "none", None, "CalibrationConfig"),
        ("kv_cache_quant_config { quant_layers: ['a', |'b'] }", "layer", "quant_layers", "CommonCalibrationConfig"),
        ("unknown { batch_num: |1 }", "value", None, None),  # under an unknown field: no schema
        ("kv_cache_quant_config {\n  calibration_config {\n    |", "none", None, "CalibrationConfig"),  # unclosed
    ],
)
def test_target_at(marked: str, kind: str, field: str | None, scope: str | None) -> None:
    text, offset = at(marked)
    target = target_at(analyze(text, schema=KV), offset)
    assert target.kind == kind
    assert (target.field_descriptor.name if target.field_descriptor else None) == field
    assert target.scope.name == scope


def test_target_layer_decodes_the_name() -> None:
    text, offset = at("override_layers_configs { layer_name: 'model.lay|ers.0' }")
    target = target_at(analyze(text, schema=KV), offset)
    assert target.layer == "model.layers.0"
    assert text[target.start : target.end] == "'model.layers.0'"


# -- completion --------------------------------------------------------------------------------


def fields_at(marked: str) -> list[str]:
    text, offset = at(marked)
    ctx = completion_context(analyze(text, schema=KV), offset)
    assert ctx.kind == "field", ctx
    return [f.name for f in field_candidates(ctx)]


def test_field_names_valid_in_the_message() -> None:
    assert fields_at("|") == ["batch_num", "activation_offset", "kv_cache_quant_config", "override_layers_configs"]
    assert fields_at("kv_cache_quant_config { | }") == ["quant_layers", "calibration_config"]


def test_set_fields_are_left_out_but_repeated_ones_stay() -> None:
    assert fields_at("batch_num: 1\nkv_cache_quant_config { }\n|") == ["activation_offset", "override_layers_configs"]
    assert fields_at("kv_cache_quant_config { quant_layers: 'a' calibration_config { } | }") == ["quant_layers"]


def test_the_other_oneof_member_is_left_out() -> None:
    marked = "kv_cache_quant_config { calibration_config { hfmg_quantize { } | } }"
    assert fields_at(marked) == []
    assert fields_at("kv_cache_quant_config { calibration_config { | } }") == ["ifmr_quantize", "hfmg_quantize"]


def test_the_field_being_typed_is_not_counted_as_set() -> None:
    text, offset = at("batch|")
    ctx = completion_context(analyze(text, schema=KV), offset)
    assert ctx.kind == "field" and ctx.prefix == "batch" and ctx.replace == (0, 5)
    assert "batch_num" in [f.name for f in field_candidates(ctx)]
    assert not ctx.followed


def test_renaming_an_existing_field_inserts_only_the_name() -> None:
    text, offset = at("batch_n|um: 2")
    ctx = completion_context(analyze(text, schema=KV), offset)
    assert ctx.followed and ctx.replace == (0, 9)


def values_at(marked: str, layers: tuple[str, ...] = ()) -> list[str]:
    text, offset = at(marked)
    ctx = completion_context(analyze(text, schema=KV), offset)
    assert ctx.kind == "value", ctx
    return [c.text for c in value_candidates(ctx, layers)]


def test_values_fit_the_field() -> None:
    algo = "kv_cache_quant_config { calibration_config { %s } }"
    assert values_at(algo % "hfmg_quantize { quant_granularity: | }") == ["per_tensor", "per_channel"]
    assert values_at(algo % "hfmg_quantize { quant_granularity: per| }") == ["per_tensor", "per_channel"]
    assert values_at(algo % "hfmg_quantize { asymmetric: | }") == ["true", "false"]
    assert values_at(algo % "hfmg_quantize { num_of_bins: | }") == ["1024", "2048", "4096", "8192"]
    assert values_at(algo % "ifmr_quantize { search_step: | }") == ["0.01"]
    assert values_at("batch_num:|") == ["1"]


def test_layer_names_from_the_sample_data_skip_listed_ones() -> None:
    layers = ("k0", "v0", "k1")
    assert values_at("kv_cache_quant_config { quant_layers: 'k0' quant_layers: | }", layers) == ["v0", "k1"]
    assert values_at("override_layers_configs { layer_name: | }", layers) == ["k0", "v0", "k1"]


def test_inside_a_string_the_whole_string_is_replaced() -> None:
    text, offset = at('kv_cache_quant_config { quant_layers: "mo|" }')
    ctx = completion_context(analyze(text, schema=KV), offset)
    assert ctx.kind == "value" and ctx.quote == '"' and ctx.prefix == "mo"
    assert text[ctx.replace[0] : ctx.replace[1]] == '"mo"'


def test_no_completion_in_comments() -> None:
    text, offset = at("# a comm|ent\nbatch_num: 1")
    assert completion_context(analyze(text, schema=KV), offset).kind == "none"


# -- outline, folding, tokens, hints -------------------------------------------------------------


def test_document_symbols() -> None:
    symbols = document_symbols(analyze(CONFIG, schema=KV))
    assert [(s.name, s.kind, s.detail) for s in symbols] == [
        ("batch_num", "field", "2"),
        ("kv_cache_quant_config", "message", ""),
        ("override_layers_configs", "message", "k0"),
    ]
    common = symbols[1]
    assert [(c.name, c.kind) for c in common.children] == [
        ("k0", "layer"),
        ("v0", "layer"),
        ("calibration_config", "message"),
    ]
    assert common.children[2].detail == "hfmg_quantize"
    for s in symbols:  # the selection lies inside the range
        assert s.start <= s.selection_start <= s.selection_end <= s.end


def test_deep_garbage_does_not_exhaust_the_stack() -> None:
    text = "a {" * 3000 + "}" * 3000
    analysis = analyze(text, schema=KV)
    assert document_symbols(analysis)  # depth-limited, no RecursionError
    assert len(folding_ranges(analysis)) == 0  # all on one line
    assert tokens(analysis) == []  # unknown names get no token


def test_folding_ranges() -> None:
    folds = folding_ranges(analyze(CONFIG, schema=KV))
    lines = [(CONFIG.count("\n", 0, f.start), CONFIG.count("\n", 0, f.end), f.kind) for f in folds]
    assert (2, 10, "region") in lines  # kv_cache_quant_config { ... }
    assert (6, 8, "region") in lines  # hfmg_quantize { ... }
    assert all(kind == "region" for *_, kind in lines)  # single comment lines do not fold
    two = "# a\n# b\nbatch_num: 1\n"
    assert [(f.start, f.end, f.kind) for f in folding_ranges(analyze(two, schema=KV))] == [(0, 4, "comment")]


def test_tokens() -> None:
    text = "# c\nbatch_num: 2\nkv_cache_quant_config { quant_layers: 'a' calibration_config { ifmr_quantize { quant_granularity: per_channel asymmetric: true } } }\nfoo: 1\n"
    got = [(text[t.start : t.end], t.kind) for t in tokens(analyze(text, schema=KV))]
    assert got == [
        ("# c", "comment"),
        ("batch_num", "field"),
        ("2", "number"),
        ("kv_cache_quant_config", "message"),
        ("quant_layers", "field"),
        ("'a'", "layer"),
        ("calibration_config", "message"),
        ("ifmr_quantize", "message"),
        ("quant_granularity", "field"),
        ("per_channel", "enum"),
        ("asymmetric", "field"),
        ("true", "bool"),
        ("1", "number"),
    ]


def test_default_hints() -> None:
    hints = default_hints(analyze(CONFIG, schema=KV))
    by_offset = {CONFIG[h.offset - 1 : h.offset] if not h.at_start else "start": dict(h.items) for h in hints}
    assert by_offset["start"] == {"activation_offset": "true"}  # batch_num is set
    hfmg = next(
        dict(h.items) for h in hints if "num_of_bins" not in dict(h.items) and "quant_granularity" in dict(h.items)
    )
    assert hfmg == {"asymmetric": "true (activation_offset)", "quant_granularity": "per_tensor"}
    ifmr = next(dict(h.items) for h in hints if "search_step" in dict(h.items))
    assert ifmr["search_range_start"] == "0.7" and "quant_granularity" not in ifmr


def test_default_hints_follow_activation_offset_and_empty_configs() -> None:
    text = "activation_offset: false\noverride_layers_configs { layer_name: 'a' kv_data_quant_config { } }\n"
    hints = default_hints(analyze(text, schema=KV))
    items = [dict(h.items) for h in hints]
    assert {"ifmr_quantize": "defaults"} in items
    assert {"batch_num": "1"} in items


# -- layers ------------------------------------------------------------------------------------


def test_definition_goes_between_override_and_quant_layers() -> None:
    analysis = analyze(CONFIG, schema=KV)
    override = CONFIG.index("'k0'", CONFIG.index("layer_name"))
    entry = CONFIG.index("'k0'")
    assert [(r.role, r.start) for r in layer_definitions(analysis, override + 1)] == [("quant_layers", entry)]
    assert [(r.role, r.start) for r in layer_definitions(analysis, entry + 1)] == [("override", override)]
    assert layer_definitions(analysis, CONFIG.index("'v0'") + 1) == []  # no override
    assert layer_definitions(analysis, CONFIG.index("batch_num")) == []


def test_references() -> None:
    analysis = analyze(CONFIG, schema=KV)
    entry = CONFIG.index("'k0'")
    assert len(layer_references(analysis, entry)) == 2
    assert len(layer_references(analysis, entry, include_self=False)) == 1
