"""Monte-Carlo engine benchmark: scenarios per second and peak memory.

10^6 uniform-weight scenarios on the 106 cities with every statistic of `cityindex run`
(overall rank histogram, within-group histograms for scale / region / capital, average rank
shift), then the same without group statistics, and peak memory at two N to show it is bounded.
Run with `nox -s bench` (or `python benchmarks/bench_montecarlo.py`).
"""

from __future__ import annotations

import resource
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityindex.data import load_dataset  # noqa: E402
from cityindex.model import UncertaintyModel  # noqa: E402
from cityindex.sensitivity import montecarlo  # noqa: E402


def timed(ds, cfg, **kw) -> float:
    t = time.perf_counter()
    res = montecarlo.run_montecarlo(ds, cfg, 1, **kw)
    res.ranks()
    res.groups()
    return time.perf_counter() - t


def main() -> None:
    ds = load_dataset(ROOT / "data" / "city-image-2025")
    cfg = UncertaintyModel(weights="uniform", delta=0.25, samples=1_000_000)
    timed(ds, cfg.replace(samples=20_000))  # warm-up
    print("Monte-Carlo engine, 106 units, uniform weights +-25%, published/arithmetic")
    for workers in (1, 2):
        dt = timed(ds, cfg, workers=workers)
        print(f"  all statistics, {workers} worker(s): {cfg.samples:,} scenarios in {dt:.2f} s"
              f" = {cfg.samples / dt:,.0f} scenarios/s")
    no_groups = replace(ds, meta=ds.meta[[]])
    dt = timed(no_groups, cfg, workers=2)
    print(f"  without group statistics, 2 workers: {cfg.samples / dt:,.0f} scenarios/s")
    mixed = cfg.replace(normalisations=("published", "minmax", "zscore", "rank"),
                    aggregations=("arithmetic", "geometric"))
    dt = timed(ds, mixed, workers=2)
    print(f"  4 normalisations x 2 aggregations, all statistics, 2 workers: "
          f"{cfg.samples / dt:,.0f} scenarios/s")
    for n in (100_000, 1_000_000):
        tracemalloc.start()
        montecarlo.run_montecarlo(ds, cfg.replace(samples=n), 1, workers=2)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  peak traced memory at N = {n:>9,}: {peak / 2**20:.1f} MiB")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak resident set size of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    main()
