"""``kvcal check FILE...``: every problem AMCT (or protobuf) would hit, and the ones it lets through."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kvcal.grammar.association import SampleHeaderError, sample_layer_names
from kvcal.grammar.problems import Problem
from kvcal.grammar.text import LineIndex
from kvcal.server.commands._files import (
    add_schema_arguments,
    analyze_config,
    header_data,
    problem_json,
    problem_line,
    read_config,
    schema_options,
)

HELP = "report problems in AMCT configs and other protobuf text-format files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files ('-' reads stdin)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    parser.add_argument(
        "--data",
        metavar="SAMPLES",
        type=Path,
        help="sample data (.safetensors) to check layer names against; default: the file's '# kvcal: data=PATH' header",
    )
    parser.add_argument("--no-notes", action="store_true", help="hide information and hint notes")
    add_schema_arguments(parser)


def run(args: argparse.Namespace) -> int:
    errors = usage = 0
    options = schema_options(args)
    if isinstance(options, int):
        return options
    records: list[dict[str, object]] = []
    given: list[str] | None = None
    if args.data is not None:  # an explicit --data must be readable: a usage error otherwise
        try:
            given = sample_layer_names(args.data)
        except SampleHeaderError as exc:
            sys.stderr.write(f"kvcal: --data: {exc}\n")
            return 2
    for name in args.files:
        config = read_config(name)
        if config is None:
            usage += 1
            continue
        layers, extra = given, []
        header = header_data(config) if given is None else None
        if header is not None:
            try:
                layers = sample_layer_names(header.path)
            except SampleHeaderError as exc:  # as the language server reports it
                extra.append(
                    Problem("sample-data", "warning", header.start, header.end, f"{exc}: layer names are not checked")
                )
        analysis = analyze_config(config, options, layers=layers)
        if analysis.family != "kv":
            extra = []  # (sample data is the KV-cache calibration's)
        problems = tuple(sorted((*analysis.problems, *extra), key=Problem.sort_key))
        if args.no_notes:
            problems = tuple(p for p in problems if p.severity in ("error", "warning"))
        index = LineIndex(config.text)
        shown = config.shown
        errors += sum(p.is_error for p in problems)
        if args.format == "json":
            records += [problem_json(shown, index, p) for p in problems]
        else:
            for p in problems:
                print(problem_line(shown, index, p))
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    elif errors:
        print(f"{errors} error(s) in {len(args.files)} file(s)", file=sys.stderr)
    if usage:
        return 2
    return 1 if errors else 0
