"""The language server over stdio, timed from the client's side: p50/p95 of
didChange -> publishDiagnostics, hover and completion on the example and on a
5,000-line config; server start to first diagnostics; hover while a calibration runs.

A minimal JSON-RPC client (no pygls on this side, so the figures are the server's) drives
`python -m kvcal.server lsp`. Prints a Markdown table for docs/benchmarks.md.
Run: python benchmarks/bench_lsp.py [--quick] [--no-calibration]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from configs import GENERIC_MESSAGE, GENERIC_PROTO, big_config, generic_text  # noqa: E402

SERVER = [sys.executable, "-m", "kvcal.server", "lsp", "--stdio"]


class Client:
    """Content-Length framed JSON-RPC over the server's stdin/stdout, a reader thread."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT
        )
        self.ids = itertools.count(1)
        self.pending: dict[int, queue.Queue] = {}
        self.notifications: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message).encode()
        with self.lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            length = 0
            while (line := out.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            if not line:
                return
            msg = json.loads(out.read(length))
            now = time.perf_counter()
            if "id" in msg and "method" in msg:  # a request from the server
                result = (
                    [None] * len(msg["params"].get("items", [])) if msg["method"] == "workspace/configuration" else None
                )
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            elif "id" in msg:
                self.pending.pop(msg["id"]).put((now, msg))
            else:
                self.notifications.put((now, msg))

    def request(self, method: str, params: Any) -> tuple[float, Any]:
        """(seconds until the response, the response)."""
        rid = next(self.ids)
        box: queue.Queue = queue.Queue()
        self.pending[rid] = box
        start = time.perf_counter()
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        end, msg = box.get(timeout=600)
        return end - start, msg

    def send_request(self, method: str, params: Any) -> queue.Queue:
        rid = next(self.ids)
        box: queue.Queue = queue.Queue()
        self.pending[rid] = box
        self._send({"jsonrpc": "2.0", "id": rid, "method": method, "params": params})
        return box

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_diagnostics(self, uri: str, version: int | None = None, timeout: float = 60) -> float:
        """The time the diagnostics of *version* arrived."""
        deadline = time.perf_counter() + timeout
        while True:
            at, msg = self.notifications.get(timeout=max(0.001, deadline - time.perf_counter()))
            p = msg.get("params", {})
            if (
                msg.get("method") == "textDocument/publishDiagnostics"
                and p.get("uri") == uri
                and (version is None or p.get("version") == version)
            ):
                return at

    def initialize(self, root: Path) -> None:
        caps = {
            "textDocument": {
                "hover": {"contentFormat": ["markdown"]},
                "completion": {"completionItem": {"snippetSupport": True}},
                "publishDiagnostics": {"versionSupport": True},
            },
            "workspace": {"configuration": True},
            "window": {"workDoneProgress": True},
        }
        self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": caps})
        self.notify("initialized", {})

    def open(self, uri: str, text: str) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "amct-quant-cfg", "version": 1, "text": text}},
        )

    def close(self) -> None:
        self.request("shutdown", None)
        self.notify("exit", None)
        self.proc.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3


def row(label: str, values: list[float], goal: str = "") -> str:
    return f"| {label} | {len(values)} | {pct(values, 0.5):.1f} | {pct(values, 0.95):.1f} | {goal} |"


def positions(text: str, needles: list[str]) -> list[dict[str, int]]:
    out = []
    lines = text.splitlines()
    for needle in needles:
        for i, line in enumerate(lines):
            if needle in line:
                out.append({"line": i, "character": line.index(needle) + 2})
                break
    return out


#: One keystroke every 50 ms (20 a second, a fast typist); the server debounces changes
#: closer than 15 ms together as a burst.
KEYSTROKE_S = 0.05


def edit_loop(client: Client, uri: str, text: str, n: int) -> list[float]:
    """Type and delete one character after a value, a keystroke every KEYSTROKE_S: the time
    from each didChange to the diagnostics of its version."""
    lines = text.splitlines()
    line = next(i for i, text_line in enumerate(lines) if "num_of_bins" in text_line)
    col = len(lines[line])
    times: list[float] = []
    start = time.perf_counter()
    for k in range(n):
        version = k + 2
        if k % 2 == 0:
            change = {
                "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
                "text": "0",
            }
        else:
            change = {
                "range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 1}},
                "text": "",
            }
        if times:
            time.sleep(max(0.0, start + KEYSTROKE_S - time.perf_counter()))
        start = time.perf_counter()
        client.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [change]}
        )
        times.append(client.wait_diagnostics(uri, version) - start)
    return times


def request_loop(client: Client, method: str, uri: str, where: list[dict[str, int]], n: int) -> list[float]:
    times = []
    for k in range(n):
        t, msg = client.request(method, {"textDocument": {"uri": uri}, "position": where[k % len(where)]})
        assert "result" in msg and msg["result"] is not None, msg
        times.append(t)
    return times


def startup(n: int, text: str, root: Path) -> list[float]:
    times = []
    for k in range(n):
        client = Client()
        client.initialize(root)
        uri = (root / f"start{k}.quant.cfg").as_uri()
        client.open(uri, text)
        times.append(client.wait_diagnostics(uri) - client.started)
        client.close()
    return times


