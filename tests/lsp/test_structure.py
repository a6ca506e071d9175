"""Structure: outline, folding, formatting, definition/references between an override and
its quant_layers entry, semantic tokens, inlay hints for omitted defaults (and the
setting that turns them off), code lenses running kvcal.calibrate."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as T

from kvcal.grammar.formatter import format_text
from tests.lsp import textmodel
from tests.lsp.conftest import Editor, example_text, session

pytestmark = pytest.mark.asyncio(loop_scope="module")
WHOLE = T.Range(start=T.Position(line=0, character=0), end=T.Position(line=10_000, character=0))


async def test_document_symbols(editor: Editor) -> None:
    uri = editor.open(example_text())
    symbols = await editor.client.text_document_document_symbol_async(
        T.DocumentSymbolParams(text_document=editor.doc(uri))
    )
    assert [s.name for s in symbols] == ["batch_num", "kv_cache_quant_config", "override_layers_configs"]
    common = symbols[1]
    assert common.kind == T.SymbolKind.Struct
    assert [c.name for c in common.children][:4] == [
        f"model.layers.{i}.self_attn.{kv}_proj" for i in (0, 1) for kv in "kv"
    ]
    assert common.range.start == editor.at(uri, "kv_cache_quant_config") and common.range.end.line == 15
    override = symbols[2]
    assert override.detail == "model.layers.0.self_attn.k_proj"
    assert override.selection_range.start == editor.at(uri, "override_layers_configs")


async def test_folding_ranges(editor: Editor) -> None:
    uri = editor.open(example_text())
    folds = await editor.client.text_document_folding_range_async(T.FoldingRangeParams(text_document=editor.doc(uri)))
    got = {(f.start_line, f.end_line, f.kind) for f in folds}
    assert (0, 2, "comment") in got  # the three header comment lines
    assert (5, 14, "region") in got  # kv_cache_quant_config { ... } up to the line before its }
    assert (11, 12, "region") in got  # hfmg_quantize
    assert (18, 25, "region") in got


async def test_formatting_keeps_comments(editor: Editor) -> None:
    src = "# head\nbatch_num:2 # two\nkv_cache_quant_config<quant_layers:'a'>\n"
    uri = editor.open(src)
    edits = await editor.client.text_document_formatting_async(
        T.DocumentFormattingParams(
            text_document=editor.doc(uri), options=T.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    formatted = textmodel.apply(src, edits)
    assert formatted == format_text(src) and "# two" in formatted and "# head" in formatted
    # formatted text gives no edits; text with syntax errors is left alone (and the user told)
    uri2 = editor.open(formatted)
    assert not await editor.client.text_document_formatting_async(
        T.DocumentFormattingParams(
            text_document=editor.doc(uri2), options=T.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    uri3 = editor.open("batch_num: {\n")
    assert not await editor.client.text_document_formatting_async(
        T.DocumentFormattingParams(
            text_document=editor.doc(uri3), options=T.FormattingOptions(tab_size=2, insert_spaces=True)
        )
    )
    assert any("not formatted" in m.message for m in editor.client.messages)


async def test_definition_and_references(editor: Editor) -> None:
    uri = editor.open(example_text())
    override = editor.at(uri, "'model.layers.0.self_attn.k_proj'", 1, 5)
    entry = editor.at(uri, "'model.layers.0.self_attn.k_proj'", 0, 5)
    (loc,) = await editor.client.text_document_definition_async(
        T.DefinitionParams(text_document=editor.doc(uri), position=override)
    )
    assert loc.uri == uri and loc.range.start == editor.at(uri, "'model.layers.0.self_attn.k_proj'", 0)
    (back,) = await editor.client.text_document_definition_async(
        T.DefinitionParams(text_document=editor.doc(uri), position=entry)
    )
    assert back.range.start == editor.at(uri, "'model.layers.0.self_attn.k_proj'", 1)
    refs = await editor.client.text_document_references_async(
        T.ReferenceParams(
            text_document=editor.doc(uri), position=entry, context=T.ReferenceContext(include_declaration=True)
        )
    )
    assert sorted(r.range.start.line for r in refs) == [6, 19]
    none = await editor.client.text_document_definition_async(
        T.DefinitionParams(text_document=editor.doc(uri), position=editor.at(uri, "v_proj'", 1))
    )
    assert not none


async def test_semantic_tokens(editor: Editor) -> None:
    src = "# c\nbatch_num: 2\nkv_cache_quant_config { quant_layers: 'é😀' calibration_config { hfmg_quantize { quant_granularity: per_channel asymmetric: true } } }\n"
    uri = editor.open(src)
    legend = editor.capabilities.semantic_tokens_provider.legend
    result = await editor.client.text_document_semantic_tokens_full_async(
        T.SemanticTokensParams(text_document=editor.doc(uri))
    )
    data = result.data
    tokens, line, char = [], 0, 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, _mods = data[i : i + 5]
        line, char = line + dl, (char + dc if dl == 0 else dc)
        start = textmodel.offset(src, T.Position(line=line, character=char))
        end = textmodel.offset(src, T.Position(line=line, character=char + length))
        tokens.append((src[start:end], legend.token_types[kind]))
    assert tokens == [
        ("# c", "comment"),
        ("batch_num", "property"),
        ("2", "number"),
        ("kv_cache_quant_config", "struct"),
        ("quant_layers", "property"),
        ("'é😀'", "string"),
        ("calibration_config", "struct"),
        ("hfmg_quantize", "struct"),
        ("quant_granularity", "property"),
        ("per_channel", "enumMember"),
        ("asymmetric", "property"),
        ("true", "keyword"),
    ]


async def test_inlay_hints_for_defaults(editor: Editor) -> None:
    uri = editor.open(example_text())
    hints = await editor.client.text_document_inlay_hint_async(
        T.InlayHintParams(text_document=editor.doc(uri), range=WHOLE)
    )
    by_line = {h.position.line: h.label for h in hints}
    assert by_line[3] == "activation_offset: true"
    assert by_line[11] == "defaults: asymmetric: true (activation_offset), quant_granularity: per_tensor"
    assert by_line[21].startswith("defaults: search_range_start: 0.7, search_range_end: 1.3")
    assert hints[1].position == editor.at(uri, "hfmg_quantize {", delta=15)
    only = await editor.client.text_document_inlay_hint_async(
        T.InlayHintParams(
            text_document=editor.doc(uri),
            range=T.Range(start=T.Position(line=10, character=0), end=T.Position(line=12, character=0)),
        )
    )
    assert [h.position.line for h in only] == [11]


async def test_inlay_hints_setting(tmp_path: Path) -> None:
    async with session(tmp_path, settings={"inlayHints": False}) as ed:
        uri = ed.open(example_text())
        await ed.diagnostics(uri)
        hints = await ed.client.text_document_inlay_hint_async(
            T.InlayHintParams(text_document=ed.doc(uri), range=WHOLE)
        )
        assert not hints
        # turned on: the client says the configuration changed, the server asks again
        ed.client.set_configuration({"kvcal": {"inlayHints": True}})
        ed.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings=None))
        from tests.lsp.conftest import wait_for

        await wait_for(lambda: "inlayHint" in ed.client.refreshes)
        hints = await ed.client.text_document_inlay_hint_async(
            T.InlayHintParams(text_document=ed.doc(uri), range=WHOLE)
        )
        assert len(hints) == 3


async def test_code_lenses(editor: Editor) -> None:
    uri = editor.open(example_text())
    lenses = await editor.client.text_document_code_lens_async(T.CodeLensParams(text_document=editor.doc(uri)))
    assert [(lens.range.start.line, lens.command.title) for lens in lenses] == [
        (0, "▶ Calibrate (4 layers)"),
        (11, "▶ Calibrate — hfmg_quantize for 3 layers"),
        (21, "▶ Calibrate — ifmr_quantize for 1 layer"),
    ]
    assert all(lens.command.command == "kvcal.calibrate" and lens.command.arguments[0] == uri for lens in lenses)
    # the block lenses calibrate the layers their block applies to
    assert [list(lens.command.arguments[1:]) for lens in lenses] == [
        [],
        [
            {
                "layers": [
                    "model.layers.0.self_attn.v_proj",
                    "model.layers.1.self_attn.k_proj",
                    "model.layers.1.self_attn.v_proj",
                ]
            }
        ],
        [{"layers": ["model.layers.0.self_attn.k_proj"]}],
    ]
    version = editor.replace(uri, "num_of_bins: 4096", "num_of_bins: 4000")
    await editor.diagnostics(uri, version)
    lenses = await editor.client.text_document_code_lens_async(T.CodeLensParams(text_document=editor.doc(uri)))
    assert [(lens.range.start.line, lens.command.title) for lens in lenses] == [(0, "▶ Calibrate: fix 1 error first")]
    commands = editor.capabilities.execute_command_provider.commands
    assert "kvcal.calibrate" in commands


async def test_formatting_follows_the_editors_indentation(editor: Editor) -> None:
    src = "kv_cache_quant_config { quant_layers: 'a' calibration_config { hfmg_quantize {} } }\n"
    uri = editor.open(src)
    for options, unit in (
        (T.FormattingOptions(tab_size=4, insert_spaces=True), "    "),
        (T.FormattingOptions(tab_size=4, insert_spaces=False), "\t"),
        (T.FormattingOptions(tab_size=3, insert_spaces=True), "   "),
    ):
        edits = await editor.client.text_document_formatting_async(
            T.DocumentFormattingParams(text_document=editor.doc(uri), options=options)
        )
        formatted = textmodel.apply(src, edits)
        assert formatted.splitlines()[1] == unit + "quant_layers: 'a'", (options, formatted)
        assert formatted.splitlines()[3] == unit * 2 + "hfmg_quantize {}", (options, formatted)
        assert format_text(formatted, unit) == formatted


async def test_range_formatting_changes_only_the_lines_it_touches(editor: Editor) -> None:
    src = "batch_num:2\nkv_cache_quant_config {\nquant_layers:'a'\n   quant_layers:'b'\n}\nbatch_num:   3\n"
    uri = editor.open(src)
    options = T.FormattingOptions(tab_size=2, insert_spaces=True)
    edits = await editor.client.text_document_range_formatting_async(
        T.DocumentRangeFormattingParams(
            text_document=editor.doc(uri),
            range=T.Range(start=T.Position(line=2, character=0), end=T.Position(line=4, character=0)),
            options=options,
        )
    )
    out = textmodel.apply(src, edits)
    lines = out.splitlines()
    assert lines[2:4] == ["  quant_layers: 'a'", "  quant_layers: 'b'"]  # the selected lines, formatted
    assert lines[0] == "batch_num:2" and lines[-1] == "batch_num:   3"  # the others as they were
    whole = await editor.client.text_document_formatting_async(
        T.DocumentFormattingParams(text_document=editor.doc(uri), options=options)
    )
    assert textmodel.apply(src, whole) == format_text(src)
