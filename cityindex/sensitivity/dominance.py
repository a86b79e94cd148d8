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


def dominance_matrix(x: np.ndarray) -> np.ndarray:
    """[a, b] = True when row a dominates row b."""
    ge = (x[:, None, :] >= x[None, :, :]).all(axis=2)
    gt = (x[:, None, :] > x[None, :, :]).any(axis=2)
    return ge & gt


def dominance_tables(ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(pairs, per-unit summary). Pairs: dominant, dominated. Summary per unit: how many it
    dominates / is dominated by, the rank bounds that follow, and whether they fix its tier."""
    x = ds.indicators[ds.spec.indicators].to_numpy()
    dom = dominance_matrix(x)
    a, b = np.nonzero(dom)
    pairs = pd.DataFrame({"dominant": [ds.units[i] for i in a],
                          "dominated": [ds.units[j] for j in b]})
    n = len(ds.units)
    dominated_by = dom.sum(axis=0)
    dominates = dom.sum(axis=1)
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
