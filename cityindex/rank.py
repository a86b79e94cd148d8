"""Ranks, tiers, and streaming rank accumulators.

Ranks: 1 is best (highest score); ties take the lowest rank ("min", as in
``scipy.stats.rankdata(-x, method="min")``).
"""

from __future__ import annotations

import numpy as np

from cityindex.spec import tier_of_rank, tier_of_score

__all__ = ["RankFolder", "RankHistogram", "rank_desc", "sorted_order", "tier_of_rank"]


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


def sorted_order(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Units of each row in descending score order, fast and exact.

    Each score is mapped to an int64 key that sorts like the score (the bit pattern of the
    positive double ``max + 1 - score``, whose integer order is its float order) with its low
    bits replaced by the unit index; one integer sort per row then yields the order, and the
    unit is read back from the low bits. Integer sorts are several times faster than argsort.
    The mapping is monotone, so it can only merge scores, never swap them; rows where two
    adjacent keys share their high bits (an exact tie, or scores equal to ~1e-13 relative) are
    reported in ``maybe_tied`` for an exact treatment by :func:`rank_desc`.

    Returns
    -------
    order : (rows, units) int64, order[s, p] = the unit at position p (0 = best).
    maybe_tied : (rows,) bool.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=float))
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity: a scenario could not be computed")
    n_units = s.shape[1]
    bits = max(1, (n_units - 1).bit_length())
    mask = np.int64((1 << bits) - 1)
    keys = np.subtract(s.max() + 1.0, s).view(np.int64)
    keys &= ~mask
    keys |= np.arange(n_units, dtype=np.int64)
    keys.sort(axis=1)
    maybe_tied = ((keys[:, 1:] ^ keys[:, :-1]) <= mask).any(axis=1)
    keys &= mask
    return keys, maybe_tied


