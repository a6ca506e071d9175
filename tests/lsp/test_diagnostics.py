"""Diagnostics: pushed on open and change (debounced, tagged with the version, never
stale), pulled for clients that ask; codes, severities, related information and tags come
straight from the grammar's problems; sample data adds unknown-layer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types as T

from kvcal.grammar import check
from kvcal.grammar.schema import kv_schema
from kvcal.grammar.text import LineIndex
from tests.lsp.conftest import Editor, example_text, session, wait_for, write_samples

KV = kv_schema()

pytestmark = pytest.mark.asyncio(loop_scope="module")

BAD = """batch_nmu: 2
kv_cache_quant_config {
  quant_layers: 'a'
  calibration_config {
    hfmg_quantize { num_of_bins: 3000 }
    ifmr_quantize { }
  }
}
"""


def expected(text: str, layers: list[str] | None = None) -> list[tuple[int, int, int, int, str, str]]:
    """(line, col, end line, end col, severity, code) of the grammar's own problems."""
    index = LineIndex(text)
    out = []
    for p in check(text, layers=layers, schema=KV):
        (l0, c0), (l1, c1) = index.utf16_position(p.start), index.utf16_position(p.end)
        out.append((l0, c0, l1, c1, p.severity, p.code))
    return out


def got(diags: list[T.Diagnostic]) -> list[tuple[int, int, int, int, str, str]]:
    names = {1: "error", 2: "warning", 3: "information", 4: "hint"}
    return [
        (
            d.range.start.line,
            d.range.start.character,
            d.range.end.line,
            d.range.end.character,
            names[d.severity],
            d.code,
        )
        for d in diags
    ]


async def test_open_publishes_the_grammar_problems_with_version(editor: Editor) -> None:
    uri = editor.open(BAD)
    diags = await editor.diagnostics(uri, version=1)
    assert got(diags) == expected(BAD)
    codes = {d.code for d in diags}
    assert {"unknown-field", "num-of-bins", "oneof-conflict"} <= codes
    unknown = next(d for d in diags if d.code == "unknown-field")
    assert (unknown.range.start.line, unknown.range.start.character, unknown.range.end.character) == (0, 0, 9)
    assert unknown.severity == T.DiagnosticSeverity.Error and unknown.source == "kvcal"
    assert "batch_num" in unknown.message
    conflict = next(d for d in diags if d.code == "oneof-conflict")
    (related,) = conflict.related_information
    assert related.location.uri == uri and related.location.range.start.line == 4


async def test_tags_and_information_severity(editor: Editor) -> None:
    text = "activation_offset: false\nkv_cache_quant_config {\n  calibration_config { hfmg_quantize { asymmetric: true } }\n}\n"
    uri = editor.open(text)
    diags = await editor.diagnostics(uri)
    assert got(diags) == expected(text)
    hint = next(d for d in diags if d.code == "no-effect")
    assert hint.severity == T.DiagnosticSeverity.Hint and list(hint.tags) == [T.DiagnosticTag.Unnecessary]


async def test_incremental_changes_update_diagnostics(editor: Editor) -> None:
    uri = editor.open(BAD)
    await editor.diagnostics(uri, 1)
    editor.replace(uri, "batch_nmu", "batch_num")  # fix the typo
    version = editor.replace(uri, "3000", "2048")
    diags = await editor.diagnostics(uri, version)
    assert got(diags) == expected(editor.texts[uri])
    assert {d.code for d in diags} == {"oneof-conflict"}
    # a multi-line edit that deletes the second algorithm
    start, end = editor.at(uri, "    ifmr_quantize"), editor.at(uri, "  }\n}", 0)
    version = editor.edit(uri, start, end, "")
    assert await editor.diagnostics(uri, version) == []


async def test_a_burst_of_changes_is_debounced_and_never_stale(editor: Editor) -> None:
    base = "batch_num: 1\nkv_cache_quant_config { quant_layers: 'a' }\n"
    uri = editor.open(base)
    await editor.diagnostics(uri, 1)
    before = len([p for p in editor.client.published if p.uri == uri])
    history = {1: base}
    last = 1
    for i in range(80):  # type and delete a character 40 times, without waiting
        at = editor.at(uri, "1", delta=1)
        if i % 2 == 0:
            last = editor.edit(uri, at, at, "x")  # batch_num: 1x is a syntax error
        else:
            last = editor.edit(uri, at, editor.at(uri, "1x", delta=2), "")
        history[last] = editor.texts[uri]
    diags = await editor.diagnostics(uri, last)
    assert editor.texts[uri] == base and got(diags) == expected(base) == []
    published = [p for p in editor.client.published if p.uri == uri][before:]
    versions = [p.version for p in published]
    assert versions == sorted(versions), "diagnostics went back to an older version"
    assert len(published) < 10, f"{len(published)} publishes for 80 changes: not debounced"
    for p in published:  # each publish is the diagnostics of exactly the version it names
        assert got(p.diagnostics) == expected(history[p.version])


async def test_close_clears_diagnostics(editor: Editor) -> None:
    uri = editor.open(BAD)
    assert await editor.diagnostics(uri, 1)
    editor.close(uri)
    await wait_for(lambda: editor.client.published[-1].uri == uri and len(editor.client.published[-1].diagnostics) == 0)


async def test_sample_data_from_the_header_checks_layer_names(editor: Editor) -> None:
    write_samples(editor.folder / "data" / "kv.safetensors", {"model.k": 1, "model.v": 1})
    text = "# kvcal: data=data/kv.safetensors\nkv_cache_quant_config {\n  quant_layers: 'model.k'\n  quant_layers: 'model.x'\n}\n"
    uri = editor.open(text)
    diags = await editor.diagnostics(uri)
    assert got(diags) == expected(text, ["model.k", "model.v"])
    (unknown,) = [d for d in diags if d.code == "unknown-layer"]
    assert unknown.range.start.line == 3 and "model.x" in unknown.message


