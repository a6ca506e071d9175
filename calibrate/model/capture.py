"""Capture K/V projection outputs from a model, the way AMCT's calibration model sees them.

    with kvcal.calibrate.model.capture(model, ["model.layers.0.self_attn.k_proj"]) as cap:
        for batch in loader:
            model(batch)
    cap.save("kv_samples.safetensors")

A forward hook on each named ``nn.Linear`` keeps its output (detached, copied to the
CPU) of every forward pass: batch ``i`` is the ``i``-th forward pass. float16 and float32
outputs are kept as they are, other floating types become float32. ``save`` writes
DESIGN.md's sample format (keys ``<layer>/<i>``), atomically.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from kvcal.calibrate.errors import CaptureError, SampleDataError
from kvcal.grammar.files import FileRefused, check_output


class Capture:
    """The outputs recorded per layer; filled while the ``capture`` block runs."""

    def __init__(self, layer_names: Sequence[str]) -> None:
        self.layer_names = list(layer_names)
        self._outputs: dict[str, list[torch.Tensor]] = {name: [] for name in self.layer_names}

    def hook(self, name: str) -> Any:
        def record(_module: nn.Module, _inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor):
                return
            kept = output.detach().to("cpu", copy=True)
            if kept.dtype not in (torch.float16, torch.float32):
                kept = kept.to(torch.float32)
            self._outputs[name].append(kept)

        return record

    def batches(self, layer: str) -> list[torch.Tensor]:
        """The recorded outputs of *layer*, one per forward pass."""
        if layer not in self._outputs:
            raise CaptureError(f"layer '{layer}' was not captured; captured: {', '.join(self.layer_names)}")
        return list(self._outputs[layer])

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write every recorded batch as ``<layer>/<i>`` to a safetensors file."""
        tensors = {f"{name}/{i}": t.contiguous() for name, ts in self._outputs.items() for i, t in enumerate(ts)}
        empty = [name for name, ts in self._outputs.items() if not ts]
        if empty:
            raise SampleDataError(
                f"{path}: nothing was recorded for {', '.join(empty)}: run the model inside the "
                "capture block (with inputs that reach those layers) before saving"
            )
        target = Path(path)
        try:  # an output: a link, FIFO or device there is refused, not replaced (docs/files.md)
            check_output(target)
        except FileRefused as exc:
            raise SampleDataError(f"{target}: not written: it {exc.strerror}") from exc
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"format": "kvcal-samples", "layers": str(len(self._outputs))})
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise SampleDataError(f"{target}: cannot write sample data ({exc.strerror or exc})") from exc
        return target


def _find_linears(model: nn.Module, layer_names: Sequence[str]) -> dict[str, nn.Linear]:
    modules = dict(model.named_modules())
    linear_names = [n for n, m in modules.items() if isinstance(m, nn.Linear)]
    found: dict[str, nn.Linear] = {}
    problems = []
    for name in layer_names:
        module = modules.get(name)
        if isinstance(module, nn.Linear):
            found[name] = module
            continue
        if module is None:
            close = get_close_matches(name, linear_names, n=3, cutoff=0.5)
            hint = f"; similar nn.Linear modules: {', '.join(close)}" if close else ""
            problems.append(f"'{name}' is not a module of the model{hint}")
        else:
            problems.append(f"'{name}' is a {type(module).__name__}, not an nn.Linear")
    if problems:
        raise CaptureError(
            "cannot capture: " + "; ".join(problems) + ". AMCT quantizes the outputs of "
            "nn.Linear K/V projections: name those modules (model.named_modules())"
        )
    return found


@contextmanager
def capture(model: nn.Module, layer_names: Sequence[str]) -> Iterator[Capture]:
    """Hook the named ``nn.Linear`` modules of *model* for the duration of the block."""
    linears = _find_linears(model, layer_names)
    cap = Capture(list(linears))
    handles = [module.register_forward_hook(cap.hook(name)) for name, module in linears.items()]
    try:
        yield cap
    finally:
        for handle in handles:
            handle.remove()
