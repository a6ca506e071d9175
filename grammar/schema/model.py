"""A schema as a value: a compiled set of ``.proto`` files (:class:`SchemaSet`) and the
message a document is written as (:class:`Schema`).

A set is protoc's ``FileDescriptorSet`` *with source info*, loaded into a descriptor pool
of its own (two user schemas may define the same names): protobuf's descriptors give the
fields, the source info gives the doc comments shown on hover (English, or a line ``zh:``
and Chinese after it) and where each message, field, enum and value is declared (go to
definition). Nothing here parses ``.proto`` text by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

__all__ = ["Declaration", "Doc", "Schema", "SchemaSet"]


@dataclass(frozen=True)
class Doc:
    """A doc comment in English and Chinese (either may be empty)."""

    en: str
    zh: str

    def text(self, locale: str | None = None) -> str:
        if locale and locale.lower().startswith("zh") and self.zh:
            return self.zh
        return self.en or self.zh


NO_DOC = Doc("", "")


@dataclass(frozen=True)
class Declaration:
    """Where a message, field, enum or enum value is declared: its ``.proto`` file (None when
    the file is not on disk) and its span there (0-based lines and columns)."""

    file: Path | None
    proto: str  # the file's name inside the set (``pkg/foo.proto``)
    line: int
    column: int
    end_line: int
    end_column: int


# FileDescriptorProto / DescriptorProto / EnumDescriptorProto field numbers (source info paths).
_FILE_MESSAGE, _FILE_ENUM, _FILE_EXTENSION = 4, 5, 7
_MSG_FIELD, _MSG_NESTED, _MSG_ENUM, _MSG_EXTENSION, _MSG_ONEOF = 2, 3, 4, 6, 8
_ENUM_VALUE = 2


def split_doc(comment: str) -> Doc:
    """A comment as :class:`Doc`: English lines, then (after a line ``zh:``) Chinese."""
    lines = [line.strip() for line in comment.strip("\n").splitlines()]
    if "zh:" in lines:
        i = lines.index("zh:")
        en, zh = lines[:i], lines[i + 1 :]
    else:
        en, zh = lines, []
    return Doc(" ".join(x for x in en if x).strip(), "\n".join(x for x in zh if x).strip())


def _named_paths(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[tuple[int, ...], str]]:
    """Every declaration of *file* as (source-info path, full name)."""
    pkg = f"{file.package}." if file.package else ""

    def enum(
        path: tuple[int, ...], e: descriptor_pb2.EnumDescriptorProto, scope: str
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        name = f"{scope}{e.name}"
        yield path, name
        for vi, v in enumerate(e.value):
            # enum values are siblings of their enum in protobuf's scoping, but kvcal names
            # them under it (``pkg.Enum.VALUE``) so that two enums' values never collide
            yield (*path, _ENUM_VALUE, vi), f"{name}.{v.name}"

    def message(
        path: tuple[int, ...], m: descriptor_pb2.DescriptorProto, scope: str
    ) -> Iterator[tuple[tuple[int, ...], str]]:
        name = f"{scope}{m.name}"
        yield path, name
        for fi, f in enumerate(m.field):
            yield (*path, _MSG_FIELD, fi), f"{name}.{f.name}"
        for oi, o in enumerate(m.oneof_decl):
            yield (*path, _MSG_ONEOF, oi), f"{name}.{o.name}"
        for xi, x in enumerate(m.extension):
            yield (*path, _MSG_EXTENSION, xi), f"{name}.{x.name}"
        for ni, n in enumerate(m.nested_type):
            yield from message((*path, _MSG_NESTED, ni), n, f"{name}.")
        for ei, e in enumerate(m.enum_type):
            yield from enum((*path, _MSG_ENUM, ei), e, f"{name}.")

    for mi, m in enumerate(file.message_type):
        yield from message((_FILE_MESSAGE, mi), m, pkg)
    for ei, e in enumerate(file.enum_type):
        yield from enum((_FILE_ENUM, ei), e, pkg)
    for xi, x in enumerate(file.extension):
        yield (_FILE_EXTENSION, xi), f"{pkg}{x.name}"


class SchemaSet:
    """Compiled ``.proto`` files: their descriptor pool, doc comments and declarations.

    *sources* maps a file's name in the set to its path on disk (for go to definition).
    """

    def __init__(
        self, fds: descriptor_pb2.FileDescriptorSet, sources: Mapping[str, Path] | None = None, label: str = ""
    ) -> None:
        self.pool = descriptor_pool.DescriptorPool()
        self.label = label
        self.files: tuple[str, ...] = tuple(f.name for f in fds.file)
        self.docs: dict[str, Doc] = {}
        self.declarations: dict[str, Declaration] = {}
        #: per-set memo for the checks (the walk's message tables); keyed by its users
        self.memo: dict[Any, Any] = {}
        #: the set's files on disk, by their names in the set
        self.sources: dict[str, Path] = dict(sources or {})
        for file in fds.file:
            self.pool.Add(file)
            spans = {tuple(loc.path): loc for loc in file.source_code_info.location}
            disk = self.sources.get(file.name)
            for path, name in _named_paths(file):
                loc = spans.get(path)
                if loc is None:
                    continue
                comment = loc.leading_comments or loc.trailing_comments
                if comment.strip():
                    self.docs[name] = split_doc(comment)
                span = list(loc.span)
                line, col = span[0], span[1]
                end_line, end_col = (span[2], span[3]) if len(span) == 4 else (span[0], span[2])
                self.declarations[name] = Declaration(disk, file.name, line, col, end_line, end_col)

    def message(self, full_name: str) -> Descriptor:
        """The message *full_name*; KeyError when the set has none."""
        return self.pool.FindMessageTypeByName(full_name)

    def find_message(self, full_name: str) -> Descriptor | None:
        try:
            return self.pool.FindMessageTypeByName(full_name)
        except KeyError:
            return None

    def find_extension(self, full_name: str) -> FieldDescriptor | None:
        try:
            return self.pool.FindExtensionByName(full_name)
        except KeyError:
            return None

    def message_names(self) -> list[str]:
        """Every message of the set's own files (not the well-known types they import)."""
        out: list[str] = []
        for name in self.files:
            try:
                fd = self.pool.FindFileByName(name)
            except KeyError:  # pragma: no cover - every file was added
                continue
            pending = list(fd.message_types_by_name.values())
            while pending:
                desc = pending.pop(0)
                if not desc.GetOptions().map_entry:
                    out.append(desc.full_name)
                pending.extend(desc.nested_types)
        return out

    def file_name(self, proto: Path) -> str | None:
        """The name protoc gave the .proto at *proto* (None: not a file of this set)."""
        resolved = proto.resolve()
        return next((name for name, path in self.sources.items() if path.resolve() == resolved), None)

    def top_messages(self, file_name: str) -> list[str]:
        """The full names of the top-level messages the file *file_name* declares."""
        out = []
        for name in self.message_names():
            desc = self.message(name)
            if desc.file.name == file_name and desc.containing_type is None:
                out.append(name)
        return out

    def doc(self, full_name: str) -> Doc:
        return self.docs.get(full_name, NO_DOC)

    def declaration(self, full_name: str) -> Declaration | None:
        return self.declarations.get(full_name)

    def message_class(self, full_name: str) -> Any:
        return message_factory.GetMessageClass(self.message(full_name))


@dataclass(frozen=True, eq=False)
class Schema:
    """The schema one document is checked against: a message of a :class:`SchemaSet`.

    ``family`` names the AMCT config family whose rule table applies (None: only what the
    descriptors say); ``title`` is how the schema is named to the user.
    """

    set: SchemaSet
    root: Descriptor
    family: str | None = None
    title: str = ""
    #: the proto file the user named (explicit option, setting or header), if any
    proto: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.root.full_name

    @property
    def shown(self) -> str:
        return self.title or self.root.full_name

    def doc(self, full_name: str) -> Doc:
        return self.set.doc(full_name)

    def declaration(self, full_name: str) -> Declaration | None:
        return self.set.declaration(full_name)

    def message_class(self) -> Any:
        return self.set.message_class(self.root.full_name)

    def enum_doc(self, enum: EnumDescriptor, value: str) -> Doc:
        return self.set.doc(f"{enum.full_name}.{value}")
