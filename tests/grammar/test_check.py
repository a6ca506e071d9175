"""Golden diagnostics for every code, with exact spans, on hand-annotated fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvcal.grammar import check
from kvcal.grammar.schema import kv_schema
from kvcal.grammar.text import LineIndex
from tests.grammar.golden import Expected, expectations, fixtures

KV = kv_schema()

DATA = Path(__file__).parent.parent / "data" / "check"
DESIGN_CODES = {
    "syntax",
    "unknown-field",
    "duplicate-field",
    "type",
    "enum-value",
    "missing-required",
    "oneof-conflict",
    "num-of-bins",
    "search-range",
    "search-step",
    "percentile",
    "batch-num",
    "duplicate-layer",
    "no-layers",
    "unknown-layer",
    "no-effect",
    "precedence",
    "layer-name",
}


def actual(text: str, layers: list[str] | None) -> list[Expected]:
    index = LineIndex(text)
    out = []
    for p in check(text, layers=layers, schema=KV):
        line, col = index.position(p.start)
        end_line, end_col = index.position(p.end)
        assert end_line == line, f"multi-line span for {p}"
        out.append(Expected(line, col, end_col, p.severity, p.code))
    return sorted(out)


@pytest.mark.parametrize("path", fixtures(DATA), ids=lambda p: p.stem)
def test_golden_diagnostics(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected, layers = expectations(text)
    got = actual(text, layers)
    lines = text.splitlines()

    def show(items: list[Expected]) -> str:
        return "\n".join(
            f"  {e.line + 1}:{e.start}-{e.end} {e.severity} {e.code}  | {lines[e.line][e.start : e.end]!r}"
            for e in items
        )

    assert got == expected, f"\nexpected:\n{show(expected)}\ngot:\n{show(got)}"


def test_every_design_code_has_a_golden_case() -> None:
    covered = {e.code for path in fixtures(DATA) for e in expectations(path.read_text(encoding="utf-8"))[0]}
    assert covered >= DESIGN_CODES, f"codes without a golden case: {sorted(DESIGN_CODES - covered)}"


def test_problems_carry_fix_data() -> None:
    text = "batch_nmu: 1\nkv_cache_quant_config { quant_layers: 'a' calibration_config { hfmg_quantize { num_of_bins: 3000 } } }\n"
    by_code = {p.code: p for p in check(text, schema=KV)}
    assert by_code["unknown-field"].data["suggestion"] == "batch_num"
    assert by_code["num-of-bins"].data["suggestion"] == "2048"
    swap = check(
        "kv_cache_quant_config { quant_layers: 'a' calibration_config { ifmr_quantize {"
        " search_range_start: 1.3 search_range_end: 0.7 } } }",
        schema=KV,
    )
    sr = next(p for p in swap if p.code == "search-range")
    (a, b), (c, d) = sr.data["swap"]
    assert (swap_text := "kv_cache_quant_config")  # noqa: F841 - keep names readable
    assert sr.related and sr.related[0].message.startswith("search_range_end")
    assert (a, b) < (c, d)


def test_related_locations_point_at_the_first_occurrence() -> None:
    text = "batch_num: 1\nbatch_num: 2\n"
    (p,) = [p for p in check(text, schema=KV) if p.code == "duplicate-field"]
    assert text[p.start : p.end] == "batch_num" and p.start == 13
    assert p.related[0].start == 0
    assert p.data["delete"] == [13, 25]


def test_messages_name_blocks_as_they_are_written() -> None:
    text = (
        "BATCH_NUM: 1\nkv_cache_quant_config { quant_layers: 'a' calibration_config {\n"
        "  ifmr_quantize { num_of_bins: 1024 quant_granularity: PER_CHANNEL } } }\n"
        "override_layers_configs { kv_data_quant_config { quant_granularity: 1 } }\n"
    )
    messages = {text[p.start : p.end]: p.message for p in check(text, schema=KV)}
    assert messages["BATCH_NUM"].startswith("the top level has no field 'BATCH_NUM': did you mean 'batch_num'?")
    assert messages["num_of_bins"].startswith(
        "ifmr_quantize has no field 'num_of_bins': 'num_of_bins' belongs in hfmg_quantize"
    )
    assert messages["PER_CHANNEL"].startswith(
        "quant_granularity has no value 'PER_CHANNEL': did you mean 'per_channel'?"
    )
    assert "belongs in ifmr_quantize or hfmg_quantize" in messages["quant_granularity"]
    assert messages["override_layers_configs"].startswith("override_layers_configs needs 'layer_name'")
    assert not any(
        name in m for m in messages.values() for name in ("FMRQuantize", "AMCTQuantCaliConfig", "OverrideLayer")
    )


def test_an_enum_value_like_no_other_gets_no_guess() -> None:
    (p,) = check(
        "kv_cache_quant_config { quant_layers: 'a' calibration_config { hfmg_quantize { quant_granularity: bogus } } }",
        schema=KV,
    )
    assert p.code == "enum-value" and "did you mean" not in p.message and "suggestion" not in p.data
    assert p.data["valid"] == ["per_tensor", "per_channel"]


def test_layer_fixes_in_the_data() -> None:
    text = (
        "kv_cache_quant_config { quant_layers: ' a ' }\noverride_layers_configs {\n  layer_name: 'b'\n}\n"
        "override_layers_configs {\n  layer_name: 'b'\n  kv_data_quant_config { hfmg_quantize {} }\n}\n"
    )
    by_code = {p.code: p for p in check(text, schema=KV)}
    assert by_code["layer-name"].data == {"suggestion": "'a'"}
    start, end = by_code["duplicate-layer"].data["delete"]  # the whole second override
    assert text[start:end].startswith("override_layers_configs {") and text[start:end].endswith("}")
    assert text[start:end].count("layer_name") == 1 and start > text.index("layer_name: 'b'")
