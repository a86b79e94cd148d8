"""The hardening issue's list: each case ends in exit 0 with correct output or exit 2 with one
line naming the file, row, key or argument — one table row per case (CASES), plus the cases
that need a process of their own (address-space limit) or a constructed result (extremes)."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA
from synth import write_csv

import cityindex as ci
from cityindex.app.cli import main
from cityindex.errors import ModelError

SPEC = """[index]
root = "r"
scale = [0.0, 100.0]
tier_thresholds = [50.0]
decimals = 2
{index}
[nodes.r]
aggregation = "{aggregation}"
[nodes.x1]
parent = "r"
weight = 0.5
normalisation = "{normalisation}"{leaf}
[nodes.x2]
parent = "r"
weight = 0.5
normalisation = "{normalisation}"
"""
ROWS = [["a", "10.00", "20.00"], ["b", "15.00", "30.00"], ["c", "40.00", "5.00"],
        ["d", "80.00", "90.00"]]


def folder(tmp: Path, rows=ROWS, index: str = "", aggregation: str = "arithmetic",
           normalisation: str = "none", leaf: str = "", name: str = "indicators.csv") -> Path:
    """A two-indicator index without published.csv (a draft: the recomputed composite stands
    in for the published one)."""
    d = tmp / "index"
    d.mkdir(parents=True, exist_ok=True)
    (d / "spec.toml").write_text(SPEC.format(index=index, aggregation=aggregation,
                                             normalisation=normalisation, leaf=leaf),
                                 encoding="utf-8")
    write_csv(d / name, ["unit", "x1", "x2"], rows)
    return d


def runfile(tmp: Path, data: Path, extra: str = "", samples: int = 256) -> Path:
    path = tmp / "run.toml"
    path.write_text(f'[run]\ndata = "{data.as_posix()}"\nseed = 1\nsamples = {samples}\n'
                    + extra, encoding="utf-8")
    return path


def one_line(capsys, code: int, must: str) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.match(r"^cityindex( \w+)?: error: ", lines[0]), lines[0]
    assert must in lines[0], lines[0]
    return lines[0]


# -- the cases ---------------------------------------------------------------------------------

def case_exclude_leaves_one_unit(tmp, capsys):
    """1. missing = "exclude" leaves one unit: rank 1 with certainty, every lens runs."""
    d = folder(tmp, [["a", "10", "20"], ["b", "", "30"], ["c", "40", ""]],
               index='missing = "exclude"')
    extra = ('[noise]\nreplicates = 50\n[rank_ci]\nn_boot = 100\n[resample]\nenabled = true\n'
             "replicates = 20\n[extremes]\nenabled = true\n")
    out = tmp / "out"
    assert main(["run", str(runfile(tmp, d, extra)), "--out", str(out), "--quiet",
                 "--no-static"]) == 0, capsys.readouterr().err
    ci_rows = (out / "rank_ci.csv").read_text().splitlines()
    assert len(ci_rows) == 2
    row = dict(zip(ci_rows[0].split(","), ci_rows[1].split(",")))
    assert (row["unit"], row["simultaneous_lower"], row["simultaneous_upper"]) == ("a", "1", "1")
    assert row["tier_certain"] == "True"


def case_tree_1000_deep(tmp, capsys):
    """2. A chain r -> n1 -> ... -> n1000 -> two leaves: spec, data, reproduce and a tiny run
    with every lens complete (no RecursionError anywhere)."""
    d = tmp / "deep"
    d.mkdir()
    text = '[index]\nroot = "r"\nscale = [0.0, 100.0]\ntier_thresholds = [50.0]\n[nodes.r]\n'
    parent = "r"
    for i in range(1, 1001):
        text += f'[nodes.n{i}]\nparent = "{parent}"\nweight = 1.0\n'
        parent = f"n{i}"
    for leaf in ("x1", "x2"):
        text += f'[nodes.{leaf}]\nparent = "{parent}"\nweight = 0.5\nnormalisation = "none"\n'
    (d / "spec.toml").write_text(text, encoding="utf-8")
    write_csv(d / "indicators.csv", ["unit", "x1", "x2"],
              [[f"u{i}", f"{10 * i + 1}.00", f"{90 - 13 * i}.00"] for i in range(6)])
    spec = ci.load_spec(d / "spec.toml")
    assert len(spec.path_to_root("x1")) == 1001
    assert ci.nominal_scores(ci.load_dataset(d)).iloc[0] == pytest.approx(0.5 * 1 + 0.5 * 90)
    assert main(["reproduce", str(d)]) == 0
    extra = ('[leave_one_out]\nenabled = true\n[extremes]\nenabled = true\n'
             '[noise]\nreplicates = 20\n[rank_ci]\nn_boot = 100\n')
    assert main(["run", str(runfile(tmp, d, extra, samples=64)), "--out", str(tmp / "out"),
                 "--quiet", "--no-static"]) == 0, capsys.readouterr().err
    assert "RecursionError" not in capsys.readouterr().err
    assert (tmp / "out" / "leave_one_out.csv").exists()


def case_cr_line_endings(tmp, capsys):
    """3. raw.csv with old-Mac CR-only line endings reads as usual."""
    d = folder(tmp, name="raw.csv")
    (d / "raw.csv").write_bytes((d / "raw.csv").read_bytes().replace(b"\n", b"\r"))
    ds = ci.load_dataset(d)
    assert ds.units == ["a", "b", "c", "d"]
    assert ds.raw.loc["c", "x1"] == 40.0 and ds.raw.loc["d", "x2"] == 90.0


def case_ten_megabyte_cell(tmp, capsys):
    """4. A 10 MB cell: one line naming the file and line, not csv's 'field larger than
    field limit' traceback."""
    d = folder(tmp, name="raw.csv")
    path = d / "raw.csv"
    path.write_text(path.read_text().replace("b,15.00", "b" + "x" * 10 * 2**20 + ",15.00"))
    one_line(capsys, main(["reproduce", str(d)]), f"{path} line 3: a cell of more than")


