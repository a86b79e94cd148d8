"""Bad inputs, one at a time (issue 14): a copy of the data folder corrupted one way, spec
files, run files, command-line arguments and output paths. Each must end with exit 2 and
exactly one line on stderr naming the file or key — no traceback, no progress line (nothing
was computed) — and leave a previous output folder exactly as it was."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DATA

from cityindex.app.cli import main

RUN = """[run]
data = "{data}"
seed = 3
samples = 2048
"""


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``folder`` (and the folder's siblings
    that a writer would leave: staging/old/trash folders)."""
    out = {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(folder.rglob("*")) if p.is_file()}
    out["<siblings>"] = ",".join(sorted(p.name for p in folder.parent.iterdir()
                                        if p.name.startswith(f".{folder.name}.")))
    return out


@pytest.fixture
def previous(tmp_path) -> Path:
    """A previous output folder (it has a manifest) with a sentinel file."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"outputs": {}}\n', encoding="utf-8")
    (out / "sentinel.txt").write_text("previous run\n", encoding="utf-8")
    return out


def write_run(tmp_path: Path, data: Path, extra: str = "", head: str = "") -> Path:
    path = tmp_path / "analyses" / "bad.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(head + RUN.format(data=data.as_posix()) + extra, encoding="utf-8")
    return path


def fails_cleanly(capsys, argv: list[str], must_name: str, untouched: Path | None = None
                  ) -> str:
    """Run the CLI in-process; assert exit 2, one stderr line naming ``must_name``, no
    traceback and (if given) an untouched folder. Returns the line."""
    before = snapshot(untouched) if untouched is not None and untouched.is_dir() else None
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert must_name in lines[0], lines[0]
    assert re.match(r"^cityindex( \w+)?: error: ", lines[0]), lines[0]
    if before is not None:
        assert snapshot(untouched) == before
    return lines[0]


# -- data folders, corrupted one way at a time ----------------------------------------------

def header_only(*names):
    def corrupt(d: Path) -> None:
        for name in names:
            path = d / name
            path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n",
                            encoding="utf-8")
    return corrupt


def replace_in(name, old, new):
    def corrupt(d: Path) -> None:
        text = (d / name).read_text(encoding="utf-8")
        assert old in text, old
        (d / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return corrupt


def remove(name):
    return lambda d: (d / name).unlink()


def directory_instead(name):
    def corrupt(d: Path) -> None:
        (d / name).unlink()
        (d / name).mkdir()
    return corrupt


def prepend(name, text):
    def corrupt(d: Path) -> None:
        (d / name).write_text(text + (d / name).read_text(encoding="utf-8"), encoding="utf-8")
    return corrupt


def groups_not_a_table(d: Path) -> None:
    text = (d / "spec.toml").read_text(encoding="utf-8")
    text = re.sub(r"^\[groups\.\w+\]\n(?:(?!\[).*\n)*", "", text, flags=re.M)
    (d / "spec.toml").write_text("groups = 5\n" + text, encoding="utf-8")


def gbk(name):
    def corrupt(d: Path) -> None:
        text = (d / name).read_text(encoding="utf-8")
        (d / name).write_bytes(text.encode("gbk"))
    return corrupt


def ragged(d: Path) -> None:
    replace_in("indicators.csv", "北京,10.53,", "北京,10.53,1,")(d)


DATA_CASES = {
    # issue 14, item 2
    "every CSV header-only": (header_only("indicators.csv", "published.csv", "cities.csv",
                                          "subtables.csv", "claims.csv"),
                              "indicators.csv: no data rows"),
    "indicators.csv header-only": (header_only("indicators.csv"),
                                   "indicators.csv: no data rows"),
    "subtables.csv header-only": (header_only("subtables.csv"), "subtables.csv: no data rows"),
    "published.csv header-only": (header_only("published.csv"),
                                  "published.csv: unit(s) missing"),
    "cities.csv header-only": (header_only("cities.csv"), "cities.csv: unit(s) missing"),
    "no cities.csv, claims.csv present": (remove("cities.csv"), "no units.csv/cities.csv column"),
    "cities.csv unreadable (a directory)": (directory_instead("cities.csv"),
                                            "cities.csv: unreadable"),
    "indicators.csv unreadable (a directory)": (directory_instead("indicators.csv"),
                                                "indicators.csv: unreadable"),
    'spec decimals = "two"': (replace_in("spec.toml", "decimals = 2", 'decimals = "two"'),
                              "[index].decimals: found 'two'"),
    "spec decimals = -1": (replace_in("spec.toml", "decimals = 2", "decimals = -1"),
                           "[index].decimals: found -1"),
    "spec groups.scale.tiers = 10": (replace_in("spec.toml", 'column = "scale_code"\ntiers = '
                                                "[10, 20]", 'column = "scale_code"\ntiers = 10'),
                                     "[groups.scale].tiers: found 10"),
    "spec groups = 5": (groups_not_a_table, "groups: found 5"),
    'spec exclude = "municipality"': (replace_in("spec.toml", 'exclude = ["municipality"]',
                                                 'exclude = "municipality"'),
                                      "[groups.admin].exclude: found 'municipality'"),
    "spec.toml unreadable (a directory)": (directory_instead("spec.toml"),
                                           "spec.toml: a directory"),
    "no spec.toml": (remove("spec.toml"), "spec.toml: file not found"),
    # value errors that already held before issue 14: kept here as regressions
    "indicators.csv 'n/a'": (replace_in("indicators.csv", "北京,10.53", "北京,n/a"),
                             "column 'search': 'n/a'"),
    "indicators.csv '63,16' (decimal comma)": (replace_in("indicators.csv", "北京,10.53",
                                                          '北京,"10,53"'),
                                               "column 'search': '10,53'"),
    "indicators.csv NaN": (replace_in("indicators.csv", "北京,10.53", "北京,NaN"),
                           "column 'search': 'NaN'"),
    "indicators.csv ragged row": (ragged, "indicators.csv line 2: 8 fields"),
    "indicators.csv GBK-encoded": (gbk("indicators.csv"), "indicators.csv: not UTF-8"),
    "published.csv duplicate unit": (replace_in("published.csv", "\n上海,", "\n北京,"),
                                     "duplicate unit '北京'"),
}


@pytest.mark.parametrize("case", list(DATA_CASES))
def test_corrupted_data_folder(case, data_copy, tmp_path, previous, capsys):
    corrupt, message = DATA_CASES[case]
    corrupt(data_copy)
    runfile = write_run(tmp_path, data_copy)
    line = fails_cleanly(capsys, ["run", str(runfile), "--out", str(previous)], message,
                         untouched=previous)
    assert str(data_copy) in line  # the file is named with its path


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_csv_by_permission(data_copy, tmp_path, previous, capsys):
    (data_copy / "published.csv").chmod(0)
    runfile = write_run(tmp_path, data_copy)
    fails_cleanly(capsys, ["run", str(runfile), "--out", str(previous)],
                  "published.csv: unreadable", untouched=previous)


def test_reproduce_names_the_bad_data_folder(data_copy, capsys):
    header_only("indicators.csv")(data_copy)
    fails_cleanly(capsys, ["reproduce", str(data_copy)], "indicators.csv: no data rows")


def test_spec_with_byte_order_mark_is_accepted(data_copy, capsys):
    spec = data_copy / "spec.toml"
    spec.write_bytes(b"\xef\xbb\xbf" + spec.read_bytes())
    assert main(["reproduce", str(data_copy), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inconsistencies"]


# -- run files ---------------------------------------------------------------------------

RUN_CASES = {
    # (extra sections, text before [run], expected in the line)
    "top-level sobol = 5": ("", "sobol = 5\n", "bad.toml sobol: found 5"),
    "top-level noise = 5": ("", "noise = 5\n", "bad.toml noise: found 5"),
    'top-level weights = "model"': ("", 'weights = "model"\n', "bad.toml weights: found 'model'"),
    "misspelt key delat": ("[weights]\ndelat = 0.9\n", "", "did you mean 'delta'"),
    "[leave_one_out] enable": ("[leave_one_out]\nenable = true\n", "",
                               "did you mean 'enabled'"),
    "[rank_ci] coverage = 5": ('[noise]\nsearch = { model = "grid" }\n'
                               "[rank_ci]\ncoverage = 5\n", "", "[rank_ci].coverage: found 5"),
    "samples = 10^12": ("", "", "[run].samples: found 1000000000000"),
    "allow_large not a flag": ("", "", "[run].allow_large: found 'yes'"),
    "LOWESS bandwidth 0.001": ("[importance]\nenabled = true\nbandwidth = 0.001\n", "",
                               "[importance].bandwidth: found 0.001"),
    "sobol n not a power of two": ("[sobol]\nenabled = true\nn = 1000\n", "",
                                   "[sobol].n: found 1000"),
    "unknown noise indicator": ('[noise]\nsearches = { model = "none" }\n', "",
                                "[noise].searches"),
    "unknown section": ("[flag]\nrank_width = 3\n", "", "unknown section [flag]"),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_run_file(case, tmp_path, previous, capsys):
    extra, head, message = RUN_CASES[case]
    runfile = write_run(tmp_path, DATA, extra, head)
    text = runfile.read_text(encoding="utf-8")
    if case == "samples = 10^12":
        text = text.replace("samples = 2048", "samples = 1_000_000_000_000")
    if case == "allow_large not a flag":
        text = text.replace("samples = 2048", 'samples = 2048\nallow_large = "yes"')
    runfile.write_text(text, encoding="utf-8")
    line = fails_cleanly(capsys, ["run", str(runfile), "--out", str(previous)], message,
                         untouched=previous)
    if case == "samples = 10^12":
        assert "allow_large = true" in line  # the error names the override


def test_allow_large_lifts_the_limit():
    from cityindex import UncertaintyModel

    assert UncertaintyModel(samples=10**12, allow_large=True).samples == 10**12
    with pytest.raises(ValueError, match="allow_large"):
        UncertaintyModel(samples=10**9 + 1)


@pytest.mark.parametrize("what,make,message", [
    ("a directory", lambda p: p.mkdir(), "a directory"),
    ("missing", lambda p: None, "file not found"),
    ("not UTF-8", lambda p: p.write_bytes(b"[run]\ndata = '\xff'\n"), "not UTF-8"),
    ("invalid TOML", lambda p: p.write_text("[run\n"), "invalid TOML"),
    ("data not a folder", lambda p: p.write_text(RUN.format(data="/nonexistent/x")),
     "[run].data"),
])
def test_unusable_run_file(what, make, message, tmp_path, previous, capsys):
    path = tmp_path / "r.toml"
    make(path)
    fails_cleanly(capsys, ["run", str(path), "--out", str(previous)], message,
                  untouched=previous)


def test_run_file_with_byte_order_mark_is_accepted(tmp_path):
    from cityindex.app.runfile import load_runfile

    path = write_run(tmp_path, DATA)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert load_runfile(path).seed == 3


# -- command-line arguments ---------------------------------------------------------------

@pytest.mark.parametrize("args,message", [
    (["--chunk-blocks", "0"], "--chunk-blocks: found 0"),
    (["--chunk-blocks", "-3"], "--chunk-blocks: found -3"),
    (["--chunk-blocks", "x"], "--chunk-blocks: found 'x'"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments(args, message, tmp_path, previous, capsys):
    runfile = write_run(tmp_path, DATA)
    fails_cleanly(capsys, ["run", str(runfile), "--out", str(previous), *args], message,
                  untouched=previous)


def test_missing_argument_and_unknown_command(capsys):
    fails_cleanly(capsys, ["run"], "required: runfile")
    fails_cleanly(capsys, ["rerun"], "invalid choice: 'rerun'")


def test_version_and_help(capsys):
    import argparse

    from cityindex.app.cli import build_parser

    assert main(["--version"]) == 0
    assert re.match(r"cityindex \d+\.\d+", capsys.readouterr().out)
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for p in (parser, *subs.choices.values()):
        for action in p._actions:
            assert action.help, f"{p.prog}: no help for {action.dest}"
        assert main([*p.prog.split()[1:], "--help"]) == 0
        assert "usage:" in capsys.readouterr().out


# -- output paths: checked before any computation -------------------------------------------

def test_out_is_a_regular_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("not a folder\n")
    fails_cleanly(capsys, ["run", str(write_run(tmp_path, DATA)), "--out", str(out)],
                  "a regular file")
    assert out.read_text() == "not a folder\n"


def test_out_lies_under_a_regular_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x\n")
    fails_cleanly(capsys, ["run", str(write_run(tmp_path, DATA)), "--out",
                           str(blocker / "sub" / "out")], f"lies under {blocker}")
    assert blocker.read_text() == "x\n"


def test_out_not_writable(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes anywhere a mode allows nothing: use /sys (EPERM/EROFS)
        parent = Path("/sys")
        try:
            os.mkdir(parent / "cityindex-probe")
        except OSError:
            pass
        else:
            os.rmdir(parent / "cityindex-probe")
            pytest.skip("/sys is writable here")
    else:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o500)
    fails_cleanly(capsys, ["run", str(write_run(tmp_path, DATA)), "--out",
                           str(parent / "out")], "cannot write in")


def test_out_is_a_folder_of_other_files(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("do not delete\n")
    fails_cleanly(capsys, ["run", str(write_run(tmp_path, DATA)), "--out", str(out)],
                  "no manifest.json", untouched=out)


def test_out_contains_the_run_file(tmp_path, capsys):
    """Even a previous output folder is refused when the run file lies inside it."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text("{}\n")
    runfile = write_run(out, DATA)
    fails_cleanly(capsys, ["run", str(runfile), "--out", str(out)], f"contains {runfile}",
                  untouched=out)


