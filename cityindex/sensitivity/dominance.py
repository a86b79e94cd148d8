"""Dominance: weight-free facts about the ranking.

Unit A dominates B when A is at least as good on every indicator and strictly better on one.
Every normalisation cityindex offers is increasing in each indicator and both aggregations are
increasing in each normalised value, so under any positive weights and any of those choices A
scores at least as high as B (strictly higher under arithmetic aggregation with positive
weights). Hence a unit dominated by m others can rank no better than m + 1, and a unit that
dominates m others can rank no worse than U - m, whatever the weights (the Pareto reasoning
behind SMAA and ERA; Kadziński et al. 2012).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.sensitivity.engine import published_ranks, rank_tier_sizes
from cityindex.spec import tier_of_rank

BLOCK_ELEMENTS = 1 << 24


def dominance_matrix(x: np.ndarray) -> np.ndarray:
    """[a, b] = True when row a dominates row b."""
    ge = (x[:, None, :] >= x[None, :, :]).all(axis=2)
    gt = (x[:, None, :] > x[None, :, :]).any(axis=2)
    return ge & gt


def dominance_pairs(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dominant, dominated) index arrays in row-major order, computed in blocks of rows:
    O(U^2 D) time, O(U D + pairs) memory."""
    n, d = x.shape
    step = max(1, BLOCK_ELEMENTS // max(1, n * d))
    out_a, out_b = [], []
    for lo in range(0, n, step):
        dom = dominance_matrix_rows(x, lo, min(n, lo + step))
        a, b = np.nonzero(dom)
        out_a.append(a + lo)
        out_b.append(b)
    return (np.concatenate(out_a) if out_a else np.zeros(0, dtype=np.int64),
            np.concatenate(out_b) if out_b else np.zeros(0, dtype=np.int64))


def dominance_matrix_rows(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Rows lo..hi-1 of :func:`dominance_matrix`."""
    ge = (x[lo:hi, None, :] >= x[None, :, :]).all(axis=2)
    gt = (x[lo:hi, None, :] > x[None, :, :]).any(axis=2)
    return ge & gt


def dominance_tables(ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, per-unit summary). Pairs: dominant, dominated. Summary per unit: how many it
    dominates / is dominated by, the rank bounds that follow, and whether they fix its tier."""
    x = ds.matrix
    a, b = dominance_pairs(x)
    units = np.asarray(ds.units, dtype=object)
    pairs = pd.DataFrame({"dominant": units[a].tolist(), "dominated": units[b].tolist()})
    n = len(ds.units)
    dominated_by = np.bincount(b, minlength=n)
    dominates = np.bincount(a, minlength=n)
    best_possible = dominated_by + 1
    worst_possible = n - dominates
    tiers = rank_tier_sizes(ds)
    published = published_ranks(ds)
    facts = []
    bounds = np.cumsum(tiers)
    for i in range(n):
        f = []
        for edge in bounds[:-1]:
            if best_possible[i] > edge:
                f.append(f"no weighting can put it in the top {edge}: {dominated_by[i]} units "
                         "dominate it")
                break
        for edge in bounds[:-1]:
            if worst_possible[i] <= edge:
                f.append(f"no weighting can push it out of the top {edge}: it dominates "
                         f"{dominates[i]} units")
                break
        facts.append("; ".join(f))
    summary = pd.DataFrame({
        "unit": ds.units, "published_rank": published,
        "dominates": dominates, "dominated_by": dominated_by,
        "best_possible_rank": best_possible, "worst_possible_rank": worst_possible,
        "tier_fixed_by_dominance": tier_of_rank(best_possible, tiers)
        == tier_of_rank(worst_possible, tiers),
        "facts": facts,
    })
    return pairs, summary
