"""Activation-like test data, drawn by hypothesis as (kind, shape, seed) and built by torch.

Kinds cover what the issue lists: gaussian, heavy tails, all-positive, all-negative,
outlier channels, constant, all-zero, tiny and huge magnitudes, growing ranges across
batches; and values clustered within a few float32 steps far from zero (a bias-only
"dead" channel); any of them may come as float16.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from hypothesis import strategies as st

KINDS = (
    "gaussian",
    "heavy",
    "positive",
    "negative",
    "outlier_channels",
    "outlier_tokens",
    "constant",
    "zero",
    "tiny",
    "huge",
    "growing",
    "discrete",
    "clustered",
)


@dataclass(frozen=True)
class Case:
    kind: str
    batches: int
    rows: int
    channels: int
    seed: int
    half: bool

    def build(self) -> list[torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed)
        out = []
        for b in range(self.batches):
            shape = (self.rows, self.channels)
            x = torch.randn(shape, generator=g)
            k = self.kind
            if k == "heavy":
                x = x / torch.rand(shape, generator=g).clamp_min(1e-3).sqrt()
            elif k == "positive":
                x = x.abs() + 0.5
            elif k == "negative":
                x = -(x.abs() + 0.1)
            elif k == "outlier_channels":
                x[:, :: max(1, self.channels // 3)] *= 25
            elif k == "outlier_tokens":
                x[:: max(1, self.rows // 4)] *= 40
            elif k == "constant":
                x = torch.full(shape, 0.37 * (self.seed % 7 - 3))
            elif k == "zero":
                x = torch.zeros(shape)
            elif k == "tiny":
                x = x * (1e-5 if self.half else 1e-9)
            elif k == "huge":
                x = x * 1e3 + 3e3 if self.half else x * 1e9 + 3e9
            elif k == "growing":
                x = x * (3.0**b) + b
            elif k == "clustered":  # a few float32 steps around a value far from 0
                x = x * 0.5 + 1e3 if self.half else x * 0.01 + 1e5
            if self.half:
                x = x.clamp(-6e4, 6e4)
            elif k == "discrete":
                x = torch.round(x * 2) / 2
            out.append(x.half() if self.half else x)
        return out


def cases(
    *, max_rows: int = 96, max_channels: int = 6, max_batches: int = 3, kinds: tuple[str, ...] = KINDS
) -> st.SearchStrategy[Case]:
    return st.builds(
        Case,
        kind=st.sampled_from(kinds),
        batches=st.integers(1, max_batches),
        rows=st.integers(1, max_rows),
        channels=st.integers(1, max_channels),
        seed=st.integers(0, 2**31 - 1),
        half=st.booleans(),
    )
