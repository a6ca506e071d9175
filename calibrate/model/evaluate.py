"""What a record's factors do to a real model: perplexity with fake-quantized K/V projections.

Each configured K/V projection (an ``nn.Linear``) gets a forward hook that replaces its
output ``x`` by ``x' = (q - offset) * scale`` with ``q = clamp(round(x / scale) + offset,
-128, 127)`` (spec §2): exactly what an int8 KV cache holding ``q`` gives back. ``scale`` and
``offset`` have one entry (per_tensor) or one per output feature (per_channel, the last
dimension). The hook also measures the layer's SQNR on the text being evaluated:
``10 log10(sum x^2 / sum (x - x')^2)``, over every token of every window.

Perplexity is ``exp(mean negative log-likelihood)`` of every token after the first of each
window, the text cut into non-overlapping windows (no state carried between windows). Several
texts are evaluated window by window; each window's summed NLL is kept, so perplexity per
text, pooled, and its confidence interval (:mod:`kvcal.calibrate.model.intervals`) all come from
one run.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from kvcal.calibrate.factors import QMAX, QMIN
from kvcal.calibrate.model.intervals import WindowScores
from kvcal.calibrate.model.loader import ModelError, check_layers
from kvcal.grammar.problems import quoted

__all__ = [
    "Evaluation",
    "FakeQuant",
    "Progress",
    "as_fake_quant",
    "evaluate",
    "fake_quantize",
    "perplexity",
    "quantized",
    "window_scores",
]

#: progress(message, done, total)
Progress = Callable[[str, int, int], None]


def fake_quantize(x: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Quantize *x* to int8 with *scale*/*offset* and back, in float32 (spec §2).

    ``scale`` (float32) and ``offset`` (integers) are 1-D with one entry, or one entry per
    element of the last dimension of *x*. ``round`` is half-to-even. Returns *x*'s dtype.
    """
    xf = x.to(torch.float32)
    s = scale.to(device=x.device, dtype=torch.float32)
    o = offset.to(device=x.device, dtype=torch.float32)
    q = torch.clamp(torch.round(xf / s) + o, QMIN, QMAX)
    return ((q - o) * s).to(x.dtype)


@dataclass(frozen=True)
class FakeQuant:
    """The factors of one layer as tensors, checked: 1-D float32 scale, int32 offset."""

    scale: torch.Tensor
    offset: torch.Tensor

    def __len__(self) -> int:
        return int(self.scale.numel())


def as_fake_quant(layer: str, factors: Any) -> FakeQuant:
    """A :class:`FakeQuant` from engine ``Factors`` or a record's ``(scales, offsets)``."""
    if hasattr(factors, "scale") and hasattr(factors, "offset"):
        scale, offset = factors.scale, factors.offset
    else:
        scale, offset = factors
    s = torch.as_tensor(scale, dtype=torch.float32).reshape(-1).cpu()
    o = torch.as_tensor(offset).reshape(-1).cpu()
    if s.numel() == 0 or s.numel() != o.numel():
        raise ModelError(
            f"layer {quoted(layer)}: {s.numel()} scale(s) and {o.numel()} offset(s); a record entry "
            "needs one of each (per_tensor) or one of each per channel"
        )
    if not bool(torch.isfinite(s).all()) or bool((s <= 0).any()):
        raise ModelError(f"layer {quoted(layer)}: scales must be finite and positive; re-calibrate")
    if bool((o != o.round()).any()) or bool(((o < QMIN) | (o > QMAX)).any()):
        raise ModelError(f"layer {quoted(layer)}: offsets must be integers in [{QMIN}, {QMAX}]")
    return FakeQuant(s, o.to(torch.int32))


class _Stats:
    __slots__ = ("noise", "signal")

    def __init__(self) -> None:
        self.signal = 0.0
        self.noise = 0.0

    @property
    def sqnr_db(self) -> float:
        if self.noise == 0.0:
            return math.inf
        if self.signal == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.signal / self.noise)


