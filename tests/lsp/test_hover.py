"""Hover: field documentation (English, or Chinese for a zh locale) with type, default and
allowed values; values valid or not and why; a layer's effective plan."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as T

from kvcal.grammar import schema
from tests.lsp.conftest import Editor, example_text, session

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = schema.CONFIG_PACKAGE


async def hover_text(editor: Editor, uri: str, needle: str, nth: int = 0, delta: int = 1) -> str:
    h = await editor.hover(uri, editor.at(uri, needle, nth, delta))
    assert h is not None, f"no hover on {needle!r}"
    return h.contents.value


async def test_field_hover_has_doc_type_default_and_allowed_values(editor: Editor) -> None:
    uri = editor.open(example_text())
    text = await hover_text(editor, uri, "num_of_bins")
    assert text.startswith("**num_of_bins** · `optional uint32` · HFMGQuantize")
    assert schema.doc(f"{ROOT}.HFMGQuantize.num_of_bins").en in text
    assert "default: `4096`" in text and "one of 1024, 2048, 4096, 8192" in text
    text = await hover_text(editor, uri, "quant_granularity")
    assert "`per_tensor` (0), `per_channel` (1)" in text and "default: `per_tensor`" in text
    text = await hover_text(editor, uri, "hfmg_quantize")
    assert "`ifmr_quantize` | `hfmg_quantize`" in text


async def test_hover_range_is_the_word(editor: Editor) -> None:
    uri = editor.open(example_text())
    h = await editor.hover(uri, editor.at(uri, "batch_num", delta=3))
    assert h.range.start == editor.at(uri, "batch_num") and h.range.end == editor.at(uri, "batch_num", delta=9)


async def test_value_hover_says_valid_or_why_not(editor: Editor) -> None:
    uri = editor.open(
        "kv_cache_quant_config { quant_layers: 'a' calibration_config {\n"
        "  hfmg_quantize { num_of_bins: 3000 quant_granularity: per_channel } } }\n"
        "override_layers_configs { layer_name: 'b' kv_data_quant_config { ifmr_quantize {\n"
        "  max_percentile: 0.999999 min_percentile: 0.3 } } }\n"
    )
    bad = await hover_text(editor, uri, "3000")
    assert "**error** (num-of-bins)" in bad and "nearest is 2048" in bad
    good = await hover_text(editor, uri, "per_channel")
    assert "✓ Valid" in good and schema.doc(f"{ROOT}.QuantGranularity.per_channel").en in good
    pct = await hover_text(editor, uri, "0.999999")
    assert "✓ Valid" in pct and "(0.5, 1]" in pct and "float32 `0.999999`" in pct
    low = await hover_text(editor, uri, "0.3")
    assert "**error** (percentile)" in low


async def test_layer_hover_shows_the_effective_plan(editor: Editor) -> None:
    uri = editor.open(example_text())
    text = await hover_text(editor, uri, "'model.layers.0.self_attn.k_proj'", nth=1, delta=3)
    assert "**Layer** `model.layers.0.self_attn.k_proj`" in text
    assert "**IFMR** — config from this layer's override (line 20)" in text
    assert "`per_channel`" in text and "asymmetric (with offset) — decided by default" in text
    assert "batch_num | 2" in text and "also named at line 7, 20" in text
    text = await hover_text(editor, uri, "'model.layers.1.self_attn.v_proj'", delta=3)
    assert "**HFMG** — config from kv_cache_quant_config.calibration_config" in text and "num_of_bins 4096" in text


async def test_symmetric_decided_by_asymmetric_in_the_override(editor: Editor) -> None:
    uri = editor.open(
        "activation_offset: true\noverride_layers_configs { layer_name: 'x'\n"
        "  kv_data_quant_config { hfmg_quantize { asymmetric: false } } }\n"
    )
    text = await hover_text(editor, uri, "'x'")
    assert "symmetric (no offset) — decided by `asymmetric` in this layer's override" in text


async def test_no_hover_on_blank_or_comment(editor: Editor) -> None:
    uri = editor.open("# just a comment\n\nbatch_num: 1\n")
    assert await editor.hover(uri, editor.at(uri, "comment")) is None
    assert await editor.hover(uri, editor.at(uri, "\n\n", delta=1)) is None


async def test_chinese_locale(tmp_path: Path) -> None:
    async with session(tmp_path, locale="zh-CN") as ed:
        uri = ed.open(example_text())
        text = await hover_text(ed, uri, "num_of_bins")
        zh = schema.doc(f"{ROOT}.HFMGQuantize.num_of_bins").zh
        assert zh and zh in text and schema.doc(f"{ROOT}.HFMGQuantize.num_of_bins").en not in text
        assert "默认值: `4096`" in text
        layer = await hover_text(ed, uri, "'model.layers.1.self_attn.v_proj'", delta=3)
        assert "**层**" in layer and "量化粒度" in layer
        items = await ed.complete(ed.open("\n"), T.Position(line=0, character=0))  # completion docs in Chinese too
        batch = next(i for i in items if i.label == "batch_num")
        assert schema.doc(f"{ROOT}.AMCTQuantCaliConfig.batch_num").zh in batch.documentation.value


async def test_plain_text_client_gets_plain_text(tmp_path: Path) -> None:
    async with session(tmp_path, markdown=False) as ed:
        uri = ed.open(example_text())
        h = await ed.hover(uri, ed.at(uri, "batch_num", delta=2))
        assert h.contents.kind == "plaintext" and "batch_num" in h.contents.value
