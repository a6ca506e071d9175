"""The same engine on a CUDA GPU gives the CPU's factors (skipped without a GPU).

On CUDA the float32 reductions run in another order, so a pick may differ from the CPU's
only where AMCT's own losses tie to float32's last bits (docs/calibration.md, "Parity").
"""

from __future__ import annotations

import pytest
import torch

from kvcal.calibrate import HfmgObserver, IfmrObserver, calibrate
from kvcal.grammar.plan import HfmgParams, IfmrParams
from tests.calibrate import reference as ref

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def run(cls, params, batches, per_channel, with_offset, device):
    obs = cls(params, per_channel=per_channel, with_offset=with_offset, device=device)
    for b in batches:
        obs.observe(b)
    return obs.compute().cpu()


def cases():
    g = torch.Generator().manual_seed(0)
    yield [torch.randn(4, 64, 32, generator=g) for _ in range(2)], True
    yield [torch.randn(50_000, generator=g) * 3 + 1], False
    yield [torch.randn(2, 20_000, 3, generator=g) * torch.tensor([1.0, 40.0, 0.01])], True
    yield [(torch.rand(300_000, generator=g) ** 4).half()], False
    yield [torch.randn(1000, generator=g), torch.randn(1000, generator=g) * 5], False


@pytest.mark.parametrize("with_offset", [True, False])
def test_ifmr_on_cuda_matches_the_cpu(with_offset: bool) -> None:
    for batches, per_channel in cases():
        cpu = run(IfmrObserver, IfmrParams(), batches, per_channel, with_offset, "cpu")
        gpu = run(IfmrObserver, IfmrParams(), batches, per_channel, with_offset, "cuda")
        if torch.equal(cpu.scale, gpu.scale) and torch.equal(cpu.offset, gpu.offset):
            continue
        _, _, losses = ref.ifmr(batches, IfmrParams(), per_channel, with_offset)
        for i in range(len(cpu)):
            if cpu.scale[i] != gpu.scale[i]:
                # both picks must tie in AMCT's own (CPU) losses
                lo = sorted(losses[i])[:2]
                assert lo[1] == pytest.approx(lo[0], rel=2e-6)


@pytest.mark.parametrize("with_offset", [True, False])
def test_hfmg_on_cuda_matches_the_cpu(with_offset: bool) -> None:
    for batches, per_channel in cases():
        cpu = run(HfmgObserver, HfmgParams(), batches, per_channel, with_offset, "cpu")
        gpu = run(HfmgObserver, HfmgParams(), batches, per_channel, with_offset, "cuda")
        assert torch.allclose(cpu.scale, gpu.scale, rtol=1e-6, atol=0)
        assert torch.equal(cpu.offset, gpu.offset)


def test_calibrate_on_cuda(tmp_path) -> None:
    from pathlib import Path

    from kvcal.grammar import resolve

    examples = Path(__file__).resolve().parents[2] / "examples"
    plans = resolve((examples / "quant.cfg").read_text())
    cpu = calibrate(plans, examples / "kv_samples.safetensors", device="cpu")
    gpu = calibrate(plans, examples / "kv_samples.safetensors", device="cuda")
    assert gpu.device.startswith("cuda")
    for a, b in zip(cpu.layers, gpu.layers, strict=True):
        assert torch.allclose(a.factors.scale, b.factors.scale, rtol=1e-6, atol=0)
        assert torch.equal(a.factors.offset, b.factors.offset)
