"""Completion that knows where the cursor is: field names valid there (without set ones and
the other oneof member), `: ` or a block inserted as the field needs (a snippet only for
clients that take snippets), enum names, true/false, the four num_of_bins, block
snippets, layer names from the sample data."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as T

from tests.lsp import textmodel
from tests.lsp.conftest import Editor, session, write_samples

pytestmark = pytest.mark.asyncio(loop_scope="module")


def labels(items: list[T.CompletionItem]) -> list[str]:
    return [i.label for i in sorted(items, key=lambda i: i.sort_text or i.label)]


async def test_root_fields_and_snippets(editor: Editor) -> None:
    uri = editor.open("batch_num: 1\n\n")
    items = await editor.complete(uri, T.Position(line=1, character=0))
    assert labels(items) == [
        "activation_offset",
        "kv_cache_quant_config",
        "override_layers_configs",
        "kv_cache_quant_config block",
        "override_layers_configs block",
    ]
    scalar = next(i for i in items if i.label == "activation_offset")
    assert (
        scalar.text_edit.new_text == "activation_offset: " and scalar.insert_text_format == T.InsertTextFormat.PlainText
    )
    block = next(i for i in items if i.label == "kv_cache_quant_config")
    assert block.text_edit.new_text == "kv_cache_quant_config {\n\t$0\n}"
    assert block.insert_text_format == T.InsertTextFormat.Snippet
    snippet = next(i for i in items if i.label == "override_layers_configs block")
    assert snippet.kind == T.CompletionItemKind.Snippet and "layer_name: '${1:" in snippet.text_edit.new_text
    assert "batch_num" in scalar.documentation.value or scalar.documentation.value.startswith("**activation_offset**")


async def test_applying_a_completion_gives_valid_text(editor: Editor) -> None:
    uri = editor.open("kv_cache_quant_config {\n  quant_layers: 'a'\n  calib\n}\n")
    pos = editor.at(uri, "calib", delta=5)
    items = await editor.complete(uri, pos)
    assert labels(items) == ["quant_layers", "calibration_config"]
    item = next(i for i in items if i.label == "calibration_config")
    assert item.text_edit.range.start == editor.at(uri, "calib") and item.text_edit.range.end == pos
    version = editor.apply_edits(uri, [T.TextEdit(range=item.text_edit.range, new_text="calibration_config {}")])
    assert await editor.diagnostics(uri, version) == []


async def test_set_fields_and_the_other_algorithm_are_not_offered(editor: Editor) -> None:
    uri = editor.open("kv_cache_quant_config {\n  calibration_config {\n    hfmg_quantize { }\n    \n  }\n}\n")
    assert await editor.complete(uri, T.Position(line=3, character=4)) == []
    uri = editor.open("kv_cache_quant_config {\n  calibration_config {\n    \n  }\n}\n")
    assert labels(await editor.complete(uri, T.Position(line=2, character=4))) == ["ifmr_quantize", "hfmg_quantize"]


async def test_values(editor: Editor) -> None:
    uri = editor.open(
        "kv_cache_quant_config { calibration_config {\n hfmg_quantize {\n"
        "  num_of_bins: \n  quant_granularity: \n  asymmetric:\n } } }\n"
    )
    bins = await editor.complete(uri, editor.at(uri, "num_of_bins: ", delta=13))
    assert labels(bins) == ["1024", "2048", "4096", "8192"]
    assert [i.label for i in bins if i.preselect] == ["4096"]
    enums = await editor.complete(uri, editor.at(uri, "quant_granularity: ", delta=19))
    assert labels(enums) == ["per_tensor", "per_channel"]
    assert all(i.kind == T.CompletionItemKind.EnumMember for i in enums)
    assert enums[1].documentation and "channel" in enums[1].documentation.value
    bools = await editor.complete(uri, editor.at(uri, "asymmetric:", delta=11))
    assert labels(bools) == ["true", "false"]
    assert bools[0].text_edit.new_text == " true"  # right after ':' a space comes with it


async def test_renaming_a_field_keeps_its_value(editor: Editor) -> None:
    uri = editor.open("batch_nm: 2\n")
    items = await editor.complete(uri, editor.at(uri, "batch_nm", delta=5))
    item = next(i for i in items if i.label == "batch_num")
    assert item.text_edit.new_text == "batch_num"
    text = textmodel.apply(editor.texts[uri], [item.text_edit])
    assert text == "batch_num: 2\n"


async def test_layer_names_from_sample_data(editor: Editor) -> None:
    write_samples(editor.folder / "kv.safetensors", {"m.k": 1, "m.v": 1, "m.q": 1})
    uri = editor.open(
        "# kvcal: data=kv.safetensors\nkv_cache_quant_config {\n  quant_layers: 'm.k'\n  quant_layers: \n}\n"
    )
    items = await editor.complete(uri, editor.at(uri, "quant_layers: \n", delta=14))
    assert sorted(labels(items)) == ["m.q", "m.v"]  # m.k is listed already
    assert items[0].text_edit.new_text in ("'m.v'", "'m.q'")
    # inside a string being typed: the whole string is replaced, with the same quote
    version = editor.replace(uri, "quant_layers: \n", 'quant_layers: "m.\n')
    await editor.diagnostics(uri, version)
    items = await editor.complete(uri, editor.at(uri, '"m.', delta=3))
    item = next(i for i in items if i.label == "m.q")
    assert item.text_edit.new_text == '"m.q"' and item.filter_text == '"m.q"'
    assert textmodel.apply(editor.texts[uri], [item.text_edit]).count('"m.q"') == 1


async def test_no_snippets_for_clients_without_them(tmp_path: Path) -> None:
    async with session(tmp_path, snippets=False) as ed:
        uri = ed.open("kv_cache_quant_config {\n  \n}\n")
        items = await ed.complete(uri, T.Position(line=1, character=2))
        assert all(i.insert_text_format != T.InsertTextFormat.Snippet for i in items)
        assert all("$" not in i.text_edit.new_text for i in items)
        block = next(i for i in items if i.label == "calibration_config")
        assert block.text_edit.new_text == "calibration_config {\n  }"
        root = await ed.complete(ed.open(""), T.Position(line=0, character=0))
        assert not any(i.kind == T.CompletionItemKind.Snippet for i in root)


async def test_nothing_in_comments(editor: Editor) -> None:
    uri = editor.open("# comment here\n")
    assert await editor.complete(uri, T.Position(line=0, character=5)) == []


async def test_a_bracketed_name_completes_as_a_whole_with_extensions_or_any_types_only(tmp_path: Path) -> None:
    import shutil

    data = Path(__file__).resolve().parents[1] / "data" / "schemas"
    shutil.copy(data / "acme.proto", tmp_path / "acme.proto")
    header = "# proto-file: acme.proto\n# proto-message: acme.Experiment\nname: 'x'\n"
    async with session(tmp_path) as ed:
        cases = [  # (text, where the cursor is, the label to take, the text after)
            ('[acme.no]: "a"\n', "[acme.no", "[acme.note]", '[acme.note]: "a"\n'),
            ("[acme.no\n", "[acme.no", "[acme.note]", "[acme.note]: \n"),
            ("[\n", "[", "[acme.extra_steps]", "[acme.extra_steps] {}\n"),
            (
                "payload { [type.googleapis.com/acme. }\n",
                "/acme.",
                "[type.googleapis.com/acme.Step]",
                "payload { [type.googleapis.com/acme.Step] {} }\n",
            ),
        ]
        for body, needle, take, want in cases:
            uri = ed.open(header + body, name=f"c{len(ed.texts)}.txtpb")
            pos = ed.at(uri, needle, delta=len(needle))
            items = await ed.complete(uri, pos)
            assert all(i.label.startswith("[") for i in items), (body, labels(items))
            item = next((i for i in items if i.label == take), None)
            assert item is not None, (body, labels(items))
            version = ed.apply_edits(uri, [T.TextEdit(range=item.text_edit.range, new_text=item.text_edit.new_text)])
            assert ed.texts[uri] == header + want, (body, ed.texts[uri])
            if "{}" in want:
                continue  # (a Step needs its id: the next thing to type)
            errors = [d for d in await ed.diagnostics(uri, version) if d.severity == T.DiagnosticSeverity.Error]
            assert errors == [] or "has no value" in errors[0].message, (body, errors)
