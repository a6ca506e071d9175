"""``kvcal tune``: the quant.cfg settings that hold on text the calibration never saw.

The search, in four steps, each reusing the one before:

1. **Capture once.** Every window of every tuning text runs through the unquantized model
   once; the K/V outputs of every layer and each window's NLL (the baseline) are kept.
2. **Folds.** With several texts, each text is held out in turn (leave-one-text-out: the
   calibration sees other domains only); with one text, blocks of its windows are. A fold
   calibrates on ``batch_num`` batches, batch ``b`` stacking window ``b`` of every
   calibration text, as AMCT sees ``batch_num`` forward passes. Every window is held out
   in exactly one fold.
3. **Proxy.** Each candidate setting is calibrated once per fold with the AMCT-exact
   engine, and its factors fake-quantize the held-out windows' activations: the
   relative error ``Σ (x − x')² / Σ x²`` per layer and window. A layer kind's score
   (keys, values) is the mean relative error of its layers, in dB (higher is better).
   First the 8 families (IFMR/HFMG × per_tensor/per_channel × symmetric/asymmetric, AMCT's
   default parameters) on every layer, then, per kind, the parameter variants (IFMR search
   range, HFMG bins) of that kind's best family. Within a kind, the simplest setting whose
   paired bootstrap interval of the score difference to the best contains 0 is chosen.
   A layer gets its own setting only where one beats its kind's by ``PER_LAYER_MARGIN_DB``
   on every held-out text.
4. **Confirm.** The finalists — AMCT's default, the best single setting, keys/values
   separately with one scale per tensor, keys/values separately, per layer — are run
   through the model on every held-out window with the factors of the fold that held it
   out, and compared by perplexity with paired intervals. Among those within ``limit`` % on
   every text, of the finalists that cannot be told from the best, the simplest config
   (fewest distinct settings, then fewest per-channel layers) is chosen, then the most
   robust (smallest change on its worst text). The SQNR proxy cannot see everything that
   matters — it rates per-channel keys highly, and their clipped outliers can still cost
   perplexity on another domain — which is why the finalists include per_tensor ones and
   perplexity decides.

Cost: capture and confirmation are forward passes (windows x (1 + finalists)); calibration
is folds x (8 x layers + variants x layers of one kind) engine runs on ``batch_num`` x
(texts − 1) windows each; the proxy is a fake-quantization of the held-out activations per
calibration. Everything grows linearly in layers, settings and tokens.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from kvcal.calibrate.algorithms.hfmg import HfmgObserver
from kvcal.calibrate.algorithms.ifmr import IfmrObserver
from kvcal.calibrate.factors import Factors
from kvcal.calibrate.model.evaluate import fake_quantize
from kvcal.calibrate.model.intervals import WindowScores, bootstrap_indices, difference_interval
from kvcal.grammar import HfmgParams, IfmrParams, LayerPlan
from kvcal.grammar.plan import Algorithm, Granularity

__all__ = [
    "AMCT_DEFAULT",
    "FAMILIES",
    "NEGLIGIBLE_DB",
    "PER_LAYER_MARGIN_DB",
    "Finalist",
    "Fold",
    "Setting",
    "TuneResult",
    "kind_of",
    "make_folds",
    "param_variants",
    "tune",
]

Progress = Callable[[str, int, int], None]
#: nll(factors_by_layer, windows) -> summed NLL of each of those windows, in order
NllFn = Callable[[Mapping[str, Factors], Sequence[int]], list[float]]

#: a layer leaves its kind's setting only for one this much better on every held-out text
PER_LAYER_MARGIN_DB = 0.5
#: proxy differences smaller than this are no reason to prefer a less simple setting
NEGLIGIBLE_DB = 0.1
_ALGO = {"ifmr": "IFMR", "hfmg": "HFMG"}


@dataclass(frozen=True)
class Setting:
    """What one layer's quant.cfg entry says: algorithm, granularity, symmetry, parameters."""

    algorithm: Algorithm
    granularity: Granularity
    with_offset: bool
    ifmr: IfmrParams | None = None
    hfmg: HfmgParams | None = None

    def __post_init__(self) -> None:
        if self.algorithm == "ifmr" and self.ifmr is None:
            object.__setattr__(self, "ifmr", IfmrParams())
        if self.algorithm == "hfmg" and self.hfmg is None:
            object.__setattr__(self, "hfmg", HfmgParams())

    @property
    def per_channel(self) -> bool:
        return self.granularity == "per_channel"

    @property
    def default_params(self) -> bool:
        return (self.ifmr or self.hfmg) == (IfmrParams() if self.algorithm == "ifmr" else HfmgParams())

    @property
    def ifmr_params(self) -> IfmrParams:
        return self.ifmr or IfmrParams()  # (set for an IFMR setting: __post_init__)

    @property
    def hfmg_params(self) -> HfmgParams:
        return self.hfmg or HfmgParams()

    @property
    def params_text(self) -> str:
        if self.algorithm == "hfmg":
            return f"{self.hfmg_params.num_of_bins} bins"
        p = self.ifmr_params
        return f"search [{p.search_range_start:g}, {p.search_range_end:g}) step {p.search_step:g}"

    @property
    def name(self) -> str:
        mode = "asymmetric" if self.with_offset else "symmetric"
        return f"{_ALGO[self.algorithm]} {self.granularity} {mode}, {self.params_text}"

    def complexity(self) -> tuple[int, int, int, int]:
        """Smaller is simpler: one scale before one per channel, AMCT's parameters before
        others, no offset before an offset, AMCT's default algorithm (IFMR) before HFMG."""
        return (
            int(self.per_channel),
            int(not self.default_params),
            int(self.with_offset),
            int(self.algorithm != "ifmr"),
        )

    def plan(self, layer: str, batch_num: int) -> LayerPlan:
        return LayerPlan(
            layer,
            self.algorithm,
            self.granularity,
            self.with_offset,
            batch_num,
            ifmr=self.ifmr if self.algorithm == "ifmr" else None,
            hfmg=self.hfmg if self.algorithm == "hfmg" else None,
        )

    def observer(self) -> IfmrObserver | HfmgObserver:
        if self.algorithm == "ifmr":
            return IfmrObserver(self.ifmr_params, per_channel=self.per_channel, with_offset=self.with_offset)
        return HfmgObserver(self.hfmg_params, per_channel=self.per_channel, with_offset=self.with_offset)


