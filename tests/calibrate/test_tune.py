"""kvcal tune's search on synthetic activations: the folds never calibrate on what they
measure, the held-out proxy rejects a setting that only wins on its own calibration data,
the confirmation prefers the simpler config within noise, and the written config passes
``kvcal check`` and resolves back to the chosen settings."""

from __future__ import annotations

import math

import pytest
import torch

from kvcal.calibrate.model.evaluate import fake_quantize
from kvcal.calibrate.model.intervals import WindowScores
from kvcal.calibrate.model.tune import (
    AMCT_DEFAULT,
    FAMILIES,
    Setting,
    _calibrate,
    kind_of,
    make_folds,
    param_variants,
    tune,
)
from kvcal.calibrate.model.tuned_config import config_text, evidence_lines, report
from kvcal.grammar import HfmgParams, IfmrParams, LayerPlan, analyze, check, resolve

TEXTS, WINDOWS, TOKENS, CHANNELS = 3, 4, 64, 8
WINDOW_TEXT = [t for t in range(TEXTS) for _ in range(WINDOWS)]
LAYERS = ["l.0.k_proj", "l.0.v_proj", "l.1.k_proj", "l.1.v_proj"]


def synthetic() -> dict[str, list[torch.Tensor]]:
    """Keys: in every text, channel 7 has two spikes of +-40 per window (an outlier channel):
    one scale for the tensor spends its resolution on them, one per channel pays.
    Values: each text has its own loud channel (text t: channel t at 10x), so per-channel
    ranges fitted on the other texts clip the held-out text's loud channel."""
    gen = torch.Generator().manual_seed(0)
    acts: dict[str, list[torch.Tensor]] = {n: [] for n in LAYERS}
    for t in WINDOW_TEXT:
        value_scale = torch.full((CHANNELS,), 0.3)
        value_scale[t] = 10.0
        for n in LAYERS:
            if kind_of(n) == "k_proj":
                x = torch.randn(TOKENS, CHANNELS, generator=gen)
                x[5, 7], x[40, 7] = 40.0, -40.0
            else:
                x = torch.randn(TOKENS, CHANNELS, generator=gen) * value_scale
            acts[n].append(x)
    return acts


def baseline() -> WindowScores:
    return WindowScores(
        tuple(3.0 * (TOKENS - 1) for _ in WINDOW_TEXT), (TOKENS - 1,) * len(WINDOW_TEXT), tuple(WINDOW_TEXT)
    )


def test_folds_hold_each_window_out_once_and_never_calibrate_on_it() -> None:
    folds = make_folds(WINDOW_TEXT, 2, ["a", "b", "c"])
    assert [f.name for f in folds] == ["held out: a", "held out: b", "held out: c"]
    assert sorted(w for f in folds for w in f.held_out) == list(range(len(WINDOW_TEXT)))
    for f in folds:
        used = {w for b in f.batches for w in b}
        assert not used & set(f.held_out)
        assert len(f.batches) == 2 and all(len({WINDOW_TEXT[w] for w in b}) == len(b) == 2 for b in f.batches)
    one = make_folds([0] * 9, 2)
    assert [f.held_out for f in one] == [(0, 1, 2), (3, 4, 5), (6, 7, 8)]
    assert all(not {w for b in f.batches for w in b} & set(f.held_out) for f in one)
    with pytest.raises(ValueError, match="batch_num 5 needs 5"):
        make_folds(WINDOW_TEXT, 5)
    with pytest.raises(ValueError, match="cannot be split into folds"):
        make_folds([0, 0], 2)


def relative_error(setting: Setting, windows: list[torch.Tensor], fit: list[int], measure: list[int]) -> float:
    f = _calibrate(setting, windows, [(w,) for w in fit])
    x = torch.stack([windows[w] for w in measure])
    return float(((x - fake_quantize(x, f.scale, f.offset)) ** 2).sum() / (x**2).sum())


def test_the_held_out_proxy_rejects_what_only_wins_on_its_own_data() -> None:
    acts = synthetic()
    result = tune(acts, WINDOW_TEXT, baseline(), None, batch_num=2, text_names=["a", "b", "c"])
    chosen = result.chosen.settings
    assert all(chosen[n].per_channel for n in LAYERS if kind_of(n) == "k_proj")
    assert not any(chosen[n].per_channel for n in LAYERS if kind_of(n) == "v_proj")
    # in-sample (calibrated and measured on the same windows) per_channel values look better:
    # only the held-out split shows that they do not carry over to another text
    pc, pt = Setting("hfmg", "per_channel", True), Setting("hfmg", "per_tensor", True)
    v, everything = acts["l.0.v_proj"], list(range(len(WINDOW_TEXT)))
    assert relative_error(pc, v, everything, everything) < relative_error(pt, v, everything, everything)
    assert relative_error(pc, v, [4, 8], [0, 1, 2, 3]) > relative_error(pt, v, [4, 8], [0, 1, 2, 3])
    table = {row["setting"]: row for row in result.kinds["v_proj"]}
    assert table[pt]["db"] > table[pc]["db"]
    assert len(result.kinds["k_proj"]) - len(FAMILIES) in (2, 3)  # the families and the variants of the best


