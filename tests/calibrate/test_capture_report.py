"""capture(): hooks on nn.Linear outputs, saved in the sample format; the report."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from kvcal.calibrate import CaptureError, calibrate, capture, open_samples
from kvcal.calibrate.results.report import picture_name, table, write_report
from kvcal.grammar.plan import LayerPlan


class Attn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.k_proj = nn.Linear(8, 6)
        self.v_proj = nn.Linear(8, 6)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.k_proj(x)) + self.v_proj(x)


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([Attn(), Attn()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.cat([layer(x), x[..., :2]], dim=-1)
        return x


NAMES = ["layers.0.k_proj", "layers.1.v_proj"]


def test_capture_records_each_forward_pass_and_saves_the_sample_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Model()
    inputs = [torch.randn(2, 5, 8) for _ in range(3)]
    with capture(model, NAMES) as cap:
        for x in inputs:
            model(x)
    model(inputs[0])  # after the block: not recorded
    assert len(cap.batches("layers.0.k_proj")) == 3
    assert torch.equal(cap.batches("layers.0.k_proj")[1], model.layers[0].k_proj(inputs[1]).detach())
    path = cap.save(tmp_path / "cap.safetensors")
    with open_samples(path) as source:
        assert source.layers == NAMES
        assert source.batch_count("layers.1.v_proj") == 3
        first = source.batch("layers.0.k_proj", 0)
        values = torch.cat([p.clone() for p in first.pieces(first.shape[-1])])
    assert torch.equal(values.reshape(first.shape), cap.batches("layers.0.k_proj")[0])
    result = calibrate([LayerPlan(n, "ifmr", batch_num=3) for n in NAMES], path)
    assert len(result.layers) == 2
    assert not any(m._forward_hooks for m in model.modules())  # hooks removed


def test_capture_errors_name_the_module_and_similar_ones() -> None:
    model = Model()
    with (
        pytest.raises(CaptureError, match=r"'layers.0.k_prj' is not a module.*layers\.0\.k_proj"),
        capture(model, ["layers.0.k_prj"]),
    ):
        pass
    with (
        pytest.raises(CaptureError, match=r"'layers.0.act' is a ReLU, not an nn.Linear"),
        capture(model, ["layers.0.act"]),
    ):
        pass


def test_saving_nothing_is_an_error(tmp_path: Path) -> None:
    from kvcal.calibrate import SampleDataError

    with capture(Model(), NAMES) as cap:
        pass
    with pytest.raises(SampleDataError, match="nothing was recorded"):
        cap.save(tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_report_has_a_table_and_a_picture_per_layer(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(3)
    from safetensors.torch import save_file

    save_file(
        {"a.k/0": torch.randn(64, 4, generator=g), "b.v/0": torch.randn(64, 4, generator=g) * 3},
        str(tmp_path / "s.safetensors"),
    )
    result = calibrate(
        [LayerPlan("a.k", "ifmr", "per_channel", batch_num=1), LayerPlan("b.v", "hfmg", batch_num=1)],
        tmp_path / "s.safetensors",
    )
    md = write_report(result, tmp_path / "rep", config="q.cfg", record="r.txt")
    text = md.read_text()
    assert "| `a.k` | IFMR per_channel" in text and "![histogram of b.v](b.v.png)" in text
    for name in ("a.k", "b.v"):
        png = tmp_path / "rep" / picture_name(name)
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = table(result).splitlines()
    assert lines[0].split()[:3] == ["layer", "algo", "granularity"] and len(lines) == 3
