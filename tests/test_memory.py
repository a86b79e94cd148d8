"""Memory stays bounded whatever the number of scenarios requested (issue 14, item 5).

Each N runs the Monte Carlo in its own process, which is killed about 3 s after the Monte
Carlo starts; its peak resident set (VmHWM) is read from /proc just before. Tasks are submitted
lazily, so the peak must not grow with N — before, ``Executor.map`` queued every task up
front and RSS grew by about 0.1 GB/s for 10^12 scenarios."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DATA, ROOT

CHILD = """
import sys, time
import cityindex as ci
n = int(sys.argv[1])
ds = ci.load_dataset(sys.argv[2])
model = ci.UncertaintyModel(samples=n, allow_large=n > 10**9,
                            normalisations=("published", "minmax"))
study = ci.Study(ds, model, seed=1)
print("ready", flush=True)
study.montecarlo()
print("finished", flush=True)
time.sleep(60)
"""

SECONDS = 3.0
LIMIT_MB = 500


def peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_peak_rss_is_bounded_in_the_number_of_scenarios(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    ns = [10**5, 10**6, 10**7, 10**8, 10**11]  # the last one needs allow_large
    procs = {n: subprocess.Popen([sys.executable, str(script), str(n), str(DATA)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=ROOT) for n in ns}
    peaks: dict[int, float] = {}
    try:
        for n, proc in procs.items():
            line = proc.stdout.readline()
            assert line == "ready\n", proc.stderr.read()
            procs[n] = (proc, time.monotonic())  # type: ignore[assignment]
        for n, (proc, t0) in procs.items():  # type: ignore[misc]
            time.sleep(max(0.0, t0 + SECONDS - time.monotonic()))
            assert proc.poll() is None, proc.stderr.read()
            peaks[n] = peak_mb(proc.pid)
    finally:
        for entry in procs.values():
            proc = entry[0] if isinstance(entry, tuple) else entry
            proc.kill()
            proc.wait()
    print("peak RSS (MB) by N:", {f"{n:.0e}": round(mb) for n, mb in peaks.items()})
    assert max(peaks.values()) < LIMIT_MB, peaks
    # not growing with N: the largest N within 60 MB of the smallest
    assert peaks[max(ns)] - peaks[min(ns)] < 60, peaks
