"""A second real LSP client: headless Neovim (Debian's 0.7) opens the example, receives the
diagnostics, hovers a field, completes, and types a mistake (Neovim's own incremental
sync). Needs `nvim`: when it is missing the test runs scripts/setup-neovim.sh (apt-get
install neovim); if that fails, a failure under CI=true, a skip with the reason elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kvcal.grammar import check
from kvcal.grammar.text import LineIndex

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "nvim" / "lsp_check.lua"
SETUP = ROOT / "scripts" / "setup-neovim.sh"


def nvim() -> str:
    """``nvim``, installed by scripts/setup-neovim.sh (apt-get) when it is missing."""
    found = shutil.which("nvim")
    if found:
        return found
    setup = subprocess.run([str(SETUP)], capture_output=True, text=True, timeout=600)
    found = shutil.which("nvim")
    if found:
        return found
    why = (setup.stderr.strip().splitlines() or ["no output"])[-1]
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"nvim is missing and {SETUP.relative_to(ROOT)} could not install it: {why}")
    pytest.skip(f"nvim is missing and {SETUP.relative_to(ROOT)} could not install it: {why}")


def test_neovim_gets_diagnostics_hover_completion_and_incremental_edits(tmp_path: Path) -> None:
    exe = nvim()
    config = tmp_path / "quant.cfg"
    text = (ROOT / "examples" / "quant.cfg").read_text(encoding="utf-8")
    config.write_text(text, encoding="utf-8")
    out = tmp_path / "result.json"
    hover_line = text.splitlines().index("      num_of_bins: 4096")
    env = dict(
        os.environ,
        KVCAL_NVIM_CMD=json.dumps([sys.executable, "-m", "kvcal.server", "lsp", "--stdio"]),
        KVCAL_NVIM_FILE=str(config),
        KVCAL_NVIM_OUT=str(out),
        KVCAL_NVIM_HOVER=f"{hover_line},8",
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [exe, "--headless", "--clean", "-u", "NONE", "-c", f"luafile {SCRIPT}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert out.exists(), f"nvim wrote no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["ok"], result["message"] + "\n" + proc.stderr
    assert proc.returncode == 0

    def codes(published: dict) -> list[tuple[int, int, str]]:
        return sorted(
            (d["range"]["start"]["line"], d["range"]["start"]["character"], d["code"]) for d in published["diagnostics"]
        )

    def expected(source: str) -> list[tuple[int, int, str]]:
        index = LineIndex(source)
        problems = check(source, path=config)
        return sorted((*index.utf16_position(p.start), p.code) for p in problems)

    # The example names sample data that is not there: the server says so on the header.
    first = codes(result["first"])
    assert [c for c in first if c[2] != "sample-data"] == expected(text)
    assert (0, 14, "sample-data") in first
    assert "**num_of_bins**" in result["hover"] and "1024, 2048, 4096, 8192" in result["hover"]
    assert "kv_cache_quant_config" in result["completion"] or "activation_offset" in result["completion"]
    after = result["text"]
    assert after == text + "activation_ofset: false\n"
    assert [c for c in codes(result["after"]) if c[2] != "sample-data"] == expected(after)
    assert any(c[2] == "unknown-field" and c[0] == len(text.splitlines()) for c in codes(result["after"]))


def run_nvim(tmp_path: Path, document: Path, hover: tuple[int, int]) -> dict:
    exe = nvim()
    out = tmp_path / "result.json"
    env = dict(
        os.environ,
        KVCAL_NVIM_CMD=json.dumps([sys.executable, "-m", "kvcal.server", "lsp", "--stdio"]),
        KVCAL_NVIM_FILE=str(document),
        KVCAL_NVIM_OUT=str(out),
        KVCAL_NVIM_HOVER=f"{hover[0]},{hover[1]}",
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
    )
    proc = subprocess.run(
        [exe, "--headless", "--clean", "-u", "NONE", "-c", f"luafile {SCRIPT}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        cwd=tmp_path,
    )
    assert out.exists(), f"nvim wrote no result (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    result = json.loads(out.read_text())
    assert result["ok"], result["message"] + "\n" + proc.stderr
    return result


def test_neovim_checks_a_txtpb_against_the_proto_its_header_names(tmp_path: Path) -> None:
    shutil.copy(ROOT / "tests" / "data" / "schemas" / "open.proto", tmp_path / "open.proto")
    doc = tmp_path / "job.txtpb"
    doc.write_text(
        "# proto-file: open.proto\n# proto-message: acme.v3.Job\nkind: BATCH\nretries: x\n", encoding="utf-8"
    )
    result = run_nvim(tmp_path, doc, (3, 2))
    first = [(d["range"]["start"]["line"], d["code"]) for d in result["first"]["diagnostics"]]
    assert first == [(3, "type")]  # 'retries' is an int32 in open.proto: the user's schema is checked
    assert "**retries**" in result["hover"] and "int32" in result["hover"]
    assert {"priority", "ids"} <= set(result["completion"])
    after = [(d["range"]["start"]["line"], d["code"]) for d in result["after"]["diagnostics"]]
    assert (4, "unknown-field") in after  # the typed 'activation_ofset' is no field of acme.v3.Job
