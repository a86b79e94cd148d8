"""The construction module against analytic results and small hand-made cases."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import cityindex as ci
from cityindex.app.cli import main
from cityindex.construction import AGGREGATIONS, IMPUTATIONS, Pipeline, WeightBox
from cityindex.construction.imputation import impute
from cityindex.construction.treatment import skew_kurt, winsorise
from cityindex.quantisation import detect_grid

ROOT = Path(__file__).resolve().parents[1]


def _combine(name: str, values: list[float], weights: list[float], p: float | None = None
             ) -> float:
    v = np.array([values], dtype=float)
    w = np.array([[weights]], dtype=float)
    m = np.ones_like(v, dtype=bool)
    out = AGGREGATIONS[name].combine(v, w, m, w.sum(axis=-1), 0.0, {"p": p})
    return float(np.ravel(out)[0])


def test_aggregations_equal_their_textbook_formulas():
    v, w = [4.0, 9.0, 1.0], [0.5, 0.3, 0.2]
    assert _combine("arithmetic", v, w) == pytest.approx(0.5 * 4 + 0.3 * 9 + 0.2 * 1)
    assert _combine("geometric", v, w) == pytest.approx(4 ** 0.5 * 9 ** 0.3 * 1 ** 0.2)
    assert _combine("harmonic", v, w) == pytest.approx(1 / (0.5 / 4 + 0.3 / 9 + 0.2 / 1))
    assert _combine("power_mean", v, w, 2.0) == pytest.approx(
        math.sqrt(0.5 * 16 + 0.3 * 81 + 0.2 * 1))
    # the power mean's limits: p = 1 arithmetic, p -> 0 geometric, p = -1 harmonic
    assert _combine("power_mean", v, w, 1.0) == pytest.approx(_combine("arithmetic", v, w))
    assert _combine("power_mean", v, w, 1e-7) == pytest.approx(_combine("geometric", v, w),
                                                               rel=1e-5)
    assert _combine("power_mean", v, w, -1.0) == pytest.approx(_combine("harmonic", v, w))
    # a zero child: the limit 0 for geometric and harmonic
    assert _combine("geometric", [0.0, 5.0], [0.5, 0.5]) == 0.0
    assert _combine("harmonic", [0.0, 5.0], [0.5, 0.5]) == 0.0


def test_mazziotta_pareto_by_hand():
    # 3 units x 2 children, equal weights: z = 100 + 10 (x - mean) / sd over units
    x = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]])
    z = 100 + 10 * (x - x.mean(axis=0)) / x.std(axis=0)
    mean, sd = z.mean(axis=1), z.std(axis=1)
    want = mean - sd * (sd / mean)
    w = np.full((1, 3, 2), 0.5)
    m = np.ones((3, 2), dtype=bool)
    got = AGGREGATIONS["mazziotta_pareto"].combine(x, w, m, w.sum(-1), 0.0, {"p": None})
    assert np.allclose(np.ravel(got), want)
    # balanced children get no penalty
    assert not AGGREGATIONS["mazziotta_pareto"].monotone


def test_group_mean_imputation_fills_from_the_units_group():
    values = np.array([1.0, np.nan, 3.0, 10.0, np.nan, np.nan])
    present = ~np.isnan(values)
    groups = np.array([0, 0, 0, 1, 1, 2])
    out, avail = impute(IMPUTATIONS["group_mean"], values, present, ~present, groups)
    assert out[1] == 2.0 and out[4] == 10.0
    assert np.isnan(out[5]) and not avail[5]      # a group with no value stays missing
    out, _ = impute(IMPUTATIONS["median"], values, present, ~present, groups)
    assert out[1] == 3.0


def test_weight_box_vertex_count_is_exact_beyond_64_nodes(tmp_path):
    lines = ['[index]', 'root = "r"', 'tiers = [2]', '', '[nodes.r]']
    for g in range(23):  # 23 goals x 4 indicators + 23 goals = 115 weighted nodes
        lines += ['', f'[nodes.g{g}]', 'parent = "r"', f'weight = {1 / 23!r}']
        for k in range(4):
            lines += ['', f'[nodes.g{g}_{k}]', f'parent = "g{g}"', 'weight = 0.25',
                      'normalisation = "none"']
    (tmp_path / "spec.toml").write_text("\n".join(lines))
    spec = ci.load_spec(tmp_path / "spec.toml")
    box = WeightBox(spec, 0.25)
    assert len(spec.weighted_nodes) == 115
    assert box.vertex_count == 2 ** 115          # int64 would wrap to 0
    assert box.vertices() is None


def test_detect_grid_survives_clipped_and_full_precision_values():
    # every value at a goalpost: no printing resolution at all -> no grid, no ZeroDivision
    assert detect_grid(np.ones(50), np.zeros(50)) is None
    # full-precision raw values over a wide range: bounded lattice, returns quickly
    rng = np.random.default_rng(0)
    v = np.round(rng.uniform(100, 120_000, 300), 5)
    detect_grid(v, np.full(300, 0.5e-5))


def test_winsorisation_follows_the_coinr_rule():
    x = np.r_[np.arange(1.0, 11.0), 30.0, 100.0]
    skew, kurt = skew_kurt(x)
    assert skew > 2 and kurt > 3.5
    t = winsorise(x)
    assert t.method in ("winsorised", "log") and t.points >= 1
    s2, k2 = skew_kurt(t.values)
    if t.method == "winsorised":
        assert not (abs(s2) > 2 and k2 > 3.5)
        assert t.values.max() < 100


def _gappy_folder(tmp: Path) -> Path:
    folder = tmp / "gappy"
    folder.mkdir()
    (folder / "spec.toml").write_text('''
[index]
root = "r"
tiers = [2, 2]
missing = "reweight"

[nodes.r]

[nodes.a]
parent = "r"
weight = 0.5
impute = "group_mean"
impute_by = "region"

[nodes.b]
parent = "r"
weight = 0.5

[nodes.a1]
parent = "a"
weight = 1.0
normalisation = "none"

[nodes.b1]
parent = "b"
weight = 0.5
normalisation = "none"

[nodes.b2]
parent = "b"
weight = 0.5
normalisation = "none"
''')
    (folder / "indicators.csv").write_text(
        "unit,a1,b1,b2\nu1,10,20,30\nu2,,40,50\nu3,30,60,\nu4,50,80,90\n")
    (folder / "units.csv").write_text("unit,region\nu1,x\nu2,x\nu3,y\nu4,y\n")
    (folder / "exceptions.csv").write_text("unit,node,treat\nu4,b,not_applicable\n")
    return folder


def test_imputation_exceptions_and_draft_index(tmp_path):
    ds = ci.load_dataset(_gappy_folder(tmp_path))
    assert not ds.has_published
    s = ci.nominal_scores(ds)
    # u2: goal a missing -> region x mean of a over u1 = 10; b = 45
    assert s["u2"] == pytest.approx(0.5 * 10 + 0.5 * 45)
    # u3: b2 missing -> b reweighted to b1 = 60; a = 30
    assert s["u3"] == pytest.approx(0.5 * 30 + 0.5 * 60)
    # u4: b not applicable -> the root is a alone
    assert s["u4"] == pytest.approx(50)
    # the same through the batched pipeline, two weightings at once
    w = np.array([[0.5, 1.0, 0.5, 0.5, 0.5], [0.2, 1.0, 0.8, 0.5, 0.5]])
    order = ds.spec.weighted_nodes
    assert order == ["a", "a1", "b", "b1", "b2"]
    batch = ds.pipeline.evaluate(ds.indicators[ds.spec.indicators].to_numpy(), w)
    assert batch[1, 1] == pytest.approx(0.2 * 10 + 0.8 * 45)


def test_from_frames_equals_the_folder_and_round_trips(tmp_path):
    folder = _gappy_folder(tmp_path)
    ds = ci.load_dataset(folder)
    tree = pd.DataFrame({
        "id": ["r", "a", "b", "a1", "b1", "b2"],
        "parent": [None, "r", "r", "a", "b", "b"],
        "weight": [None, 0.5, 0.5, 1.0, 0.5, 0.5],
        "normalisation": [None, None, None, "none", "none", "none"],
        "impute": [None, "group_mean", None, None, None, None],
        "impute_by": [None, "region", None, None, None, None]})
    ind = pd.read_csv(folder / "indicators.csv").set_index("unit")
    units = pd.read_csv(folder / "units.csv").set_index("unit")
    exc = pd.read_csv(folder / "exceptions.csv")
    framed = ci.Dataset.from_frames(indicators=ind, tree=tree, units=units, exceptions=exc,
                                    index={"tiers": [2, 2], "missing": "reweight"})
    assert np.allclose(ci.nominal_scores(framed), ci.nominal_scores(ds))
    back = ci.load_dataset(framed.to_folder(tmp_path / "back"))
    assert np.allclose(ci.nominal_scores(back), ci.nominal_scores(ds))
    with pytest.raises(ci.SpecError, match=re.escape("Dataset.from_frames: spec.toml")):
        ci.Dataset.from_frames(indicators=ind, tree=tree.assign(
            impute=["x", None, None, None, None, None]), index={"missing": "reweight"})


def test_raw_values_are_checked_against_printed_scores(tmp_path, capsys):
    folder = tmp_path / "hdi"
    shutil.copytree(ROOT / "data" / "hdi-2021", folder)
    ds = ci.load_dataset(folder)
    # print the scores the raw values give, then corrupt one raw value
    lines = ["unit," + ",".join(ds.spec.indicators)]
    raw = (folder / "raw.csv").read_text().splitlines()
    keep = {line.split(",")[0] for line in raw[1:]} & set(ds.units)
    for u in ds.units:
        lines.append(u + "," + ",".join(f"{ds.indicators.at[u, c]:.6f}"
                                        for c in ds.spec.indicators))
    (folder / "indicators.csv").write_text("\n".join(lines) + "\n")
    for u in {line.split(",")[0] for line in raw[1:]} - keep:  # rows of excluded units
        raw = [line for line in raw if not line.startswith(u + ",")]
    (folder / "raw.csv").write_text("\n".join(raw) + "\n")
    (folder / "units.csv").write_text("\n".join(
        line for line in (folder / "units.csv").read_text().splitlines()
        if line.split(",")[0] in keep or line.startswith("unit,")) + "\n")
    (folder / "published.csv").write_text("\n".join(
        line for line in (folder / "published.csv").read_text().splitlines()
        if line.split(",")[0] in keep or line.startswith("unit,")) + "\n")
    assert main(["reproduce", str(folder)]) == 0
    clean = capsys.readouterr().out
    assert "raw " in clean and "[raw]" not in clean
    text = (folder / "raw.csv").read_text().replace("\nNOR,83.2,", "\nNOR,73.2,", 1)
    (folder / "raw.csv").write_text(text)
    assert main(["reproduce", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "[raw] NOR / life_expectancy" in out


def test_pipeline_names_the_unit_of_a_negative_geometric_value():
    spec_dir = ROOT / "data" / "hdi-2021"
    spec = ci.load_spec(spec_dir / "spec.toml")
    x = np.full((3, len(spec.indicators)), 0.5)
    x[1, 0] = -0.2
    pipe = Pipeline(spec, 3, units=("A", "B", "C"))
    with pytest.raises(ci.ComputationError, match="unit 'B'"):
        pipe.evaluate(x)


def test_reweight_over_leaves_sends_a_gap_to_every_leaf_present(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "spec.toml").write_text('''
[index]
root = "r"
tiers = [2]
missing = "reweight"

[nodes.r]
reweight = "leaves"

[nodes.a]
parent = "r"
weight = 0.5

[nodes.b]
parent = "r"
weight = 0.5

[nodes.a1]
parent = "a"
weight = 0.5
normalisation = "none"

[nodes.a2]
parent = "a"
weight = 0.5
normalisation = "none"

[nodes.b1]
parent = "b"
weight = 1.0
normalisation = "none"
''')
    (folder / "indicators.csv").write_text("unit,a1,a2,b1\nu1,10,,40\nu2,10,20,40\n")
    ds = ci.load_dataset(folder)
    s = ci.nominal_scores(ds)
    # u1: a1 (0.25) and b1 (0.5) present: (0.25*10 + 0.5*40) / 0.75; per-node reweighting
    # would give 0.5*10 + 0.5*40
    assert s["u1"] == pytest.approx((0.25 * 10 + 0.5 * 40) / 0.75)
    assert s["u2"] == pytest.approx(0.25 * 10 + 0.25 * 20 + 0.5 * 40)
    text = (folder / "spec.toml").read_text().replace('[nodes.a]\nparent = "r"',
                                                      '[nodes.a]\naggregation = "geometric"\n'
                                                      'parent = "r"')
    (folder / "spec.toml").write_text(text)
    with pytest.raises(ci.SpecError, match="reweight"):
        ci.load_dataset(folder)


@pytest.mark.parametrize("over,want", [("all", (10 + 30) / 2), ("ranked", 10.0)])
def test_units_not_ranked_enter_imputation_means_unless_told(tmp_path, over, want):
    folder = _gappy_folder(tmp_path)
    spec = (folder / "spec.toml").read_text().replace(
        'missing = "reweight"', f'missing = "reweight"\ncoverage = 0.6\nimpute_over = "{over}"')
    (folder / "spec.toml").write_text(spec)
    # u5 (region x) has a1 = 30 but too few indicators to be ranked (1 of 3 < 60%)
    (folder / "indicators.csv").write_text(
        (folder / "indicators.csv").read_text() + "u5,30,,\n")
    (folder / "units.csv").write_text((folder / "units.csv").read_text() + "u5,x\n")
    (folder / "spec.toml").write_text(spec.replace("tiers = [2, 2]", "tiers = [2, 2]"))
    ds = ci.load_dataset(folder)
    assert list(ds.excluded["unit"]) == ["u5"] and "coverage" in ds.excluded["reason"][0]
    s = ci.nominal_scores(ds)
    assert s["u2"] == pytest.approx(0.5 * want + 0.5 * 45)
    # the batched path agrees
    w = ds.spec.nominal_weights().reindex(ds.spec.weighted_nodes).to_numpy()
    batch = ds.pipeline.evaluate(ds.indicators[ds.spec.indicators].to_numpy(), w[None])
    assert batch.shape == (1, 4) and batch[0, 1] == pytest.approx(s["u2"])
    # the [imputation] alternatives evaluate the same data: u5 enters their means too
    from cityindex.sensitivity.scenarios import imputation_scores
    alt = imputation_scores(ds, "group_mean", "region")
    assert alt[1] == pytest.approx(0.5 * want + 0.5 * 45)


def test_treatment_is_applied_to_raw_values_and_reported(tmp_path):
    folder = tmp_path / "hdi"
    shutil.copytree(ROOT / "data" / "hdi-2021", folder)
    spec = (folder / "spec.toml").read_text()
    spec = spec.replace('goalposts = [0.0, 15.0]\n',
                        'goalposts = [0.0, 15.0]\ntreatment = "cap"\ncap = [2.0, 13.0]\n')
    (folder / "spec.toml").write_text(spec)
    ds = ci.load_dataset(folder)
    raw = ds.raw["mean_schooling"]
    # a capped raw value is normalised at the cap: (13 - 0) / 15
    capped = ds.indicators.loc[raw >= 13, "mean_schooling"].to_numpy()
    assert capped.size > 0 and np.allclose(capped, 13 / 15)
    profile = ci.Study(ds, ci.UncertaintyModel(), seed=0).reproduce().profile
    row = profile.set_index("indicator").loc["mean_schooling"]
    assert row["treatment"] == "cap" and row["treatment_applied"] == "capped"
    assert row["treatment_points_changed"] == int((raw > 13).sum() + (raw < 2).sum()) > 0


def test_run_file_lists_the_construction_alternatives(tmp_path):
    """[normalisation], [aggregation], [imputation], [treatment] and [leave_one_out] are
    exactly the named alternatives; 'none' treatment of an untreated index is the baseline's
    ranking (no shift)."""
    run = tmp_path / "run.toml"
    run.write_text(f'''[run]
data = "{ROOT / 'data' / 'hdi-2021'}"
seed = 1
samples = 100

[normalisation]
choices = ["published", "rank"]

[aggregation]
choices = ["published", "harmonic"]

[treatment]
choices = ["none", "winsorise"]

[leave_one_out]
enabled = false
''')
    study = ci.Study.from_runfile(run)
    frame = study.scenarios().frame
    alts = list(dict.fromkeys(frame.loc[frame["kind"] != "baseline", "scenario"]))
    assert alts == ["rank normalisation", "harmonic aggregation", "none treatment",
                    "winsorise treatment"]
    none = frame[frame["scenario"] == "none treatment"]
    base = frame[frame["kind"] == "baseline"]
    assert (none["rank"].to_numpy() == base["rank"].to_numpy()).all()
    with pytest.raises(ci.ModelError, match="treatments"):
        ci.Study(ci.load_dataset(ROOT / "data" / "city-image-2025"),
                 ci.UncertaintyModel(treatments=("winsorise",)), seed=0).scenarios()


def test_verdicts_without_a_full_run_equal_the_runs(tmp_path):
    ds = ci.load_dataset(ROOT / "data" / "hdi-2021")
    model = ci.UncertaintyModel(samples=2000, extremes=True, leave_one_out=True,
                                aggregations=("published", "arithmetic"))
    study = ci.Study(ds, model, seed=5)
    alone = study.verdicts()
    full = study.run().tables()["verdicts"]
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), full.reset_index(drop=True))
    assert (alone["verdict"] == "not ranked").sum() == 4
