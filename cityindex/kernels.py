"""Compiled inner loops of the rank folding (numba), one pass over each scenario's order.

:class:`cityindex.rank.RankFolder` turns each scenario's order of units (best first, from one
integer sort) into counts: the overall rank histogram, the within-group rank histograms of
every partition and the scenario's rank-shift sum. In numpy that is some thirty passes over
(scenarios x units) temporaries; here it is one loop that, walking the order from best to
worst, increments the unit's rank cell, counts the unit in its group of each partition (its
within-group rank is that count) and adds |rank - reference| — the same integer counts, so
the results are identical (tests/test_kernels.py checks both paths on the same scenarios).

numba is a dependency; the numpy path stays as the reference implementation and is used
when numba cannot be imported or when ``CITYINDEX_KERNELS=numpy`` is set. Kernels release
the GIL (the Monte-Carlo worker threads run them in parallel) and are cached on disk after
their first compilation (about 2 s, once per machine and numba version).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import warnings
from collections.abc import Callable

import numpy as np

__all__ = ["enabled", "fold_binned", "fold_exact", "group_labels", "jit", "packed_counters",
           "sorted_keys", "switched_on"]


def enabled() -> bool:
    """True when the compiled kernels are used (numba importable and not switched off by
    ``CITYINDEX_KERNELS=numpy``)."""
    return switched_on() and _usable()


def switched_on() -> bool:
    """False when ``CITYINDEX_KERNELS=numpy`` asks for the numpy reference paths."""
    return os.environ.get("CITYINDEX_KERNELS", "numba") != "numpy"


@functools.cache
def _usable() -> bool:
    """numba is installed and the kernels compile and run here (compiled once, on a tiny
    case with the dtypes of the real calls); if not, say so once and use numpy."""
    if importlib.util.find_spec("numba") is None:
        return False
    try:
        _warm_up()
    except Exception as error:  # any compiler failure: fall back, loudly
        warnings.warn(f"cityindex: compiled kernels unavailable ({type(error).__name__}: "
                      f"{error}); using the numpy path (same results, slower)", stacklevel=2)
        return False
    return True


def _warm_up() -> None:
    i64 = np.int64
    keys, mask, skip = sorted_keys(np.array([[2.0, 1.0, 3.0]]))
    labels = np.array([[0, 1, 0]], dtype=i64)
    packed = packed_counters(labels)
    ref = np.array([1, 2, 3], dtype=i64)
    shifts = np.zeros(1, dtype=i64)
    fold_exact(keys, mask, skip, np.zeros((3, 3), dtype=i64), ref, labels, packed,
               np.zeros((1, 3, 3), dtype=i64), shifts)

    class Hist:
        lookup = np.array([0, 0, 1], dtype=i64)
        counts = np.zeros((3, 2), dtype=i64)
        low, high, total = (np.zeros(3, dtype=i64) for _ in range(3))
        focus = ref
        near = np.zeros((3, 5), dtype=i64)

    fold_binned(keys, mask, skip, Hist, ref, labels, labels < 2, np.zeros((1, 4), dtype=i64),
                np.zeros((1, 3), dtype=i64), np.zeros((1, 3, 2), dtype=i64),
                *(np.zeros((1, 3), dtype=i64) for _ in range(3)), shifts)
    if Hist.counts.sum() != 3 or shifts[0] != 4:  # ranks 2, 3, 1 against 1, 2, 3
        raise RuntimeError("the kernels' self-test counted wrongly")


def packed_counters(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per partition (rows of :func:`group_labels`), whether all its groups' counters fit in
    one 64-bit word, and (3, partitions, units) uint64: each unit's increment (1 at its
    group's field), its field's offset and its field's mask. A group of m members needs
    bit_length(m) bits. Walking a scenario's order, ``word += inc[unit]`` then
    ``(word >> offset[unit]) & mask[unit]`` is the unit's within-group rank."""
    n_part, n_units = labels.shape
    counters = np.zeros((3, n_part, n_units), dtype=np.uint64)
    packed = np.zeros(n_part, dtype=np.bool_)
    for p in range(n_part):
        sizes = np.bincount(labels[p])
        widths = np.array([int(m).bit_length() for m in sizes], dtype=np.int64)
        if widths.sum() > 64:
            continue
        offsets = np.concatenate([[0], np.cumsum(widths)[:-1]])
        g = labels[p]
        counters[0, p] = np.left_shift(np.uint64(1), offsets[g].astype(np.uint64))
        counters[1, p] = offsets[g]
        counters[2, p] = (np.left_shift(np.uint64(1), widths[g].astype(np.uint64))
                          - np.uint64(1))
        packed[p] = True
    return packed, counters


