"""``kvcal schema FILE...``: the schema each file resolves to, and why."""

from __future__ import annotations

import argparse
import json

from kvcal.grammar.text import LineIndex
from kvcal.server.commands._files import (
    add_schema_arguments,
    analyze_config,
    problem_line,
    read_config,
    schema_options,
)

HELP = "show which schema each file is checked against, and why"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files ('-' reads stdin)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    add_schema_arguments(parser)


def run(args: argparse.Namespace) -> int:
    options = schema_options(args)
    if isinstance(options, int):
        return options
    status = 0
    records = []
    for name in args.files:
        config = read_config(name)
        if config is None:
            status = 2
            continue
        analysis = analyze_config(config, options)
        res = analysis.resolution
        schema = res.schema
        problems = [p for p in res.problems if p.is_error]
        record = {
            "path": config.shown,
            "schema": schema.name if schema is not None else None,
            "title": schema.shown if schema is not None else None,
            "family": schema.family if schema else None,
            "how": res.how,
            "why": res.why,
            "proto": str(schema.proto) if schema is not None and schema.proto is not None else None,
            "candidates": [c.name for c in res.candidates] if len(res.candidates) > 1 else [],
        }
        records.append(record)
        if args.format == "text":
            what = (
                f"{schema.name} ({schema.shown})"
                if schema is not None and schema.title
                else (schema.name if schema is not None else "none (syntax only)")
            )
            print(f"{config.shown}: {what}")
            print(f"  {res.how}: {res.why}")
            if schema is not None and schema.proto is not None:
                print(f"  proto: {schema.proto}")
            index = LineIndex(config.text)
            for p in problems:
                print("  " + problem_line(config.shown, index, p))
        if problems:
            status = max(status, 1)
    if args.format == "json":
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return status
