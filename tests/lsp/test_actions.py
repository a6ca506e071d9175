"""Quick fixes from the problems' data, applied by the client: each one removes its
diagnostic and leaves the expected text. Plus "Format document" as a source action."""

from __future__ import annotations

import pytest
from lsprotocol import types as T

from kvcal.grammar.formatter import format_text
from tests.lsp.conftest import Editor

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def fix(editor: Editor, text: str, code: str, title_part: str) -> tuple[str, list[T.Diagnostic], T.CodeAction]:
    """Open *text*, take the quick fix whose title contains *title_part* on the *code*
    diagnostic, apply it; return the new text, its diagnostics and the action."""
    uri = editor.open(text)
    diags = await editor.diagnostics(uri)
    diag = next(d for d in diags if d.code == code)
    actions = await editor.actions(uri, diag.range.start, diag.range.end)
    chosen = [a for a in actions if title_part in a.title]
    assert len(chosen) == 1, [a.title for a in actions]
    action = chosen[0]
    assert action.kind == T.CodeActionKind.QuickFix
    assert action.diagnostics and action.diagnostics[0].code == code
    version = editor.apply_edits(uri, list(action.edit.changes[uri]))
    return editor.texts[uri], await editor.diagnostics(uri, version), action


async def test_rename_misspelled_field(editor: Editor) -> None:
    text, diags, action = await fix(
        editor, "batch_nmu: 2\nkv_cache_quant_config { quant_layers: 'a' }\n", "unknown-field", "'batch_num'"
    )
    assert text.startswith("batch_num: 2\n") and diags == [] and action.is_preferred


@pytest.mark.parametrize(
    ("which", "kept"),
    [("Remove 'ifmr_quantize'", "hfmg_quantize"), ("Remove the other 'hfmg_quantize'", "ifmr_quantize")],
)
async def test_remove_one_of_two_algorithms(editor: Editor, which: str, kept: str) -> None:
    src = (
        "kv_cache_quant_config {\n  quant_layers: 'a'\n  calibration_config {\n"
        "    hfmg_quantize { num_of_bins: 2048 }\n    ifmr_quantize { search_step: 0.02 }\n  }\n}\n"
    )
    text, diags, _ = await fix(editor, src, "oneof-conflict", which)
    assert diags == []
    assert kept in text and ({"hfmg_quantize", "ifmr_quantize"} - {kept}).pop() not in text
    assert "\n\n" not in text  # the whole line went


async def test_nearest_num_of_bins(editor: Editor) -> None:
    src = "kv_cache_quant_config { quant_layers: 'a' calibration_config { hfmg_quantize { num_of_bins: 3000 } } }\n"
    text, diags, _ = await fix(editor, src, "num-of-bins", "2048")
    assert "num_of_bins: 2048" in text and diags == []


async def test_swap_reversed_search_range(editor: Editor) -> None:
    src = (
        "kv_cache_quant_config { quant_layers: 'a' calibration_config { ifmr_quantize {\n"
        "  search_range_start: 1.3\n  search_range_end: 0.7\n} } }\n"
    )
    text, diags, _ = await fix(editor, src, "search-range", "Swap")
    assert "search_range_start: 0.7\n  search_range_end: 1.3" in text and diags == []


async def test_delete_duplicate_field(editor: Editor) -> None:
    src = "batch_num: 1\nbatch_num: 2\nkv_cache_quant_config { quant_layers: 'a' }\n"
    text, diags, _ = await fix(editor, src, "duplicate-field", "Remove this duplicate")
    assert text == "batch_num: 1\nkv_cache_quant_config { quant_layers: 'a' }\n" and diags == []
    text, diags, _ = await fix(editor, src, "duplicate-field", "Remove the first")
    assert text == "batch_num: 2\nkv_cache_quant_config { quant_layers: 'a' }\n" and diags == []


async def test_delete_duplicate_layer(editor: Editor) -> None:
    src = "kv_cache_quant_config {\n  quant_layers: 'a'\n  quant_layers: 'b'\n  quant_layers: 'a'\n}\n"
    text, diags, _ = await fix(editor, src, "duplicate-layer", "duplicate layer")
    assert text == "kv_cache_quant_config {\n  quant_layers: 'a'\n  quant_layers: 'b'\n}\n" and diags == []


async def test_delete_duplicate_override(editor: Editor) -> None:
    src = (
        "override_layers_configs {\n  layer_name: 'a'\n}\noverride_layers_configs {\n  layer_name: 'a'\n"
        "  kv_data_quant_config { hfmg_quantize {} }\n}\n"
    )
    text, diags, _ = await fix(editor, src, "duplicate-layer", "duplicate override")
    assert text == "override_layers_configs {\n  layer_name: 'a'\n}\n" and diags == []  # the whole block went


async def test_trim_a_layer_name(editor: Editor) -> None:
    src = "kv_cache_quant_config { quant_layers: ' a ' }\n"
    text, diags, action = await fix(editor, src, "layer-name", "Replace with 'a'")
    assert text == "kv_cache_quant_config { quant_layers: 'a' }\n" and diags == [] and action.is_preferred


async def test_an_enum_value_like_no_other_offers_each_value(editor: Editor) -> None:
    src = "kv_cache_quant_config { quant_layers: 'a' calibration_config { hfmg_quantize { quant_granularity: bogus } } }\n"
    text, diags, action = await fix(editor, src, "enum-value", "per_channel")
    assert "quant_granularity: per_channel" in text and diags == [] and not action.is_preferred


async def test_add_missing_layer_name(editor: Editor) -> None:
    src = "override_layers_configs {\n  kv_data_quant_config { hfmg_quantize { } }\n}\n"
    text, diags, _ = await fix(editor, src, "missing-required", "Add layer_name")
    assert text == "override_layers_configs {\n  layer_name: ''\n  kv_data_quant_config { hfmg_quantize { } }\n}\n"
    assert "missing-required" not in {d.code for d in diags}


async def test_insert_missing_colon(editor: Editor) -> None:
    text, diags, _ = await fix(editor, "batch_num 2\nkv_cache_quant_config { quant_layers: 'a' }\n", "syntax", "':'")
    assert text.startswith("batch_num: 2\n") and diags == []


async def test_format_document_source_action(editor: Editor) -> None:
    src = "kv_cache_quant_config {quant_layers:'a'  # first\n calibration_config<hfmg_quantize{}>}\n"
    uri = editor.open(src)
    await editor.diagnostics(uri)
    actions = await editor.actions(uri, T.Position(line=0, character=0), only=[T.CodeActionKind.Source])
    assert [a.title for a in actions] == ["Format document"]
    assert all(a.kind.startswith("source") for a in actions)
    version = editor.apply_edits(uri, list(actions[0].edit.changes[uri]))
    assert editor.texts[uri] == format_text(src) and "# first" in editor.texts[uri]
    await editor.diagnostics(uri, version)
    assert await editor.actions(uri, T.Position(line=0, character=0), only=[T.CodeActionKind.Source]) == []


async def test_no_format_action_with_syntax_errors_and_only_filters(editor: Editor) -> None:
    uri = editor.open("batch_num: {\n")
    await editor.diagnostics(uri)
    actions = await editor.actions(uri, T.Position(line=0, character=0), T.Position(line=1, character=0))
    assert all(a.title != "Format document" for a in actions)
    assert all(a.kind == T.CodeActionKind.QuickFix for a in actions)
    quick = await editor.actions(uri, T.Position(line=0, character=0), only=[T.CodeActionKind.Source])
    assert quick == []
