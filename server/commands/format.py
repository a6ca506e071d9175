"""``kvcal format FILE...``: canonical layout, every comment and value kept."""

from __future__ import annotations

import argparse
import difflib
import sys

from kvcal.grammar.files import rewrite_in_place
from kvcal.grammar.formatter import FormatError, format_text
from kvcal.server.commands._files import STDIN, read_config

HELP = "format quant.cfg files canonically, keeping every comment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files ('-': stdin to stdout)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    mode.add_argument("--diff", action="store_true", help="change nothing; print a unified diff")
    parser.add_argument(
        "--indent",
        type=_indent,
        default="2",
        metavar="N|tab",
        help="each level indented by N spaces (1-16; default 2) or by a tab",
    )


def _indent(value: str) -> str:
    if value == "tab":
        return "\t"
    if value.isdigit() and 1 <= int(value) <= 16:
        return " " * int(value)
    raise argparse.ArgumentTypeError(f"{value!r}: give a number of spaces from 1 to 16, or 'tab'")


def run(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        shown = STDIN if name == "-" else name
        config = read_config(name)
        if config is None:
            status = 2
            continue
        try:
            formatted = format_text(config.parsed, args.indent)
        except FormatError as exc:
            where = f"{shown}:{exc.line}:{exc.column}:" if exc.line is not None else f"{shown}:"
            sys.stderr.write(f"{where} error: {exc.reason}\n")
            status = max(status, 1)
            continue
        if name == "-" and not (args.check or args.diff):
            sys.stdout.write(formatted)
            continue
        if formatted == config.text:
            continue
        if args.check:
            print(f"would reformat {shown}", file=sys.stderr if name == "-" else sys.stdout)
            status = max(status, 1)
        elif args.diff:
            sys.stdout.writelines(
                difflib.unified_diff(
                    config.text.splitlines(keepends=True),
                    formatted.splitlines(keepends=True),
                    fromfile=f"{shown} (original)",
                    tofile=f"{shown} (formatted)",
                )
            )
            status = max(status, 1)
        else:
            try:
                rewrite_in_place(name, formatted, config.raw)
            except OSError as exc:
                sys.stderr.write(f"kvcal: {name}: cannot write it ({exc.strerror or exc}); unchanged\n")
                status = 2
                continue
            print(f"reformatted {name}")
    return status
