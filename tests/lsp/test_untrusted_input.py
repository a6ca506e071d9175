"""The language server on input it cannot trust: malformed JSON-RPC, random bytes, a config
whose header names /dev/stdin or a FIFO, control characters in layer names. It answers
every request (JSON-RPC's -32700 / -32600 for what is no message), never reads its own
input on a document's behalf, and keeps answering."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types as T

from tests.lsp.conftest import Editor, session

SERVER = [sys.executable, "-m", "kvcal.server", "lsp"]


class Raw:
    """The server on stdio, spoken to byte by byte (no client library to tidy the bytes)."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stderr: list[bytes] = []
        self.messages: queue.Queue[dict | None] = queue.Queue()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr), daemon=True).start()  # type: ignore[arg-type]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        length = None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.messages.put(None)
                return
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            elif line == b"\r\n" and length is not None:
                self.messages.put(json.loads(self.proc.stdout.read(length)))
                length = None

    def send(self, body: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def request(self, msg_id: int, method: str, params: object) -> None:
        self.send(json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode())

    def receive(self, timeout: float = 30) -> dict:
        """The next message the server sends (notifications included); a server that says
        nothing for *timeout* seconds fails the test (it never hangs it)."""
        try:
            msg = self.messages.get(timeout=timeout)
        except queue.Empty:
            self.proc.kill()
            raise AssertionError(f"no message from the server in {timeout} s") from None
        assert msg is not None, "the server closed its output"
        return msg

    def response(self, msg_id: int | None = None, *, error: bool = False) -> dict:
        """The next response (with *msg_id*, or an error with id null), skipping notifications."""
        while True:
            msg = self.receive()
            if "method" in msg:
                continue
            if msg.get("id") == msg_id and (not error or "error" in msg):
                return msg

    def close(self) -> str:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        return b"".join(self.stderr).decode(errors="replace")


@pytest.fixture
def raw(tmp_path: Path):
    server = Raw()
    server.request(1, "initialize", {"capabilities": {}, "processId": None, "rootUri": tmp_path.as_uri()})
    assert server.response(1)["result"]["capabilities"]
    server.send(b'{"jsonrpc": "2.0", "method": "initialized", "params": {}}')
    yield server
    stderr = server.close()
    assert "Traceback" not in stderr, stderr[-3000:]


def _alive(raw: Raw, msg_id: int) -> None:
    raw.request(msg_id, "workspace/executeCommand", {"command": "kvcal.syncState", "arguments": ["file:///none.cfg"]})
    assert raw.response(msg_id).get("result", "x") is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"", None),
        (b"\xff\xfe\x00", -32700),
        (b'{"jsonrpc": "2.0", "id": 5, "method": ', -32700),
        (b"[" * 50_000 + b"]" * 50_000, -32700),
        (b'{"jsonrpc": "2.0", "id": ' + b"9" * 5000 + b', "method": "x"}', -32700),
        (b"[1, 2]", -32600),
        (b'"a string"', -32600),
        (b"42", -32600),
        (b"null", -32600),
        (b'{"jsonrpc": "1.0", "id": 9, "method": "textDocument/hover"}', None),
    ],
)
def test_malformed_bodies_are_answered_and_the_server_goes_on(raw: Raw, body: bytes, code: int | None) -> None:
    if body == b"":  # (an empty body: nothing to answer; the framing goes on)
        raw.send_raw(b"Content-Length: 0\r\n\r\n")
    else:
        raw.send(body)
    if code is not None:
        msg = raw.response(None, error=True)
        assert msg["error"]["code"] == code and msg["id"] is None, msg
    _alive(raw, 100)


def test_absurd_headers(raw: Raw) -> None:
    raw.send_raw(b"Content-Length: " + b"9" * 5000 + b"\r\n\r\n")  # no length: ignored
    _alive(raw, 101)
    raw.send_raw(b"Content-Length: 300000000\r\n\r\n" + b" " * 300_000_000)  # beyond 256 MiB: dropped, answered
    assert raw.response(None, error=True)["error"]["code"] == -32700
    _alive(raw, 102)


@settings(max_examples=25, deadline=None)
@given(
    bodies=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.recursive(
                st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10)),
                lambda c: st.one_of(
                    st.lists(c, max_size=4),
                    st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "params", "x"]), c, max_size=4),
                ),
                max_leaves=12,
            ).map(lambda v: json.dumps(v).encode()),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_random_bodies_never_stop_the_server(bodies: list[bytes]) -> None:
    server = Raw()
    try:
        server.request(1, "initialize", {"capabilities": {}, "processId": None})
        server.response(1)
        for body in bodies:
            server.send(body)
        _alive(server, 77)
    finally:
        stderr = server.close()
    assert "Traceback" not in stderr, stderr[-3000:]


