"""kvcal.grammar: the config language — protobuf text format parsed with recovery, schemas
resolved per document (the bundled AMCT family, user .protos compiled by protoc), checks,
the KV-cache plan, formatting. Imports neither pygls/lsprotocol nor torch.
"""

from __future__ import annotations

from kvcal.grammar.checks.analysis import AUTO, Analysis, analyze, check
from kvcal.grammar.checks.views import View
from kvcal.grammar.plan import HfmgParams, IfmrParams, LayerPlan
from kvcal.grammar.problems import Problem, Related
from kvcal.grammar.resolve import resolve, resolve_analysis
from kvcal.grammar.schema import Schema
from kvcal.grammar.schema.resolution import Resolution, SchemaError, SchemaOptions, explicit_schema
from kvcal.grammar.syntax.parser import ParseResult, parse, parse_bytes

__all__ = [
    "AUTO",
    "Analysis",
    "HfmgParams",
    "IfmrParams",
    "LayerPlan",
    "ParseResult",
    "Problem",
    "Related",
    "Resolution",
    "Schema",
    "SchemaError",
    "SchemaOptions",
    "View",
    "analyze",
    "check",
    "explicit_schema",
    "parse",
    "parse_bytes",
    "resolve",
    "resolve_analysis",
]
