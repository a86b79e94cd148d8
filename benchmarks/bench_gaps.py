"""A large tree with gaps: 150 weighted nodes (10 goals x 14 indicators), 200 units in 6
regions, 30% of indicator cells missing, half the indicators lower-is-better, every goal
imputed by its regional mean where a unit has none of its indicators, a few not-applicable
goals (exceptions.csv), coverage 0.5 (5 units below it), a draft index (no published.csv).
Writes the data folder and a run file under a temporary folder, then runs the full audit and
reports its time and peak memory (measured: 53.5 s, 2.3 GB on 2 cores).
``python benchmarks/bench_gaps.py [--keep DIR]``."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

GOALS, PER_GOAL, UNITS, REGIONS, GAP_SHARE = 10, 14, 200, 6, 0.30


def write_folder(folder: Path, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = ['[index]', 'id = "gaps-synthetic"', 'title = "Synthetic index with gaps"',
             'root = "index"', 'units = "countries"', 'scale = [0.0, 100.0]', 'decimals = 2',
             'tier_thresholds = [70.0, 55.0, 40.0]',
             'tier_labels = ["very high", "high", "medium", "low"]',
             'missing = "reweight"', 'coverage = 0.5', '', '[nodes.index]',
             'label_en = "Index"']
    leaves = []
    for g in range(GOALS):
        lines += ['', f'[nodes.goal_{g}]', 'parent = "index"', f'weight = {1 / GOALS!r}',
                  f'label_en = "Goal {g}"', 'impute = "group_mean"', 'impute_by = "region"']
        for k in range(PER_GOAL):
            leaf = f"g{g}_i{k}"
            leaves.append(leaf)
            lower = k % 2 == 1
            lines += ['', f'[nodes.{leaf}]', f'parent = "goal_{g}"',
                      f'weight = {1 / PER_GOAL!r}', 'normalisation = "minmax"',
                      f'direction = "{"lower" if lower else "higher"}"']
    (folder / "spec.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    region = rng.integers(0, REGIONS, UNITS)
    level = rng.normal(0, 1, UNITS) + 0.3 * region
    raw = level[:, None] + rng.normal(0, 1, (UNITS, len(leaves)))
    raw = np.round(50 + 10 * raw, 3)
    gaps = rng.random(raw.shape) < GAP_SHARE
    gaps[:5] = rng.random((5, len(leaves))) < 0.8   # below coverage: listed, not ranked
    with open(folder / "raw.csv", "w", encoding="utf-8") as f:
        f.write("unit," + ",".join(leaves) + "\n")
        for u in range(UNITS):
            cells = ["" if gaps[u, j] else f"{raw[u, j]:.3f}" for j in range(len(leaves))]
            f.write(f"u{u:03d}," + ",".join(cells) + "\n")
    with open(folder / "units.csv", "w", encoding="utf-8") as f:
        f.write("unit,name_en,region\n")
        for u in range(UNITS):
            f.write(f"u{u:03d},Unit {u},r{region[u]}\n")
    with open(folder / "exceptions.csv", "w", encoding="utf-8") as f:
        f.write("unit,node,treat\n")
        for u in rng.choice(UNITS, 12, replace=False):
            f.write(f"u{u:03d},goal_{rng.integers(GOALS)},not_applicable\n")


RUN = """[run]
data = "data"
seed = 1
samples = 20000

[weights]
model = "uniform"
delta = 0.25

[normalisation]
choices = ["published", "minmax", "zscore", "rank"]

[aggregation]
choices = ["published", "geometric"]

[leave_one_out]
enabled = true

[sobol]
enabled = true
n = 256
n_boot = 50

[extremes]
enabled = true

[importance]
enabled = true

[noise]
replicates = 200

[rank_ci]
n_boot = 200

[resample]
enabled = true
replicates = 200
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_gaps_"))
    write_folder(root / "data")
    (root / "run.toml").write_text(RUN, encoding="utf-8")
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cityindex", "run", str(root / "run.toml"),
                           "--out", str(root / "report"), "--quiet"],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(proc.stdout.strip(), proc.stderr.strip(), sep="\n")
    print(f"bench_gaps: 150 weighted nodes, {UNITS} units, {GAP_SHARE:.0%} gaps: exit "
          f"{proc.returncode}, {seconds:.1f} s, peak {peak:.0f} MB")
    sys.exit(proc.returncode)


if __name__ == "__main__":
    main()
