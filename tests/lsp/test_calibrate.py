"""kvcal.calibrate from the editor: the record file and the JSON result, work-done progress
per layer, cancellation both ways, a responsive server meanwhile, results shown on the layer
names, and errors as a message plus a diagnostic (never a crash)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsprotocol import types as T
from pygls.exceptions import JsonRpcRequestCancelled

from tests.lsp.conftest import EXAMPLE, Editor, session, wait_for, write_samples

pytestmark = pytest.mark.asyncio(loop_scope="module")

LAYERS = ["model.layers.0.self_attn.k_proj", "model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.k_proj"]


def config(data: str, layers: list[str] = LAYERS, batch_num: int = 2, extra: str = "") -> str:
    entries = "".join(f"  quant_layers: '{name}'\n" for name in layers)
    return (
        f"# kvcal: data={data}\nbatch_num: {batch_num}\nkv_cache_quant_config {{\n{entries}"
        "  calibration_config { hfmg_quantize { num_of_bins: 1024 } }\n}\n"
        f"override_layers_configs {{\n  layer_name: '{layers[0]}'\n"
        "  kv_data_quant_config { ifmr_quantize { quant_granularity: per_channel } }\n}\n" + extra
    )


async def test_refuses_a_config_with_errors(editor: Editor) -> None:
    uri = editor.open("batch_nmu: 1\nkv_cache_quant_config { quant_layers: 'a' }\n")
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert result["layers"] == [] and result["record"] is None
    assert "1 error(s)" in result["errors"][0] and "line 1" in result["errors"][0]
    assert any("calibration not done" in m.message and m.type == T.MessageType.Error for m in editor.client.messages)


async def test_no_sample_data_is_a_message_and_a_diagnostic(editor: Editor) -> None:
    uri = editor.open("kv_cache_quant_config { quant_layers: 'a' }\n")
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert "no sample data" in result["errors"][0] and "kvcal: data=" in result["errors"][0]
    diags = await wait_for(lambda: [d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"])
    assert diags[0].severity == T.DiagnosticSeverity.Error and diags[0].range.start.line == 0


async def test_unreadable_sample_file_points_at_the_header(editor: Editor) -> None:
    (editor.folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    uri = editor.open(config("broken.safetensors"))
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert "broken.safetensors" in result["errors"][0]
    diags = await wait_for(lambda: [d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"])
    assert (diags[0].range.start.line, diags[0].range.start.character) == (0, 14)


async def test_missing_argument_is_answered(editor: Editor) -> None:
    result = await editor.execute("kvcal.calibrate")
    assert result["layers"] == [] and "first argument" in result["errors"][0]
    nowhere = (editor.folder / "nowhere.cfg").as_uri()
    result = await editor.execute("kvcal.calibrate", nowhere)
    assert nowhere in result["errors"][0] and "not open" in result["errors"][0]


async def test_a_block_lens_calibrates_its_layers_and_keeps_the_others(editor: Editor) -> None:
    write_samples(editor.folder / "kv2.safetensors", dict.fromkeys(LAYERS, 2))
    uri = editor.open(config("../kv2.safetensors"), name="subset/quant.cfg")
    await editor.diagnostics(uri)
    first = await editor.execute("kvcal.calibrate", uri)
    record = Path(first["record"])
    before = {row["layer"]: row["scale"] for row in first["layers"]}
    version = editor.replace(uri, "num_of_bins: 1024", "num_of_bins: 2048")  # the common block's layers
    await editor.diagnostics(uri, version)
    part = await editor.execute("kvcal.calibrate", uri, {"layers": LAYERS[1:]})
    assert [row["layer"] for row in part["layers"]] == LAYERS[1:] and part["errors"] == []
    text = record.read_text()
    assert all(f'key: "{name}"' in text for name in LAYERS)  # the override's layer is still recorded
    infos = await wait_for(
        lambda: (
            len([d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"]) == 3
            and [d for d in editor.client.diagnostics[uri] if d.code == "calibration"]
        )
    )
    assert any(d.message.startswith(LAYERS[0]) for d in infos)  # its earlier result is still shown
    assert before[LAYERS[0]] == first["layers"][0]["scale"]
    stale = await editor.execute("kvcal.calibrate", uri, {"layers": ["model.layers.9.self_attn.k_proj"]})
    assert "does not quantize" in stale["errors"][0]


async def test_calibrates_writes_the_record_and_shows_results(editor: Editor) -> None:
    write_samples(editor.folder / "kv.safetensors", dict.fromkeys(LAYERS, 2))
    uri = editor.open(config("../kv.safetensors"), name="calib/quant.cfg")
    await editor.diagnostics(uri)
    token = "tok-1"
    editor.client.progress_reports[token] = []
    result = await editor.execute("kvcal.calibrate", uri, token=token)
    assert result["errors"] == []
    record = Path(result["record"])
    assert record == editor.folder / "calib" / "quant.record.txt" and record.exists()
    text = record.read_text()
    assert all(f'key: "{name}"' in text for name in LAYERS) and "kv_cache_value" in text
    rows = {row["layer"]: row for row in result["layers"]}
    assert list(rows) == LAYERS
    k0 = rows[LAYERS[0]]
    assert (k0["algorithm"], k0["granularity"], k0["symmetric"]) == ("ifmr", "per_channel", False)
    assert len(k0["scale"]) == len(k0["offset"]) == 8  # one per channel
    v0 = rows[LAYERS[1]]
    assert (v0["algorithm"], v0["granularity"]) == ("hfmg", "per_tensor") and len(v0["scale"]) == 1
    assert all(isinstance(r["sqnr_db"], float) and r["mse"] >= 0 for r in rows.values())
    assert "Calibration of quant.cfg" in result["markdown"] and LAYERS[2] in result["markdown"]
    assert Path(result["report"]).is_dir()
    # progress: begin, one report per layer, end
    kinds = [type(v).__name__ for v in editor.client.progress_reports[token]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    reports = [v for v in editor.client.progress_reports[token] if isinstance(v, T.WorkDoneProgressReport)]
    assert [r.message.split(":")[0] for r in reports] == ["0/3 layers", "1/3 layers", "2/3 layers", "3/3 layers"]
    assert [r.percentage for r in reports] == [0, 33, 66, 100]
    assert [r.message.split(": ", 1)[1] for r in reports[:3]] == LAYERS  # one report per layer, in order
    # results where the config is: information diagnostics and inlay hints on the layer names
    infos = await wait_for(lambda: [d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"])
    assert len(infos) == 3 and all(d.severity == T.DiagnosticSeverity.Information for d in infos)
    assert {d.range.start.line for d in infos} == {
        editor.at(uri, f"'{n}'", 1 if n == LAYERS[0] else 0).line for n in LAYERS
    }
    hints = await editor.client.text_document_inlay_hint_async(
        T.InlayHintParams(
            text_document=editor.doc(uri),
            range=T.Range(start=T.Position(line=0, character=0), end=T.Position(line=99, character=0)),
        )
    )
    assert sum("SQNR" in h.label for h in hints) == 3
    hover = await editor.hover(uri, editor.at(uri, LAYERS[2], delta=3))
    assert "last calibration" in hover.contents.value and "SQNR" in hover.contents.value
    # a change to a layer's plan drops its (now stale) result
    version = editor.replace(uri, "num_of_bins: 1024", "num_of_bins: 2048")
    diags = await editor.diagnostics(uri, version)
    assert [d.range.start.line for d in diags if d.code == "calibration"] == [editor.at(uri, f"'{LAYERS[0]}'", 1).line]


async def test_too_few_batches_and_nan_name_the_layer(editor: Editor) -> None:
    write_samples(editor.folder / "few.safetensors", {LAYERS[0]: 2, LAYERS[1]: 1, LAYERS[2]: 2})
    uri = editor.open(config("few.safetensors"))
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert result["layers"] == [] and LAYERS[1] in result["errors"][0] and "batch" in result["errors"][0]
    diags = await wait_for(lambda: [d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"])
    assert diags[0].severity == T.DiagnosticSeverity.Error
    assert diags[0].range.start == editor.at(uri, f"'{LAYERS[1]}'")
    write_samples(editor.folder / "nan.safetensors", dict.fromkeys(LAYERS, 2), nan_in=LAYERS[2])
    uri = editor.open(config("nan.safetensors"))
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert "NaN" in result["errors"][0] and LAYERS[2] in result["errors"][0]
    diags = await wait_for(lambda: [d for d in editor.client.diagnostics.get(uri, ()) if d.code == "calibration"])
    assert diags[0].range.start == editor.at(uri, f"'{LAYERS[2]}'")
    assert not list((editor.folder).glob("quant.record.txt"))


async def test_a_config_that_is_not_open(editor: Editor) -> None:
    write_samples(editor.folder / "kv.safetensors", dict.fromkeys(LAYERS, 2))
    path = editor.folder / "closed.cfg"
    path.write_text(config("kv.safetensors", layers=LAYERS[1:]))
    result = await editor.execute("kvcal.calibrate", path.as_uri())
    assert result["errors"] == [] and [r["layer"] for r in result["layers"]] == LAYERS[1:]
    assert (editor.folder / "closed.record.txt").exists()


async def test_unwritable_record_is_reported(editor: Editor) -> None:
    write_samples(editor.folder / "kv.safetensors", dict.fromkeys(LAYERS, 2))
    (editor.folder / "blocked.record.txt").mkdir()  # the record's path is a directory
    uri = editor.open(config("kv.safetensors"), name="blocked.cfg")
    await editor.diagnostics(uri)
    result = await editor.execute("kvcal.calibrate", uri)
    assert result["layers"] == [] and "blocked.record.txt" in result["errors"][0]
    assert any("blocked.record.txt" in m.message for m in editor.client.messages)


def many_layers(folder: Path, n: int = 16, tokens: int = 2048) -> tuple[str, list[str]]:
    """A config whose calibration takes long enough to be cancelled midway."""
    names = [f"model.layers.{i}.self_attn.k_proj" for i in range(n)]
    if not (folder / "many.safetensors").exists():
        write_samples(folder / "many.safetensors", dict.fromkeys(names, 2), channels=64, tokens=tokens)
    text = (
        "# kvcal: data=many.safetensors\nbatch_num: 2\nkv_cache_quant_config {\n"
        + "".join(f"  quant_layers: '{name}'\n" for name in names)
        + "  calibration_config { ifmr_quantize { quant_granularity: per_channel } }\n}\n"
    )
    return text, names


async def test_cancel_with_work_done_progress_and_stay_responsive(editor: Editor) -> None:
    text, names = many_layers(editor.folder)
    uri = editor.open(text, name="cancel1.quant.cfg")
    await editor.diagnostics(uri)
    token = "tok-cancel"
    editor.client.progress_reports[token] = []
    task = asyncio.ensure_future(editor.execute("kvcal.calibrate", uri, token=token))
    await wait_for(
        lambda: any(isinstance(v, T.WorkDoneProgressReport) for v in editor.client.progress_reports[token]), timeout=60
    )
    # the server answers while the engine works
    started = time.perf_counter()
    hover = await editor.hover(uri, editor.at(uri, "batch_num", delta=2))
    assert hover is not None and time.perf_counter() - started < 2.0
    assert not task.done()
    editor.client.window_work_done_progress_cancel(T.WorkDoneProgressCancelParams(token=token))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(task, 60)
    reports = editor.client.progress_reports[token]
    assert isinstance(reports[-1], T.WorkDoneProgressEnd) and reports[-1].message == "cancelled"
    assert len([r for r in reports if isinstance(r, T.WorkDoneProgressReport)]) < len(names)
    assert not (editor.folder / "cancel1.record.txt").exists()


async def test_cancel_request(editor: Editor) -> None:
    text, _ = many_layers(editor.folder)
    uri = editor.open(text, name="cancel2.quant.cfg")
    await editor.diagnostics(uri)
    token = "tok-cancel-2"
    editor.client.progress_reports[token] = []
    before = set(editor.client.protocol._request_futures)
    task = asyncio.ensure_future(editor.execute("kvcal.calibrate", uri, token=token))
    await wait_for(
        lambda: any(isinstance(v, T.WorkDoneProgressReport) for v in editor.client.progress_reports[token]), timeout=60
    )
    (msg_id,) = set(editor.client.protocol._request_futures) - before
    editor.client.protocol.notify(T.CANCEL_REQUEST, T.CancelParams(id=msg_id))
    with pytest.raises(JsonRpcRequestCancelled):
        await asyncio.wait_for(task, 60)
    await wait_for(lambda: isinstance(editor.client.progress_reports[token][-1], T.WorkDoneProgressEnd), timeout=60)
    assert not (editor.folder / "cancel2.record.txt").exists()
    # the server still calibrates afterwards
    small = editor.open(config("kv.safetensors"), name="after.quant.cfg")
    write_samples(editor.folder / "kv.safetensors", dict.fromkeys(LAYERS, 2))
    await editor.diagnostics(small)
    assert (await editor.execute("kvcal.calibrate", small))["errors"] == []


async def test_record_file_setting_and_a_server_created_progress_token(tmp_path: Path) -> None:
    write_samples(tmp_path / "kv.safetensors", dict.fromkeys(LAYERS, 2))
    async with session(tmp_path, settings={"recordFile": "out/record.txt"}) as ed:
        uri = ed.open(config("kv.safetensors"))
        await ed.diagnostics(uri)
        result = await ed.execute("kvcal.calibrate", uri)  # no workDoneToken
        assert result["errors"] == []
        assert result["record"] == str(tmp_path / "out" / "record.txt") and Path(result["record"]).exists()
        (token,) = ed.client.progress_reports  # created with window/workDoneProgress/create
        kinds = [type(v).__name__ for v in ed.client.progress_reports[token]]
        assert kinds == ["WorkDoneProgressBegin"] + ["WorkDoneProgressReport"] * 4 + ["WorkDoneProgressEnd"]
        # the bundled example, where it is, with its bundled sample data (nothing written beside it)
        example = ed.open_existing(EXAMPLE)
        # (the example has no schema header: the note says it was recognised by its content)
        assert {d.code for d in await ed.diagnostics(example)} == {"precedence", "schema"}
        result = await ed.execute("kvcal.calibrate", example)
        assert result["errors"] == [] and len(result["layers"]) == 4
        assert (
            Path(result["report"]) == tmp_path / "out" / "quant.report"
            and (tmp_path / "out" / "quant.report" / "report.md").exists()
        )
        assert sum(Path(r["histogram"]).exists() for r in result["layers"]) == 4
