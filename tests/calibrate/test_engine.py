"""calibrate(): a whole config on sample data — factors, quality, progress, cancel."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from kvcal.calibrate import (
    CalibrationCancelled,
    HfmgObserver,
    IfmrObserver,
    PlanError,
    calibrate,
    open_samples,
)
from kvcal.calibrate.results.quality import measure
from kvcal.grammar.plan import HfmgParams, IfmrParams, LayerPlan

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path: Path, layers: dict[str, list[torch.Tensor]]) -> Path:
    path = tmp_path / "s.safetensors"
    save_file({f"{k}/{i}": t.contiguous() for k, ts in layers.items() for i, t in enumerate(ts)}, str(path))
    return path


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, dict[str, list[torch.Tensor]]]:
    g = torch.Generator().manual_seed(7)
    layers = {f"l{i}": [torch.randn(2, 32, 6, generator=g) * (i + 1) for _ in range(2)] for i in range(3)}
    return write(tmp_path, layers), layers


def test_factors_are_the_observers(data) -> None:
    path, layers = data
    plans = [
        LayerPlan("l0", "ifmr", "per_channel", True, 2),
        LayerPlan("l1", "hfmg", "per_tensor", False, 2),
        LayerPlan("l2", "hfmg", "per_channel", True, 1, hfmg=HfmgParams(1024)),
    ]
    result = calibrate(plans, path)
    assert [r.layer_name for r in result.layers] == ["l0", "l1", "l2"]
    for plan, r in zip(plans, result.layers, strict=True):
        cls = IfmrObserver if plan.algorithm == "ifmr" else HfmgObserver
        obs = cls(plan.params, per_channel=plan.per_channel, with_offset=plan.with_offset)  # type: ignore[arg-type]
        for b in layers[plan.layer_name][: plan.batch_num]:
            obs.observe(b)
        f = obs.compute()
        assert torch.equal(r.factors.scale, f.scale) and torch.equal(r.factors.offset, f.offset)
        assert len(r.factors) == (6 if plan.per_channel else 1)
        assert r.quality.other_algorithm == ("hfmg" if plan.algorithm == "ifmr" else "ifmr")
        assert r.values == 2 * 32 * 6 * plan.batch_num


def test_quality_closed_form() -> None:
    # values on the grid of the factors: no error at all
    from kvcal.calibrate.factors import factors_from_scale_offset

    f = factors_from_scale_offset(torch.tensor([0.5]), torch.tensor([0.0]))
    x = torch.tensor([[-1.0, 0.0, 0.5, 63.5]])
    m = measure(x, f)
    assert m.mse == 0.0 and m.sqnr_db == math.inf and m.clipped_fraction == 0.0
    # one value beyond the range: clipped, error known
    x = torch.tensor([[0.0, 100.0]])
    m = measure(x, f)
    assert m.clipped_fraction == 0.5
    assert m.max_abs_err == pytest.approx(100.0 - 63.5)
    assert m.mse == pytest.approx((100.0 - 63.5) ** 2 / 2)
    assert m.sqnr_db == pytest.approx(10 * math.log10(100.0**2 / (100.0 - 63.5) ** 2))


def test_quality_compares_with_minmax_and_the_other_algorithm(data) -> None:
    path, _ = data
    r = calibrate([LayerPlan("l1", "ifmr", batch_num=2)], path).layers[0]
    q = r.quality
    assert q.sqnr_db == q.chosen.sqnr_db and q.mse == q.chosen.mse
    assert q.minmax.clipped_fraction == 0.0  # min-max never clips
    assert q.vs_minmax_db == pytest.approx(q.chosen.sqnr_db - q.minmax.sqnr_db)
    assert q.vs_other_db == pytest.approx(q.chosen.sqnr_db - q.other.sqnr_db)


def test_progress_and_cancel(data) -> None:
    path, _ = data
    plans = [LayerPlan(f"l{i}", "ifmr", batch_num=2) for i in range(3)]
    seen: list[tuple[str, int, int]] = []
    calibrate(plans, path, progress=lambda *a: seen.append(a))
    assert seen == [("l0", 0, 3), ("l1", 1, 3), ("l2", 2, 3)]
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    with pytest.raises(CalibrationCancelled):
        calibrate(plans, path, cancel=cancel)


def test_accepts_an_opened_source_and_runs_from_a_thread(data) -> None:
    import threading

    path, _ = data
    out = {}
    with open_samples(path) as source:
        t = threading.Thread(target=lambda: out.setdefault("r", calibrate([LayerPlan("l0", "hfmg")], source)))
        t.start()
        t.join()
    assert out["r"].layers[0].layer_name == "l0"


def test_bad_plans(data) -> None:
    path, _ = data
    with pytest.raises(PlanError, match="batch_num"):
        calibrate([LayerPlan("l0", "ifmr", batch_num=0)], path)
    with pytest.raises(PlanError, match="min_percentile"):
        calibrate([LayerPlan("l0", "ifmr", ifmr=IfmrParams(min_percentile=-0.5))], path)
    with pytest.raises(PlanError, match="no candidate"):
        calibrate([LayerPlan("l0", "ifmr", ifmr=IfmrParams(search_range_start=1.0, search_range_end=1.0))], path)


def test_bundled_example_runs(tmp_path: Path) -> None:
    from kvcal.grammar import resolve

    plans = resolve((EXAMPLE / "quant.cfg").read_text())
    result = calibrate(plans, EXAMPLE / "kv_samples.safetensors")
    assert len(result.layers) == 4
    k0 = result.layers[0]
    assert k0.plan.per_channel and len(k0.factors) == 192
    assert all(math.isfinite(r.quality.sqnr_db) and r.quality.sqnr_db > 20 for r in result.layers)
    d = result.to_dict()
    assert d["layers"][0]["layer"] == k0.layer_name and len(d["layers"][0]["scale"]) == 192


def test_bundled_samples_cover_the_example_config() -> None:
    from kvcal.grammar import resolve

    plans = resolve((EXAMPLE / "quant.cfg").read_text())
    with open_samples(EXAMPLE / "kv_samples.safetensors") as source:
        for plan in plans:
            source.check_count(plan.layer_name, plan.batch_num)
            shapes = [source.batch(plan.layer_name, i).shape for i in range(plan.batch_num)]
            assert [s[-1] for s in shapes] == [192] * plan.batch_num
