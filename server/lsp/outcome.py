"""What the last calibration of a config found, kept to show in the editor: a one-line
summary per layer (inlay hint / information diagnostic / hover) and the errors, each
re-anchored on the current text until the layer's plan changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kvcal.grammar.checks.analysis import Analysis
from kvcal.grammar.navigation import layer_refs
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.problems import Problem, excerpt

CODE = "calibration"


@dataclass(frozen=True)
class LayerOutcome:
    plan: LayerPlan
    summary: str


@dataclass(frozen=True)
class Issue:
    """A calibration error: on the layer it names, else on the data header, else line 1."""

    message: str
    layer: str | None = None


@dataclass
class Outcome:
    layers: dict[str, LayerOutcome] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    plans: tuple[LayerPlan, ...] = ()

    def current(self, plans: Sequence[LayerPlan]) -> dict[str, str]:
        """Layer -> summary, for the layers whose plan has not changed since."""
        now = {p.layer_name: p for p in plans}
        return {name: o.summary for name, o in self.layers.items() if now.get(name) == o.plan}

    def problems(self, analysis: Analysis, plans: Sequence[LayerPlan], header: tuple[int, int] | None) -> list[Problem]:
        """Results as information notes and errors as errors, where they belong now. Errors
        stay until the next calibration or until the config's plans change."""
        anchors: dict[str, tuple[int, int]] = {}
        for ref in layer_refs(analysis):
            if ref.name not in anchors or ref.role == "override":
                anchors[ref.name] = (ref.start, ref.end)
        out = []
        for name, summary in self.current(plans).items():
            if name in anchors:
                out.append(Problem(CODE, "information", *anchors[name], f"{excerpt(name)}: {summary}"))
        if self.issues and tuple(plans) == self.plans:
            for issue in self.issues:
                span = anchors.get(issue.layer or "") or header or (0, 0)
                out.append(Problem(CODE, "error", span[0], span[1], issue.message))
        return out


def summary(layer: dict[str, Any]) -> str:
    """``scale 0.0123, offset -3 · SQNR 38.2 dB`` (a range and a count when per channel)."""
    parts = [f"scale {_span(layer.get('scale'))}", f"offset {_span(layer.get('offset'))}"]
    text = ", ".join(parts)
    if isinstance(layer.get("sqnr_db"), (int, float)):
        text += f" · SQNR {layer['sqnr_db']:.1f} dB"
    return text


def _span(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return "?"
    if len(values) == 1:
        return _num(values[0])
    return f"{_num(min(values))}…{_num(max(values))} ({len(values)} ch)"


def _num(v: float | int) -> str:
    return str(v) if isinstance(v, int) else f"{v:.4g}"
