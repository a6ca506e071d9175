"""Capture -> calibrate -> evaluate on the real bundled model (SmolLM2-135M-Instruct).

Kept small for CI on 2 cores: the example config's 4 layers, tens of tokens; the model is
loaded once per session (``bundled`` fixture, and ``load_model``'s cache for the CLI).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from kvcal.calibrate import calibrate, capture, write_record
from kvcal.calibrate.model.evaluate import as_fake_quant, fake_quantize, quantized
from kvcal.grammar import resolve
from kvcal.server.cli import main

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quant.cfg"
LAYERS = [f"model.layers.{i}.self_attn.{kv}_proj" for i in (0, 1) for kv in "kv"]


def test_the_bundled_model_is_smollm2(bundled: Any) -> None:
    cfg = bundled.model.config
    assert (cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.model_type) == (30, 3, "llama")
    assert "SmolLM2-135M-Instruct" in bundled.name
    assert bundled.tokenize("Rivers carve valleys.").dtype == torch.int64


def test_the_hook_applies_the_spec_formula_inside_the_model(bundled: Any) -> None:
    model, layer = bundled.model, "model.layers.3.self_attn.v_proj"
    ids = bundled.tokenize("A river carries sand and silt down to the sea.")[None]
    fq = as_fake_quant(layer, ([0.02], [-5]))
    with torch.inference_mode(), capture(model, [layer]) as plain:
        model(input_ids=ids)
    with torch.inference_mode(), quantized(model, {layer: fq}), capture(model, [layer]) as seen:
        model(input_ids=ids)
    (x,), (x_q,) = plain.batches(layer), seen.batches(layer)
    assert torch.equal(x_q, fake_quantize(x, fq.scale, fq.offset)) and not torch.equal(x_q, x)


def test_capture_calibrate_evaluate(bundled: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples, record = tmp_path / "kv.safetensors", tmp_path / "record.txt"
    assert main(["capture", "--config", str(EXAMPLE), "--tokens", "48", "--out", str(samples)]) == 0
    assert "4 layer(s) x 2 batch(es) of 48 tokens" in capsys.readouterr().out
    with safe_open(str(samples), "pt") as f:
        assert sorted(f.keys()) == sorted(f"{n}/{i}" for n in LAYERS for i in (0, 1))
        assert f.get_slice(f"{LAYERS[0]}/1").get_shape() == [1, 48, 192]

    plans = resolve(EXAMPLE.read_text())
    result = calibrate(plans, samples, device="cpu")
    write_record(record, result.factors_by_layer())
    assert len(result.layers[0].factors) == 192  # layer 0's keys: IFMR per_channel

    args = ["evaluate", str(EXAMPLE), "--record", str(record), "--tokens", "96", "--window", "48"]
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    base, (row,) = out["baseline_perplexity"], out["rows"]
    assert 2.0 < base < 500.0 and out["tokens"] == {"prose": 96, "docs": 96, "code": 96, "legal": 96}
    assert set(out["baseline_texts"]) == {"prose", "docs", "code", "legal"}
    assert row["interval"]["low"] <= row["delta_percent"] <= row["interval"]["high"]
    assert row["perplexity"] != base and abs(row["delta_percent"]) < 5.0
    assert set(row["sqnr_db"]) == set(LAYERS) and min(row["sqnr_db"].values()) > 20.0

    assert main(args) == 0
    text = capsys.readouterr().out
    assert "unquantized perplexity" in text and "model.layers.0.self_attn.k_proj  record" in text


def test_compare_every_setting(bundled: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "compare.png"
    args = [
        "evaluate",
        str(EXAMPLE),
        "--tokens",
        "64",
        "--window",
        "32",
        "--calib-tokens",
        "32",
        "--text",
        "@prose",
        "--compare",
        "--plot",
        str(png),
        "--json",
    ]
    assert main(args) == 0  # captures its own calibration data from calibration.txt
    out = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in out["rows"]][:3] == [
        "config (quant.cfg)",
        "min-max per_tensor symmetric",
        "min-max per_tensor asymmetric",
    ]
    assert len(out["rows"]) == 13 and out["calibration_data"] == "prose, docs, code (2 batch(es) of 3 x 32 tokens)"
    assert all(math.isfinite(r["perplexity"]) for r in out["rows"])
    assert out["best_within_1_percent"] in {r["name"] for r in out["rows"]} | {None}
    assert png.stat().st_size > 10_000


def test_capture_errors_name_what_to_fix(bundled: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "x.safetensors")
    assert main(["capture", "--layers", r"no_such_proj$", "--out", out]) == 1
    assert "no nn.Linear module of the model matches 'no_such_proj$'" in capsys.readouterr().err
    short = tmp_path / "short.txt"
    short.write_text("Too short.")
    assert main(["capture", "--text", str(short), "--batch-num", "2", "--out", out]) == 1
    assert f"{short}: the text has 3 tokens, 2 x 512 = 1024 are needed" in capsys.readouterr().err
    bad = tmp_path / "bad.cfg"
    bad.write_text("kv_cache_quant_config { quant_layers: 'model.layers.0.self_attn.q_norm' }\n")
    assert main(["evaluate", str(bad), "--record", str(tmp_path / "r.txt")]) == 1
    assert "'model.layers.0.self_attn.q_norm' are not nn.Linear modules" in capsys.readouterr().err


def test_a_local_transformers_model_directory(bundled: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--model DIR: a (tiny, random) Llama saved with save_pretrained, the bundled tokenizer."""
    import transformers

    config = transformers.LlamaConfig(
        vocab_size=len(bundled.tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path / "tiny")
    bundled.tokenizer.save_pretrained(tmp_path / "tiny")
    samples = tmp_path / "kv.safetensors"
    assert main(["capture", "--model", str(tmp_path / "tiny"), "--tokens", "16", "--out", str(samples)]) == 0
    assert "4 layer(s) x 1 batch(es) of 16 tokens" in capsys.readouterr().out
    cfg = tmp_path / "tiny.cfg"
    cfg.write_text("kv_cache_quant_config { quant_layers: 'model.layers.1.self_attn.v_proj' }\n")
    assert (
        main(
            [
                "evaluate",
                str(cfg),
                "--model",
                str(tmp_path / "tiny"),
                "--data",
                str(samples),
                "--tokens",
                "32",
                "--window",
                "16",
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == str(tmp_path / "tiny") and list(out["rows"][0]["sqnr_db"]) == [
        "model.layers.1.self_attn.v_proj"
    ]
