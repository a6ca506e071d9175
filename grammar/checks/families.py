"""The rule tables of the AMCT config family, by family key, and the schema-wide facts the
walk's messages use (where a misplaced field belongs, the names AMCT users confuse).

A rule module (``kv.py``, ``ptq.py``, ...) exposes:

- ``RULED_MESSAGES``: full names of the messages whose views ``check_values`` reads (the
  walk collects them as it goes);
- ``check_values(root, text, *, layers, views) -> list[Problem]``;
- optionally ``REQUIRED``: full field name -> what AMCT does when that required field is
  missing (the walk's ``missing-required`` message);
- optionally ``UNKNOWN_NOTES``: field name -> what to tell whoever writes it where the
  schema has no such field (a field of an older release or of another framework's
  variant); the walk's ``unknown-field`` message uses it (:func:`sibling_hint`).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from google.protobuf.descriptor import Descriptor

from kvcal.grammar.schema import FAMILIES, Schema, family_schema

__all__ = ["required_note", "rules_for", "sibling_hint", "unknown_note", "where_defined"]

#: family key -> module of its rule table (imported on first use)
RULE_MODULES = {
    "kv": "kv",
    "ptq": "ptq",
    "ptq-framework": "ptq",
    "retrain": "retrain",
    "distill": "distill",
    "acp": "acp",
}
_LOADED: dict[str, ModuleType | None] = {}

#: field names AMCT users write for their look-alike in the sibling schema
CONFUSED = {
    "quant_skip_types": "quant_skip_layer_types",
    "quant_skip_layer_types": "quant_skip_types",
    "override_layer_configs": "override_layers_configs",
    "override_layers_configs": "override_layer_configs",
}


def rules_for(family: str | None) -> ModuleType | None:
    """The rule module of *family*, or None (no family, or no table for it yet)."""
    if family is None:
        return None
    if family not in _LOADED:
        module = RULE_MODULES.get(family)
        try:
            _LOADED[family] = importlib.import_module(f"kvcal.grammar.checks.{module}") if module else None
        except ModuleNotFoundError as exc:
            if exc.name != f"kvcal.grammar.checks.{module}":
                raise
            _LOADED[family] = None
    return _LOADED[family]


def required_note(family: str | None, full_name: str) -> str | None:
    rules = rules_for(family)
    notes = getattr(rules, "REQUIRED", None) if rules is not None else None
    return notes.get(full_name) if notes else None


def unknown_note(family: str | None, name: str) -> str | None:
    """What *family*'s rule table says about the unknown field *name*, or None."""
    rules = rules_for(family)
    notes = getattr(rules, "UNKNOWN_NOTES", None) if rules is not None else None
    return notes.get(name) if notes else None


def where_defined(schema: Schema, name: str) -> str | None:
    """Where a field *name* belongs in *schema*, as the user writes it: the blocks (the
    fields holding the messages) that have it, or the top level — ``ifmr_quantize or
    hfmg_quantize``."""
    memo: dict[tuple[str, str], str | None] = schema.set.memo.setdefault("where_defined", {})
    key = (schema.root.full_name, name)
    if key not in memo:
        memo[key] = _where_defined(schema.root, name)
    return memo[key]


def _where_defined(root: Descriptor, name: str) -> str | None:
    holders: dict[str, list[str]] = {}  # message full name -> the fields of that type
    seen, stack = set(), [root]
    order: list[Descriptor] = []
    while stack:
        desc = stack.pop(0)
        if desc.full_name in seen:
            continue
        seen.add(desc.full_name)
        order.append(desc)
        for f in desc.fields:
            if f.message_type is not None:
                holders.setdefault(f.message_type.full_name, []).append(f.name)
                stack.append(f.message_type)
    places: list[str] = []
    for desc in order:
        if name in desc.fields_by_name:
            places += holders.get(desc.full_name, ["the top level"])
    places = list(dict.fromkeys(places))
    if len(places) > 6:
        places = [*places[:6], "…"]
    return " or ".join(places) if places else None


def sibling_hint(schema: Schema, name: str) -> str | None:
    """For an AMCT family member: its rule table's note on *name* (UNKNOWN_NOTES), the
    look-alike field of the sibling schema, or the member whose top level has *name* (a
    field of another AMCT config)."""
    if schema.family is None:
        return None
    note = unknown_note(schema.family, name) if where_defined(schema, name) is None else None
    if note is not None:
        return note
    look_alike = CONFUSED.get(name)
    if look_alike is not None and look_alike in schema.root.fields_by_name:
        return f"did you mean '{look_alike}'? ('{name}' is its look-alike in another AMCT config)"
    for family in FAMILIES:
        if family.key == schema.family:
            continue
        other = family_schema(family.key)
        if other is not None and name in other.root.fields_by_name:
            return (
                f"'{name}' is a field of {family.message} ({family.title}), not of {schema.root.name}: "
                "is this the right schema?"
            )
    return None
