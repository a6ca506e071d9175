"""Reads are bounded, regular and quiet (docs/files.md).

A config, and any file a config or a setting names (the sample data of ``# kvcal: data=``,
``--data``, ``kvcal.sampleData``), is opened only if it is a regular file: a FIFO, a device
(``/dev/zero``, ``/dev/stdin``), a socket or a folder never hangs the command or the server
and never reads its input; at most a bounded header is read; and no message shows the
file's bytes. Each command runs in a subprocess with a time and memory limit, so that a
regression fails instead of hanging or filling the machine.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.files.targets import KINDS, SPECIAL, make

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quant.cfg"
SAMPLES = ROOT / "examples" / "kv_samples.safetensors"
CONFIG = "batch_num: 1\nkv_cache_quant_config {\n  quant_layers: 'a'\n}\n"


def _limits() -> None:  # (in the child) 2 GB of address space: reading /dev/zero ends in an error
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


def kvcal(*args: str, stdin: int | str | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`kvcal ARGS` in a subprocess. *stdin* None: a pipe kept open and never written (what
    the language server's input looks like to a file that reads /dev/stdin)."""
    r, w = os.pipe()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "kvcal.server", *args],
            stdin=r if stdin is None else (subprocess.DEVNULL if stdin == subprocess.DEVNULL else None),
            input=stdin if isinstance(stdin, str) else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=_limits,
        )
    finally:
        os.close(r)
        os.close(w)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# -- configs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SPECIAL - {"link_to_regular"}))