@contextmanager
def quantized(model: Any, factors: Mapping[str, Any]) -> Iterator[dict[str, _Stats]]:
    """Fake-quantize the outputs of the named layers while the block runs.

    Yields ``{layer: stats}`` whose ``sqnr_db`` is the layer's SQNR over what ran so far.
    """
    check_layers(model, list(factors))
    modules = dict(model.named_modules())
    stats = {name: _Stats() for name in factors}
    handles = []

    def hook_for(name: str, fq: FakeQuant) -> Callable[..., torch.Tensor]:
        def hook(_module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
            channels = output.shape[-1]
            if len(fq) not in (1, channels):
                raise ModelError(
                    f"layer {quoted(name)}: {len(fq)} scales but the layer has {channels} output "
                    "channels: the record was made for another model or layer; re-calibrate"
                )
            out = fake_quantize(output, fq.scale, fq.offset)
            x = output.detach().to(torch.float64)
            st = stats[name]
            st.signal += float((x * x).sum())
            st.noise += float(((x - out.detach().to(torch.float64)) ** 2).sum())
            return out

        return hook

    try:
        for name, raw in factors.items():
            fq = raw if isinstance(raw, FakeQuant) else as_fake_quant(name, raw)
            handles.append(modules[name].register_forward_hook(hook_for(name, fq)))
        yield stats
    finally:
        for h in handles:
            h.remove()


def window_scores(
    model: Any, texts: Sequence[torch.Tensor], *, window: int = 512, progress: Progress | None = None, label: str = ""
) -> WindowScores:
    """Summed NLL and token count of every window of every text (1-D ids each), in order.

    Each text is cut into non-overlapping windows of *window* tokens (a last window of one
    token predicts nothing and is dropped); a window's NLL sums over its tokens after the first.
    """
    jobs = []
    for t, ids in enumerate(texts):
        if ids.dim() != 1 or ids.numel() < 2:
            raise ModelError(f"need at least 2 tokens to measure perplexity (text {t + 1} has {ids.numel()})")
        jobs += [(t, ids[s : s + window]) for s in range(0, ids.numel(), window) if ids.numel() - s >= 2]
    nll, tokens, text = [], [], []
    with torch.inference_mode():
        for i, (t, chunk) in enumerate(jobs):
            logits = model(input_ids=chunk[None]).logits[0, :-1].to(torch.float32)
            nll.append(float(torch.nn.functional.cross_entropy(logits, chunk[1:], reduction="sum")))
            tokens.append(chunk.numel() - 1)
            text.append(t)
            if progress:
                progress(label or "perplexity", i + 1, len(jobs))
    return WindowScores(tuple(nll), tuple(tokens), tuple(text))


def perplexity(
    model: Any, ids: torch.Tensor, *, window: int = 512, progress: Progress | None = None, label: str = ""
) -> float:
    """Perplexity of *ids* (1-D) in non-overlapping windows of *window* tokens."""
    if ids.dim() != 1 or ids.numel() < 2:
        raise ModelError(f"need at least 2 tokens to measure perplexity (got {ids.numel()})")
    return window_scores(model, [ids], window=window, progress=progress, label=label).perplexity()


@dataclass(frozen=True)
class Evaluation:
    """Perplexity of the model with *name*'s factors (none: the unquantized baseline).

    ``perplexity`` is pooled over every window of every text; ``windows`` keeps each
    window's NLL for per-text perplexities and intervals (:mod:`.intervals`).
    """

    name: str
    perplexity: float
    sqnr_db: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    #: what produced the factors: algorithm, granularity, symmetric, calibration seconds, ...
    settings: dict[str, Any] = field(default_factory=dict)
    #: perplexity with only the K layers / only the V layers quantized (``--split-kv``)
    k_only: float | None = None
    v_only: float | None = None
    windows: WindowScores | None = None

    def delta(self, baseline: float) -> float:
        """Relative perplexity change against *baseline*, in percent."""
        return 100.0 * (self.perplexity / baseline - 1.0)

    def text_perplexity(self, text: int) -> float:
        """Perplexity on one text (by its index); the pooled one when there are no windows."""
        return self.perplexity if self.windows is None else self.windows.perplexity(text)

    def mean_sqnr(self, kind: str) -> float | None:
        """Mean SQNR (dB) of the layers whose name ends with ``k_proj``/``v_proj`` (*kind* k/v)."""
        vals = [v for n, v in self.sqnr_db.items() if n.endswith(f"{kind}_proj") and math.isfinite(v)]
        return sum(vals) / len(vals) if vals else None


def evaluate(
    model: Any,
    ids: torch.Tensor | Sequence[torch.Tensor],
    factors: Mapping[str, Any] | None,
    *,
    name: str,
    window: int = 512,
    progress: Progress | None = None,
    settings: dict[str, Any] | None = None,
    split_kv: bool = False,
) -> Evaluation:
    """Perplexity of *ids* (one text, or several) with *factors* applied (None or empty:
    unquantized), per window, and each layer's SQNR."""
    t0 = time.perf_counter()
    texts = [ids] if isinstance(ids, torch.Tensor) else list(ids)

    def scores(label: str) -> WindowScores:
        return window_scores(model, texts, window=window, progress=progress, label=label)

    if not factors:
        ws = scores(name)
        return Evaluation(name, ws.perplexity(), {}, time.perf_counter() - t0, dict(settings or {}), windows=ws)
    with quantized(model, factors) as stats:
        ws = scores(name)
        sqnr = {n: s.sqnr_db for n, s in stats.items()}
    parts: dict[str, float | None] = {"k": None, "v": None}
    if split_kv:
        for kind in parts:
            subset = {n: f for n, f in factors.items() if n.endswith(f"{kind}_proj")}
            if subset and len(subset) < len(factors):
                with quantized(model, subset):
                    parts[kind] = scores(f"{name} ({kind.upper()} only)").perplexity()
    return Evaluation(
        name, ws.perplexity(), sqnr, time.perf_counter() - t0, dict(settings or {}), parts["k"], parts["v"], ws
    )
