"""Lenses and verdicts: the committed report's weights lens against a naive sampler written
here from scratch, verdict precedence, the construction Monte Carlo's stated odds, and the
Sobol' leave-one-out trigger."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from scipy.stats import rankdata

import cityindex as ci
from cityindex.model import ConstructionSettings
from cityindex.sensitivity.index_sobol import leave_one_out_trigger
from cityindex.sensitivity.scenarios import worst_alternative
from cityindex.verdict import VERDICTS, fragile_table, verdict_table

REPORT = ROOT / "reports" / "sensitivity"


def naive_weights_lens(ds, delta: float, n: int, seed: int) -> np.ndarray:
    """P(published tier) for every city under the weights lens, written plainly: each of
    the 9 node weights times U(1 - delta, 1 + delta), renormalised among its siblings by
    hand, effective weight = pillar weight x weight inside the pillar, composite = published
    indicator scores @ effective weights, ranks by scipy's rankdata (ties "min"), tiers of
    20 / 30 / 56. Independent of ScenarioSampler, RankFolder and the histograms."""
    pillars = {"communication": (0.30, {"search": 0.30, "dissemination": 0.70}),
               "influence": (0.50, {"mainstream_media": 0.30, "social_media": 0.70}),
               "recognition": (0.20, {"favorability": 0.60, "attractiveness": 0.40})}
    # the spec says the same (a typo here would be a test bug, not an engine bug)
    for p, (w, kids) in pillars.items():
        assert ds.spec.nodes[p].weight == w
        assert {k: ds.spec.nodes[k].weight for k in kids} == kids
    columns = [k for _, kids in pillars.values() for k in kids]
    x = ds.indicators[columns].to_numpy()
    published = ds.published_ranks["image"].to_numpy(dtype=int)
    tier_of = lambda r: np.where(r <= 20, 1, np.where(r <= 50, 2, 3))  # noqa: E731
    pub_tier = tier_of(published)
    rng = np.random.default_rng(seed)
    stays = np.zeros(len(published))
    done = 0
    while done < n:
        m = min(50_000, n - done)
        pw = np.array([w for w, _ in pillars.values()]) * rng.uniform(1 - delta, 1 + delta,
                                                                      (m, 3))
        pw /= pw.sum(axis=1, keepdims=True)
        eff = []
        for j, (_, kids) in enumerate(pillars.values()):
            kw = np.array(list(kids.values())) * rng.uniform(1 - delta, 1 + delta, (m, 2))
            kw /= kw.sum(axis=1, keepdims=True)
            eff.append(pw[:, [j]] * kw)
        eff = np.hstack(eff)                                   # (m, 6), rows sum to 1
        scores = eff @ x.T                                     # (m, 106)
        ranks = rankdata(-scores, method="min", axis=1)
        stays += (tier_of(ranks) == pub_tier).sum(axis=0)
        done += m
    return stays / n


@pytest.fixture(scope="module")
def committed():
    ranks = pd.read_csv(REPORT / "ranks.csv")
    verdicts = pd.read_csv(REPORT / "verdicts.csv", keep_default_na=False)
    extremes = pd.read_csv(REPORT / "extremes.csv")
    return ranks, verdicts, extremes


def test_committed_weights_lens_agrees_with_a_naive_sampler(dataset, committed):
    """Each city's P(published tier) under the weights lens, and the number of
    weight-sensitive cities, agree with the naive sampler within Monte-Carlo error:
    |p_report - p_naive| <= 5 standard errors of the difference (plus 1e-9), and every city
    whose naive P is more than 5 standard errors from the threshold is classified alike."""
    ranks, verdicts, extremes = committed
    w = ranks[ranks["lens"] == "weights"].set_index("unit").loc[dataset.units]
    n_report = int(pd.read_json(REPORT / "summary.json", typ="series")["lenses"]
                   ["weights"]["montecarlo"]["scenarios"])
    n = 200_000
    p_naive = naive_weights_lens(dataset, 0.25, n, seed=20251127)
    p_report = w["p_published_tier"].to_numpy()
    p = (p_naive * n + p_report * n_report) / (n + n_report)
    se = np.sqrt(p * (1 - p) * (1 / n + 1 / n_report))
    assert np.all(np.abs(p_report - p_naive) <= 5 * se + 1e-9), \
        pd.DataFrame({"report": p_report, "naive": p_naive, "se": se},
                     index=dataset.units)[np.abs(p_report - p_naive) > 5 * se + 1e-9]
    thr = 0.90
    not_guaranteed = ~extremes.set_index("unit").loc[dataset.units, "tier_guaranteed"]
    naive_sensitive = not_guaranteed.to_numpy() & (p_naive < thr)
    v = verdicts.set_index("unit").loc[dataset.units, "verdict"]
    report_sensitive = (v == "weight-sensitive").to_numpy()
    clear = np.abs(p_naive - thr) > 5 * np.sqrt(thr * (1 - thr) / n)
    assert np.array_equal(naive_sensitive[clear], report_sensitive[clear])
    assert abs(int(naive_sensitive.sum()) - int(report_sensitive.sum())) <= int((~clear).sum())


def test_committed_report_headline_cities_are_not_weight_sensitive(committed):
    """北京, 上海 and 深圳 keep tier 1 under every admissible weighting (exact bounds) and
    are never weight-sensitive; under the weights lens no Monte-Carlo rank leaves the exact
    best-worst range (both describe the same set of weightings)."""
    ranks, verdicts, extremes = committed
    v = verdicts.set_index("unit")
    for city in ("北京", "上海", "深圳"):
        assert v.at[city, "verdict"] != "weight-sensitive", v.loc[city].to_dict()
        assert v.at[city, "era_worst"] <= 20
    w = ranks[ranks["lens"] == "weights"].merge(extremes[["unit", "best", "worst"]], on="unit")
    assert (w["mc_min"] >= w["best"]).all() and (w["mc_max"] <= w["worst"]).all()
    # the weights lens varies nothing but the weights
    summary = pd.read_json(REPORT / "summary.json", typ="series")
    assert list(summary["lenses"]["weights"]["montecarlo"]["scenarios_by_choice"]) == \
        ["published/published"]
    # fragile.csv is verdicts.csv without the robust rows
    fragile = pd.read_csv(REPORT / "fragile.csv", keep_default_na=False)
    assert list(fragile["unit"]) == list(verdicts.loc[verdicts.verdict != "robust", "unit"])
    assert set(verdicts["verdict"]) <= set(VERDICTS)
    # the arithmetic errata (珠海, 长治) and the min-max indicators whose minimum is not 0
    assert set(verdicts.loc[verdicts["erratum"], "unit"]) == {"珠海", "长治", "开封", "南充"}


def _frames(ds, rows: dict[str, dict]):
    """Synthetic lens tables: every city safe, except the given overrides."""
    units = ds.units
    pub = ds.published_ranks["image"].to_numpy(dtype=int)
    weights = pd.DataFrame({"unit": units, "p_published_tier": 1.0, "p05": pub, "p95": pub})
    extremes = pd.DataFrame({"unit": units, "best": pub, "worst": pub,
                             "tier_guaranteed": True})
    rank_ci = pd.DataFrame({"unit": units, "simultaneous_lower": pub,
                            "simultaneous_upper": pub, "tier_certain": True})
    scen = pd.DataFrame({"unit": np.repeat(units, 2), "scenario": ["a", "b"] * len(units),
                         "kind": "normalisation", "shift": 0, "tier_changed": False})
    for unit, r in rows.items():
        i = units.index(unit)
        if "p" in r:
            weights.loc[i, "p_published_tier"] = r["p"]
        if r.get("not_guaranteed"):
            extremes.loc[i, ["worst", "tier_guaranteed"]] = [pub[i] + 40, False]
        if r.get("noise"):
            rank_ci.loc[i, ["simultaneous_upper", "tier_certain"]] = [pub[i] + 40, False]
        if r.get("construction"):
            scen.loc[(scen.unit == unit) & (scen.scenario == "b"),
                     ["shift", "tier_changed"]] = [35, True]
    return weights, extremes, rank_ci, worst_alternative(scen.set_index(scen.index))


def test_verdict_precedence(dataset):
    rows = {
        "北京": {"p": 0.5, "not_guaranteed": True, "noise": True, "construction": True},
        "上海": {"p": 0.5, "noise": True},                 # guaranteed: not weight-sensitive
        "深圳": {"p": 0.95, "not_guaranteed": True, "construction": True},  # P high enough
        "青岛": {"noise": True, "construction": True},
        "广州": {"construction": True},
    }
    w, e, c, s = _frames(dataset, rows)
    table = verdict_table(dataset, w, 0.9, e, c, s)
    v = table.set_index("unit")["verdict"]
    assert v["北京"] == "weight-sensitive"
    assert v["上海"] == "noise-limited"
    assert v["深圳"] == "construction-sensitive"
    assert v["青岛"] == "noise-limited"
    assert v["广州"] == "construction-sensitive"
    assert (v.drop(list(rows)) == "robust").all()
    reasons = table.set_index("unit")["reasons"]
    # every condition that holds is a reason, with its numbers
    assert "weights:" in reasons["北京"] and "noise:" in reasons["北京"] \
        and "construction:" in reasons["北京"] and "0.500" in reasons["北京"]
    assert "not guaranteed" in reasons["深圳"] and "P(stays) = 0.950" in reasons["深圳"]
    assert reasons.drop(list(rows)).eq("").all()
    assert table.set_index("unit").at["广州", "construction_worst"] == "b"
    assert list(fragile_table(table)["unit"]) == list(rows)


def test_construction_monte_carlo_draws_the_stated_odds(dataset):
    model = ci.UncertaintyModel(
        normalisations=("published", "rank"), aggregations=("arithmetic", "geometric"),
        construction=ConstructionSettings(
            samples=20_000, normalisation={"published": 0.7, "rank": 0.3},
            aggregation={"arithmetic": 1.0}, leave_one_out=0.0))
    res = ci.Study(dataset, model, seed=5).montecarlo(lens="construction")
    assert res.lens == "construction" and res.n == 20_000
    counts = dict(zip(res.normalisations, res.choice_counts[:, 0]))
    assert res.aggregations == ("arithmetic",)
    assert abs(counts["published"] / 20_000 - 0.7) < 0.02
    # nominal weights, published normalisation: exactly the nominal ranking in those draws,
    # so P(rank = nominal) is at least P(published) for every city
    ranks = res.ranks()
    assert (ranks["p_published_rank"] >= 0).all()
    fixed = ci.Study(dataset, model.replace(construction=ConstructionSettings(
        samples=2048, normalisation={"published": 1.0}, aggregation={"arithmetic": 1.0})),
        seed=5).montecarlo(lens="construction").ranks()
    assert (fixed["mc_min"] == fixed["nominal_rank"]).all()
    assert (fixed["mc_max"] == fixed["nominal_rank"]).all()


@pytest.mark.parametrize("kwargs,argument", [
    ({"normalisation": {"published": 0.5, "rank": 0.6}}, "construction.normalisation"),
    ({"normalisation": {"log": 1.0}}, "construction.normalisation"),
    ({"aggregation": {"arithmetic": -0.1, "geometric": 1.1}},
     "construction.aggregation['arithmetic']"),
    ({"leave_one_out": 1.5}, "construction.leave_one_out"),
    ({"samples": 0}, "construction.samples"),
])
def test_construction_settings_validate(kwargs, argument):
    with pytest.raises(ci.ModelError) as info:
        ConstructionSettings(**kwargs)
    assert info.value.argument == argument


def test_leave_one_out_trigger_and_its_setting():
    u = np.array([0.0, 0.49, 0.5, 0.58, 0.59, 0.99, 1.0])
    np.testing.assert_array_equal(leave_one_out_trigger(u, 6, 0.5), [0, 0, 1, 1, 2, 6, 6])
    # equal odds over "none" and 6 indicators is the old trigger
    v = np.linspace(0, 1, 7001)
    share = np.bincount(leave_one_out_trigger(v, 6, 1 / 7), minlength=7) / v.size
    np.testing.assert_allclose(share, 1 / 7, atol=1e-3)
    assert ci.SobolSettings().leave_one_out_none == 0.5
    for bad in (1.0, -0.1, "half"):
        with pytest.raises(ci.ModelError, match="leave_one_out_none"):
            ci.SobolSettings(leave_one_out_none=bad)


def test_weights_lens_ignores_the_listed_alternatives(dataset):
    """The weights lens draws the same weights whatever alternatives the model lists, and
    only at the index's own construction."""
    a = ci.Study(dataset, ci.UncertaintyModel(samples=4096), seed=3).montecarlo()
    b = ci.Study(dataset, ci.UncertaintyModel(
        samples=4096, normalisations=("published", "rank"),
        aggregations=("arithmetic", "geometric")), seed=3).montecarlo(lens="weights")
    pd.testing.assert_frame_equal(a.ranks(), b.ranks())
    assert b.summary()["scenarios_by_choice"] == {"published/published": 4096}
