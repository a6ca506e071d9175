"""``kvcal lsp``: the language server on stdio (every editor feature, and calibration)."""

from __future__ import annotations

import argparse
import logging
import sys

from kvcal.server.lsp import serve

HELP = "run the language server on stdio"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stdio", action="store_true", help="accepted and ignored: stdio is the only transport")
    parser.add_argument(
        "--log-level",
        default="WARNING",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="server log level (the log goes to stderr)",
    )


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level, format="kvcal lsp: %(levelname)s %(name)s: %(message)s"
    )
    return serve()
