"""End-to-end tests of `kvcal lsp`: a pytest-lsp client drives the real server over stdio."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lsprotocol import types as T
from pygls.protocol import default_converter
from pytest_lsp import LanguageClient
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

from tests.lsp import textmodel

SERVER = [sys.executable, "-m", "kvcal.server", "lsp", "--stdio"]
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quant.cfg"
TIMEOUT = 10.0


def _record_diagnostics(client: LanguageClient, params: T.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published.append(params)  # type: ignore[attr-defined]


def _record_refresh(client: LanguageClient, params: Any) -> None:
    client.refreshes.append("diagnostic")  # type: ignore[attr-defined]


def _record_inlay_refresh(client: LanguageClient, params: Any) -> None:
    client.refreshes.append("inlayHint")  # type: ignore[attr-defined]


def _record_lens_refresh(client: LanguageClient, params: Any) -> None:
    client.refreshes.append("codeLens")  # type: ignore[attr-defined]


def _record_registration(client: LanguageClient, params: T.RegistrationParams) -> None:
    client.registrations.extend(params.registrations)  # type: ignore[attr-defined]


def make_client() -> LanguageClient:
    client = LanguageClient(converter_factory=default_converter)
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = _record_diagnostics
    features[T.WORKSPACE_DIAGNOSTIC_REFRESH] = _record_refresh
    features[T.WORKSPACE_INLAY_HINT_REFRESH] = _record_inlay_refresh
    features[T.WORKSPACE_CODE_LENS_REFRESH] = _record_lens_refresh
    features[T.CLIENT_REGISTER_CAPABILITY] = _record_registration
    register_lsp_features(client, features)
    client.published = []  # type: ignore[attr-defined]
    client.refreshes = []  # type: ignore[attr-defined]
    client.registrations = []  # type: ignore[attr-defined]
    return client


def capabilities(
    *,
    pull: bool = False,
    snippets: bool = True,
    markdown: bool = True,
    progress: bool = True,
    configuration: bool = True,
    refresh: bool = True,
    watch: bool = False,
) -> T.ClientCapabilities:
    fmt = [T.MarkupKind.Markdown, T.MarkupKind.PlainText] if markdown else [T.MarkupKind.PlainText]
    return T.ClientCapabilities(
        text_document=T.TextDocumentClientCapabilities(
            synchronization=T.TextDocumentSyncClientCapabilities(),
            hover=T.HoverClientCapabilities(content_format=fmt),
            completion=T.CompletionClientCapabilities(
                completion_item=T.ClientCompletionItemOptions(
                    snippet_support=snippets,
                    documentation_format=fmt,
                    insert_text_mode_support=T.ClientCompletionItemInsertTextModeOptions(
                        value_set=[T.InsertTextMode.AsIs, T.InsertTextMode.AdjustIndentation]
                    ),
                )
            ),
            diagnostic=T.DiagnosticClientCapabilities() if pull else None,
            publish_diagnostics=T.PublishDiagnosticsClientCapabilities(
                related_information=True,
                version_support=True,
                tag_support=T.ClientDiagnosticsTagOptions(value_set=[T.DiagnosticTag.Unnecessary]),
            ),
            code_action=T.CodeActionClientCapabilities(
                code_action_literal_support=T.ClientCodeActionLiteralOptions(
                    code_action_kind=T.ClientCodeActionKindOptions(
                        value_set=[T.CodeActionKind.QuickFix, T.CodeActionKind.Source]
                    )
                )
            ),
            document_symbol=T.DocumentSymbolClientCapabilities(hierarchical_document_symbol_support=True),
            inlay_hint=T.InlayHintClientCapabilities(),
            semantic_tokens=T.SemanticTokensClientCapabilities(
                requests=T.ClientSemanticTokensRequestOptions(full=True),
                token_types=[],
                token_modifiers=[],
                formats=[T.TokenFormat.Relative],
            ),
        ),
        workspace=T.WorkspaceClientCapabilities(
            configuration=configuration,
            diagnostics=T.DiagnosticWorkspaceClientCapabilities(refresh_support=refresh),
            inlay_hint=T.InlayHintWorkspaceClientCapabilities(refresh_support=refresh),
            code_lens=T.CodeLensWorkspaceClientCapabilities(refresh_support=refresh),
            did_change_watched_files=T.DidChangeWatchedFilesClientCapabilities(dynamic_registration=watch),
        ),
        window=T.WindowClientCapabilities(work_done_progress=progress),
    )


class Editor:
    """A client with the documents it has open: sends edits, keeps its own copy of the text."""

    def __init__(self, client: LanguageClient, folder: Path, capabilities: T.ServerCapabilities) -> None:
        self.client = client
        self.capabilities = capabilities
        self.folder = folder
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self._n = 0

    # -- documents -----------------------------------------------------------------------------
    def open(self, text: str, name: str | None = None) -> str:
        self._n += 1
        path = self.folder / (name or f"doc{self._n}.quant.cfg")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        uri = path.as_uri()
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            T.DidOpenTextDocumentParams(
                text_document=T.TextDocumentItem(uri=uri, language_id="amct-quant-cfg", version=1, text=text)
            )
        )
        return uri

    def open_existing(self, path: Path) -> str:
        """Open a file where it is (it is not written)."""
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            T.DidOpenTextDocumentParams(
                text_document=T.TextDocumentItem(uri=uri, language_id="amct-quant-cfg", version=1, text=text)
            )
        )
        return uri

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            T.DidCloseTextDocumentParams(text_document=T.TextDocumentIdentifier(uri=uri))
        )
        self.texts.pop(uri)

    def edit(self, uri: str, start: T.Position, end: T.Position, new_text: str) -> int:
        rng = T.Range(start=start, end=end)
        self.texts[uri] = textmodel.apply(self.texts[uri], [T.TextEdit(range=rng, new_text=new_text)])
        return self._send(uri, [T.TextDocumentContentChangePartial(range=rng, text=new_text)])

    def replace(self, uri: str, needle: str, new_text: str, nth: int = 0) -> int:
        text = self.texts[uri]
        start = textmodel.find(text, needle, nth)
        end = textmodel.find(text, needle, nth, len(needle))
        return self.edit(uri, start, end, new_text)

    def set_text(self, uri: str, text: str) -> int:
        self.texts[uri] = text
        return self._send(uri, [T.TextDocumentContentChangeWholeDocument(text=text)])

    def apply_edits(self, uri: str, edits: list[T.TextEdit]) -> int:
        """Apply a server's edits locally and send them as one change per edit (last first)."""
        text = self.texts[uri]
        ordered = sorted(
            edits,
            key=lambda e: (textmodel.offset(text, e.range.start), textmodel.offset(text, e.range.end)),
            reverse=True,
        )
        self.texts[uri] = textmodel.apply(text, edits)
        return self._send(uri, [T.TextDocumentContentChangePartial(range=e.range, text=e.new_text) for e in ordered])

    def _send(self, uri: str, changes: list[Any]) -> int:
        self.versions[uri] += 1
        version = self.versions[uri]
        self.client.text_document_did_change(
            T.DidChangeTextDocumentParams(
                text_document=T.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes
            )
        )
        return version

    def at(self, uri: str, needle: str, nth: int = 0, delta: int = 0) -> T.Position:
        return textmodel.find(self.texts[uri], needle, nth, delta)

    def doc(self, uri: str) -> T.TextDocumentIdentifier:
        return T.TextDocumentIdentifier(uri=uri)

    # -- waiting -------------------------------------------------------------------------------
    async def diagnostics(self, uri: str, version: int | None = None) -> list[T.Diagnostic]:
        """The diagnostics published for *version* (default: the current one)."""
        want = self.versions[uri] if version is None else version
        found = await wait_for(
            lambda: next((p for p in reversed(self.client.published) if p.uri == uri and p.version == want), None)
        )
        return list(found.diagnostics)

    # -- requests --------------------------------------------------------------------------------
    async def hover(self, uri: str, pos: T.Position) -> T.Hover | None:
        return await self.client.text_document_hover_async(T.HoverParams(text_document=self.doc(uri), position=pos))

    async def complete(self, uri: str, pos: T.Position) -> list[T.CompletionItem]:
        result = await self.client.text_document_completion_async(
            T.CompletionParams(text_document=self.doc(uri), position=pos)
        )
        return list(result.items if isinstance(result, T.CompletionList) else result or [])

    async def actions(
        self, uri: str, start: T.Position, end: T.Position | None = None, only: list[str] | None = None
    ) -> list[T.CodeAction]:
        result = await self.client.text_document_code_action_async(
            T.CodeActionParams(
                text_document=self.doc(uri),
                range=T.Range(start=start, end=end or start),
                context=T.CodeActionContext(diagnostics=[], only=only),
            )
        )
        return [a for a in result or [] if isinstance(a, T.CodeAction)]

    async def execute(self, command: str, *arguments: Any, token: str | None = None) -> Any:
        return await self.client.workspace_execute_command_async(
            T.ExecuteCommandParams(command=command, arguments=list(arguments), work_done_token=token)
        )


