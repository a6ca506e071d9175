"""Generate examples/kv_samples.safetensors: KV-like activations for examples/quant.cfg.

Deterministic (fixed seed, CPU generator): running it again writes the same bytes.
For each layer of the example config (``model.layers.{0,1}.self_attn.{k,v}_proj`` of a
small GQA model: 3 KV heads x 64 = 192 channels) it writes ``batch_num = 2`` batches of
shape ``[1, 256, 192]`` float32 under keys ``<layer>/<i>``:

- K projections: per-channel spreads that vary (log-normal) and a few outlier channels
  with a large spread and an offset (as RoPE'd keys show), so per_channel matters;
- V projections: unremarkable channels but a few outlier tokens (the first token, a
  sink, and two delimiters) with large values, so clipping matters.

Usage: ``python examples/make_kv_samples.py [OUT]`` (default: next to this script).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

LAYERS = 2
TOKENS = 256
CHANNELS = 192
BATCHES = 2
SEED = 20240611


def keys(g: torch.Generator, layer: int) -> torch.Tensor:
    spread = torch.exp(0.35 * torch.randn(CHANNELS, generator=g)) * (1.0 + 0.25 * layer)
    x = torch.randn(1, TOKENS, CHANNELS, generator=g) * spread
    outliers = torch.randperm(CHANNELS, generator=g)[:4]
    boost = 6.0 + 6.0 * torch.rand(4, generator=g)
    shift = 3.0 * torch.randn(4, generator=g)
    x[..., outliers] = x[..., outliers] * boost + shift
    return x


def values(g: torch.Generator, layer: int) -> torch.Tensor:
    x = 0.6 * torch.randn(1, TOKENS, CHANNELS, generator=g) * (1.0 + 0.1 * layer)
    tokens = torch.tensor([0, 17 + layer, 131])
    x[:, tokens, :] *= 6.0 + 2.0 * torch.rand(3, 1, generator=g)
    return x


def build() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(SEED)
    out: dict[str, torch.Tensor] = {}
    for layer in range(LAYERS):
        for batch in range(BATCHES):
            out[f"model.layers.{layer}.self_attn.k_proj/{batch}"] = keys(g, layer).contiguous()
            out[f"model.layers.{layer}.self_attn.v_proj/{batch}"] = values(g, layer).contiguous()
    return out


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("kv_samples.safetensors")
    # one metadata key: safetensors writes metadata from a hash map, in no fixed order
    save_file(build(), str(target), metadata={"generator": f"examples/make_kv_samples.py seed={SEED}"})
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
