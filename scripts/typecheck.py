"""Run mypy (strict, configured in pyproject.toml) on the kvcal packages.

The repository maps its folders onto the ``kvcal`` namespace at install time
(``grammar/`` is ``kvcal.grammar``, …: ``[tool.setuptools.package-dir]``), which an editable
install resolves with an import hook that mypy does not run. So this script lays the same
mapping out as links under ``build/typecheck/kvcal/`` and points mypy there.

    python scripts/typecheck.py            # the packages make test checks
    python scripts/typecheck.py -- --no-incremental   # extra mypy arguments after --
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("grammar", "calibrate", "server")


def main(argv: list[str]) -> int:
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    tree = ROOT / "build" / "typecheck" / "kvcal"
    tree.mkdir(parents=True, exist_ok=True)
    for name in PACKAGES:
        link = tree / name
        if not link.is_symlink():
            if link.exists():
                link.unlink()
            link.symlink_to(ROOT / name, target_is_directory=True)
    env = dict(os.environ, MYPYPATH=str(tree.parent))
    command = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        *(arg for name in PACKAGES for arg in ("-p", f"kvcal.{name}")),
        *extra,
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
