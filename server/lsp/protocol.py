"""The protocol's lifecycle, as LSP states it and pygls leaves partly out: every request
answered (malformed params with InvalidParams, before ``initialize`` with
ServerNotInitialized, after ``shutdown`` with InvalidRequest), ``exit`` without
``shutdown`` ends with status 1, the server exits when the client's process is gone; open
documents are kept in the server's own store (synced through LineIndex), and commands run
as tasks (so ``$/cancelRequest`` cancels them)."""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcServerNotInitialized,
)
from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

if TYPE_CHECKING:  # (an annotation: the server creates its protocol)
    from kvcal.server.lsp.server import KvcalServer

logger = logging.getLogger("kvcal.lsp")


class _Answered:
    """A request that could not be read and was already answered with an error."""

    jsonrpc = JsonRPCProtocol.VERSION


class KvcalProtocol(LanguageServerProtocol):
    """pygls' protocol with these changes: positions are always UTF-16 (the unit
    :class:`LineIndex` converts), open documents live in the server's own store (synced
    through LineIndex too), and commands receive their ExecuteCommandParams (for the
    workDoneToken) and run as tasks, so ``$/cancelRequest`` cancels them. The lifecycle
    follows the LSP rules pygls leaves out: every request is answered — one whose params do
    not fit its method with InvalidParams, one before ``initialize`` with
    ServerNotInitialized, one after ``shutdown`` with InvalidRequest; ``exit`` without
    ``shutdown`` ends the process with status 1; and the server exits when the client
    process named in ``initialize`` is gone."""

    _server: KvcalServer
    #: the process status ``exit`` asked for (None: no exit notification yet)
    exit_code: int | None = None
    _initialized = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" not in data or "method" not in data:
                raise  # a notification or a response: pygls logs and reports it
            error = exc.to_response_error()
            error.message = f"{data['method']}: {error.message} (the request's params do not match the LSP schema)"
            self._send_response(data["id"], error=error)
            return _Answered()

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        method = getattr(message, "method", None)
        refusal: JsonRpcException | None = None
        if self._shutdown and method not in (None, types.EXIT):
            refusal = JsonRpcInvalidRequest(
                f"{method}: the server is shutting down (shutdown was requested); only exit is accepted"
            )
        elif self._initialized and method == types.INITIALIZE:
            refusal = JsonRpcInvalidRequest("initialize: the server is already initialized (initialize is sent once)")
        elif not self._initialized and method not in (None, types.INITIALIZE, types.EXIT):
            refusal = JsonRpcServerNotInitialized(f"{method}: send initialize first")
        if refusal is None:
            super().handle_message(message)
        elif getattr(message, "id", None) is not None:  # a request is answered; a notification dropped
            self._send_response(message.id, error=refusal.to_response_error())

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, Any]:
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None  # UTF-16, the LSP default
        result = yield from super().lsp_initialize(params)
        self._initialized = True
        if params.process_id is not None:
            watch_parent(params.process_id)
        return result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> Generator[Any, Any, Any]:
        self.exit_code = 0 if self._shutdown else 1
        return (yield from super().lsp_exit(*args))

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        if self._server.documents.open(params.text_document) is None:
            item = params.text_document
            logger.info("not an AMCT quant config (language %r): %s is left alone", item.language_id, item.uri)
            return
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        self._server.documents.change(params)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        self._server.documents.close(params.text_document.uri)
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(  # type: ignore[override]  # (pygls runs a coroutine handler too)
        self, params: types.ExecuteCommandParams
    ) -> Any:
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams.of(ValueError(f"unknown command {params.command!r}"))
        result = handler(params)
        return await result if inspect.isawaitable(result) else result


PARENT_POLL_S = 3.0


def watch_parent(pid: int) -> None:
    """Exit when process *pid* (the editor, from ``InitializeParams.processId``) is gone,
    as LSP asks: an editor that crashed leaves no server behind. POSIX only (on Windows,
    ``os.kill(pid, 0)`` would terminate the process)."""
    if os.name != "posix" or pid <= 0:
        return

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                logger.warning("the client process %d is gone: exiting", pid)
                os._exit(1)
            except OSError:  # alive, but not ours to signal (another user)
                pass

    threading.Thread(target=poll, name="kvcal-parent-watch", daemon=True).start()
