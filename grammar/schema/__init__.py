"""Schemas: the bundled AMCT family, user .protos compiled by protoc, per-document resolution.

A :class:`Schema` is a value: the message a document is written as, in a compiled set of
``.proto`` files. Nothing below resolution knows where it came from.
"""

from __future__ import annotations

from kvcal.grammar.schema.bundled import (
    CONFIG_PACKAGE,
    FAMILIES,
    RECORD_MESSAGE,
    RECORD_PACKAGE,
    ROOT_MESSAGE,
    Family,
    bundled_set,
    descriptor_set_bytes,
    doc,
    family_schema,
    family_schemas,
    kv_schema,
    message_class,
    message_descriptor,
    pool,
    root,
)
from kvcal.grammar.schema.fields import (
    amct_float,
    declared,
    default_text,
    enum_names,
    label,
    shortest_float32,
    type_name,
)
from kvcal.grammar.schema.model import Declaration, Doc, Schema, SchemaSet

__all__ = [
    "CONFIG_PACKAGE",
    "FAMILIES",
    "RECORD_MESSAGE",
    "RECORD_PACKAGE",
    "ROOT_MESSAGE",
    "Declaration",
    "Doc",
    "Family",
    "Schema",
    "SchemaSet",
    "amct_float",
    "bundled_set",
    "declared",
    "default_text",
    "descriptor_set_bytes",
    "doc",
    "enum_names",
    "family_schema",
    "family_schemas",
    "kv_schema",
    "label",
    "message_class",
    "message_descriptor",
    "pool",
    "root",
    "shortest_float32",
    "type_name",
]
