"""The compiled pair maxima (cityindex.sensitivity.pair_maxima) against their numpy paths and
against brute force: the same values, maximisers (first on ties) and directions, with ties
in the draws, untested pairs, rows with nothing tested and every family kind; and the whole
rank confidence sets identical under either path."""

from __future__ import annotations

import numpy as np
import pytest

from cityindex.sensitivity import pair_maxima
from cityindex.sensitivity.rankci_stream import Covariance, streamed_sets

pytestmark = pytest.mark.skipif(not pair_maxima.enabled(), reason="numba not installed")


def _case(seed: int, n_boot: int = 40, p: int = 30, rows: int = 9, lo: int = 5):
    rng = np.random.default_rng(seed)
    # draws on a coarse grid: many exact ties among the statistics
    z = np.round(rng.standard_normal((n_boot, p)) * 2) / 2
    sigma = np.round(rng.uniform(0.5, 2.0, (rows, p)) * 2) / 2
    sigma[rng.random((rows, p)) < 0.2] = np.inf         # untested pairs
    sigma[np.arange(rows), lo + np.arange(rows)] = np.inf  # a unit against itself
    sigma[2] = np.inf                                  # a row with nothing tested
    return z, sigma, lo


def _paths(monkeypatch, fn):
    """fn() under the compiled path, then under the numpy path."""
    compiled = fn()
    monkeypatch.setenv("CITYINDEX_KERNELS", "numpy")
    assert not pair_maxima.enabled()
    reference = fn()
    monkeypatch.delenv("CITYINDEX_KERNELS")
    return compiled, reference


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", list(pair_maxima.KINDS))
def test_first_maxima_match_numpy_and_brute_force(monkeypatch, seed, kind):
    z, sigma, lo = _case(seed)
    compiled, reference = _paths(monkeypatch,
                                 lambda: pair_maxima.first_maxima(z, lo, sigma, kind))
    _same(compiled, reference)
    stat, arg, up = compiled
    for b in range(z.shape[0]):                         # brute force, one cell at a time
        for j in range(sigma.shape[0]):
            cands = []
            for k in range(z.shape[1]):
                r = (z[b, k] - z[b, lo + j]) / sigma[j, k]
                if kind == "two-sided":
                    cands.append((abs(r), k, r >= 0))
                elif np.isfinite(sigma[j, k]):
                    cands.append((r if kind == "lower" else -r, k, kind == "lower"))
            if not cands:
                assert (stat[b, j], arg[b, j]) == (-np.inf, 0)
                continue
            best = max(c[0] for c in cands)
            first = next(c for c in cands if c[0] == best)
            assert (stat[b, j], arg[b, j], up[b, j]) == first


@pytest.mark.parametrize("kind", list(pair_maxima.KINDS))
def test_first_maxima_exact_among_near_ties(monkeypatch, kind):
    """Statistics a few ulps apart (the compiled pass screens with products, then divides):
    the same maximiser as dividing everywhere, also for negative maxima."""
    rng = np.random.default_rng(7)
    n_boot, p, rows = 30, 400, 4
    sigma = rng.uniform(0.7, 1.3, (rows, p))
    z = np.zeros((n_boot, p))
    for b in range(n_boot):                  # z_k - z_0 = t * sigma_0k, nudged by ulps
        t = rng.choice([-2.5, 0.75, 3.0])
        z[b] = t * sigma[0] * (1 + rng.integers(-4, 5, p) * 2.0**-52)
    z[:, 0] = 0.0
    sigma[:, 0] = np.inf
    compiled, reference = _paths(monkeypatch,
                                 lambda: pair_maxima.first_maxima(z, 0, sigma, kind))
    _same(compiled, reference)
    r = (z - z[:, :1]) / sigma[0]                # brute force for unit 0
    a = np.abs(r) if kind == "two-sided" else (r if kind == "lower" else -r)
    if kind != "two-sided":
        a[:, 0] = -np.inf
    np.testing.assert_array_equal(compiled[1][:, 0], a.argmax(axis=1))
    top2 = np.sort(a, axis=1)[:, -2:]             # the case is real: near ties at the top
    assert (np.abs(top2[:, 1] - top2[:, 0]) <= 1e-14 * np.abs(top2[:, 1])).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("kind", list(pair_maxima.KINDS))
