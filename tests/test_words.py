"""Every output says exactly what was computed: coverage levels come from the run, labels are
the same in every file, every result object draws, tabulates, summarises and shows itself in
Jupyter, and the reproduction text ends on its verdict."""

from __future__ import annotations

import json
import re

import altair as alt
import pandas as pd
import pytest
from conftest import DATA, ROOT

import cityindex as ci
from cityindex.app.runfile import load_runfile
from cityindex.audit import audit
from cityindex.model import NoiseSettings, RankCISettings
from cityindex.vocabulary import (
    VERDICTS,
    confidence_set,
    noise_model_words,
    percent,
    tier_words,
    unit_label,
)

# -- the HDI at coverage 0.90 ---------------------------------------------------------------


@pytest.fixture(scope="module")
def hdi_audit():
    rf = load_runfile(ROOT / "analyses" / "hdi.toml")
    m = rf.model
    model = m.replace(samples=2000, sobol=None, importance=None,
                      noise=NoiseSettings(100, m.noise.models),
                      rank_ci=RankCISettings(coverage=0.90, n_boot=100))
    study = ci.Study(ci.load_dataset(rf.data), model, rf.seed)
    result = study.run()
    tables = result.tables()
    return study, tables, result.summary(tables)


def _text(tables: dict[str, pd.DataFrame], summary: dict) -> str:
    return tables["verdicts"].to_csv(index=False) + json.dumps(summary, ensure_ascii=False)


def test_coverage_comes_from_the_run(hdi_audit):
    study, tables, summary = hdi_audit
    assert study.model.rank_ci.coverage == 0.90
    text = _text(tables, summary)
    assert "95%" not in text
    reasons = " ".join(tables["verdicts"]["reasons"].dropna())
    assert "noise: 90% simultaneous rank confidence set" in reasons
    assert "90% simultaneous rank confidence sets" in summary["lenses"]["noise"]["headline"]
    assert summary["lenses"]["noise"]["rank_ci"]["coverage"] == 0.90


def test_hdi_reasons_use_tier_labels_and_scenario_labels(hdi_audit):
    study, tables, _ = hdi_audit
    spec = study.dataset.spec
    reasons = " ".join(tables["verdicts"]["reasons"].dropna())
    assert not re.search(r"\btier \d", reasons)            # HDI tiers have names
    assert any(f"the {label} tier" in reasons for label in spec.tier_labels)
    assert "another tier under without" not in reasons
    for ind in spec.indicators:                             # ids never stand for labels
        assert f"without {ind}" not in reasons
    # scenarios.csv keeps its ids (a contract) and summary.json maps them to the same words
    scen = tables["scenarios"]
    assert {f"without {ind}" for ind in spec.indicators} <= set(scen["scenario"])


def test_noise_notes_reconcile_the_counts(hdi_audit):
    _, tables, summary = hdi_audit
    noise = summary["lenses"]["noise"]
    notes = noise["notes"]
    assert isinstance(notes, list) and len(notes) == 3 and all(isinstance(n, str) for n in notes)
    crossing = int((~tables["rank_ci"]["tier_certain"]).sum())
    limited = summary["verdicts"]["counts"]["noise-limited"]
    assert f"{crossing} of the" in notes[1] and f"noise-limited count is {limited}" in notes[1]
    assert "near 1" in notes[2] and "100 noisy copies" in notes[2]
    # the models in words, not a Python dict
    models = noise["bootstrap"]["models"]
    assert "{" not in models and "NoiseModel" not in models and "rounding" in models
    assert "{" not in notes[0]


def test_hdi_names_are_not_doubled(hdi_audit):
    study, _, summary = hdi_audit
    ds = study.dataset
    assert unit_label(ds, "NOR") == "NOR Norway"
    text = json.dumps(summary, ensure_ascii=False)
    assert "Norway Norway" not in text


# -- fragments ------------------------------------------------------------------------------


def test_fragments():
    assert percent(0.9) == "90%" and percent(0.95) == "95%" and percent(0.975) == "97.5%"
    assert confidence_set(0.9) == "90% simultaneous rank confidence set"
    assert "%" not in confidence_set(None)
    assert ci.verdict.VERDICTS == VERDICTS  # kept importable for the page


