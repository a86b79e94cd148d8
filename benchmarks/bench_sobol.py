"""Sobol' benchmark: cityindex's vectorised estimator against SALib, side by side.

The index's 107 outputs (106 ranks + mean rank shift), n = 2^14, D = 12 factors, 200 bootstrap
resamples: one call of `estimate` versus `SALib.analyze.sobol.analyze` once per output on the
same model evaluations and with the same seed; the numbers are compared too.
Pass --outputs K to time SALib on the first K outputs only (then the ratio is per output).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from SALib.analyze import sobol as salib_sobol  # noqa: E402

from cityindex.app.runfile import load_runfile  # noqa: E402
from cityindex.data import load_dataset  # noqa: E402
from cityindex.sensitivity.index_sobol import index_model, index_problem  # noqa: E402
from cityindex.sensitivity.sobol import estimate, sample  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--outputs", type=int, default=None)
    args = parser.parse_args()
    rf = load_runfile(ROOT / "analyses" / "sensitivity.toml")
    ds = load_dataset(rf.data)
    problem = index_problem(ds.spec, rf.model)
    d = len(problem["names"])
    model, _ = index_model(ds, rf.model, problem)
    n = 2**14
    x = sample(problem, n, seed=1)
    t = time.perf_counter()
    y = model(x)
    t_model = time.perf_counter() - t
    k = y.shape[1] if args.outputs is None else args.outputs
    t = time.perf_counter()
    mine = estimate(y, d, n_boot=200, seed=1)
    t_mine = time.perf_counter() - t
    t = time.perf_counter()
    worst = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(k):
            ref = salib_sobol.analyze(problem, y[:, j], calc_second_order=False,
                                      num_resamples=200, seed=1)
            for key in ("S1", "ST", "S1_conf", "ST_conf"):
                if not mine["constant"][j]:
                    worst = max(worst, float(np.max(np.abs(mine[key][:, j] - ref[key]))))
    t_salib = time.perf_counter() - t
    per_output = t_salib / k
    print(f"Sobol' indices, {y.shape[1]} outputs, n = {n}, D = {d}, "
          f"{y.shape[0]:,} model evaluations ({t_model:.2f} s to evaluate)")
    print(f"  cityindex estimate (all {y.shape[1]} outputs, 200 resamples): {t_mine:.2f} s")
    print(f"  SALib analyze, {k} outputs one at a time:           {t_salib:.2f} s "
          f"({per_output:.2f} s per output)")
    print(f"  speed-up for all outputs: {per_output * y.shape[1] / t_mine:.0f}x; "
          f"largest difference in S1/ST/conf: {worst:.2e}")


if __name__ == "__main__":
    main()
