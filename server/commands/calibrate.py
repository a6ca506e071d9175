"""``kvcal calibrate CONFIG --data SAMPLES --record OUT``: run every layer's effective
config on sample activations, write AMCT's record file, show the factors and their error.

Exit status: 0 done, 1 the config has errors or calibration failed (the message says
which file, layer and batch, and what to do), 2 usage errors (among them a --record or
--report path that is a link, FIFO, device or other non-regular file: refused before
calibrating, see docs/files.md).

``kvcal.calibrate`` (torch) is imported inside the functions that run the command, after
its arguments are checked: usage errors and ``--help`` answer at once. Deliberately lazy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from kvcal.grammar.files import FileRefused, check_output, check_report_dir
from kvcal.grammar.problems import excerpt
from kvcal.grammar.resolve import resolve_analysis
from kvcal.server.commands._files import analyzed_config, header_data

HELP = "run the configured IFMR/HFMG on sample data, write the record"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", metavar="CONFIG", help="the quant.cfg to calibrate")
    parser.add_argument(
        "--data",
        metavar="SAMPLES",
        type=Path,
        help="sample activations (.safetensors, keys '<layer>/<batch>'); default: the "
        "config's '# kvcal: data=PATH' header, relative to the config",
    )
    parser.add_argument(
        "--record",
        metavar="OUT",
        type=Path,
        help="AMCT record file to write (updated layer by layer if it exists); without it nothing is written",
    )
    parser.add_argument(
        "--replace", action="store_true", help="write a new record file instead of updating an existing one"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="auto", help="where to compute (auto: CUDA when available)"
    )
    parser.add_argument(
        "--report", metavar="DIR", type=Path, help="write DIR/report.md with a histogram picture per layer"
    )


class ProgressBar:
    """A one-line progress bar on a terminal; silent when the stream is not a tty."""

    def __init__(self, stream: TextIO, width: int = 24) -> None:
        self.stream = stream
        self.width = width
        self.enabled = stream.isatty()
        self.start = time.perf_counter()

    def __call__(self, layer: str, index: int, total: int) -> None:
        if not self.enabled:
            return
        done = self.width * index // max(total, 1)
        bar = "#" * done + "-" * (self.width - done)
        spent = time.perf_counter() - self.start
        self.stream.write(f"\r[{bar}] {index + 1}/{total} {spent:5.1f}s {excerpt(layer, 60):<60}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 80) + "\r")
            self.stream.flush()


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"kvcal: error: {message}\n")
    return code


def refused_output(record: Path | None, report: Path | None) -> str | None:
    """Why --record or --report cannot be written (checked before a minute of calibration)."""
    for option, path, check in (("--record", record, check_output), ("--report", report, check_report_dir)):
        if path is None:
            continue
        try:
            check(path)
        except FileRefused as exc:
            return f"{option} {exc}"
        except OSError:
            pass  # (an unwritable folder: the write says so, as before)
    return None


def run(args: argparse.Namespace) -> int:
    if args.replace and args.record is None:
        return _fail("--replace says how to write the record file: give --record OUT too", 2)
    if (why := refused_output(args.record, args.report)) is not None:
        return _fail(why, 2)
    loaded = analyzed_config(args.config, "calibrating")
    if isinstance(loaded, int):
        return loaded
    config, analysis = loaded
    if analysis.family != "kv":
        what = (
            analysis.schema.shown
            if analysis.schema is not None
            else f"a file with no schema ({analysis.resolution.why})"
        )
        return _fail(
            f"{config.shown} is {what}: kvcal calibrate runs KV-cache configs (AMCTQuantCaliConfig); if "
            "this is one, say so with a first line '# proto-message: AMCTQuantCaliConfig'",
            1,
        )
    plans = resolve_analysis(analysis)
    if not plans:
        return _fail(f"{config.shown}: no layer to quantize (quant_layers and overrides are empty)", 1)
    data = args.data
    if data is None:
        header = header_data(config)
        if header is None:
            return _fail(
                f"{config.shown}: no sample data: pass --data SAMPLES.safetensors or put "
                "'# kvcal: data=PATH' on the config's first line",
                2,
            )
        if (why := header.missing()) is not None:
            return _fail(why, 2)
        data = header.path
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        return _fail("--device cuda: no CUDA GPU is available here; use --device cpu or auto", 2)

    from kvcal.calibrate import (
        CalibrationError,  # (torch: imported when a calibration runs, not before)
    )
    from kvcal.calibrate.results.report import table, warnings_of
    from kvcal.calibrate.runner import calibrate_and_write

    bar = ProgressBar(sys.stderr)
    try:
        written = calibrate_and_write(
            plans,
            data,
            record=args.record,
            report=args.report,
            update=not args.replace,
            config=args.config,
            device=args.device,
            progress=bar,
        )
    except CalibrationError as exc:
        bar.close()
        return _fail(str(exc), 1)
    except OSError as exc:  # the report (the record was written)
        bar.close()
        return _fail(f"{exc.filename or args.report}: cannot write the report ({exc.strerror or exc})", 1)
    bar.close()
    result, replaced, report = written.result, list(written.replaced), written.report
    if args.json:
        out = result.to_dict()
        out.update(
            config=args.config,
            record=str(args.record) if args.record else None,
            replaced=replaced,
            report=str(report) if report else None,
        )
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(table(result))
    for warning in warnings_of(result):
        sys.stderr.write(f"kvcal: warning: {warning}\n")
    tail = [f"{len(result.layers)} layer(s) in {result.seconds:.2f} s on {result.device}"]
    if args.record is not None:
        tail.append(f"record: {args.record}" + (f" (replaced {len(replaced)} layer(s))" if replaced else ""))
    if report is not None:
        tail.append(f"report: {report}")
    print("\n" + "; ".join(tail))
    return 0
