"""``kvcal evaluate CONFIG``: perplexity of a model with its KV cache fake-quantized by a config.

The config's factors come from ``--record`` (an AMCT record file), or are calibrated first
by the engine on ``--data`` (sample data) or on K/V outputs captured from the model over
the ``--calib-text`` texts (batch ``i`` holds chunk ``i`` of each). Perplexity is measured on
every ``--text`` (by default the evaluation parts of the four built-in domains, never the
calibration parts), unquantized and quantized, per text and pooled, with a 95 % bootstrap
interval over windows, and each layer's SQNR. ``--compare`` adds every int8 setting
(min-max/IFMR/HFMG x per_tensor/per_channel x symmetric/asymmetric) in one table and says
which of them cannot be told from the best.

``kvcal.calibrate`` (torch) is imported inside the functions that run the command, after
its arguments are checked: usage errors and ``--help`` answer at once. Deliberately lazy.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvcal.grammar.files import FileRefused, check_output
from kvcal.server.commands._progress import ProgressBar
from kvcal.server.commands.capture import (
    config_plans,
    count,
    set_threads,
)

if TYPE_CHECKING:  # (annotations only: kvcal.calibrate imports torch, loaded when the command runs)
    from kvcal.calibrate.model.texts import NamedText, Part

HELP = "perplexity of a model with its KV cache fake-quantized by a config"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the quant.cfg whose layers are quantized")
    parser.add_argument(
        "--record",
        type=Path,
        metavar="R",
        help="an AMCT record file with the config's factors (default: calibrate the config first)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="SAMPLES",
        help="sample data to calibrate on, the config and --compare's settings "
        "(default: capture it from the model over --calib-text)",
    )
    parser.add_argument(
        "--model",
        metavar="DIR",
        help="a local transformers model directory or .gguf file (default: the bundled SmolLM2-135M-Instruct)",
    )
    parser.add_argument(
        "--text",
        action="append",
        metavar="FILE|@NAME",
        help="a text whose perplexity is measured; repeat for several. @prose, "
        "@docs, @code, @legal name the built-in texts' evaluation parts "
        "(default: all four)",
    )
    parser.add_argument(
        "--tokens",
        type=count(2),
        default=1536,
        metavar="N",
        help="tokens of each --text to evaluate (default 1536; fewer if a text is shorter)",
    )
    parser.add_argument(
        "--window",
        type=count(2),
        default=256,
        metavar="N",
        help="tokens per forward pass; windows do not overlap and are the unit of the intervals (default 256)",
    )
    parser.add_argument(
        "--calib-text",
        action="append",
        metavar="FILE|@NAME",
        help="a text to capture calibration data from; repeat for several "
        "(default: the calibration parts of @prose, @docs, @code)",
    )
    parser.add_argument(
        "--calib-tokens",
        type=count(2),
        default=256,
        metavar="N",
        help="tokens per calibration text in each captured batch; batch_num batches (default 256)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also evaluate min-max, IFMR and HFMG x per_tensor/per_channel x "
        "symmetric/asymmetric on the config's layers",
    )
    parser.add_argument(
        "--split-kv", action="store_true", help="also measure each setting with only K or only V quantized"
    )
    parser.add_argument("--plot", type=Path, metavar="FILE", help="draw the results to a picture (.png, .svg or .pdf)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--threads",
        type=count(1),
        metavar="N",
        help="CPU threads for the model (default: torch's, one per core); 1 is "
        "often faster on a machine busy with other work",
    )
    parser.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where calibration runs (the model runs on the CPU)",
    )


def _layer_table(ev: Any, plans: list[Any], record: bool) -> str:
    rows = [("layer", "algorithm", "granularity", "mode", "SQNR (dB)")]
    for p in plans:
        algo = "record" if record else p.algorithm.upper()
        mode = "asymmetric" if p.with_offset else "symmetric"
        gran = "(record)" if record else p.granularity
        sq = ev.sqnr_db.get(p.layer_name, math.nan)
        rows.append((p.layer_name, algo, gran, "(record)" if record else mode, f"{sq:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _record_factors(path: Path, layers: list[str]) -> dict[str, Any]:
    from kvcal.calibrate import read_record
    from kvcal.calibrate.model.loader import ModelError

    record = read_record(path)
    missing = [name for name in layers if name not in record]
    if missing:
        raise ModelError(
            f"{path}: no record entry for {', '.join(repr(m) for m in missing)}; calibrate the "
            "config again (kvcal calibrate) or evaluate without --record"
        )
    return {name: record[name] for name in layers}


PLOT_FORMATS = (".png", ".svg", ".pdf")


def plot_problem(path: Path) -> str | None:
    """Why the results cannot be drawn to *path* (checked before the long run), or None."""

    if path.is_dir():
        return "is a directory; give a file name such as results.png"
    try:
        check_output(path)
    except FileRefused as exc:
        return str(exc.strerror)
    except OSError:
        pass  # (an unwritable folder: the write says so)
    if path.suffix.lower() not in PLOT_FORMATS:
        return f"give a file name ending in {', '.join(PLOT_FORMATS)}"
    return None


def run(args: argparse.Namespace) -> int:
    got = config_plans(args.config)
    if isinstance(got, int):
        return got
    plans, batch_num = got
    if args.plot is not None and (problem := plot_problem(args.plot)):
        sys.stderr.write(f"kvcal: --plot {args.plot}: {problem}\n")
        return 2
    from kvcal.calibrate.errors import CalibrationError

    try:
        with tempfile.TemporaryDirectory(prefix="kvcal-evaluate-") as tmp:
            return _run(args, plans, batch_num, Path(tmp))
    except CalibrationError as exc:
        sys.stderr.write(f"kvcal: {exc}\n")
        return 1
    except OSError as exc:
        sys.stderr.write(f"kvcal: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 1


def unique_names(texts: list[Any]) -> list[str]:
    """Report names of *texts*: their names, or their sources where two names are the same."""
    names = [t.name for t in texts]
    return [t.name if names.count(t.name) == 1 else t.source for t in texts]


def load_texts(specs: list[str] | None, default: tuple[str, ...], part: Part) -> list[NamedText]:
    """The texts of repeated ``--text``-like options (default: built-in names), *part* of each."""
    from kvcal.calibrate.model.texts import load_text

    return [load_text(spec, part) for spec in (specs or [f"@{n}" for n in default])]


def _run(args: argparse.Namespace, plans: list[Any], batch_num: int, tmp: Path) -> int:
    from kvcal.calibrate.model.compare import Comparison, compare, format_table, plot
    from kvcal.calibrate.model.evaluate import evaluate
    from kvcal.calibrate.model.loader import (
        ModelError,
        capture_text,
        check_layers,
        load_model,
        text_batches,
    )
    from kvcal.calibrate.model.texts import CALIBRATION_DEFAULT, EVALUATION_DEFAULT

    set_threads(args.threads)
    progress = ProgressBar()  # on a terminal only: a long --compare logs nothing per window
    layers = [p.layer_name for p in plans]
    texts = load_texts(args.text, EVALUATION_DEFAULT, "evaluation")
    need_calib = args.data is None and (args.record is None or args.compare)
    calib = load_texts(args.calib_text, CALIBRATION_DEFAULT, "calibration") if need_calib else []
    loaded = load_model(args.model)
    check_layers(loaded.model, layers)
    ids = [loaded.tokenize(t.text)[: args.tokens] for t in texts]
    for t, i in zip(texts, ids, strict=True):
        if i.numel() < 2:
            raise ModelError(
                f"{t.source}: the text has {i.numel()} token(s); perplexity needs at least 2: give a longer --text"
            )
    names = unique_names(texts)
    samples: Path | None = args.data
    calib_source = str(args.data) if args.data else None
    if need_calib:
        chunks = text_batches(
            [loaded.tokenize(t.text) for t in calib], batch_num, args.calib_tokens, [t.source for t in calib]
        )
        samples = capture_text(loaded, layers, chunks, tmp / "samples.safetensors", progress)
        calib_source = (
            f"{', '.join(unique_names(calib))} ({batch_num} batch(es) of {len(calib)} x {args.calib_tokens} tokens)"
        )
    if args.record is not None:
        factors = _record_factors(args.record, layers)
        label, settings = f"config ({args.record.name})", {}
    else:
        from kvcal.calibrate import calibrate

        assert samples is not None  # (without --record: --data, or captured from the calibration text)
        result = calibrate(plans, samples, device=args.device, progress=None)
        factors = {r.layer_name: r.factors for r in result.layers}
        label = f"config ({Path(args.config).name})"
        settings = {"calibration_seconds": round(result.seconds, 2)}
    about = {
        "model": loaded.name,
        "config": str(args.config),
        "texts": {n: t.source for n, t in zip(names, texts, strict=True)},
        "tokens": {n: int(i.numel()) for n, i in zip(names, ids, strict=True)},
        "window": args.window,
        "calibration_data": calib_source,
        "batch_num": batch_num,
        "layers": len(layers),
    }
    if args.compare:
        comparison = compare(
            loaded.model,
            ids,
            layers,
            samples,
            batch_num,
            texts=names,
            extra={label: factors},
            window=args.window,
            device=args.device,
            split_kv=args.split_kv,
            progress=progress,
            about=about,
            extra_settings=settings,
        )
    else:
        base = evaluate(loaded.model, ids, None, name="unquantized (float32)", window=args.window)
        ev = evaluate(
            loaded.model,
            ids,
            factors,
            name=label,
            window=args.window,
            split_kv=args.split_kv,
            settings={"algorithm": "config", **settings},
        )
        comparison = Comparison(base, [ev], about, names)
    if args.plot:
        plot(comparison, args.plot)
    if args.json:
        print(json.dumps(comparison.to_json(), indent=2))
        return 0
    ev = comparison.rows[0]
    shown = ", ".join(f"{n} ({i.numel()})" for n, i in zip(names, ids, strict=True))
    print(f"{loaded.name}: perplexity on {shown} tokens, in windows of {args.window}")
    print(f"calibration data: {calib_source or args.record}\n")
    print(_layer_table(ev, plans, args.record is not None))
    print(
        f"\nunquantized perplexity {comparison.baseline.perplexity:.4f}; with {label}: "
        f"{ev.perplexity:.4f} ({comparison.interval(ev)}, 95 % interval over windows)"
    )
    for k in comparison.text_indices():
        print(
            f"  {names[k]}: {comparison.baseline.text_perplexity(k):.4f} -> "
            f"{ev.text_perplexity(k):.4f} ({comparison.interval(ev, k)})"
        )
    if args.compare:
        print("\n" + format_table(comparison))
    if args.plot:
        print(f"\nplot: {args.plot}")
    return 0
