"""The language server with schemas resolved per document: AMCT configs of every family by
content, any .txtpb with a header, the kvcal.schemas setting, go to definition into the
.proto, the status bar's summary and the header a quick fix writes."""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from lsprotocol import types as T

from tests.lsp import textmodel
from tests.lsp.conftest import session

pytestmark = pytest.mark.asyncio(loop_scope="module")
DATA = Path(__file__).resolve().parents[1] / "data" / "schemas"

PTQ = """batch_num: 2
skip_layers: "conv1"
common_config {
  arq_quantize { channel_wise: false }
  ifmr_quantize { search_range_start: 0.7 search_range_end: 1.3 }
}
"""
JOB = """# proto-file: open.proto
# proto-message: acme.v3.Job
kind: BATCH
retries: 3
"""


def _codes(diags: list[T.Diagnostic]) -> list[tuple[str, str]]:
    return [(str(d.code), T.DiagnosticSeverity(d.severity).name) for d in diags]


async def test_an_amct_ptq_config_gets_no_false_errors_and_a_note_naming_its_schema(tmp_path: Path) -> None:
    async with session(tmp_path) as ed:
        uri = ed.open(PTQ, name="quant.cfg")
        diags = await ed.diagnostics(uri)
        assert _codes(diags) == [("schema", "Information")]
        assert "checked as AMCT post-training quantization config (AMCTConfig)" in diags[0].message
        (fix,) = [a for a in await ed.actions(uri, diags[0].range.start) if "Pin the schema" in a.title]
        text = textmodel.apply(ed.texts[uri], fix.edit.changes[uri])
        assert text.startswith(
            "# proto-file: calibration_config_pytorch.proto\n# proto-message: AMCTPytorchProto.AMCTConfig\n"
        )
        ed.set_text(uri, text)
        assert _codes(await ed.diagnostics(uri)) == []  # pinned: no note
        summary = await ed.execute("kvcal.documentInfo", uri)
        assert summary["schema"] == "AMCTPytorchProto.AMCTConfig" and summary["how"] == "header"
        assert summary["sampleData"] is None
        hover = await ed.hover(uri, ed.at(uri, "arq_quantize", delta=2))
        assert hover is not None and "ARQ" in hover.contents.value  # the PTQ proto's own docs


async def test_a_txtpb_with_a_header_is_checked_against_the_users_proto(tmp_path: Path) -> None:
    shutil.copy(DATA / "open.proto", tmp_path / "open.proto")
    async with session(tmp_path) as ed:
        uri = ed.open(JOB + "retries: 4\nbogus: 1\n", name="job.txtpb")
        assert _codes(await ed.diagnostics(uri)) == [("duplicate-field", "Error"), ("unknown-field", "Error")]
        summary = await ed.execute("kvcal.documentInfo", uri)
        assert (summary["schema"], summary["how"], summary["family"]) == ("acme.v3.Job", "header", None)
        # go to definition: from the field to its declaration in open.proto
        locs = await ed.client.text_document_definition_async(
            T.DefinitionParams(text_document=ed.doc(uri), position=ed.at(uri, "retries", delta=2))
        )
        (loc,) = locs
        proto = Path(url2pathname(urlsplit(loc.uri).path))
        assert proto == (tmp_path / "open.proto").resolve()
        line = proto.read_text().splitlines()[loc.range.start.line]
        assert "retries" in line
        # an enum value goes to the value's declaration
        (loc,) = await ed.client.text_document_definition_async(
            T.DefinitionParams(text_document=ed.doc(uri), position=ed.at(uri, "BATCH", delta=2))
        )
        assert "BATCH = 1" in proto.read_text().splitlines()[loc.range.start.line]
        # hover on the header says which schema and why
        hover = await ed.hover(uri, ed.at(uri, "acme.v3.Job", delta=2))
        assert hover is not None and "acme.v3.Job" in hover.contents.value
        # completion offers the proto's fields and its enum's values
        labels = {
            i.label for i in await ed.complete(ed.open(JOB + "pri", name="j2.txtpb"), T.Position(line=4, character=3))
        }
        assert {"priority", "ids"} <= labels


