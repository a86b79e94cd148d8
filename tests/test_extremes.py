"""Exact rank bounds (ERA), dominance, importance and coherence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import rankdata
from synth import make_folder, one_level_spec

from cityindex.data import load_dataset
from cityindex.model import UncertaintyModel
from cityindex.sensitivity.dominance import dominance_matrix, dominance_tables
from cityindex.sensitivity.engine import nominal_scores
from cityindex.sensitivity.extremes import extreme_ranks, witness_ranks
from cityindex.sensitivity.importance import (
    coherence_table,
    correlation_ratio,
    cronbach_alpha,
    importance_table,
)
from cityindex.sensitivity.montecarlo import run_montecarlo

THREE = one_level_spec([0.5, 0.3, 0.2], (3, 3))


def grid_extremes(x: np.ndarray, nominal: np.ndarray, delta: float, levels: int = 161):
    """Brute force: every multiplier combination on a grid (box vertices included)."""
    grid = np.linspace(1 - delta, 1 + delta, levels)
    m = np.array(list(itertools.product(grid, repeat=nominal.size)))
    best = np.full(x.shape[0], x.shape[0])
    worst = np.zeros(x.shape[0], dtype=int)
    for chunk in np.array_split(m, 40):
        w = nominal * chunk
        w /= w.sum(axis=1, keepdims=True)
        s = w @ x.T                                                      # (G, U)
        best = np.minimum(best, (s[:, None, :] > s[:, :, None]).sum(axis=2).min(axis=0) + 1)
        worst = np.maximum(worst, (s[:, None, :] >= s[:, :, None]).sum(axis=2).max(axis=0))
    return best, worst


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_extremes_match_grid_brute_force(tmp_path, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, size=(9, 3))
    ds = load_dataset(make_folder(tmp_path / "d", spec_text=THREE, indicators=x))
    table = extreme_ranks(ds, 0.5, workers=1)
    best, worst = grid_extremes(ds.indicators.to_numpy(), np.array([0.5, 0.3, 0.2]), 0.5)
    # a grid can only under-reach the extremes (61 levels does, for seed 2); 161 reaches them
    np.testing.assert_array_equal(table["best"], best)
    np.testing.assert_array_equal(table["worst"], worst)


def test_witnesses_reach_the_stated_ranks_and_are_admissible(dataset):
    table = extreme_ranks(dataset, 0.25)
    best, worst = witness_ranks(dataset, table)
    np.testing.assert_array_equal(best, table["best"])
    np.testing.assert_array_equal(worst, table["worst"])
    spec = dataset.spec
    for prefix in ("best_w_", "worst_w_"):
        w = table[[f"{prefix}{i}" for i in spec.indicators]].to_numpy()
        np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-9)
        # within each pillar the split ratio must come from multipliers in [0.75, 1.25]
        for pillar in spec.children(spec.root):
            kids = [spec.indicators.index(k) for k in spec.children(pillar)]
            nominal = np.array([spec.nodes[k].weight for k in spec.children(pillar)])
            ratio = (w[:, kids] / nominal)
            assert (ratio.max(axis=1) / ratio.min(axis=1) <= 1.25 / 0.75 + 1e-6).all()
        pillars = np.column_stack([w[:, [spec.indicators.index(k) for k in
                                         spec.leaves_under(p)]].sum(axis=1)
                                   for p in spec.children(spec.root)])
        nominal = np.array([spec.nodes[p].weight for p in spec.children(spec.root)])
        ratio = pillars / nominal
        assert (ratio.max(axis=1) / ratio.min(axis=1) <= 1.25 / 0.75 + 1e-6).all()


def test_every_weight_only_monte_carlo_rank_lies_inside_the_bounds(dataset):
    table = extreme_ranks(dataset, 0.25)
    model = UncertaintyModel(weights="uniform", delta=0.25, samples=60000)
    mc = run_montecarlo(dataset, model, 5).ranks()
    assert (mc["mc_min"] >= table["best"]).all()
    assert (mc["mc_max"] <= table["worst"]).all()
    assert (table["best"] <= mc["nominal_rank"]).all()
    assert (mc["nominal_rank"] <= table["worst"]).all()


def test_dominance_by_hand_and_consistent_with_extremes(dataset):
    x = np.array([[3, 3], [2, 3], [3, 1], [1, 1], [2, 3]])
    d = dominance_matrix(x)
    expected = {(0, 1), (0, 2), (0, 3), (0, 4), (1, 3), (2, 3), (4, 3)}
    assert set(zip(*np.nonzero(d))) == expected  # 1 and 4 are equal: neither dominates
    pairs, summary = dominance_tables(dataset)
    table = extreme_ranks(dataset, 0.25)
    assert (summary["best_possible_rank"] <= table["best"]).all()
    assert (summary["worst_possible_rank"] >= table["worst"]).all()
    assert len(pairs) == int(summary["dominates"].sum())


def test_correlation_ratio_recovers_known_dependence():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 400)
    noise = rng.uniform(0, 1, 400)
    y = np.sin(3 * x) + 0.1 * noise
    # analytic: V[sin 3x] / (V[sin 3x] + 0.01 V[U]) for x, U ~ U(0, 1)
    e1 = (1 - np.cos(3)) / 3
    e2 = 0.5 - np.sin(6) / 12
    v = e2 - e1**2
    truth = v / (v + 0.01 / 12)
    assert correlation_ratio(x, y, 0.3) == pytest.approx(truth, abs=0.05)
    assert correlation_ratio(noise, y, 0.3) < 0.05


def test_cronbach_alpha_by_hand():
    items = np.array([[1, 2, 2], [2, 3, 3], [3, 3, 4], [4, 5, 4], [5, 5, 6.0]])
    k = 3
    item_var = items.var(axis=0, ddof=1).sum()
    total_var = items.sum(axis=1).var(ddof=1)
    assert cronbach_alpha(items) == pytest.approx(k / (k - 1) * (1 - item_var / total_var))
    # perfectly parallel items have alpha 1
    assert cronbach_alpha(np.column_stack([items[:, 0]] * 4)) == pytest.approx(1.0)


def test_importance_and_coherence_tables(dataset):
    y = nominal_scores(dataset).to_numpy()
    imp = importance_table(dataset, y)
    ind = imp[imp.level == "indicator"]
    assert ind["weight_share"].sum() == pytest.approx(1.0)
    assert ind["importance_share"].sum() == pytest.approx(1.0)
    assert ((imp["main_effect"] >= 0) & (imp["main_effect"] <= 1)).all()
    coh = coherence_table(dataset, y)
    eig = coh[coh.kind == "pca_eigenvalue"]["value"]
    assert eig.sum() == pytest.approx(len(dataset.spec.indicators))
    pearson = coh[(coh.kind == "pearson") & (coh.a == "search") & (coh.b == "dissemination")]
    expected = np.corrcoef(dataset.indicators["search"], dataset.indicators["dissemination"])
    assert pearson["value"].iloc[0] == pytest.approx(expected[0, 1])
    # flags only ever name indicator pairs inside one pillar
    flagged = coh[(coh.flag != "") & coh.kind.isin(["pearson", "spearman"])]
    parent = {n: dataset.spec.nodes[n].parent for n in dataset.spec.indicators}
    assert all(parent.get(a) == parent.get(b) and a in parent
               for a, b in zip(flagged.a, flagged.b))


def test_rankdata_helper_sanity():
    assert list(rankdata([-3, -1, -3], method="min")) == [1, 3, 1]
