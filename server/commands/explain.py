"""``kvcal explain FILE``: the effective per-layer plan AMCT will run, and why."""

from __future__ import annotations

import argparse

from kvcal.grammar.plan import LayerPlan
from kvcal.grammar.problems import excerpt
from kvcal.grammar.resolve import amct_json, resolve_analysis
from kvcal.server.commands._files import analyzed_config

HELP = "show the effective per-layer plan AMCT will run"

_OFFSET_WHY = {
    "override": "asymmetric in the override",
    "common": "asymmetric in kv_cache_quant_config",
    "activation_offset": "activation_offset",
    "default": "default activation_offset: true",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="config file ('-' reads stdin)")
    parser.add_argument("--format", choices=("table", "amct-json"), default="table",
                        help="table (default) or amct-json: exactly the JSON AMCT's "
                             "create_quant_cali_config writes for this file")  # fmt: skip


def _params(plan: LayerPlan) -> str:
    if plan.ifmr is not None:
        p = plan.ifmr
        return (f"search [{p.search_range_start:g}, {p.search_range_end:g}) step {p.search_step:g}, "
                f"percentiles max {p.max_percentile:g} min {p.min_percentile:g}")  # fmt: skip
    assert plan.hfmg is not None
    return f"{plan.hfmg.num_of_bins} bins"


def table(plans: list[LayerPlan], batch_num: int) -> str:
    rows = [("layer", "algorithm", "granularity", "mode (decided by)", "from", "parameters")]
    for p in plans:
        mode = "asymmetric" if p.with_offset else "symmetric"
        rows.append((excerpt(p.layer_name), p.algorithm.upper(), p.granularity, f"{mode} ({_OFFSET_WHY[p.offset_source]})",
                     p.config_source if p.config_source != "default" else "default (IFMR)", _params(p)))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(f"\n{len(plans)} layer(s), batch_num {batch_num}, 8-bit (quantized range [-128, 127])")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    loaded = analyzed_config(args.file, "explaining it")
    if isinstance(loaded, int):
        return loaded
    _, analysis = loaded
    if args.format == "amct-json":
        print(amct_json(analysis))
        return 0
    plans = resolve_analysis(analysis)
    print(table(plans, int(analysis.root.value("batch_num"))))
    return 0
