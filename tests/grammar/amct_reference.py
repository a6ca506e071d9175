"""An independent resolver written from spec §1.1 against protobuf's own parse result.

It reads the message ``text_format.Merge`` builds (what AMCT builds), so the differential
tests compare kvcal's tree-based resolution with protobuf's semantics.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def amct_float(v: float) -> float:
    return float(str(np.float32(v)))


def plans_from_message(msg: Any) -> list[dict[str, Any]]:
    common = msg.kv_cache_quant_config
    names: list[str] = list(common.quant_layers)
    overrides: dict[str, Any] = {}
    for o in msg.override_layers_configs:
        if o.HasField("layer_name"):
            overrides[o.layer_name] = o.kv_data_quant_config if o.HasField("kv_data_quant_config") else None
            names.append(o.layer_name)
    plans = []
    for name in dict.fromkeys(names):
        if name in overrides:
            cal = overrides[name]
        else:
            cal = common.calibration_config if common.HasField("calibration_config") else None
        which = cal.WhichOneof("acts_quant_algo") if cal is not None else None
        algo = getattr(cal, which) if which else None
        algorithm = "hfmg" if which == "hfmg_quantize" else "ifmr"
        if algo is not None and algo.HasField("asymmetric"):
            with_offset = algo.asymmetric
        else:
            with_offset = msg.activation_offset
        granularity = algo.quant_granularity if algo is not None else 0
        plan: dict[str, Any] = {
            "layer_name": name,
            "algorithm": algorithm,
            "with_offset": bool(with_offset),
            "per_channel": granularity == 1,
            "batch_num": msg.batch_num,
        }
        if algorithm == "hfmg":
            plan["num_of_bins"] = algo.num_of_bins
        else:
            src = (
                algo
                if algo is not None
                else type(msg).DESCRIPTOR.file.pool.FindMessageTypeByName("AMCTPytorchQuantCaliProto.FMRQuantize")
            )
            for f in ("search_range_start", "search_range_end", "search_step", "max_percentile", "min_percentile"):
                value = getattr(src, f) if algo is not None else src.fields_by_name[f].default_value
                plan[f] = amct_float(value)
        plans.append(plan)
    return plans


def plans_from_kvcal(plans: list[Any]) -> list[dict[str, Any]]:
    out = []
    for p in plans:
        d: dict[str, Any] = {
            "layer_name": p.layer_name,
            "algorithm": p.algorithm,
            "with_offset": p.with_offset,
            "per_channel": p.per_channel,
            "batch_num": p.batch_num,
        }
        if p.hfmg is not None:
            d["num_of_bins"] = p.hfmg.num_of_bins
        else:
            for f in ("search_range_start", "search_range_end", "search_step", "max_percentile", "min_percentile"):
                d[f] = getattr(p.ifmr, f)
        out.append(d)
    return out
