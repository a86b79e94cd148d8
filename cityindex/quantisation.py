"""Detection of quantisation grids in published scores.

A published indicator is often a transform of coarse raw data (e.g. Google Trends integers
rescaled to 0-100), so its values sit on a grid ``k * step``. Finding that grid tells an auditor
what the data really resolve and which values are off the grid (floors, typos, imputations).

Method: candidate steps are observed values divided by 1..``max_divisor`` plus small multiples
of the printing resolution. With more than ``MAX_BASES`` distinct values, the bases are the 16
smallest and an even spread of the rest (a grid covering most values has on-grid values among
them), so the cost is O(U) per candidate and the candidates are bounded: O(U) in all, never
O(U^2); candidates are dropped as soon as their misses rule out ``min_coverage``
(:func:`_coverage_counts`), so most are tested on the first few thousand values only. A value
is on the grid when it lies within its own rounding half-unit of a multiple of the step. For
each candidate the number of on-grid values is compared with what chance gives by an exact
one-sided binomial test (scipy.stats.binomtest). The chance probability is exact, not
approximate: the share of all printable numbers (the lattice of multiples of the printing
resolution over the observed range) that would count as on the grid. The test level is 0.05
Bonferroni-corrected for the number of candidates. Among significant candidates covering at
least ``min_coverage`` of the values the largest step wins (every divisor of a true step is
also a grid). The step is then refined by interval arithmetic: each on-grid value v = m * step
known to +-h confines step to [(v-h)/m, (v+h)/m]; the midpoint of the intersection is reported
(least squares on rounded values is biased and can push values off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest

MAX_BASES = 128
BLOCK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class Grid:
    step: float
    coverage: float
    on_grid: np.ndarray  # bool per value
    p_value: float
    n_candidates: int


def detect_grid(values: np.ndarray, half_units: np.ndarray, max_divisor: int = 200,
                min_coverage: float = 0.9, alpha: float = 0.05) -> Grid | None:
    """The coarsest significant grid the values lie on, or None when there is none."""
    v = np.asarray(values, dtype=float)
    h = np.asarray(half_units, dtype=float)
    # the typical printing resolution; values clipped at a goalpost carry no rounding
    # (h = 0) and would make it 0
    printed = h[h > 0]
    if printed.size == 0:
        return None
    resolution = 2 * float(np.median(printed))
    positive = np.unique(v[v > 0])
    if positive.size == 0:
        return None
    if positive.size > MAX_BASES:
        rest = positive[16:]
        pick = np.linspace(0, rest.size - 1, MAX_BASES - 16).round().astype(int)
        positive = np.concatenate([positive[:16], rest[pick]])
    cands = (positive[:, None] / np.arange(1, max_divisor + 1)[None, :]).ravel()
    cands = np.concatenate([cands, resolution * np.array([2, 4, 5, 10, 20, 25, 50, 100])])
    cands = np.unique(np.round(cands, 9))
    cands = cands[cands >= 2 * resolution - 1e-12]
    if cands.size == 0:
        return None
    # every printable number over the range, thinned to at most ~20,000 points without ever
    # building the full lattice (full-precision values would make it billions long)
    first, last = np.floor(v.min() / resolution), np.ceil(v.max() / resolution)
    count = int(last - first) + 1
    lattice = np.arange(first, last + 1, count // 20000 + 1 if count > 20000 else 1)
    lattice = lattice * resolution
    tol = h[None, :] + 1e-9

    def on_grid(c: np.ndarray) -> np.ndarray:
        return np.abs(v[None, :] - c[:, None] * np.round(v[None, :] / c[:, None])) <= tol

    counts = _coverage_counts(v, tol[0], cands, min_coverage)
    coverage = counts / v.size
    order = np.argsort(-cands)
    level = alpha / cands.size
    for i in order:
        if coverage[i] < min_coverage:
            continue
        d = cands[i]
        p_chance = float(np.mean(np.abs(lattice - d * np.round(lattice / d))
                                 <= resolution / 2 + 1e-9))
        if p_chance >= 1.0:
            continue
        p = binomtest(int(counts[i]), v.size, p_chance, alternative="greater").pvalue
        if p < level:
            on = on_grid(cands[i: i + 1])[0]
            step = _refine(v[on], h[on], d)
            mask = np.abs(v - step * np.round(v / step)) <= h + 1e-9
            return Grid(step, float(mask.mean()), mask, float(p), int(cands.size))
    return None


def _coverage_counts(v: np.ndarray, tol: np.ndarray, cands: np.ndarray,
                     min_coverage: float) -> np.ndarray:
    """Per candidate step, the number of values on its grid; exact for every candidate that
    reaches ``min_coverage``, else some number below it. The values are taken in chunks and a
    candidate is dropped once its misses exceed what ``min_coverage`` allows (misses only
    grow): most candidates go after the first chunk, so the cost is about
    candidates x chunk + survivors x values instead of candidates x values."""
    n = v.size
    allowed = n - int(np.ceil(min_coverage * n - 1e-9))   # misses a covering grid may have
    misses = np.zeros(cands.size, dtype=np.int64)
    alive = np.arange(cands.size)
    chunk = max(256, BLOCK_ELEMENTS // max(cands.size, 1))
    for lo in range(0, n, chunk):
        if alive.size == 0:
            break
        part, t = v[lo: lo + chunk], tol[lo: lo + chunk]
        for a in range(0, alive.size, max(1, BLOCK_ELEMENTS // part.size)):
            idx = alive[a: a + max(1, BLOCK_ELEMENTS // part.size)]
            c = cands[idx][:, None]
            off = np.abs(part[None, :] - c * np.round(part[None, :] / c)) > t[None, :]
            misses[idx] += off.sum(axis=1)
        alive = alive[misses[alive] <= allowed]
    return n - misses


def _refine(v: np.ndarray, h: np.ndarray, step: float) -> float:
    m = np.round(v / step)
    keep = m > 0
    if not keep.any():
        return step
    lo = np.max((v[keep] - h[keep]) / m[keep])
    hi = np.min((v[keep] + h[keep]) / m[keep])
    return float((lo + hi) / 2) if lo <= hi else step
