"""Golden diagnostics written by hand inside fixture files.

A marker is a comment line of carets under the text it points at, followed by the
severity and the code::

      batch_num: 0
    #            ^ error batch-num

Fixture content is indented so that carets can reach the first column of a field.
``# layers: a, b`` on the first line gives the sample-data layer names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = re.compile(r"^#(?P<pad> *)(?P<carets>\^+) (?P<severity>error|warning|information|hint) (?P<code>[a-z-]+)\s*$")
LAYERS = re.compile(r"^# layers: (?P<names>.*)$")


@dataclass(frozen=True, order=True)
class Expected:
    line: int  # 0-based line of the text the carets point at
    start: int  # 0-based column
    end: int
    severity: str
    code: str


def expectations(text: str) -> tuple[list[Expected], list[str] | None]:
    out: list[Expected] = []
    layers = None
    target = -1
    for i, line in enumerate(text.splitlines()):
        if i == 0 and (m := LAYERS.match(line)):
            layers = [n.strip() for n in m["names"].split(",")]
        m = MARKER.match(line)
        if m:
            start = 1 + len(m["pad"])
            out.append(Expected(target, start, start + len(m["carets"]), m["severity"], m["code"]))
        elif "^" not in line:
            target = i
    return sorted(out), layers


def fixtures(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.cfg"))