def group_labels(partitions: list[np.ndarray], n_units: int) -> np.ndarray:
    """(partitions, units) int64 group numbers 0..G-1 per partition, units in no group
    (label -1) numbered G: they are ranked among themselves, as the numpy path does."""
    out = np.zeros((len(partitions), n_units), dtype=np.int64)
    for p, lab in enumerate(partitions):
        groups = np.unique(lab[lab >= 0])
        out[p] = np.where(lab >= 0, np.searchsorted(groups, lab), groups.size)
    return out


def _order_keys(scores, mask, keys):  # pragma: no cover
    # rank.sorted_order's keys in one pass: bits of (max + 1 - score) above, unit below
    rows, u = scores.shape
    top = scores[0, 0]
    for i in range(rows):
        for j in range(u):
            if scores[i, j] > top:
                top = scores[i, j]
    top += 1.0
    high = ~mask
    d = np.empty(u, dtype=np.float64)
    bits = d.view(np.int64)
    for i in range(rows):
        for j in range(u):
            d[j] = top - scores[i, j]
        for j in range(u):
            keys[i, j] = (bits[j] & high) | j


def _strict_rows(keys, mask, skip):  # pragma: no cover
    # rows whose adjacent sorted keys share their high bits (a possible tie) are skipped
    rows, u = keys.shape
    for s in range(rows):
        skip[s] = False
        for j in range(u - 1):
            if (keys[s, j + 1] ^ keys[s, j]) <= mask:
                skip[s] = True
                break


def _fold_exact(keys, mask, skip, counts, reference, labels, packed, counters, pcounts,
                shifts):  # pragma: no cover
    # Unsigned indices (no negative-index wrap checks) and one pass per partition: about
    # twice as fast as one fused loop; packed counters another third faster.
    rows, u = keys.shape
    n = np.uint64(u)
    one = np.uint64(1)
    low = np.uint64(mask)
    flat = counts.ravel()
    for s in range(rows):
        if skip[s]:
            continue
        total = 0
        for pos in range(u):
            unit = np.uint64(keys[s, pos]) & low
            flat[unit * n + np.uint64(pos)] += 1
            total += abs(reference[unit] - pos - 1)
        shifts[s] = total
    seen = np.zeros(u + 1, dtype=np.uint64)
    for p in range(labels.shape[0]):
        pflat = pcounts[p].ravel()
        if packed[p]:
            # every group's counter in one bit field of a register word (no memory chain)
            inc, at, width = counters[0, p], counters[1, p], counters[2, p]
            for s in range(rows):
                if skip[s]:
                    continue
                word = np.uint64(0)
                for pos in range(u):
                    unit = np.uint64(keys[s, pos]) & low
                    word += inc[unit]
                    pflat[unit * n + ((word >> at[unit]) & width[unit]) - one] += 1
            continue
        lab = labels[p].astype(np.uint64)
        for s in range(rows):
            if skip[s]:
                continue
            seen[:] = 0
            for pos in range(u):
                unit = np.uint64(keys[s, pos]) & low
                g = lab[unit]
                c = seen[g]
                seen[g] = c + one
                pflat[unit * n + c] += 1


