"""protobuf's golden data, mutated at random (seeded), checked by kvcal and by protobuf's
own Python parser: the same verdict on every input, and the same place.

"The same place": kvcal reports an error on the line protobuf names (or the line before:
protobuf often names the token after a bad value), or it names the cause earlier — an
opening bracket that is never closed (protobuf only notices at the first field
that does not fit), or a field with no value (protobuf names the token after it).
Deliberate differences, each a warning or a note rather than an error, so the verdict
(error or not) still agrees: numbers and escapes only Python's parser reads (``1_000``,
``'\\q'``), an open enum's unknown number, a proto3 scalar given twice after a default.
One difference is protobuf's bug, not followed: its upb backend truncates an enum number
beyond int32 (``0x7FFFFFFFFFFFFFFF`` is read as -1, ``NEG``); kvcal reports it.
"""

from __future__ import annotations

import random

import pytest

from kvcal.grammar import check
from kvcal.grammar.text import LineIndex
from tests.conformance.protobuf_data import (
    GOLDEN,
    TESTDATA,
    Golden,
    protobuf_verdict,
    require_data,
    schema,
)

TOKENS = [
    "-1",
    "0x7FFFFFFFFFFFFFFF",
    "1.5",
    '"str"',
    "true",
    "FOO",
    "inf",
    "-",
    "1e999",
    "08",
    "0b1",
    "1_0",
    "'\\xff'",
    '"\\q"',
    "+5",
    "01.5",
    "nan",
    "-inf",
    "1f",
    ".5",
    "0x",
    "t",
    "True",
    "1e5",
    "'a' 'b'",
    "{}",
    "[1, 2]",
    "[]",
    "-0",
    "4294967296",
    "-2147483649",
    "18446744073709551616",
    "BAR",
    "0",
    "1",
    "f",
    "+inf",
    "'\\400'",
    "'\\u00e9'",
    "0o17",
    "1.0e",
    "-.5f",
]
PUNCT = list("{}<>[]:;,\"'#-./+ ")
CASES_PER_FILE = 150


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    line = lines[i]
    op = rng.randrange(6)
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, line)
    elif op == 2 and ":" in line:
        lines[i] = line.partition(":")[0] + ": " + rng.choice(TOKENS)
    elif op == 3 and line:
        j = rng.randrange(len(line))
        lines[i] = line[:j] + line[j + 1 :]
    elif op == 4:
        j = rng.randrange(len(line) + 1)
        lines[i] = line[:j] + rng.choice(PUNCT) + line[j:]
    elif line.strip():
        j = rng.randrange(len(line))
        lines[i] = line[:j] + rng.choice("abcxyz_") + line[j + 1 :]
    return "\n".join(lines)


def _truncated_enum(message: str) -> bool:
    number = message.partition(" has no value ")[2].partition(":")[0]
    try:
        return not -(2**31) <= int(number, 0) < 2**31
    except ValueError:
        return False


def _explains(problem_line: int, message: str, protobuf_line: int) -> bool:
    cause = "never closed" in message or "has no value" in message
    # protobuf often names the token after a bad value (it reads on before it complains)
    return problem_line in (protobuf_line, protobuf_line - 1) or (cause and problem_line <= protobuf_line)


@pytest.mark.parametrize("golden", [g for g in GOLDEN if g.valid], ids=lambda g: g.file)
def test_mutated_golden_data_gets_protobufs_verdict_at_the_same_place(golden: Golden) -> None:
    require_data()
    base = (TESTDATA / golden.file).read_text(encoding="utf-8")
    target = schema(golden.proto, golden.message)
    rng = random.Random(golden.file)
    disagreements = []
    for _ in range(CASES_PER_FILE):
        text = mutate(base, rng)
        verdict = protobuf_verdict(text, target)
        errors = [p for p in check(text, schema=target) if p.is_error]
        index = LineIndex(text)
        located = [(index.position(p.start)[0] + 1, p.message) for p in errors]
        if verdict.ok and errors and all(_truncated_enum(p.message) for p in errors):
            continue  # protobuf's truncation bug (see the module's docstring)
        if verdict.ok != (not errors):
            disagreements.append((verdict.message or "protobuf accepts it", located[:3], text))
        elif errors and verdict.line is not None and not any(_explains(n, m, verdict.line) for n, m in located):
            disagreements.append((verdict.message, located[:3], text))
    assert not disagreements, "\n\n".join(f"protobuf: {v}\nkvcal: {k}" for v, k, _ in disagreements[:5])
