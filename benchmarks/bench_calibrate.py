"""Benchmark of the calibration engine against the plain reference, on 2 CPU threads.

    python benchmarks/bench_calibrate.py [--quick] [--device cpu|cuda]

Cases (issue 3, "Benchmark"): IFMR per-tensor on 1M and 16M values (symmetric and
asymmetric), IFMR and HFMG per-channel on [4, 512, 1024], HFMG per-tensor on 16M, HFMG
per-channel with 4 batches of growing range; a bare ``torch.histc`` pass over the same
data as the floor; peak memory of ``calibrate()`` against the size of the sample data.
The reference (``tests/calibrate/reference.py``: one pass per candidate, Python loops over
channels and bins) runs in the same process; where it would take minutes it runs on a
subset of the channels and is extrapolated (marked ``~``). Times are medians.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from kvcal.calibrate import HfmgObserver, IfmrObserver  # noqa: E402
from kvcal.grammar.plan import HfmgParams, IfmrParams  # noqa: E402
from tests.calibrate import reference as ref  # noqa: E402

#: what AMCT's own implementation takes on these machines (issue 3), seconds
AMCT = {"ifmr-1M": 0.10, "ifmr-16M": 7.0, "ifmr-ch": 3.4, "hfmg-ch": 242.0, "hfmg-16M": 0.3, "hfmg-grow": 730.0}


def timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def observe(cls, params, batches, per_channel, with_offset, device):
    def run() -> object:
        obs = cls(params, per_channel=per_channel, with_offset=with_offset, device=device)
        for b in batches:
            obs.observe(b)
        out = obs.compute()
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    return run


def histc_floor(batches, device: str) -> Callable[[], object]:
    def run() -> object:
        for b in batches:
            torch.histc(b, 4096, float(b.min()), float(b.max()))
        if device == "cuda":
            torch.cuda.synchronize()
        return None

    return run


def cases(quick: bool) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    big = 2_000_000 if quick else 16_000_000
    shape = (4, 128, 256) if quick else (4, 512, 1024)
    one_m = torch.randn(1_000_000, generator=g)
    sixteen = torch.randn(big, generator=g)
    chan = torch.randn(*shape, generator=g)
    grow = [torch.randn(*shape, generator=g) * (1.5**i) + 0.1 * i for i in range(4)]
    label = f"{big // 1_000_000}M"
    dims = "x".join(map(str, shape))
    out = []
    for mode, wo in (("sym", False), ("asym", True)):
        out.append(
            dict(
                key="ifmr-1M",
                name=f"IFMR per-tensor 1M {mode}",
                algo="ifmr",
                batches=[one_m],
                per_channel=False,
                with_offset=wo,
                goal="≥ 10× ref",
            )
        )
        out.append(
            dict(
                key="ifmr-16M",
                name=f"IFMR per-tensor {label} {mode}",
                algo="ifmr",
                batches=[sixteen],
                per_channel=False,
                with_offset=wo,
                goal="≥ 10× ref",
            )
        )
    out.append(
        dict(
            key="ifmr-ch",
            name=f"IFMR per-channel [{dims}]",
            algo="ifmr",
            batches=[chan],
            per_channel=True,
            with_offset=True,
            goal="≥ 100× ref",
            subset=64,
        )
    )
    out.append(
        dict(
            key="hfmg-ch",
            name=f"HFMG per-channel [{dims}]",
            algo="hfmg",
            batches=[chan],
            per_channel=True,
            with_offset=True,
            goal="< 25× histc",
            subset=8,
        )
    )
    out.append(
        dict(
            key="hfmg-16M",
            name=f"HFMG per-tensor {label}",
            algo="hfmg",
            batches=[sixteen],
            per_channel=False,
            with_offset=True,
            goal="< 2× histc",
        )
    )
    out.append(
        dict(
            key="hfmg-grow",
            name=f"HFMG per-channel 4 growing batches [{dims}]",
            algo="hfmg",
            batches=grow,
            per_channel=True,
            with_offset=True,
            goal="< 25× histc",
            subset=4,
        )
    )
    return out


def reference_time(case: dict) -> tuple[float, bool]:
    """Seconds the plain reference takes (extrapolated from a channel subset when given)."""
    batches, subset = case["batches"], case.get("subset")
    channels = batches[0].shape[-1] if case["per_channel"] else 1
    if subset and channels > subset:
        batches = [b[..., :subset].contiguous() for b in batches]
    t = time.perf_counter()
    if case["algo"] == "ifmr":
        ref.ifmr(batches, IfmrParams(), case["per_channel"], case["with_offset"])
    else:
        ref.hfmg(batches, 4096, case["per_channel"], case["with_offset"])
    spent = time.perf_counter() - t
    if subset and channels > subset:
        return spent * channels / subset, True
    return spent, False


def memory_probe(n: int, per_channel: bool) -> dict:
    """Peak resident memory of calibrate() (both algorithms + quality) in a fresh process."""
    code = f"""
