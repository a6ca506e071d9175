"""``calibrate()``: every layer of a config on sample data, with quality metrics.

For each :class:`~kvcal.grammar.plan.LayerPlan` the layer's first ``batch_num`` batches
are read once, piece by piece, into one ``[slices, values]`` matrix (:mod:`.layout`); HFMG
(batch by batch, as views) and IFMR run on it — the configured algorithm with its
parameters, the other with AMCT's defaults, for comparison — and so do the quality
metrics and the histogram summary. The layer's data is in memory once, plus HFMG's
histograms and chunk-sized temporaries. Safe to call from a worker thread; ``cancel`` is
polled between layers, batches and chunks.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from kvcal.calibrate.algorithms.hfmg import HfmgObserver
from kvcal.calibrate.algorithms.ifmr import IfmrObserver
from kvcal.calibrate.algorithms.observer import Observer, resolve_device
from kvcal.calibrate.data.batch import batches_of
from kvcal.calibrate.data.layout import Layout, lay_out
from kvcal.calibrate.data.record import write_record
from kvcal.calibrate.data.samples import SampleSource, open_samples
from kvcal.calibrate.errors import CalibrationCancelled, PlanError, SampleDataError, where
from kvcal.calibrate.factors import Factors
from kvcal.calibrate.results.outcome import CalibrationResult, Histogram, LayerResult
from kvcal.calibrate.results.quality import quality_report
from kvcal.calibrate.results.report import write_report
from kvcal.grammar.plan import HfmgParams, IfmrParams, LayerPlan

Progress = Callable[[str, int, int], None]
HISTOGRAM_BINS = 256


def _check_plans(plans: Sequence[LayerPlan], source: SampleSource) -> None:
    """What would stop a layer, found before any work: missing layers, too few batches."""
    for plan in plans:
        if plan.batch_num < 1:
            raise PlanError(f"{where(None, plan.layer_name)}batch_num is {plan.batch_num}; it must be > 0")
    source.require(plan.layer_name for plan in plans)
    for plan in plans:
        source.check_count(plan.layer_name, plan.batch_num)


def _histogram(x: torch.Tensor) -> Histogram:
    lo, hi = x.amin(dim=1), x.amax(dim=1)  # (aminmax over a dim is ~8x slower on CPU)
    a, b = float(lo.min()), float(hi.max())
    if a == b:
        a, b = a - 1.0, b + 1.0
    counts = torch.histc(x.reshape(-1), HISTOGRAM_BINS, min=a, max=b).cpu()
    edges = torch.linspace(a, b, HISTOGRAM_BINS + 1, dtype=torch.float64)
    return Histogram(counts, edges, lo.cpu(), hi.cpu())


def _located(message: str, source: str | None, layer: str) -> str:
    """*message* without its ``file: layer 'x', batch i:`` prefix (said once by the caller)."""
    for prefix in (f"{source}: " if source else "", f"layer '{layer}', ", f"layer '{layer}': "):
        if prefix and message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def calibrate_layer(
    plan: LayerPlan,
    batches: Sequence[torch.Tensor] | SampleSource,
    *,
    device: str | torch.device = "cpu",
    cancel: Callable[[], bool] | None = None,
) -> LayerResult:
    """One layer: its configured algorithm, the other one, the min-max baseline.

    The layer's first ``batch_num`` batches are laid out once (:mod:`.layout`): HFMG
    observes each batch as a view of that matrix, IFMR searches it, the metrics read it."""
    start = time.perf_counter()
    dev = resolve_device(device)
    name = plan.layer_name
    source = None
    if isinstance(batches, SampleSource):
        source = str(batches.path)
        readers = [batches.batch(name, i) for i in range(plan.batch_num)]
    else:
        if len(batches) < plan.batch_num:
            raise SampleDataError(
                f"{where(None, name)}batch_num is {plan.batch_num} but only {len(batches)} "
                "batch(es) were given: AMCT would write no record"
            )
        readers = batches_of(batches[: plan.batch_num])
    lay = lay_out(readers, per_channel=plan.per_channel, device=dev, source=source, layer=name, cancel=cancel)
    del readers

    def observer(algorithm: str) -> Observer:
        """The plan's observer for *algorithm* (the other one gets AMCT's defaults)."""
        if algorithm == "hfmg":
            return HfmgObserver(
                plan.hfmg or HfmgParams(),
                per_channel=plan.per_channel,
                with_offset=plan.with_offset,
                device=dev,
                name=name,
            )
        return IfmrObserver(
            plan.ifmr or IfmrParams(), per_channel=plan.per_channel, with_offset=plan.with_offset, device=dev, name=name
        )

    def run(algorithm: str, lay: Layout) -> Factors:
        """The observer contract, fed the layout's batches (views: no copy)."""
        obs = observer(algorithm)
        obs.source = source
        for i in range(len(lay.segments)):
            if cancel is not None and cancel():
                raise CalibrationCancelled("calibration cancelled")
            obs.observe_laid_out(lay.batch(i))
        return obs.compute(cancel=cancel)

    # The configured algorithm first: its error is the layer's error. The other one (AMCT's
    # defaults) is only a comparison: data whose values overflow its arithmetic alone costs
    # the comparison, not the calibration (QualityReport.other_error says why).
    other_name = "hfmg" if plan.algorithm == "ifmr" else "ifmr"
    chosen = run(plan.algorithm, lay)
    other: Factors | None
    try:
        other, other_error = run(other_name, lay), None
    except (SampleDataError, PlanError) as exc:
        other, other_error = None, _located(str(exc), source, name)
    data = lay.matrix
    quality = quality_report(data, chosen, other, other_name, plan.with_offset, other_error=other_error)
    hist = _histogram(data)
    values = data.numel()
    del data, lay
    return LayerResult(name, plan, chosen.cpu(), quality, hist, values, time.perf_counter() - start)


