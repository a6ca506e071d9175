"""Generated configs of a given size, for the grammar and language-server benchmarks."""

from __future__ import annotations

MANUAL = """kv_cache_quant_config {
    quant_layers: 'matmul1'
    quant_layers: 'matmul2'
    calibration_config: {
        hfmg_quantize : {
        }
    }
}
override_layers_configs {
    layer_name: 'matmul3'
    kv_data_quant_config: {
        ifmr_quantize : {
        }
    }
}
"""


def big_config(lines: int) -> str:
    """A realistic config of about *lines* lines: a common block and many overrides."""
    head = [
        "# generated: many per-layer overrides",
        "batch_num: 4",
        "activation_offset: true",
        "kv_cache_quant_config {",
    ]
    n_layers = max(1, lines // 14)
    for i in range(n_layers):
        head.append(f"  quant_layers: 'model.layers.{i}.self_attn.k_proj'")
    head += ["  calibration_config {", "    hfmg_quantize {", "      num_of_bins: 4096", "    }", "  }", "}"]
    out = head
    i = 0
    while True:
        algo = (
            [
                "    ifmr_quantize {",
                "      search_range_start: 0.8",
                "      search_range_end: 1.2",
                "      search_step: 0.01",
                "      quant_granularity: per_channel",
                "    }",
            ]
            if i % 2
            else ["    hfmg_quantize {", "      num_of_bins: 2048", "      asymmetric: false", "    }"]
        )
        out += [
            "override_layers_configs {",
            f"  layer_name: 'model.layers.{i}.self_attn.v_proj'",
            "  kv_data_quant_config {",
            *algo,
            "  }",
            "}",
            f"# layer {i} tuned",
        ]
        i += 1
        if len(out) >= lines:
            return "\n".join(out) + "\n"


#: the generic benchmark's schema (a user's .proto with every kind of field)
GENERIC_PROTO = "tests/data/schemas/acme.proto"
GENERIC_MESSAGE = "acme.Experiment"


def generic_text(lines: int) -> str:
    """A text of about *lines* lines for GENERIC_PROTO: scalars of every type, a map, a
    group, an Any, an extension and many repeated messages."""
    out = [
        'name: "bench"',
        "small: -7",
        "big: 9000000000",
        "count: 4",
        "huge: 0xFFFF",
        "delta: -3",
        "mask: 017",
        "offset: -1",
        "ratio: 0.25",
        "precise: 1e-300",
        "enabled: true",
        'blob: "\\x00\\xff"',
        "speed: FAST",
        'tags: ["a", "b"]',
        'host: "h"',
        'Setting { key: "k" }',
        "timeout { seconds: 3 }",
        'payload { [type.googleapis.com/acme.Step] { id: "p" } }',
        '[acme.note]: "n"',
    ]
    i = 0
    while len(out) < lines:
        out += [
            "steps {",
            f'  id: "step-{i}"',
            f"  weight: {i % 97 / 7:.4f}",
            "}",
            f'limits {{ key: "k{i}" value: {i % 1000} }}',
            f"# step {i}",
        ]
        i += 1
    return "\n".join(out) + "\n"