def header_schema(n: int, root: Path) -> tuple[list[float], list[float], list[float]]:
    """A .txtpb whose header names a user .proto: open → first diagnostics in a fresh server
    (protoc runs), then a second document naming the same .proto (cached), then an edit."""
    import shutil

    shutil.copy(ROOT / GENERIC_PROTO, root / "acme.proto")
    text = f"# proto-file: acme.proto\n# proto-message: {GENERIC_MESSAGE}\n" + generic_text(200)
    first, second, edits = [], [], []
    for k in range(n):
        client = Client()
        client.initialize(root)
        uri = (root / f"run{k}.txtpb").as_uri()
        opened = time.perf_counter()
        client.open(uri, text)
        first.append(client.wait_diagnostics(uri) - opened)
        uri2 = (root / f"again{k}.txtpb").as_uri()
        opened = time.perf_counter()
        client.open(uri2, text.replace('name: "bench"', 'name: "again"'))
        second.append(client.wait_diagnostics(uri2) - opened)
        for v in range(2, 7):
            sent = time.perf_counter()
            client.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri2, "version": v},
                    "contentChanges": [{"text": text.replace("small: -7", f"small: -{v}")}],
                },
            )
            edits.append(client.wait_diagnostics(uri2, v) - sent)
        client.close()
    return first, second, edits


def calibration_hover(n: int, root: Path) -> tuple[list[float], float] | None:
    """Hover repeatedly while a calibration of many layers runs; (hover times, run seconds)."""
    try:
        import numpy as np
        from safetensors.numpy import save_file
    except ImportError:
        return None
    layers = [f"model.layers.{i}.self_attn.{kv}_proj" for i in range(8) for kv in "kv"]
    rng = np.random.default_rng(0)
    data = {f"{name}/{b}": rng.standard_normal((512, 128)).astype(np.float32) for name in layers for b in range(2)}
    save_file(data, str(root / "kv.safetensors"))
    text = (
        "# kvcal: data=kv.safetensors\nbatch_num: 2\nkv_cache_quant_config {\n"
        + "".join(f"  quant_layers: '{name}'\n" for name in layers)
        + "  calibration_config { ifmr_quantize { quant_granularity: per_channel } }\n}\n"
    )
    config = root / "calib.quant.cfg"
    config.write_text(text)
    client = Client()
    client.initialize(root)
    uri = config.as_uri()
    client.open(uri, text)
    client.wait_diagnostics(uri)
    where = positions(text, ["batch_num", "quant_granularity", "model.layers.3", "ifmr_quantize"])
    box = client.send_request("workspace/executeCommand", {"command": "kvcal.calibrate", "arguments": [uri]})
    started = time.perf_counter()
    times: list[float] = []
    while box.empty():
        t, _ = client.request(
            "textDocument/hover", {"textDocument": {"uri": uri}, "position": where[len(times) % len(where)]}
        )
        times.append(t)
        time.sleep(0.01)
    _, msg = box.get()
    took = time.perf_counter() - started
    client.close()
    result = msg.get("result") or {}
    if result.get("errors") or not result.get("layers"):
        print(f"calibration did not run: {result.get('errors') or msg.get('error')}", file=sys.stderr)
        return None
    return times[:n] if len(times) > n else times, took


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--no-calibration", action="store_true")
    args = ap.parse_args()
    n = 50 if args.quick else 200
    # Byte-compile kvcal's own modules, as an installed wheel has them (this environment may
    # set PYTHONDONTWRITEBYTECODE, which would make every server start compile them again).
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "grammar"), str(ROOT / "server")],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    example = (ROOT / "examples" / "quant.cfg").read_text()
    big = big_config(5000)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}, load average "
        f"{load} at start; example {example.count(chr(10))} lines, big {big.count(chr(10))} lines\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows.append(
            row(
                "server start → first diagnostics (example)",
                startup(5 if args.quick else 15, example, root),
                "< 500 ms",
            )
        )
        first, second, edits = header_schema(3 if args.quick else 8, root)
        rows.append(row("open a .txtpb with a header schema → first diagnostics (protoc compiles)", first))
        rows.append(row("open a second document of the same schema → diagnostics (compiled schema cached)", second))
        rows.append(row("didChange → publishDiagnostics (header schema; never recompiles)", edits))
        for label, text, goal_diag, goal_req in (
            ("example", example, "", "< 10 ms"),
            ("5,000 lines", big, "< 50 ms", ""),
        ):
            client = Client()
            client.initialize(root)
            uri = (root / f"{label.replace(' ', '').replace(',', '')}.quant.cfg").as_uri()
            client.open(uri, text)
            client.wait_diagnostics(uri)
            rows.append(row(f"didChange → publishDiagnostics ({label})", edit_loop(client, uri, text, n), goal_diag))
            where = positions(
                text, ["batch_num", "num_of_bins", "quant_granularity", "model.layers.1", "hfmg_quantize"]
            )
            rows.append(
                row(f"hover ({label})", request_loop(client, "textDocument/hover", uri, where, n * 2), goal_req)
            )
            cwhere = positions(text, ["calibration_config", "quant_granularity:", "num_of_bins:"])
            cwhere = [dict(p, character=p["character"] + 20) if i else p for i, p in enumerate(cwhere)]
            rows.append(
                row(
                    f"completion ({label})",
                    request_loop(client, "textDocument/completion", uri, cwhere, n * 2),
                    goal_req,
                )
            )
            client.close()
        from kvcal.grammar import analyze

        alone = []
        for _ in range(n // 4):
            started = time.perf_counter()
            analyze(big)
            alone.append(time.perf_counter() - started)
        rows.append(row("for reference: `analyze()` alone, in-process (5,000 lines)", alone))
        if not args.no_calibration:
            found = calibration_hover(n, root)
            if found is not None:
                times, took = found
                rows.append(row(f"hover while a calibration runs ({took:.1f} s, 16 layers)", times, "< 50 ms"))
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}\n")
    print("| measurement | n | p50 (ms) | p95 (ms) | goal |")
    print("|---|---:|---:|---:|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
