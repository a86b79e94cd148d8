"""Ranks, tiers, and streaming rank accumulators.

Ranks: 1 is best (highest score); ties take the lowest rank ("min", as in
``scipy.stats.rankdata(-x, method="min")``).
"""

from __future__ import annotations

import numpy as np

from cityindex import kernels
from cityindex.spec import tier_of_rank, tier_of_score

__all__ = ["BinnedRankHistogram", "RankFolder", "RankHistogram", "rank_bins", "rank_desc",
           "sorted_order", "tier_of_rank"]


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


# Exact rank histograms hold units x ranks int64 counts (O(U^2) memory). Up to EXACT_CELLS
# cells per histogram (U <= 2048) they stay exact; above, ranks are counted in bins
# (:class:`BinnedRankHistogram`): at least MIN_BINS bins per ranking, as many as fit in
# EXACT_CELLS, so memory is O(U x bins) = O(U) for large U.
EXACT_CELLS = 1 << 22
MIN_BINS = 256
NEAR = 2           # binned histograms count ranks within +-NEAR of a focus rank exactly
SHIFT_BINS = 1 << 16


def max_bins_for(n_units: int) -> int:
    """The default number of rank bins for an index of ``n_units`` units: every rank its own
    bin (exact) while units^2 <= EXACT_CELLS, else max(MIN_BINS, EXACT_CELLS // units)."""
    return max(MIN_BINS, EXACT_CELLS // max(1, n_units))


def rank_bins(n_ranks: int, max_bins: int, tiers: tuple[int, ...] = ()) -> np.ndarray:
    """Lower edges (1-based ranks) of the bins of a ranking of ``n_ranks``: one rank per bin
    when ``n_ranks <= max_bins``, else bins of ceil(n_ranks / max_bins) ranks, split wherever
    a tier begins (cumulative ``tiers`` + 1), so that tier probabilities stay exact."""
    if n_ranks <= max_bins:
        return np.arange(1, n_ranks + 1, dtype=np.int64)
    width = -(-n_ranks // max_bins)
    edges = set(range(1, n_ranks + 1, width))
    edges |= {int(b) + 1 for b in np.cumsum(tiers) if 0 < b < n_ranks}
    return np.array(sorted(edges), dtype=np.int64)


class RankHistogram:
    """Streaming counts of how often each unit takes each rank (units x ranks, int64).

    The histogram is a sufficient statistic for every per-unit rank summary (quantiles, mean,
    P(rank = r), tier probabilities), so memory is O(U^2) whatever the number of scenarios, and
    because counts are integers the result does not depend on the order or size of chunks.
    """

    exact = True

    def __init__(self, n_units: int) -> None:
        self.n_units = n_units
        self.counts = np.zeros((n_units, n_units), dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.counts[0].sum()) if self.counts.size else 0

    def labels(self) -> list[str]:
        """Column names of :meth:`probabilities` (acceptability.csv): rank_1, rank_2, ..."""
        return [f"rank_{r}" for r in range(1, self.counts.shape[1] + 1)]

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


class BinnedRankHistogram(RankHistogram):
    """Rank counts in bins of ranks, for rankings too long for an exact units x ranks table.

    Memory is units x bins. Kept exactly beside the bins: each unit's minimum, maximum and sum
    of ranks (so ``minimum``, ``maximum`` and ``mean`` are exact) and, when a ``focus`` rank
    per unit is given (the published rank), the counts of ranks focus - NEAR .. focus + NEAR
    (so P(rank = published) and P(|rank - published| <= 2) are exact). Bin edges are split at
    tier boundaries, so tier probabilities are exact too.

    Quantiles: the type-1 inverse-CDF rule picks the bin exactly (the bin counts are exact);
    within it the rank is not known, and the midpoint of the bin (narrowed to the unit's exact
    minimum and maximum) is reported. The error is at most half a bin:
    ``|reported - exact| <= floor(width / 2)`` ranks, width = ``max_width``.
    P(lo <= rank <= hi) for other intervals is exact when lo and hi fall on bin edges and
    otherwise shares each partly covered bin in proportion to its ranks (an approximation).
    """

    exact = False

    def __init__(self, n_units: int, edges: np.ndarray, n_ranks: int | None = None,
                 focus: np.ndarray | None = None) -> None:
        self.n_units = n_units
        self.n_ranks = n_units if n_ranks is None else n_ranks
        self.edges = np.asarray(edges, dtype=np.int64)
        self.upper = np.append(self.edges[1:] - 1, self.n_ranks)
        self.counts = np.zeros((n_units, self.edges.size), dtype=np.int64)
        self.low = np.full(n_units, self.n_ranks + 1, dtype=np.int64)
        self.high = np.zeros(n_units, dtype=np.int64)
        self.total = np.zeros(n_units, dtype=np.int64)
        self.focus = None if focus is None else np.asarray(focus, dtype=np.int64)
        self.near = (np.zeros((n_units, 2 * NEAR + 1), dtype=np.int64)
                     if focus is not None else None)

    @property
    def max_width(self) -> int:
        return int((self.upper - self.edges).max()) + 1

    @property
    def lookup(self) -> np.ndarray:
        """bin of rank r at index r - 1."""
        if getattr(self, "_lookup", None) is None:
            self._lookup = np.repeat(np.arange(self.edges.size), self.upper - self.edges + 1)
        return self._lookup

    def labels(self) -> list[str]:
        """rank_<r> for a one-rank bin, rank_<first>_<last> for a wider one."""
        return [f"rank_{a}" if a == b else f"rank_{a}_{b}"
                for a, b in zip(self.edges, self.upper)]

    def add(self, ranks: np.ndarray) -> None:
        """Fold a (scenarios x units) block of ranks (1-based) into the counts."""
        ranks = np.atleast_2d(np.asarray(ranks, dtype=np.int64))
        if ranks.size == 0:
            return
        nb = self.edges.size
        idx = np.take(self.lookup, ranks - 1)
        idx += np.arange(self.n_units, dtype=np.int64) * nb
        scatter_add(self.counts, idx)
        np.minimum(self.low, ranks.min(axis=0), out=self.low)
        np.maximum(self.high, ranks.max(axis=0), out=self.high)
        self.total += ranks.sum(axis=0)
        if self.near is not None:
            d = ranks - self.focus
            d += NEAR
            hit = (d >= 0) & (d <= 2 * NEAR)        # ranks within NEAR of the focus rank
            cols = np.broadcast_to(np.arange(self.n_units, dtype=np.int64), d.shape)[hit]
            np.add.at(self.near.reshape(-1), cols * (2 * NEAR + 1) + d[hit], 1)

    def merge(self, other: RankHistogram) -> None:
        self.counts += other.counts
        np.minimum(self.low, other.low, out=self.low)
        np.maximum(self.high, other.high, out=self.high)
        self.total += other.total
        if self.near is not None:
            self.near += other.near

    def quantile(self, q: float) -> np.ndarray:
        """The bin holding the type-1 quantile (exact), reported as its midpoint within the
        unit's exact range: at most floor(width / 2) ranks from the exact quantile."""
        cdf = np.cumsum(self.counts, axis=1)
        target = q * self.n
        b = np.minimum((cdf < target - 1e-9 * max(self.n, 1)).sum(axis=1), self.edges.size - 1)
        lo = np.maximum(self.edges[b], self.low)
        hi = np.minimum(self.upper[b], self.high)
        hi = np.maximum(hi, lo)
        return (lo + hi) // 2

    def mean(self) -> np.ndarray:
        return self.total / max(self.n, 1)

    def minimum(self) -> np.ndarray:
        return self.low.copy()

    def maximum(self) -> np.ndarray:
        return self.high.copy()

    def prob_between(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """P(lo <= rank <= hi): exact within +-NEAR of the focus rank or on bin edges, else
        partly covered bins shared in proportion (see the class docstring)."""
        lo = np.broadcast_to(np.asarray(lo, dtype=np.int64), (self.n_units,))
        hi = np.broadcast_to(np.asarray(hi, dtype=np.int64), (self.n_units,))
        a = np.clip(lo, 1, self.n_ranks)[:, None]
        b = np.clip(hi, 1, self.n_ranks)[:, None]
        covered = (np.minimum(self.upper[None, :], b) - np.maximum(self.edges[None, :], a) + 1)
        share = np.clip(covered, 0, None) / (self.upper - self.edges + 1)[None, :]
        out = (self.counts * share).sum(axis=1)
        if self.near is not None:
            d_lo, d_hi = lo - self.focus, hi - self.focus
            inside = (d_lo >= -NEAR) & (d_hi <= NEAR)
            cols = np.arange(-NEAR, NEAR + 1)
            mask = (cols[None, :] >= d_lo[:, None]) & (cols[None, :] <= d_hi[:, None])
            out = np.where(inside, (self.near * mask).sum(axis=1), out)
        return out / max(self.n, 1)

    def tier_probabilities(self, tiers: tuple[int, ...]) -> np.ndarray:
        tier = tier_of_rank(self.edges, tiers)
        if not np.array_equal(tier, tier_of_rank(self.upper, tiers)):
            raise ValueError("rank bins are not aligned with these tiers")
        n_tiers = int(tier_of_rank(np.array([self.n_ranks]), tiers)[0])
        out = np.zeros((self.n_units, n_tiers))
        for t in range(1, n_tiers + 1):
            out[:, t - 1] = self.counts[:, tier == t].sum(axis=1)
        return out / max(self.n, 1)


def scatter_add(counts: np.ndarray, flat: np.ndarray) -> None:
    """counts.ravel()[i] += 1 for every i in ``flat`` (repeats counted): one bincount when the
    indices are many for the table, else an unbuffered in-place add (no table-sized
    temporary)."""
    flat = flat.ravel()
    if flat.size * 4 >= counts.size:
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    else:
        np.add.at(counts.reshape(-1), flat, 1)


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
    flat = keys.reshape(-1)  # adjacent pairs on the flat array (contiguous, faster)
    close = np.empty(flat.size, dtype=bool)
    close[-1] = False
    np.less_equal(flat[1:] ^ flat[:-1], mask, out=close[:-1])
    maybe_tied = close.reshape(keys.shape)[:, :-1].any(axis=1)  # not across rows
    keys &= mask
    return keys, maybe_tied


SLICE_ELEMENTS = 1 << 15          # scores folded at a time, exact path (stays in cache)
BINNED_SLICE_ELEMENTS = 1 << 21   # the same, binned: more scenarios per pass reuse each unit's
                                  # hot count lines (20,000 units: 730 -> 1,000 scenarios/s)
SHIFT_STEPS = 16                  # binned path: R_s counted in steps of 1/16 rank


def resolve_near_ties(scores: np.ndarray, order: np.ndarray, tied: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Rows that :func:`sorted_order` flags (two keys equal in their high bits) ordered
    exactly: a stable argsort of the row's scores, as :func:`rank_desc` does; rows whose sorted
    scores then hold no exact tie are strict orders and are unflagged (in large indices most
    flags are near ties, scores 1e-12 apart, not ties). In place; returns (order, tied)."""
    rows = np.flatnonzero(tied)
    if rows.size:
        s = scores[rows]
        exact = np.argsort(-s, axis=1, kind="stable")
        v = np.take_along_axis(s, exact, axis=1)
        order[rows] = exact
        tied[rows] = (v[:, 1:] == v[:, :-1]).any(axis=1)
    return order, tied


class _WithinRanks:
    """Within-group ranks read off the overall order, without a second sort.

    Walking one scenario's units from best to worst, a unit's rank inside its group is the
    number of its group's members met so far (itself included). Each group gets a bit field
    of a 63-bit word, wide enough to count its members; each unit adds one to its group's field
    in every partition, so one cumulative sum along the order counts every group of every
    partition packed in the word at once, and a shift and a mask read a unit's count. Units in
    no group of a partition (label -1) are counted as one more group. A partition's fields
    share one width (a constant mask) when that fits, else each group has its own; a partition
    whose fields need more than 63 bits (very many groups) is ranked by one integer sort per
    scenario instead (label above position)."""

    def __init__(self, n_units: int, partitions: list[np.ndarray]) -> None:
        self.n_units = n_units
        self.partitions = partitions
        self.incs: list[np.ndarray] = []
        used: list[int] = []
        self.fields: list[tuple[int, np.ndarray, int | np.ndarray] | None] = []
        for lab in partitions:
            groups, sizes = np.unique(lab, return_counts=True)   # -1: no group, a group too
            uniform = int(sizes.max()).bit_length()
            options = [[uniform] * sizes.size, [int(n).bit_length() for n in sizes]]
            # a constant mask in a word already used, else a mask per group there, else a
            # new word (one more cumulative sum per scenario)
            word, widths = None, None
            for option in options:
                word = next((k for k, bits in enumerate(used) if bits + sum(option) <= 63),
                            None)
                if word is not None:
                    widths = option
                    break
            if widths is None:
                widths = next((o for o in options if sum(o) <= 63), None)
            if widths is None:
                self.fields.append(None)
                continue
            if word is None:
                self.incs.append(np.zeros(n_units, dtype=np.int64))
                used.append(0)
                word = len(used) - 1
            shift = np.zeros(n_units, dtype=np.int64)
            mask = np.zeros(n_units, dtype=np.int64)
            offset = used[word]
            for g, w in zip(groups, widths):
                members = lab == g
                shift[members] = offset
                mask[members] = (1 << w) - 1
                self.incs[word][members] += np.int64(1) << offset
                offset += w
            used[word] = offset
            self.fields.append((word, shift, (1 << uniform) - 1 if widths == options[0]
                                else mask))

    def at_positions(self, order: np.ndarray) -> list[np.ndarray]:
        """Per partition, (rows, units) int64: the within-group rank (1-based) of the unit at
        each position of each row of ``order`` (units in no group ranked among themselves)."""
        cums = [np.cumsum(np.take(inc, order), axis=1) for inc in self.incs]
        out = []
        for p, field in enumerate(self.fields):
            if field is None:
                out.append(self._sorted(self.partitions[p], order))
                continue
            word, shift, mask = field
            r = cums[word] >> np.take(shift, order)
            r &= mask if isinstance(mask, int) else np.take(mask, order)
            out.append(r)
        return out

    def _sorted(self, lab: np.ndarray, order: np.ndarray) -> np.ndarray:
        rows, u = order.shape
        full = np.where(lab >= 0, lab, lab.max() + 1)
        sizes = np.bincount(full)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        slot_rank = np.arange(u) - np.repeat(starts, sizes) + 1
        bits = max(1, (u - 1).bit_length())
        key = np.take(full.astype(np.int64) << bits, order)
        key |= np.arange(u, dtype=np.int64)
        key.sort(axis=1)
        key &= (1 << bits) - 1                 # the position of the unit in each slot
        out = np.empty((rows, u), dtype=np.int64)
        np.put_along_axis(out, key, np.broadcast_to(slot_rank, (rows, u)), axis=1)
        return out


class RankFolder:
    """Folds blocks of scores into rank statistics without materialising rank matrices.

    Keeps (all integer counts, so chunking never changes a result):
    - ``overall``: units x ranks histogram;
    - one units x within-group-ranks histogram per partition of the units (e.g. regions),
      each unit ranked among the members of its own group;
    - ``shift_counts``: histogram of sum_c |rank_c - reference_c| per scenario.
    Rows with (possible) ties go through the exact ``rank_desc`` path ("min" ties).

    Within-group ranks follow from the overall order: one integer sort per scenario in all.
    With numba (the default) each slice is folded by one compiled pass over the sorted keys
    (:mod:`cityindex.kernels`, :meth:`_add_compiled`); otherwise by the numpy path
    (:class:`_WithinRanks`, :meth:`_add_exact`, :meth:`_add_binned`), which gives the same
    counts. Scores are folded in slices of about SLICE_ELEMENTS.

    Large indices (units^2 > EXACT_CELLS, or ``max_bins`` < units): ranks are counted in
    bins (:class:`BinnedRankHistogram`; bins split at ``tiers`` and, per partition, at
    ``partition_tiers``), with exact minimum, maximum and mean per unit, exact counts within
    +-NEAR of ``focus`` (the published ranks) and the shift sums in steps of 1/SHIFT_STEPS
    rank with exact mean and maximum. Memory is then O(units x bins), time O(U log U) per
    scenario.
    """

    def __init__(self, n_units: int, reference: np.ndarray,
                 partitions: list[np.ndarray] | None = None,
                 thresholds: tuple[float, ...] | None = None, *,
                 tiers: tuple[int, ...] = (), partition_tiers: list[tuple[int, ...]] | None
                 = None, focus: np.ndarray | None = None, max_bins: int | None = None) -> None:
        u = self.n_units = n_units
        # threshold tiers follow each scenario's scores: units x tiers counts
        self.thresholds = thresholds
        self.tier_counts = (np.zeros((n_units, len(thresholds) + 1), dtype=np.int64)
                            if thresholds is not None else None)
        self.reference = np.asarray(reference, dtype=np.int64)
        self.partitions = [np.asarray(p, dtype=np.int64) for p in (partitions or [])]
        self.max_bins = max_bins_for(n_units) if max_bins is None else int(max_bins)
        self.exact = n_units <= self.max_bins
        self._within = _WithinRanks(n_units, self.partitions)
        self._labels = kernels.group_labels(self.partitions, n_units)
        self._packed = kernels.packed_counters(self._labels)
        self._tile_cache: dict[int, np.ndarray] = {}
        ptiers = list(partition_tiers or [()] * len(self.partitions))
        if self.exact:
            self.overall: RankHistogram = RankHistogram(u)
            # partitions x units x within-group ranks (columns beyond a group's size stay 0)
            self._pcounts = np.zeros((len(self.partitions), u, u), dtype=np.int64)
            # |reference - rank| at flat index unit * U + rank - 1
            self._shift_table = np.abs(self.reference[:, None]
                                       - np.arange(1, u + 1)[None, :]).ravel()
            self.shift_steps = 0
            self.shift_counts = np.zeros(u * u + 1, dtype=np.int64)
            self._rows = max(1, SLICE_ELEMENTS // max(1, u))
        else:
            self.overall = BinnedRankHistogram(u, rank_bins(u, self.max_bins, tiers),
                                               focus=focus)
            self._group_edges: list[dict[int, np.ndarray]] = []
            luts_p, goffs = [], []
            for lab, gt in zip(self.partitions, ptiers):
                edges = {int(g): rank_bins(int((lab == g).sum()), self.max_bins, gt)
                         for g in np.unique(lab[lab >= 0])}
                luts, goff, at = [], np.zeros(u, dtype=np.int64), 0
                for g, e in edges.items():
                    size = int((lab == g).sum())
                    upper = np.append(e[1:] - 1, size)
                    luts.append(np.repeat(np.arange(e.size), upper - e + 1))
                    goff[lab == g] = at
                    at += size
                luts.append(np.zeros(1, dtype=np.int64))      # units in no group (rank 0)
                goff[lab < 0] = at + 1
                self._group_edges.append(edges)
                luts_p.append(np.concatenate(luts).astype(np.int64))
                goffs.append(goff - 1)
            # one array per quantity, partitions stacked (padded to the widest): the bin of
            # each within-group rank, its offset per unit, membership, counts, min/max/sum
            n_p = len(self.partitions)
            self._lut = np.zeros((n_p, max((x.size for x in luts_p), default=1)),
                                 dtype=np.int64)
            for p, lut in enumerate(luts_p):
                self._lut[p, :lut.size] = lut
            self._goff = np.array(goffs, dtype=np.int64).reshape(n_p, u)
            self._members = self._labels < np.array(
                [np.unique(lab[lab >= 0]).size for lab in self.partitions],
                dtype=np.int64).reshape(n_p, 1)
            nb = max((e.size for edges in self._group_edges for e in edges.values()),
                     default=1)
            self._pcounts = np.zeros((n_p, u, nb), dtype=np.int64)
            self._plow = np.full((n_p, u), u + 1, dtype=np.int64)
            self._phigh = np.zeros((n_p, u), dtype=np.int64)
            self._ptotal = np.zeros((n_p, u), dtype=np.int64)
            self.shift_steps = SHIFT_STEPS
            self.shift_counts = np.zeros(SHIFT_STEPS * u + 1, dtype=np.int64)
            self.shift_total = 0
            self.shift_max = 0
            self._rows = max(1, BINNED_SLICE_ELEMENTS // max(1, u))

    @property
    def partition_counts(self) -> list[np.ndarray]:
        """Per partition, units x within-group ranks (or rank bins) counts (views)."""
        return list(self._pcounts)

    def _tiles(self, rows: int) -> np.ndarray:
        """Flat, contiguous positions 0..U-1 for ``rows`` scenarios (broadcasting over a
        short last axis is several times slower than flat ops)."""
        if rows not in self._tile_cache:
            if len(self._tile_cache) > 4:
                self._tile_cache.clear()
            self._tile_cache[rows] = np.tile(np.arange(self.n_units, dtype=np.int64), rows)
        return self._tile_cache[rows]

    def add(self, scores: np.ndarray) -> np.ndarray:
        """Fold a (scenarios x units) block; returns the per-scenario shift sums."""
        s = np.atleast_2d(scores)
        if kernels.enabled():
            fold = self._add_compiled
        else:
            fold = self._add_exact if self.exact else self._add_binned
        if s.shape[0] <= self._rows:
            return fold(s)
        rows = -(-s.shape[0] // -(-s.shape[0] // self._rows))  # equal slices
        return np.concatenate([fold(s[lo: lo + rows]) for lo in range(0, s.shape[0], rows)])

    def _add_tiers(self, scores: np.ndarray) -> None:
        if self.thresholds is not None:
            u, t = self.n_units, self.tier_counts.shape[1]
            tier = tier_of_score(scores, self.thresholds) - 1
            flat = (np.arange(u, dtype=np.int64) * t + tier).ravel()
            self.tier_counts += np.bincount(flat, minlength=u * t).reshape(u, t)

    def _add_compiled(self, scores: np.ndarray) -> np.ndarray:
        """:meth:`_add_exact` / :meth:`_add_binned` through the compiled kernels
        (:mod:`cityindex.kernels`): the same counts. Rows the keys cannot order strictly are
        sorted exactly (:func:`resolve_near_ties`); strict ones then go through the kernel,
        rows with exact ties through the tie path."""
        self._add_tiers(scores)
        keys, mask, skip = kernels.sorted_keys(scores)
        shifts = np.empty(keys.shape[0], dtype=np.int64)
        self._fold_compiled(keys, mask, skip, shifts)
        rows = np.flatnonzero(skip)
        if rows.size:
            s = scores[rows]
            exact = np.argsort(-s, axis=1, kind="stable")
            v = np.take_along_axis(s, exact, axis=1)
            tied = (v[:, 1:] == v[:, :-1]).any(axis=1)
            if not tied.all():
                part = np.empty(int((~tied).sum()), dtype=np.int64)
                self._fold_compiled(np.ascontiguousarray(exact[~tied]), -1,
                                    np.zeros(part.size, dtype=np.bool_), part)
                shifts[rows[~tied]] = part
            if tied.any():
                shifts[rows[tied]] = self._add_tied(s[tied])
        if self.exact:
            scatter_add(self.shift_counts, shifts)
        else:
            self._count_binned_shifts(shifts)
        return shifts

    def _fold_compiled(self, keys: np.ndarray, mask: int, skip: np.ndarray,
                       shifts: np.ndarray) -> None:
        if self.exact:
            kernels.fold_exact(keys, mask, skip, self.overall.counts, self.reference,
                               self._labels, self._packed, self._pcounts, shifts)
        else:
            kernels.fold_binned(keys, mask, skip, self.overall, self.reference, self._labels,
                                self._members, self._lut, self._goff, self._pcounts,
                                self._plow, self._phigh, self._ptotal, shifts)

    def _add_tied(self, scores: np.ndarray) -> np.ndarray:
        """Rows with exact ties ("min" ranks, :func:`rank_desc`), overall and within each
        group; returns their shift sums (not yet counted)."""
        u = self.n_units
        ranks = rank_desc(scores).astype(np.int64)
        self.overall.add(ranks)
        for p, lab in enumerate(self.partitions):
            within = np.zeros_like(ranks)      # units in no group: not counted here
            for label in np.unique(lab[lab >= 0]):
                members = np.flatnonzero(lab == label)
                within[:, members] = rank_desc(scores[:, members])
                if self.exact:
                    scatter_add(self._pcounts[p], members * u + within[:, members] - 1)
            if not self.exact:
                self._add_partition(p, within)
        return np.abs(ranks - self.reference).sum(axis=1)

    def _count_binned_shifts(self, shifts: np.ndarray) -> None:
        scatter_add(self.shift_counts, shifts * SHIFT_STEPS // self.n_units)
        self.shift_total += int(shifts.sum())
        self.shift_max = max(self.shift_max, int(shifts.max()))

    def _add_exact(self, scores: np.ndarray) -> np.ndarray:
        u = self.n_units
        self._add_tiers(scores)
        order, tied = resolve_near_ties(scores, *sorted_order(scores))
        clean = ~tied
        shifts = np.empty(order.shape[0], dtype=np.int64)
        if clean.any():
            o = order[clean] if tied.any() else order
            rows = o.shape[0]
            base = o.ravel() * u
            flat = base + self._tiles(rows)
            scatter_add(self.overall.counts, flat)
            shifts[clean] = np.take(self._shift_table, flat).reshape(rows, u).sum(axis=1)
            base -= 1
            for counts, within in zip(self.partition_counts, self._within.at_positions(o)):
                within = within.ravel()
                within += base
                scatter_add(counts, within)
        if tied.any():
            ranks = rank_desc(scores[tied])
            self.overall.add(ranks)
            shifts[tied] = np.abs(ranks - self.reference).sum(axis=1)
            for lab, counts in zip(self.partitions, self.partition_counts):
                for label in np.unique(lab[lab >= 0]):
                    members = np.flatnonzero(lab == label)
                    within = rank_desc(scores[tied][:, members])
                    scatter_add(counts, members[None, :] * u + within - 1)
        scatter_add(self.shift_counts, shifts)
        return shifts

    def _add_binned(self, scores: np.ndarray) -> np.ndarray:
        u = self.n_units
        self._add_tiers(scores)
        order, tied = resolve_near_ties(scores, *sorted_order(scores))
        rows = order.shape[0]
        ranks = np.empty((rows, u), dtype=np.int64)
        within = [np.empty((rows, u), dtype=np.int64) for _ in self.partitions]
        clean = ~tied
        if clean.any():
            o = order[clean] if tied.any() else order
            # scatter by unit: flat index of (row, unit) for every (row, position)
            at = (o + (np.arange(o.shape[0], dtype=np.int64) * u)[:, None]).ravel()
            r = np.empty(o.size, dtype=np.int64)
            r[at] = np.tile(np.arange(1, u + 1, dtype=np.int64), o.shape[0])
            ranks[clean] = r.reshape(o.shape)
            for w, pos in zip(within, self._within.at_positions(o)):
                r[at] = pos.ravel()
                w[clean] = r.reshape(o.shape)
        if tied.any():
            ranks[tied] = rank_desc(scores[tied])
            rows_tied = np.flatnonzero(tied)
            for w, lab in zip(within, self.partitions):
                for label in np.unique(lab[lab >= 0]):
                    members = np.flatnonzero(lab == label)
                    w[np.ix_(rows_tied, members)] = rank_desc(scores[tied][:, members])
        self.overall.add(ranks)
        for p, w in enumerate(within):
            self._add_partition(p, w)
        shifts = np.abs(ranks - self.reference).sum(axis=1)
        scatter_add(self.shift_counts, shifts * SHIFT_STEPS // u)
        self.shift_total += int(shifts.sum())
        self.shift_max = max(self.shift_max, int(shifts.max()))
        return shifts

    def _add_partition(self, p: int, within: np.ndarray) -> None:
        """Binned path: fold within-group ranks (rows, units; unit order) of partition p."""
        outside = ~self._members[p]
        if outside.any():
            within[:, outside] = 0
        counts = self.partition_counts[p]
        idx = np.take(self._lut[p], within + self._goff[p])
        idx += np.arange(self.n_units, dtype=np.int64) * counts.shape[1]
        scatter_add(counts, idx)
        np.minimum(self._plow[p], within.min(axis=0), out=self._plow[p])
        np.maximum(self._phigh[p], within.max(axis=0), out=self._phigh[p])
        self._ptotal[p] += within.sum(axis=0)

    def merge(self, other: RankFolder) -> None:
        self.overall.merge(other.overall)
        if self.tier_counts is not None:
            self.tier_counts += other.tier_counts
        self._pcounts += other._pcounts
        self.shift_counts += other.shift_counts
        if not self.exact:
            np.minimum(self._plow, other._plow, out=self._plow)
            np.maximum(self._phigh, other._phigh, out=self._phigh)
            self._ptotal += other._ptotal
            self.shift_total += other.shift_total
            self.shift_max = max(self.shift_max, other.shift_max)

    def group_histogram(self, partition: int, members: np.ndarray) -> RankHistogram:
        """The within-group rank histogram of one group of a partition."""
        counts = self.partition_counts[partition]
        if self.exact:
            hist = RankHistogram(members.size)
            hist.counts = counts[members][:, :members.size].copy()
            return hist
        label = int(self.partitions[partition][members[0]])
        edges = self._group_edges[partition][label]
        hist = BinnedRankHistogram(members.size, edges)
        hist.counts = counts[members][:, :edges.size].copy()
        hist.low = self._plow[partition][members].copy()
        hist.high = self._phigh[partition][members].copy()
        hist.total = self._ptotal[partition][members].copy()
        return hist

    def resolution(self) -> dict:
        """How exact the rank statistics are, for summaries: {} for exact histograms."""
        if self.exact:
            return {}
        hist = self.overall
        width = hist.max_width
        return {"rank_histograms": {
            "exact": False,
            "bins": int(hist.edges.size),
            "bin_width": width,
            "quantile_error": f"at most {width // 2} ranks (half a bin of {width} ranks): "
                              "p05..p95 and medians are the midpoint of the bin that holds the "
                              "type-1 quantile, narrowed to the unit's exact min and max",
            "exact_statistics": "mean, min, max, P(published rank), P(within 2 of it), "
                                "P(each tier) (bins split at tier boundaries)",
            "acceptability": "P(rank in bin) per bin (columns rank_<first>_<last>)",
            "average_abs_rank_shift": f"quantiles to within 1/{2 * SHIFT_STEPS} rank; mean "
                                      "and max exact",
        }}

    def shift_summary(self) -> dict:
        """The average absolute rank shift R_s = (sum_c |rank_c - reference_c|) / U: mean,
        p05, median, p95, max and a histogram in unit-wide bins of R_s."""
        u = self.n_units
        counts = self.shift_counts
        n = counts.sum()
        cdf = np.cumsum(counts)
        nz = np.flatnonzero(counts)
        if self.exact:
            values = np.arange(counts.size) / u
            top = float(values[nz[-1]]) if nz.size else 0.0
            mean = float(counts @ values / n)

            def q(p: float) -> float:
                return float(values[np.searchsorted(cdf, p * n - 1e-9 * n)])
        else:
            k = self.shift_steps
            values = np.arange(counts.size) / k          # lower edge of each step of R_s
            top = self.shift_max / u
            mean = self.shift_total / max(n, 1) / u

            def q(p: float) -> float:
                b = int(np.searchsorted(cdf, p * n - 1e-9 * n))
                return float(min(max((b + 0.5) / k, 0.0), top))
        # histogram in unit-width bins of R_s for a compact, exact-enough record
        edges = np.arange(0, np.ceil(top) + 2) if nz.size else np.arange(2)
        binned = np.histogram(values, bins=edges, weights=counts)[0].astype(int)
        return {
            "definition": "R_s = mean over units of |rank in scenario s - nominal rank|",
            "mean": mean, "p05": q(0.05), "median": q(0.5), "p95": q(0.95),
            "max": top,
            "histogram": {"bin_edges": edges.tolist(), "counts": binned.tolist()},
        }


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
