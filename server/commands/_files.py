"""Reading config files for the command line: bytes in, never a traceback out."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from kvcal.grammar.association import header_data_path
from kvcal.grammar.checks.analysis import Analysis, analyze
from kvcal.grammar.files import FileRefused, describe, read_regular, read_stream
from kvcal.grammar.problems import Problem
from kvcal.grammar.schema import Schema
from kvcal.grammar.schema.resolution import SchemaError, SchemaOptions, explicit_schema
from kvcal.grammar.syntax.parser import ParseResult, parse_bytes
from kvcal.grammar.text import LineIndex

#: how standard input is named in messages
STDIN = "<stdin>"


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    parsed: ParseResult
    name: str = ""  # as the user gave it ('-' for stdin)
    raw: bytes = b""  # the bytes read (kvcal format writes only if the file still holds them)

    @property
    def text(self) -> str:
        return self.parsed.text

    @property
    def shown(self) -> str:
        return STDIN if self.name == "-" else self.name


@dataclass(frozen=True)
class HeaderData:
    """The sample data a config's ``# kvcal: data=PATH`` header names."""

    path: Path  # resolved: relative to the config's folder
    written: str  # as the header writes it
    start: int  # its span in the config text
    end: int
    where: str  # ``config:line:column`` of it

    def missing(self) -> str | None:
        """Why the file cannot be used, with where the header says so; None when it is a
        regular file (a FIFO or a device named there is never opened)."""
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            what = "does not exist"
        else:
            if stat.S_ISREG(mode):
                return None
            what = f"is {describe(mode)}, not a regular file"
        shown = self.written if self.written == str(self.path) else f"{self.written} ({self.path})"
        return (
            f"{self.where}: the '# kvcal: data=' header names {shown}, which {what}: fix the "
            "header or pass --data SAMPLES.safetensors"
        )


def header_data(config: ConfigFile) -> HeaderData | None:
    found = header_data_path(config.text)
    if found is None:
        return None
    written, start, end = found
    path = Path(written).expanduser()
    if not path.is_absolute() and config.name != "-":
        path = config.path.parent / path
    line, col = LineIndex(config.text).position(start)
    return HeaderData(path, written, start, end, f"{config.shown}:{line + 1}:{col + 1}")


def read_config(name: str) -> ConfigFile | None:
    """Read and parse *name*; print a clear error and return None when it cannot be read."""
    path = Path(name)
    try:
        data = read_stream(sys.stdin.buffer, STDIN) if name == "-" else read_regular(path)
    except FileRefused as exc:  # a FIFO, a device, a directory, too large: never read
        sys.stderr.write(f"kvcal: {name}: {exc.strerror}; give a quant.cfg file\n")
        return None
    except FileNotFoundError:
        sys.stderr.write(f"kvcal: {name}: no such file\n")
        return None
    except IsADirectoryError:
        sys.stderr.write(f"kvcal: {name}: is a directory; give a quant.cfg file\n")
        return None
    except OSError as exc:
        sys.stderr.write(f"kvcal: {name}: cannot read it ({exc.strerror or exc})\n")
        return None
    return ConfigFile(path, parse_bytes(data), name, data)


def add_schema_arguments(parser: argparse.ArgumentParser) -> None:
    """``--proto``, ``--message``, ``--proto-path``: the schema, when the files do not say."""
    group = parser.add_argument_group(
        "schema",
        "by default a file's '# proto-file:'/'# proto-message:' header "
        "names its schema, else its content is matched to the bundled AMCT configs",
    )
    group.add_argument(
        "--proto", metavar="SCHEMA.proto", type=Path, help="check every file against this .proto (compiled with protoc)"
    )
    group.add_argument(
        "--message",
        metavar="pkg.Message",
        help="the message the files are (with --proto; alone: a bundled AMCT root such as AMCTConfig)",
    )
    group.add_argument(
        "--proto-path",
        metavar="DIR",
        type=Path,
        action="append",
        default=[],
        help="a folder where imports and header paths are looked up (repeatable)",
    )


def _cwd() -> tuple[Path, ...]:
    try:
        return (Path.cwd(),)
    except OSError:  # (the current folder was removed)
        return ()


def schema_options(args: argparse.Namespace) -> SchemaOptions | int:
    """The schema options of a command; an unusable explicit schema is a usage error (2)."""
    proto, message = getattr(args, "proto", None), getattr(args, "message", None)
    proto_path = tuple(p.expanduser().resolve() for p in getattr(args, "proto_path", None) or ())
    missing = [p for p in proto_path if not p.is_dir()]
    if missing:
        sys.stderr.write(f"kvcal: --proto-path {missing[0]}: no such folder\n")
        return 2
    options = SchemaOptions(
        proto=proto.expanduser().resolve() if proto else None,
        message=message,
        origin="--proto/--message",
        proto_path=proto_path,
        workspace=_cwd(),  # (the command line's workspace: where it runs)
    )
    if proto is not None or message is not None:
        try:
            explicit_schema(options.proto, message, include=proto_path, what="--proto")
        except SchemaError as exc:
            sys.stderr.write(f"kvcal: {exc}\n")
            return 2
    return options


def analyze_config(
    config: ConfigFile,
    options: SchemaOptions | None = None,
    *,
    schema: Schema | None = None,
    layers: list[str] | None = None,
) -> Analysis:
    """The analysis of a file read by :func:`read_config`, its schema resolved for its path."""
    path = None if config.name == "-" else config.path.resolve()
    if schema is not None:
        return analyze(config.parsed, schema=schema, layers=layers)
    return analyze(config.parsed, options=options, path=path, layers=layers)


def analyzed_config(name: str, purpose: str, options: SchemaOptions | None = None) -> tuple[ConfigFile, Analysis] | int:
    """Read and analyse a config for a command that needs an error-free one.

    Returns the config and its analysis, or the exit code after printing why not:
    2 when the file cannot be read, 1 when it has errors (each printed, then what to do).
    """
    config = read_config(name)
    if config is None:
        return 2
    analysis = analyze_config(config, options)
    errors = [p for p in analysis.problems if p.is_error]
    if not errors:
        return config, analysis
    index = LineIndex(config.text)
    for p in errors:
        sys.stderr.write(problem_line(config.shown, index, p) + "\n")
    reader = "AMCT" if analysis.family is not None else "protobuf"
    sys.stderr.write(
        f"kvcal: {config.shown}: fix the {len(errors)} error(s) before {purpose}: {reader} would "
        f"reject or misread this file (`kvcal check {name}` lists every problem)\n"
    )
    return 1


def problem_line(path: str, index: LineIndex, p: Problem) -> str:
    """``path:line:col: severity: message [code]`` (1-based line and column)."""
    line, col = index.position(p.start)
    return f"{path}:{line + 1}:{col + 1}: {p.severity}: {p.message} [{p.code}]"


def problem_json(path: str, index: LineIndex, p: Problem) -> dict[str, object]:
    line, col = index.position(p.start)
    end_line, end_col = index.position(p.end)
    return {
        "path": path,
        "line": line + 1,
        "column": col + 1,
        "end_line": end_line + 1,
        "end_column": end_col + 1,
        "severity": p.severity,
        "code": p.code,
        "message": p.message,
    }