_ALGORITHMS: tuple[Algorithm, ...] = ("ifmr", "hfmg")
_GRANULARITIES: tuple[Granularity, ...] = ("per_tensor", "per_channel")
FAMILIES: tuple[Setting, ...] = tuple(
    Setting(a, g, o) for a in _ALGORITHMS for g in _GRANULARITIES for o in (True, False)
)
#: what AMCT runs for a layer listed without any calibration_config
AMCT_DEFAULT = Setting("ifmr", "per_tensor", True)
IFMR_RANGES = ((0.5, 1.3), (0.9, 1.1))
HFMG_BINS = (1024, 2048, 8192)


def param_variants(family: Setting) -> list[Setting]:
    """The other parameters tried for a family: IFMR search ranges (more or less clipping
    allowed than AMCT's [0.7, 1.3)), or HFMG bin counts."""
    if family.algorithm == "ifmr":
        return [replace(family, ifmr=IfmrParams(search_range_start=a, search_range_end=b)) for a, b in IFMR_RANGES]
    return [replace(family, hfmg=HfmgParams(num_of_bins=n)) for n in HFMG_BINS]


def kind_of(layer: str) -> str:
    """A layer's kind, the last part of its name (``k_proj``, ``v_proj``)."""
    return layer.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class Fold:
    """Windows to calibrate on (``batches[b]``: the windows stacked into batch b) and the
    windows held out for measuring."""

    batches: tuple[tuple[int, ...], ...]
    held_out: tuple[int, ...]
    name: str


