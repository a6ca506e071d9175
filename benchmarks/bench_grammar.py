"""parse + check against protobuf's text_format.Merge on the same text, same run.

Prints a Markdown table (figures for docs/benchmarks.md): the manual's example, a
1,000-line and a 10,000-line config; where kvcal's time goes (parse, check); re-checking
a 1,000-line file after an edit; a 5,000-line analyze (the language server's budget);
1 MB of broken text; and the import time of kvcal.grammar.
Ratio = kvcal / Merge (below 1.0: kvcal is faster). The two are timed in alternation
(ABBA) and the ratio is the median of the per-pair ratios, so that load from other jobs
on the machine hits both alike.
Run: python benchmarks/bench_grammar.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from configs import GENERIC_MESSAGE, GENERIC_PROTO, MANUAL, big_config, generic_text
from google.protobuf import text_format
from google.protobuf.internal import api_implementation

from kvcal.grammar import analyze, parse, schema


def _once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired(ours: Callable[[], object], theirs: Callable[[], object], repeat: int) -> tuple[float, float, float]:
    """Medians of both and of the per-pair ratio, timed in alternation."""
    ours(), theirs()  # warm up
    a, b, ratios = [], [], []
    for i in range(repeat):
        if i % 2:
            y, x = _once(theirs), _once(ours)
        else:
            x, y = _once(ours), _once(theirs)
        a.append(x)
        b.append(y)
        ratios.append(x / y)
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()
    return statistics.median(_once(fn) for _ in range(repeat))


def import_time(runs: int = 7) -> float:
    """Fastest of *runs* fresh interpreters: `import kvcal.grammar`, as -X importtime reports it,
    with compiled bytecode as an installed kvcal has it (cached under a temporary folder,
    after one warm-up run, even where PYTHONDONTWRITEBYTECODE is set)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        command = [sys.executable, "-X", "importtime", "-c", "import kvcal.grammar"]
        best = float("inf")
        for _ in range(runs + 1):  # the first run compiles
            out = subprocess.run(command, capture_output=True, text=True, check=True, env=env).stderr
            line = next(row for row in out.splitlines() if row.rstrip().endswith("| kvcal.grammar"))
            best = min(best, int(line.split("|")[1]) / 1e6)
    return best


def generic(repeat: int) -> None:
    """A user's schema (a proto2 message with every kind of field) compiled by protoc: the
    check of a 10,000-line text against protobuf's Merge with the same descriptor pool, the
    schema named by the header (its resolution included) or by options."""
    from kvcal.grammar.schema.resolution import SchemaOptions, explicit_schema

    root = Path(__file__).resolve().parents[1]
    target = explicit_schema(root / GENERIC_PROTO, GENERIC_MESSAGE)
    cls = target.message_class()
    print(f"\nA generic schema ({GENERIC_MESSAGE}, {GENERIC_PROTO}):\n")
    print("| input | lines | kvcal parse+check (ms) | protobuf Merge (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    header = f"# proto-file: {Path(GENERIC_PROTO).name}\n# proto-message: {GENERIC_MESSAGE}\n"
    options = SchemaOptions(proto_path=((root / GENERIC_PROTO).parent,))
    for size in (1000, 10_000):
        body = generic_text(size)
        text = header + body
        assert not analyze(text, options=options).has_errors
        ours, theirs, ratio = paired(
            lambda t=text: analyze(t, options=options),
            lambda t=body: text_format.Merge(t, cls(), descriptor_pool=target.set.pool),
            repeat,
        )
        print(
            f"| {size:,}-line text, schema by header | {text.count(chr(10))} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {ratio:.2f} |"
        )
        ours, theirs, ratio = paired(
            lambda t=body: analyze(t, schema=target),
            lambda t=body: text_format.Merge(t, cls(), descriptor_pool=target.set.pool),
            repeat,
        )
        print(
            f"| {size:,}-line text, schema given | {body.count(chr(10))} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {ratio:.2f} |"
        )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    cls = schema.message_class()
    print(
        f"protobuf {api_implementation.Type()} backend; python {sys.version.split()[0]}; "
        f"median of {args.repeat}, alternating\n"
    )
    print("| input | lines | kvcal parse+check (ms) | protobuf Merge (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    inputs = (
        ("manual example", MANUAL),
        ("1,000-line config", big_config(1000)),
        ("10,000-line config", big_config(10_000)),
    )
    split = []
    for label, text in inputs:
        assert not analyze(text).has_errors
        repeat = args.repeat * (5 if len(text) < 1000 else 1)
        ours, theirs, ratio = paired(lambda t=text: analyze(t), lambda t=text: text_format.Merge(t, cls()), repeat)
        print(f"| {label} | {text.count(chr(10))} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} | {ratio:.2f} |")
        parsed = parse(text)
        split.append(
            (label, median_time(lambda t=text: parse(t), repeat), median_time(lambda p=parsed: analyze(p), repeat))
        )
    print()
    for label, p, c in split:
        print(f"- {label}: parse {p * 1e3:.2f} ms, check {c * 1e3:.2f} ms")

    generic(args.repeat)

    text = big_config(1000)
    lines = text.splitlines(keepends=True)
    edits = []
    for i in range(20):  # change a value in the middle of the file, re-check the whole file
        j = len(lines) // 2 + i
        edited = [*lines[:j], lines[j].replace("0.01", f"0.0{i % 9 + 1}"), *lines[j + 1 :]]
        edits.append("".join(edited))
    analyze(edits[-1])
    per_edit = sorted(_once(lambda t=t: analyze(t)) for t in edits)
    print(
        f"\nre-check a 1,000-line file after an edit: p50 {per_edit[len(per_edit) // 2] * 1e3:.1f} ms, "
        f"p95 {per_edit[int(len(per_edit) * 0.95) - 1] * 1e3:.1f} ms (goal < 20 ms)"
    )
    five = big_config(5000)
    ours, theirs, _ = paired(lambda: analyze(five), lambda: text_format.Merge(five, cls()), args.repeat)
    print(
        f"analyze a 5,000-line config: {ours * 1e3:.1f} ms (goal well under 50 ms; protobuf Merge: {theirs * 1e3:.1f} ms)"
    )
    broken = ("a { b: 'x @@ }" + " }" * 3 + "\n") * 50_000
    start = time.perf_counter()
    problems = len(analyze(broken).problems)
    print(
        f"1 MB of broken text ({len(broken) / 1e6:.2f} MB, {problems} diagnostics): {time.perf_counter() - start:.2f} s"
    )
    print("pathological brackets, parse time at n and 4n (linear: the ratio stays near 4):")
    for label, make in (
        ("unclosed '{'", lambda n: "a {\n" * n),
        ("stray '}'", lambda n: "a: 1\n" + "}\n" * n),
        ("'{' closed by '>'", lambda n: "a {\n" * n + ">\n" * n),
        ("lists closed by '}'", lambda n: "a { b: [1\n" * n + "}\n" * n),
    ):
        texts = [make(n) for n in (5_000, 20_000)]
        small, large = (_once(lambda t=t: parse(t)) for t in texts)
        print(f"- {label}: n=5,000 {small * 1e3:.0f} ms, n=20,000 {large * 1e3:.0f} ms (x{large / small:.1f})")
    print(f"import kvcal.grammar: {import_time() * 1e3:.0f} ms (fastest of 7 fresh interpreters, -X importtime)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
