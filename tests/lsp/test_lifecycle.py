"""The LSP lifecycle rules, over raw JSON-RPC (a typed client cannot send bad params):
every request gets an answer, errors have the codes LSP gives them, and the process
status and lifetime follow ``shutdown`` / ``exit`` / ``processId``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from tests.lsp.conftest import SERVER

URI = "file:///tmp/kvcal-lifecycle.quant.cfg"
TEXT = "kv_cache_quant_config { quant_layers: 'a' }\n"


class Raw:
    """A bare JSON-RPC peer over the server's stdio: writes messages, reads replies in order."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while (line := self.proc.stdout.readline().strip()) != b"":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        assert length, "the server closed its output"
        return json.loads(self.proc.stdout.read(length))

    def request(self, method: str, params: Any) -> dict[str, Any]:
        """The reply to this request (notifications and server requests in between skipped;
        a server request gets a null result)."""
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.read()
            if "method" in msg and "id" in msg:  # e.g. workspace/configuration
                self.send({"id": msg["id"], "result": [None] * len(msg["params"].get("items", [None]))})
            elif msg.get("id") == self.next_id:
                return msg

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def initialize(self, process_id: int | None = None) -> dict[str, Any]:
        reply = self.request("initialize", {"processId": process_id, "rootUri": None, "capabilities": {}})
        self.notify("initialized", {})
        return reply

    def status(self, timeout: float = 20) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def raw():
    peer = Raw()
    yield peer
    peer.close()


def hover(peer: Raw, position: Any) -> dict[str, Any]:
    return peer.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": position})


def test_a_request_before_initialize_is_refused(raw: Raw) -> None:
    reply = hover(raw, {"line": 0, "character": 0})
    assert reply["error"]["code"] == -32002 and "initialize" in reply["error"]["message"]
    assert "result" in raw.initialize()


@pytest.mark.parametrize(
    "position", [{"line": -1, "character": 0}, {"line": 2**31, "character": 0}, {"line": "x", "character": 0}, None]
)
def test_params_that_do_not_fit_get_invalid_params(raw: Raw, position: Any) -> None:
    raw.initialize()
    raw.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": URI, "languageId": "amct-quant-cfg", "version": 1, "text": TEXT}},
    )
    reply = hover(raw, position)
    assert reply["error"]["code"] == -32602 and "textDocument/hover" in reply["error"]["message"]
    good = hover(raw, {"line": 0, "character": 3})  # the server goes on answering
    assert "kv_cache_quant_config" in good["result"]["contents"]["value"]


def test_after_shutdown_requests_are_refused_and_exit_is_status_0(raw: Raw) -> None:
    raw.initialize()
    assert raw.request("shutdown", None)["result"] is None
    assert hover(raw, {"line": 0, "character": 0})["error"]["code"] == -32600
    assert raw.request("shutdown", None)["error"]["code"] == -32600
    raw.notify("exit")
    assert raw.status() == 0


def test_exit_without_shutdown_is_status_1(raw: Raw) -> None:
    raw.initialize()
    raw.notify("exit")
    assert raw.status() == 1


def test_initialize_is_answered_once(raw: Raw) -> None:
    assert "capabilities" in raw.initialize()["result"]
    again = raw.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert again["error"]["code"] == -32600


@pytest.mark.skipif(sys.platform == "win32", reason="the parent watch is POSIX only")
def test_the_server_exits_when_its_client_process_is_gone(raw: Raw) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    raw.initialize(process_id=gone.pid)
    started = time.monotonic()
    assert raw.status(timeout=30) == 1
    assert time.monotonic() - started < 30
