"""The effective config AMCT builds from a file of the AMCT family, per layer or layer type,
as rows a person reads (``kvcal explain``, hover on an override).

Each family's rule module may expose ``effective(root: View, text: str) -> list[Row]``
following AMCT's resolution for that schema (spec AMCT-CONFIG-FAMILY.md: which config a
layer gets, what replaces what, what a skip does). The KV-cache family has its own richer
plan (:mod:`kvcal.grammar.resolve`), which the calibration engine runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from kvcal.grammar.checks import families

if TYPE_CHECKING:  # (an annotation only: the walk imports the rule tables, which import Row)
    from kvcal.grammar.checks.analysis import Analysis

__all__ = ["Row", "effective_rows"]

RowKind = Literal["layer", "type", "global"]


@dataclass(frozen=True)
class Row:
    """What AMCT does for one target: a layer by name, a layer type, or every other layer.

    ``settings`` are ``(aspect, value)`` pairs in the words of AMCT's JSON (``activation``,
    ``weights``, ``asymmetric``, ``prune``...), each value saying where it came from when it
    is not written in the target's own block; ``notes`` say what the user may not expect
    (an override that replaces the global config wholesale, a skip that wins, ...).
    """

    target: str
    kind: RowKind
    source: str
    settings: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    #: the span of the target's name in the text (hover shows the row there)
    span: tuple[int, int] | None = field(default=None, compare=False)


def effective_rows(analysis: Analysis) -> list[Row]:
    """The rows of *analysis*'s family (none without a family or a table for it)."""
    rules = families.rules_for(analysis.family)
    compute = getattr(rules, "effective", None) if rules is not None else None
    if compute is None or analysis.root is None:
        return []
    return list(compute(analysis.root, analysis.text))
