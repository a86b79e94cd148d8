"""Noise bootstrap and rank confidence sets: 2000 noise replicates x 106 cities with every
statistic, and rank confidence sets for 106 units with n_boot = 1000."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cityindex.app.runfile import load_runfile  # noqa: E402
from cityindex.data import load_dataset  # noqa: E402
from cityindex.sensitivity.engine import nominal_scores  # noqa: E402
from cityindex.sensitivity.noise import noise_bootstrap, resample_bootstrap  # noqa: E402
from cityindex.sensitivity.rankci import rank_confidence_sets, tau_best  # noqa: E402


def main() -> None:
    cfg = load_runfile(ROOT / "analyses" / "sensitivity.toml")
    ds = load_dataset(cfg.data)
    t = time.perf_counter()
    _, scores = noise_bootstrap(ds, cfg.model.noise.models, 2000, seed=1)
    print(f"noise bootstrap, 2000 replicates x 106 cities: {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    resample_bootstrap(ds, 2000, seed=1)
    print(f"unit-resampling bootstrap, 2000 replicates: {time.perf_counter() - t:.2f} s")
    est = nominal_scores(ds)
    cov = np.cov(scores, rowvar=False)
    for sim in (False, True):
        t = time.perf_counter()
        rank_confidence_sets(est, cov, simultaneous=sim, n_boot=1000, seed=0)
        kind = "simultaneous" if sim else "marginal"
        print(f"rank confidence sets ({kind}, stepdown), 106 units, n_boot 1000: "
              f"{time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    tau_best(est, cov, 20, n_boot=1000, seed=0)
    print(f"tau-best set (tau = 20): {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
