"""``analyze()`` against the straightforward walk it replaced (``reference_analysis.py``):
the same problems in the same order with the same data, and the same views, on
generated, mutated and random configs."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcal.grammar import analyze, parse
from tests.grammar import reference_analysis
from tests.grammar.test_differential import LAYERS, config, mutated

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROOT = Path(__file__).resolve().parents[2]


def same_value(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def same_views(ours, theirs) -> None:  # type: ignore[no-untyped-def]
    stack = [(ours, theirs)]
    while stack:
        a, b = stack.pop()
        assert a.descriptor.full_name == b.descriptor.full_name
        assert [id(m) for m in a.messages] == [id(m) for m in b.messages]
        assert list(a.fields) == list(b.fields)
        for key, occs in a.fields.items():
            other = b.fields[key]
            assert len(occs) == len(other), key
            for x, y in zip(occs, other, strict=True):
                assert x.field is y.field and x.node is y.node, key
                assert not isinstance(x.value, reference_analysis.View)
                if isinstance(y.value, reference_analysis.View):
                    stack.append((x.value, y.value))
                else:
                    assert same_value(x.value, y.value), (key, x.value, y.value)


def assert_same(text: str, layers: list[str] | None = None) -> None:
    parsed = parse(text)
    ours = analyze(parsed, layers=layers)
    theirs = reference_analysis.analyze(parsed, layers=layers)
    assert list(ours.problems) == list(theirs.problems)
    assert [(p.data, p.related, p.tags, p.message) for p in ours.problems] == [
        (p.data, p.related, p.tags, p.message) for p in theirs.problems
    ]
    same_views(ours.root, theirs.root)


@SETTINGS
@given(config(), st.one_of(st.none(), st.lists(st.sampled_from(LAYERS), max_size=3)))
def test_generated_configs_analyse_as_before(text: str, layers: list[str] | None) -> None:
    assert_same(text, layers)


@SETTINGS
@given(mutated())
def test_mutated_configs_analyse_as_before(text: str) -> None:
    assert_same(text)


WORDS = ["batch_num", "activation_offset", "kv_cache_quant_config", "quant_layers", "calibration_config",
         "ifmr_quantize", "hfmg_quantize", "override_layers_configs", "layer_name", "kv_data_quant_config",
         "num_of_bins", "search_range_start", "search_range_end", "search_step", "max_percentile",
         "min_percentile", "asymmetric", "quant_granularity", "per_channel", "per_tensor", "true", "bogus",
         "{", "}", "<", ">", "[", "]", ":", ",", ";", "-", "'a'", '"b"', "1", "0", "0.5", "1e50", "nan",
         "-inf", "4096", "1abc", "'\\xff'", "[x.y]", "\n", "# c\n", "@"]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(WORDS), max_size=40))
def test_word_soup_analyses_as_before(words: list[str]) -> None:
    assert_same(" ".join(words))


def test_examples_and_fixtures_analyse_as_before() -> None:
    paths = [*sorted((ROOT / "examples").glob("*.cfg")), *sorted((ROOT / "tests/data/check").glob("*.cfg"))]
    assert paths
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert_same(text)
        assert_same(text, layers=["k0", "model.layers.0.self_attn.k_proj"])


def test_big_configs_analyse_as_before() -> None:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from configs import MANUAL, big_config

    for text in (MANUAL, big_config(1000), big_config(1000).replace("0.01", "-0.01").replace("2048", "3000")):
        assert_same(text)
