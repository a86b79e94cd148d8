"""Scale benchmark (issue 15): how time and memory grow with the number of units U and of
scenarios N, on synthetic indices in the shape of the 2025 index (benchmarks/synthetic.py).

For each size: the Monte Carlo (scenarios per second and peak RSS, every statistic: overall and
within-group rank histograms, rank shift), beside a plain baseline measured in the same run
(the same scenarios drawn and scored, one argsort per scenario, nothing accumulated); then
``cityindex reproduce`` and a full ``cityindex run`` (wall time and peak RSS), each in its own
process. Growth exponents are least-squares slopes on log-log scales. Run by hand:

    python benchmarks/bench_scale.py                       # every size (about 15 min)
    python benchmarks/bench_scale.py --sizes 106,1000      # a selection
    python benchmarks/bench_scale.py --only mc             # the Monte Carlo only

Peak RSS is the largest resident set of the measured process (VmHWM) or of any of its
children (forked MILP workers share most of their pages with it).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SIZES = (106, 1000, 5000, 20_000, 100_000)
# Monte-Carlo scenarios per size (enough for a stable rate, a few seconds to a minute)
MC_N = {106: 1_000_000, 1000: 100_000, 5000: 20_000, 20_000: 10_000, 100_000: 10_000}
BASELINE_N = {20_000: 4_000, 100_000: 2_000}   # the baseline's rate needs fewer scenarios
N_SWEEP_UNITS = 1000
N_SWEEP = (20_000, 100_000, 400_000)

# Full runs: what each size includes (a run file per size; the big ones run fewer analyses)
RUNS = {
    106: ("samples = 1000000", ["leave_one_out", "sobol", "extremes", "importance", "noise",
                                "rank_ci", "resample"]),
    1000: ("samples = 100000", ["leave_one_out", "sobol", "extremes", "importance", "noise",
                                "rank_ci", "resample"]),
    5000: ("samples = 100000", ["leave_one_out", "noise", "rank_ci", "importance",
                                "resample"]),
    # rank sets are O(B U^2): about 10 minutes of this run at 20,000 units
    20_000: ("samples = 5000", ["leave_one_out", "noise", "rank_ci", "resample"]),
    100_000: ("samples = 2000", ["leave_one_out"]),
}
PAGE_UNITS = 100_000     # above: the analyses and tables only, no page (Study.run, tables())
SECTIONS = {
    "leave_one_out": "[leave_one_out]\nenabled = true\n",
    "sobol": "[sobol]\nenabled = true\nn = 1024\nn_boot = 100\n",
    "extremes": "[extremes]\nenabled = true\n",
    "importance": "[importance]\nenabled = true\n",
    "noise": ("[noise]\nreplicates = 2000\ndissemination = { model = \"lognormal\", "
              "cv = 0.10 }\nmainstream_media = { model = \"normal\", sd = 1.0 }\n"),
    "rank_ci": "[rank_ci]\ncoverage = 0.95\nn_boot = 1000\n",
    "resample": "[resample]\nenabled = true\nreplicates = 2000\n",
}

CHILD_MC = r"""
import json, resource, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import cityindex as ci
from cityindex.sensitivity import montecarlo
from cityindex.sensitivity.backends import default_chunk_blocks, run_chunks
from cityindex.sensitivity.engine import IndexModel
from cityindex.sensitivity.sampler import ScenarioSampler
ds = ci.load_dataset(sys.argv[2]); n = int(sys.argv[3]); kind = sys.argv[4]
model = ci.UncertaintyModel(samples=n)
if kind == "baseline":  # draw + score + one argsort per scenario, same threads, nothing kept
    sampler = ScenarioSampler(ds.spec, model, 1)
    scorer = IndexModel(ds, model.normalisations, model.aggregations, model.geometric_offset)
    class Nothing:
        def merge(self, other): pass
    chunk = default_chunk_blocks(sampler.n_blocks, 2)  # as the Monte Carlo's own tasks
    def work(start, acc=None):
        for b in range(start, min(start + chunk, sampler.n_blocks)):
            sc = sampler.block(b)
            rows = max(1, (1 << 19) // ds.n_units)
            for lo in range(0, len(sc), rows):
                s = scorer.scores(sc.node_weights[lo:lo + rows], sc.effective[lo:lo + rows],
                                  sc.normalisation[lo:lo + rows], sc.aggregation[lo:lo + rows])
                np.argsort(-s, axis=1)
        return acc or Nothing(), 0
    t = time.perf_counter()
    run_chunks(work, Nothing, range(0, sampler.n_blocks, chunk), lambda _: None, 2)
    dt = time.perf_counter() - t
else:
    # warm-up: the compiled kernels load from numba's cache (or compile) once per process
    montecarlo.run_montecarlo(ds, model.replace(samples=4096), 2, workers=2)
    t = time.perf_counter()
    res = montecarlo.run_montecarlo(ds, model, 1, workers=2)
    res.ranks(); res.groups()
    dt = time.perf_counter() - t
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"seconds": dt, "rate": n / dt, "peak_mb": peak}))
"""

CHILD_LIB = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from cityindex.study import Study
t = time.perf_counter()
study = Study.from_runfile(sys.argv[2])
timings = {}
for name in ["reproduce", "montecarlo", *sys.argv[3].split(","), "scenarios"]:
    t0 = time.perf_counter()
    result = getattr(study, name)()
    result.tables()
    timings[name] = time.perf_counter() - t0
dt = time.perf_counter() - t
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"seconds": dt, "peak_mb": peak, "code": 0, "timings": timings}),
      file=sys.stderr)
"""

