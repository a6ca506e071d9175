"""Reading config files for the command line: bytes in, never a traceback out."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from kvcal.grammar.analysis import Analysis, analyze
from kvcal.grammar.parser import ParseResult, parse_bytes
from kvcal.grammar.problems import Problem
from kvcal.grammar.text import LineIndex


@dataclass(frozen=True)
class ConfigFile:
    path: Path
    parsed: ParseResult

    @property
    def text(self) -> str:
        return self.parsed.text


def read_config(name: str) -> ConfigFile | None:
    """Read and parse *name*; print a clear error and return None when it cannot be read."""
    path = Path(name)
    try:
        data = sys.stdin.buffer.read() if name == "-" else path.read_bytes()
    except FileNotFoundError:
        sys.stderr.write(f"kvcal: {name}: no such file\n")
        return None
    except IsADirectoryError:
        sys.stderr.write(f"kvcal: {name}: is a directory; give a quant.cfg file\n")
        return None
    except OSError as exc:
        sys.stderr.write(f"kvcal: {name}: cannot read it ({exc.strerror or exc})\n")
        return None
    return ConfigFile(path, parse_bytes(data))


def analyzed_config(name: str, purpose: str) -> tuple[ConfigFile, Analysis] | int:
    """Read and analyse a config for a command that needs an error-free one.

    Returns the config and its analysis, or the exit code after printing why not:
    2 when the file cannot be read, 1 when it has errors (each printed, then what to do).
    """
    config = read_config(name)
    if config is None:
        return 2
    analysis = analyze(config.parsed)
    errors = [p for p in analysis.problems if p.is_error]
    if not errors:
        return config, analysis
    index = LineIndex(config.text)
    for p in errors:
        sys.stderr.write(problem_line(name, index, p) + "\n")
    sys.stderr.write(f"kvcal: {name}: fix the {len(errors)} error(s) before {purpose}: AMCT would reject "
                     f"or misread this file (`kvcal check {name}` lists every problem)\n")  # fmt: skip
    return 1


def problem_line(path: str, index: LineIndex, p: Problem) -> str:
    """``path:line:col: severity: message [code]`` (1-based line and column)."""
    line, col = index.position(p.start)
    return f"{path}:{line + 1}:{col + 1}: {p.severity}: {p.message} [{p.code}]"


def problem_json(path: str, index: LineIndex, p: Problem) -> dict[str, object]:
    line, col = index.position(p.start)
    end_line, end_col = index.position(p.end)
    return {
        "path": path, "line": line + 1, "column": col + 1, "end_line": end_line + 1,
        "end_column": end_col + 1, "severity": p.severity, "code": p.code, "message": p.message,
    }  # fmt: skip
