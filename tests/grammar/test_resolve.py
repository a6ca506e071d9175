"""Spec §1.1 resolution and the AMCT JSON of spec §4."""

from __future__ import annotations

import json

import pytest

from kvcal.grammar import analyze, resolve
from kvcal.grammar.resolve import amct_config, amct_json
from kvcal.grammar.schema import kv_schema

KV = kv_schema()

MANUAL = """
kv_cache_quant_config {
    quant_layers: 'matmul1'
    quant_layers: 'matmul2'
    calibration_config: { hfmg_quantize : { } }
}
override_layers_configs {
    layer_name: 'matmul3'
    kv_data_quant_config: { ifmr_quantize : { } }
}
"""


def test_manual_example() -> None:
    plans = resolve(MANUAL)
    assert [(p.layer_name, p.algorithm, p.config_source) for p in plans] == [
        ("matmul1", "hfmg", "common"),
        ("matmul2", "hfmg", "common"),
        ("matmul3", "ifmr", "override"),
    ]
    assert all(p.with_offset and p.offset_source == "default" and p.batch_num == 1 for p in plans)
    assert plans[0].hfmg.num_of_bins == 4096
    assert plans[2].ifmr.search_range_start == 0.7 and plans[2].ifmr.max_percentile == 0.999999


def test_manual_example_amct_json() -> None:
    expected = {
        "batch_num": 1,
        "activation_offset": True,
        "matmul1": {"kv_data_quant_config": {"act_algo": "hfmg", "num_of_bins": 4096, "quant_granularity": 0}},
        "matmul2": {"kv_data_quant_config": {"act_algo": "hfmg", "num_of_bins": 4096, "quant_granularity": 0}},
        "matmul3": {
            "kv_data_quant_config": {
                "act_algo": "ifmr",
                "max_percentile": 0.999999,
                "min_percentile": 0.999999,
                "search_range": [0.7, 1.3],
                "search_step": 0.01,
                "quant_granularity": 0,
            }
        },
    }
    analysis = analyze(MANUAL, schema=KV)
    assert amct_config(analysis) == expected
    text = amct_json(analysis)
    assert json.loads(text) == expected
    assert list(json.loads(text)) == ["batch_num", "activation_offset", "matmul1", "matmul2", "matmul3"]
    assert text.startswith('{"batch_num":1,"activation_offset":true,"matmul1":')


def test_precedence_of_asymmetric() -> None:
    text = """
    activation_offset: false
    kv_cache_quant_config { quant_layers: 'a' quant_layers: 'b'
      calibration_config { ifmr_quantize { asymmetric: true } } }
    override_layers_configs { layer_name: 'b' kv_data_quant_config { hfmg_quantize { } } }
    override_layers_configs { layer_name: 'c' kv_data_quant_config { hfmg_quantize { asymmetric: true } } }
    """
    a, b, c = resolve(text)
    assert (a.with_offset, a.offset_source) == (True, "common")
    assert (b.with_offset, b.offset_source) == (False, "activation_offset")
    assert (c.with_offset, c.offset_source) == (True, "override")
    assert "asymmetric" in amct_config(analyze(text, schema=KV))["a"]["kv_data_quant_config"]
    assert "asymmetric" not in amct_config(analyze(text, schema=KV))["b"]["kv_data_quant_config"]


def test_empty_configs_mean_ifmr_defaults_and_override_only_layers_count() -> None:
    (plan,) = resolve("override_layers_configs { layer_name: 'x' }")
    assert plan.algorithm == "ifmr" and plan.granularity == "per_tensor" and plan.config_source == "override"
    (plan,) = resolve("kv_cache_quant_config { quant_layers: 'y' calibration_config { } }")
    assert plan.algorithm == "ifmr" and plan.config_source == "common"


def test_merge_semantics_last_algorithm_wins_and_starts_empty() -> None:
    text = """kv_cache_quant_config { quant_layers: 'a'
      calibration_config { ifmr_quantize { search_step: 0.02 } hfmg_quantize { num_of_bins: 1024 }
                           ifmr_quantize { search_range_end: 1.2 } } }"""
    (plan,) = resolve(text)
    assert plan.algorithm == "ifmr"
    assert plan.ifmr.search_range_end == 1.2 and plan.ifmr.search_step == 0.01  # the first block was cleared


def test_floats_are_converted_like_amct() -> None:
    (plan,) = resolve(
        "kv_cache_quant_config { quant_layers: 'a' calibration_config { ifmr_quantize {"
        " max_percentile: 0.999999 search_step: 0.1 } } }"
    )
    assert plan.ifmr.max_percentile == 0.999999 and plan.ifmr.search_step == 0.1


def test_amct_config_refuses_what_is_no_kv_cache_config() -> None:
    ptq = analyze("batch_num: 2\ncommon_config { arq_quantize { channel_wise: false } }\n")
    assert ptq.family == "ptq"
    with pytest.raises(ValueError, match=r"KV-cache configs; this analysis is .*post-training"):
        amct_config(ptq)
    with pytest.raises(ValueError, match="no schema"):
        amct_config(none := analyze("x: 1\n"))
    assert none.schema is None
