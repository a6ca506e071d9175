"""parse + check against protobuf's text_format.Merge on the same text, same run.

Prints a Markdown table (figures for docs/benchmarks.md): the manual's example, a
1,000-line and a 10,000-line config; re-checking a 1,000-line file after an edit; and
1 MB of broken text. Ratio = kvcal / Merge (below 1.0: kvcal is faster).
Run: python benchmarks/bench_grammar.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configs import MANUAL, big_config
from google.protobuf import text_format
from google.protobuf.internal import api_implementation

from kvcal.grammar import analyze, schema


def timeit(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cls = schema.message_class()
    print(f"protobuf {api_implementation.Type()} backend; python {sys.version.split()[0]}; median of {args.repeat}\n")
    print("| input | lines | kvcal parse+check (ms) | protobuf Merge (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    for label, text in (("manual example", MANUAL), ("1,000-line config", big_config(1000)),
                        ("10,000-line config", big_config(10_000))):  # fmt: skip
        assert not analyze(text).has_errors
        ours = timeit(lambda t=text: analyze(t), args.repeat)
        theirs = timeit(lambda t=text: text_format.Merge(t, cls()), args.repeat)
        print(f"| {label} | {text.count(chr(10))} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {ours / theirs:.2f} |")

    text = big_config(1000)
    lines = text.splitlines(keepends=True)
    edits = []
    for i in range(20):  # change a value in the middle of the file, re-check the whole file
        j = len(lines) // 2 + i
        edited = [*lines[:j], lines[j].replace("0.01", f"0.0{i % 9 + 1}"), *lines[j + 1:]]
        edits.append("".join(edited))
    per_edit = []
    for t in edits:
        start = time.perf_counter()
        analyze(t)
        per_edit.append(time.perf_counter() - start)
    per_edit.sort()
    print(f"\nre-check a 1,000-line file after an edit: p50 {per_edit[len(per_edit) // 2] * 1e3:.1f} ms, "
          f"p95 {per_edit[int(len(per_edit) * 0.95) - 1] * 1e3:.1f} ms (goal < 20 ms)")  # fmt: skip
    broken = ("a { b: 'x @@ }" + " }" * 3 + "\n") * 50_000
    start = time.perf_counter()
    problems = len(analyze(broken).problems)
    print(f"1 MB of broken text ({len(broken) / 1e6:.2f} MB, {problems} diagnostics): "
          f"{time.perf_counter() - start:.2f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
