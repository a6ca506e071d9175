"""No traceback, ever: inputs that once ended in one get a diagnostic or a one-line error.

Integers of thousands of digits, lists inside lists, millions of IFMR candidates, data
that overflows only the other algorithm's arithmetic, control characters in layer names;
then random bytes and random structures through every command that reads a config.
"""

from __future__ import annotations

import contextlib
import io
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvcal.server.cli import main

ROOT = Path(__file__).resolve().parents[2]
LAYER = "model.layers.0.self_attn.k_proj"
IFMR = "kv_cache_quant_config {{ quant_layers: '{layer}' calibration_config {{ ifmr_quantize {{ {body} }} }} }}\n"


def run(*args: str) -> tuple[int, str, str]:
    """`kvcal ARGS` in this process: an exception is a test failure, not an exit code."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def one_line_each(text: str) -> None:
    """Every line a message: no control character but the line break, no traceback."""
    assert "Traceback" not in text
    for line in text.splitlines():
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]", line), repr(line)


# -- integers of thousands of digits ---------------------------------------------------------------

HUGE = ["9" * 5000, "-" + "9" * 5000, "9" * 400, "0x" + "f" * 400, "0" + "7" * 5000, "1" + "0" * 1001]


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize(
    "field",
    [
        "batch_num: {}\n",
        "activation_offset: {}\n",
        IFMR.format(layer=LAYER, body="search_range_start: {}"),
        IFMR.format(layer=LAYER, body="quant_granularity: {}"),
        "kv_cache_quant_config {{ quant_layers: 'a' calibration_config {{ hfmg_quantize {{ num_of_bins: {} }} }} }}\n",
    ],
)
def test_integers_of_thousands_of_digits(tmp_path: Path, number: str, field: str) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(field.replace("{}", number).replace("{{", "{").replace("}}", "}"))
    for command in ("check", "explain"):
        rc, out, err = run(command, str(cfg))
        assert rc == 1, (out, err)
        one_line_each(out + err)
        # the number is shortened, not printed whole (the schema note on line 1 does not show it)
        assert max(len(line) for line in (out + err).splitlines() if "[schema]" not in line) < 400
    rc, out, err = run("format", "--check", str(cfg))
    assert rc in (0, 1) and "Traceback" not in err


# -- lists inside lists in format ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a: [[1], 2]\n",
        "kv_cache_quant_config { quant_layers: [['a']] }\n",
        "a: [{b: [[1]]}]\n",
        "a: [<b: 1>, [2]]\n",
        "a: [<b: 1>, 2]\n",
        "a: [1, {b: 2}]\n",
        "a: [[[[[]]]]]\n",
    ],
)
def test_format_of_lists_inside_lists(tmp_path: Path, text: str) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(text)
    for args in (("format", str(cfg)), ("format", "--check", str(cfg)), ("format", "--diff", str(cfg))):
        rc, _out, err = run(*args)
        assert rc == 1 and "protobuf's text format has none" in err and err.count("\n") == 1, err
    assert cfg.read_text() == text


# -- IFMR search ranges with millions of candidates --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "severity"),
    [
        ("search_step: 0.0001", "warning"),  # 6,000: beyond Ascend's 4,096
        ("search_step: 0.0000001", "error"),  # 6 million
        ("search_step: 1e-30", "error"),
        ("search_range_start: 1e-30 search_range_end: 3e38 search_step: 1e-30", "error"),
    ],
)
def test_millions_of_ifmr_candidates_are_an_error(tmp_path: Path, body: str, severity: str) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(IFMR.format(layer=LAYER, body=body))
    rc, out, err = run("check", str(cfg))
    assert f"{severity}: " in out and "clip ratios to search" in out and "[search-step]" in out, out
    assert rc == (1 if severity == "error" else 0)
    one_line_each(out + err)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def test_the_engine_refuses_millions_of_candidates_before_allocating() -> None:
    code = """
import torch
from kvcal.calibrate import calibrate_layer, PlanError
from kvcal.grammar.plan import IfmrParams, LayerPlan
plan = LayerPlan('L', 'ifmr', 'per_channel', True, 1, ifmr=IfmrParams(search_step=1e-9))
try:
    calibrate_layer(plan, [torch.randn(64, 512)])
except PlanError as exc:
    print('refused:', exc)
