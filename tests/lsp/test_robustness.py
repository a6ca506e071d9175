"""The server never breaks: 1,000 random edits (garbage insertions, deletions, undo) over
stdio, a random request after each; the server's text stays equal to the client's and every
response is well-formed, with positions inside the document. A failing feature is logged
and answered with an empty result (unit test of the guard)."""

from __future__ import annotations

import hashlib
import logging
import os
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
from lsprotocol import types as T

from kvcal.server.lsp.server import guarded
from tests.lsp import textmodel
from tests.lsp.conftest import Editor, example_text

EDITS = 1000
GARBAGE = [
    *"abcxyz_019.-+ \t\n{}[]<>:;,#'\"\\/=é中😀",
    "layer_name",
    "quant_layers: ",
    "{ ",
    " }",
    "ifmr_quantize",
    "'",
]
SNIPPETS = [
    "override_layers_configs { layer_name: 'x' kv_data_quant_config { hfmg_quantize { num_of_bins: 3000 } } }\n",
    "kv_cache_quant_config { quant_layers: 'a' }\n",
    "batch_num: 0\n",
    "# comment\n",
]


def inside(text: str, pos: T.Position) -> bool:
    starts = textmodel.line_starts(text)
    if pos.line >= len(starts):
        return False
    end = textmodel.offset(text, T.Position(line=pos.line, character=10**9))
    width = textmodel.position(text, end).character
    return 0 <= pos.character <= width


def check_range(text: str, rng: T.Range, what: str) -> None:
    assert inside(text, rng.start) and inside(text, rng.end), f"{what}: {rng} outside the document"
    assert (rng.start.line, rng.start.character) <= (rng.end.line, rng.end.character), f"{what}: reversed {rng}"


async def request(editor: Editor, uri: str, rng: random.Random) -> None:
    text = editor.texts[uri]
    doc = editor.doc(uri)
    pos = textmodel.position(text, rng.randint(0, len(text)))
    kind = rng.choice(
        [
            "hover",
            "completion",
            "actions",
            "symbols",
            "folding",
            "tokens",
            "hints",
            "lens",
            "format",
            "definition",
            "references",
            "pull",
        ]
    )
    c = editor.client
    if kind == "hover":
        h = await editor.hover(uri, pos)
        if h is not None:
            assert isinstance(h.contents, T.MarkupContent) and h.contents.value
            check_range(text, h.range, kind)
    elif kind == "completion":
        for item in await editor.complete(uri, pos):
            assert item.label
            check_range(text, item.text_edit.range, kind)
    elif kind == "actions":
        for action in await editor.actions(
            uri, pos, textmodel.position(text, min(len(text), textmodel.offset(text, pos) + 20))
        ):
            for edit in action.edit.changes[uri]:
                check_range(text, edit.range, kind)
    elif kind == "symbols":
        pending = list(await c.text_document_document_symbol_async(T.DocumentSymbolParams(text_document=doc)) or [])
        while pending:
            s = pending.pop()
            check_range(text, s.range, kind)
            check_range(text, s.selection_range, kind)
            pending += s.children or []
    elif kind == "folding":
        lines = len(textmodel.line_starts(text))
        for f in await c.text_document_folding_range_async(T.FoldingRangeParams(text_document=doc)) or []:
            assert 0 <= f.start_line < f.end_line < lines
    elif kind == "tokens":
        data = (await c.text_document_semantic_tokens_full_async(T.SemanticTokensParams(text_document=doc))).data
        assert len(data) % 5 == 0
        line = char = 0
        for i in range(0, len(data), 5):
            dl, dc, length, _kind, _mods = data[i : i + 5]
            line, char = line + dl, (char + dc if dl == 0 else dc)
            check_range(
                text,
                T.Range(
                    start=T.Position(line=line, character=char), end=T.Position(line=line, character=char + length)
                ),
                kind,
            )
    elif kind == "hints":
        whole = T.Range(start=T.Position(line=0, character=0), end=textmodel.position(text, len(text)))
        for h in await c.text_document_inlay_hint_async(T.InlayHintParams(text_document=doc, range=whole)) or []:
            assert inside(text, h.position) and h.label
    elif kind == "lens":
        for lens in await c.text_document_code_lens_async(T.CodeLensParams(text_document=doc)) or []:
            check_range(text, lens.range, kind)
            assert lens.command.command == "kvcal.calibrate"
    elif kind == "format":
        options = T.FormattingOptions(tab_size=2, insert_spaces=True)
        for edit in (
            await c.text_document_formatting_async(T.DocumentFormattingParams(text_document=doc, options=options)) or []
        ):
            check_range(text, edit.range, kind)
    elif kind in ("definition", "references"):
        if kind == "definition":
            locs = await c.text_document_definition_async(T.DefinitionParams(text_document=doc, position=pos))
        else:
            locs = await c.text_document_references_async(
                T.ReferenceParams(text_document=doc, position=pos, context=T.ReferenceContext(include_declaration=True))
            )
        for loc in locs or []:
            if loc.uri == uri:
                check_range(text, loc.range, kind)
            else:  # a declaration in the schema's .proto (go to definition)
                assert kind == "definition" and loc.uri.endswith(".proto"), f"{kind}: {loc.uri}"
                proto = Path(url2pathname(urlsplit(loc.uri).path)).read_text(encoding="utf-8")
                check_range(proto, loc.range, kind)
    else:
        report = await c.text_document_diagnostic_async(T.DocumentDiagnosticParams(text_document=doc))
        for d in report.items:
            check_range(text, d.range, kind)


