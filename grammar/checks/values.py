"""Value rules the .proto cannot express, as declarative data: a field's allowed range or
set of values, with the code, the severity and what AMCT does with a violating value.
Each AMCT family's rule table (``kv.py``, ``ptq.py``, ...) lists its rules; ``check_rules``
checks the views the walk collected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kvcal.grammar.checks.views import Occurrence, View
from kvcal.grammar.problems import Problem, ProblemExtras, Related, Severity
from kvcal.grammar.schema import shortest_float32

if TYPE_CHECKING:  # (typing.Unpack is Python 3.11+)
    from typing_extensions import Unpack

__all__ = ["ValueRule", "by_message", "check_rules", "clip_rules", "nonfinite_search", "problem", "related", "show"]


@dataclass(frozen=True)
class ValueRule:
    """``message.field`` must lie in (low, high] / [low, high] or be one of ``choices``
    (*message* is the full name of the message)."""

    message: str
    field: str
    code: str
    severity: Severity
    amct: str  # what AMCT does with a violating value
    low: float | None = None
    low_inclusive: bool = False
    high: float | None = None
    high_inclusive: bool = True
    choices: tuple[int, ...] = ()

    def allows(self, value: float) -> bool:
        if self.choices:
            return value in self.choices
        if math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None and (value > self.high or (value == self.high and not self.high_inclusive)))

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(map(str, self.choices))
        lo = "(" if not self.low_inclusive else "["
        hi = "]" if self.high_inclusive else ")"
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        if self.high is None:
            return f"greater than {low}" if not self.low_inclusive else f"at least {low}"
        return f"in {lo}{low}, {high}{hi}"


def by_message(rules: tuple[ValueRule, ...]) -> dict[str, list[ValueRule]]:
    out: dict[str, list[ValueRule]] = {}
    for rule in rules:
        out.setdefault(rule.message, []).append(rule)
    return out


def problem(code: str, severity: Severity, occ: Occurrence, message: str, **kw: Unpack[ProblemExtras]) -> Problem:
    return Problem(code, severity, occ.node.start, occ.node.end, message, **kw)


def check_rules(view: View, rules: list[ValueRule]) -> list[Problem]:
    out: list[Problem] = []
    for rule in rules:
        for occ in view.all(rule.field):
            if rule.allows(occ.value):
                continue
            data: dict[str, object] = {}
            if rule.choices:
                nearest = min(rule.choices, key=lambda c: (abs(c - occ.value), c))
                data["suggestion"] = str(nearest)
                hint = f"; the nearest is {nearest}"
            else:
                hint = ""
            out.append(
                problem(
                    rule.code,
                    rule.severity,
                    occ,
                    f"{rule.field} must be {rule.describe()}, not {show(occ.value)}{hint}. {rule.amct}",
                    data=data or None,
                )
            )
    return out


def show(value: object) -> str:
    return shortest_float32(value) if isinstance(value, float) else str(value)


def related(occ: Occurrence | None) -> tuple[Related, ...]:
    if occ is None:
        return ()
    return (Related(occ.node.start, occ.node.end, f"{occ.field.name.text} is set here"),)


def nonfinite_search(
    start: Occurrence | None, end: Occurrence | None, step: Occurrence | None, what: str
) -> list[Problem]:
    """An IFMR search written with an infinite bound or step, or a NaN end (no value rule
    covers the end; a NaN start or step is the value rules' to report): one error each.
    *what*: what AMCT cannot build from it."""
    endless = [
        (o, c)
        for o, c in ((start, "search-range"), (end, "search-range"), (step, "search-step"))
        if o is not None and (math.isinf(o.value) or (o is end and math.isnan(o.value)))
    ]
    return [
        problem(
            code,
            "error",
            o,
            f"{o.field.name.text} must be a finite number, not {show(o.value)}: AMCT cannot build {what} from it",
        )
        for o, code in endless
    ]


def clip_rules(message: str) -> tuple[ValueRule, ValueRule]:
    """The initial clip of a retrain or distillation ``ClipMaxMin`` (*message*: its full name):
    AMCT refuses an upper clip <= 0 and a lower clip >= 0."""
    return (
        ValueRule(
            message,
            "clip_max",
            "clip-range",
            "error",
            'AMCT refuses it ("clip max should be larger than 0"): it is the initial upper clip',
            low=0,
        ),
        ValueRule(
            message,
            "clip_min",
            "clip-range",
            "error",
            'AMCT refuses it ("clip min should be less than 0"): it is the initial lower clip; to keep '
            "the lower bound at 0, drop clip_max_min and set fixed_min: true",
            high=0,
            high_inclusive=False,
        ),
    )
