"""Record files: AMCT's text format, atomic writes, layer-by-layer updates, clear errors."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from google.protobuf import text_format

from kvcal.calibrate import Factors, RecordError, read_record, write_record
from kvcal.calibrate.factors import factors_from_scale_offset
from kvcal.grammar import schema


def fac(scales: list[float], offsets: list[int]) -> Factors:
    return factors_from_scale_offset(torch.tensor(scales), torch.tensor(offsets, dtype=torch.float32))


def test_text_is_what_amct_writes(tmp_path: Path) -> None:
    path = tmp_path / "record.txt"
    write_record(path, {"a.k_proj": fac([0.0123], [-3]), "a.v_proj": ([0.5, 0.25], [0, 1])})
    msg = schema.message_class(schema.RECORD_MESSAGE)()
    for key, (s, o) in {"a.k_proj": ([0.0123], [-3]), "a.v_proj": ([0.5, 0.25], [0, 1])}.items():
        e = msg.record.add()
        e.key = key
        e.kv_cache_value.scale.extend(s)
        e.kv_cache_value.offset.extend(o)
    assert path.read_text() == text_format.MessageToString(msg, as_utf8=True)
    assert 'key: "a.k_proj"' in path.read_text() and "scale: 0.0123\n" in path.read_text()


def test_round_trip_keeps_float32_values(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    scales = torch.tensor([0.1, 1 / 3, 2.5e-8, 123.456], dtype=torch.float32)
    f = factors_from_scale_offset(scales, torch.tensor([-128.0, 0.0, 5.0, 127.0]))
    write_record(path, {"layer": f})
    got = read_record(path)
    assert got == {"layer": (scales.tolist(), [-128, 0, 5, 127])}


def test_update_replaces_layers_in_place_and_warns(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    write_record(path, {"a": ([1.0], [0]), "b": ([2.0], [1])})
    with pytest.warns(UserWarning, match=r"replaced the record of 1 layer\(s\): b"):
        replaced = write_record(path, {"b": ([3.0], [2]), "c": ([4.0], [3])})
    assert replaced == ["b"]
    assert list(read_record(path).items()) == [("a", ([1.0], [0])), ("b", ([3.0], [2])), ("c", ([4.0], [3]))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert write_record(path, {"z": ([1.0], [0])}, update=False) == []
    assert list(read_record(path)) == ["z"]


def test_an_update_leaves_one_entry_per_layer_written(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    entry = 'record {{\n  key: "{}"\n  kv_cache_value {{\n    scale: {}\n    offset: 0\n  }}\n}}\n'
    path.write_text(entry.format("a", 1.0) + entry.format("b", 2.0) + entry.format("a", 3.0))
    with pytest.warns(UserWarning, match="replaced the record of 1 layer"):
        write_record(path, {"a": ([4.0], [1])})
    assert path.read_text().count('key: "a"') == 1
    assert read_record(path) == {"b": ([2.0], [0]), "a": ([4.0], [1])}


def test_other_entries_survive_an_update(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text('record {\n  key: "conv1"\n  value {\n    scale_d: 0.5\n    offset_d: 3\n  }\n}\n')
    write_record(path, {"k": ([1.0], [0])})
    text = path.read_text()
    assert "scale_d: 0.5" in text and 'key: "k"' in text
    assert read_record(path) == {"k": ([1.0], [0])}


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "r.txt"
    write_record(path, {"a": ([1.0], [0])})
    before = path.read_text()

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(RecordError, match="No space left"):
        write_record(path, {"b": ([2.0], [0])})
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.txt"]  # no temporary left


def test_malformed_file_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "r.txt"
    path.write_text('record {\n  key: "a"\n  kv_cache_value {\n    scale: oops\n  }\n}\n')
    with pytest.raises(RecordError, match=rf"{path}:4:\d+: malformed record file"):
        read_record(path)
    with pytest.raises(RecordError, match="malformed"):
        write_record(path, {"a": ([1.0], [0])})  # an update never clobbers a file it cannot read
    path.write_text('record {\n  key: "a"\n  kv_cache_value {\n    scale: 1.0\n  }\n}\n')
    with pytest.raises(RecordError, match=r"1 scale.*0 offset"):
        read_record(path)


def test_missing_or_binary_file(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="cannot read"):
        read_record(tmp_path / "none.txt")
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RecordError):
        read_record(tmp_path / "bin.txt")
