"""The fake-quant path against spec §2's formula, written out element by element.

``q = clamp(round(x / scale) + offset, -128, 127)``, ``x' = (q - offset) * scale``, float32,
round half to even. No model needed: toy ``nn.Linear`` stacks stand in for a transformer.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from kvcal.calibrate.factors import factors_from_range
from kvcal.calibrate.model.evaluate import (
    FakeQuant,
    as_fake_quant,
    evaluate,
    fake_quantize,
    perplexity,
    quantized,
)
from kvcal.calibrate.model.loader import ModelError


def spec_formula(x: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """Spec §2 literally, one element at a time, in numpy float32 (round half to even)."""
    x = x.astype(np.float32)
    out = np.empty_like(x)
    flat_x, flat_out = x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
    for row in range(flat_x.shape[0]):
        for c in range(flat_x.shape[1]):
            s = np.float32(scale[c] if scale.size > 1 else scale[0])
            o = np.float32(offset[c] if offset.size > 1 else offset[0])
            q = np.float32(np.round(np.float32(flat_x[row, c] / s))) + o
            q = np.float32(min(max(q, np.float32(-128)), np.float32(127)))
            flat_out[row, c] = np.float32((q - o) * s)
    return out


CASES = [
    ("per_tensor symmetric", [0.0123], [0]),
    ("per_tensor asymmetric", [0.031], [-7]),
    ("per_channel symmetric", [0.01, 0.2, 1e-3, 0.05], [0, 0, 0, 0]),
    ("per_channel asymmetric", [0.01, 0.2, 1e-3, 0.05], [-128, 12, 127, -3]),
]


@pytest.mark.parametrize(("name", "scale", "offset"), CASES, ids=[c[0] for c in CASES])
def test_fake_quantize_is_the_spec_formula(name: str, scale: list[float], offset: list[int]) -> None:
    gen = torch.Generator().manual_seed(len(name))
    x = torch.randn(3, 17, 4, generator=gen) * 3.0  # saturates both ends for the small scales
    s = torch.tensor(scale, dtype=torch.float32)
    o = torch.tensor(offset, dtype=torch.int32)
    got = fake_quantize(x, s, o)
    want = spec_formula(x.numpy(), s.numpy(), o.numpy())
    assert got.dtype == torch.float32
    assert np.array_equal(got.numpy(), want)  # bit for bit


def test_ties_round_half_to_even_and_the_clamp() -> None:
    s, o = torch.tensor([0.5]), torch.tensor([0], dtype=torch.int32)
    x = torch.tensor([0.25, 0.75, -0.25, -0.75, 1000.0, -1000.0])  # x / s = .5, 1.5, -.5, -1.5
    assert fake_quantize(x, s, o).tolist() == [0.0, 1.0, -0.0, -1.0, 63.5, -64.0]
    # asymmetric: the offset shifts the clamp window; (q - offset) * scale maps it back
    o = torch.tensor([-100], dtype=torch.int32)
    assert fake_quantize(torch.tensor([200.0, 100.0, -100.0]), s, o).tolist() == [113.5, 100.0, -14.0]


def test_grid_points_survive_and_the_result_is_idempotent() -> None:
    f = factors_from_range(torch.tensor([-1.3, -0.2]), torch.tensor([2.1, 0.9]), with_offset=True)
    q = torch.arange(-128, 128, dtype=torch.float32)[:, None]
    grid = (q - f.offset.float()) * f.scale
    assert torch.equal(fake_quantize(grid, f.scale, f.offset), grid)
    x = torch.randn(50, 2) * 2
    once = fake_quantize(x, f.scale, f.offset)
    assert torch.equal(fake_quantize(once, f.scale, f.offset), once)


def test_float16_input_is_computed_in_float32_and_returned_as_float16() -> None:
    x = torch.randn(8, 3).to(torch.float16)
    s, o = torch.tensor([0.02, 0.03, 0.04]), torch.tensor([1, 0, -1], dtype=torch.int32)
    got = fake_quantize(x, s, o)
    assert got.dtype == torch.float16
    want = spec_formula(x.float().numpy(), s.numpy(), o.numpy())
    assert np.array_equal(got.numpy(), want.astype(np.float16))


def test_as_fake_quant_takes_record_lists_and_engine_factors() -> None:
    fq = as_fake_quant("k", ([0.5, 0.25], [3, -4]))
    assert fq.scale.dtype == torch.float32 and fq.offset.dtype == torch.int32 and len(fq) == 2
    f = factors_from_range(torch.tensor([-1.0]), torch.tensor([1.0]), with_offset=False)
    assert torch.equal(as_fake_quant("v", f).scale, f.scale)
    with pytest.raises(ModelError, match="layer 'k': 2 scale"):
        as_fake_quant("k", ([0.5, 0.25], [3]))
    with pytest.raises(ModelError, match="layer 'k': offsets must be integers in"):
        as_fake_quant("k", ([0.5], [200]))
    with pytest.raises(ModelError, match="finite and positive"):
        as_fake_quant("k", ([0.0], [0]))


class Toy(nn.Module):
    """Two named Linear layers, like an attention block's k_proj and v_proj."""

    def __init__(self) -> None:
        super().__init__()
        self.k_proj = nn.Linear(4, 3, bias=False)
        self.v_proj = nn.Linear(4, 3, bias=False)
        self.norm = nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.k_proj(x), self.v_proj(x)


