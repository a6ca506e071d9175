"""protobuf's own text-format test data (fetched by scripts/fetch-protobuf-testdata.sh) and
the verdicts of protobuf's own Python parser on it."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from google.protobuf import text_format

from kvcal.grammar.schema import Schema
from kvcal.grammar.schema.resolution import explicit_schema

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "build" / "protobuf-testdata"
TESTDATA = SRC / "google" / "protobuf" / "testdata"


@dataclass(frozen=True)
class Golden:
    file: str  # in testdata/
    proto: str  # the schema, relative to SRC
    message: str
    valid: bool = True  # protobuf's parser accepts it


GOLDEN = (
    Golden(
        "text_format_unittest_data_oneof_implemented.txt",
        "google/protobuf/unittest.proto",
        "protobuf_unittest.TestAllTypes",
    ),
    Golden(
        "text_format_unittest_data_pointy_oneof.txt", "google/protobuf/unittest.proto", "protobuf_unittest.TestAllTypes"
    ),
    Golden(
        "text_format_unittest_extensions_data.txt",
        "google/protobuf/unittest.proto",
        "protobuf_unittest.TestAllExtensions",
    ),
    Golden(
        "text_format_unittest_extensions_data_pointy.txt",
        "google/protobuf/unittest.proto",
        "protobuf_unittest.TestAllExtensions",
    ),
    Golden("map_test_data.txt", "google/protobuf/map_unittest.proto", "protobuf_unittest.TestMap"),
    # the same data with every oneof member set: protobuf refuses the second member
    Golden("text_format_unittest_data.txt", "google/protobuf/unittest.proto", "protobuf_unittest.TestAllTypes", False),
    Golden(
        "text_format_unittest_data_pointy.txt",
        "google/protobuf/unittest.proto",
        "protobuf_unittest.TestAllTypes",
        False,
    ),
)


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@cache
def _fetched() -> str | None:
    """None when the data is there; else why not."""
    script = ROOT / "scripts" / "fetch-protobuf-testdata.sh"
    run = subprocess.run([str(script)], capture_output=True, text=True, timeout=600, check=False)
    if run.returncode != 0 or not TESTDATA.is_dir():
        return (run.stderr or run.stdout).strip() or "fetch-protobuf-testdata.sh failed"
    return None


def require_data() -> None:
    """Fetch the data; without it: a failure under CI=true (it must run there), a skip with
    the reason elsewhere (never a silent pass)."""
    why = _fetched()
    if why is not None:
        if _ci():
            pytest.fail(f"protobuf's test data is needed in CI: {why}")
        pytest.skip(f"protobuf's test data is not available: {why}")


@cache
def schema(proto: str, message: str) -> Schema:
    return explicit_schema(SRC / proto, message, include=(SRC,))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    line: int | None = None  # 1-based line of protobuf's error
    message: str = ""


_WHERE = re.compile(r"^(\d+):(\d+) : ")


def protobuf_verdict(text: str, target: Schema) -> Verdict:
    """What protobuf's Python text_format.Parse says of *text* (with the schema's pool, so
    that Any payloads and extensions resolve)."""
    cls = target.message_class()
    try:
        text_format.Parse(text, cls(), descriptor_pool=target.set.pool)
    except text_format.ParseError as exc:
        m = _WHERE.match(str(exc))
        return Verdict(False, int(m[1]) if m else exc.GetLine(), str(exc))
    except Exception as exc:  # an EncodeError from packing an Any with missing required fields, ...
        return Verdict(False, None, f"{type(exc).__name__}: {exc}")
    return Verdict(True)