"""
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory
    )
    assert r.returncode == 0 and "refused:" in r.stdout and "clip ratios" in r.stdout, r.stderr[-2000:]


# -- data that overflows only the other algorithm --------------------------------------------------


def _samples(path: Path, low: float, high: float) -> Path:
    import torch
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    x = torch.where(torch.rand(2, 64, 4, generator=g) < 0.5, torch.full((), low), torch.full((), high))
    save_file({f"{LAYER}/0": x[0].contiguous(), f"{LAYER}/1": x[1].contiguous()}, str(path))
    return path


@pytest.mark.parametrize("algorithm", ["ifmr", "hfmg"])
@pytest.mark.parametrize("granularity", ["per_tensor", "per_channel"])
@pytest.mark.parametrize("extreme", [1e36, 1.7e38, 3e38])
def test_overflow_messages_name_the_configured_algorithm(
    tmp_path: Path, algorithm: str, granularity: str, extreme: float
) -> None:
    data = _samples(tmp_path / "kv.safetensors", -extreme, extreme)
    cfg = tmp_path / "q.cfg"
    cfg.write_text(
        f"batch_num: 2\nkv_cache_quant_config {{ quant_layers: '{LAYER}' calibration_config {{ "
        f"{algorithm}_quantize {{ quant_granularity: {granularity} }} }} }}\n"
    )
    rc, out, err = run("calibrate", str(cfg), "--data", str(data))
    one_line_each(out + err)
    other = "hfmg" if algorithm == "ifmr" else "ifmr"
    if rc == 0:  # the configured algorithm ran: a failing comparison is a warning naming both
        for line in err.splitlines():
            if other.upper() in line:
                assert algorithm.upper() in line and "no comparison" in line, line
    else:
        assert rc == 1 and algorithm.upper() in err and other.upper() not in err, err


# -- control characters in layer names ---------------------------------------------------------------

NASTY = ["a\\nb", "a\\x1b[31mb", "a\\x07", "tab\\there", "cr\\rx", "a\\u2028b", "a\\x7fb", "\\x1b]0;title\\x07"]


@pytest.mark.parametrize("escaped", NASTY)
def test_control_characters_in_layer_names_are_escaped_in_every_message(tmp_path: Path, escaped: str) -> None:
    import torch
    from safetensors.torch import save_file

    name = escaped.encode().decode("unicode_escape")
    save_file({f"{name}x/0": torch.randn(4, 8), "other\x1b[2J/0": torch.randn(4, 8)}, str(tmp_path / "kv.safetensors"))
    cfg = tmp_path / "q.cfg"
    cfg.write_text(
        "# kvcal: data=kv.safetensors\nbatch_num: 1\n"
        f'kv_cache_quant_config {{ quant_layers: "{escaped}" quant_layers: "{escaped}" '
        f'quant_layers: " {escaped}" }}\n'
        f'override_layers_configs {{ layer_name: "{escaped}" }}\n'
    )
    for args in (
        ["check", str(cfg)],
        ["check", "--format", "json", str(cfg)],
        ["explain", str(cfg)],
        ["calibrate", str(cfg)],
    ):
        rc, out, err = run(*args)
        assert rc in (1, 2), (args, out, err)
        one_line_each(out + err)
    cfg.write_text(
        f'# kvcal: data=kv.safetensors\nbatch_num: 1\nkv_cache_quant_config {{ quant_layers: "{escaped}x" }}\n'
    )
    rc, out, err = run("calibrate", str(cfg), "--record", str(tmp_path / "r.txt"))
    assert rc == 0, err
    one_line_each(out + err)
    rc, out, err = run("explain", str(cfg))
    assert rc == 0
    one_line_each(out + err)


# -- random bytes and random structures --------------------------------------------------------------


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_random_bytes_through_every_config_command(tmp_path: Path, data: bytes) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_bytes(data)
    for args in (
        ["check", str(cfg)],
        ["check", "--format", "json", str(cfg)],
        ["format", "--diff", str(cfg)],
        ["explain", str(cfg)],
        ["explain", "--format", "amct-json", str(cfg)],
    ):
        rc, _out, _err = run(*args)
        assert rc in (0, 1, 2), (args, rc)


NAMES = st.sampled_from(
    [
        "batch_num",
        "kv_cache_quant_config",
        "quant_layers",
        "calibration_config",
        "ifmr_quantize",
        "hfmg_quantize",
        "search_range_start",
        "search_step",
        "num_of_bins",
        "quant_granularity",
        "override_layers_configs",
        "layer_name",
        "kv_data_quant_config",
        "activation_offset",
        "x",
    ]
)
SCALARS = st.one_of(
    st.sampled_from(
        [
            "1",
            "-1",
            "0",
            "0.5",
            "1e3",
            "-inf",
            "nan",
            "per_channel",
            "true",
            "0x1F",
            "017",
            "'a'",
            '"b\\n"',
            "'\\x1b[31m'",
            "1e-30",
            "1e400",
            "-0",
        ]
    ),
    st.integers(0, 6000).map(lambda n: "9" * n),
)


def _field(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    lists = st.lists(children, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
    blocks = st.lists(children, max_size=3).map(lambda items: "{ " + " ".join(items) + " }")
    return st.tuples(NAMES, st.one_of(SCALARS, lists, blocks)).map(lambda nv: f"{nv[0]}: {nv[1]}")


STRUCTURES = st.recursive(SCALARS.map(lambda s: f"x: {s}"), _field, max_leaves=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.lists(STRUCTURES, max_size=4), nest=st.integers(0, 300))
def test_random_structures_through_every_config_command(tmp_path: Path, fields: list[str], nest: int) -> None:
    text = "\n".join(fields) + "\n" + "a { " * nest + "b: [[1]]" + " }" * nest + "\n"
    cfg = tmp_path / "q.cfg"
    cfg.write_text(text)
    for args in (["check", str(cfg)], ["format", "--check", str(cfg)], ["explain", str(cfg)]):
        rc, _out, err = run(*args)
        assert rc in (0, 1, 2), (args, rc)
        one_line_each(err)


def test_the_progress_bar_escapes_layer_names() -> None:
    from kvcal.server.commands.calibrate import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar.enabled = True  # (as on a terminal)
    bar("a\x1b[2Jb\nc", 0, 2)
    assert "\x1b" not in stream.getvalue() and "\n" not in stream.getvalue()
