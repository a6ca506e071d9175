"""Differential tests against protobuf's own ``text_format.Merge`` (what AMCT runs).

On generated and mutated configs: whenever protobuf rejects a file, kvcal reports an
error; whenever protobuf accepts it, the plans kvcal resolves equal the plans resolved
(independently, from spec §1.1) from protobuf's message.
"""

from __future__ import annotations

import math

from google.protobuf import text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcal.grammar import analyze, resolve_analysis, schema
from kvcal.grammar.schema import kv_schema
from tests.grammar.amct_reference import plans_from_kvcal, plans_from_message

KV = kv_schema()

LAYERS = ["k0", "v0", "model.layers.1.self_attn.k_proj", "l'q", 'd"q', "é"]
FLOATS = [
    "0.7",
    "1.3",
    "0.01",
    ".5",
    "1.",
    "1e-2",
    "2.5f",
    "0.999999",
    "1",
    "0",
    "-0.2",
    "inf",
    "-inf",
    "nan",
    "1e50",
    "0x10",
    "3",
    "0.9",
    "1.1",
    "01",
    "1abc",
    "-",
    "1.2.3",
    "- 1",
]
INTS = ["1", "2", "0", "4096", "1024", "3000", "8192", "0x800", "010", "-1", "4294967296", "1.5", "true", "-0"]
BOOLS = ["true", "false", "t", "f", "1", "0", "True", "False", "yes", "TRUE", "2"]
GRANS = ["per_tensor", "per_channel", "0", "1", "2", "per_chanel", "0x1", "-1"]


def quoted(name: str) -> st.SearchStrategy[str]:
    def q(quote: str) -> str:
        body = name.replace("\\", "\\\\").replace(quote, "\\" + quote)
        return quote + body + quote

    return st.sampled_from([q("'"), q('"')])


@st.composite
def block(draw: st.DrawFn, name: str, body: str) -> str:
    colon = draw(st.sampled_from(["", ":", ": "]))
    open_, close = draw(st.sampled_from([("{", "}"), ("<", ">")]))
    sep = draw(st.sampled_from(["", "", ",", ";"]))
    return f"{name}{colon} {open_}\n{body}\n{close}{sep}"


@st.composite
def scalar(draw: st.DrawFn, name: str, values: list[str]) -> str:
    sep = draw(st.sampled_from(["", "", ",", ";"]))
    colon = draw(st.sampled_from([":", ": ", ":", ""]))
    comment = draw(st.sampled_from(["", "", "  # note"]))
    return f"{name}{colon} {draw(st.sampled_from(values))}{sep}{comment}"


@st.composite
def algo(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["ifmr_quantize", "hfmg_quantize", "ifmr_quantize", "bogus_quantize"]))
    fields = []
    if kind == "ifmr_quantize":
        pool = [
            ("search_range_start", FLOATS),
            ("search_range_end", FLOATS),
            ("search_step", FLOATS),
            ("max_percentile", FLOATS),
            ("min_percentile", FLOATS),
            ("asymmetric", BOOLS),
            ("quant_granularity", GRANS),
        ]
    else:
        pool = [("num_of_bins", INTS), ("asymmetric", BOOLS), ("quant_granularity", GRANS)]
    for fname, values in draw(st.lists(st.sampled_from(pool), max_size=4)):
        fields.append(draw(scalar(fname, values)))
    return draw(block(kind, "\n".join(fields)))


@st.composite
def calibration(draw: st.DrawFn, name: str) -> str:
    return draw(block(name, "\n".join(draw(st.lists(algo(), max_size=2)))))


@st.composite
def config(draw: st.DrawFn) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 2))):
        parts.append(draw(scalar("batch_num", INTS)))
    if draw(st.booleans()):
        parts.append(draw(scalar("activation_offset", BOOLS)))
    for _ in range(draw(st.integers(0, 2))):
        inner = [f"quant_layers: {draw(quoted(n))}" for n in draw(st.lists(st.sampled_from(LAYERS), max_size=3))]
        if draw(st.booleans()):
            inner.append(draw(calibration("calibration_config")))
        parts.append(draw(block("kv_cache_quant_config", "\n".join(inner))))
    for _ in range(draw(st.integers(0, 3))):
        inner = []
        if draw(st.integers(0, 5)):
            inner.append(f"layer_name: {draw(quoted(draw(st.sampled_from(LAYERS))))}")
        if draw(st.booleans()):
            inner.append(draw(calibration("kv_data_quant_config")))
        parts.append(draw(block("override_layers_configs", "\n".join(inner))))
    draw(st.randoms()).shuffle(parts)
    return "\n".join(parts) + "\n"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(config())
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["delete", "insert", "replace"]))
        ch = draw(st.sampled_from(list("{}<>[]:;,'\"#-. \nax0")))
        if op == "delete":
            text = text[:i] + text[i + 1 :]
        elif op == "insert":
            text = text[:i] + ch + text[i:]
        else:
            text = text[:i] + ch + text[i + 1 :]
    return text


def protobuf_parse(text: str):
    msg = schema.message_class()()
    try:
        text_format.Merge(text, msg)
    except text_format.ParseError:
        return None
    return msg


def same(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.keys() != y.keys():
            return False
        for k in x:
            u, v = x[k], y[k]
            if isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v):
                continue
            if u != v:
                return False
    return True


def assert_agrees(text: str) -> None:
    msg = protobuf_parse(text)
    analysis = analyze(text, schema=KV)
    if msg is None:
        assert analysis.has_errors, f"protobuf rejects this file but kvcal reports no error:\n{text}"
        return
    ours = plans_from_kvcal(resolve_analysis(analysis))
    theirs = plans_from_message(msg)
    assert same(ours, theirs), f"resolved plans differ\n{text}\nkvcal: {ours}\nprotobuf: {theirs}"


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(config())
def test_generated_configs_agree_with_protobuf(text: str) -> None:
    assert_agrees(text)


@SETTINGS
@given(mutated())
def test_mutated_configs_agree_with_protobuf(text: str) -> None:
    assert_agrees(text)


def test_examples_agree_with_protobuf() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for path in [*sorted((root / "examples").glob("*.cfg")), *sorted((root / "tests/data/check").glob("*.cfg"))]:
        assert_agrees(path.read_text(encoding="utf-8"))
