"""How a field is shown to the user: its type and label as the ``.proto`` writes them, its
default as the text format spells it, and the float32 conversions AMCT applies."""

from __future__ import annotations

import struct

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

__all__ = ["amct_float", "default_text", "enum_names", "label", "message_type", "shortest_float32", "type_name"]

_F = FieldDescriptor
TYPE_NAMES: dict[int, str] = {
    _F.TYPE_DOUBLE: "double",
    _F.TYPE_FLOAT: "float",
    _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64",
    _F.TYPE_INT32: "int32",
    _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32",
    _F.TYPE_BOOL: "bool",
    _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes",
    _F.TYPE_UINT32: "uint32",
    _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64",
    _F.TYPE_SINT32: "sint32",
    _F.TYPE_SINT64: "sint64",
}


def type_name(field: FieldDescriptor) -> str:
    """The type as written in the .proto: ``uint32``, ``CalibrationConfig``, ``QuantGranularity``,
    ``map<string, int32>``."""
    # (protobuf sets message_type exactly for message and group fields, enum_type for enum fields)
    entry = field.message_type
    if entry is not None:
        if entry.GetOptions().map_entry:
            k, v = entry.fields_by_name["key"], entry.fields_by_name["value"]
            return f"map<{type_name(k)}, {type_name(v)}>"
        return entry.name
    if field.enum_type is not None:
        return field.enum_type.name
    return TYPE_NAMES.get(field.type, str(field.type))


def message_type(field: FieldDescriptor) -> Descriptor:
    """The message a message (or group) field holds; TypeError for any other field."""
    desc = field.message_type
    if desc is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return desc


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def declared(field: FieldDescriptor) -> str:
    """The field's label and type as the .proto declares them: ``optional uint32``,
    ``repeated string``, ``map<string, int32>`` (a map has no label)."""
    return type_name(field) if is_map(field) else f"{label(field)} {type_name(field)}"


def label(field: FieldDescriptor) -> str:
    if is_map(field):
        return "map"
    if field.is_repeated:
        return "repeated"
    if field.is_required:
        return "required"
    return "optional"


def default_text(field: FieldDescriptor) -> str | None:
    """The default as the text format would spell it, or None (messages, repeated fields, and
    fields whose default is not written in the .proto)."""
    if field.is_repeated or field.type in (_F.TYPE_MESSAGE, _F.TYPE_GROUP):
        return None
    if not field.has_default_value:
        return None
    value = field.default_value
    if field.enum_type is not None:  # (exactly the enum fields)
        found = field.enum_type.values_by_number.get(value)
        return found.name if found is not None else str(value)
    if field.type == _F.TYPE_BOOL:
        return "true" if value else "false"
    if field.type == _F.TYPE_FLOAT:
        return shortest_float32(value)
    if field.type == _F.TYPE_DOUBLE:
        return repr(value) if value == value and abs(value) != float("inf") else str(value)
    if field.type == _F.TYPE_STRING:
        return repr(value)
    if field.type == _F.TYPE_BYTES:
        return repr(value)[1:]
    return str(value)


def enum_names(enum: EnumDescriptor) -> list[str]:
    return [v.name for v in enum.values]


def shortest_float32(value: float) -> str:
    """The float32's shortest decimal form, as ``str(numpy.float32(v))`` gives it."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    try:
        f32 = struct.unpack("<f", struct.pack("<f", value))[0]
    except OverflowError:  # beyond float32's range: protobuf stores infinity
        return "inf" if value > 0 else "-inf"
    for digits in range(1, 10):
        text = f"{f32:.{digits}g}"
        try:
            same = struct.unpack("<f", struct.pack("<f", float(text)))[0] == f32
        except OverflowError:  # rounded up beyond float32's largest value: more digits
            continue
        if same:
            value = float(text)
            if f32 == 0 or 1e-4 <= abs(f32) < 1e6:
                return repr(value)  # positional, as numpy writes it: 80.0, 0.999999
            return f"{value:.{digits - 1}e}"  # scientific beyond that: 1.5e+06, 1e-08, 3.4028235e+38
    return repr(f32)  # pragma: no cover - 9 digits always round-trip


def amct_float(value: float) -> float:
    """A config float as AMCT uses it: ``float(str(numpy.float32(v)))`` (spec §3)."""
    return float(shortest_float32(value))
