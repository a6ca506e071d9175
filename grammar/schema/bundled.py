"""The AMCT schema, read from the committed protoc descriptor set (``proto/schema.binpb``).

protobuf's own descriptor pool and message factory give the message classes (for
``text_format`` and the record files); the descriptor set's source info gives the doc
comments (English, then a line ``zh:`` and Chinese) shown on hover and completion.
Nothing here parses ``.proto`` text by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

CONFIG_PACKAGE = "AMCTPytorchQuantCaliProto"
RECORD_PACKAGE = "AMCTPytorchProto"
ROOT_MESSAGE = f"{CONFIG_PACKAGE}.AMCTQuantCaliConfig"
RECORD_MESSAGE = f"{RECORD_PACKAGE}.ScaleOffsetRecord"

_TYPE_NAMES = {
    FieldDescriptor.TYPE_UINT32: "uint32", FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_FLOAT: "float", FieldDescriptor.TYPE_BOOL: "bool",
    FieldDescriptor.TYPE_STRING: "string", FieldDescriptor.TYPE_ENUM: "enum",
    FieldDescriptor.TYPE_MESSAGE: "message",
}  # fmt: skip


@dataclass(frozen=True)
class Doc:
    """A doc comment in English and Chinese (either may be empty)."""

    en: str
    zh: str

    def text(self, locale: str | None = None) -> str:
        if locale and locale.lower().startswith("zh") and self.zh:
            return self.zh
        return self.en or self.zh


def descriptor_set_bytes() -> bytes:
    return files("kvcal.grammar.schema.proto").joinpath("schema.binpb").read_bytes()


@cache
def _loaded() -> tuple[descriptor_pool.DescriptorPool, dict[str, Doc]]:
    fds = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set_bytes())
    pool = descriptor_pool.DescriptorPool()
    docs: dict[str, Doc] = {}
    for file in fds.file:
        pool.Add(file)
        docs.update(_file_docs(file))
    return pool, docs


def _split_doc(comment: str) -> Doc:
    lines = [line.strip() for line in comment.strip("\n").splitlines()]
    if "zh:" in lines:
        i = lines.index("zh:")
        en, zh = lines[:i], lines[i + 1 :]
    else:
        en, zh = lines, []
    return Doc(" ".join(x for x in en if x).strip(), "\n".join(x for x in zh if x).strip())


def _file_docs(file: descriptor_pb2.FileDescriptorProto) -> dict[str, Doc]:
    """Doc comments keyed by full name (``pkg.Msg``, ``pkg.Msg.field``, ``pkg.Enum.value``)."""
    by_path = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
    out: dict[str, Doc] = {}
    pkg = file.package

    def put(path: tuple[int, ...], name: str) -> None:
        comment = by_path.get(path)
        if comment:
            out[name] = _split_doc(comment)

    for mi, msg in enumerate(file.message_type):
        put((4, mi), f"{pkg}.{msg.name}")
        for fi, fld in enumerate(msg.field):
            put((4, mi, 2, fi), f"{pkg}.{msg.name}.{fld.name}")
    for ei, enum in enumerate(file.enum_type):
        put((5, ei), f"{pkg}.{enum.name}")
        for vi, val in enumerate(enum.value):
            put((5, ei, 2, vi), f"{pkg}.{enum.name}.{val.name}")
    return out


def pool() -> descriptor_pool.DescriptorPool:
    return _loaded()[0]


def message_descriptor(full_name: str = ROOT_MESSAGE) -> Descriptor:
    return pool().FindMessageTypeByName(full_name)


@cache
def message_class(full_name: str = ROOT_MESSAGE) -> Any:
    """The generated message class for *full_name* (protobuf's message factory)."""
    return message_factory.GetMessageClass(message_descriptor(full_name))


def root() -> Descriptor:
    return message_descriptor(ROOT_MESSAGE)


def doc(full_name: str) -> Doc:
    """Doc comment of a message, field (``Msg.field``) or enum value; empty when none."""
    return _loaded()[1].get(full_name, Doc("", ""))


def type_name(field: FieldDescriptor) -> str:
    """The type as written in the .proto: ``uint32``, ``CalibrationConfig``, ``QuantGranularity``."""
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return field.message_type.name
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.name
    return _TYPE_NAMES.get(field.type, str(field.type))


def label(field: FieldDescriptor) -> str:
    if field.is_repeated:
        return "repeated"
    if field.is_required:
        return "required"
    return "optional"


def default_text(field: FieldDescriptor) -> str | None:
    """The default as text-format would spell it, or None (messages, repeated, unset bools)."""
    if field.is_repeated or field.type == FieldDescriptor.TYPE_MESSAGE:
        return None
    if not field.has_default_value:
        return None
    value = field.default_value
    if field.type == FieldDescriptor.TYPE_ENUM:
        return field.enum_type.values_by_number[value].name
    if field.type == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == FieldDescriptor.TYPE_FLOAT:
        return shortest_float32(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return repr(value)
    return str(value)


def enum_names(enum: EnumDescriptor) -> list[str]:
    return [v.name for v in enum.values]


def shortest_float32(value: float) -> str:
    """The float32's shortest decimal form, as ``str(numpy.float32(v))`` gives it."""
    import struct

    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    try:
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond float32's range: protobuf stores infinity
        return "inf" if value > 0 else "-inf"
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        if struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32:
            return text
    return repr(f32)  # pragma: no cover - 9 digits always round-trip


def amct_float(value: float) -> float:
    """A config float as AMCT uses it: ``float(str(numpy.float32(v)))`` (spec §3)."""
    return float(shortest_float32(value))
