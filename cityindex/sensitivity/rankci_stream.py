"""The stepdowns behind the confidence sets for ranks, with the pairs streamed in blocks.

The method, its families and quantile rule are described in
:mod:`cityindex.sensitivity.rankci`, whose ``rank_confidence_sets`` calls this module: the one
implementation of the stepdowns. Holding every pairwise bootstrap statistic at once would
take n_boot x p x p values (8 GB at p = 1,000 and n_boot = 1,000); here they are reduced to
per-draw maxima for a block of units j at a time (all k) by
:mod:`cityindex.sensitivity.pair_maxima` (compiled: memory O(n_boot x block); its numpy
reference path holds the block's n_boot x block x p statistics), plus O(n_boot x p) for the
draws, and the sets are those of the plain definition (maxima and order statistics are
exact; tests/rankci_reference.py checks them against a plain loop, on both paths):

- marginal sets: unit j's family involves only row j of the pairs, so each block runs its
  units' stepdowns to the end while its statistics are in memory (one pass);
- simultaneous sets: the family's rejected hypotheses after each step are exactly those with
  t_hat above the current critical value (the critical values only decrease), so the state is
  one number. Each draw's maximum is kept with the pair that attains it; after a step, only
  the draws whose maximising pair was just rejected are recomputed (a pass over the blocks for
  those draws only): the maximum over a smaller family is unchanged when its maximiser is
  still in it. The simultaneous sets serve every kind (two-sided, lower, upper): the
  simultaneous family ignores the kind.

Time is O(n_boot x p^2) for the first pass (both families share it), plus
O(recomputed draws x p^2) per further stepdown step.

The covariance enters through :class:`Covariance`: a full matrix (``Covariance.full``), or,
for large p, the centred replicates themselves (``Covariance.replicates``: cov = X'X / (R - 1)
a block of rows at a time, never p x p in memory), with bootstrap draws z = g X / sqrt(R - 1),
g ~ N(0, I_R), which have exactly that covariance (instead of an eigen-decomposition, O(p^3)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from cityindex.sensitivity import pair_maxima
from cityindex.sensitivity.rankci import ZERO_VARIANCE, _order_index
from cityindex.streams import Stream, block_rng

BLOCK_ELEMENTS = 1 << 23     # bootstrap statistics held at once (64 MiB of float64)
PAIR_ROWS = 1 << 21          # pairs per covariance block (rows of j x p)


@dataclass(frozen=True)
class Covariance:
    """Rows of a p x p covariance on demand: ``rows(lo, hi)`` -> (hi - lo, p), ``diag``."""

    p: int
    diag: np.ndarray
    rows: Callable[[int, int], np.ndarray]
    centred: np.ndarray | None = None     # (R, p) replicates minus their mean, if any

    @classmethod
    def full(cls, cov: np.ndarray) -> Covariance:
        cov = np.asarray(cov, dtype=float)
        cov = (cov + cov.T) / 2
        return cls(cov.shape[0], np.diag(cov).copy(), lambda lo, hi: cov[lo:hi])

    @classmethod
    def replicates(cls, x: np.ndarray) -> Covariance:
        """The sample covariance of replicates x (R, p) (as ``np.cov(x, rowvar=False)``)."""
        xc = np.asarray(x, dtype=float) - np.mean(x, axis=0)
        r = xc.shape[0] - 1
        diag = np.einsum("ij,ij->j", xc, xc) / r
        return cls(xc.shape[1], diag, lambda lo, hi: (xc[:, lo:hi].T @ xc) / r, xc)

    def draws(self, n_boot: int, seed: int) -> np.ndarray:
        """(n_boot, p) draws of N(0, cov) from the seed's RANK_CI stream: from the replicates
        when there are any (z = g X / sqrt(R - 1)), else by eigen-decomposition as
        :func:`cityindex.sensitivity.rankci._draws`."""
        rng = block_rng(seed, Stream.RANK_CI)
        if self.centred is None:
            from cityindex.sensitivity.rankci import _draws

            return _draws(self.rows(0, self.p), n_boot, rng=rng)
        g = rng.standard_normal((n_boot, self.centred.shape[0]))
        return (g @ self.centred) / math.sqrt(self.centred.shape[0] - 1)


@dataclass
class StreamedSets:
    """Integer rank bounds: marginal (of the kind asked for), and the simultaneous counts
    from which every kind follows (lower = 1 + above, upper = p - below)."""

    marginal_lower: np.ndarray
    marginal_upper: np.ndarray
    above: np.ndarray | None     # per unit: units certainly above it (simultaneous)
    below: np.ndarray | None     # per unit: units certainly below it (simultaneous)
    steps: int                   # simultaneous stepdown steps taken

    def simultaneous(self, kind: str = "two-sided") -> tuple[np.ndarray, np.ndarray]:
        p = self.above.size
        lower = 1 + self.above
        upper = p - self.below
        if kind == "lower":
            upper = np.full(p, p)
        elif kind == "upper":
            lower = np.ones(p, dtype=int)
        return lower.astype(int), upper.astype(int)


def _block_pairs(est: np.ndarray, cov: Covariance, lo: int, hi: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows lo..hi of d (est_k - est_j), sigma, valid and t_hat, as rankci._pairwise/_reject
    compute them."""
    p = est.size
    d = est[None, :] - est[lo:hi, None]
    diag = cov.diag
    var = diag[None, :] + diag[lo:hi, None] - 2 * cov.rows(lo, hi)
    var[var <= ZERO_VARIANCE * (diag[None, :] + diag[lo:hi, None])] = 0.0
    sigma = np.sqrt(var)
    off = np.ones((hi - lo, p), dtype=bool)
    off[np.arange(hi - lo), np.arange(lo, hi)] = False
    valid = off & (sigma > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hat = np.where(valid, d / sigma, 0.0)
    return d, sigma, valid, t_hat


def _quantile(stats: np.ndarray, coverage: float) -> np.ndarray:
    k = _order_index(stats.shape[0], coverage)
    return np.partition(stats, k, axis=0)[k]


def _blocks(p: int, rows: int) -> list[tuple[int, int]]:
    return [(lo, min(p, lo + rows)) for lo in range(0, p, rows)]


def streamed_sets(estimates: np.ndarray, cov: Covariance, z: np.ndarray, coverage: float,
                  stepdown: bool = True, workers: int = 2,
                  block_elements: int | None = None, kind: str = "two-sided"
                  ) -> StreamedSets:
    """Marginal and simultaneous confidence sets for the ranks of ``estimates`` given
    bootstrap draws ``z`` (n_boot, p): the sets of
    :func:`cityindex.sensitivity.rankci.rank_confidence_sets` (which calls this).

    ``kind`` is the marginal families' kind ("two-sided": both directions of every pair
    involving the unit; "lower": who is above it; "upper": who is below it). The
    simultaneous family (every ordered pair, whatever the kind) shares the first pass of the
    two-sided marginal families; for a one-sided marginal kind it is not computed
    (``above``/``below`` are None)."""
    est = np.asarray(estimates, dtype=float)
    block_elements = BLOCK_ELEMENTS if block_elements is None else block_elements
    both = kind == "two-sided"
    p, n_boot = est.size, z.shape[0]
    # rows of j per bootstrap block: the numpy path holds n_boot x rows x p statistics, the
    # compiled one n_boot x rows maxima and a few rows x p pair arrays
    per_row = 2 * n_boot + 5 * p if pair_maxima.enabled() else n_boot * p
    sub = max(1, block_elements // max(1, per_row))
    # rows per covariance block: at most PAIR_ROWS pairs, and at least 4 blocks per worker
    # (the threads share the blocks)
    big = _blocks(p, max(1, min(PAIR_ROWS // max(1, p), -(-p // (4 * max(1, workers))))))
    m_lower = np.ones(p, dtype=np.int64)
    m_upper = np.full(p, p, dtype=np.int64)

    def first(block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Marginal stepdowns of the block's units; the block's part of the simultaneous
        family's first maximum (value, flat pair index and that pair's t_hat, per draw)."""
        lo0, hi0 = block
        d0, sigma0, valid0, t_hat0 = _block_pairs(est, cov, lo0, hi0)
        best = np.full(n_boot, -np.inf)
        where = np.zeros(n_boot, dtype=np.int64)
        where_t = np.full(n_boot, -np.inf)
        for lo, hi in _blocks(hi0 - lo0, sub):
            d, sigma, valid, t_hat = (a[lo:hi] for a in (d0, sigma0, valid0, t_hat0))
            stat0, arg0, up0 = _marginal(z, d, sigma, valid, t_hat, lo0 + lo, p, coverage,
                                         stepdown, m_lower, m_upper, kind)
            if not both:
                continue
            # the simultaneous family's first maximum over these rows, from the same maxima
            j = stat0.argmax(axis=1)
            rows_b = np.arange(n_boot)
            value, k = stat0[rows_b, j], arg0[rows_b, j]
            better = value > best
            best[better] = value[better]
            where[better] = ((lo0 + lo + j) * p + k)[better]
            # the t_hat of the maximising *ordered* pair: (j, k) if r >= 0, else (k, j)
            where_t[better] = np.where(up0[rows_b, j], t_hat[j, k], -t_hat[j, k])[better]
        return best, where, where_t

    firsts = _map_plain(first, big, workers)
    if not both:
        return StreamedSets(m_lower, m_upper, None, None, 0)
    stat, where, where_t = _merge(firsts)
    # simultaneous stepdown: threshold c on t_hat; draws whose maximiser is rejected redone
    c = np.inf
    steps = 0
    while True:
        crit = float(_quantile(stat, coverage))
        steps += 1
        if not crit < c or not _any_between(est, cov, big, crit, c, workers):
            break
        c = crit
        if not stepdown:
            break
        redo = np.flatnonzero(where_t > c)
        if redo.size:
            zs = z[redo]

            def again(block: tuple[int, int], zs=zs, c=c):
                lo0, hi0 = block
                _, sigma0, valid0, t_hat0 = _block_pairs(est, cov, lo0, hi0)
                m = zs.shape[0]
                best, index = pair_maxima.flat_maxima(
                    zs, lo0, sigma0, valid0 & (t_hat0 <= c),
                    max(1, block_elements // max(1, m * p)))
                found = best > -np.inf
                return (best, np.where(found, index + lo0 * p, 0),
                        np.where(found, t_hat0.reshape(-1)[index], -np.inf))

            s2, w2, t2 = _merge(_map_plain(again, big, workers))
            stat[redo], where[redo], where_t[redo] = s2, w2, t2

    def final(block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        # rejected = valid & t_hat > c (both directions), plus exact differences
        lo, hi = block
        d, sigma, valid, t_hat = _block_pairs(est, cov, lo, hi)
        exact = _exact(valid, sigma, lo, hi)
        return (((valid & (t_hat > c)) | (exact & (d > 0))).sum(axis=1),
                ((valid & (-t_hat > c)) | (exact & (d < 0))).sum(axis=1))

    counts = _map_plain(final, big, workers)
    above = np.concatenate([a for a, _ in counts]).astype(np.int64)
    below = np.concatenate([b for _, b in counts]).astype(np.int64)
    return StreamedSets(m_lower, m_upper, above, below, steps)


def _exact(valid: np.ndarray, sigma: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Off-diagonal pairs known without error (sigma = 0)."""
    exact = ~valid & (sigma == 0)
    exact[np.arange(hi - lo), np.arange(lo, hi)] = False
    return exact


def _marginal(z: np.ndarray, d: np.ndarray, sigma: np.ndarray, valid: np.ndarray,
              t_hat: np.ndarray, lo: int, p: int, coverage: float, stepdown: bool,
              m_lower: np.ndarray, m_upper: np.ndarray, kind: str = "two-sided"
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit's own family and stepdown (MRSW 2024; the family of ``kind``, see
    :mod:`cityindex.sensitivity.rankci`); returns the first step's per-draw maxima (value,
    k, direction) of each row.

    Unit j's hypotheses are H_jk (statistic r = (z_k - z_j) / sigma, estimate t_hat) and H_kj
    (statistic -r, estimate -t_hat); those rejected after each step are exactly the ones whose
    estimate exceeds the unit's current critical value c_j, so the state is c_j; a draw's
    maximum is recomputed only when the hypothesis attaining it was just rejected.
    The maxima come from :mod:`cityindex.sensitivity.pair_maxima` (the statistics of the
    draws ``z``, never all held at once).
    """
    use_up = kind in ("two-sided", "lower")      # H_jk: is k above j?
    use_down = kind in ("two-sided", "upper")    # H_kj: is k below j?
    rows = d.shape[0]
    hi = lo + rows
    sig_inf = np.where(valid, sigma, np.inf)     # untested pairs: r = 0, never a maximum
    stat, arg, up = pair_maxima.first_maxima(z, lo, sig_inf, kind)
    jj = np.arange(rows)
    first = (stat.copy(), arg.copy(), up.copy())
    c = np.full(rows, np.inf)
    while True:
        has = _active_any(valid, t_hat, c, use_up, use_down)
        crit = _quantile(stat, coverage)
        crit[~has] = np.inf
        new = (valid & ((use_up & (t_hat > crit[:, None]) & (t_hat <= c[:, None]))
                        | (use_down & (-t_hat > crit[:, None]) & (-t_hat <= c[:, None])))
               ).any(axis=1)
        if not new.any():
            break
        c = np.where(new, crit, c)
        if not stepdown:
            break
        est = np.where(up, t_hat[jj[None, :], arg], -t_hat[jj[None, :], arg])
        b_idx, j_idx = np.nonzero(est > c[None, :])        # maximiser rejected: redo
        if b_idx.size:
            pair_maxima.redo_maxima(z, lo, b_idx, j_idx, sig_inf, t_hat, c, use_up, use_down,
                                    stat, arg, up)
    exact = _exact(valid, sigma, lo, hi)
    above = (use_up & valid & (t_hat > c[:, None])) | (exact & (d > 0))
    below = (use_down & valid & (-t_hat > c[:, None])) | (exact & (d < 0))
    m_lower[lo:hi] = 1 + above.sum(axis=1)
    m_upper[lo:hi] = p - below.sum(axis=1)
    return first


def _active_any(valid: np.ndarray, t_hat: np.ndarray, c: np.ndarray, use_up: bool = True,
                use_down: bool = True) -> np.ndarray:
    """Per unit: any hypothesis of its family left to test (H_jk with t_hat <= c_j or H_kj
    with -t_hat <= c_j)."""
    return (valid & ((use_up & (t_hat <= c[:, None]))
                     | (use_down & (-t_hat <= c[:, None])))).any(axis=1)


def _any_between(est: np.ndarray, cov: Covariance, blocks: list[tuple[int, int]],
                 lo_c: float, hi_c: float, workers: int) -> bool:
    """Whether any valid pair has lo_c < t_hat <= hi_c (a new rejection)."""
    def check(block: tuple[int, int]) -> bool:
        lo, hi = block
        _, _, valid, t_hat = _block_pairs(est, cov, lo, hi)
        return bool((valid & (t_hat > lo_c) & (t_hat <= hi_c)).any())

    return any(_map_plain(check, blocks, workers))


def _merge(results: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-draw maxima over blocks in order (value, flat pair index, its t_hat); the first
    maximum on ties, as one argmax over every pair would give."""
    best, where, where_t = (a.copy() for a in results[0])
    for value, index, t in results[1:]:
        better = value > best
        best[better], where[better], where_t[better] = value[better], index[better], t[better]
    return best, where, where_t


def _map_plain(fn, blocks, workers: int) -> list:
    if workers <= 1 or len(blocks) == 1:
        return [fn(b) for b in blocks]
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, blocks))
