"""``kvcal format FILE...``: canonical layout, every comment and value kept."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import sys
import tempfile

from kvcal.grammar.formatter import FormatError, format_text
from kvcal.server.commands._files import read_config

HELP = "format quant.cfg files canonically, keeping every comment"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="config files ('-': stdin to stdout)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    mode.add_argument("--diff", action="store_true", help="change nothing; print a unified diff")


def _write_atomic(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kvcal-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        with contextlib.suppress(OSError):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def run(args: argparse.Namespace) -> int:
    status = 0
    for name in args.files:
        config = read_config(name)
        if config is None:
            status = 2
            continue
        try:
            formatted = format_text(config.parsed)
        except FormatError as exc:
            sys.stderr.write(f"kvcal: {name}: {exc}\n")
            status = max(status, 1)
            continue
        if name == "-":
            sys.stdout.write(formatted)
            continue
        if formatted == config.text:
            continue
        if args.check:
            print(f"would reformat {name}")
            status = max(status, 1)
        elif args.diff:
            sys.stdout.writelines(difflib.unified_diff(
                config.text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                fromfile=f"{name} (original)", tofile=f"{name} (formatted)"))  # fmt: skip
            status = max(status, 1)
        else:
            try:
                _write_atomic(name, formatted)
            except OSError as exc:
                sys.stderr.write(f"kvcal: {name}: cannot write it ({exc.strerror or exc}); unchanged\n")
                status = 2
                continue
            print(f"reformatted {name}")
    return status
