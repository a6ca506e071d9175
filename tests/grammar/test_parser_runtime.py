"""What the fast paths must not change: the nodes' types, the garbage collector's state, threads."""

from __future__ import annotations

import dataclasses
import gc
import sys
import threading
from pathlib import Path

import pytest

from kvcal.grammar import analyze, parse
from kvcal.grammar.syntax.tree import Field, Message, Name, Scalar, Span

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from configs import big_config  # noqa: E402


def test_parsed_nodes_are_the_tree_dataclasses() -> None:
    tree = parse("a { b: 1 }; c: 'x'").tree
    field = tree.fields[0]
    assert type(field) is Field and type(field.name) is Name and type(field.value) is Message
    assert type(field.value.open) is Span and type(tree.fields[1].value) is Scalar
    assert dataclasses.is_dataclass(field) and not hasattr(field, "__dict__")  # slotted
    rebuilt = Field(Name("a", "plain", 0, 1), field.value, 0, 11, None, Span(10, 11))
    assert field == rebuilt and repr(field) == repr(rebuilt)


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        analyze("a { b: 1 ")  # with errors
        assert gc.isenabled() is enabled
        analyze(big_config(200))
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_parses_in_threads_agree_with_parses_in_sequence() -> None:
    texts = [big_config(300), "a { b: 1 >\nc: 'x\n", "k: [1, 2 } @@ x", big_config(120).replace("{", "<", 3)]
    expected = [analyze(t).problems for t in texts]
    results: dict[tuple[int, int], tuple] = {}

    def work(worker: int) -> None:
        for round_ in range(5):
            for i, t in enumerate(texts):
                results[(worker, round_ * len(texts) + i)] = analyze(t).problems

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for (_, n), problems in results.items():
        assert problems == expected[n % len(texts)]
    assert len(results) == 4 * 5 * len(texts)