CHILD_CLI = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from cityindex.app.cli import main
t = time.perf_counter()
code = main(sys.argv[2:])
dt = time.perf_counter() - t
peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
           resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
print(json.dumps({"seconds": dt, "peak_mb": peak, "code": code}), file=sys.stderr)
"""


def child(script: str, *args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, str(ROOT), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)
    stream = proc.stdout if script is CHILD_MC else proc.stderr
    for line in reversed(stream.strip().splitlines()):
        if line.startswith("{"):
            out = json.loads(line)
            if out.get("code"):
                out["error"] = proc.stderr.strip().splitlines()[-2:]
            return out
    raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y on log x."""
    lx, ly = [math.log(v) for v in xs], [math.log(v) for v in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


def run_file(folder: Path, data: Path, u: int) -> Path:
    samples, sections = RUNS[u]
    text = (f'[run]\ndata = "{data}"\nseed = 1\n{samples}\n\n'
            + "\n".join(SECTIONS[s] for s in sections))
    path = folder / f"run{u}.toml"
    path.write_text(text)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="comma-separated unit counts (default: all)")
    parser.add_argument("--only", choices=("mc", "reproduce", "run", "nsweep"), action="append",
                        help="run only these parts (repeatable)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    parts = set(args.only or ("mc", "reproduce", "run", "nsweep"))
    from synthetic import make_index

    results: dict = {"sizes": {}, "machine": {"cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="cityindex-bench-") as tmp:
        tmp = Path(tmp)
        for u in sizes:
            data = make_index(tmp / f"data{u}", u, seed=0)
            row: dict = {}
            if "mc" in parts:
                n = MC_N.get(u, 10_000)
                row["mc"] = child(CHILD_MC, data, n, "all")
                row["baseline"] = child(CHILD_MC, data, BASELINE_N.get(u, n), "baseline")
                row["mc"]["n"] = n
                print(f"U={u:>7,} Monte Carlo: {row['mc']['rate']:>10,.0f} scenarios/s "
                      f"(baseline argsort {row['baseline']['rate']:,.0f}/s), peak "
                      f"{row['mc']['peak_mb']:,.0f} MB, N={n:,}", flush=True)
            if "reproduce" in parts:
                row["reproduce"] = child(CHILD_CLI, "reproduce", data)
                print(f"U={u:>7,} reproduce: {row['reproduce']['seconds']:.1f} s, peak "
                      f"{row['reproduce']['peak_mb']:,.0f} MB", flush=True)
            if "run" in parts and u in RUNS:
                rf = run_file(tmp, data, u)
                out = tmp / f"out{u}"
                if u > PAGE_UNITS:  # each analysis through the library; noise without
                    # the rank sets (O(B U^2) pairs: about an hour at 20,000 units)
                    row["run"] = child(CHILD_LIB, rf, ",".join(RUNS[u][1]))
                    page = "no page, noise without rank sets"
                else:
                    # above 300 units the page is the large index's (summaries, the most
                    # fragile units, a paged table) and the PNG/SVG the fragile units' chart
                    row["run"] = child(CHILD_CLI, "run", rf, "--out", out, "--quiet")
                    page = "page and PNG/SVG"
                row["run"]["page"] = page
                row["run"]["analyses"] = RUNS[u][1]
                row["run"]["samples"] = RUNS[u][0]
                manifest = out / "manifest.json"
                if manifest.exists():
                    row["run"]["stages"] = json.loads(manifest.read_text()).get("timings")
                print(f"U={u:>7,} full run ({RUNS[u][0]}; {', '.join(RUNS[u][1])}; {page}): "
                      f"{row['run']['seconds']:.1f} s, peak {row['run']['peak_mb']:,.0f} MB "
                      f"(exit {row['run']['code']}{'; ' + ' '.join(row['run'].get('error', []))})"
                      f"" if row['run'].get('code') else
                      f"U={u:>7,} full run ({RUNS[u][0]}; {', '.join(RUNS[u][1])}; {page}): "
                      f"{row['run']['seconds']:.1f} s, peak {row['run']['peak_mb']:,.0f} MB",
                      flush=True)
            results["sizes"][u] = row
        if "nsweep" in parts:
            data = tmp / f"data{N_SWEEP_UNITS}"
            if not data.exists():
                make_index(data, N_SWEEP_UNITS, seed=0)
            sweep = {n: child(CHILD_MC, data, n, "all") for n in N_SWEEP}
            results["n_sweep"] = {"units": N_SWEEP_UNITS, **{str(n): v for n, v in sweep.items()}}
            ns = list(sweep)
            results["growth_n"] = {
                "time": slope(ns, [sweep[n]["seconds"] for n in ns]),
                "memory": slope(ns, [sweep[n]["peak_mb"] for n in ns])}
            print(f"N sweep at {N_SWEEP_UNITS} units: " + ", ".join(
                f"N={n:,}: {v['seconds']:.1f} s, {v['peak_mb']:,.0f} MB" for n, v in
                sweep.items()) + f"; exponents time {results['growth_n']['time']:.2f}, "
                f"memory {results['growth_n']['memory']:.2f}", flush=True)
    growth = {}
    rows = results["sizes"]
    big = [u for u in sizes if u >= 1000]
    if len(big) >= 2 and "mc" in parts:
        growth["mc_time_per_scenario"] = slope(big, [1 / rows[u]["mc"]["rate"] for u in big])
        growth["mc_memory"] = slope(big, [rows[u]["mc"]["peak_mb"] for u in big])
    if len(big) >= 2 and "reproduce" in parts:
        growth["reproduce_time"] = slope(big, [rows[u]["reproduce"]["seconds"] for u in big])
        growth["reproduce_memory"] = slope(big, [rows[u]["reproduce"]["peak_mb"] for u in big])
    results["growth_u"] = growth
    if growth:
        print("growth in U (log-log slopes over U >= 1,000): " + ", ".join(
            f"{k} {v:.2f}" for k, v in growth.items()), flush=True)
    print(markdown(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def markdown(results: dict) -> str:
    lines = ["| units | MC scenarios/s (argsort baseline) | MC peak RSS | reproduce | "
             "full run | full run peak RSS | full run includes |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for u, row in results["sizes"].items():
        mc = row.get("mc")
        base = row.get("baseline")
        rep = row.get("reproduce")
        run = row.get("run")
        lines.append(
            f"| {int(u):,} | "
            + (f"{mc['rate']:,.0f} ({base['rate']:,.0f}), N = {mc['n']:,}" if mc else "-")
            + " | " + (f"{mc['peak_mb']:,.0f} MB" if mc else "-")
            + " | " + (f"{rep['seconds']:.1f} s, {rep['peak_mb']:,.0f} MB" if rep else "-")
            + " | " + (f"{run['seconds']:.0f} s" if run else "-")
            + " | " + (f"{run['peak_mb']:,.0f} MB" if run else "-")
            + " | " + (f"{run['samples'].split('= ')[1]} scenarios; "
                       f"{', '.join(run['analyses'])}; {run['page']}" if run else "-") + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
