"""Monte-Carlo engine: invariants, chunk invariance, and agreement with independent brute
force on small indices."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from synth import make_folder, one_level_spec

from cityindex.data import load_dataset
from cityindex.errors import ComputationError
from cityindex.model import UncertaintyModel
from cityindex.sensitivity.leave_one_out import leave_one_out, weights_without
from cityindex.sensitivity.montecarlo import run_montecarlo

ONE_LEVEL = one_level_spec([0.5, 0.5], (2, 3))


def config(samples=20000, model="uniform", norms=("published",), aggs=("arithmetic",),
           delta=0.25, offset=1.0) -> UncertaintyModel:
    return UncertaintyModel(weights=model, delta=delta, normalisations=norms,
                            aggregations=aggs, geometric_offset=offset, samples=samples)


SEED = 3


def test_fixed_weights_reproduce_nominal_rank_exactly(dataset):
    res = run_montecarlo(dataset, config(samples=3000, model="fixed"), SEED)
    table = res.ranks()
    assert (table["mc_min"] == table["nominal_rank"]).all()
    assert (table["mc_max"] == table["nominal_rank"]).all()
    assert (table["median"] == table["nominal_rank"]).all()
    # nominal differs from published only where the audit found the 珠海 erratum
    differs = table.loc[table.nominal_rank != table.published_rank, "unit"]
    assert set(differs) == {"珠海", "南京"}


def test_probabilities_are_consistent(dataset):
    res = run_montecarlo(dataset, config(samples=8192, norms=("published", "rank"),
                                         aggs=("arithmetic", "geometric")), SEED)
    assert res.lens == "combined"  # the model lists alternatives: the joint run
    acc = res.acceptability().drop(columns=["lens", "unit"]).to_numpy()
    np.testing.assert_allclose(acc.sum(axis=1), 1.0)
    np.testing.assert_allclose(acc.sum(axis=0), 1.0)  # no ties: each rank taken once
    table = res.ranks()
    np.testing.assert_allclose(table[["p_tier_1", "p_tier_2", "p_tier_3"]].sum(axis=1), 1.0)
    assert (table["p05"] <= table["median"]).all() and (table["median"] <= table["p95"]).all()
    assert (table["mc_min"] <= table["p05"]).all() and (table["p95"] <= table["mc_max"]).all()
    assert res.choice_counts.sum() == 8192
    groups = res.groups()
    for _, g in groups.groupby(["group_kind", "group"]):
        assert sorted(g["nominal_group_rank"]) == list(range(1, len(g) + 1))


def test_chunk_size_and_workers_do_not_change_results(dataset):
    cfg = config(samples=5000, norms=("published", "zscore"), aggs=("arithmetic", "geometric"))
    a = run_montecarlo(dataset, cfg, SEED, chunk_blocks=1, workers=1)
    b = run_montecarlo(dataset, cfg, SEED, chunk_blocks=3, workers=2)
    np.testing.assert_array_equal(a.folder.overall.counts, b.folder.overall.counts)
    np.testing.assert_array_equal(a.folder.shift_counts, b.folder.shift_counts)
    for x, y in zip(a.folder.partition_counts, b.folder.partition_counts):
        np.testing.assert_array_equal(x, y)
    # the default chunking (one block per task here: five blocks over two workers)
    c = run_montecarlo(dataset, cfg, SEED, workers=2)
    np.testing.assert_array_equal(a.folder.overall.counts, c.folder.overall.counts)
    np.testing.assert_array_equal(a.folder.shift_counts, c.folder.shift_counts)


def test_default_chunks_keep_every_local_worker_busy():
    from cityindex.sensitivity.backends import CHUNK_BLOCKS, default_chunk_blocks

    assert default_chunk_blocks(489, 2) == CHUNK_BLOCKS      # 10^6 scenarios: full tasks
    assert default_chunk_blocks(5, 2) == 1                   # 10^4: five tasks, not one
    assert default_chunk_blocks(20, 2) == 5                  # four tasks for two workers
    assert default_chunk_blocks(1, 4) == 1
    assert default_chunk_blocks(5, 2, "dask") == CHUNK_BLOCKS  # each Dask task returns counts


def brute_force_probabilities(x: np.ndarray, grid: int = 200001) -> np.ndarray:
    """Exact-in-the-limit P(rank) for two indicators with w ~ Uniform(0, 1) on the simplex:
    integrate the rank indicator over a fine grid of w (independent of the engine)."""
    w = (np.arange(grid) + 0.5) / grid
    scores = np.outer(w, x[:, 0]) + np.outer(1 - w, x[:, 1])
    ranks = np.vstack([rankdata(-s, method="min") for s in scores[::50]]).astype(int)
    n = x.shape[0]
    probs = np.zeros((n, n))
    for r in range(1, n + 1):
        probs[:, r - 1] = (ranks == r).mean(axis=0)
    return probs


def test_simplex_weights_agree_with_brute_force(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 100, size=(7, 2))
    ds = load_dataset(make_folder(tmp_path / "d", spec_text=ONE_LEVEL, indicators=x))
    n = 40000
    res = run_montecarlo(ds, config(samples=n, model="simplex"), SEED)
    est = res.folder.overall.probabilities()
    exact = brute_force_probabilities(ds.indicators.to_numpy())
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / n)
    assert np.all(np.abs(est - exact) <= 4.5 * se + 1e-3)


def test_uniform_weights_agree_with_independent_sampler(tmp_path):
    """A naive per-scenario loop with its own generator, same model, same small index."""
    ds = load_dataset(make_folder(tmp_path / "d", n_units=9, seed=5))
    n = 30000
    res = run_montecarlo(ds, config(samples=n, model="uniform", delta=0.5), SEED)
    spec = ds.spec
    rng = np.random.default_rng(999)
    x = ds.indicators[spec.indicators].to_numpy()
    nominal = spec.nominal_weights()
    counts = np.zeros((9, 9))
    for _ in range(4000):
        w = nominal * rng.uniform(0.5, 1.5, size=nominal.size)
        for agg in spec.aggregates:
            kids = spec.children(agg)
            w[kids] = w[kids] / w[kids].sum()
        eff = spec.effective_weights(w).reindex(spec.indicators).to_numpy()
        r = rankdata(-(x @ eff), method="min").astype(int)
        counts[np.arange(9), r - 1] += 1
    naive = counts / 4000
    est = res.folder.overall.probabilities()
    se = np.sqrt(np.maximum(naive * (1 - naive), 1e-12) / 4000)
    assert np.all(np.abs(est - naive) <= 4.5 * se + 2e-3)


def test_geometric_refuses_nonpositive_values(tmp_path):
    x = np.array([[0.0, 50.0, 10, 20], [10.0, 0.0, 30, 40], [5.0, 5.0, 60, 1]])
    ds = load_dataset(make_folder(tmp_path / "d", indicators=x))
    with pytest.raises(ComputationError, match=r"offset 0\.0"):
        run_montecarlo(ds, config(samples=100, aggs=("geometric",), offset=0.0), SEED)
    # with the default offset every scenario is computed, none dropped
    res = run_montecarlo(ds, config(samples=100, aggs=("geometric",), offset=1.0), SEED)
    assert res.n == 100


def test_geometric_equals_hand_computation(tmp_path):
    x = np.array([[10.0, 50.0, 20, 30], [40.0, 5.0, 30, 60]])
    ds = load_dataset(make_folder(tmp_path / "d", indicators=x))
    from cityindex.score import node_scores

    got = node_scores(ds.spec, ds.indicators, method="geometric", offset=1.0)
    # total = [(x1+1)^.25 (x2+1)^.75]^.6 * [(x3+1)^.5 (x4+1)^.5]^.4 - 1
    u = x[0] + 1
    expected = (u[0] ** 0.25 * u[1] ** 0.75) ** 0.6 * (u[2] ** 0.5 * u[3] ** 0.5) ** 0.4 - 1
    assert got.iloc[0]["total"] == pytest.approx(expected)


def test_leave_one_out_weights_and_ranks(tmp_path, dataset):
    w = weights_without(dataset.spec, "search")
    assert w["search"] == 0 and w["dissemination"] == pytest.approx(1.0)
    assert w["communication"] == pytest.approx(0.3)  # the pillar keeps its weight
    table = leave_one_out(dataset)
    eff = dataset.spec.effective_weights(w).reindex(dataset.spec.indicators).to_numpy()
    expected = rankdata(-(dataset.indicators.to_numpy() @ eff), method="min")
    np.testing.assert_array_equal(table["rank_without_search"], expected)
    assert (table["shift_without_search"] == table["rank_without_search"]
            - table["nominal_rank"]).all()


def test_leave_one_out_removes_an_emptied_parent(tmp_path):
    spec_text = ONE_LEVEL.replace('[nodes.x2]\nparent = "total"\nweight = 0.5\nnormalisation',
                                  '[nodes.p]\nparent = "total"\nweight = 0.5\n'
                                  '[nodes.x2]\nparent = "p"\nweight = 1.0\nnormalisation')
    ds = load_dataset(make_folder(tmp_path / "d", spec_text=spec_text,
                                  indicators=np.array([[1.0, 2.0], [3.0, 1.0]])))
    w = weights_without(ds.spec, "x2")
    assert w["x2"] == 0 and w["p"] == 0 and w["x1"] == pytest.approx(1.0)


def test_config_is_a_plain_record():
    cfg = config()
    assert cfg.replace(samples=5).samples == 5