def test_tier_words_and_noise_words(dataset):
    assert tier_words(dataset.spec, 2) == "tier 2"
    model = ci.model.NoiseModel("lognormal", cv=0.05)
    assert noise_model_words(model) == "lognormal, cv 0.05 (assumed)"
    assert "grid" in noise_model_words(ci.model.NoiseModel("grid"), 5.263)


def test_unit_label_when_the_id_is_the_name():
    class Fake:
        meta = pd.DataFrame({"name_en": ["Norway", "Beijing"]}, index=["Norway", "北京"])
    assert unit_label(Fake, "Norway") == "Norway"
    assert unit_label(Fake, "北京") == "北京 Beijing"
    assert unit_label(Fake, "X") == "X"


# -- every result object --------------------------------------------------------------------


@pytest.fixture(scope="module")
def study_2025():
    ds = ci.load_dataset(DATA)
    rf = load_runfile(ROOT / "analyses" / "sensitivity.toml")
    model = rf.model.replace(samples=2000, construction=None, combined=None)
    return ci.Study(ds, model, seed=3)


CALLS = {
    "reproduce": lambda s: s.reproduce(),
    "montecarlo": lambda s: s.montecarlo(samples=2000),
    "sobol": lambda s: s.sobol(n=64, n_boot=20),
    "extremes": lambda s: s.extremes(),
    "noise": lambda s: s.noise(replicates=100),
    "rank_ci": lambda s: s.rank_ci(n_boot=100, noise=s.noise(replicates=100)),
    "leave_one_out": lambda s: s.leave_one_out(),
    "importance": lambda s: s.importance(),
    "resample": lambda s: s.resample(replicates=100),
    "scenarios": lambda s: s.scenarios(),
}


def test_every_study_method_is_covered():
    methods = {name for name in dir(ci.Study) if not name.startswith("_")
               and callable(getattr(ci.Study, name))} - {"run", "from_runfile", "verdicts"}
    # (verdicts() returns verdicts.csv itself, a DataFrame, not a result object)
    assert methods == set(CALLS)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_result_draws_tabulates_summarises_and_shows(study_2025, name):
    r = CALLS[name](study_2025)
    chart = r.chart()
    assert chart is not None
    both = alt.hconcat(r.chart(), r.chart())
    spec = both.to_dict()
    assert "hconcat" in spec
    assert isinstance(r.table(), pd.DataFrame) and len(r.table())
    assert isinstance(r.summary(), dict)
    json.dumps(r.summary(), ensure_ascii=False, default=str)
    html = r._repr_html_()
    assert isinstance(html, str) and html.startswith("<table") and "</table>" in html


# -- the reproduction text ------------------------------------------------------------------


def test_reproduce_text_ends_with_its_verdict(dataset):
    result = audit(dataset)
    last = result.text().rstrip("\n").splitlines()[-1]
    counts = result.summary()["by_check"]
    n = result.summary()["inconsistencies"]
    assert last.startswith(f"{n} inconsistencies: ")
    for kind, k in counts.items():
        assert (f"{k} {kind.replace('_', ' ')}" in last) == (k > 0)


def test_reproduce_verdict_names_units_not_ranked():
    result = audit(ci.load_dataset(ROOT / "data" / "hdi-2021"))
    last = result.text().splitlines()[-1]
    assert last.endswith(f"{len(result.not_ranked)} units not ranked")


def test_page_tables_and_summary_say_the_runs_coverage_and_qualify_bounds():
    """HDI at coverage 0.90 (its extremes are inner bounds): no "95%" and no unqualified
    "exact best" anywhere in the page, the CSVs or summary.json."""
    from cityindex.model import NoiseSettings, RankCISettings

    study = ci.Study.from_runfile(ROOT / "analyses" / "hdi.toml")
    m = study.model.replace(samples=2000, sobol=None, importance=None,
                            noise=NoiseSettings(200, study.model.noise.models),
                            rank_ci=RankCISettings(coverage=0.90, n_boot=100))
    audit = ci.Study(study.dataset, m, seed=1).run()
    tables = audit.tables()
    summary = audit.summary(tables)
    html = audit.report_files(tables, summary, static=False)["index.html"].decode()
    text = html + json.dumps(summary, ensure_ascii=False) + "".join(
        t.to_csv() for t in tables.values())
    assert "95%" not in text
    assert "90% simultaneous" in text
    assert not re.search(r"exact best", text)
    assert "best–worst bounds" in text
