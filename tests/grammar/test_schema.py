"""The committed descriptor set is what protoc makes from the .proto files, and every
field, message and enum value is documented in English and Chinese."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kvcal.grammar import schema
from tests.scripts import load

generate = load("generate_schema")


def test_descriptor_set_is_not_stale() -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools is a dev dependency (make setup installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        (fresh,) = generate.generate(Path(tmp))
        assert fresh.read_bytes() == schema.descriptor_set_bytes(), (
            "grammar/schema/proto/schema.binpb is stale: run `make proto` and commit it"
        )


def _config_descriptors():
    seen, stack = {}, [schema.root()]
    while stack:
        d = stack.pop()
        if d.full_name not in seen:
            seen[d.full_name] = d
            stack += [f.message_type for f in d.fields if f.message_type is not None]
    return list(seen.values())


def test_every_field_is_documented_in_both_languages() -> None:
    missing = []
    for desc in _config_descriptors():
        for name in [desc.full_name, *(f"{desc.full_name}.{f.name}" for f in desc.fields)]:
            doc = schema.doc(name)
            if not doc.en or not doc.zh:
                missing.append(name)
    enum = (
        schema.message_descriptor("AMCTPytorchQuantCaliProto.FMRQuantize").fields_by_name["quant_granularity"].enum_type
    )
    for v in enum.values:
        doc = schema.doc(f"{enum.full_name}.{v.name}")
        if not doc.en or not doc.zh:
            missing.append(v.name)
    assert not missing, f"undocumented: {missing}"


def test_schema_matches_the_spec_table() -> None:
    root = schema.root()
    assert root.full_name == "AMCTPytorchQuantCaliProto.AMCTQuantCaliConfig"
    numbers = {f.name: f.number for f in root.fields}
    assert numbers == {
        "batch_num": 1,
        "activation_offset": 2,
        "kv_cache_quant_config": 10,
        "override_layers_configs": 110,
    }
    fmr = schema.message_descriptor("AMCTPytorchQuantCaliProto.FMRQuantize")
    assert {f.name: schema.default_text(f) for f in fmr.fields} == {
        "search_range_start": "0.7",
        "search_range_end": "1.3",
        "search_step": "0.01",
        "max_percentile": "0.999999",
        "min_percentile": "0.999999",
        "asymmetric": None,
        "quant_granularity": "per_tensor",
    }
    assert fmr.fields_by_name["quant_granularity"].number == 11
    override = schema.message_descriptor("AMCTPytorchQuantCaliProto.OverrideLayer")
    assert schema.label(override.fields_by_name["layer_name"]) == "required"
    cal = schema.message_descriptor("AMCTPytorchQuantCaliProto.CalibrationConfig")
    assert [f.name for f in cal.oneofs_by_name["acts_quant_algo"].fields] == ["ifmr_quantize", "hfmg_quantize"]
    record = schema.message_class(schema.RECORD_MESSAGE)()
    entry = record.record.add(key="k")
    entry.kv_cache_value.scale.append(0.5)
    assert entry.kv_cache_value.scale[0] == 0.5


def test_amct_float_conversion() -> None:
    assert schema.amct_float(0.999999) == 0.999999  # not 0.99999898672...
    assert schema.amct_float(0.7) == 0.7
    assert schema.shortest_float32(1e39) == "inf"


def test_shortest_float32_spells_a_float32_as_numpy_does() -> None:
    import random

    import numpy as np

    rng = random.Random(7)
    values = [80.0, 0.999999, 1e-8, 3.4028235e38, 0.0001, 1e6, 999999.94, 0.0, -0.0, 1e-45, 1.17549435e-38]
    values += [rng.uniform(-1e6, 1e6) for _ in range(500)] + [10 ** rng.uniform(-45, 38) for _ in range(500)]
    for v in values:
        assert schema.shortest_float32(v) == str(np.float32(v)), v
        assert schema.amct_float(v) == float(str(np.float32(v)))
