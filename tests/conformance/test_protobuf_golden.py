"""protobuf's own text-format golden data against protobuf's own test schemas: clean when
protobuf's parser accepts it, the same verdict and the same line when it does not, with
the schema given by options or by the text format's header."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvcal.grammar import check
from kvcal.grammar.schema.resolution import SchemaOptions
from kvcal.grammar.text import LineIndex
from tests.conformance.protobuf_data import (
    GOLDEN,
    SRC,
    TESTDATA,
    Golden,
    protobuf_verdict,
    require_data,
    schema,
)


def _lines(text: str, problems: list) -> list[int]:
    index = LineIndex(text)
    return [index.position(p.start)[0] + 1 for p in problems]


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda g: g.file)
def test_golden_data_by_options(golden: Golden) -> None:
    require_data()
    text = (TESTDATA / golden.file).read_text(encoding="utf-8")
    target = schema(golden.proto, golden.message)
    verdict = protobuf_verdict(text, target)
    assert verdict.ok == golden.valid, verdict.message
    problems = [p for p in check(text, schema=target) if p.severity in ("error", "warning")]
    if golden.valid:
        assert problems == [], problems[:5]
    else:
        errors = [p for p in problems if p.is_error]
        assert errors and verdict.line in _lines(text, errors), (verdict, errors)


@pytest.mark.parametrize("golden", [g for g in GOLDEN if g.valid], ids=lambda g: g.file)
def test_golden_data_by_header(golden: Golden, tmp_path: Path) -> None:
    require_data()
    body = (TESTDATA / golden.file).read_text(encoding="utf-8")
    doc = tmp_path / "data.txtpb"
    doc.write_text(f"# proto-file: {golden.proto}\n# proto-message: {golden.message}\n{body}", encoding="utf-8")
    options = SchemaOptions(proto_path=(SRC,))
    from kvcal.grammar import analyze

    analysis = analyze(doc.read_text(encoding="utf-8"), options=options, path=doc)
    assert analysis.resolution.how == "header" and analysis.schema is not None
    assert analysis.schema.name == golden.message
    assert [p for p in analysis.problems if p.severity in ("error", "warning")] == []
    # a short message name is found in the proto's package too
    short = golden.message.rpartition(".")[2]
    doc.write_text(f"# proto-file: {golden.proto}\n# proto-message: {short}\n{body}", encoding="utf-8")
    assert analyze(doc.read_text(encoding="utf-8"), options=options, path=doc).schema.name == golden.message
