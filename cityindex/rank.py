"""Ranks, tiers, and streaming rank accumulators.

Ranks: 1 is best (highest score); ties take the lowest rank ("min", as in
``scipy.stats.rankdata(-x, method="min")``).
"""

from __future__ import annotations

import numpy as np

from cityindex.spec import tier_of_rank

__all__ = ["RankHistogram", "rank_desc", "tier_of_rank"]


def rank_desc(scores: np.ndarray) -> np.ndarray:
    """Ranks of each row of ``scores`` (scenarios x units), 1 = highest, ties "min".

    One argsort per row (O(U log U)); rows that contain exact ties are then fixed so that
    tied units share the lowest rank of their run.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if np.isnan(s).any():
        raise ValueError("scores contain NaN: a scenario could not be computed")
    n_rows, n_units = s.shape
    order = np.argsort(-s, axis=1, kind="stable")
    ranks = np.empty((n_rows, n_units), dtype=np.int32)
    positions = np.broadcast_to(np.arange(1, n_units + 1, dtype=np.int32), (n_rows, n_units))
    np.put_along_axis(ranks, order, positions, axis=1)
    sorted_s = np.take_along_axis(s, order, axis=1)
    tied = sorted_s[:, 1:] == sorted_s[:, :-1]
    rows = np.flatnonzero(tied.any(axis=1))
    if rows.size:
        # Within each run of equal scores, every member gets the run's first position.
        new_run = np.ones((rows.size, n_units), dtype=bool)
        new_run[:, 1:] = ~tied[rows]
        start = np.where(new_run, np.arange(1, n_units + 1), 0)
        run_rank = np.maximum.accumulate(start, axis=1).astype(np.int32)
        fixed = np.empty_like(run_rank)
        np.put_along_axis(fixed, order[rows], run_rank, axis=1)
        ranks[rows] = fixed
    return ranks if np.ndim(scores) == 2 else ranks[0]


class RankHistogram:
    """Streaming counts of how often each unit takes each rank (units x ranks, int64).

    The histogram is a sufficient statistic for every per-unit rank summary (quantiles, mean,
    P(rank = r), tier probabilities), so memory is O(U^2) whatever the number of scenarios, and
    because counts are integers the result does not depend on the order or size of chunks.
    """

    def __init__(self, n_units: int) -> None:
        self.n_units = n_units
        self.counts = np.zeros((n_units, n_units), dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.counts[0].sum())

    def add(self, ranks: np.ndarray) -> None:
        """Fold a (scenarios x units) block of ranks (1-based) into the counts."""
        u = self.n_units
        flat = (np.arange(u, dtype=np.int64) * u + (ranks.astype(np.int64) - 1)).ravel()
        self.counts += np.bincount(flat, minlength=u * u).reshape(u, u)

    def merge(self, other: RankHistogram) -> None:
        self.counts += other.counts

    def probabilities(self) -> np.ndarray:
        """P(unit has rank r): the rank acceptability matrix (SMAA-2, Lahdelma & Salminen
        2001), rows units, columns ranks 1..U."""
        return self.counts / max(self.n, 1)

    def quantile(self, q: float) -> np.ndarray:
        """Inverse-CDF quantile per unit: the smallest rank r with P(rank <= r) >= q
        (Hyndman & Fan 1996, type 1)."""
        cdf = np.cumsum(self.counts, axis=1)
        target = q * self.n
        return (cdf < target - 1e-9 * max(self.n, 1)).sum(axis=1) + 1

    def mean(self) -> np.ndarray:
        r = np.arange(1, self.n_units + 1)
        return self.counts @ r / max(self.n, 1)

    def minimum(self) -> np.ndarray:
        return np.argmax(self.counts > 0, axis=1) + 1

    def maximum(self) -> np.ndarray:
        return self.n_units - np.argmax(self.counts[:, ::-1] > 0, axis=1)

    def prob_between(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """P(lo <= rank <= hi) per unit (lo, hi 1-based, per unit)."""
        r = np.arange(1, self.n_units + 1)
        mask = (r[None, :] >= np.asarray(lo)[:, None]) & (r[None, :] <= np.asarray(hi)[:, None])
        return (self.counts * mask).sum(axis=1) / max(self.n, 1)

    def tier_probabilities(self, tiers: tuple[int, ...]) -> np.ndarray:
        """(units x tiers) P(unit's rank falls in each tier); ranks beyond the listed sizes
        fall in a final "rest" tier when the sizes do not cover every rank."""
        tier = tier_of_rank(np.arange(1, self.n_units + 1), tiers)
        n_tiers = int(tier.max())
        out = np.zeros((self.n_units, n_tiers))
        for t in range(1, n_tiers + 1):
            out[:, t - 1] = self.counts[:, tier == t].sum(axis=1)
        return out / max(self.n, 1)
