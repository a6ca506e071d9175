"""The automatic channel-prune search config (spec AMCT-CONFIG-FAMILY.md §4): golden
fixtures per rule, the corpus configs resolved by content, the override_prune_cfg file's
content as AMCT checks it, and the effective search."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kvcal.grammar import check
from kvcal.grammar.checks.analysis import analyze
from kvcal.grammar.checks.effective import effective_rows
from kvcal.grammar.schema import family_schema
from tests.grammar.golden import expectations, fixtures
from tests.grammar.test_family_ptq import _golden

DATA = Path(__file__).parent.parent / "data" / "amct" / "acp"
ACP = family_schema("acp")
MISTAKE_CODES = {"A3": "value-range", "A4": "value-range", "AS2": "missing-required"}
CODES = {"value-range", "file-path", "precedence", "unknown-field"}


@pytest.mark.parametrize("path", fixtures(DATA), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    _golden(path, "acp")


def test_every_code_has_a_golden_case() -> None:
    covered = {e.code for p in fixtures(DATA) for e in expectations(p.read_text(encoding="utf-8"))[0]}
    assert covered >= CODES, f"codes without a golden case: {sorted(CODES - covered)}"


@pytest.mark.parametrize("path", fixtures(DATA / "clean"), ids=lambda p: p.stem)
def test_clean_corpus_resolves_to_acp_without_errors_or_warnings(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert analyze(text).family == "acp"
    bad = [p for p in check(text) if p.severity in ("error", "warning")]
    assert not bad, bad


@pytest.mark.parametrize("path", fixtures(DATA / "mistakes"), ids=lambda p: p.stem)
def test_each_corpus_mistake_gets_its_code(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    rule = re.search(r"^# mistake: (\w+):", text, re.M)
    assert rule is not None
    assert analyze(text).family == "acp"
    codes = {p.code for p in check(text) if p.is_error}
    assert MISTAKE_CODES[rule[1]] in codes, codes


def test_a_missing_compress_ratio_says_what_amct_does() -> None:
    (p,) = check("max_prune_ratio: 0.6\n", schema=ACP)
    assert p.code == "missing-required" and "reads as 0" in p.message
    (empty,) = check("", schema=ACP)  # A2: an empty file fails first
    assert empty.code == "missing-required" and "config file is empty" in empty.message


def test_a_percentage_gets_the_fraction_as_its_fix() -> None:
    (p,) = check("compress_ratio: 2\nmax_prune_ratio: 80\n", schema=ACP)
    assert p.data == {"suggestion": "0.8"}
    (q,) = check("compress_ratio: 2\nmax_prune_ratio: 150\n", schema=ACP)
    assert q.data is None and "percentage" not in q.message


# -- the override file ------------------------------------------------------------------------


def _checked(tmp_path: Path, override: str, extra: str = "") -> list:
    path = tmp_path / "override_prune.cfg"
    path.write_text(override, encoding="utf-8")
    return check(f'compress_ratio: 2\n{extra}override_prune_cfg: "{path}"\n', schema=ACP)


def test_a_valid_override_file_is_accepted(tmp_path: Path) -> None:
    override = (
        "override_layer_types { layer_type: 'Linear' prune_config { filter_pruner {\n"
        "  balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } } }\nregular_prune_skip_types: 'Conv2d'\n"
    )
    assert _checked(tmp_path, override) == []


@pytest.mark.parametrize(
    ("override", "code", "said"),
    [
        ("batch_num: 2\nskip_layers: 'fc'\n", "prune-config", "should contain only override or skip config"),  # A7
        (
            "override_layer_configs { layer_name: 'fc' retrain_weight_quant_config { arq_retrain {} } }\n",
            "prune-config",
            "should contain only filter_pruner config",
        ),  # A8: a retrain config
        (
            "override_layer_types { layer_type: 'Conv2d' prune_config { n_out_of_m_pruner { l1_selective_prune {} } } }\n",
            "prune-config",
            "n_out_of_m_pruner",
        ),  # A8: a 2:4 pruner
        (
            "override_layer_types { layer_type: 'Conv1d' prune_config { filter_pruner {\n"
            "  balanced_l2_norm_filter_prune { prune_ratio: 0.3 } } } }\n",
            "layer-type",
            "some override_types not supported for filter prune",
        ),  # A9
        (
            "regular_prune_skip_types: 'BatchNorm2d'\n",
            "layer-type",
            "some regular_prune_skip_types not supported",
        ),  # A9
        ("skip_layers: 'fc'\nprune_ratio: 0.3\n", "prune-config", "error(s) as a retrain config"),  # its own errors
    ],
)
def test_the_override_file_is_checked_as_amct_checks_it(tmp_path: Path, override: str, code: str, said: str) -> None:
    found = [p for p in _checked(tmp_path, override) if p.is_error]
    assert [p.code for p in found] == [code]
    assert said in found[0].message


def test_a_relative_override_file_is_looked_up_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prune").mkdir()
    (tmp_path / "prune" / "override.cfg").write_text("batch_num: 2\n", encoding="utf-8")
    text = 'compress_ratio: 2\noverride_prune_cfg: "prune/override.cfg"\n'
    (note,) = check(text, schema=ACP)
    assert (note.code, note.severity) == ("file-path", "information")
    monkeypatch.chdir(tmp_path)
    (found,) = check(text, schema=ACP)
    assert (found.code, found.severity) == ("prune-config", "error")


# -- effective --------------------------------------------------------------------------------


def test_the_effective_search_says_what_is_searched() -> None:
    text = "compress_ratio: 1.5\nmax_prune_ratio: 0.6\noverride_prune_cfg: 'fixed.cfg'\n"
    (row,) = effective_rows(analyze(text, schema=ACP))
    settings = dict(row.settings)
    assert row.kind == "global" and row.target == "every prunable layer"
    assert settings["compress_ratio"] == "1.5" and settings["max_prune_ratio"] == "0.6"
    assert settings["test_iteration"] == "1 (default)" and settings["ascend_optimized"] == "true (default)"
    assert settings["override_prune_cfg"] == "'fixed.cfg'"
    assert any("not searched" in n for n in row.notes)
    assert row.span is not None and text[row.span[0] : row.span[1]] == "compress_ratio"
    (bare,) = effective_rows(analyze("max_prune_ratio: 0.5\n", schema=ACP))
    assert dict(bare.settings)["compress_ratio"].startswith("missing")
    assert not any("not searched" in n for n in bare.notes)
