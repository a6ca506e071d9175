"""Schemas: the bundled AMCT family, user .protos compiled by protoc, per-document resolution."""

from __future__ import annotations

from kvcal.grammar.schema.bundled import (
    CONFIG_PACKAGE,
    RECORD_MESSAGE,
    RECORD_PACKAGE,
    ROOT_MESSAGE,
    Doc,
    amct_float,
    default_text,
    descriptor_set_bytes,
    doc,
    enum_names,
    label,
    message_class,
    message_descriptor,
    pool,
    root,
    shortest_float32,
    type_name,
)

__all__ = [
    "CONFIG_PACKAGE", "RECORD_MESSAGE", "RECORD_PACKAGE", "ROOT_MESSAGE", "Doc", "amct_float", "default_text",
    "descriptor_set_bytes", "doc", "enum_names", "label", "message_class", "message_descriptor", "pool", "root",
    "shortest_float32", "type_name",
]  # fmt: skip