def nll_from(penalty: dict[str, float]) -> object:
    """A stand-in model: a window's NLL grows by penalty[layer kind + granularity] per token."""

    def nll(factors: dict, which: list[int]) -> list[float]:
        extra = sum(
            penalty.get(f"{kind_of(n)} {'per_channel' if len(f) > 1 else 'per_tensor'}", 0.0)
            for n, f in factors.items()
        )
        return [3.0 * (TOKENS - 1) + extra * (TOKENS - 1) * (1 + 0.01 * (w % 3)) for w in which]

    return nll


def test_the_confirmation_prefers_the_simpler_config_within_noise() -> None:
    acts = synthetic()
    same = tune(acts, WINDOW_TEXT, baseline(), nll_from({}), batch_num=2, variants=False)  # type: ignore[arg-type]
    assert same.chosen.complexity() == (1, 0)  # nothing to tell them apart: one setting, per_tensor
    assert len(same.finalists) >= 3 and all(f.scores is not None for f in same.finalists)
    # per_tensor keys cost 0.002 nats a token per layer: the per-kind config pays off
    costly = tune(
        acts,
        WINDOW_TEXT,
        baseline(),
        nll_from({"k_proj per_tensor": 0.002}),
        batch_num=2,  # type: ignore[arg-type]
        variants=False,
    )
    assert costly.chosen.label.startswith("per kind: ")
    assert all(s.per_channel == (kind_of(n) == "k_proj") for n, s in costly.chosen.settings.items())
    # every finalist above the limit on some text: the limit cannot be met, the best still wins
    strict = tune(
        acts,
        WINDOW_TEXT,
        baseline(),
        nll_from({"v_proj per_tensor": 0.05}),
        batch_num=2,  # type: ignore[arg-type]
        variants=False,
        limit=0.01,
    )
    assert strict.chosen is min(strict.finalists, key=lambda f: f.scores.perplexity())  # type: ignore[union-attr]


def essentials(p: LayerPlan) -> tuple:
    return p.algorithm, p.granularity, p.with_offset, p.batch_num, p.ifmr, p.hfmg


MIXED = {
    "model.layers.0.self_attn.k_proj": Setting("hfmg", "per_channel", True, hfmg=HfmgParams(8192)),
    "model.layers.0.self_attn.v_proj": Setting("hfmg", "per_tensor", False),
    "model.layers.1.self_attn.k_proj": Setting(
        "ifmr", "per_channel", False, ifmr=IfmrParams(search_range_start=0.5, search_range_end=1.3)
    ),
    "model.layers.1.self_attn.v_proj": Setting("hfmg", "per_tensor", False),
    "model.layers.2.self_attn.v_proj": AMCT_DEFAULT,
}


@pytest.mark.parametrize("settings", [MIXED, dict.fromkeys(MIXED, AMCT_DEFAULT)], ids=["mixed", "one"])
def test_the_written_config_passes_check_and_resolves_to_the_settings(settings: dict[str, Setting]) -> None:
    text = config_text(settings, 3, ["a comment", "", "evidence: +0.1 % [-0.2, +0.3]"])
    header = "# proto-file: quant_calibration_config_pytorch.proto\n# proto-message: AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig\n"
    assert text.startswith(header + "# a comment\n#\n# evidence")  # the schema header pins the file's schema
    assert analyze(text).resolution.how == "header"
    assert [p for p in check(text) if p.severity == "error"] == []
    plans = {p.layer_name: p for p in resolve(text)}
    assert list(plans) == list(settings) or set(plans) == set(settings)
    for name, s in settings.items():
        assert essentials(plans[name]) == essentials(s.plan(name, 3)), name
    assert text.count("override_layers_configs") == (3 if settings is MIXED else 0)


def test_every_candidate_setting_is_expressible() -> None:
    every = list(FAMILIES) + [v for f in FAMILIES for v in param_variants(f)]
    settings = {f"model.layers.{i}.self_attn.k_proj": s for i, s in enumerate(every)}
    text = config_text(settings, 2)
    assert [p for p in check(text) if p.severity == "error"] == []
    assert {p.layer_name: essentials(p) for p in resolve(text)} == {
        n: essentials(s.plan(n, 2)) for n, s in settings.items()
    }


def test_the_evidence_and_the_report() -> None:
    acts = synthetic()
    result = tune(
        acts,
        WINDOW_TEXT,
        baseline(),
        nll_from({"k_proj per_tensor": 0.002}),
        batch_num=2,  # type: ignore[arg-type]
        text_names=["a", "b", "c"],
        variants=False,
    )
    lines = evidence_lines(result)
    assert lines[0].startswith("Held-out perplexity change of the finalists")
    assert sum("[CHOSEN]" in line for line in lines) == 1
    assert any(line.startswith("k_proj: held-out SQNR") for line in lines)
    rep = report(result, {"model": "toy"})
    assert rep["model"] == "toy" and len(rep["folds"]) == 3
    chosen = [f for f in rep["finalists"] if f["chosen"]]
    assert len(chosen) == 1 and set(chosen[0]["texts"]) == {"a", "b", "c"}
    assert math.isclose(chosen[0]["delta"]["estimate"], result.delta(result.chosen), rel_tol=1e-9)