def _fold_binned(keys, mask, skip, lookup, counts, low, high, total, focus, near, reference,
                 labels, members, lut, offset, pcounts, plow, phigh, ptotal,
                 shifts):  # pragma: no cover
    rows, u = keys.shape
    has_focus = focus.shape[0] == u
    reach = (near.shape[1] - 1) // 2
    unit_bits = np.uint64(mask)
    for s in range(rows):
        if skip[s]:
            continue
        shift = 0
        for pos in range(u):
            unit = np.uint64(keys[s, pos]) & unit_bits
            r = pos + 1
            counts[unit, lookup[pos]] += 1
            if r < low[unit]:
                low[unit] = r
            if r > high[unit]:
                high[unit] = r
            total[unit] += r
            if has_focus:
                d = r - focus[unit] + reach
                if 0 <= d <= 2 * reach:
                    near[unit, d] += 1
            shift += abs(r - reference[unit])
        shifts[s] = shift
    seen = np.zeros(u + 1, dtype=np.int64)
    for p in range(labels.shape[0]):
        for s in range(rows):
            if skip[s]:
                continue
            seen[:] = 0
            for pos in range(u):
                unit = np.uint64(keys[s, pos]) & unit_bits
                g = labels[p, unit]
                c = seen[g] + 1
                seen[g] = c
                w = c if members[p, unit] else 0   # units in no group: rank 0, as numpy
                pcounts[p, unit, lut[p, w + offset[p, unit]]] += 1
                if w < plow[p, unit]:
                    plow[p, unit] = w
                if w > phigh[p, unit]:
                    phigh[p, unit] = w
                ptotal[p, unit] += w


def _compiled(name: str) -> Callable:
    """The kernel ``_name`` of this module compiled by numba."""
    return jit(globals()[f"_{name}"])


@functools.cache
def jit(function: Callable) -> Callable:
    """``function`` compiled by numba without the GIL (numba is imported only here:
    ``import cityindex`` stays light); cached on disk where the package directory is
    writable, else compiled once per process."""
    from numba import njit

    try:  # compiled once per machine, then loaded from numba's on-disk cache
        return njit(nogil=True, cache=True)(function)
    except RuntimeError:  # no writable cache location (read-only install): compile per run
        return njit(nogil=True)(function)


def sorted_keys(scores: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """:func:`cityindex.rank.sorted_order` without its last passes: each row's int64 keys
    sorted ascending (unit = key & mask, best first), the mask, and which rows may hold a
    tie (adjacent keys equal in their high bits: resolve them exactly)."""
    s = np.ascontiguousarray(scores, dtype=np.float64)
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity: a scenario could not be computed")
    keys = np.empty(s.shape, dtype=np.int64)
    mask = (1 << max(1, (s.shape[1] - 1).bit_length())) - 1
    if s.size:
        _compiled("order_keys")(s, np.int64(mask), keys)
    keys.sort(axis=1)
    skip = np.empty(s.shape[0], dtype=np.bool_)
    _compiled("strict_rows")(keys, np.int64(mask), skip)
    return keys, mask, skip


def fold_exact(keys: np.ndarray, mask: int, skip: np.ndarray, counts: np.ndarray,
               reference: np.ndarray, labels: np.ndarray,
               packed: tuple[np.ndarray, np.ndarray], pcounts: np.ndarray,
               shifts: np.ndarray) -> None:
    """Fold the rows not in ``skip`` of sorted ``keys`` (unit = key & mask at each position,
    best first; no ties) into the exact histograms: ``counts[unit, rank - 1]``,
    ``pcounts[p, unit, within-group rank - 1]`` for every partition p (groups ``labels[p]``,
    see :func:`group_labels`; ``packed``: :func:`packed_counters` of them), and each row's
    sum |rank - reference| into ``shifts``."""
    _compiled("fold_exact")(keys, np.int64(mask), skip, counts, reference, labels, *packed,
                            pcounts, shifts)


def fold_binned(keys: np.ndarray, mask: int, skip: np.ndarray, hist, reference: np.ndarray,
                labels: np.ndarray, members: np.ndarray, lut: np.ndarray, offset: np.ndarray,
                pcounts: np.ndarray, plow: np.ndarray, phigh: np.ndarray,
                ptotal: np.ndarray, shifts: np.ndarray) -> None:
    """The binned counterpart of :func:`fold_exact` for a
    :class:`cityindex.rank.BinnedRankHistogram` ``hist`` (bins, exact min/max/sum, counts
    near the focus ranks) and the partitions' binned within-group counts (bin of within-group
    rank w of unit i: ``lut[p, w + offset[p, i]]``; units not in a group count as rank 0)."""
    focus = hist.focus if hist.focus is not None else np.zeros(0, dtype=np.int64)
    near = hist.near if hist.near is not None else np.zeros((0, 1), dtype=np.int64)
    _compiled("fold_binned")(keys, np.int64(mask), skip, hist.lookup, hist.counts, hist.low,
                             hist.high, hist.total, focus, near, reference, labels, members,
                             lut, offset, pcounts, plow, phigh, ptotal, shifts)
