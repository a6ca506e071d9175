"""``kvcal explain FILE``: the effective per-layer plan AMCT will run, and why."""

from __future__ import annotations

import argparse
import sys

from kvcal.grammar.checks.effective import Row, effective_rows
from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.problems import excerpt
from kvcal.grammar.resolve import amct_json, resolve_analysis
from kvcal.server.commands._files import add_schema_arguments, analyzed_config, schema_options

HELP = "show the effective per-layer (or per-type) config AMCT will build"

_OFFSET_WHY = {
    "override": "asymmetric in the override",
    "common": "asymmetric in kv_cache_quant_config",
    "activation_offset": "activation_offset",
    "default": "default activation_offset: true",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="config file ('-' reads stdin)")
    parser.add_argument(
        "--format",
        choices=("table", "amct-json"),
        default="table",
        help="table (default) or amct-json: exactly the JSON AMCT's "
        "create_quant_cali_config writes for this file (KV-cache configs)",
    )
    add_schema_arguments(parser)


def _params(plan: LayerPlan) -> str:
    if plan.ifmr is not None:
        p = plan.ifmr
        return (
            f"search [{p.search_range_start:g}, {p.search_range_end:g}) step {p.search_step:g}, "
            f"percentiles max {p.max_percentile:g} min {p.min_percentile:g}"
        )
    assert plan.hfmg is not None
    return f"{plan.hfmg.num_of_bins} bins"


def table(plans: list[LayerPlan], batch_num: int) -> str:
    rows = [("layer", "algorithm", "granularity", "mode (decided by)", "from", "parameters")]
    for p in plans:
        mode = "asymmetric" if p.with_offset else "symmetric"
        rows.append(
            (
                excerpt(p.layer_name),
                p.algorithm.upper(),
                p.granularity,
                f"{mode} ({_OFFSET_WHY[p.offset_source]})",
                p.config_source if p.config_source != "default" else "default (IFMR)",
                _params(p),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\n{len(plans)} layer(s), batch_num {batch_num}, 8-bit (quantized range [-128, 127])")
    return "\n".join(lines)


def rows_table(rows: list[Row]) -> str:
    """The effective config of a non-KV family: one block per target."""
    out = []
    for row in rows:
        out.append(f"{row.target}  ({row.source})")
        width = max((len(k) for k, _ in row.settings), default=0)
        out += [f"  {k.ljust(width)}  {v}" for k, v in row.settings]
        out += [f"  note: {n}" for n in row.notes]
        out.append("")
    return "\n".join(out).rstrip()


def run(args: argparse.Namespace) -> int:
    options = schema_options(args)
    if isinstance(options, int):
        return options
    loaded = analyzed_config(args.file, "explaining it", options)
    if isinstance(loaded, int):
        return loaded
    config, analysis = loaded
    if analysis.family != "kv":
        schema = analysis.schema
        if args.format == "amct-json":
            print(
                f"kvcal: {config.shown}: --format amct-json is for KV-cache configs; this is "
                f"{schema.shown if schema else 'a file with no schema'}",
                file=sys.stderr,
            )
            return 2
        rows = effective_rows(analysis)
        if schema is None:
            print(f"kvcal: {config.shown}: no schema ({analysis.resolution.why}): nothing to explain", file=sys.stderr)
            return 1
        if not rows:
            print(f"{config.shown}: {schema.shown}: kvcal has no effective-config table for this schema")
            return 0
        print(f"{config.shown}: {schema.shown}\n")
        print(rows_table(rows))
        return 0
    if args.format == "amct-json":
        print(amct_json(analysis))
        return 0
    root = analysis.root
    assert root is not None  # (a KV-cache analysis has its schema's root view)
    plans = resolve_analysis(analysis)
    print(table(plans, int(root.value("batch_num"))))
    return 0