# -- through a real process -----------------------------------------------------------------

def cli(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cityindex", *args], capture_output=True,
                          text=True, timeout=120, **kw)


def test_subprocess_bad_inputs_one_line(tmp_path, data_copy, previous):
    before = snapshot(previous)
    header_only("indicators.csv", "published.csv", "cities.csv")(data_copy)
    cases = [(write_run(tmp_path, data_copy), "no data rows"),
             (tmp_path, "a directory")]
    for runfile, message in cases:
        proc = cli("run", str(runfile), "--out", str(previous))
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(previous) == before


def test_reproduce_into_a_closed_pipe_ends_quietly():
    proc = subprocess.run(f"'{sys.executable}' -m cityindex reproduce '{DATA}' | head -n 2",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert len(proc.stdout.splitlines()) == 2
    assert proc.stderr == "", proc.stderr


# -- valid runs that used to crash after all the work ---------------------------------------

def test_chart_with_more_rows_than_altairs_limit(tmp_path, capsys):
    """model = "simplex" spreads the ranks: the acceptability chart has > 5,000 rows."""
    runfile = write_run(tmp_path, DATA, '[weights]\nmodel = "simplex"\n')
    out = tmp_path / "simplex"
    assert main(["run", str(runfile), "--out", str(out), "--quiet", "--no-static"]) == 0
    acc = (out / "acceptability.csv").read_text().splitlines()[1:]
    cells = sum(float(v) > 0 for row in acc for v in row.split(",")[2:])  # after lens, unit
    assert cells > 5000  # more than Altair's default row limit
    assert (out / "index.html").stat().st_size > 0
    assert not (out / "rank_uncertainty.png").exists()  # --no-static
    assert capsys.readouterr().out.startswith(f"cityindex: wrote {out}")


def test_failing_chart_keeps_the_tables(tmp_path, capsys, monkeypatch, previous):
    from cityindex.report import charts

    def broken(*args, **kwargs):
        raise RuntimeError("chart exploded\nsecond line")

    monkeypatch.setattr(charts, "acceptability", broken)
    runfile = write_run(tmp_path, DATA)
    line = fails_cleanly(capsys, ["run", str(runfile), "--out", str(previous), "--quiet"],
                         "index.html: the page was not built (RuntimeError: chart exploded)")
    assert "tables" in line
    names = {p.name for p in previous.iterdir()}
    assert {"ranks.csv", "acceptability.csv", "summary.json", "manifest.json"} <= names
    assert "index.html" not in names and "sentinel.txt" not in names  # replaced as a whole
    manifest = json.loads((previous / "manifest.json").read_text())
    assert manifest["report_error"].startswith("RuntimeError: chart exploded")
    assert set(manifest["outputs"]) == names - {"manifest.json", "run_log.json"}
    shutil.rmtree(previous)