def case_dask_not_installed(tmp, capsys, monkeypatch=None):
    """5a. --scheduler without dask: one line before any analysis runs."""
    d = folder(tmp)
    started = []
    monkeypatch.setitem(sys.modules, "distributed", None)
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    monkeypatch.setattr(ci.Study, "run", lambda self: started.append(1))
    line = one_line(capsys, main(["run", str(runfile(tmp, d)), "--out", str(tmp / "out"),
                                  "--scheduler", "tcp://127.0.0.1:8786"]),
                    "dask.distributed cannot be imported")
    assert "pip install 'cityindex[dask]'" in line and not started
    one_line(capsys, main(["run", str(_dask_runfile(tmp, d)), "--out", str(tmp / "out")]),
             "backend 'dask': dask.distributed cannot be imported")  # [run] backend = "dask"
    assert not started


def _dask_runfile(tmp: Path, d: Path) -> Path:
    path = tmp / "dask.toml"
    path.write_text(f'[run]\ndata = "{d.as_posix()}"\nseed = 1\nsamples = 256\n'
                    'backend = "dask"\n', encoding="utf-8")
    return path


def case_scheduler_closed_port(tmp, capsys):
    """5b. A scheduler on a closed port: one line within 15 s naming the address and what
    was waited for (dask's connect timeout)."""
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    t = time.perf_counter()
    line = one_line(capsys, main(["run", str(runfile(tmp, folder(tmp))), "--out",
                                  str(tmp / "out"), "--quiet", "--scheduler", address]),
                    address)
    assert time.perf_counter() - t < 15
    assert "waiting to connect" in line or "could not connect" in line


def case_montecarlo_samples(tmp, capsys):
    """6. study.montecarlo(samples=...) follows the model's rules."""
    study = ci.Study(ci.load_dataset(folder(tmp)), ci.UncertaintyModel(samples=256))
    for bad, expected in ((10**12, "at most 1,000,000,000"), (0, "an integer >= 1"),
                          (-5, "an integer >= 1"), (2.5, "an integer >= 1"),
                          ("100", "an integer >= 1"), (True, "an integer >= 1")):
        with pytest.raises(ModelError, match=re.escape(expected)) as err:
            study.montecarlo(samples=bad)
        assert str(err.value).startswith(f"Study.montecarlo samples ([run].samples): found "
                                         f"{bad!r}")
    assert study.montecarlo(samples=64).summary()["scenarios"] == 64
    with pytest.raises(ModelError, match=r"Study\.noise replicates"):
        study.noise(replicates=0)
    with pytest.raises(ModelError, match=r"Study\.resample replicates"):
        study.resample(replicates=1.5)


def case_out_empty(tmp, capsys):
    """7. --out '' (or blanks) is refused, not read as the current folder."""
    for empty in ("", "   "):
        one_line(capsys, main(["run", str(runfile(tmp, folder(tmp))), "--out", empty]),
                 f"argument --out: found {empty!r}")
    assert not (Path.cwd() / "reports" / "run").exists()


def case_units_blank(tmp, capsys):
    """8. [index] units = "" or blanks is refused, naming the key."""
    for blank in ('""', '"   "'):
        d = folder(tmp, index=f"units = {blank}")
        one_line(capsys, main(["reproduce", str(d)]), "[index].units")