async def test_editing_the_proto_updates_the_documents_diagnostics(tmp_path: Path) -> None:
    proto = tmp_path / "open.proto"
    shutil.copy(DATA / "open.proto", proto)
    async with session(tmp_path) as ed:
        uri = ed.open(JOB + "kind: STREAM\n", name="job.txtpb")
        assert ("enum-value", "Error") in _codes(await ed.diagnostics(uri))
        proto.write_text(proto.read_text().replace("BATCH = 1;", "BATCH = 1;\n    STREAM = 2;"))
        ed.replace(uri, "retries: 3", "retries: 5")  # the next analysis sees the new proto
        assert ("enum-value", "Error") not in _codes(await ed.diagnostics(uri))
        proto.write_text("syntax = 'proto3';\nmessage {\n")
        ed.replace(uri, "retries: 5", "retries: 6")
        diags = await ed.diagnostics(uri)
        assert _codes(diags) == [("schema", "Error")] and diags[0].range.start.line == 0  # on the header


async def test_the_schemas_setting_names_the_schema_of_matching_files(tmp_path: Path) -> None:
    shutil.copy(DATA / "open.proto", tmp_path / "open.proto")
    settings = {"schemas": {"jobs/**/*.pbtxt": {"proto": "open.proto", "message": "acme.v3.Job"}}}
    async with session(tmp_path, settings=settings) as ed:
        uri = ed.open("kind: BATCH\nretries: x\n", name="jobs/a/one.pbtxt")
        assert _codes(await ed.diagnostics(uri)) == [("type", "Error")]
        other = ed.open("kind: BATCH\n", name="elsewhere/two.pbtxt")
        assert _codes(await ed.diagnostics(other)) == [("schema", "Information")]  # no schema: a note


async def test_document_info_says_which_sample_data_the_server_read(tmp_path: Path) -> None:
    from tests.lsp.conftest import write_samples

    write_samples(tmp_path / "kv.safetensors", {"a": 1, "b": 1})
    async with session(tmp_path) as ed:
        uri = ed.open("# kvcal: data=kv.safetensors\nkv_cache_quant_config { quant_layers: 'a' }\n", name="x.quant.cfg")
        await ed.diagnostics(uri)
        info = await ed.execute("kvcal.documentInfo", uri)
        assert info["sampleData"] == {
            "path": str(tmp_path / "kv.safetensors"),
            "origin": "header",
            "layers": 2,
            "error": None,
        }
        missing = ed.open(
            "# kvcal: data=nope.safetensors\nkv_cache_quant_config { quant_layers: 'a' }\n", name="y.quant.cfg"
        )
        await ed.diagnostics(missing)
        info = await ed.execute("kvcal.documentInfo", missing)
        assert info["sampleData"]["origin"] == "header" and info["sampleData"]["error"]


async def test_an_ini_file_claimed_by_its_extension_gets_no_diagnostics(tmp_path: Path) -> None:
    async with session(tmp_path) as ed:
        uri = ed.open("[metadata]\nname = kvcal\n[options]\npackages = find:\n", name="setup.cfg")
        assert await ed.diagnostics(uri) == []
        broken = ed.open("a { b: 1\n", name="notes.txtpb")  # a text-format extension: its errors count
        assert ("syntax", "Error") in _codes(await ed.diagnostics(broken))


async def test_select_schema_choices_write_the_header(tmp_path: Path) -> None:
    shutil.copy(DATA / "open.proto", tmp_path / "open.proto")
    async with session(tmp_path) as ed:
        uri = ed.open("kind: BATCH\n", name="job.txtpb")
        await ed.diagnostics(uri)
        summary = await ed.execute("kvcal.documentInfo", uri)
        assert summary["schema"] is None and summary["label"] == "no schema"
        choices = await ed.execute("kvcal.schemaChoices", uri)
        labels = [c["label"] for c in choices]
        assert "AMCTConfig" in labels and "Job" in labels
        # the no-schema note's quick fixes offer the workspace's messages too
        (note,) = await ed.diagnostics(uri)
        titles = [a.title for a in await ed.actions(uri, note.range.start)]
        assert any("acme.v3.Job — open.proto" in t for t in titles) and any("AMCTConfig" in t for t in titles)
        job = next(c for c in choices if c["label"] == "Job")
        edits = [
            T.TextEdit(
                range=T.Range(start=T.Position(**e["range"]["start"]), end=T.Position(**e["range"]["end"])),
                new_text=e["newText"],
            )
            for e in job["edit"]["changes"][uri]
        ]
        text = textmodel.apply(ed.texts[uri], edits)
        assert text == "# proto-file: open.proto\n# proto-message: acme.v3.Job\nkind: BATCH\n"
        ed.set_text(uri, text)
        assert _codes(await ed.diagnostics(uri)) == []