def test_hooks_quantize_the_named_outputs_measure_sqnr_and_go_away() -> None:
    torch.manual_seed(1)
    model, x = Toy().requires_grad_(False), torch.randn(5, 7, 4)
    k0, v0 = model(x)
    fk = FakeQuant(torch.tensor([0.01, 0.02, 0.03]), torch.tensor([0, 5, -5], dtype=torch.int32))
    with quantized(model, {"k_proj": fk}) as stats:
        k1, v1 = model(x)
    assert torch.equal(k1, fake_quantize(k0, fk.scale, fk.offset))
    assert torch.equal(v1, v0)  # only the named layer
    noise = float(((k0.double() - k1.double()) ** 2).sum())
    want = 10 * math.log10(float((k0.double() ** 2).sum()) / noise)
    assert stats["k_proj"].sqnr_db == pytest.approx(want, rel=1e-12)
    k2, _ = model(x)
    assert torch.equal(k2, k0)  # hooks removed


def test_hook_errors_name_the_layer() -> None:
    model = Toy()
    with pytest.raises(ModelError, match=r"'norm'.* not nn.Linear"), quantized(model, {"norm": ([1.0], [0])}):
        pass
    two = {"k_proj": ([0.1, 0.1], [0, 0])}
    with pytest.raises(ModelError, match=r"layer 'k_proj': 2 scales but the layer has 3"), quantized(model, two):
        model(torch.randn(2, 4))
    assert not model.k_proj._forward_hooks  # removed after the error too


class Uniform(nn.Module):
    """A 'language model' whose logits come from a Linear layer named like a projection."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.v_proj = nn.Linear(1, vocab, bias=False)
        nn.init.zeros_(self.v_proj.weight)

    def forward(self, input_ids: torch.Tensor) -> object:
        x = torch.ones(*input_ids.shape, 1)
        return type("Out", (), {"logits": self.v_proj(x)})()


def test_perplexity_of_uniform_logits_is_the_vocabulary_size() -> None:
    model = Uniform(50)
    ids = torch.randint(0, 50, (37,))
    assert perplexity(model, ids, window=8) == pytest.approx(50.0, rel=1e-6)
    ev = evaluate(model, ids, {"v_proj": ([0.1], [0])}, name="q", window=10, split_kv=True)
    assert ev.perplexity == pytest.approx(50.0, rel=1e-6) and ev.sqnr_db["v_proj"] == math.inf
    with pytest.raises(ModelError, match="at least 2 tokens"):
        perplexity(model, ids[:1])
