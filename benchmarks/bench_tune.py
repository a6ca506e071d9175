"""Wall time of ``kvcal tune`` on the bundled model (SmolLM2-135M-Instruct), stage by stage.

    python benchmarks/bench_tune.py [--threads N] [--windows N]

Runs ``kvcal tune`` in a fresh process, as a user would (model loading included), with the
default tuning texts, and prints the total wall time, the time of each stage (from the
``--report``), the folds, the settings tried and the finalists. Figures are printed, not
asserted: they depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--windows", type=int, default=6, help="windows per tuning text (default 6)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        cfg, rep = Path(tmp) / "tuned.cfg", Path(tmp) / "report.json"
        cmd = [
            sys.executable,
            "-m",
            "kvcal.server",
            "tune",
            "--threads",
            str(args.threads),
            "--windows",
            str(args.windows),
            "--quiet",
            "--out",
            str(cfg),
            "--report",
            str(rep),
        ]
        t0 = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        report = json.loads(rep.read_text())
    stages = report["seconds"]
    windows = report["windows"]
    tried = {k: len(v) for k, v in report["kinds"].items()}
    print(f"kvcal tune on {report['model']}, {args.threads} thread(s)")
    print(f"  texts: {', '.join(f'{n} ({w} windows)' for n, w in windows.items())} of {report['window']} tokens")
    print(f"  folds: {len(report['folds'])}; settings tried per layer kind: {tried}")
    print(f"  finalists confirmed by perplexity: {len(report['finalists'])}")
    print(f"  wall time {wall:.1f} s (the command's own count: {report['wall_seconds']:.1f} s)")
    other = report["wall_seconds"] - sum(stages.values())
    for name, secs in [*stages.items(), ("model load + capture + writing", other)]:
        print(f"    {name:32s} {secs:7.1f} s")
    print(f"  chosen: {next(f['label'] for f in report['finalists'] if f['chosen'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