import json, os, torch
from safetensors.torch import save_file
torch.set_num_threads(2)
from kvcal.calibrate import calibrate
from kvcal.grammar.plan import LayerPlan
path = {str(Path(tempfile.gettempdir()) / "kvcal-bench.safetensors")!r}
g = torch.Generator().manual_seed(1)
shape = (4, {n} // 4096, 1024) if {per_channel} else ({n},)
save_file({{"layer/0": torch.randn(*shape, generator=g)}}, path)
def rss(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
calibrate([LayerPlan("layer", "hfmg", "per_channel" if {per_channel} else "per_tensor")], path)  # warm up
base = rss("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
calibrate([LayerPlan("layer", "ifmr", "per_channel" if {per_channel} else "per_tensor")], path)
peak = rss("VmHWM:")
os.unlink(path)
print(json.dumps({{"data": {n} * 4, "extra": peak - base}}))
"""
    env = dict(os.environ, OMP_NUM_THREADS="2")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, one repetition")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--no-reference", action="store_true", help="skip the (slow) reference")
    args = parser.parse_args()
    torch.set_num_threads(2)
    repeat = 1 if args.quick else 3
    rows = []
    for case in cases(args.quick):
        batches = [b.to(args.device) for b in case["batches"]]
        cls, params = (IfmrObserver, IfmrParams()) if case["algo"] == "ifmr" else (HfmgObserver, HfmgParams())
        run = observe(cls, params, batches, case["per_channel"], case["with_offset"], args.device)
        run()  # warm up
        ours = timed(run, repeat)
        floor = timed(histc_floor(batches, args.device), repeat) if case["algo"] == "hfmg" else None
        ref_s, approx = (None, False) if args.no_reference else reference_time(case)
        rows.append((case, ours, ref_s, approx, floor))
        print(f"  {case['name']}: {ours * 1e3:.1f} ms", file=sys.stderr)
    print(f"\nDevice: {args.device}, torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("| case | kvcal (ms) | reference (ms) | vs reference | histc pass (ms) | vs histc | goal | AMCT (issue, s) |")
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for case, ours, ref_s, approx, floor in rows:
        ref_cell = "–" if ref_s is None else f"{'~' if approx else ''}{ref_s * 1e3:,.0f}"
        ratio = "–" if ref_s is None else f"{ref_s / ours:,.1f}×"
        floor_cell = "–" if floor is None else f"{floor * 1e3:.1f}"
        vs_floor = "–" if floor is None else f"{ours / floor:.1f}×"
        print(
            f"| {case['name']} | {ours * 1e3:,.1f} | {ref_cell} | {ratio} | {floor_cell} | {vs_floor} | "
            f"{case['goal']} | {AMCT[case['key']]} |"
        )
    if args.device == "cpu":
        print("\n| peak memory of calibrate() | sample data (MB) | extra peak RSS (MB) | ratio |")
        print("|---|---:|---:|---:|")
        n = 2**21 if args.quick else 2**24
        for per_channel in (False, True):
            m = memory_probe(n, per_channel)
            label = "per-channel [4, n/4096, 1024]" if per_channel else "per-tensor"
            print(
                f"| {label}, {n / 1e6:.1f}M values | {m['data'] / 2**20:.0f} | "
                f"{m['extra'] / 2**20:.0f} | {m['extra'] / m['data']:.2f}× |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
