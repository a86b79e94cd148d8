"""`cityindex run`: run-file validation, output contract, byte-identical reruns."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import DATA

from cityindex.app.cli import main
from cityindex.app.runfile import load_runfile
from cityindex.errors import RunFileError

RUN = f"""
[run]
data = "{DATA.as_posix()}"
seed = 7
samples = 6000

[weights]
model = "uniform"
delta = 0.25

[normalisation]
choices = ["published", "minmax"]

[aggregation]
choices = ["arithmetic", "geometric"]

[flags]
tier_probability = 0.90

[leave_one_out]
enabled = true
"""

RANK_COLUMNS = ["lens", "unit", "published_rank", "nominal_rank", "median", "mean", "p05", "p25",
                "p75", "p95", "mc_min", "mc_max", "p_published_rank", "p_within_2", "p_tier_1",
                "p_tier_2", "p_tier_3", "p_published_tier", "se_p_published_tier",
                "rank_fragile", "tier_fragile", "reasons"]
VERDICT_COLUMNS = ["unit", "name_en", "published_rank", "published_tier", "verdict",
                   "weights_p_published_tier", "weights_p05", "weights_p95", "era_best",
                   "era_worst", "noise_lower", "noise_upper", "construction_worst",
                   "construction_shift", "erratum", "reasons"]


@pytest.fixture
def runfile(tmp_path):
    path = tmp_path / "analyses" / "small.toml"
    path.parent.mkdir()
    path.write_text(RUN, encoding="utf-8")
    return path


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.name not in ("manifest.json", "run_log.json")}


def test_run_writes_the_contracted_outputs(runfile, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(runfile), "--out", str(out), "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"ranks.csv", "acceptability.csv", "groups.csv", "summary.json", "manifest.json",
            "leave_one_out.csv"} <= names
    ranks = pd.read_csv(out / "ranks.csv")
    assert list(ranks.columns[:4]) == ["lens", "unit", "name_en", "published_rank"]
    assert set(RANK_COLUMNS) <= set(ranks.columns)
    # one block of rows per Monte-Carlo lens: weights always, combined because the run file
    # lists alternatives (no noise, resample or construction Monte Carlo asked for)
    assert list(dict.fromkeys(ranks["lens"])) == ["weights", "combined"]
    assert (ranks.groupby("lens").size() == 106).all()
    acc = pd.read_csv(out / "acceptability.csv")
    assert acc.shape == (2 * 106, 108) and list(acc.columns[:2]) == ["lens", "unit"]
    groups = pd.read_csv(out / "groups.csv")
    assert set(groups["lens"]) == {"weights", "combined"}
    verdicts = pd.read_csv(out / "verdicts.csv", keep_default_na=False)
    assert list(verdicts.columns) == VERDICT_COLUMNS and len(verdicts) == 106
    assert set(verdicts["verdict"]) <= {"weight-sensitive", "noise-limited",
                                        "construction-sensitive", "robust"}
    fragile = pd.read_csv(out / "fragile.csv", keep_default_na=False)
    assert list(fragile.columns) == VERDICT_COLUMNS
    assert list(fragile["unit"]) == list(verdicts.loc[verdicts.verdict != "robust", "unit"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_file_sha256"] == hashlib.sha256(runfile.read_bytes()).hexdigest()
    assert manifest["seed"] == 7
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["lenses"]) == ["weights", "construction", "combined"]
    weights = summary["lenses"]["weights"]
    assert weights["montecarlo"]["scenarios"] == 6000
    w = ranks[ranks.lens == "weights"]
    assert weights["montecarlo"]["rank_fragile"] == int(w["rank_fragile"].sum())
    assert "mean" in weights["montecarlo"]["average_abs_rank_shift"]
    assert weights["montecarlo"]["scenarios_by_choice"] == {"published/published": 6000}
    combined = summary["lenses"]["combined"]["montecarlo"]
    assert sum(combined["scenarios_by_choice"].values()) == 6000
    assert set(combined["scenarios_by_choice"]) == {
        "published/arithmetic", "published/geometric", "minmax/arithmetic",
        "minmax/geometric"}
    for lens in summary["lenses"].values():
        assert lens["headline"].endswith(".")
    counts = summary["verdicts"]["counts"]
    assert sum(counts.values()) == 106
    assert counts == verdicts["verdict"].value_counts().reindex(counts, fill_value=0).to_dict()


def test_rerun_and_other_chunking_give_identical_bytes(runfile, tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    main(["run", str(runfile), "--out", str(a), "--quiet"])
    main(["run", str(runfile), "--out", str(b), "--quiet"])
    main(["run", str(runfile), "--out", str(c), "--quiet", "--chunk-blocks", "1"])
    assert digests(a) == digests(b) == digests(c)


def test_default_output_folder_is_reports_runfile_stem(runfile, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["run", str(runfile), "--quiet"])
    assert (tmp_path / "reports" / "small" / "ranks.csv").exists()


@pytest.mark.parametrize("old,new,message", [
    ("samples = 6000", "samples = 0", "[run].samples: found 0"),
    ('model = "uniform"', 'model = "gaussian"', "[weights].model: found 'gaussian'"),
    ('"published", "minmax"', '"published", "log"', "unknown choice 'log'"),
    ("delta = 0.25", "delta = 1.5", "[weights].delta: found 1.5"),
    ("[flags]", "[flag]", "unknown section [flag]"),
    ("seed = 7", 'seed = "seven"', "[run].seed: found 'seven'"),
])
def test_bad_run_file_is_named(runfile, old, new, message):
    runfile.write_text(RUN.replace(old, new), encoding="utf-8")
    with pytest.raises(RunFileError) as info:
        load_runfile(runfile)
    assert message in str(info.value) and "small.toml" in str(info.value)


def test_bad_run_file_cli_exit_2_and_nothing_written(runfile, tmp_path):
    runfile.write_text(RUN.replace("samples = 6000", "samples = -1"), encoding="utf-8")
    out = tmp_path / "never"
    proc = subprocess.run([sys.executable, "-m", "cityindex", "run", str(runfile), "--out",
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "samples" in proc.stderr
    assert not out.exists()


def test_failed_computation_leaves_nothing_half_written(runfile, tmp_path):
    # min-max puts each indicator's minimum at exactly 0: geometric with offset 0 must fail
    runfile.write_text(RUN.replace('"published", "minmax"', '"minmax"').replace(
        '[aggregation]\nchoices = ["arithmetic", "geometric"]',
        '[aggregation]\nchoices = ["geometric"]\ngeometric_offset = 0'), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(runfile), "--out", str(out), "--quiet"]) == 2
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_unknown_noise_indicator_fails_before_any_work(runfile, tmp_path):
    runfile.write_text(RUN + '\n[noise]\nreplicates = 10\nsearches = { model = "none" }\n',
                       encoding="utf-8")
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "cityindex", "run", str(runfile), "--out",
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 2 and "[noise].searches" in proc.stderr
    assert "Monte Carlo" not in proc.stderr  # failed before the first stage
    assert not out.exists()


@pytest.mark.parametrize("extra,message", [
    ("[construction]\nsamples = 10\n", "[construction]: settings ['samples'] without "
                                       "montecarlo = true"),
    ("[construction]\nmontecarlo = true\nnormalisation = { published = 0.5 }\n",
     "[construction].normalisation: found {'published': 0.5}; expected probabilities summing"),
    ("[construction]\nmontecarlo = true\naggregation = { medianish = 1.0 }\n",
     "[construction].aggregation.medianish: unknown choice 'medianish'"),
    ("[sobol]\nenabled = true\nleave_one_out_none = 1.0\n",
     "[sobol].leave_one_out_none: found 1.0; expected a probability in [0, 1)"),
    ("[combined]\nsamplez = 5\n", "[combined].samplez: unknown key (did you mean 'samples'?)"),
    ('[noise]\nsearch = { model = "grid" }\n[rank_ci]\nenabled = "no"\n',
     "[rank_ci].enabled: found 'no'; expected true or false"),
    ("[combined]\nsamples = 0\n", "[combined].samples: found 0"),
])
def test_lens_sections_are_checked(runfile, extra, message):
    runfile.write_text(RUN + extra, encoding="utf-8")
    with pytest.raises(RunFileError) as info:
        load_runfile(runfile)
    assert message in str(info.value), str(info.value)


def test_rank_width_is_optional_and_checked(runfile):
    assert load_runfile(runfile).model.rank_width is None  # tier-relative fragility
    runfile.write_text(RUN.replace("[flags]\n", "[flags]\nrank_width = 0\n"), encoding="utf-8")
    with pytest.raises(RunFileError, match=r"\[flags\]\.rank_width: found 0"):
        load_runfile(runfile)


def test_lens_sections_reach_the_model(runfile):
    runfile.write_text(RUN + "[construction]\nmontecarlo = true\nsamples = 300\n"
                       "aggregation = { arithmetic = 0.25, geometric = 0.75 }\n"
                       "[combined]\nenabled = false\n", encoding="utf-8")
    model = load_runfile(runfile).model
    assert model.combined is None and model.construction_samples == 300
    norm, agg = model.construction_probabilities
    assert dict(norm) == {"published": 0.5, "minmax": 0.5}   # equal odds over the choices
    assert dict(agg) == {"arithmetic": 0.25, "geometric": 0.75}


def test_rank_sets_can_be_switched_off_with_the_noise_kept(runfile, tmp_path):
    runfile.write_text(RUN.replace("samples = 6000", "samples = 500")
                       + '[noise]\nreplicates = 100\nsearch = { model = "grid" }\n'
                       "[rank_ci]\nenabled = false\nn_boot = 5000000\n", encoding="utf-8")
    model = load_runfile(runfile).model
    # off: no sets, and their (otherwise refused) draw count is not checked
    assert not model.runs_rank_ci and model.noise is not None
    out = tmp_path / "out"
    assert main(["run", str(runfile), "--out", str(out)]) == 0
    assert (out / "noise.csv").exists() and not (out / "rank_ci.csv").exists()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["run"]["rank_ci"] == {"enabled": False}
    # the verdicts say that the noise lens was not judged, not that nothing is noise-limited
    assert "Noise-limited was not judged" in (out / "summary.json").read_text(encoding="utf-8")
    assert "not judged: this run computed no rank" in (out / "index.html").read_text(
        encoding="utf-8")
