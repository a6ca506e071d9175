"""Every bad input the issue lists gets a clear error naming file/layer/batch, and nothing
is half-written."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from kvcal.calibrate import (
    CalibrationError,
    HfmgObserver,
    IfmrObserver,
    RecordError,
    SampleDataError,
    calibrate,
    write_record,
)
from kvcal.calibrate.data.samples import SampleSource
from kvcal.grammar.plan import LayerPlan

K = "model.layers.0.self_attn.k_proj"
V = "model.layers.0.self_attn.v_proj"


def plan(layer: str = K, algorithm: str = "ifmr", batch_num: int = 2, **kw) -> LayerPlan:
    return LayerPlan(layer, algorithm, batch_num=batch_num, **kw)  # type: ignore[arg-type]


def samples(tmp_path: Path, tensors: dict[str, torch.Tensor], name: str = "s.safetensors") -> Path:
    path = tmp_path / name
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def good(n: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {f"{layer}/{i}": torch.randn(1, 16, 8, generator=g) for layer in (K, V) for i in range(n)}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_or_inf_names_file_layer_and_batch(tmp_path: Path, bad: float) -> None:
    data = good()
    data[f"{K}/1"][0, 3, 2] = bad
    path = samples(tmp_path, data)
    with pytest.raises(SampleDataError) as exc:
        calibrate([plan()], path)
    msg = str(exc.value)
    assert str(path) in msg and K in msg and "batch 1" in msg
    assert ("NaN" in msg) and ("Inf" in msg) and "finite" in msg


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.uint8, torch.bfloat16])
def test_integer_bool_and_other_dtypes_are_refused(tmp_path: Path, dtype: torch.dtype) -> None:
    data = good()
    data[f"{K}/0"] = data[f"{K}/0"].to(dtype)
    path = samples(tmp_path, data)
    with pytest.raises(SampleDataError, match=r"dtype .* is not accepted.*float32 or float16") as exc:
        calibrate([plan()], path)
    assert K in str(exc.value) and "batch 0" in str(exc.value)


def test_channel_count_changing_between_batches(tmp_path: Path) -> None:
    data = good()
    data[f"{K}/1"] = torch.randn(1, 16, 6)
    path = samples(tmp_path, data)
    for algorithm in ("ifmr", "hfmg"):
        with pytest.raises(SampleDataError, match=r"batch 1.*6 channels.*first batch had 8") as exc:
            calibrate([plan(algorithm=algorithm, granularity="per_channel")], path)
        assert K in str(exc.value)
    # per tensor the channel count does not matter (AMCT flattens)
    calibrate([plan(granularity="per_tensor")], path)


def test_missing_layer_lists_what_is_there(tmp_path: Path) -> None:
    path = samples(tmp_path, good())
    with pytest.raises(SampleDataError) as exc:
        calibrate([plan(), plan("model.layers.0.self_attn.q_proj")], path)
    msg = str(exc.value)
    assert "model.layers.0.self_attn.q_proj" in msg and K in msg and V in msg and "did you mean" in msg


def test_fewer_batches_than_batch_num(tmp_path: Path) -> None:
    path = samples(tmp_path, good(2))
    with pytest.raises(SampleDataError, match=r"batch_num is 3 but the sample data holds 2") as exc:
        calibrate([plan(batch_num=3)], path)
    assert K in str(exc.value) and str(path) in str(exc.value)


def test_a_gap_in_batch_numbers_is_named(tmp_path: Path) -> None:
    data = good(3)
    del data[f"{K}/1"]
    path = samples(tmp_path, data)
    with pytest.raises(SampleDataError, match=r"batch 1 is missing"):
        calibrate([plan(batch_num=2)], path)


@pytest.mark.parametrize("shape", [(0,), (1, 0, 8), (4, 0)])
def test_empty_tensors(tmp_path: Path, shape: tuple[int, ...]) -> None:
    data = good()
    data[f"{K}/0"] = torch.empty(shape)
    path = samples(tmp_path, data)
    with pytest.raises(SampleDataError, match=r"empty tensor") as exc:
        calibrate([plan()], path)
    assert K in str(exc.value) and "batch 0" in str(exc.value)


def test_a_single_number_is_not_a_batch(tmp_path: Path) -> None:
    data = good()
    data[f"{K}/0"] = torch.tensor(1.5)
    with pytest.raises(SampleDataError, match=r"a single number \(shape \[\]\)") as exc:
        calibrate([plan()], samples(tmp_path, data))
    assert K in str(exc.value) and "batch 0" in str(exc.value) and "channels last" in str(exc.value)


@pytest.mark.parametrize("algorithm", ["ifmr", "hfmg"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_values_beyond_what_float32_calibration_can_hold(tmp_path: Path, algorithm: str, per_channel: bool) -> None:
    g = torch.Generator().manual_seed(3)
    granularity = "per_channel" if per_channel else "per_tensor"
    for lo, hi in [(-2e38, 2e38), (-1e36, 1e36)]:  # the span, or the histogram's bins, overflow
        x = torch.where(torch.rand(2, 64, 4, generator=g) < 0.5, torch.full((), lo), torch.full((), hi))
        path = samples(tmp_path, {f"{K}/0": x[0], f"{K}/1": x[1]}, f"big{hi:g}.safetensors")
        if hi == 1e36 and algorithm == "ifmr":  # only HFMG's bins overflow: IFMR calibrates, the comparison goes
            (r,) = calibrate([plan(algorithm=algorithm, granularity=granularity)], path).layers
            assert r.quality.other_factors is None and "HFMG cannot bin them" in (r.quality.other_error or "")
            continue
        with pytest.raises(SampleDataError, match=r"overflows float32") as exc:
            calibrate([plan(algorithm=algorithm, granularity=granularity)], path)
        assert str(path) in str(exc.value) and f"layer '{K}'" in str(exc.value) and "captured" in str(exc.value)
        assert algorithm.upper() in str(exc.value)  # the configured algorithm is the one named
    # all positive near float32's top: the span is fine, a candidate scale (1.3 x max / 127) is not
    obs = IfmrObserver(per_channel=False, with_offset=False, name=K)
    obs.observe(torch.linspace(1e38, 3e38, 100))
    with pytest.raises(SampleDataError, match=r"Param scale has invalid value"):
        obs.compute()


def test_observers_check_batches_too() -> None:
    for cls in (IfmrObserver, HfmgObserver):
        obs = cls(per_channel=False, with_offset=True, name=K)
        with pytest.raises(SampleDataError, match="NaN"):
            obs.observe(torch.tensor([1.0, float("nan")]))
        with pytest.raises(SampleDataError, match="no batch was observed"):
            cls(per_channel=False, with_offset=True).compute()


@pytest.mark.parametrize(
    "content", [b"", b"garbage bytes, not safetensors", b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": 1, broken']
)
def test_corrupt_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    with pytest.raises(SampleDataError, match=r"not a readable safetensors file") as exc:
        calibrate([plan()], path)
    assert str(path) in str(exc.value)


def test_truncated_file(tmp_path: Path) -> None:
    path = samples(tmp_path, good())
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 200])
    with pytest.raises(SampleDataError) as exc:
        calibrate([plan()], path)
    assert str(path) in str(exc.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SampleDataError, match="no such sample file"):
        calibrate([plan()], tmp_path / "nope.safetensors")


class NotATensor:
    pass


def test_pt_files_are_loaded_without_pickle_code(tmp_path: Path) -> None:
    path = tmp_path / "samples.pt"
    torch.save({f"{K}/0": torch.randn(4, 8), f"{K}/1": torch.randn(4, 8), "x": NotATensor()}, path)
    with pytest.raises(SampleDataError, match=r"weights_only=True") as exc:
        calibrate([plan()], path)
    assert "pickled objects" in str(exc.value) and "\n" not in str(exc.value)  # one line, our advice only
    listed = tmp_path / "list.pt"
    torch.save([torch.randn(4, 8)], listed)
    with pytest.raises(SampleDataError, match=r"must hold a dict of tensors .* \(got list\)"):
        calibrate([plan()], listed)
    ok = tmp_path / "ok.pt"
    torch.save(collections.OrderedDict({f"{K}/0": torch.randn(4, 8), f"{K}/1": torch.randn(4, 8)}), ok)
    assert calibrate([plan()], ok).layers[0].layer_name == K


def test_stacked_key_format(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    stacked = torch.randn(2, 1, 16, 8, generator=g)
    a = calibrate([plan()], samples(tmp_path, {K: stacked}, "a.safetensors"))
    b = calibrate([plan()], samples(tmp_path, {f"{K}/0": stacked[0], f"{K}/1": stacked[1]}, "b.safetensors"))
    assert torch.equal(a.layers[0].factors.scale, b.layers[0].factors.scale)
    assert SampleSource(tmp_path / "a.safetensors").layers == [K]


def test_unwritable_record_path(tmp_path: Path) -> None:
    result = calibrate([plan()], samples(tmp_path, good()))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RecordError, match=r"cannot write the record file") as exc:
        write_record(blocker / "record.txt", result.factors_by_layer())
    assert "record.txt" in str(exc.value)


def test_record_in_a_read_only_folder(tmp_path: Path) -> None:
    result = calibrate([plan()], samples(tmp_path, good()))
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        if _can_write(readonly):
            pytest.skip("running as a user that ignores directory permissions")
        with pytest.raises(RecordError):
            write_record(readonly / "record.txt", result.factors_by_layer())
        assert list(readonly.iterdir()) == []
    finally:
        readonly.chmod(0o700)


def _can_write(directory: Path) -> bool:
    try:
        (directory / ".probe").write_text("")
    except OSError:
        return False
    (directory / ".probe").unlink()
    return True


def test_every_error_is_a_calibration_error() -> None:
    for cls in (SampleDataError, RecordError):
        assert issubclass(cls, CalibrationError)
