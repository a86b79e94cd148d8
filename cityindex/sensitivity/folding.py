"""Rank accumulators sized for the dataset, and scoring that stays small for large indices.

:func:`rank_folder` builds the :class:`cityindex.rank.RankFolder` every Monte-Carlo-like
analysis folds its scenarios into (overall ranks, the report's groups, threshold tiers):
exact integer histograms for small indices, rank bins split at the tier boundaries above
``rank.EXACT_CELLS`` cells (see :class:`cityindex.rank.BinnedRankHistogram`: exact means,
extremes, tier probabilities and P(published rank); quantiles within half a bin).

:func:`fold_scenarios` scores a block of scenarios in slices of rows when the index is large,
so that the (scenarios x units) score matrix never exceeds SCORE_ELEMENTS values; for small
indices the block is scored whole, exactly as before.

Costs per scenario, U units: O(U log U) time (one integer sort; within-group ranks follow from
it); memory O(U^2) for exact histograms (U <= 2048), O(U x bins) above, independent of the
number of scenarios.
"""

from __future__ import annotations

import numpy as np

from cityindex.data import Dataset
from cityindex.rank import RankFolder
from cityindex.sensitivity.engine import (
    IndexModel,
    nominal_ranks,
    partitions,
    published_ranks,
    report_groups,
)
from cityindex.sensitivity.sampler import Scenarios

SCORE_ELEMENTS = 1 << 19   # scores computed at a time for one block (4 MiB)
FOLD_ELEMENTS = 1 << 21    # scores folded at a time (rank.BINNED_SLICE_ELEMENTS)


def bin_options(ds: Dataset, max_bins: int | None = None) -> dict:
    """The keyword arguments of :class:`RankFolder` that let large indices use rank bins
    without losing exact tier probabilities and P(published rank): the spec's tiers, the
    report's group tiers, the published ranks as focus."""
    groups = report_groups(ds)
    kinds = list(dict.fromkeys(g.kind for g in groups))
    spec = ds.spec
    return {"tiers": spec.tiers if spec.tier_thresholds is None else (),
            "partition_tiers": [next(g.tiers for g in groups if g.kind == k) for k in kinds],
            "focus": published_ranks(ds), "max_bins": max_bins}


def rank_folder(ds: Dataset, reference: np.ndarray | None = None,
                max_bins: int | None = None, own_scale: bool = True) -> RankFolder:
    """An empty accumulator for ``ds``: overall ranks against ``reference`` (default the
    nominal ranks), within each of the report's groups, threshold tiers when the spec has
    them and the scores are on the index's own scale (``own_scale``: under another
    normalisation tiers go by rank position, see ``engine.tiers_of``); bins (when the index is
    large) split at the spec's and the groups' tiers, with exact counts around the published
    ranks (:func:`bin_options`)."""
    return RankFolder(ds.n_units, nominal_ranks(ds) if reference is None else reference,
                      partitions(ds, report_groups(ds)),
                      ds.spec.tier_thresholds if own_scale else None,
                      **bin_options(ds, max_bins))


def fold_scenarios(folder: RankFolder, scorer: IndexModel, sc: Scenarios) -> None:
    """Score a block of scenarios and fold the scores, in slices of rows for large indices
    (the slices depend only on the number of units, so results do not depend on chunking).
    Scores are computed SCORE_ELEMENTS at a time and, for binned histograms, folded
    FOLD_ELEMENTS at a time: the binned fold runs faster over more scenarios per pass."""
    n = len(sc)
    rows = max(1, SCORE_ELEMENTS // max(1, scorer.n_units))
    if n <= rows:
        folder.add(scorer.scores(sc.node_weights, sc.effective, sc.normalisation,
                                 sc.aggregation))
        return
    # the exact path folds in cache-sized slices anyway: no point holding more scores
    per_fold = rows if folder.exact else max(rows, FOLD_ELEMENTS // max(1, scorer.n_units))
    pending: list[np.ndarray] = []
    held = 0
    for lo in range(0, n, rows):
        part = slice(lo, lo + rows)
        pending.append(scorer.scores(sc.node_weights[part], sc.effective[part],
                                     sc.normalisation[part], sc.aggregation[part]))
        held += pending[-1].shape[0]
        if held >= per_fold or lo + rows >= n:
            folder.add(pending[0] if len(pending) == 1 else np.concatenate(pending))
            pending, held = [], 0