def case_log_of_zero(tmp, capsys):
    """9. log/log10 of a raw 0 or negative value names file, indicator and unit."""
    for value, transform in (("0", "log"), ("-3.5", "log10")):
        rows = [r[:] for r in ROWS]
        rows[2][1] = value
        d = folder(tmp, rows, normalisation="minmax", name="raw.csv",
                   leaf=f'\ntransform = "{transform}"')
        line = one_line(capsys, main(["reproduce", str(d)]),
                        f"{d / 'raw.csv'}, column 'x1' (c): raw value {float(value):g} <= 0")
        assert f"transform '{transform}'" in line


def case_disk_full(tmp, capsys, monkeypatch=None):
    """10a. ENOSPC while writing: exit 2 with one line, the previous report intact, no
    staging folder left."""
    d = folder(tmp)
    out = tmp / "out"
    run = str(runfile(tmp, d))
    assert main(["run", run, "--out", str(out), "--quiet", "--no-static"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    real = os.write
    calls = []

    def full(fd, data):
        calls.append(fd)
        if len(calls) > 3:  # a few files in: the disk fills up
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data)

    monkeypatch.setattr(os, "write", full)
    one_line(capsys, main(["run", run, "--out", str(out), "--quiet", "--no-static"]),
             f"{out}: could not be written (No space left on device")
    monkeypatch.setattr(os, "write", real)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp.iterdir() if p.name.startswith(".out.")] == []


def case_geometric_resample(tmp, capsys):
    """11. Resampling a geometric index of min-max indicators: a unit below a resample's
    minimum scores the scale's minimum (no 'value < 0' crash)."""
    rng = np.random.default_rng(0)
    rows = [[f"u{i}", f"{a:.2f}", f"{b:.2f}"] for i, (a, b) in
            enumerate(rng.uniform(1, 99, (12, 2)))]
    rows[0][1], rows[1][1], rows[2][2], rows[3][2] = "0.00", "100.00", "0.00", "100.00"
    d = folder(tmp, rows, aggregation="geometric", normalisation="minmax")
    out = tmp / "out"
    assert main(["run", str(runfile(tmp, d, "[resample]\nenabled = true\nreplicates = 200\n")),
                 "--out", str(out), "--quiet", "--no-static"]) == 0, capsys.readouterr().err
    assert len((out / "resample.csv").read_text().splitlines()) == 13
    from cityindex.sensitivity.noise import resample_bootstrap

    fold = resample_bootstrap(ci.load_dataset(d), 200, seed=1)
    assert (fold.overall.minimum() >= 1).all() and (fold.overall.maximum() <= 12).all()


def case_reprs(tmp, capsys):
    """14. print(ds) and print(study): one short line each."""
    ds = ci.load_dataset(folder(tmp, [["a", "10", "20"], ["b", "", "30"], ["c", "40", "1"]],
                                index='missing = "exclude"'))
    assert repr(ds) == "Dataset('index', 2 units, 2 indicators, 0 gaps, 1 not ranked)"
    text = repr(ci.Study(ds, ci.UncertaintyModel(samples=500, leave_one_out=True), seed=4))
    assert text.startswith("Study(Dataset('index', 2 units") and "\n" not in text
    assert "seed=4" in text and "samples=500" in text and "'leave_one_out'" in text
    assert len(text) < 200


def case_reweight_unit_without_any_indicator(tmp, capsys):
    """missing = "reweight" with a unit missing every indicator: the unit is listed as not
    ranked (with the reason), the others are audited and run (exit 0)."""
    rows = [r[:] for r in ROWS] + [["e", "", ""]]
    d = folder(tmp, rows, index='missing = "reweight"')
    assert main(["reproduce", str(d)]) == 0
    out = capsys.readouterr().out
    assert "e: no indicator present to compute the composite" in out
    run = runfile(tmp, d, "[leave_one_out]\nenabled = true\n")
    assert main(["run", str(run), "--out", str(tmp / "out"), "--quiet", "--no-static"]) == 0
    verdicts = (tmp / "out" / "verdicts.csv").read_text(encoding="utf-8")
    assert "e,,,,not ranked" in verdicts.replace('"', "")


def case_parent_list(tmp, capsys):
    """parent = ["a", "b"] is refused naming the key, never an unhashable-list traceback."""
    d = folder(tmp)
    spec = (d / "spec.toml").read_text(encoding="utf-8")
    (d / "spec.toml").write_text(spec.replace('[nodes.x1]\nparent = "r"',
                                              '[nodes.x1]\nparent = ["r", "x2"]'),
                                 encoding="utf-8")
    one_line(capsys, main(["reproduce", str(d)]), "[nodes.x1].parent")


