"""User schemas: a ``.proto`` compiled by protoc (grpcio-tools) into a descriptor set with
source info, loaded as a :class:`~kvcal.grammar.schema.model.SchemaSet`, and cached.

protoc runs in a child process (``python -I -m grpc_tools.protoc``): its errors arrive on
the child's stderr as ``file:line:column: message``, nothing is imported into this process
(grpc_tools installs import hooks when imported), and a crash cannot take the language
server down. A compiled set is cached by the files it was built from and their sizes and
mtimes: editing the config never recompiles; editing a ``.proto`` (or one it imports) does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError

from kvcal.grammar.files import open_regular
from kvcal.grammar.schema.model import SchemaSet

__all__ = ["RETRY_FAILED_S", "CompileError", "compile_count", "compile_proto", "forget_failed_compilations"]

PROTOC_TIMEOUT_S = 60.0
RETRY_FAILED_S = 5.0
_ERROR = re.compile(r"^(?P<file>[^\n:]+?):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$", re.MULTILINE)


class CompileError(Exception):
    """A .proto that protoc cannot compile (or that cannot be run): ``message`` is protoc's
    first error, with its file, line and column when protoc gave them."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}: " if self.file and self.line else ""
        return where + self.message


@dataclass(frozen=True)
class _Entry:
    stamps: tuple[tuple[str, int, int], ...]  # (path, mtime_ns, size) of every source file
    result: SchemaSet | CompileError
    made: float  # (time.monotonic())


_CACHE: dict[tuple[object, ...], _Entry] = {}
_LOCK = threading.Lock()
_COUNT = 0


def compile_count() -> int:
    """How many times protoc has run in this process (tests and benchmarks read it)."""
    return _COUNT


def forget_failed_compilations() -> None:
    """Drop the failures kept in the cache (a .proto was created or changed: an import that
    was missing may be there now); compiled schemas stay, checked by their stamps."""
    with _LOCK:
        for key in [k for k, e in _CACHE.items() if isinstance(e.result, CompileError)]:
            del _CACHE[key]


def _stamp(path: Path) -> tuple[str, int, int]:
    try:
        st = path.stat()
        return (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), -1, -1)


def _well_known_include() -> Path | None:
    """grpc_tools' copy of the well-known types (google/protobuf/*.proto), without importing
    grpc_tools (which installs import hooks)."""
    import importlib.util

    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "_proto"
    return folder if folder.is_dir() else None


def _virtual_name(path: Path, includes: list[Path]) -> tuple[Path, str]:
    """The include folder holding *path* and its name relative to it (protoc's view)."""
    for inc in includes:
        try:
            return inc, path.relative_to(inc).as_posix()
        except ValueError:
            continue
    return path.parent, path.name


_IMPORT = re.compile(r'^[ \t]*import[ \t]+(?:(?:public|weak|option)[ \t]+)?"([^"\n]+)"[ \t]*;', re.MULTILINE)
_PROTO_READ_MAX = 4 * 1024 * 1024
_ROOT_DEPTH = 32


def _source_root(proto: Path, includes: list[Path]) -> Path | None:
    """The folder above *proto* its imports are written from, when no include folder holds
    them: ``import "wfa/cfg/common.proto";`` in ``src/main/proto/wfa/cfg/map.proto`` names
    ``src/main/proto`` (what a build passes to protoc as ``-I``). None when every import is
    found already, or no folder above holds them all."""
    try:
        with os.fdopen(open_regular(proto), "rb") as f:
            text = f.read(_PROTO_READ_MAX).decode("utf-8", "replace")
    except OSError:  # (FileRefused among them: protoc's own error will say what is wrong)
        return None
    wanted = [m for m in _IMPORT.findall(text) if not m.startswith("google/protobuf/")]
    missing = [m for m in wanted if not any((inc / m).is_file() for inc in includes)]
    if not missing:
        return None
    for folder in list(proto.parents)[:_ROOT_DEPTH]:
        try:
            if all((folder / m).is_file() for m in missing):
                return folder
        except OSError:
            return None
    return None


