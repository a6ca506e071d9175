"""The kvcal language server: state (documents, settings, analyses, calibration outcomes)
and the pygls plumbing. Feature handlers live in :mod:`kvcal.server.lsp.handlers`."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from kvcal.grammar.analysis import Analysis, analyze
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.resolve import resolve_analysis
from kvcal.grammar.text import LineIndex
from kvcal.server.lsp.documents import Document, Documents
from kvcal.server.lsp.outcome import Outcome
from kvcal.server.lsp.settings import SECTION, SampleCache, SampleData, Settings, parse_settings

logger = logging.getLogger("kvcal.lsp")
F = TypeVar("F", bound=Callable[..., Any])

#: Diagnostics wait at least this long after a change, and at most DEBOUNCE_MAX_S; in
#: between, as long as the document's last analysis took (cheap files get instant feedback,
#: big ones are not re-analysed on every keystroke).
DEBOUNCE_MIN_S = 0.01
DEBOUNCE_MAX_S = 0.25
CONFIG_TIMEOUT_S = 2.0


class KvcalProtocol(LanguageServerProtocol):
    """pygls' protocol with three changes: positions are always UTF-16 (the unit
    :class:`LineIndex` converts), open documents live in the server's own store (synced
    through LineIndex too), and commands receive their ExecuteCommandParams (for the
    workDoneToken) and run as tasks, so ``$/cancelRequest`` cancels them."""

    _server: KvcalServer

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None  # UTF-16, the LSP default
        return (yield from super().lsp_initialize(params))

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        self._server.documents.open(params.text_document)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        self._server.documents.change(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        self._server.documents.close(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams) -> Any:
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams.of(ValueError(f"unknown command {params.command!r}"))
        result = handler(params)
        return await result if inspect.isawaitable(result) else result


@dataclass
class ClientInfo:
    """What the client said it can do, in the terms the features need."""

    locale: str | None = None
    snippets: bool = False
    pull_diagnostics: bool = False
    diagnostic_refresh: bool = False
    inlay_hint_refresh: bool = False
    code_lens_refresh: bool = False
    configuration: bool = False
    config_registration: bool = False
    work_done_progress: bool = False
    markdown_hover: bool = True
    markdown_completion: bool = True

    @classmethod
    def from_params(cls, params: types.InitializeParams) -> ClientInfo:
        caps = params.capabilities
        td = caps.text_document
        ws = caps.workspace
        item = td.completion.completion_item if td and td.completion else None
        hover_formats = td.hover.content_format if td and td.hover else None
        doc_formats = item.documentation_format if item else None
        return cls(
            locale=params.locale,
            snippets=bool(item and item.snippet_support),
            pull_diagnostics=bool(td and td.diagnostic),
            diagnostic_refresh=bool(ws and ws.diagnostics and ws.diagnostics.refresh_support),
            inlay_hint_refresh=bool(ws and ws.inlay_hint and ws.inlay_hint.refresh_support),
            code_lens_refresh=bool(ws and ws.code_lens and ws.code_lens.refresh_support),
            configuration=bool(ws and ws.configuration),
            config_registration=bool(ws and ws.did_change_configuration and ws.did_change_configuration.dynamic_registration),
            work_done_progress=bool(caps.window and caps.window.work_done_progress),
            markdown_hover=types.MarkupKind.Markdown in (hover_formats or [types.MarkupKind.Markdown]),
            markdown_completion=types.MarkupKind.Markdown in (doc_formats or []),
        )  # fmt: skip


class Snapshot:
    """One version of a document with everything derived from it, computed once."""

    def __init__(self, doc: Document, analysis: Analysis, samples: SampleData, settings: Settings) -> None:
        self.uri = doc.uri
        self.version = doc.version
        self.text = doc.text
        self.index: LineIndex = doc.index
        self.analysis = analysis
        self.samples = samples
        self.settings = settings

    @cached_property
    def plans(self) -> list[LayerPlan]:
        return resolve_analysis(self.analysis)

    @property
    def path(self) -> Path | None:
        return fs_path(self.uri)


def fs_path(uri: str) -> Path | None:
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return Path(path) if path else None


@dataclass(frozen=True)
class _Cached:
    text: str
    settings: Settings
    snapshot: Snapshot


class KvcalServer(LanguageServer):
    def __init__(self) -> None:
        from kvcal.server.lsp import __version__

        super().__init__("kvcal", __version__, protocol_cls=KvcalProtocol, max_workers=4)
        self.documents = Documents()
        self.samples = SampleCache()
        self.client = ClientInfo()
        self.settings: dict[str, Settings] = {}
        self.outcomes: dict[str, Outcome] = {}
        self._cache: dict[str, _Cached] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._costs: dict[str, float] = {}
        self._result_ids: dict[str, str] = {}

    # -- derived state ---------------------------------------------------------------------
    def snapshot(self, uri: str) -> Snapshot | None:
        """The current version of an open document, analysed (cached per text and settings)."""
        doc = self.documents.get(uri)
        if doc is None:
            return None
        settings = self.settings.get(uri, Settings())
        cached = self._cache.get(uri)
        if cached and cached.text is doc.text and cached.settings == settings:
            cached.snapshot.version = doc.version
            return cached.snapshot
        started = time.perf_counter()
        samples = self.samples.resolve(doc.text, fs_path(uri), settings, self._root())
        analysis = analyze(doc.text, layers=samples.layers)
        snap = Snapshot(doc, analysis, samples, settings)
        cost = time.perf_counter() - started
        self._cache[uri] = _Cached(doc.text, settings, snap)
        self._costs[uri] = cost
        return snap

    def _root(self) -> Path | None:
        try:
            root = self.workspace.root_path
        except RuntimeError:
            return None
        return Path(root) if root else None

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)
        self._costs.pop(uri, None)
        self.settings.pop(uri, None)
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()

    # -- settings --------------------------------------------------------------------------
    async def fetch_settings(self, uris: list[str]) -> None:
        """Ask the client for section ``kvcal`` of each document (scoped by its URI)."""
        if not self.client.configuration or not uris:
            return
        items = [types.ConfigurationItem(scope_uri=uri, section=SECTION) for uri in uris]
        try:
            values = await asyncio.wait_for(
                self.workspace_configuration_async(types.ConfigurationParams(items=items)), CONFIG_TIMEOUT_S
            )
        except Exception as exc:  # a client that fails or never answers: defaults
            logger.warning("workspace/configuration failed: %r", exc)
            return
        for uri, raw in zip(uris, values or [], strict=False):
            self.settings[uri] = parse_settings(raw)

    # -- diagnostics -----------------------------------------------------------------------
    def schedule_diagnostics(self, uri: str) -> None:
        """Publish after a pause proportional to the cost of analysing this document."""
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()
        delay = min(DEBOUNCE_MAX_S, max(DEBOUNCE_MIN_S, self._costs.get(uri, 0.0)))
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(delay, self._publish_scheduled, uri)

    def _publish_scheduled(self, uri: str) -> None:
        self._timers.pop(uri, None)
        try:
            self.publish_diagnostics(uri)
        except Exception:
            self.log_failure("diagnostics")

    def publish_diagnostics(self, uri: str) -> None:
        """Push the diagnostics of the current version (clients that pull get a refresh)."""
        if self.client.pull_diagnostics:
            if self.client.diagnostic_refresh:
                self.workspace_diagnostic_refresh(None)
            return
        from kvcal.server.lsp.handlers import diagnostics_for

        snap = self.snapshot(uri)
        if snap is None:
            return
        diagnostics = diagnostics_for(self, snap)
        doc = self.documents.get(uri)
        if doc is None or doc.text is not snap.text:
            return  # the document changed while we worked: a newer publish is scheduled
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=snap.version, diagnostics=diagnostics)
        )

    def clear_diagnostics(self, uri: str) -> None:
        if not self.client.pull_diagnostics:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def refresh_views(self) -> None:
        """After settings or calibration results change: everything shown again."""
        for doc in self.documents:
            self.publish_diagnostics(doc.uri)
            if self.client.pull_diagnostics:
                break  # one refresh covers every document
        if self.client.inlay_hint_refresh:
            self.workspace_inlay_hint_refresh(None)
        if self.client.code_lens_refresh:
            self.workspace_code_lens_refresh(None)

    # -- failures --------------------------------------------------------------------------
    def log_failure(self, feature: str) -> None:
        """Log a failed feature (stderr and window/logMessage) and keep serving."""
        logger.exception("%s failed", feature)
        try:
            import traceback

            self.window_log_message(types.LogMessageParams(
                type=types.MessageType.Error, message=f"kvcal: {feature} failed: {traceback.format_exc(limit=-3)}"))  # fmt: skip
        except Exception:  # pragma: no cover - the client is gone
            pass


def guarded(feature: str, empty: Any = None) -> Callable[[F], F]:
    """Wrap a handler: an exception is logged and answered with *empty*."""

    def wrap(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            async def run_async(ls: KvcalServer, *args: Any) -> Any:
                try:
                    return await fn(ls, *args)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    ls.log_failure(feature)
                    return empty() if callable(empty) else empty

            run_async.__name__ = fn.__name__
            return run_async  # type: ignore[return-value]

        def run(ls: KvcalServer, *args: Any) -> Any:
            try:
                return fn(ls, *args)
            except Exception:
                ls.log_failure(feature)
                return empty() if callable(empty) else empty

        run.__name__ = fn.__name__
        return run  # type: ignore[return-value]

    return wrap