def _within(seconds: float):
    """A test that fails after *seconds* instead of hanging (a server that stops answering,
    as one that read its own input for a document's sample data did)."""
    import asyncio
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        async def run(*args, **kwargs):
            try:
                await asyncio.wait_for(fn(*args, **kwargs), seconds)
            except asyncio.TimeoutError:
                raise AssertionError(f"{fn.__name__}: no answer within {seconds} s") from None

        return run

    return wrap


# -- files a document names ------------------------------------------------------------------------------

CONFIG = "batch_num: 1\nkv_cache_quant_config {\n  quant_layers: 'a'\n}\n"


@pytest.mark.parametrize("data", ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0", "/dev/zero", "fifo"])
@_within(90)
async def test_a_header_naming_stdin_or_a_fifo_never_reads_the_servers_input(tmp_path: Path, data: str) -> None:
    if data == "fifo":
        os.mkfifo(tmp_path / "fifo")
    async with session(tmp_path) as editor:
        uri = editor.open(f"# kvcal: data={data}\n{CONFIG}", name="q.cfg")
        found = await editor.diagnostics(uri)
        sample = [d for d in found if d.code == "sample-data"]
        assert len(sample) == 1 and "not a regular file" in sample[0].message, found
        hover = await editor.hover(uri, T.Position(line=1, character=2))  # still answering, still in sync
        assert hover is not None
        state = await editor.execute("kvcal.syncState", uri)
        assert state["length"] == len(editor.texts[uri])
        result = await editor.execute("kvcal.calibrate", uri)
        assert result["layers"] == [] and "not a regular file" in result["errors"][0]


@_within(90)
async def test_the_sample_data_setting_naming_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "kv.safetensors")
    async with session(tmp_path, settings={"sampleData": str(tmp_path / "kv.safetensors")}) as editor:
        uri = editor.open(CONFIG, name="q.cfg")
        found = await editor.diagnostics(uri)
        assert any(d.code == "sample-data" and "FIFO" in d.message for d in found), found


@_within(90)
async def test_calibrating_a_config_that_is_not_open_and_is_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "closed.cfg")
    async with session(tmp_path) as editor:
        result = await editor.execute("kvcal.calibrate", (tmp_path / "closed.cfg").as_uri())
        assert result["layers"] == [] and result["errors"]


@pytest.mark.parametrize("kind", ["fifo", "link"])
@_within(90)
async def test_calibration_outputs_that_are_no_regular_files_are_refused(tmp_path: Path, kind: str) -> None:
    from tests.lsp.conftest import write_samples

    write_samples(tmp_path / "kv.safetensors", {"a": 1})
    record = tmp_path / "q.record.txt"
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    if kind == "fifo":
        os.mkfifo(record)
    else:
        (tmp_path / "q.report").mkdir()
        (tmp_path / "q.report" / "report.md").symlink_to(outside)
    async with session(tmp_path) as editor:
        uri = editor.open(f"# kvcal: data=kv.safetensors\n{CONFIG}", name="q.cfg")
        await editor.diagnostics(uri)
        result = await editor.execute("kvcal.calibrate", uri)
        assert result["layers"] == [] and ("FIFO" in result["errors"][0] or "symbolic link" in result["errors"][0])
    assert outside.read_text() == "precious\n"
    assert record.is_fifo() if kind == "fifo" else not record.exists()


# -- control characters in layer names -------------------------------------------------------------------


@_within(90)
async def test_control_characters_in_layer_names_are_escaped_in_diagnostics(tmp_path: Path) -> None:
    from tests.lsp.conftest import write_samples

    write_samples(tmp_path / "kv.safetensors", {"ok\x1b[31m": 1, "b\nc": 1})
    async with session(tmp_path) as editor:
        text = (
            "# kvcal: data=kv.safetensors\nbatch_num: 1\nkv_cache_quant_config {\n"
            "  quant_layers: 'a\\x1b[2Jb'\n  quant_layers: 'a\\x1b[2Jb'\n  quant_layers: ' x\\n'\n}\n"
        )
        uri = editor.open(text, name="q.cfg")
        found = await editor.diagnostics(uri)
        assert {d.code for d in found} >= {"duplicate-layer", "unknown-layer", "layer-name"}, found
        for d in found:
            assert not re.search(r"[\x00-\x1f\x7f]", d.message), d.message


def test_editor_is_the_conftest_one() -> None:
    assert Editor.__module__ == "tests.lsp.conftest"
