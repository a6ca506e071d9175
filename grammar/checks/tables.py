"""What the schema walk (``analysis.py``) needs of the AMCT descriptors, read once.

protobuf's descriptor attributes cost a C call (and often a new object) each; the walk
reads a field's name, type, label, oneof and enum values at every occurrence of it, so
it reads them from these plain objects instead, built once per schema. Decoded numbers
are kept here too, per field type.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

from kvcal.grammar import schema

__all__ = ["BOOL", "ENUM", "MESSAGE", "NUMBER", "SCALARS_MAX", "TEXT", "EnumInfo", "FieldInfo", "MessageInfo",
           "message_info"]  # fmt: skip


class EnumInfo:
    """What the walk needs of an enum, read once from its descriptor."""

    __slots__ = ("by_name", "by_number", "desc", "name", "names")

    def __init__(self, enum: EnumDescriptor) -> None:
        self.desc = enum
        self.name = enum.name
        self.names = schema.enum_names(enum)
        self.by_name = {v.name: v.number for v in enum.values}
        self.by_number = frozenset(v.number for v in enum.values)


# Decoded numbers by field type and token (the text of a positive NUMBER, else (kind, text,
# negative)): configs repeat values, and float decoding (float32 rounding, shortest repr) is
# the walk's most expensive step. Only values that needed no diagnostic are kept; bounded.
_NUMBERS: dict[int, dict[object, Any]] = {}
SCALARS_MAX = 4096
TEXT, BOOL, ENUM, NUMBER, MESSAGE = range(5)
_DECODE = {FieldDescriptor.TYPE_STRING: TEXT, FieldDescriptor.TYPE_BOOL: BOOL,
           FieldDescriptor.TYPE_ENUM: ENUM, FieldDescriptor.TYPE_MESSAGE: MESSAGE}  # fmt: skip


class FieldInfo:
    """What the walk needs of a field, read once from its descriptor (protobuf's
    descriptor attributes cost a C call each; the walk reads these per field occurrence)."""

    __slots__ = ("cache", "decode", "enum", "is_message", "message", "name", "oneof", "oneof_members",
                 "repeated", "type", "type_name")  # fmt: skip

    def __init__(self, fd: FieldDescriptor) -> None:
        self.name: str = fd.name
        self.type: int = fd.type
        self.repeated: bool = fd.is_repeated
        self.is_message = fd.type == FieldDescriptor.TYPE_MESSAGE
        self.type_name = schema.type_name(fd)
        self.message: MessageInfo | None = None  # filled in by message_info
        self.enum = EnumInfo(fd.enum_type) if fd.type == FieldDescriptor.TYPE_ENUM else None
        oneof = fd.containing_oneof
        self.oneof: str | None = oneof.name if oneof is not None else None
        self.oneof_members: tuple[str, ...] = tuple(f.name for f in oneof.fields) if oneof is not None else ()
        self.decode = _DECODE.get(fd.type, NUMBER)  # the walk's fast path for its scalars
        self.cache = _NUMBERS.setdefault(fd.type, {}) if self.decode == NUMBER else {}


class MessageInfo:
    """A message: its fields by name (``known``: their names in .proto order), the names of
    its required fields."""

    __slots__ = ("desc", "fields", "known", "name", "names", "required")

    def __init__(self, desc: Descriptor) -> None:
        self.desc = desc
        self.name: str = desc.name
        self.fields = {fd.name: FieldInfo(fd) for fd in desc.fields}
        self.known = [fd.name for fd in desc.fields]
        self.names = frozenset(desc.fields_by_name)
        self.required = tuple(fd.name for fd in desc.fields if fd.is_required)


_INFOS: dict[str, MessageInfo] = {}


def message_info(desc: Descriptor) -> MessageInfo:
    """The walk's view of *desc* and every message below it (built once per schema)."""
    info = _INFOS.get(desc.full_name)
    if info is not None and info.desc is desc:
        return info
    built: dict[str, MessageInfo] = {}
    pending = [desc]
    while pending:
        d = pending.pop()
        if d.full_name not in built:
            built[d.full_name] = MessageInfo(d)
            pending.extend(fd.message_type for fd in d.fields if fd.message_type is not None)
    for d_info in built.values():
        for fd in d_info.desc.fields:
            if fd.message_type is not None:
                d_info.fields[fd.name].message = built[fd.message_type.full_name]
    _INFOS.update(built)
    return built[desc.full_name]