def make_folds(
    window_text: Sequence[int], batch_num: int, text_names: Sequence[str] | None = None, blocks: int = 3
) -> list[Fold]:
    """Leave-one-text-out folds (several texts) or *blocks* contiguous blocks of windows (one).

    A fold's batch ``b`` stacks the ``b``-th window of every calibration text; each window is
    held out in exactly one fold and never calibrates the fold that holds it out.
    """
    texts = list(dict.fromkeys(window_text))
    names = list(text_names) if text_names else [f"text {t + 1}" for t in texts]
    by_text = {t: [w for w, x in enumerate(window_text) if x == t] for t in texts}
    if len(texts) >= 2:
        folds = []
        for t in texts:
            others = [by_text[o] for o in texts if o != t]
            short = min(len(ws) for ws in others)
            if short < batch_num:
                raise ValueError(
                    f"a calibration text has {short} window(s); batch_num {batch_num} needs "
                    f"{batch_num}: give longer texts or a smaller batch_num"
                )
            batches = tuple(tuple(ws[b] for ws in others) for b in range(batch_num))
            folds.append(Fold(batches, tuple(by_text[t]), f"held out: {names[texts.index(t)]}"))
        return folds
    windows = list(range(len(window_text)))
    k = min(blocks, len(windows))
    if k < 2 or len(windows) - math.ceil(len(windows) / k) < batch_num:
        raise ValueError(
            f"one text of {len(windows)} window(s) cannot be split into folds that each keep "
            f"{batch_num} calibration window(s): give a longer text, more texts or a smaller batch_num"
        )
    edges = [round(i * len(windows) / k) for i in range(k + 1)]
    folds = []
    for f in range(k):
        held = windows[edges[f] : edges[f + 1]]
        rest = [w for w in windows if w not in held]
        folds.append(
            Fold(tuple((w,) for w in rest[:batch_num]), tuple(held), f"held out: windows {held[0] + 1}-{held[-1] + 1}")
        )
    return folds


@dataclass
class _Scores:
    """One setting's held-out error: ``noise``/``signal`` ``[layers, windows]`` (NaN where the
    setting was not tried on a layer), and its factors per (layer, fold)."""

    noise: np.ndarray
    signal: np.ndarray
    factors: dict[tuple[str, int], Factors] = field(default_factory=dict)


@dataclass(frozen=True)
class Finalist:
    """A candidate config: one setting per layer, a label, and how it did on held-out text."""

    label: str
    settings: dict[str, Setting]
    scores: WindowScores | None = None

    def complexity(self) -> tuple[int, int]:
        """Smaller is simpler: distinct settings in the config, then layers with one scale
        per channel (each a set of factors fitted to the calibration data)."""
        return len(set(self.settings.values())), sum(s.per_channel for s in self.settings.values())


@dataclass(frozen=True)
class TuneResult:
    """The choice and the evidence: per-kind proxy tables, finalists, folds, timings."""

    chosen: Finalist
    finalists: list[Finalist]
    baseline: WindowScores
    kinds: dict[str, list[dict[str, Any]]]
    folds: list[Fold]
    text_names: list[str]
    batch_num: int
    limit: float
    seconds: dict[str, float]

    def delta(self, f: Finalist, text: int | None = None) -> float:
        assert f.scores is not None
        return 100.0 * (f.scores.perplexity(text) / self.baseline.perplexity(text) - 1.0)


def _calibrate(setting: Setting, windows: Sequence[torch.Tensor], batches: Sequence[Sequence[int]]) -> Factors:
    obs = setting.observer()
    for batch in batches:
        obs.observe(torch.stack([windows[w] for w in batch]))
    return obs.compute()


def _held_out_error(windows: Sequence[torch.Tensor], held: Sequence[int], f: Factors) -> tuple[np.ndarray, np.ndarray]:
    x = torch.stack([windows[w] for w in held]).to(torch.float32)
    err = (x - fake_quantize(x, f.scale, f.offset)).to(torch.float64)
    dims = tuple(range(1, x.dim()))
    return (err * err).sum(dim=dims).numpy(), (x.to(torch.float64) ** 2).sum(dim=dims).numpy()


def _kind_db(s: _Scores, rows: Sequence[int]) -> float:
    """The kind's score in dB: ``-10 log10(mean over its layers of Σnoise / Σsignal)``."""
    noise, signal = s.noise[rows], s.signal[rows]
    return float(-10.0 * np.log10(np.mean(noise.sum(1) / signal.sum(1))))


