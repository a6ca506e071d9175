"""What the schema walk (``analysis.py``) needs of a schema's descriptors, read once.

protobuf's descriptor attributes cost a C call (and often a new object) each; the walk
reads a field's name, type, label, oneof and enum values at every occurrence of it, so
it reads them from these plain objects instead, built once per schema set (kept in the
set's memo). Decoded numbers are kept here too, per field type.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from kvcal.grammar.schema import SchemaSet
from kvcal.grammar.schema.fields import enum_names, is_map, type_name

__all__ = [
    "BOOL",
    "BYTES",
    "ENUM",
    "FLOAT",
    "INTEGER",
    "MESSAGE",
    "SCALARS_MAX",
    "TEXT",
    "EnumInfo",
    "FieldInfo",
    "MessageInfo",
    "message_info",
]

_F = FieldDescriptor


class EnumInfo:
    """What the walk needs of an enum, read once from its descriptor."""

    __slots__ = ("by_name", "by_number", "closed", "desc", "name", "names")

    def __init__(self, enum: EnumDescriptor) -> None:
        self.desc = enum
        self.name = enum.name
        self.names = enum_names(enum)
        self.by_name = {v.name: v.number for v in enum.values}
        self.by_number = frozenset(v.number for v in enum.values)
        #: a closed enum (proto2) takes only its values; an open one (proto3) any int32
        self.closed: bool = enum.is_closed


# Decoded numbers by field type and token (the text of a positive NUMBER, else (kind, text,
# negative)): configs repeat values, and float decoding (float32 rounding, shortest repr) is
# the walk's most expensive step. Only values that needed no diagnostic are kept; bounded.
_NUMBERS: dict[int, dict[object, Any]] = {}
SCALARS_MAX = 4096
TEXT, BOOL, ENUM, INTEGER, FLOAT, MESSAGE, BYTES = range(7)
_DECODE = {
    _F.TYPE_STRING: TEXT,
    _F.TYPE_BYTES: BYTES,
    _F.TYPE_BOOL: BOOL,
    _F.TYPE_ENUM: ENUM,
    _F.TYPE_MESSAGE: MESSAGE,
    _F.TYPE_GROUP: MESSAGE,
    _F.TYPE_FLOAT: FLOAT,
    _F.TYPE_DOUBLE: FLOAT,
}
#: the range of each integer type
INT_RANGES: dict[int, tuple[int, int]] = {
    **dict.fromkeys((_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((_F.TYPE_UINT32, _F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((_F.TYPE_UINT64, _F.TYPE_FIXED64), (0, 2**64 - 1)),
}


def _group_like(fd: FieldDescriptor) -> bool:
    """A proto2 group (or an editions field that looks like one): written by its type name."""
    group = fd.message_type
    if fd.type != _F.TYPE_GROUP or group is None or fd.name != group.name.lower():
        return False
    file = fd.file  # type: ignore[attr-defined]  # (types-protobuf lacks FieldDescriptor.file; protobuf has it)
    if group.file is not file and group.file.name != file.name:
        return False
    scope = fd.extension_scope if fd.is_extension else fd.containing_type
    return group.containing_type == scope


class FieldInfo:
    """What the walk needs of a field, read once from its descriptor (protobuf's
    descriptor attributes cost a C call each; the walk reads these per field occurrence)."""

    __slots__ = (
        "cache",
        "decode",
        "desc",
        "enum",
        "full_name",
        "group",
        "is_map",
        "is_message",
        "key",
        "message",
        "name",
        "oneof",
        "oneof_members",
        "presence",
        "range",
        "repeated",
        "required",
        "type",
        "type_name",
    )

    def __init__(self, fd: FieldDescriptor) -> None:
        self.desc = fd
        self.name: str = fd.name
        self.full_name: str = fd.full_name
        #: how the walk's views key it: its name, or ``[full.name]`` for an extension
        self.key: str = f"[{fd.full_name}]" if fd.is_extension else fd.name
        self.type: int = fd.type
        self.repeated: bool = fd.is_repeated
        self.required: bool = fd.is_required
        self.presence: bool = fd.has_presence
        self.is_message = fd.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP)
        self.is_map = self.is_message and is_map(fd)
        self.group = _group_like(fd)
        self.type_name = type_name(fd)
        self.message: MessageInfo | None = None  # filled in by message_info
        # (protobuf sets enum_type exactly for enum fields)
        self.enum = EnumInfo(fd.enum_type) if fd.enum_type is not None else None
        oneof = fd.containing_oneof
        # a proto3 `optional` field sits in a synthetic oneof of its own: no alternatives
        real = oneof if oneof is not None and len(oneof.fields) > 1 else None
        self.oneof: str | None = real.name if real is not None else None
        self.oneof_members: tuple[str, ...] = tuple(f.name for f in real.fields) if real is not None else ()
        self.decode = _DECODE.get(fd.type, INTEGER)  # the walk's fast path for its scalars
        self.range = INT_RANGES.get(fd.type)
        self.cache = _NUMBERS.setdefault(fd.type, {}) if self.decode in (INTEGER, FLOAT) else {}


class MessageInfo:
    """A message: its fields by name (``known``: their names in .proto order), group fields
    by the type name they are written with, the names of its required fields."""

    __slots__ = ("desc", "extendable", "fields", "full_name", "groups", "is_any", "known", "name", "names", "required")

    def __init__(self, desc: Descriptor) -> None:
        self.desc = desc
        self.name: str = desc.name
        self.full_name: str = desc.full_name
        self.fields = {fd.name: FieldInfo(fd) for fd in desc.fields}
        self.groups = {fi.type_name: fi for fi in self.fields.values() if fi.group}  # (a group's: its message's name)
        self.known = [fd.name for fd in desc.fields]
        self.names = frozenset(desc.fields_by_name)
        self.required = tuple(fd.name for fd in desc.fields if fd.is_required)
        self.extendable: bool = desc.is_extendable
        self.is_any = desc.full_name == "google.protobuf.Any"

    def lookup(self, name: str) -> FieldInfo | None:
        """The field written *name*: by its name, or a group by its type name."""
        return self.fields.get(name) or self.groups.get(name)


def message_info(desc: Descriptor, schema_set: SchemaSet) -> MessageInfo:
    """The walk's view of *desc* and every message below it, built once per schema set."""
    infos: dict[str, MessageInfo] = schema_set.memo.setdefault("message_info", {})
    info = infos.get(desc.full_name)
    if info is not None:
        return info
    built: dict[str, MessageInfo] = {}
    pending = [desc]
    while pending:
        d = pending.pop()
        if d.full_name not in built and d.full_name not in infos:
            built[d.full_name] = MessageInfo(d)
            pending.extend(fd.message_type for fd in d.fields if fd.message_type is not None)
    infos.update(built)
    for d_info in built.values():
        for fi in d_info.fields.values():
            if fi.desc.message_type is not None:
                fi.message = infos[fi.desc.message_type.full_name]
    return infos[desc.full_name]


def extension_info(fd: FieldDescriptor, schema_set: SchemaSet) -> FieldInfo:
    """The walk's view of an extension field (and of the message it holds)."""
    infos: dict[str, FieldInfo] = schema_set.memo.setdefault("extension_info", {})
    fi = infos.get(fd.full_name)
    if fi is None:
        fi = infos[fd.full_name] = FieldInfo(fd)
        if fd.message_type is not None:
            fi.message = message_info(fd.message_type, schema_set)
    return fi