def case_sobol_delta_zero(tmp, capsys):
    """delta = 0 (allowed) with Sobol': the weights are not a factor (SALib refuses an empty
    range); the other factors are analysed (exit 0)."""
    d = folder(tmp)
    run = runfile(tmp, d, "[weights]\ndelta = 0.0\n[leave_one_out]\nenabled = true\n"
                          "[sobol]\nenabled = true\nn = 64\nn_boot = 10\n")
    assert main(["run", str(run), "--out", str(tmp / "out"), "--quiet", "--no-static"]) == 0
    sobol = (tmp / "out" / "sobol.csv").read_text(encoding="utf-8")
    assert "w_x1" not in sobol and "leave_one_out" in sobol


CASES = {
    "1 exclude leaves one unit": case_exclude_leaves_one_unit,
    "2 tree 1,000 deep": case_tree_1000_deep,
    "3 CR-only line endings": case_cr_line_endings,
    "4 10 MB cell": case_ten_megabyte_cell,
    "5a dask not installed": case_dask_not_installed,
    "5b scheduler on a closed port": case_scheduler_closed_port,
    "6 montecarlo samples": case_montecarlo_samples,
    "7 --out ''": case_out_empty,
    "8 units blank": case_units_blank,
    "9 log of 0 / negative": case_log_of_zero,
    "10a disk full": case_disk_full,
    "11 geometric resample": case_geometric_resample,
    "14 reprs": case_reprs,
    "15 reweight, a unit without any indicator": case_reweight_unit_without_any_indicator,
    "16 parent as a list": case_parent_list,
    "17 Sobol' at delta = 0": case_sobol_delta_zero,
}


@pytest.mark.parametrize("case", list(CASES))
def test_hardening(case, tmp_path, capsys, monkeypatch):
    fn = CASES[case]
    if "monkeypatch" in fn.__code__.co_varnames[:fn.__code__.co_argcount]:
        fn(tmp_path, capsys, monkeypatch=monkeypatch)
    else:
        fn(tmp_path, capsys)


# -- 10b: the static export under an address-space limit ---------------------------------------

@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS semantics: Linux")
def test_static_export_cannot_take_the_run_down(tmp_path):
    """vl-convert's V8 aborts the process it runs in under ``ulimit -v``; it runs in a child,
    so the run writes the tables and the page and ends with one line (or, where V8 fits,
    exit 0 with the PNG)."""
    import resource

    run = tmp_path / "r.toml"
    run.write_text(f'[run]\ndata = "{DATA.as_posix()}"\nseed = 1\nsamples = 512\n',
                   encoding="utf-8")
    out = tmp_path / "out"
    limit = 3 * 2**30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run([sys.executable, "-m", "cityindex", "run", str(run), "--out",
                           str(out), "--quiet"], preexec_fn=cap, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode in (0, 2), proc.stderr[-2000:]
    assert (out / "verdicts.csv").exists() and (out / "index.html").exists()
    if proc.returncode == 2:
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr[-2000:]
        assert "rank_uncertainty.png: not drawn" in lines[0]
        assert "report_error" in (out / "manifest.json").read_text()
    else:
        assert (out / "rank_uncertainty.png").stat().st_size > 0


# -- 12: tier_guaranteed means the published tier ----------------------------------------------

def test_tier_guaranteed_requires_the_published_tier(tmp_path):
    """a's numbers put it first under every weighting, but the report publishes it 2nd, in
    tier 2: best and worst agree (tier 1), yet the published tier is not guaranteed."""
    d = tmp_path / "d"
    d.mkdir()
    (d / "spec.toml").write_text(
        '[index]\nroot = "r"\ntiers = [1, 2]\ndecimals = 2\n[nodes.r]\n'
        '[nodes.x1]\nparent = "r"\nweight = 0.5\nnormalisation = "none"\n'
        '[nodes.x2]\nparent = "r"\nweight = 0.5\nnormalisation = "none"\n', encoding="utf-8")
    write_csv(d / "indicators.csv", ["unit", "x1", "x2"],
              [["a", "90.00", "90.00"], ["b", "50.00", "50.00"], ["c", "10.00", "10.00"]])
    write_csv(d / "published.csv", ["unit", "r", "r_rank"],
              [["a", "90.00", 2], ["b", "50.00", 1], ["c", "10.00", 3]])
    ds = ci.load_dataset(d)
    ext = ci.Study(ds, ci.UncertaintyModel(samples=256), seed=0).extremes().frame
    ext = ext.set_index("unit")
    assert (ext.loc["a", "best"], ext.loc["a", "worst"]) == (1, 1)   # tier 1 throughout
    assert not ext.loc["a", "tier_guaranteed"]                       # published: tier 2
    assert not ext.loc["b", "tier_guaranteed"]   # published 1st, always 2nd
    assert ext.loc["c", "tier_guaranteed"]       # published 3rd (tier 2), always 3rd