def test_redone_maxima_match_numpy(monkeypatch, seed, kind):
    z, sigma, lo = _case(seed)
    rng = np.random.default_rng(100 + seed)
    t_hat = np.round(rng.normal(0, 3, sigma.shape) * 2) / 2     # ties with c below
    c = np.array([np.inf, 1.0, 0.5, 2.0, 0.0, 3.0, 1.5, np.inf, 0.5])
    cells = rng.random((z.shape[0], sigma.shape[0])) < 0.5
    b_idx, j_idx = np.nonzero(cells)
    use_up, use_down = kind in ("two-sided", "lower"), kind in ("two-sided", "upper")
    start = pair_maxima.first_maxima(z, lo, sigma, kind)

    def redo():
        stat, arg, up = (a.copy() for a in start)
        pair_maxima.redo_maxima(z, lo, b_idx, j_idx, sigma, t_hat, c, use_up, use_down,
                                stat, arg, up)
        return stat, arg, up

    compiled, reference = _paths(monkeypatch, redo)
    _same(compiled, reference)
    assert not np.array_equal(compiled[0], start[0])  # the cells were recomputed


@pytest.mark.parametrize("seed", range(4))
def test_flat_maxima_match_numpy(monkeypatch, seed):
    z, sigma, lo = _case(seed)
    rng = np.random.default_rng(200 + seed)
    active = np.isfinite(sigma) & (rng.random(sigma.shape) < 0.7)
    active[4] = False
    for rows_per_block in (1, 2, sigma.shape[0]):
        compiled, reference = _paths(
            monkeypatch, lambda r=rows_per_block: pair_maxima.flat_maxima(z, lo, sigma,
                                                                           active, r))
        _same(compiled, reference)
    value, index = compiled
    with np.errstate(invalid="ignore"):
        t = np.where(active, (z[:, None, :] - z[:, lo:lo + sigma.shape[0], None]) / sigma,
                     -np.inf).reshape(z.shape[0], -1)
    np.testing.assert_array_equal(index, t.argmax(axis=1))
    np.testing.assert_array_equal(value, t.max(axis=1))
    nothing = pair_maxima.flat_maxima(z, lo, sigma, np.zeros_like(active), 3)
    assert (nothing[0] == -np.inf).all() and (nothing[1] == 0).all()


@pytest.mark.parametrize("kind", ["two-sided", "lower", "upper"])
def test_rank_sets_identical_under_both_paths(monkeypatch, kind):
    rng = np.random.default_rng(9)
    p = 160
    est = np.round(rng.normal(0, 3, p), 1)             # tied estimates
    x = rng.normal(size=(80, p)) * rng.uniform(0.3, 1.5, p)
    x[:, 1] = x[:, 0]                                  # a difference known exactly
    cov = Covariance.replicates(x)
    z = cov.draws(300, 4)

    def sets():
        s = streamed_sets(est, cov, z, 0.9, kind=kind, block_elements=300 * 7)
        bounds = (s.marginal_lower, s.marginal_upper, s.above, s.below)
        return (*(a for a in bounds if a is not None), np.array([s.steps]))

    compiled, reference = _paths(monkeypatch, sets)
    _same(compiled, reference)
    assert (compiled[1] - compiled[0]).max() > 0 and (compiled[1] - compiled[0]).min() < p - 1


def test_falls_back_loudly_when_the_kernels_disagree(monkeypatch):
    def broken():
        raise RuntimeError("compiled and numpy first maxima differ (two-sided)")

    monkeypatch.setattr(pair_maxima, "_self_test", broken)
    pair_maxima._usable.cache_clear()
    try:
        with pytest.warns(UserWarning, match="pair maxima unavailable"):
            assert not pair_maxima.enabled()
    finally:
        monkeypatch.undo()
        pair_maxima._usable.cache_clear()
    assert pair_maxima.enabled()