async def wait_for(probe: Callable[[], Any], timeout: float = TIMEOUT) -> Any:
    """Poll *probe* until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {probe}")
        await asyncio.sleep(0.005)


KV_SCHEMAS = {"**/*.quant.cfg": {"message": "AMCTQuantCaliConfig"}}


@asynccontextmanager
async def session(
    folder: Path,
    *,
    locale: str | None = None,
    settings: dict[str, Any] | None = None,
    root: Path | None = None,
    **caps: Any,
) -> AsyncIterator[Editor]:
    """A server whose workspace folder is *folder* (``rootUri`` too, unless *root* is given)."""
    client = make_client()
    await client.start_io(*SERVER)
    # The documents these tests open (docN.quant.cfg) are KV-cache configs: say so with the
    # kvcal.schemas setting, so that no "recognised by content" note joins their diagnostics.
    client.set_configuration({"kvcal": {"schemas": KV_SCHEMAS, **(settings or {})}})
    result = await client.initialize_session(
        T.InitializeParams(
            capabilities=capabilities(**caps),
            locale=locale,
            root_uri=(root or folder).as_uri(),
            workspace_folders=[T.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
        )
    )
    try:
        yield Editor(client, folder, result.capabilities)
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def editor(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Editor]:
    """One push-diagnostics server for a whole test module."""
    async with session(tmp_path_factory.mktemp("ws")) as ed:
        yield ed


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def write_samples(
    path: Path, layers: dict[str, int], channels: int = 8, tokens: int = 16, *, nan_in: str | None = None, seed: int = 0
) -> Path:
    """A safetensors sample file: ``layers`` maps a layer to its number of batches."""
    import numpy as np
    from safetensors.numpy import save_file

    rng = np.random.default_rng(seed)
    tensors = {}
    for layer, batches in layers.items():
        for i in range(batches):
            data = rng.standard_normal((tokens, channels)).astype(np.float32) * (
                1 + np.arange(channels, dtype=np.float32)
            )
            if nan_in == layer and i == batches - 1:
                data[0, 0] = np.nan
            tensors[f"{layer}/{i}"] = data
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
