"""``kvcal tune``: search the settings a quant.cfg can express and write the one that holds
on held-out text, with the evidence in its comments (:mod:`kvcal.calibrate.model.tune`).

``kvcal.calibrate`` (torch) is imported inside the functions that run the command, after
its arguments are checked: usage errors and ``--help`` answer at once. Deliberately lazy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kvcal.grammar import check
from kvcal.server.commands._progress import ProgressBar
from kvcal.server.commands.capture import count, set_threads
from kvcal.server.commands.evaluate import load_texts, unique_names

HELP = "search quant.cfg settings on a model and write the one that holds on held-out text"


def percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 100.0:
        raise argparse.ArgumentTypeError(f"{value:g} is not a percentage between 0 and 100")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        metavar="DIR|FILE.gguf",
        help="a local transformers model directory or .gguf file (default: the bundled SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--text",
        action="append",
        metavar="FILE|@NAME",
        help="a tuning text; repeat for several (each is held out in turn). "
        "Default: the calibration parts of @prose, @docs, @code",
    )
    parser.add_argument(
        "--layers", metavar="REGEX", help="the nn.Linear layers to quantize (default: every K/V projection)"
    )
    parser.add_argument(
        "--window",
        type=count(8),
        default=256,
        metavar="N",
        help="tokens per window, the unit of the folds and intervals (default 256)",
    )
    parser.add_argument(
        "--windows", type=count(1), default=6, metavar="N", help="windows per text, at most (default 6)"
    )
    parser.add_argument(
        "--batch-num",
        type=count(1),
        default=2,
        metavar="N",
        help="batch_num of the config: each fold calibrates on N batches, one "
        "window of every other text each (default 2)",
    )
    parser.add_argument(
        "--limit",
        type=percent,
        default=1.0,
        metavar="PCT",
        help="prefer settings within PCT %% of the unquantized perplexity on every text (default 1)",
    )
    parser.add_argument(
        "--proxy-only",
        action="store_true",
        help="choose by held-out SQNR alone, without the perplexity runs (faster, for large models)",
    )
    parser.add_argument("--out", type=Path, metavar="CFG", help="write the config here (default: standard output)")
    parser.add_argument("--report", type=Path, metavar="FILE.json", help="also write every number as JSON")
    parser.add_argument(
        "--threads",
        type=count(1),
        metavar="N",
        help="CPU threads for the model and the engine (default: torch's); 1 is often faster on a busy machine",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _writable(path: Path, what: str) -> str | None:
    if path.is_dir():
        return f"{what} {path}: is a directory; give a file name"
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return f"{what} {path}: the folder {parent} does not exist; create it first"
    return None


def _write(path: Path, text: str) -> None:
    """Atomic: the old file stays whole until the new one is complete."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        raise


def _command(args: argparse.Namespace) -> str:
    parts = ["kvcal tune"]
    if args.model:
        parts.append(f"--model {args.model}")
    parts += [f"--text {t}" for t in args.text or []]
    for flag, value, default in (
        ("--layers", args.layers, None),
        ("--window", args.window, 256),
        ("--windows", args.windows, 6),
        ("--batch-num", args.batch_num, 2),
        ("--limit", args.limit, 1.0),
        ("--seed", args.seed, 0),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    if args.proxy_only:
        parts.append("--proxy-only")
    if args.out:
        parts.append(f"--out {args.out}")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    for path, what in ((args.out, "--out"), (args.report, "--report")):
        if path is not None and (problem := _writable(path, what)):
            sys.stderr.write(f"kvcal: {problem}\n")
            return 2
    from kvcal.calibrate.errors import CalibrationError

    bar = ProgressBar(quiet=args.quiet)
    try:
        return _run(args, bar)
    except (CalibrationError, ValueError) as exc:
        bar.close()
        sys.stderr.write(f"kvcal: {exc}\n")
        return 1
    except OSError as exc:
        bar.close()
        sys.stderr.write(f"kvcal: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 1


def _run(args: argparse.Namespace, bar: Any) -> int:
    from kvcal.calibrate.model.loader import kv_layer_names, load_model
    from kvcal.calibrate.model.texts import CALIBRATION_DEFAULT
    from kvcal.calibrate.model.tune import tune
    from kvcal.calibrate.model.tuned_config import config_text, evidence_lines, report
    from kvcal.calibrate.model.windows import capture_windows, text_windows, window_nll

    t0 = time.perf_counter()
    set_threads(args.threads)
    texts = load_texts(args.text, CALIBRATION_DEFAULT, "calibration")
    names = unique_names(texts)
    loaded = load_model(args.model)
    layers = kv_layer_names(loaded.model, args.layers)
    windows, window_text = text_windows([loaded.tokenize(t.text) for t in texts], args.window, args.windows)
    acts, baseline = capture_windows(loaded.model, layers, windows, window_text, bar)
    nll = None if args.proxy_only else window_nll(loaded.model, windows)
    result = tune(
        acts,
        window_text,
        baseline,
        nll,
        batch_num=args.batch_num,
        text_names=names,
        limit=args.limit,
        seed=args.seed,
        progress=bar,
    )
    seconds = time.perf_counter() - t0
    per_text = ", ".join(f"{n} ({window_text.count(i)})" for i, n in enumerate(names))
    header = [
        f"kvcal tune: int8 KV-cache settings for {loaded.name},",
        "chosen on text the calibration did not see. Reproduce:",
        f"  {_command(args)}",
        f"Tuning texts: {per_text} windows of {args.window} tokens; each text held out in turn "
        f"(folds), each fold calibrating on {args.batch_num} batch(es) of one window of every other "
        "text, as AMCT does with batch_num batches.",
        f"Chosen: {result.chosen.label}",
        "",
        *evidence_lines(result),
        "",
    ]
    if len(texts) < 2:
        header[3] = (
            f"Tuning text: {per_text} windows of {args.window} tokens in {len(result.folds)} "
            "blocks, each held out in turn."
        )
    text = config_text(result.chosen.settings, args.batch_num, header)
    errors = [p for p in check(text) if p.severity == "error"]
    if errors:  # a bug of the writer: never hand out a config AMCT would reject
        raise ValueError(f"the written config does not pass kvcal check: {errors[0].message} [{errors[0].code}]")
    if args.out is None:
        sys.stdout.write(text)
    else:
        _write(args.out, text)
    if args.report is not None:
        about = {
            "model": loaded.name,
            "command": _command(args),
            "texts": {n: t.source for n, t in zip(names, texts, strict=True)},
            "window": args.window,
            "windows": {n: window_text.count(i) for i, n in enumerate(names)},
            "wall_seconds": seconds,
        }
        _write(args.report, json.dumps(report(result, about), indent=2) + "\n")
    if args.out is not None:
        chosen = result.chosen
        summary = ""
        if chosen.scores is not None:
            summary = "; held-out perplexity " + ", ".join(
                f"{n} {result.delta(chosen, t):+.2f} %" for t, n in enumerate(names)
            )
        print(f"{args.out}: {chosen.label}{summary} ({seconds:.0f} s)")
    return 0
