"""Windows of text through a model: K/V activations and NLL per window, for ``kvcal tune``.

One forward pass per window (``[1, tokens]``), the same way for the capture and for the
quantized runs, so a quantized window's NLL differs from the baseline's only by what the
quantization does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from kvcal.calibrate.factors import Factors
from kvcal.calibrate.model.capture import capture
from kvcal.calibrate.model.evaluate import quantized
from kvcal.calibrate.model.intervals import WindowScores
from kvcal.calibrate.model.loader import ModelError

__all__ = ["capture_windows", "text_windows", "window_nll"]


def text_windows(texts: Sequence[torch.Tensor], window: int, count: int) -> tuple[list[torch.Tensor], list[int]]:
    """Up to *count* non-overlapping windows of *window* tokens from the start of each text
    (1-D ids), and the text index of each window."""
    out, which = [], []
    for t, ids in enumerate(texts):
        n = min(count, ids.numel() // window)
        if n == 0:
            raise ModelError(
                f"text {t + 1} has {ids.numel()} tokens, fewer than one window of {window}: "
                "give a longer text or a smaller --window"
            )
        out += [ids[i * window : (i + 1) * window] for i in range(n)]
        which += [t] * n
    return out, which


def _nll(model: Any, ids: torch.Tensor) -> float:
    logits = model(input_ids=ids[None]).logits[0, :-1].to(torch.float32)
    return float(torch.nn.functional.cross_entropy(logits, ids[1:], reduction="sum"))


def capture_windows(
    model: Any,
    layers: Sequence[str],
    windows: Sequence[torch.Tensor],
    window_text: Sequence[int],
    progress: Callable[[str, int, int], None] | None = None,
) -> tuple[dict[str, list[torch.Tensor]], WindowScores]:
    """Each layer's output per window (``[tokens, channels]``) and the unquantized NLL."""
    nll = []
    with capture(model, layers) as cap, torch.inference_mode():
        for i, ids in enumerate(windows):
            nll.append(_nll(model, ids))
            if progress:
                progress("capturing the windows", i + 1, len(windows))
    acts = {name: [b.reshape(-1, b.shape[-1]) for b in cap.batches(name)] for name in layers}
    return acts, WindowScores(tuple(nll), tuple(w.numel() - 1 for w in windows), tuple(window_text))


def window_nll(
    model: Any, windows: Sequence[torch.Tensor]
) -> Callable[[Mapping[str, Factors], Sequence[int]], list[float]]:
    """``nll(factors, which)``: the summed NLL of the windows *which* with *factors* applied."""

    def nll(factors: Mapping[str, Factors], which: Sequence[int]) -> list[float]:
        with quantized(model, factors), torch.inference_mode():
            return [_nll(model, windows[w]) for w in which]

    return nll
