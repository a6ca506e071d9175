"""``kvcal calibrate``: the bundled example end to end, and every way it refuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from kvcal.calibrate import calibrate, read_record
from kvcal.grammar import resolve
from kvcal.server.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def example(tmp_path: Path) -> Path:
    for name in ("quant.cfg", "kv_samples.safetensors"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    return tmp_path / "quant.cfg"


def test_example_writes_the_record_amct_would(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = example.parent / "out" / "record.txt"
    assert main(["calibrate", str(example), "--record", str(record), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "model.layers.0.self_attn.k_proj  IFMR  per_channel" in out
    assert "4 layer(s)" in out and f"record: {record}" in out
    # the header's data path was used, relative to the config
    want = calibrate(resolve(example.read_text()), example.parent / "kv_samples.safetensors")
    got = read_record(record)
    assert list(got) == [r.layer_name for r in want.layers]
    for r in want.layers:
        scales, offsets = got[r.layer_name]
        assert torch.equal(torch.tensor(scales), r.factors.scale) and offsets == r.factors.offset.tolist()
    # a second run updates the same file and says so
    assert main(["calibrate", str(example), "--record", str(record)]) == 0
    assert "replaced 4 layer(s)" in capsys.readouterr().out


def test_json_and_report(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rep = example.parent / "report"
    assert (
        main(
            [
                "calibrate",
                str(example),
                "--data",
                str(example.parent / "kv_samples.safetensors"),
                "--json",
                "--report",
                str(rep),
            ]
        )
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["record"] is None and data["report"] == str(rep / "report.md")
    assert [layer["algorithm"] for layer in data["layers"]] == ["ifmr", "hfmg", "hfmg", "hfmg"]
    k0 = data["layers"][0]
    assert {
        "scale",
        "offset",
        "clip_min",
        "clip_max",
        "sqnr_db",
        "mse",
        "vs_minmax_db",
        "vs_other_db",
        "symmetric",
        "other_algorithm",
    } <= set(k0)
    assert len(k0["scale"]) == len(k0["offset"]) == k0["channels"] == 192 and k0["symmetric"] is False
    assert all(isinstance(v, float) for v in k0["scale"]) and k0["other_algorithm"] == "hfmg"
    assert (rep / "report.md").exists() and len(list(rep.glob("*.png"))) == 4


def test_config_with_errors_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("batch_num: 0\nkv_cache_quant_config {\n  quant_layers: 'a'\n  bogus: 1\n}\n")
    record = tmp_path / "r.txt"
    assert (
        main(["calibrate", str(cfg), "--data", str(EXAMPLES / "kv_samples.safetensors"), "--record", str(record)]) == 1
    )
    err = capsys.readouterr().err
    assert f"{cfg}:1:" in err and "error:" in err and "[batch-num]" in err
    assert f"{cfg}:4:3: error:" in err and "[unknown-field]" in err
    assert not record.exists()


def test_no_data_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text("kv_cache_quant_config { quant_layers: 'a' }\n")
    assert main(["calibrate", str(cfg)]) == 2
    assert "--data" in capsys.readouterr().err


def test_a_header_naming_a_missing_file_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text("# kvcal: data=missing/kv.safetensors\nkv_cache_quant_config { quant_layers: 'a' }\n")
    assert main(["calibrate", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:1:15:" in err and "header" in err and str(tmp_path / "missing" / "kv.safetensors") in err
    assert main(["calibrate", str(cfg), "--replace"]) == 2
    assert "--record" in capsys.readouterr().err


def test_missing_layer_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "q.cfg"
    cfg.write_text(
        "kv_cache_quant_config {\n  quant_layers: 'model.layers.0.self_attn.k_proj'\n"
        "  quant_layers: 'model.layers.9.self_attn.k_proj'\n}\n"
    )
    record = tmp_path / "r.txt"
    rc = main(["calibrate", str(cfg), "--data", str(EXAMPLES / "kv_samples.safetensors"), "--record", str(record)])
    assert rc == 1
    err = capsys.readouterr().err
    assert "model.layers.9.self_attn.k_proj" in err and "the file holds" in err
    assert not record.exists()


def test_unwritable_record(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (example.parent / "file").write_text("")
    assert main(["calibrate", str(example), "--record", str(example.parent / "file" / "r.txt")]) == 1
    assert "cannot write the record file" in capsys.readouterr().err


def test_usage_errors(example: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["calibrate"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", str(example), "--device", "tpu"])
    assert exc.value.code == 2
    assert main(["calibrate", str(example.parent / "none.cfg")]) == 2
    if not torch.cuda.is_available():
        assert main(["calibrate", str(example), "--device", "cuda"]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err


def test_the_table_of_degenerate_layers_reads_plainly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import save_file

    cfg = tmp_path / "q.cfg"
    cfg.write_text(
        "batch_num: 1\nkv_cache_quant_config { quant_layers: 'z' quant_layers: 't'\n"
        "  calibration_config { hfmg_quantize { quant_granularity: per_channel } } }\n"
    )
    data = tmp_path / "d.safetensors"
    save_file({"z/0": torch.zeros(16, 4), "t/0": torch.randn(16, 4) * 1e-30}, str(data))
    assert main(["calibrate", str(cfg), "--data", str(data)]) == 0
    out, err = capsys.readouterr()
    zero = next(line for line in out.splitlines() if line.startswith("z "))
    assert "nan" not in zero and "-0" not in zero and "±0 dB" in zero and " 1 (4 ch) " in zero
    assert "layer 't': SQNR 0.0 dB" in err and "smallest scale" in err and "'z'" not in err
