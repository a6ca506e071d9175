"""The distillation config's rule table (spec AMCT-CONFIG-FAMILY.md §3): golden fixtures for
every rule, the realistic corpus (clean, and one mistake per file), the effective config
against the spec's precedence statements."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvcal.grammar import analyze, check
from kvcal.grammar.checks.effective import Row, effective_rows
from kvcal.grammar.schema import family_schema
from kvcal.grammar.text import LineIndex
from tests.grammar.golden import Expected, expectations, fixtures

SCHEMA = family_schema("distill")
DATA = Path(__file__).parent.parent / "data" / "amct" / "distill"
MISTAKE = re.compile(r"^# mistake: (?P<rule>[A-Z]+\d+):", re.MULTILINE)
#: spec rule id -> the code kvcal reports it with
RULE_CODES = {
    "D1": "batch-num",
    "D2": "data-type",
    "D4": "clip-range",
    "D5": "channel-wise",
    "D6": "duplicate-layer",
    "D7": "layer-type",
    "D8": "no-layers",
    "D9": "duplicate-layer",
    "D11": "duplicate-layer",
    "DS1": "oneof-conflict",
    "DS2": "duplicate-layer",
    "DS3": "skip-override",
    "DS4": "override-replaces",
    "DS5": "missing-required",
    "DS7": "data-dump",
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
    assert covered >= wanted | {"value-range", "layer-name"}, sorted(wanted - covered)


@pytest.mark.parametrize("path", sorted((DATA / "clean").glob("*.cfg")), ids=lambda p: p.stem)
def test_clean_corpus_resolves_to_distill_and_is_clean(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    analysis = analyze(text)
    assert analysis.family == "distill", analysis.resolution.why
    bad = [p for p in analysis.problems if p.severity in ("error", "warning")]
    assert not bad, bad


@pytest.mark.parametrize("path", sorted((DATA / "mistakes").glob("*.cfg")), ids=lambda p: p.stem)
def test_each_mistake_gives_its_rules_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    match = MISTAKE.search(text)
    assert match, "a mistake file names its rule: '# mistake: <rule id>: ...'"
    analysis = analyze(text)
    assert analysis.family == "distill", analysis.resolution.why
    codes = {p.code for p in analysis.problems if p.severity in ("error", "warning")}
    assert RULE_CODES[match["rule"]] in codes, [(p.code, p.message) for p in analysis.problems]


def test_skip_override_says_the_skip_wins() -> None:
    text = "quant_skip_layers: 'fc'\ndistill_override_layers { layer_name: 'fc' }\n"
    (p,) = [p for p in check(text, schema=SCHEMA) if p.code == "skip-override"]
    assert "in distillation the skip wins" in p.message and "the opposite of the retrain config" in p.message


def test_a_missing_clip_min_names_amcts_misleading_message() -> None:
    text = "distill_data_quant_config { ulq_quantize { clip_max_min { clip_max: 6 } } }\n"
    (p,) = [p for p in check(text, schema=SCHEMA) if p.code == "missing-required"]
    assert "reads 0" in p.message and "clip min should be less than 0" in p.message


# -- effective config ---------------------------------------------------------------------


def rows(text: str) -> dict[str, Row]:
    return {r.target: r for r in effective_rows(analyze(text, schema=SCHEMA))}


def setting(row: Row, name: str) -> str:
    return dict(row.settings)[name]


CONFIG = """
batch_num: 2
distill_group { start_layer_name: "layer1.0.conv1" end_layer_name: "layer1.0.relu" }
distill_data_quant_config { ulq_quantize { clip_max_min { clip_max: 6 clip_min: -6 } } }
distill_weight_quant_config { arq_distill { channel_wise: true } }
quant_skip_layers: "fc"
quant_skip_layer_types: "Conv2d"
distill_override_layers { layer_name: "fc" distill_weight_quant_config { ulq_distill {} } }
distill_override_layers { layer_name: "classifier.1" distill_weight_quant_config { ulq_distill {} } }
distill_override_layer_types { layer_type: "Conv2d" distill_data_quant_config { ulq_quantize {} } }
"""


def test_effective_skip_wins_and_overrides_replace() -> None:
    by = rows(CONFIG)
    # §3.3: the skip wins over an override, by name and by type
    assert setting(by["fc"], "quant_enable").startswith("false (quant_skip_layers wins over the override)")
    assert setting(by["Conv2d"], "quant_enable").startswith("false (quant_skip_layer_types wins")
    # §3.3: an override replaces the whole config; what it lacks is the built-in default
    cls = by["classifier.1"]
    assert setting(cls, "quant_enable") == "true"
    assert setting(cls, "distill_data_config").startswith("ulq_quantize, clip initialised by IFMR, dst_type INT8")
    assert "built-in default" in setting(cls, "distill_data_config")
    assert setting(cls, "distill_weight_config").startswith("ulq_distill")
    glob = by["every other layer"]
    assert setting(glob, "distill_data_config") == "ulq_quantize, clip_max 6.0, clip_min -6.0, dst_type INT8"
    assert setting(glob, "group_size") == "1 (default)" and setting(glob, "batch_num") == "2"
    assert setting(glob, "distill_group").startswith("1 user group first")
    assert any("a skip wins over an override" in n for n in glob.notes)
