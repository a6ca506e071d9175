"""The kvcal language server's state: documents, settings, analyses (one snapshot per
version, analysed off the event loop), diagnostics scheduling, calibration outcomes.
The protocol's lifecycle is :mod:`.protocol`; feature handlers are :mod:`.handlers`."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from kvcal.grammar.checks.analysis import analyze
from kvcal.grammar.schema.compile import forget_failed_compilations
from kvcal.grammar.schema.resolution import SchemaOptions
from kvcal.server import __version__
from kvcal.server.lsp.diagnostics import diagnostics_for
from kvcal.server.lsp.documents import Documents, claimed_by_extension_only
from kvcal.server.lsp.outcome import Outcome
from kvcal.server.lsp.protocol import KvcalProtocol
from kvcal.server.lsp.protos import ProtoFinder, schema_stamp
from kvcal.server.lsp.settings import SECTION, SampleCache, SampleData, Settings, parse_settings
from kvcal.server.lsp.snapshot import Snapshot, fs_path
from kvcal.server.lsp.stdio import serve_stdio

logger = logging.getLogger("kvcal.lsp")
F = TypeVar("F", bound=Callable[..., Any])

#: The diagnostics of a burst of changes are published this long after its last change.
#: An analysis overtaken by a change is never published.
DEBOUNCE_S = 0.015
CONFIG_TIMEOUT_S = 2.0


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
    watched_files_registration: bool = False
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
            config_registration=bool(
                ws and ws.did_change_configuration and ws.did_change_configuration.dynamic_registration
            ),
            watched_files_registration=bool(
                ws and ws.did_change_watched_files and ws.did_change_watched_files.dynamic_registration
            ),
            work_done_progress=bool(caps.window and caps.window.work_done_progress),
            markdown_hover=types.MarkupKind.Markdown in (hover_formats or [types.MarkupKind.Markdown]),
            markdown_completion=types.MarkupKind.Markdown in (doc_formats or []),
        )


def _absolute(path: str, root: Path | None) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() or root is None else root / p


def _setting_proto(proto: str, root: Path | None, proto_path: tuple[Path, ...], workspace: tuple[Path, ...]) -> Path:
    """A ``kvcal.schemas`` entry's proto: relative to the workspace folder, else found on
    ``kvcal.protoPath`` or in another workspace folder, as a header's path would be."""
    first = _absolute(proto, root)
    if first.is_file() or Path(proto).expanduser().is_absolute():
        return first
    for folder in (*proto_path, *workspace):
        if (folder / proto).is_file():
            return folder / proto
    return first  # (missing: the error names where it was expected)


@dataclass
class _Analysing:
    text: str
    settings: Settings
    future: asyncio.Future[Snapshot]


class KvcalServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kvcal", __version__, protocol_cls=KvcalProtocol, max_workers=4)
        self.documents = Documents()
        self.samples = SampleCache()
        self.client = ClientInfo()
        self.settings: dict[str, Settings] = {}
        self.outcomes: dict[str, Outcome] = {}
        #: stop flags of the calibrations running now (set on shutdown)
        self.running: set[threading.Event] = set()
        self._cache: dict[str, Snapshot] = {}
        self._analysing: dict[str, _Analysing] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._last_change: dict[str, float] = {}
        self.protos = ProtoFinder()
        self._fetching: dict[str, asyncio.Future[None]] = {}
        # Analyses run off the event loop (which keeps reading changes and cancellations),
        # one at a time: the parser is not re-entrant.
        self.analyser = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kvcal-analyse")

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """Serve on stdio; every message body is answered, even one that is not JSON
        (:mod:`kvcal.server.lsp.stdio`)."""
        serve_stdio(self, stdin, stdout)

    # -- derived state ---------------------------------------------------------------------
    async def snapshot(self, uri: str) -> Snapshot | None:
        """The current version of an open document, analysed. Cached per text and settings;
        at most one analysis per document runs at a time and callers share it."""
        while True:
            fetching = self._fetching.get(uri)
            if fetching is not None:
                await asyncio.shield(fetching)
            doc = self.documents.get(uri)
            if doc is None:
                return None
            text, settings = doc.text, self.settings.get(uri, Settings())
            cached = self._cache.get(uri)
            if (
                cached is not None
                and cached.text is text
                and cached.settings == settings
                and cached.stamp == schema_stamp(cached.analysis.resolution)
                and not cached.retry_schema()
            ):
                cached.version = doc.version
                return cached
            running = self._analysing.get(uri)
            if running is not None:
                done = await asyncio.shield(running.future)
                if running.text is text and running.settings == settings:
                    return done
                continue  # that was an older text: analyse the current one now
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(self.analyser, self.analyse, uri, doc.version, text, settings)
            running = self._analysing[uri] = _Analysing(text, settings, job)
            try:
                snap = await asyncio.shield(job)
            finally:
                if self._analysing.get(uri) is running:
                    del self._analysing[uri]
            if uri in self.documents:
                self._cache[uri] = snap
            return snap

    def analyse(self, uri: str, version: int | None, text: str, settings: Settings) -> Snapshot:
        started = time.perf_counter()
        path = fs_path(uri)
        samples = self.samples.resolve(text, path, settings, self.root_for(uri))
        analysis = analyze(text, layers=samples.layers, options=self.schema_options(uri, settings), path=path)
        if analysis.family != "kv":
            samples = SampleData()  # sample data is the KV-cache calibration's
        return Snapshot(uri, version, text, analysis, samples, settings, time.perf_counter() - started)

    def schema_options(self, uri: str, settings: Settings) -> SchemaOptions:
        """Where the schema of *uri* comes from: a ``kvcal.schemas`` entry matching it, the
        ``kvcal.protoPath`` folders, the workspace folders (and the .proto files in them)."""
        path, root = fs_path(uri), self.root_for(uri)
        workspace = tuple(self.workspace_folders())
        proto_path = tuple(_absolute(p, root) for p in settings.proto_path)
        doc = self.documents.get(uri)
        quiet = claimed_by_extension_only(uri, doc.language_id if doc is not None else "")
        known = tuple(self.protos.find(workspace)) if workspace else ()
        options = SchemaOptions(proto_path=proto_path, workspace=workspace, known_protos=known, quiet=quiet)
        if path is not None and settings.schemas:
            relative = (
                path.relative_to(root).as_posix() if root is not None and path.is_relative_to(root) else path.name
            )
            rule = settings.schema_for(relative, path.as_posix())
            if rule is not None:
                proto = _setting_proto(rule.proto, root, proto_path, workspace) if rule.proto else None
                return SchemaOptions(
                    proto=proto,
                    message=rule.message,
                    origin=f"the kvcal.schemas setting ('{rule.glob}')",
                    proto_path=proto_path,
                    workspace=workspace,
                    known_protos=known,
                    quiet=quiet,
                )
        return options

    def workspace_folders(self) -> list[Path]:
        try:
            folders = [p for p in (fs_path(f.uri) for f in self.workspace.folders.values()) if p is not None]
            root = self.workspace.root_path
        except RuntimeError:  # not initialized
            return []
        if not folders and root:
            folders = [Path(root)]
        return folders

    def root_for(self, uri: str) -> Path | None:
        """The folder relative settings paths start from: the workspace folder holding the
        document (the innermost one), else the root the client gave (``workspaceFolders``
        win over ``rootUri``, as LSP says), else None."""
        try:
            folders = list(self.workspace.folders.values())
            root = self.workspace.root_path
        except RuntimeError:  # not initialized
            return None
        path = fs_path(uri)
        candidates = [p for p in (fs_path(f.uri) for f in folders) if p is not None]
        if path is not None:
            holding = [p for p in candidates if path.is_relative_to(p)]
            if holding:
                return max(holding, key=lambda p: len(p.parts))
        if candidates:
            return candidates[0]
        return Path(root) if root else None

    def forget(self, uri: str) -> None:
        self._cache.pop(uri, None)
        self.settings.pop(uri, None)
        self._last_change.pop(uri, None)
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()

    # -- settings --------------------------------------------------------------------------
    async def fetch_settings(self, uris: list[str]) -> None:
        """Ask the client for section ``kvcal`` of each document (scoped by its URI)."""
        if not self.client.configuration or not uris:
            return
        items = [types.ConfigurationItem(scope_uri=uri, section=SECTION) for uri in uris]
        # requests for these documents wait for their settings (they may name the schema)
        done = asyncio.get_running_loop().create_future()
        for uri in uris:
            self._fetching[uri] = done
        try:
            values = await asyncio.wait_for(
                self.workspace_configuration_async(types.ConfigurationParams(items=items)), CONFIG_TIMEOUT_S
            )
        except Exception as exc:  # a client that fails or never answers: defaults
            logger.warning("workspace/configuration failed: %r", exc)
            return
        else:
            for uri, raw in zip(uris, values or [], strict=False):
                self.settings[uri] = parse_settings(raw)
        finally:
            done.set_result(None)
            for uri in uris:
                if self._fetching.get(uri) is done:
                    del self._fetching[uri]

    # -- diagnostics -----------------------------------------------------------------------
    def schedule_diagnostics(self, uri: str) -> None:
        """Debounce with a leading edge. A change after a quiet spell (no change for
        DEBOUNCE_S, nothing pending for the document) is analysed at once: typing gets
        immediate diagnostics. Changes closer together than that, or arriving while an
        analysis runs, form a burst (an undo group, a paste, a replace-all, fast typing on a
        big file), published DEBOUNCE_S after its last change."""
        if self.client.pull_diagnostics:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        pending = self._timers.pop(uri, None)
        if pending is not None:
            pending.cancel()
        last, self._last_change[uri] = self._last_change.get(uri), now
        quiet = pending is None and uri not in self._analysing and (last is None or now - last > DEBOUNCE_S)
        self._timers[uri] = loop.call_later(0 if quiet else DEBOUNCE_S, self._publish_later, uri)

    def _publish_later(self, uri: str) -> None:
        self._timers.pop(uri, None)
        task = asyncio.ensure_future(self.publish_diagnostics(uri))
        task.add_done_callback(self._report_task)

    def _report_task(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            try:
                raise error
            except Exception:
                self.log_failure("diagnostics")

    async def publish_diagnostics(self, uri: str) -> None:
        """Push the diagnostics of the current version, unless the text changed while it was
        analysed (then the change's own publish follows). Clients that pull (they do after
        every change) get nothing pushed."""
        if self.client.pull_diagnostics:
            return
        snap = await self.snapshot(uri)
        doc = self.documents.get(uri)
        if snap is None or doc is None or doc.text is not snap.text:
            return
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=doc.version, diagnostics=diagnostics_for(self, snap))
        )

    def clear_diagnostics(self, uri: str) -> None:
        if not self.client.pull_diagnostics:
            self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    async def protos_changed(self) -> None:
        """A .proto in the workspace was created, changed or deleted: the documents whose
        schema comes from a .proto, or failed to, are analysed again and shown anew."""
        forget_failed_compilations()
        self.protos.forget()
        stale = [
            uri
            for uri, snap in self._cache.items()
            if snap.stamp or snap.analysis.resolution.header is not None or snap.analysis.schema is None
        ]
        for uri in stale:
            self._cache.pop(uri, None)
        if stale:
            await self.refresh_views()

    async def refresh_views(self) -> None:
        """After settings or calibration results change: everything shown again."""
        if self.client.pull_diagnostics:
            if self.client.diagnostic_refresh:
                self.workspace_diagnostic_refresh(None)
        else:
            for doc in self.documents:
                await self.publish_diagnostics(doc.uri)
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

            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Error, message=f"kvcal: {feature} failed: {traceback.format_exc(limit=-3)}"
                )
            )
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
            return cast(F, run_async)  # (the same parameters and result as fn)

        def run(ls: KvcalServer, *args: Any) -> Any:
            try:
                return fn(ls, *args)
            except Exception:
                ls.log_failure(feature)
                return empty() if callable(empty) else empty

        run.__name__ = fn.__name__
        return cast(F, run)

    return wrap