def calibrate(
    plans: Sequence[LayerPlan],
    samples: str | os.PathLike[str] | SampleSource,
    *,
    device: str | torch.device = "cpu",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> CalibrationResult:
    """Calibrate every layer of *plans* on *samples* (a path or an opened source).

    ``progress(layer_name, index, total)`` is called before each layer; ``cancel()`` is
    polled between layers and chunks and raises :class:`CalibrationCancelled`.
    """
    start = time.perf_counter()
    dev = resolve_device(device)
    opened = not isinstance(samples, SampleSource)
    source = open_samples(samples)
    try:
        _check_plans(plans, source)
        layers = []
        for i, plan in enumerate(plans):
            if cancel is not None and cancel():
                raise CalibrationCancelled("calibration cancelled")
            if progress is not None:
                progress(plan.layer_name, i, len(plans))
            layers.append(calibrate_layer(plan, source, device=dev, cancel=cancel))
    finally:
        if opened:
            source.close()
    return CalibrationResult(layers, str(source.path), str(dev), time.perf_counter() - start)


@dataclass(frozen=True)
class Written:
    """A calibration and what was written from it: the record (with the layers whose
    entries in an existing record were replaced) and the report's Markdown file."""

    result: CalibrationResult
    record: Path | None = None
    replaced: tuple[str, ...] = ()
    report: Path | None = None


def calibrate_and_write(
    plans: Sequence[LayerPlan],
    samples: str | os.PathLike[str] | SampleSource,
    *,
    record: Path | None = None,
    report: Path | None = None,
    update: bool = True,
    config: str | None = None,
    device: str | torch.device = "auto",
    progress: Progress | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Written:
    """What ``kvcal calibrate`` and the language server's ``kvcal.calibrate`` both do:
    calibrate every layer, then write AMCT's record file (updating an existing one layer by
    layer unless *update* is false) and the report (*config* names the config in it).

    Raises CalibrationError (the data, the plan, the record path: nothing was written),
    CalibrationCancelled, or OSError for a report that cannot be written (the record is).
    """
    result = calibrate(plans, samples, device=device, progress=progress, cancel=cancel)
    if cancel is not None and cancel():
        raise CalibrationCancelled("calibration cancelled")
    replaced: list[str] = []
    if record is not None:
        if progress is not None:
            progress(
                f"writing {record.name}" + (" and the report" if report is not None else ""), len(plans), len(plans)
            )
        with warnings.catch_warnings():  # ("replaced the record of N layers": returned instead)
            warnings.simplefilter("ignore")
            replaced = write_record(record, result.factors_by_layer(), update=update)
    written = write_report(result, report, config=config, record=str(record) if record else None) if report else None
    return Written(result, record, tuple(replaced), written)