class RankFolder:
    """Folds blocks of scores into rank statistics without materialising rank matrices.

    Keeps (all integer counts, so chunking never changes a result):
    - ``overall``: units x ranks histogram;
    - one units x within-group-ranks histogram per partition of the units (e.g. regions),
      each unit ranked among the members of its own group;
    - ``shift_counts``: histogram of sum_c |rank_c - reference_c| per scenario.
    Rows with (possible) ties go through the exact ``rank_desc`` path ("min" ties).
    """

    def __init__(self, n_units: int, reference: np.ndarray,
                 partitions: list[np.ndarray] | None = None,
                 thresholds: tuple[float, ...] | None = None) -> None:
        self.n_units = n_units
        # threshold tiers follow each scenario's scores: units x tiers counts
        self.thresholds = thresholds
        self.tier_counts = (np.zeros((n_units, len(thresholds) + 1), dtype=np.int64)
                            if thresholds is not None else None)
        self.reference = np.asarray(reference, dtype=np.int64)
        self.overall = RankHistogram(n_units)
        self.partitions = [np.asarray(p, dtype=np.int64) for p in (partitions or [])]
        self.partition_counts = [np.zeros((n_units, n_units), dtype=np.int64)
                                 for _ in self.partitions]
        self.shift_counts = np.zeros(n_units * n_units + 1, dtype=np.int64)
        self._bits = max(1, (n_units - 1).bit_length())
        # For each partition: the fixed within-group rank of each slot once rows are
        # regrouped by label (group sizes are the same in every scenario).
        # Units outside every group of a partition (label -1) form one extra, unread group.
        # After regrouping each row by label (group sizes are the same in every scenario),
        # the within-group rank of each slot is fixed: slot_rank.
        # One lookup per unit gives its sort key's high part (label, above the position
        # bits) and low part (the unit's row offset u * unit in the histogram), so after the
        # sort a single mask and add give the flat histogram index.
        self._row_bits = max(1, (n_units * n_units).bit_length())
        self._label_key, self._slot_rank = [], []
        for lab in self.partitions:
            full = np.where(lab >= 0, lab, lab.max() + 1)
            sizes = np.bincount(full)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            slot_label = np.repeat(np.arange(sizes.size), sizes)
            self._slot_rank.append(np.arange(n_units) - starts[slot_label])
            self._label_key.append(
                (full.astype(np.int64) << (self._bits + self._row_bits))
                | (np.arange(n_units, dtype=np.int64) * n_units))
        self._tile_cache: dict[int, tuple] = {}

    def _tiles(self, rows: int) -> tuple[np.ndarray, ...]:
        """Flat, contiguous per-position constants for a block of ``rows`` scenarios
        (broadcasting over a short last axis is several times slower than flat ops)."""
        if rows not in self._tile_cache:
            u = self.n_units
            pos = np.tile(np.arange(u, dtype=np.int64), rows)
            slots = [np.tile(r, rows) for r in self._slot_rank]
            self._tile_cache = {rows: (pos, pos + 1, pos << self._row_bits, slots)}
        return self._tile_cache[rows]

    def add(self, scores: np.ndarray) -> np.ndarray:
        """Fold a (scenarios x units) block; returns the per-scenario shift sums."""
        u = self.n_units
        if self.thresholds is not None:
            t = self.tier_counts.shape[1]
            tier = tier_of_score(np.atleast_2d(scores), self.thresholds) - 1
            flat = (np.arange(u, dtype=np.int64) * t + tier).ravel()
            self.tier_counts += np.bincount(flat, minlength=u * t).reshape(u, t)
        order, tied = sorted_order(scores)
        clean = ~tied
        shifts = np.empty(order.shape[0], dtype=np.int64)
        if clean.any():
            o = (order[clean] if tied.any() else order).ravel()
            rows = o.size // u
            pos, rank, pos_key, slots = self._tiles(rows)
            flat = o * u
            flat += pos
            self.overall.counts += np.bincount(flat, minlength=u * u).reshape(u, u)
            d = np.take(self.reference, o)
            d -= rank
            np.abs(d, out=d)
            shifts[clean] = d.reshape(rows, u).sum(axis=1)
            mask = (1 << self._row_bits) - 1
            for label_key, counts, slot in zip(self._label_key, self.partition_counts, slots):
                # regroup each row by label, keeping the rank order inside each label
                key = np.take(label_key, o)
                key |= pos_key
                key = key.reshape(rows, u)
                key.sort(axis=1)
                key = key.ravel()
                key &= mask
                key += slot
                counts += np.bincount(key, minlength=u * u).reshape(u, u)
        if tied.any():
            ranks = rank_desc(np.atleast_2d(scores)[tied])
            self.overall.add(ranks)
            shifts[tied] = np.abs(ranks - self.reference).sum(axis=1)
            for lab, counts in zip(self.partitions, self.partition_counts):
                for label in np.unique(lab[lab >= 0]):
                    members = np.flatnonzero(lab == label)
                    within = rank_desc(np.atleast_2d(scores)[tied][:, members])
                    flat = (members[None, :] * u + within - 1).ravel()
                    counts += np.bincount(flat, minlength=u * u).reshape(u, u)
        self.shift_counts += np.bincount(shifts, minlength=self.shift_counts.size)
        return shifts

    def merge(self, other: RankFolder) -> None:
        self.overall.merge(other.overall)
        if self.tier_counts is not None:
            self.tier_counts += other.tier_counts
        for a, b in zip(self.partition_counts, other.partition_counts):
            a += b
        self.shift_counts += other.shift_counts

    def group_histogram(self, partition: int, members: np.ndarray) -> RankHistogram:
        """The within-group rank histogram of one group of a partition."""
        hist = RankHistogram(members.size)
        hist.counts = self.partition_counts[partition][members][:, :members.size].copy()
        return hist


def rank_matrix(scores: np.ndarray) -> np.ndarray:
    """Per-unit ranks (scenarios x units), ties "min": :func:`sorted_order` scattered back,
    with rows that may hold ties recomputed exactly by :func:`rank_desc`."""
    order, tied = sorted_order(scores)
    rows, units = order.shape
    ranks = np.empty((rows, units), dtype=np.int32)
    np.put_along_axis(ranks, order, np.broadcast_to(
        np.arange(1, units + 1, dtype=np.int32), (rows, units)), axis=1)
    if tied.any():
        ranks[tied] = rank_desc(np.atleast_2d(scores)[tied])
    return ranks
