"""A document's diagnostics: its analysis's problems, the sample data's, the last
calibration's; and the calibration results shown beside its layers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from kvcal.grammar.problems import Problem
from kvcal.server.lsp.convert import lsp_diagnostics
from kvcal.server.lsp.snapshot import Snapshot

if TYPE_CHECKING:  # (an annotation: the server publishes through here)
    from kvcal.server.lsp.server import KvcalServer


def diagnostics_for(ls: KvcalServer, snap: Snapshot) -> list[types.Diagnostic]:
    problems = list(snap.analysis.problems)
    samples = snap.samples
    if samples.error:
        span = samples.span or (0, 0)
        problems.append(
            Problem(
                "sample-data",
                "warning",
                span[0],
                span[1],
                f"{samples.error}: layer names are not checked and calibration cannot run",
            )
        )
    outcome = ls.outcomes.get(snap.uri)
    if outcome is not None:
        problems += outcome.problems(snap.analysis, snap.plans, samples.span)
    problems.sort(key=Problem.sort_key)
    return lsp_diagnostics(snap.uri, snap.index, problems)


def results_of(ls: KvcalServer, snap: Snapshot) -> dict[str, str]:
    outcome = ls.outcomes.get(snap.uri)
    return outcome.current(snap.plans) if outcome else {}
