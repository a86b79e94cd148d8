"""Confidence sets for ranks: invariants and simulated coverage with known true values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from cityindex.sensitivity.rankci import rank_confidence_sets, tau_best, tau_worst


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(4)
    p = 25
    est = pd.Series(np.sort(rng.normal(0, 2, p))[::-1], index=[f"u{i}" for i in range(p)])
    a = rng.normal(size=(p, p)) * 0.2
    cov = np.diag(rng.uniform(0.3, 1.5, p)) + a @ a.T  # correlated estimates
    return est, cov


def test_invariants(problem):
    est, cov = problem
    sets = {(sim, sd): rank_confidence_sets(est, cov, simultaneous=sim, stepdown=sd,
                                            n_boot=2000, seed=1)
            for sim in (False, True) for sd in (False, True)}
    for cs in sets.values():
        assert (cs["lower"] <= cs["rank"]).all() and (cs["rank"] <= cs["upper"]).all()
        assert list(cs.index) == list(est.index)
        assert cs.dtypes.map(lambda t: np.issubdtype(t, np.integer)).all()
    for sd in (False, True):   # marginal sets inside simultaneous ones
        m, s = sets[(False, sd)], sets[(True, sd)]
        assert (s["lower"] <= m["lower"]).all() and (m["upper"] <= s["upper"]).all()
    for sim in (False, True):  # stepdown sets inside single-step ones
        step, single = sets[(sim, True)], sets[(sim, False)]
        assert (single["lower"] <= step["lower"]).all()
        assert (step["upper"] <= single["upper"]).all()
    one = rank_confidence_sets(est, cov, kind="lower", n_boot=2000, seed=1)
    assert (one["upper"] == len(est)).all()
    assert (one["lower"] <= one["rank"]).all()
    up = rank_confidence_sets(est, cov, kind="upper", n_boot=2000, seed=1)
    assert (up["lower"] == 1).all() and (up["upper"] >= up["rank"]).all()


def test_tau_sets_grow_with_tau(problem):
    est, cov = problem
    previous = None
    for tau in (1, 3, 5, 10, 20):
        best = tau_best(est, cov, tau, n_boot=2000, seed=2)
        assert best.sum() >= tau
        if previous is not None:
            assert (previous <= best).all()
        previous = best
    worst = tau_worst(est, cov, 3, n_boot=2000, seed=2)
    assert worst.iloc[-3:].all()


def test_known_differences_are_decided_exactly():
    # zero variance: the ranks are known exactly
    cs = rank_confidence_sets(np.array([3.0, 1.0, 2.0]), np.zeros((3, 3)), n_boot=200)
    assert list(cs["lower"]) == [1, 3, 2] and list(cs["upper"]) == [1, 3, 2]


def test_simultaneous_coverage_at_least_nominal_with_ties():
    theta = np.array([5.0, 4.0, 4.0, 3.0, 2.0, 2.0, 1.0, 0.0])   # ties: hardest case
    true_rank = rankdata(-theta, method="min")
    cov = np.diag(np.full(theta.size, 0.6**2))
    rng = np.random.default_rng(10)
    sims, covered, top_covered = 300, 0, 0
    true_top3 = set(np.flatnonzero(true_rank <= 3))
    for s in range(sims):
        est = theta + rng.normal(0, 0.6, theta.size)
        cs = rank_confidence_sets(est, cov, coverage=0.95, simultaneous=True, stepdown=True,
                                  n_boot=500, seed=s)
        covered += bool(((cs["lower"] <= true_rank) & (true_rank <= cs["upper"])).all())
        best = tau_best(est, cov, 3, coverage=0.95, n_boot=500, seed=s)
        top_covered += true_top3 <= set(np.flatnonzero(best.to_numpy()))
    se = np.sqrt(0.95 * 0.05 / sims)
    assert covered / sims >= 0.95 - 2.5 * se
    assert top_covered / sims >= 0.95 - 2.5 * se
