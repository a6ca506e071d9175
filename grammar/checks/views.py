"""Typed views of an analysed document: per message, the well-typed occurrences of each
field in document order, with their decoded values. A singular message given twice is
*merged*, as protobuf's ``text_format.Merge`` (what AMCT runs) merges it, so that the rule
tables and the plans see what AMCT sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor

from kvcal.grammar.spelling import suggest
from kvcal.grammar.syntax.tree import Field, Message, Value

__all__ = ["Occurrence", "View", "merge_views", "suggest", "walk_views"]  # (suggest: re-exported for the rule tables)


@dataclass(slots=True)
class Occurrence:
    """One well-typed value of a field: the field node, the value node and its value.

    For message fields ``value`` is the child :class:`View`.
    """

    field: Field
    node: Value
    value: Any


@dataclass(slots=True)
class View:
    """The fields of one message (or several merged occurrences of it). Extensions are kept
    under ``[full.name]``."""

    descriptor: Descriptor
    messages: list[Message] = field(default_factory=list)
    fields: dict[str, list[Occurrence]] = field(default_factory=dict)

    def all(self, name: str) -> list[Occurrence]:
        return self.fields.get(name, [])

    def last(self, name: str) -> Occurrence | None:
        occ = self.fields.get(name)
        return occ[-1] if occ else None

    def has(self, name: str) -> bool:
        return bool(self.fields.get(name))

    def value(self, name: str) -> Any:
        """The effective value: the last occurrence, else the schema default."""
        occ = self.last(name)
        if occ is not None:
            return occ.value
        return self.descriptor.fields_by_name[name].default_value

    def child(self, name: str) -> View | None:
        """A singular message field: all its occurrences merged (AMCT's Merge semantics)."""
        occs = self.fields.get(name)
        if not occs:
            return None
        return merge_views([occ.value for occ in occs])

    def children(self, name: str) -> list[View]:
        """A repeated message field: one view per entry."""
        return [occ.value for occ in self.fields.get(name, ())]

    def oneof_choice(self, oneof: str) -> str | None:
        """The member of *oneof* that is set last (the one AMCT keeps), or None."""
        best: tuple[int, str] | None = None
        for member in self.descriptor.oneofs_by_name[oneof].fields:
            occ = self.last(member.name)
            if occ is not None and (best is None or occ.field.start > best[0]):
                best = (occ.field.start, member.name)
        return best[1] if best else None

    def oneof_view(self, oneof: str) -> tuple[str | None, View | None]:
        """The member of a oneof of messages that ``Merge`` keeps and its merged view:
        setting another member clears this one, so only occurrences after the last switch
        count."""
        choice = self.oneof_choice(oneof)
        if choice is None:
            return None, None
        members = [f.name for f in self.descriptor.oneofs_by_name[oneof].fields]
        last_other = max((o.field.start for m in members if m != choice for o in self.all(m)), default=-1)
        occs = [o for o in self.all(choice) if o.field.start > last_other]
        values = [o.value for o in occs if isinstance(o.value, View)]
        return choice, merge_views(values) if values else None


def merge_views(views: list[View]) -> View:
    """Several occurrences of one message as one view, fields in document order."""
    if len(views) == 1:
        return views[0]
    merged = View(views[0].descriptor)
    for view in views:
        merged.messages.extend(view.messages)
        for key, items in view.fields.items():
            merged.fields.setdefault(key, []).extend(items)
    return merged


def walk_views(root: View) -> list[View]:
    """*root* and every message view below it (the rule tables' fallback when the walk did not
    collect their views)."""
    out, stack = [], [root]
    while stack:
        view = stack.pop()
        out.append(view)
        for occs in view.fields.values():
            stack.extend(o.value for o in occs if isinstance(o.value, View))
    return out
