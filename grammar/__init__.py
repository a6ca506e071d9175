"""kvcal.grammar: the quant.cfg language — parsing, the AMCT schema, checks, resolution,
formatting. Imports neither pygls/lsprotocol nor torch.
"""

from __future__ import annotations

from kvcal.grammar.checks.analysis import Analysis, View, analyze, check
from kvcal.grammar.plan import HfmgParams, IfmrParams, LayerPlan
from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.resolve import resolve, resolve_analysis
from kvcal.grammar.syntax.parser import ParseResult, parse, parse_bytes

__all__ = [
    "Analysis", "HfmgParams", "IfmrParams", "LayerPlan", "ParseResult", "Problem", "Related",
    "View", "analyze", "check", "parse", "parse_bytes", "resolve", "resolve_analysis",
]  # fmt: skip