async def test_a_proto_in_a_sibling_folder_is_named_relative_to_the_document(tmp_path: Path) -> None:
    (tmp_path / "protos" / "acme").mkdir(parents=True)
    shutil.copy(DATA / "open.proto", tmp_path / "protos" / "acme" / "job.proto")
    async with session(tmp_path) as ed:
        uri = ed.open("kind: BATCH\n", name="jobs/job.txtpb")
        await ed.diagnostics(uri)
        job = next(c for c in await ed.execute("kvcal.schemaChoices", uri) if c["label"] == "Job")
        (edit,) = job["edit"]["changes"][uri]
        assert edit["newText"].startswith("# proto-file: ../protos/acme/job.proto\n")  # portable, not absolute
        ed.set_text(uri, edit["newText"] + "kind: BATCH\nretries: x\n")
        assert _codes(await ed.diagnostics(uri)) == [("type", "Error")]  # the header is found
        info = await ed.execute("kvcal.documentInfo", uri)
        assert info["proto"] == str(tmp_path / "protos" / "acme" / "job.proto")  # no 'jobs/..' in it


async def test_only_kv_cache_configs_get_calibrate_lenses(tmp_path: Path) -> None:
    async with session(tmp_path) as ed:
        ptq = ed.open(PTQ, name="quant.cfg")
        await ed.diagnostics(ptq)
        lenses = await ed.client.text_document_code_lens_async(T.CodeLensParams(text_document=ed.doc(ptq)))
        assert not lenses
        kv = ed.open("kv_cache_quant_config { quant_layers: 'a' }\n", name="kv.cfg")
        await ed.diagnostics(kv)
        lenses = await ed.client.text_document_code_lens_async(T.CodeLensParams(text_document=ed.doc(kv)))
        assert lenses and lenses[0].command.title.startswith("▶ Calibrate")


async def _published_after(ed, uri: str, count: int) -> list[T.Diagnostic]:  # type: ignore[no-untyped-def]
    """The diagnostics of the next publish for *uri* after the first *count* publishes."""
    from tests.lsp.conftest import wait_for

    found = await wait_for(lambda: next((p for p in ed.client.published[count:] if p.uri == uri), None))
    return list(found.diagnostics)


async def test_a_changed_proto_updates_its_open_documents_without_an_edit(tmp_path: Path) -> None:
    shutil.copy(DATA / "open.proto", tmp_path / "open.proto")
    proto = tmp_path / "open.proto"
    async with session(tmp_path, watch=True) as ed:
        uri = ed.open(JOB, name="jobs/a.txtpb")  # (open.proto: found in the workspace folder)
        assert _codes(await ed.diagnostics(uri)) == []
        watched = [r for r in ed.client.registrations if r.method == T.WORKSPACE_DID_CHANGE_WATCHED_FILES]
        assert len(watched) == 1 and watched[0].register_options["watchers"][0]["globPattern"] == "**/*.proto"
        proto.write_text(proto.read_text().replace("BATCH = 1;", "BULK = 1;"))
        count = len(ed.client.published)
        ed.client.workspace_did_change_watched_files(
            T.DidChangeWatchedFilesParams(changes=[T.FileEvent(uri=proto.as_uri(), type=T.FileChangeType.Changed)])
        )
        assert _codes(await _published_after(ed, uri, count)) == [("enum-value", "Error")]


async def test_a_schema_broken_by_an_imported_proto_recovers_when_the_import_is_fixed(tmp_path: Path) -> None:
    (tmp_path / "dep.proto").write_text('syntax = "proto3";\nmessage D { int32 x = 1 }\n')  # missing ';'
    (tmp_path / "main.proto").write_text('syntax = "proto3";\nimport "dep.proto";\nmessage M { D d = 1; }\n')
    async with session(tmp_path, watch=True) as ed:
        uri = ed.open("# proto-file: main.proto\n# proto-message: M\nd { x: 1 }\n", name="m.txtpb")
        diags = await ed.diagnostics(uri)
        assert _codes(diags) == [("schema", "Error")] and "dep.proto" in diags[0].message
        (tmp_path / "dep.proto").write_text('syntax = "proto3";\nmessage D { int32 x = 1; }\n')
        count = len(ed.client.published)
        ed.client.workspace_did_change_watched_files(
            T.DidChangeWatchedFilesParams(
                changes=[T.FileEvent(uri=(tmp_path / "dep.proto").as_uri(), type=T.FileChangeType.Changed)]
            )
        )
        assert _codes(await _published_after(ed, uri, count)) == []