async def test_missing_sample_file_is_a_warning_on_the_header(editor: Editor) -> None:
    text = "# kvcal: data=nowhere.safetensors\nkv_cache_quant_config { quant_layers: 'a' }\n"
    uri = editor.open(text)
    diags = await editor.diagnostics(uri)
    (warning,) = [d for d in diags if d.code == "sample-data"]
    assert warning.severity == T.DiagnosticSeverity.Warning
    assert (warning.range.start.line, warning.range.start.character, warning.range.end.character) == (0, 14, 33)
    assert "nowhere.safetensors" in warning.message


async def test_sample_data_from_the_setting(tmp_path: Path) -> None:
    data = write_samples(tmp_path / "samples.safetensors", {"l0": 1})
    async with session(tmp_path, settings={"sampleData": str(data)}) as ed:
        uri = ed.open("kv_cache_quant_config { quant_layers: 'l0' quant_layers: 'l1' }\n")
        diags = await ed.diagnostics(uri)
        assert [(d.code, d.range.start) for d in diags] == [("unknown-layer", ed.at(uri, "'l1'"))]
        requests = [m for m in ed.client.log_messages if m.type == T.MessageType.Error]
        assert requests == []


async def test_a_relative_sample_data_setting_starts_at_the_documents_workspace_folder(tmp_path: Path) -> None:
    folder = tmp_path / "project"
    write_samples(folder / "kv.safetensors", {"l0": 1})
    # rootUri is the parent: LSP says workspaceFolders win over it
    async with session(folder, root=tmp_path, settings={"sampleData": "kv.safetensors"}) as ed:
        uri = ed.open("kv_cache_quant_config { quant_layers: 'l0' quant_layers: 'l1' }\n")
        diags = await ed.diagnostics(uri)
        assert [(d.code, d.range.start) for d in diags] == [("unknown-layer", ed.at(uri, "'l1'"))]


async def test_documents_that_are_not_quant_configs_are_left_alone(editor: Editor) -> None:
    notes = (editor.folder / "README.md").as_uri()
    editor.client.text_document_did_open(
        T.DidOpenTextDocumentParams(
            text_document=T.TextDocumentItem(
                uri=notes, language_id="markdown", version=1, text="# kvcal\nbatch_num: zero\n"
            )
        )
    )
    uri = editor.open(BAD)  # opened after it: once its diagnostics are in, the README's would be too
    await editor.diagnostics(uri)
    assert not [p for p in editor.client.published if p.uri == notes]
    hover = await editor.hover(notes, T.Position(line=1, character=2))
    assert hover is None


async def test_pull_diagnostics(tmp_path: Path) -> None:
    async with session(tmp_path, pull=True) as ed:
        uri = ed.open(BAD)
        report = await ed.client.text_document_diagnostic_async(T.DocumentDiagnosticParams(text_document=ed.doc(uri)))
        assert report.kind == "full"
        assert got(report.items) == expected(BAD)
        ed.replace(uri, "batch_nmu", "batch_num")  # the client pulls after a change by itself
        report = await ed.client.text_document_diagnostic_async(T.DocumentDiagnosticParams(text_document=ed.doc(uri)))
        assert got(report.items) == expected(ed.texts[uri])
        assert "diagnostic" not in ed.client.refreshes
        # new settings can change them: then the server asks the client to pull again
        write_samples(tmp_path / "kv.safetensors", {"b": 1})
        ed.client.set_configuration({"kvcal": {"sampleData": str(tmp_path / "kv.safetensors")}})
        ed.client.workspace_did_change_configuration(T.DidChangeConfigurationParams(settings=None))
        await wait_for(lambda: "diagnostic" in ed.client.refreshes)
        report = await ed.client.text_document_diagnostic_async(T.DocumentDiagnosticParams(text_document=ed.doc(uri)))
        assert [d.code for d in report.items if d.code == "unknown-layer"] == ["unknown-layer"]  # 'a' is not in it
        assert not ed.client.published, "a client that pulls gets no pushed diagnostics"


async def test_example_has_only_its_notes(editor: Editor) -> None:
    uri = editor.open(example_text(), name="examples/quant.cfg")
    diags = await editor.diagnostics(uri)
    assert {d.code for d in diags} == {"precedence", "sample-data", "schema"}


async def test_an_analysis_overtaken_by_a_change_is_never_published(editor: Editor) -> None:
    # ~32,000 lines take well over 60 ms to analyse; the second change arrives while the
    # first version is being analysed, so the first version's diagnostics must not appear.
    # Both changes are made ready before the first is sent (the test's own text model is slow).
    block = "override_layers_configs {\n  layer_name: 'l%d'\n  kv_data_quant_config { hfmg_quantize { num_of_bins: 4096 } }\n}\n"
    big = "".join(block % i for i in range(8000))
    uri = editor.open(big)
    await editor.diagnostics(uri, 1)
    where = T.Range(start=editor.at(uri, "4096"), end=editor.at(uri, "4096", delta=4))
    editor.texts[uri] = big.replace("4096", "2048", 1)  # what the editor holds after both
    v2 = editor._send(uri, [T.TextDocumentContentChangePartial(range=where, text="3000")])  # an error
    await asyncio.sleep(0.06)  # past the debounce: v2 is being analysed now
    v3 = editor._send(uri, [T.TextDocumentContentChangePartial(range=where, text="2048")])
    diags = await editor.diagnostics(uri, v3)
    assert diags == []
    assert v2 not in [p.version for p in editor.client.published if p.uri == uri]
