"""In-process checks of the server's plain parts: document sync, settings, sample-data
association, the calibration outcome, edits and token encoding."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types as T

from kvcal.grammar import analyze, resolve_analysis
from kvcal.grammar.navigation import Token
from kvcal.grammar.schema import kv_schema
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.actions import line_deletion
from kvcal.server.lsp.calibration import uri_argument
from kvcal.server.lsp.convert import lsp_semantic_tokens
from kvcal.server.lsp.documents import Document
from kvcal.server.lsp.outcome import Issue, LayerOutcome, Outcome, summary
from kvcal.server.lsp.settings import SampleCache, Settings, parse_settings
from tests.lsp import textmodel
from tests.lsp.conftest import write_samples

KV = kv_schema()


def change(l0: int, c0: int, l1: int, c1: int, text: str) -> T.TextDocumentContentChangePartial:
    return T.TextDocumentContentChangePartial(
        range=T.Range(start=T.Position(line=l0, character=c0), end=T.Position(line=l1, character=c1)), text=text
    )


@pytest.mark.parametrize(
    ("text", "edit", "after"),
    [
        ("a😀b\nc", change(0, 3, 0, 4, "X"), "a😀X\nc"),  # the emoji is two UTF-16 units
        ("a😀b\nc", change(0, 1, 1, 0, ""), "ac"),
        ("ab\r\ncd", change(0, 2, 1, 0, ""), "abcd"),  # deleting the line break \r\n
        ("ab\ncd", change(0, 99, 0, 99, "!"), "ab!\ncd"),  # past the end of a line: its end
        ("ab\ncd", change(7, 0, 7, 0, "\nx"), "ab\ncd\nx"),  # past the last line: the end
    ],
)
def test_incremental_changes(text: str, edit: T.TextDocumentContentChangePartial, after: str) -> None:
    doc = Document("file:///x", text, 1)
    doc.apply(edit)
    assert doc.text == after
    assert textmodel.apply(text, [T.TextEdit(range=edit.range, new_text=edit.text)]) == after  # both models agree


def test_whole_document_change() -> None:
    doc = Document("file:///x", "old", 1)
    doc.apply(T.TextDocumentContentChangeWholeDocument(text="new"))
    assert doc.text == "new" and doc.index.text == "new"


def test_settings() -> None:
    assert parse_settings(None) == Settings()
    assert parse_settings({"sampleData": " a.safetensors ", "recordFile": "", "inlayHints": False}) == Settings(
        "a.safetensors", None, False
    )
    assert parse_settings({"inlayHints": "no", "sampleData": 3}) == Settings()


def test_sample_association(tmp_path: Path) -> None:
    write_samples(tmp_path / "d" / "kv.safetensors", {"a": 2, "b": 1})
    cache = SampleCache()
    config = tmp_path / "quant.cfg"
    header = cache.resolve("# kvcal: data=d/kv.safetensors\nbatch_num: 1\n", config, Settings(), None)
    assert header.origin == "header" and header.layers == ("a", "b") and header.error is None
    assert header.span == (14, 30)
    setting = cache.resolve("batch_num: 1\n", config, Settings(sample_data="d/kv.safetensors"), tmp_path)
    assert setting.origin == "setting" and setting.layers == ("a", "b")
    wins = cache.resolve("# kvcal: data=nope.safetensors\n", config, Settings(sample_data="d/kv.safetensors"), tmp_path)
    assert wins.origin == "header" and wins.layers is None and "nope.safetensors" in wins.error
    assert cache.resolve("batch_num: 1\n", config, Settings(), None).path is None
    unsaved = cache.resolve("# kvcal: data=x.safetensors\n", None, Settings(), None)
    assert unsaved.error and unsaved.layers is None


def test_outcome_follows_plans_and_anchors() -> None:
    text = (
        "kv_cache_quant_config { quant_layers: 'a' quant_layers: 'b' }\noverride_layers_configs { layer_name: 'a' }\n"
    )
    analysis = analyze(text, schema=KV)
    plans = resolve_analysis(analysis)
    row = {"scale": [0.5, 0.25], "offset": [-3, 1], "sqnr_db": 40.123}
    assert summary(row) == "scale 0.25…0.5 (2 ch), offset -3…1 (2 ch) · SQNR 40.1 dB"
    assert summary({"scale": [0.01], "offset": [0]}) == "scale 0.01, offset 0"
    outcome = Outcome({p.layer_name: LayerOutcome(p, "S") for p in plans}, plans=tuple(plans))
    problems = outcome.problems(analysis, plans, None)
    assert [(text[p.start : p.end], p.severity) for p in problems] == [("'a'", "information"), ("'b'", "information")]
    assert problems[0].start == text.index("'a'", text.index("layer_name"))  # on the override
    changed = resolve_analysis(
        analyze(
            text.replace("layer_name: 'a' }", "layer_name: 'a' kv_data_quant_config { hfmg_quantize {} } }"), schema=KV
        )
    )
    assert outcome.current(changed) == {"b": "S"}  # a's plan changed: its result is stale
    failed = Outcome(issues=[Issue("bad data", "b"), Issue("no file")], plans=tuple(plans))
    spans = [(p.start, p.end, p.severity) for p in failed.problems(analysis, plans, (3, 7))]
    assert spans == [(text.index("'b'"), text.index("'b'") + 3, "error"), (3, 7, "error")]


@pytest.mark.parametrize(
    ("text", "span", "after"),
    [
        ("a: 1\nb: 2\nc: 3\n", "b: 2", "a: 1\nc: 3\n"),  # the whole line goes
        ("x { a: 1 b: 2 }\n", "a: 1", "x { b: 2 }\n"),  # mid-line: the field and its blanks
        ("a: 1\n  b: 2", "b: 2", "a: 1\n"),  # last line without a line break
    ],
)
def test_line_deletion(text: str, span: str, after: str) -> None:
    start = text.index(span)
    s, e, new = line_deletion(text, start, start + len(span))
    assert text[:s] + new + text[e:] == after


def test_semantic_tokens_never_span_lines_or_overlap() -> None:
    text = "a: 'x' # c\n   'y'\n"
    index = LineIndex(text)
    tokens = [Token(3, 18, "string"), Token(7, 10, "comment")]  # two string parts around a comment
    data = lsp_semantic_tokens(index, tokens).data
    assert data == [0, 3, 7, 5, 0, 1, 3, 3, 5, 0]  # "'x' # c" then "'y'"; the comment inside is skipped


def test_uri_argument() -> None:
    assert uri_argument(["file:///a"]) == "file:///a"
    assert uri_argument([{"uri": "file:///b"}]) == "file:///b"
    assert uri_argument([]) is None and uri_argument(None) is None and uri_argument([3]) is None


def test_the_server_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nimport kvcal.server, kvcal.server.commands.lsp\nfrom kvcal.server.lsp import create_server\n"
        "create_server()\nheavy = sorted(m for m in ('torch', 'matplotlib', 'numpy', 'kvcal.calibrate') if m in sys.modules)\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    ("uri", "language", "text", "served"),
    [
        ("file:///w/a.quant.cfg", "amct-quant-cfg", "", True),
        ("file:///w/notes.txt", "amctquantcfg", "", True),  # Neovim's filetype from docs/editors.md
        ("file:///w/model.cfg", "cfg", "batch_num: 1\n", True),
        ("file:///w/run.pbtxt", "plaintext", "", True),
        ("untitled:Untitled-1", "plaintext", "# kvcal: data=kv.safetensors\n", True),
        ("untitled:Untitled-1", "plaintext", "\ufeff# proto-message: AMCTQuantCaliConfig\n", True),
        ("file:///w/readme.md", "markdown", "# kvcal\nbatch_num: 1\n", False),
        ("file:///w/setup.py", "python", "import os\n", False),
        ("untitled:Untitled-1", "plaintext", "some notes\n", False),
    ],
)
def test_which_documents_are_quant_configs(uri: str, language: str, text: str, served: bool) -> None:
    from kvcal.server.lsp.documents import is_quant_config

    item = T.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
    assert is_quant_config(item) is served


def test_hover_on_a_message_field_adds_the_messages_own_comment() -> None:
    from kvcal.grammar.schema.resolution import explicit_schema
    from kvcal.server.lsp.hover import field_markdown

    schema = explicit_schema(Path(__file__).resolve().parents[1] / "data/schemas/acme.proto", "acme.Experiment")
    text = field_markdown(schema.root.fields_by_name["steps"], None, schema)
    assert text.startswith("**steps** · `repeated Step`") and "`Step`: One step." in text
    limits = field_markdown(schema.root.fields_by_name["limits"], None, schema)
    assert "LimitsEntry" not in limits  # (a map's entry message is no message of the user's)
