"""The VS Code extension: its node unit tests, and the end-to-end test in a real VS Code.

The end-to-end test (tests/editor/vscode_e2e.js) runs code-server 4.100.3 driven by Debian's
Chromium through playwright-core, with the extension built from vscode-client/ and the real
`kvcal lsp` from this checkout's .venv. scripts/setup-editor-tests.sh installs what it needs
(idempotent; well under a second once done).

When the tools cannot be installed (no network, no root for apt-get), the tests fail with the
reason under CI=true and are skipped with the reason otherwise: a skip is never a silent pass.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "vscode-client"
SETUP = REPO / "scripts" / "setup-editor-tests.sh"
HARNESS = Path(__file__).with_name("vscode_e2e.js")
VSIX = REPO / "build" / "vscode" / "kvcal.vsix"
SCREENSHOTS = REPO / "build" / "editor-test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason}\n(CI=true: the editor tests must run in CI, so this is a failure, not a skip)")
    pytest.skip(reason)


def _setup(*args: str) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        _unavailable("node and npm are not installed: the VS Code extension cannot be built or tested")
    result = subprocess.run([str(SETUP), *args], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        _unavailable(f"{' '.join(['scripts/setup-editor-tests.sh', *args])} failed:\n{result.stderr[-4000:]}")


def _run(cmd: list[str], *, cwd: Path = REPO, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def client_modules() -> None:
    """vscode-client/node_modules (npm ci from the lock file)."""
    _setup("--client")


@pytest.fixture(scope="session")
def editor_tools(client_modules: None) -> None:
    """Chromium, code-server and playwright-core as well."""
    _setup()


@pytest.fixture(scope="session")
def vsix(client_modules: None) -> Path:
    """The packaged extension, built once per session (`npm run package`)."""
    result = _run(["npm", "run", "package"], cwd=CLIENT, timeout=300)
    assert result.returncode == 0, f"npm run package failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert VSIX.is_file()
    return VSIX


def test_extension_unit_tests(client_modules: None) -> None:
    """Type check plus node --test: command resolution, settings, result rendering, grammar, manifest."""
    result = _run(["npm", "test"], cwd=CLIENT, timeout=300)
    assert result.returncode == 0, f"npm test failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
    assert "# fail 0" in result.stdout


def _harness(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return _run(["node", str(HARNESS), *args], timeout=timeout)


def _report(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit status {result.returncode}\n--- stderr ---\n{result.stderr[-8000:]}\n--- stdout ---\n{result.stdout[-4000:]}"


@pytest.mark.slow
def test_vscode_end_to_end(editor_tools: None, vsix: Path) -> None:
    """(a) Problems panel shows a kvcal code, (b) the status bar shows the sample data and hover
    shows field docs, (c) completion offers schema fields, (d) Calibrate shows per-layer results,
    (s) a .txtpb is checked against the workspace's .proto its header names (Problems, status
    bar, hover), (p) a post-training .cfg opened as Properties is served, Select Schema writes
    its header, setup.cfg is left alone: in code-server, against the real server."""
    result = _harness("--vsix", str(vsix), "--out", str(SCREENSHOTS), timeout=600)
    assert result.returncode == 0, (
        f"the VS Code end-to-end test failed (screenshots in {SCREENSHOTS}):\n{_report(result)}"
    )
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["passed"] and all(summary["results"][c]["ok"] for c in "abcdsp")
    for name in (
        "a-problems",
        "b-hover",
        "c-completion",
        "d-calibrate",
        "s-schema-tooltip",
        "s-schema-problems",
        "s-schema-hover",
        "p-setup-cfg",
        "p-ptq-status",
        "p-select-schema",
        "p-header-written",
    ):
        assert (SCREENSHOTS / f"{name}.png").is_file(), name


@pytest.mark.slow
def test_vscode_end_to_end_fails_with_a_broken_server(editor_tools: None, vsix: Path, tmp_path: Path) -> None:
    """The harness is not a rubber stamp: with a server command that cannot start it fails (a),
    VS Code shows the extension's "could not start" notification with the fix, and (r) pointing
    kvcal.server.command at the real server restarts it without reloading the window."""
    broken = [str(REPO / ".venv" / "bin" / "no-such-python"), "-m", "kvcal.server", "lsp"]
    args = ["--vsix", str(vsix), "--out", str(tmp_path), "--checks", "a,r", "--timeout-ms", "6000"]
    result = _harness(*args, "--server-command", json.dumps(broken), timeout=300)
    assert result.returncode == 1, f"expected the harness to report a failure:\n{_report(result)}"
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"].startswith("$(error)"), results["status"]
    assert results["a"]["ok"] is False
    shown = "\n".join(results["a"].get("notifications", []))
    assert "kvcal language server could not start" in shown, _report(result)
    assert "command not found" in shown and "pip install kvcal" in shown, shown
    assert results["r"]["ok"] is True, _report(result)