@pytest.mark.parametrize("command", ["check", "format", "explain"])
def test_a_config_that_is_no_regular_file_is_a_clear_error(kind: str, command: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kvcal-r-", dir="/tmp") as tmp:
        target = make(kind, Path(tmp), "q.cfg")
        if target is None:
            pytest.skip("no CAP_MKNOD here")
        r = kvcal(command, str(target))
        assert r.returncode == 2, r
        assert str(target) in r.stderr and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/stdin", "/dev/null", "/dev/urandom"])
def test_check_of_a_device(device: str) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    r = kvcal("check", device)
    assert r.returncode == 2 and device in r.stderr and "not a regular file" in r.stderr, r


def test_stdin_is_still_read_with_a_dash() -> None:
    r = kvcal("check", "-", stdin=CONFIG)
    assert r.returncode == 0, r
    assert kvcal("format", "-", stdin="batch_num:1\n").stdout == "batch_num: 1\n"


def test_a_config_too_large_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big.cfg"
    with open(big, "wb") as fh:
        fh.truncate(64 * 1024 * 1024)  # sparse: 64 MiB of NULs
    r = kvcal("check", str(big))
    assert r.returncode == 2 and "larger than" in r.stderr, r


# -- sample data a config names -------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(SPECIAL | {"missing"}))
def test_a_header_naming_anything_but_a_file_never_blocks(kind: str) -> None:
    with tempfile.TemporaryDirectory(prefix="kvcal-r-", dir="/tmp") as tmp:
        folder = Path(tmp)
        target = make(kind, folder, "kv.safetensors")
        if target is None:
            pytest.skip("no CAP_MKNOD here")
        cfg = folder / "q.cfg"
        cfg.write_text(f"# kvcal: data={target.name}\n{CONFIG}")
        r = kvcal("check", str(cfg))
        assert r.returncode == 0 and "[sample-data]" in r.stdout, r
        r = kvcal("check", "--data", str(target), str(cfg))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r
        r = kvcal("calibrate", str(cfg))
        assert r.returncode in (1, 2) and r.stderr.count("\n") == 1, r


@pytest.mark.parametrize("device", ["/dev/stdin", "/dev/zero", "/dev/fd/0"])
def test_a_header_naming_a_device(tmp_path: Path, device: str) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(f"# kvcal: data={device}\n{CONFIG}")
    r = kvcal("check", str(cfg))  # (its stdin: a pipe nobody writes to)
    assert r.returncode == 0 and "[sample-data]" in r.stdout and "not a regular file" in r.stdout, r
    r = kvcal("calibrate", str(cfg), "--data", device)
    assert r.returncode == 1 and "not a regular file" in r.stderr, r


SECRET = "hunter2-SECRET"


@settings(max_examples=150, deadline=None)
@given(
    prefix=st.binary(max_size=16),
    size=st.one_of(st.integers(0, 2**64 - 1), st.integers(0, 64)),
    body=st.sampled_from(
        [
            b"",
            SECRET.encode(),
            b"{" + SECRET.encode(),
            b'{"' + SECRET.encode() + b'": 1, x}',
            b'["' + SECRET.encode() + b'"]',
            b'{"a": "' + SECRET.encode() + b'"}',
        ]
    ),
    use_size=st.booleans(),
)
def test_the_header_reader_never_raises_and_never_quotes_the_file(
    prefix: bytes, size: int, body: bytes, use_size: bool
) -> None:
    from kvcal.grammar.association import SampleHeaderError, sample_layer_names

    data = (struct.pack("<Q", size if not use_size else len(body)) + body) if prefix == b"" else prefix + body
    with tempfile.TemporaryDirectory(prefix="kvcal-r-") as tmp:
        path = Path(tmp) / "kv.safetensors"
        path.write_bytes(data)
        try:
            names = sample_layer_names(path)
        except SampleHeaderError as exc:
            message = str(exc)
            assert SECRET not in message and SECRET[:6] not in message
            first8 = data[:8].ljust(8, b"\0")
            assert str(struct.unpack("<Q", first8)[0]) not in message.replace(str(path), "") or len(data) < 8
        else:
            assert isinstance(names, list)


def test_a_text_file_named_as_sample_data_is_not_quoted(tmp_path: Path) -> None:
    secret = tmp_path / "id_rsa"
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n")
    first8 = struct.unpack("<Q", b"-----BEG")[0]
    cfg = tmp_path / "q.cfg"
    cfg.write_text(f"# kvcal: data={secret}\n{CONFIG}")
    for r in (
        kvcal("check", str(cfg)),
        kvcal("calibrate", str(cfg)),
        kvcal("calibrate", str(cfg), "--data", str(secret)),
        kvcal("calibrate", str(cfg), "--data", str(tmp_path / "x.pt")),
    ):
        shown = r.stdout + r.stderr
        assert "BEGIN" not in shown and "b3Blbn" not in shown and str(first8) not in shown, shown
    pt = tmp_path / "x.pt"
    pt.write_bytes(b"SECRETBYTES" * 10)
    r = kvcal("calibrate", str(cfg), "--data", str(pt))
    assert r.returncode == 1 and "SECRET" not in r.stderr and "'S'" not in r.stderr, r.stderr


def test_json_nested_deeply_or_with_huge_numbers_in_a_header(tmp_path: Path) -> None:
    from kvcal.grammar.association import SampleHeaderError, sample_layer_names

    for body in (
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"a": {"shape": [' + b"9" * 10_000 + b"]}}",
    ):
        path = tmp_path / "deep.safetensors"
        path.write_bytes(struct.pack("<Q", len(body)) + body)
        with pytest.raises(SampleHeaderError, match="not a readable safetensors file"):
            sample_layer_names(path)
        cfg = tmp_path / "q.cfg"
        cfg.write_text(f"# kvcal: data=deep.safetensors\n{CONFIG}")
        r = kvcal("check", str(cfg))
        assert r.returncode == 0 and "[sample-data]" in r.stdout, r
        r = kvcal("calibrate", str(cfg))
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr


@pytest.mark.parametrize("kind", ["regular", "link_to_regular"])
def test_a_regular_sample_file_or_a_link_to_one_is_read(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "kv.safetensors"
    if kind == "regular":
        target.write_bytes(SAMPLES.read_bytes())
    else:
        target.symlink_to(SAMPLES)
    cfg = tmp_path / "q.cfg"
    cfg.write_text(EXAMPLE.read_text().replace("data=kv_samples.safetensors", "data=kv.safetensors"))
    r = kvcal("check", str(cfg))
    assert r.returncode == 0 and "sample-data" not in r.stdout, r


def test_every_kind_is_covered() -> None:
    assert set(KINDS) >= SPECIAL and json.dumps(sorted(KINDS))
