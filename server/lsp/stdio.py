"""The language server's input: JSON-RPC messages on stdin, every one answered.

pygls 2 reads ``Content-Length`` framed bodies and gives them to ``json.loads``; a body
that is not JSON is logged with a traceback and dropped, so the request in it is never
answered, and a ``Content-Length`` of thousands of digits or of a terabyte ends the server
(int conversion, allocation). This loop is pygls' own (``pygls.io_.run_async``) with those
cases answered as JSON-RPC 2.0 says:

- a body that is not JSON (invalid UTF-8 or syntax, nesting too deep for the decoder, an
  integer too long to convert) gets Parse error (-32700) with id null;
- a body that is JSON but no message object (an array, a string, an object without
  ``jsonrpc: "2.0"``) gets Invalid Request (-32600), with its id when it has a usable one;
- a ``Content-Length`` beyond :data:`MAX_BODY` is read and dropped in pieces, answered with
  -32700; one of more than 12 digits is not a length (the header is ignored);
- a message whose handling fails is logged in one line (a request is answered by the
  protocol); the server goes on reading.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

from pygls.exceptions import JsonRpcException
from pygls.io_ import StdinAsyncReader, StdoutWriter

if TYPE_CHECKING:
    from pygls.protocol import JsonRPCProtocol

    from kvcal.server.lsp.server import KvcalServer

logger = logging.getLogger("kvcal.lsp")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
#: the largest message read (an LSP didOpen of a 100 MB file fits)
MAX_BODY = 256 * 1024 * 1024
_CHUNK = 1024 * 1024
_CONTENT_LENGTH = re.compile(rb"^Content-Length: (\d{1,12})\r\n$")


class _OneLine(logging.Filter):
    """pygls logs a message that does not fit its schema with the whole traceback: its last
    line says what did not fit, and is all that is logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith("Unable to deserialize message") and record.args:
            lines = str(record.args[0] if isinstance(record.args, tuple) else record.args).strip().splitlines()
            record.msg, record.args = "Unable to deserialize message: %s", (lines[-1] if lines else "",)
        return True


def serve_stdio(server: KvcalServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Run *server* on stdin/stdout until the input ends or the client says exit."""
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_OneLine())
    server._stop_event = stop = threading.Event()
    reader = StdinAsyncReader(stdin or sys.stdin.buffer, server.thread_pool)
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    try:
        asyncio.run(read_messages(stop, reader, server.protocol))
    except BrokenPipeError:
        logger.error("the connection to the client is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]  # (pygls leaves Server.shutdown unannotated)


async def read_messages(stop: threading.Event, reader: StdinAsyncReader, protocol: JsonRPCProtocol) -> None:
    content_length = 0
    while not stop.is_set():
        header = await reader.readline()
        if not header:
            break
        if not content_length:
            match = _CONTENT_LENGTH.fullmatch(header)
            if match:
                content_length = int(match.group(1))
        if content_length and not header.strip():
            length, content_length = content_length, 0
            if length > MAX_BODY:
                if not await _skip(reader, length):
                    break
                answer_error(
                    protocol,
                    None,
                    PARSE_ERROR,
                    f"message of {length} bytes: more than the {MAX_BODY} this server reads; dropped",
                )
                continue
            body = await reader.readexactly(length)
            if not body:
                break
            handle_body(protocol, body)


async def _skip(reader: StdinAsyncReader, length: int) -> bool:
    """Read and drop *length* bytes; False when the input ended first."""
    while length > 0:
        got = await reader.readexactly(min(length, _CHUNK))
        if not got:
            return False
        length -= len(got)
    return True


def handle_body(protocol: JsonRPCProtocol, body: bytes) -> None:
    """Decode one message body and hand it to *protocol*; answer what cannot be handled."""
    try:
        message = json.loads(body, object_hook=protocol.structure_message)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, int digits
        answer_error(protocol, None, PARSE_ERROR, f"Parse error: the message is not JSON ({_why(exc)})")
        return
    except JsonRpcException as exc:  # a notification or response that does not fit its schema
        logger.warning("dropped a message whose content does not fit the LSP schema: %s", exc)
        return
    except Exception as exc:  # pragma: no cover - structure_message answers requests itself
        logger.warning("dropped a message that could not be read: %r", exc)
        return
    if not hasattr(message, "jsonrpc") or getattr(message, "jsonrpc", None) != protocol.VERSION:
        answer_error(
            protocol,
            _id_of(message),
            INVALID_REQUEST,
            'Invalid Request: a JSON-RPC 2.0 message is an object with "jsonrpc": "2.0"',
        )
        return
    try:
        protocol.handle_message(message)
    except Exception as exc:
        logger.warning("handling %s failed: %r", getattr(message, "method", "a message"), exc)


def answer_error(protocol: JsonRPCProtocol, msg_id: Any, code: int, message: str) -> None:
    logger.warning("%s", message)
    # (a plain object: pygls' own response type leaves out an id that is null, JSON-RPC wants it)
    protocol._send_data({"jsonrpc": protocol.VERSION, "id": msg_id, "error": {"code": code, "message": message}})


def _id_of(message: Any) -> int | str | None:
    msg_id = message.get("id") if isinstance(message, dict) else getattr(message, "id", None)
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


def _why(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at byte {exc.pos}"
    if isinstance(exc, UnicodeDecodeError):
        return f"invalid UTF-8 at byte {exc.start}"
    return "a number too long to read" if "digits" in str(exc) else type(exc).__name__
