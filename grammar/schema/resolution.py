"""Which schema a document is checked against, and why: one order for the command line and
the language server.

1. explicit: ``--proto FILE --message NAME`` (or the server's ``kvcal.schemas`` setting);
2. the document's header (``# proto-file:``, ``# proto-message:``, ``# proto-import:``);
   paths relative to the document's folder, then the proto path, then the workspace, then
   the folders above the document up to its project's root (``.git``, a Bazel or buf root);
3. the bundled AMCT family, recognised by content (:mod:`~kvcal.grammar.schema.detect`);
4. none: syntax and formatting only, never a schema error.

Problems found on the way (a header naming a file that does not exist or does not compile,
a message the file lacks) are diagnostics on the header line; the choice made by content,
and the absence of a schema, are information notes on line 1 with a quick fix that writes
the header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Literal

from kvcal.grammar.problems import Problem, Severity
from kvcal.grammar.schema.bundled import FAMILIES, FAMILY_BY_ROOT, bundled_set, family_schema
from kvcal.grammar.schema.compile import CompileError, compile_proto
from kvcal.grammar.schema.detect import detect
from kvcal.grammar.schema.header import Header, HeaderValue, read_header
from kvcal.grammar.schema.model import Schema, SchemaSet
from kvcal.grammar.spelling import suggest
from kvcal.grammar.syntax.tree import Message

__all__ = ["Resolution", "SchemaError", "SchemaOptions", "explicit_schema", "header_fix", "resolve_schema"]

How = Literal["explicit", "header", "content", "none"]


@dataclass(frozen=True)
class SchemaOptions:
    """What decides a document's schema besides its text.

    ``proto``/``message``: an explicit choice (``origin`` names it in messages);
    ``proto_path``: folders searched for header and import paths (protoc's ``-I``);
    ``workspace``: the editor's workspace folders (searched last); ``known_protos``: .proto
    files found in the workspace, offered when a document has no schema; ``quiet``: the
    document was claimed only by its extension (``setup.cfg``): no diagnostics at all when
    it has no schema and is not text format.
    """

    proto: Path | None = None
    message: str | None = None
    origin: str = "--proto/--message"
    proto_path: tuple[Path, ...] = ()
    workspace: tuple[Path, ...] = ()
    known_protos: tuple[Path, ...] = ()
    quiet: bool = False


@dataclass(frozen=True)
class Resolution:
    schema: Schema | None
    how: How
    why: str
    problems: tuple[Problem, ...] = ()
    #: content: every member the text fits equally (the chosen one first)
    candidates: tuple[Schema, ...] = ()
    header: Header | None = None
    quiet: bool = False
    #: the protos the header or option named (for hover, go to definition, the status bar)
    protos: tuple[Path, ...] = field(default=(), compare=False)

    def describe(self) -> str:
        """One line: the schema and why (``kvcal schema``, hover on the header, the status bar)."""
        if self.schema is None:
            return f"no schema: {self.why}"
        return f"{self.schema.shown}: {self.why}"


class SchemaError(ValueError):
    """A schema that cannot be used: the proto is missing or does not compile, or lacks the
    message. ``span`` is the header value the problem is about, when it came from one."""

    def __init__(self, message: str, span: tuple[int, int] | None = None) -> None:
        super().__init__(message)
        self.span = span


def _bundled_by_file(name: str) -> list[Schema]:
    base = PurePath(name).name
    return [s for f in FAMILIES if f.proto == base and (s := family_schema(f.key)) is not None]


def _bundled_by_message(name: str) -> Schema | None:
    for family in FAMILIES:
        if name in (family.root, family.message):
            return family_schema(family.key)
    return None


def _find_message(schema_set: SchemaSet, name: str, proto_name: str | None) -> Schema | None:
    desc = schema_set.find_message(name.lstrip("."))
    if desc is None:
        matches = [n for n in schema_set.message_names() if n.endswith("." + name) or n == name]
        if proto_name is not None and len(matches) > 1:
            own = [n for n in matches if schema_set.message(n).file.name == proto_name]
            matches = own or matches
        if len(matches) != 1:
            return None
        desc = schema_set.message(matches[0])
    family = FAMILY_BY_ROOT.get(desc.full_name)
    title = f"{family.title} ({family.message})" if family is not None else desc.full_name
    return Schema(schema_set, desc, family.key if family is not None else None, title)


def explicit_schema(
    proto: Path | None,
    message: str | None,
    *,
    include: tuple[Path, ...] = (),
    imports: tuple[Path, ...] = (),
    what: str = "--proto",
) -> Schema:
    """The schema a user named: *proto* compiled (or the bundled AMCT schema by its message
    or AMCT's file name), and *message* in it. Raises :class:`SchemaError`."""
    if proto is None:
        if message is None:
            raise SchemaError("name a schema: a .proto file and the message the document is")
        bundled = _bundled_by_message(message)
        if bundled is None:
            roots = ", ".join(f.root for f in FAMILIES)
            raise SchemaError(f"{message} is no bundled AMCT schema ({roots}): also give the .proto that defines it")
        return bundled
    if not proto.is_file():
        fallback = _bundled_by_file(proto.name) if not proto.exists() else []
        if fallback:
            if message is None:
                return fallback[0]
            chosen = _find_message(bundled_set(), message, None)
            if chosen is not None:
                return chosen
        what_is = (
            "is a directory"
            if proto.is_dir()
            else "is not a regular file (kvcal reads regular files only)"
            if proto.exists()
            else "does not exist"
        )
        raise SchemaError(f"{proto} {what_is}")
    try:
        schema_set = compile_proto(proto, imports=imports, include=include)
    except CompileError as exc:
        raise SchemaError(f"{proto.name} does not compile: {exc}") from exc
    proto_name = schema_set.file_name(proto)
    if message is None:
        tops = schema_set.top_messages(proto_name) if proto_name else []
        if len(tops) == 1:
            chosen = _find_message(schema_set, tops[0], proto_name)
            assert chosen is not None
            return _with_proto(chosen, proto)
        listing = ", ".join(tops) if tops else "no message"
        raise SchemaError(f"say which message of {proto.name} the document is ({listing}): {what} names the file only")
    chosen = _find_message(schema_set, message, proto_name)
    if chosen is None:
        own = schema_set.top_messages(proto_name) if proto_name else []
        names = own or schema_set.message_names()
        # (compared by the last part of the name: a shared package is no likeness)
        by_short = {n.rpartition(".")[2]: n for n in reversed(names)}
        close = suggest(message.rpartition(".")[2], list(by_short))
        listing = ", ".join(names[:8]) + (", …" if len(names) > 8 else "") if names else "no message"
        hint = f"did you mean {by_short[close]}? (it has {listing})" if close else f"it has {listing}"
        raise SchemaError(f"{proto.name} has no message {message}: {hint}")
    return _with_proto(chosen, proto)


def _with_proto(schema: Schema, proto: Path) -> Schema:
    return Schema(schema.set, schema.root, schema.family, schema.title, proto)


def _locate(value: str, path: Path | None, options: SchemaOptions) -> tuple[Path | None, Path | None, list[Path]]:
    """A header path: (the file, the folder it was found relative to, the folders looked in)."""
    written = Path(value).expanduser()
    if written.is_absolute():
        return (_tidy(written) if written.is_file() else None), written.parent, [written.parent]
    bases = [*([path.parent] if path is not None else []), *options.proto_path, *options.workspace]
    bases = list(dict.fromkeys(b for b in bases))
    for base in bases:
        candidate = base / written
        if candidate.is_file():
            return _tidy(candidate), base, bases
    # then the folders up to the document's project root: protoc, Bazel and protobuf's own
    # printers write a header's path from there (descriptor.file.name)
    above = [b for b in _project_folders(path.parent) if b not in bases] if path is not None else []
    for base in above:
        candidate = base / written
        if candidate.is_file():
            return _tidy(candidate), base, [*bases, *above]
    return None, None, [*bases, *above]


# What marks a project's root: a repository, a Bazel workspace, a buf module or workspace.
_PROJECT_MARKERS = (".git", ".hg", "MODULE.bazel", "WORKSPACE", "WORKSPACE.bazel", "buf.yaml", "buf.work.yaml")
_MAX_DEPTH = 64


def _project_folders(folder: Path) -> list[Path]:
    """The folders above *folder*, nearest first, up to the nearest one that is a project's
    root (see ``_PROJECT_MARKERS``); none when *folder* is a root itself or no root is above it."""
    above: list[Path] = []
    for current in [folder, *folder.parents][:_MAX_DEPTH]:
        if current != folder:
            above.append(current)
        try:
            if any((current / marker).exists() for marker in _PROJECT_MARKERS):
                return above
        except OSError:  # (an unreadable folder on the way: no root found through it)
            return []
    return []


def _tidy(found: Path) -> Path:
    """*found* without ``.`` and ``..`` steps (as users read it), unless a symbolic link made
    the lexical form name another file."""
    tidy = Path(os.path.normpath(found))
    try:
        return tidy if tidy.samefile(found) else found
    except OSError:
        return found


def _header_problem(value: HeaderValue, message: str, severity: Severity = "error") -> Problem:
    return Problem("schema", severity, value.start, value.end, message)


def _from_header(header: Header, path: Path | None, options: SchemaOptions) -> Resolution:
    file, message = header.file, header.message
    imports: list[Path] = []
    problems: list[Problem] = []
    for imp in header.imports:
        found, _, looked = _locate(imp.value.strip("\"'"), path, options)
        if found is None:
            problems.append(
                _header_problem(imp, f"proto-import: cannot find {imp.value} (looked in {_places(looked)})")
            )
        else:
            imports.append(found)
    if file is None:
        assert message is not None
        bundled = _bundled_by_message(message.value)
        if bundled is not None:
            return Resolution(bundled, "header", f"the header names {message.value}", tuple(problems), header=header)
        problems.append(
            _header_problem(
                message,
                f"proto-message: {message.value} is no bundled AMCT schema: add "
                "'# proto-file: PATH' naming the .proto that defines it",
            )
        )
        return Resolution(
            None, "none", "the header names a message without its .proto file", tuple(problems), header=header
        )
    written = file.value.strip("\"'")
    found, base, looked = _locate(written, path, options)
    if found is None:
        by_file = _bundled_by_file(written)
        if by_file:
            chosen = by_file[0]
            if message is not None:
                chosen = _find_message(bundled_set(), message.value, None) or chosen
            return Resolution(
                chosen,
                "header",
                f"the header names AMCT's {PurePath(written).name} (bundled with kvcal)",
                tuple(problems),
                header=header,
            )
        where = _places(looked) if looked else "nowhere: the document is not saved, so relative paths have no folder"
        problems.append(
            _header_problem(
                file,
                f"proto-file: cannot find {written} (looked in {where}); fix the path "
                "or add its folder to the proto path (--proto-path, kvcal.protoPath)",
            )
        )
        return Resolution(
            None, "none", f"the header's proto file {written} was not found", tuple(problems), header=header
        )
    include = tuple(dict.fromkeys([*([base] if base else []), *options.proto_path, *options.workspace]))
    try:
        schema = explicit_schema(
            found,
            message.value if message is not None else None,
            include=include,
            imports=tuple(imports),
            what="the header",
        )
    except SchemaError as exc:
        anchor = message if message is not None and "has no message" in str(exc) else file
        problems.append(_header_problem(anchor, str(exc)))
        return Resolution(None, "none", str(exc), tuple(problems), header=header, protos=(found,))
    return Resolution(
        schema, "header", f"the header names {written}", tuple(problems), header=header, protos=(found, *imports)
    )


def _places(folders: list[Path]) -> str:
    shown = [str(p) for p in folders[:4]]
    return ", ".join(shown) + (f" and {len(folders) - 4} more" if len(folders) > 4 else "")


def header_fix(schema: Schema, newline: str = "\n") -> str:
    """The header lines that pin *schema* (bundled: AMCT's file name, found without a path)."""
    family = next((f for f in FAMILIES if f.key == schema.family and f.root == schema.name), None)
    proto = (
        family.proto
        if family is not None and schema.proto is None
        else (schema.proto.name if schema.proto is not None else None)
    )
    lines = ([f"# proto-file: {proto}"] if proto else []) + [f"# proto-message: {schema.name}"]
    return newline.join(lines) + newline


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text[:4096] else "\n"


def resolve_schema(
    text: str, tree: Message, *, path: Path | None = None, options: SchemaOptions = SchemaOptions()
) -> Resolution:
    """The schema of the document *text* (parsed as *tree*), and why."""
    header = read_header(text)
    if options.proto is not None or options.message is not None:
        include = tuple(dict.fromkeys([*options.proto_path, *options.workspace]))
        try:
            schema = explicit_schema(options.proto, options.message, include=include, what=options.origin)
        except SchemaError as exc:
            problem = Problem("schema", "error", 0, 0, f"{options.origin}: {exc}")
            return Resolution(None, "none", str(exc), (problem,), header=header)
        return Resolution(
            schema,
            "explicit",
            f"{options.origin} names it",
            header=header,
            protos=(options.proto,) if options.proto else (),
        )
    if header.present:
        return _from_header(header, path, options)
    found = detect(tree, path)
    newline = _newline(text)
    start = 1 if text.startswith("\ufeff") else 0
    if found.schema is not None:
        fix = header_fix(found.schema, newline)
        note = Problem(
            "schema",
            "information",
            start,
            start,
            f"checked as {found.schema.shown}: {found.why}; pin it with a header",
            data={"insert": {"offset": start, "text": fix}, "title": "Pin the schema: insert its header"},
        )
        return Resolution(found.schema, "content", found.why, (note,), found.candidates, header)
    # the bundled schemas here; an editor adds the messages of the workspace's .proto files
    # (compiling them is its business, when the user asks for the fixes)
    choices = [
        {
            "title": f"Insert a schema header: {f.title} ({f.message})",
            "insert": {"offset": start, "text": f"# proto-file: {f.proto}{newline}# proto-message: {f.root}{newline}"},
        }
        for f in FAMILIES
    ]
    listed = ", ".join(p.name for p in options.known_protos[:5])
    more = f" (this workspace has {listed}{'…' if len(options.known_protos) > 5 else ''})" if listed else ""
    note = Problem(
        "schema",
        "information",
        start,
        start,
        f"no schema, so only syntax is checked ({found.why}): name one with a header, "
        f"'# proto-file: PATH' and '# proto-message: NAME'{more}",
        data={"choices": choices, "protos": [str(p) for p in options.known_protos]},
    )
    return Resolution(None, "none", found.why, (note,), header=header, quiet=options.quiet)