def compile_proto(proto: Path, *, imports: tuple[Path, ...] = (), include: tuple[Path, ...] = ()) -> SchemaSet:
    """Compile *proto* (and *imports*, extra files whose types the document uses: extensions,
    ``Any`` payloads) with protoc; raise :class:`CompileError` when it fails.

    *include* are the folders imports are looked up in (protoc's ``-I``), in order; the
    first one holding *proto* names it (so ``import`` lines relative to a source root
    work). When *proto*'s imports are in none of them, the folder above it that holds them
    all is tried first (see :func:`_source_root`). The well-known types
    (``google/protobuf/*.proto``) are always available.
    """
    proto = proto.resolve()
    given = [p.resolve() for p in include]
    key = (str(proto), tuple(str(p) for p in given), tuple(str(p.resolve()) for p in imports))
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is not None and _fresh(entry):
            if isinstance(entry.result, CompileError):
                raise entry.result
            return entry.result
        includes, name, extra = _invocation(proto, given, imports)
        try:
            result: SchemaSet | CompileError = _run_protoc(name, extra, includes)
        except CompileError as exc:
            result = exc
        sources = result.sources if isinstance(result, SchemaSet) else {}
        stamped = {str(proto), *(str(p.resolve()) for p in imports), *(str(p) for p in sources.values())}
        _CACHE[key] = _Entry(tuple(_stamp(Path(p)) for p in sorted(stamped)), result, time.monotonic())
    if isinstance(result, CompileError):
        raise result
    return result


def _fresh(entry: _Entry) -> bool:
    """Built from the files as they are now; a failure is also retried after a while (the
    import it missed may have been created since, which no stamp of it can show)."""
    if isinstance(entry.result, CompileError) and time.monotonic() - entry.made > RETRY_FAILED_S:
        return False
    return all(_stamp(Path(p)) == (p, m, s) for p, m, s in entry.stamps)


def _invocation(proto: Path, given: list[Path], imports: tuple[Path, ...]) -> tuple[list[Path], str, list[str]]:
    """protoc's include folders, and the names it is given for *proto* and *imports*."""
    includes = list(given)
    root = _source_root(proto, includes)
    if root is not None:
        includes.insert(0, root)
    base, name = _virtual_name(proto, includes)
    if base not in includes:
        includes.insert(0, base)
    extra = [_virtual_name(p.resolve(), includes) for p in imports]
    for folder, _ in extra:
        if folder not in includes:
            includes.append(folder)
    wkt = _well_known_include()
    if wkt is not None and wkt not in includes:
        includes.append(wkt)
    return includes, name, [n for _, n in extra]


def _run_protoc(name: str, extra: list[str], includes: list[Path]) -> SchemaSet:
    global _COUNT
    with tempfile.TemporaryDirectory(prefix="kvcal-protoc-") as tmp:
        out = Path(tmp) / "set.binpb"
        args = [
            sys.executable,
            "-I",
            "-m",
            "grpc_tools.protoc",
            *(f"-I{p}" for p in includes),
            f"--descriptor_set_out={out}",
            "--include_source_info",
            "--include_imports",
            name,
            *extra,
        ]
        env = {**os.environ, "GRPC_PYTHON_DISABLE_DYNAMIC_STUBS": "1"}
        _COUNT += 1
        try:
            run = subprocess.run(
                args,
                capture_output=True,
                text=True,
                timeout=PROTOC_TIMEOUT_S,
                env=env,
                stdin=subprocess.DEVNULL,
                cwd=tmp,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CompileError(f"protoc did not finish within {PROTOC_TIMEOUT_S:.0f} s") from exc
        except OSError as exc:
            raise CompileError(f"cannot run protoc ({exc.strerror or exc}): is grpcio-tools installed?") from exc
        if run.returncode != 0 or not out.is_file():
            raise _error(run.stderr, includes)
        try:
            fds = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        except DecodeError as exc:  # pragma: no cover - protoc wrote it
            raise CompileError(f"protoc wrote an unreadable descriptor set ({exc})") from exc
    try:
        return SchemaSet(fds, _sources_from(fds, includes), label=name)
    except (TypeError, ValueError, KeyError) as exc:  # the pool refuses it (protobuf runtime limits)
        raise CompileError(f"protobuf cannot load the compiled schema: {exc}") from exc


def _sources_from(fds: descriptor_pb2.FileDescriptorSet, includes: list[Path]) -> dict[str, Path]:
    out = {}
    for file in fds.file:
        for inc in includes:
            candidate = inc / file.name
            if candidate.is_file():
                out[file.name] = candidate
                break
    return out


def _error(stderr: str, includes: list[Path]) -> CompileError:
    text = stderr.strip()
    if "No module named grpc_tools" in text:
        return CompileError("grpcio-tools is not installed: pip install grpcio-tools (kvcal needs its protoc)")
    m = _ERROR.search(text)
    if m:
        file = m["file"]
        for inc in includes:  # protoc names files as given; show where they are
            if (inc / file).is_file():
                file = str(inc / file)
                break
        return CompileError(m["message"].strip(), file, int(m["line"]), int(m["column"]))
    first = next((line for line in text.splitlines() if line.strip()), "protoc failed without a message")
    if ": " in first and not first.startswith("protoc"):
        file, _, message = first.partition(": ")
        return CompileError(message.strip(), file.strip())
    return CompileError(first)