async def test_the_schemas_setting_finds_its_proto_on_the_proto_path_like_a_header(tmp_path: Path) -> None:
    (tmp_path / "protos" / "acme").mkdir(parents=True)
    shutil.copy(DATA / "open.proto", tmp_path / "protos" / "acme" / "open.proto")
    settings = {
        "schemas": {"*.pbtxt": {"proto": "acme/open.proto", "message": "acme.v3.Job"}},
        "protoPath": ["protos"],
    }
    async with session(tmp_path, settings=settings) as ed:
        uri = ed.open("kind: BATCH\nretries: x\n", name="one.pbtxt")
        assert _codes(await ed.diagnostics(uri)) == [("type", "Error")]


async def test_hover_on_an_any_type_url_shows_the_payloads_message(tmp_path: Path) -> None:
    shutil.copy(DATA / "acme.proto", tmp_path / "acme.proto")
    text = "# proto-file: acme.proto\n# proto-message: acme.Experiment\nname: 'x'\n"
    text += "payload { [type.googleapis.com/acme.Step] { id: 'a' } }\n"
    async with session(tmp_path) as ed:
        uri = ed.open(text, name="a.txtpb")
        assert await ed.diagnostics(uri) == []
        hover = await ed.hover(uri, ed.at(uri, "acme.Step", delta=3))
        assert hover is not None and "acme.Step" in hover.contents.value and "One step." in hover.contents.value
        assert hover.range.start == ed.at(uri, "[type.googleapis.com")


async def test_definition_on_a_header_line_opens_the_proto_it_names(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    shutil.copy(DATA / "acme.proto", tmp_path / "acme.proto")
    shutil.copy(DATA / "open.proto", tmp_path / "protos" / "open.proto")
    text = "# proto-file: acme.proto\n# proto-message: acme.Experiment\n# proto-import: protos/open.proto\nname: 'x'\n"
    async with session(tmp_path) as ed:
        uri = ed.open(text, name="a.txtpb")
        await ed.diagnostics(uri)
        for needle, want in (("acme.proto", "acme.proto"), ("protos/open.proto", "protos/open.proto")):
            (loc,) = await ed.client.text_document_definition_async(
                T.DefinitionParams(text_document=ed.doc(uri), position=ed.at(uri, needle, delta=2))
            )
            assert Path(url2pathname(urlsplit(loc.uri).path)) == (tmp_path / want).resolve()


async def test_header_values_complete_to_the_workspaces_protos_and_their_messages(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    shutil.copy(DATA / "acme.proto", tmp_path / "protos" / "acme.proto")
    async with session(tmp_path) as ed:
        uri = ed.open("# proto-file: \nname: 'x'\n", name="runs/a.txtpb")
        files = await ed.complete(uri, T.Position(line=0, character=len("# proto-file: ")))
        assert [i.label for i in files] == ["../protos/acme.proto"]
        ed.apply_edits(uri, [files[0].text_edit])
        ed.replace(uri, "name: 'x'", "# proto-message: \nname: 'x'")
        messages = await ed.complete(uri, T.Position(line=1, character=len("# proto-message: ")))
        assert [i.label for i in messages] == ["acme.Experiment", "acme.Step"]
        assert messages[0].detail == "An experiment to run."
        ed.apply_edits(uri, [messages[0].text_edit])
        assert ed.texts[uri].startswith("# proto-file: ../protos/acme.proto\n# proto-message: acme.Experiment\n")
        assert await ed.diagnostics(uri) == []
        bundled = ed.open("# proto-message: \n", name="b.cfg")
        roots = await ed.complete(bundled, T.Position(line=0, character=len("# proto-message: ")))
        labels = [i.label for i in roots]  # (full names: AMCTConfig is in two packages)
        assert "AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig" in labels and "AMCTFrameworkProto.AMCTConfig" in labels