def _kind_db_resampled(s: _Scores, rows: Sequence[int], idx: np.ndarray) -> np.ndarray:
    """:func:`_kind_db` per bootstrap row of *idx* (``[R, windows]``)."""
    noise, signal = s.noise[rows], s.signal[rows]
    rel: np.ndarray = noise[:, idx].sum(-1) / signal[:, idx].sum(-1)  # [layers, R]
    db: np.ndarray = -10.0 * np.log10(rel.mean(0))
    return db


def tune(
    acts: Mapping[str, Sequence[torch.Tensor]],
    window_text: Sequence[int],
    baseline: WindowScores,
    nll: NllFn | None,
    *,
    batch_num: int = 2,
    text_names: Sequence[str] | None = None,
    limit: float = 1.0,
    seed: int = 0,
    families: Sequence[Setting] = FAMILIES,
    variants: bool = True,
    progress: Progress | None = None,
) -> TuneResult:
    """Choose a setting per layer of *acts* (layer -> one ``[tokens, channels]`` tensor per
    window) on held-out windows; *nll* runs the model for the confirmation (None: the proxy
    alone decides, and finalists carry no scores)."""
    seconds: dict[str, float] = {}
    layers = list(acts)
    names = list(text_names) if text_names else [f"text {t + 1}" for t in dict.fromkeys(window_text)]
    folds = make_folds(window_text, batch_num, names)
    n_win = len(window_text)
    idx = bootstrap_indices(window_text, seed=seed, resamples=1000)
    kinds = {k: [i for i, n in enumerate(layers) if kind_of(n) == k] for k in dict.fromkeys(map(kind_of, layers))}
    scores: dict[Setting, _Scores] = {}

    def run(settings: Sequence[Setting], rows: Sequence[int], label: str) -> None:
        total, done = len(settings) * len(folds) * len(rows), 0
        for s in settings:
            sc = scores.setdefault(
                s, _Scores(np.full((len(layers), n_win), np.nan), np.full((len(layers), n_win), np.nan))
            )
            for fi, fold in enumerate(folds):
                for r in rows:
                    layer = layers[r]
                    f = _calibrate(s, acts[layer], fold.batches)
                    sc.factors[(layer, fi)] = f
                    noise, signal = _held_out_error(acts[layer], fold.held_out, f)
                    sc.noise[r, list(fold.held_out)] = noise
                    sc.signal[r, list(fold.held_out)] = signal
                    done += 1
                    if progress and (done % max(1, len(rows)) == 0 or done == total):
                        progress(label, done, total)

    t0 = time.perf_counter()
    run(families, range(len(layers)), "calibrating the 8 families")
    family_best = {k: max(families, key=lambda s: _kind_db(scores[s], rows)) for k, rows in kinds.items()}
    if variants:
        for k, rows in kinds.items():
            run(param_variants(family_best[k]), rows, f"calibrating {k} parameter variants")
    seconds["calibration_and_proxy"] = time.perf_counter() - t0

    # per kind: the simplest setting the proxy cannot tell from the best
    tables: dict[str, list[dict[str, Any]]] = {}
    per_kind: dict[str, Setting] = {}
    for k, rows in kinds.items():
        tried = [s for s, sc in scores.items() if not np.isnan(sc.noise[rows]).any()]
        best = max(tried, key=lambda s: _kind_db(scores[s], rows))
        boot_best = _kind_db_resampled(scores[best], rows, idx)
        table: list[dict[str, Any]] = []
        for s in tried:
            diff = _kind_db_resampled(scores[s], rows, idx) - boot_best
            lo, hi = np.quantile(diff, [0.025, 0.975])
            # the same as the best: the interval reaches 0, or the whole difference is negligible
            table.append(
                {
                    "setting": s,
                    "db": _kind_db(scores[s], rows),
                    "diff_low": float(lo),
                    "diff_high": float(hi),
                    "same": bool(hi >= -NEGLIGIBLE_DB) or s == best,
                }
            )
        table.sort(key=lambda row: -row["db"])
        per_kind[k] = min(
            (row["setting"] for row in table if row["same"]), key=lambda s: (s.complexity(), -_kind_db(scores[s], rows))
        )
        for row in table:
            row["chosen"] = row["setting"] == per_kind[k]
        tables[k] = table
    overall = max(families, key=lambda s: _kind_db(scores[s], range(len(layers))))

    # per layer: only where another setting wins by the margin on every held-out text
    per_layer: dict[str, Setting] = {}
    for k, rows in kinds.items():
        for r in rows:
            mine = per_kind[k]
            per_layer[layers[r]] = mine
            better = []
            for s, sc in scores.items():
                if s == mine or np.isnan(sc.noise[r]).any():
                    continue
                gains = []
                for fold in folds:
                    w = list(fold.held_out)
                    ours = scores[mine].noise[r, w].sum() / scores[mine].signal[r, w].sum()
                    theirs = sc.noise[r, w].sum() / sc.signal[r, w].sum()
                    gains.append(10.0 * math.log10(ours / theirs) if theirs > 0 else math.inf)
                if min(gains) >= PER_LAYER_MARGIN_DB:
                    better.append((sc.noise[r].sum() / sc.signal[r].sum(), s.complexity(), s))
            if better:
                per_layer[layers[r]] = min(better, key=lambda b: (b[0], b[1]))[2]

    def best_of(settings: Sequence[Setting], rows: Sequence[int]) -> Setting:
        return max(settings, key=lambda s: _kind_db(scores[s], rows))

    tensor_kind = {
        k: best_of([s for s in scores if not s.per_channel and not np.isnan(scores[s].noise[rows]).any()], rows)
        for k, rows in kinds.items()
    }
    candidates = [
        Finalist("AMCT's default (IFMR per_tensor asymmetric)", dict.fromkeys(layers, AMCT_DEFAULT)),
        Finalist(f"one setting: {overall.name}", dict.fromkeys(layers, overall)),
        Finalist(
            "per kind, per_tensor: " + "; ".join(f"{k} {s.name}" for k, s in tensor_kind.items()),
            {n: tensor_kind[kind_of(n)] for n in layers},
        ),
        Finalist(
            "per kind: " + "; ".join(f"{k} {s.name}" for k, s in per_kind.items()),
            {n: per_kind[kind_of(n)] for n in layers},
        ),
        Finalist("per layer", per_layer),
    ]
    finalists: list[Finalist] = []
    for c in candidates:
        if all(c.settings != f.settings for f in finalists):
            finalists.append(c)
    for s in {s for f in finalists for s in f.settings.values()} - set(scores):
        run([s], range(len(layers)), "calibrating AMCT's default")

    t0 = time.perf_counter()
    if nll is not None:
        confirmed = []
        total = len(finalists) * len(folds)
        for i, fin in enumerate(finalists):
            nll_w = [0.0] * n_win
            for fi, fold in enumerate(folds):
                factors = {n: scores[s].factors[(n, fi)] for n, s in fin.settings.items()}
                for window, v in zip(fold.held_out, nll(factors, fold.held_out), strict=True):
                    nll_w[window] = v
                if progress:
                    progress("perplexity of the finalists", i * len(folds) + fi + 1, total)
            confirmed.append(replace(fin, scores=WindowScores(tuple(nll_w), baseline.tokens, baseline.text)))
        finalists = confirmed
    seconds["confirmation"] = time.perf_counter() - t0
    chosen = _choose(finalists, baseline, limit, seed)
    return TuneResult(chosen, finalists, baseline, tables, folds, names, batch_num, limit, seconds)


def _choose(finalists: list[Finalist], baseline: WindowScores, limit: float, seed: int) -> Finalist:
    """Among the finalists within *limit* % on every text (all, if none is), those the
    paired interval cannot tell from the best (pooled); of these the simplest, then the most
    robust (the smallest change on its worst text)."""
    scored: dict[int, WindowScores] = {}
    for i, f in enumerate(finalists):
        if f.scores is None:
            return finalists[-1]  # no model run: the proxy's own finest choice
        scored[i] = f.scores

    def worst(i: int) -> float:
        return max(100.0 * (scored[i].perplexity(t) / baseline.perplexity(t) - 1.0) for t in baseline.texts())

    eligible = [i for i in scored if worst(i) <= limit] or list(scored)
    best = min(eligible, key=lambda i: scored[i].perplexity())
    same = [
        i
        for i in eligible
        if i == best or difference_interval(baseline, scored[i], scored[best], seed=seed).contains(0.0)
    ]
    return finalists[min(same, key=lambda i: (finalists[i].complexity(), worst(i), scored[i].perplexity()))]
