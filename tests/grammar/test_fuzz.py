"""Arbitrary text and bytes never raise, and parsing stays linear in the input size."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kvcal.grammar import analyze, parse_bytes, resolve
from kvcal.grammar.formatter import FormatError, format_text
from kvcal.grammar.schema import kv_schema

KV = kv_schema()

ALPHABET = st.sampled_from([*"{}<>[]:;,'\"#-./\\ \n\tabcxyz019_eE", "\x00", "é", "\ufeff"])
EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "quant.cfg").read_text(encoding="utf-8")


@settings(max_examples=400, deadline=None)
@given(st.text(ALPHABET, max_size=200))
def test_any_text_never_raises(text: str) -> None:
    analysis = analyze(text, schema=KV)
    resolve(text)
    for p in analysis.problems:
        assert 0 <= p.start <= p.end <= len(text), p
    try:
        format_text(text)
    except FormatError:
        assert any(p.code == "syntax" for p in analysis.problems)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_never_raise(data: bytes) -> None:
    result = parse_bytes(data)
    assert result.text is not None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(EXAMPLE)), st.integers(0, 40), st.text(ALPHABET, max_size=10))
def test_edits_of_the_example_never_raise(at: int, cut: int, insert: str) -> None:
    text = EXAMPLE[:at] + insert + EXAMPLE[at + cut :]
    analysis = analyze(text, schema=KV)
    assert all(0 <= p.start <= p.end <= len(text) for p in analysis.problems)


def _time(text: str) -> float:
    start = time.perf_counter()
    analyze(text, schema=KV)
    return time.perf_counter() - start


def test_parse_time_is_linear_and_a_megabyte_is_fine() -> None:
    unit = EXAMPLE.replace("model.layers.0.self_attn.k_proj", "k")
    small = unit * 40
    big = unit * 400
    t_small, t_big = _time(small), _time(big)
    # 10x the input may cost at most ~25x the time (noise allowance), never quadratic (100x).
    assert t_big < 25 * t_small + 0.5, (t_small, t_big)
    # Broken text (unclosed blocks, unterminated strings, garbage) is linear too; 1 MB of it
    # is timed in benchmarks/bench_grammar.py.
    line = "a { b: 'x @@ }" + " }" * 3 + "\n"
    t_small, t_big = _time(line * 2_000), _time(line * 20_000)
    assert t_big < 25 * t_small + 0.5, (t_small, t_big)
