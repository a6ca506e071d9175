"""The ``kvcal`` command line: one entry point, one module per subcommand.

Each module in ``kvcal.server.commands`` exposes ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int``. Modules are imported only when
their subcommand runs (calibrate imports torch; ``check`` and ``lsp`` must not).
Exit codes: 0 success, 1 the command found errors, 2 usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from kvcal.server import __version__

#: subcommand -> (module in kvcal.server.commands, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "report problems in AMCT configs and other protobuf text-format files"),
    "format": ("format", "format text-format files canonically, keeping every comment"),
    "explain": ("explain", "show the effective per-layer plan AMCT will run"),
    "schema": ("schema", "show which schema each file is checked against, and why"),
    "calibrate": ("calibrate", "run the configured IFMR/HFMG on sample data, write the record"),
    "capture": ("capture", "run a model over text and save its K/V projection outputs as sample data"),
    "evaluate": ("evaluate", "perplexity of a model with its KV cache fake-quantized by a config"),
    "tune": ("tune", "search quant.cfg settings on a model and write the one that holds on held-out text"),
    "lsp": ("lsp", "run the language server on stdio"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with a hint
        self.print_usage(sys.stderr)
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, _Parser]]:
    parser = _Parser(
        prog="kvcal",
        description="Write, check and calibrate AMCT quantization configs and any protobuf text-format file.",
    )
    parser.add_argument("--version", action="version", version=f"kvcal {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers = {name: sub.add_parser(name, help=help_, description=help_) for name, (_, help_) in COMMANDS.items()}
    return parser, subparsers


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, subparsers = build_parser()
    name = next((a for a in argv if not a.startswith("-")), None)
    if name in COMMANDS:
        module = importlib.import_module(f"kvcal.server.commands.{COMMANDS[name][0]}")
        module.add_arguments(subparsers[name])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(module.run(args))
    except KeyboardInterrupt:
        sys.stderr.write("kvcal: interrupted\n")
        return 130
    except BrokenPipeError:  # `kvcal check ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