async def assert_in_sync(editor: Editor, uri: str) -> None:
    state: Any = await editor.execute("kvcal.syncState", uri)
    text = editor.texts[uri]
    assert state["version"] == editor.versions[uri]
    assert state["length"] == len(text) and state["sha256"] == hashlib.sha256(text.encode()).hexdigest(), (
        f"server text differs from the client's at version {editor.versions[uri]}"
    )


@pytest.mark.asyncio(loop_scope="module")
async def test_random_edits(editor: Editor) -> None:
    seed = int(os.environ.get("KVCAL_FUZZ_SEED", random.randrange(10**6)))
    rng = random.Random(seed)
    uri = editor.open(example_text())
    undo: list[tuple[int, int, str]] = []  # (start, length of the new text, the old text)
    for step in range(EDITS):
        text = editor.texts[uri]
        op = rng.random()
        if op < 0.4 or not text:
            at = rng.randint(0, len(text))
            new = rng.choice(SNIPPETS) if rng.random() < 0.05 else "".join(rng.choices(GARBAGE, k=rng.randint(1, 6)))
            start, end = at, at
        elif op < 0.75:
            start = rng.randint(0, len(text))
            end = min(len(text), start + rng.randint(1, 40))
            new = ""
        elif undo:
            start, length, new = undo.pop()
            end = start + length
        else:
            continue
        old = text[start:end]
        editor.edit(uri, textmodel.position(text, start), textmodel.position(text, end), new)
        if op < 0.75:
            undo.append((start, len(new), old))
        if step % 250 == 249:  # start over now and then, so edits keep hitting real structure
            editor.set_text(uri, example_text())
            undo.clear()
        try:
            await request(editor, uri, rng)
            if step % 50 == 0:
                await assert_in_sync(editor, uri)
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, step {step}: {exc}") from exc
    await assert_in_sync(editor, uri)
    diags = await editor.diagnostics(uri)
    assert all(inside(editor.texts[uri], d.range.end) for d in diags)
    failures = [m.message for m in editor.client.log_messages if m.type == T.MessageType.Error]
    assert failures == [], f"seed {seed}: features failed (logged and answered empty):\n" + "\n".join(failures)


def test_a_failing_feature_is_logged_and_answered_empty(caplog: pytest.LogCaptureFixture) -> None:
    logged: list[str] = []

    class FakeServer:
        def log_failure(self, feature: str) -> None:
            logged.append(feature)

    @guarded("hover")
    def broken(ls: Any, params: Any) -> Any:
        raise ZeroDivisionError("boom")

    @guarded("symbols", empty=list)
    async def broken_async(ls: Any, params: Any) -> Any:
        raise KeyError("boom")

    import asyncio

    with caplog.at_level(logging.ERROR):
        assert broken(FakeServer(), None) is None
        assert asyncio.run(broken_async(FakeServer(), None)) == []
    assert logged == ["hover", "symbols"]
