"""`kvcal check / format / explain` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quant.cfg"


def kvcal(*args: str, stdin: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kvcal.server", *args], input=stdin, capture_output=True, text=True, timeout=60, cwd=cwd
    )


def test_check_clean_example_exits_0() -> None:
    r = kvcal("check", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    # its sample data (a header whose size byte is 0x80, like a pickle's first byte) is read;
    # it has no schema header: a note on line 1 says it was recognised as a KV-cache config
    assert [line.rsplit("[", 1)[-1] for line in r.stdout.splitlines()] == ["schema]", "precedence]"]
    assert "1:1: information: checked as AMCT KV-cache quantization config" in r.stdout


def test_check_text_format_and_exit_1(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("batch_num: 0\nkv_cache_quant_config { quant_layers: 'a' }\n")
    r = kvcal("check", str(cfg))
    assert r.returncode == 1
    assert f"{cfg}:1:12: error: batch_num must be greater than 0" in r.stdout
    assert r.stdout.rstrip().endswith("[batch-num]")


def test_check_json(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("kv_cache_quant_config { quant_layers: 'a' }\nbatch_nmu: 1\n")
    r = kvcal("check", "--format", "json", "--message", "AMCTQuantCaliConfig", str(cfg))
    assert r.returncode == 1
    (item,) = json.loads(r.stdout)
    assert item == {
        "path": str(cfg),
        "line": 2,
        "column": 1,
        "end_line": 2,
        "end_column": 10,
        "severity": "error",
        "code": "unknown-field",
        "message": item["message"],
    }
    assert "did you mean 'batch_num'" in item["message"]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert kvcal("check", str(tmp_path / "missing.cfg")).returncode == 2
    assert kvcal("check").returncode == 2
    assert kvcal("nonsense").returncode == 2


def test_format_in_place_check_and_diff(tmp_path: Path) -> None:
    cfg = tmp_path / "q.cfg"
    original = "# keep me\nbatch_num:2 # and me\nkv_cache_quant_config<quant_layers:'a'>\n"
    cfg.write_text(original)
    r = kvcal("format", "--check", str(cfg))
    assert r.returncode == 1 and cfg.read_text() == original
    r = kvcal("format", "--diff", str(cfg))
    assert r.returncode == 1 and "+batch_num: 2  # and me" in r.stdout and cfg.read_text() == original
    r = kvcal("format", str(cfg))
    assert r.returncode == 0
    assert cfg.read_text() == "# keep me\nbatch_num: 2  # and me\nkv_cache_quant_config {\n  quant_layers: 'a'\n}\n"
    assert kvcal("format", "--check", str(cfg)).returncode == 0


def test_format_refuses_syntax_errors_and_keeps_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text("a {\n")
    r = kvcal("format", str(cfg))
    assert r.returncode == 1 and f"{cfg}:1:3: error:" in r.stderr and "nothing was changed" in r.stderr
    assert cfg.read_text() == "a {\n"


def test_format_of_stdin_honours_check_and_diff() -> None:
    r = kvcal("format", "--check", "-", stdin="batch_num:2\n")
    assert r.returncode == 1 and r.stdout == "" and "would reformat <stdin>" in r.stderr
    r = kvcal("format", "--diff", "-", stdin="batch_num:2\n")
    assert r.returncode == 1 and "+batch_num: 2" in r.stdout
    assert kvcal("format", "--check", "-", stdin="batch_num: 2\n").returncode == 0
    assert kvcal("format", "-", stdin="batch_num:2\n").stdout == "batch_num: 2\n"


def test_format_writes_through_links_and_refuses_read_only_files(tmp_path: Path) -> None:
    import os

    real = tmp_path / "real.cfg"
    real.write_text("batch_num:2\r\n")
    link = tmp_path / "link.cfg"
    link.symlink_to(real)
    assert kvcal("format", str(link)).returncode == 0
    assert link.is_symlink() and real.read_bytes() == b"batch_num: 2\r\n"  # its CRLF kept
    locked = tmp_path / "locked.cfg"
    locked.write_text("batch_num:2\n")
    locked.chmod(0o444)
    r = kvcal("format", str(locked))
    assert r.returncode == 2 and "read-only" in r.stderr and locked.read_text() == "batch_num:2\n"
    assert os.stat(locked).st_mode & 0o777 == 0o444


def test_check_and_sample_data(tmp_path: Path) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text("# kvcal: data=nowhere/kv.safetensors\nkv_cache_quant_config { quant_layers: 'a' }\n")
    r = kvcal("check", "--data", str(tmp_path / "none.safetensors"), str(cfg))
    assert r.returncode == 2 and "--data" in r.stderr and "none.safetensors" in r.stderr
    r = kvcal("check", "--format", "json", "--message", "AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig", str(cfg))
    (item,) = json.loads(r.stdout)  # the header's missing file is a diagnostic, in the JSON too
    assert (item["code"], item["severity"], item["line"], item["column"]) == ("sample-data", "warning", 1, 15)
    assert str(tmp_path / "nowhere" / "kv.safetensors") in item["message"] and r.returncode == 0
    import torch

    pt = tmp_path / "kv.pt"
    torch.save({"a/0": torch.zeros(2, 2)}, pt)
    r = kvcal("check", "--data", str(pt), str(cfg))
    assert r.returncode == 2 and "a torch .pt file" in r.stderr


def test_explain_table_and_amct_json() -> None:
    r = kvcal("explain", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "model.layers.0.self_attn.k_proj  IFMR       per_channel" in r.stdout
    r = kvcal("explain", "--format", "amct-json", str(EXAMPLE))
    data = json.loads(r.stdout)
    assert data["batch_num"] == 2
    assert data["model.layers.0.self_attn.v_proj"]["kv_data_quant_config"]["act_algo"] == "hfmg"


def test_explain_refuses_a_config_with_errors(tmp_path: Path) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(
        "kv_cache_quant_config { quant_layers: 'a' calibration_config { ifmr_quantize {} hfmg_quantize {} } }"
    )
    r = kvcal("explain", str(cfg))
    assert r.returncode == 1 and "[oneof-conflict]" in r.stderr


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    from kvcal.server import __version__

    assert __version__ == version("kvcal")
    out = kvcal("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"kvcal {version('kvcal')}"


def test_capture_and_evaluate_refuse_bad_options_before_any_work(tmp_path: Path) -> None:
    for args, says in [
        (["capture", "--batch-num", "0", "--out", str(tmp_path / "x.safetensors")], "at least 1"),
        (["capture", "--threads", "0", "--out", str(tmp_path / "x.safetensors")], "at least 1"),
        (["capture", "--tokens", "1", "--out", str(tmp_path / "x.safetensors")], "at least 2"),
        (["evaluate", str(EXAMPLE), "--window", "x"], "not a whole number"),
        (["evaluate", str(EXAMPLE), "--plot", str(tmp_path / "p.txt")], "ending in .png"),
        (["evaluate", str(EXAMPLE), "--plot", str(tmp_path)], "is a directory"),
    ]:
        r = kvcal(*args)
        assert r.returncode == 2 and says in r.stderr, (args, r.stderr)
    assert not (tmp_path / "x.safetensors").exists()


SCHEMAS = ROOT / "tests" / "data" / "schemas"
BROKEN_RUN = 'name: "a"\nsmall: 99999999999\nspeed: MEDIUM\nhost: "h" port: 3\n'


def test_a_users_schema_by_option_checks_like_protobuf_and_schema_says_why(tmp_path: Path) -> None:
    run = tmp_path / "run.txtpb"
    run.write_text(BROKEN_RUN)
    proto = str(SCHEMAS / "acme.proto")
    r = kvcal("check", "--proto", proto, "--message", "acme.Experiment", str(run))
    assert r.returncode == 1, r.stderr
    codes = [(line.split(":")[1], line.rsplit("[", 1)[-1]) for line in r.stdout.splitlines()]
    assert codes == [("2", "type]"), ("3", "enum-value]"), ("4", "oneof-conflict]")]
    r = kvcal("schema", "--proto", proto, "--message", "Experiment", str(run))
    assert r.returncode == 0 and "acme.Experiment" in r.stdout and "explicit: --proto/--message" in r.stdout
    assert f"proto: {SCHEMAS / 'acme.proto'}" in r.stdout
    r = kvcal("explain", "--proto", proto, "--message", "acme.Experiment", str(run))
    assert r.returncode == 1 and "protobuf would reject or misread this file" in r.stderr  # (no AMCT file)
    r = kvcal("check", "--proto", str(tmp_path / "nope.proto"), "--message", "X", str(run))
    assert r.returncode == 2 and "nope.proto does not exist" in r.stderr


def test_a_header_path_is_looked_up_from_the_folder_the_command_runs_in(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "acme.proto").write_text((SCHEMAS / "acme.proto").read_text())
    (tmp_path / "runs").mkdir()
    run = tmp_path / "runs" / "r.txtpb"
    run.write_text("# proto-file: protos/acme.proto\n# proto-message: Experiment\n" + BROKEN_RUN)
    elsewhere = kvcal("check", str(run))  # from the repository: no protos/acme.proto there
    assert elsewhere.returncode == 1 and "cannot find protos/acme.proto" in elsewhere.stdout
    here = kvcal("check", "runs/r.txtpb", cwd=tmp_path)
    assert here.returncode == 1, here.stderr
    assert [line.rsplit("[", 1)[-1] for line in here.stdout.splitlines()] == ["type]", "enum-value]", "oneof-conflict]"]


def test_format_indent_option(tmp_path: Path) -> None:
    cfg = tmp_path / "a.txtpb"
    cfg.write_text("a { b { c: 1 } }\n")
    r = kvcal("format", "--indent", "4", str(cfg))
    assert r.returncode == 0 and cfg.read_text() == "a {\n    b {\n        c: 1\n    }\n}\n"
    r = kvcal("format", "--indent", "tab", "-", stdin="a { b: 1 }\n")
    assert r.stdout == "a {\n\tb: 1\n}\n"
    r = kvcal("format", "--indent", "0", str(cfg))
    assert r.returncode == 2 and "--indent" in r.stderr
