from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata

from cityindex.rank import RankHistogram, rank_desc


@pytest.mark.parametrize("levels", [3, 10, 1000])
def test_rank_desc_matches_scipy_min_method(levels):
    rng = np.random.default_rng(levels)
    scores = rng.integers(0, levels, size=(500, 17)).astype(float)  # many ties
    expected = np.vstack([rankdata(-row, method="min") for row in scores])
    np.testing.assert_array_equal(rank_desc(scores), expected)


def test_rank_desc_one_dimensional():
    np.testing.assert_array_equal(rank_desc(np.array([3.0, 1.0, 3.0, 2.0])), [1, 4, 1, 3])


def test_rank_desc_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        rank_desc(np.array([[1.0, np.nan]]))


def test_histogram_statistics_match_direct_computation():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(4000, 9)) + np.linspace(0, 2, 9)
    ranks = rank_desc(scores)
    hist = RankHistogram(9)
    for chunk in np.array_split(ranks, 7):
        hist.add(chunk)
    assert hist.n == 4000
    np.testing.assert_allclose(hist.probabilities().sum(axis=1), 1.0)
    np.testing.assert_allclose(hist.mean(), ranks.mean(axis=0))
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        np.testing.assert_array_equal(
            hist.quantile(q), np.quantile(ranks, q, axis=0, method="inverted_cdf"))
    np.testing.assert_array_equal(hist.minimum(), ranks.min(axis=0))
    np.testing.assert_array_equal(hist.maximum(), ranks.max(axis=0))
    tiers = hist.tier_probabilities((2, 3))
    np.testing.assert_allclose(tiers[:, 0], (ranks <= 2).mean(axis=0))
    np.testing.assert_allclose(tiers[:, 2], (ranks > 5).mean(axis=0))
    lo = np.full(9, 3)
    hi = np.full(9, 4)
    np.testing.assert_allclose(hist.prob_between(lo, hi),
                               ((ranks >= 3) & (ranks <= 4)).mean(axis=0))


@pytest.mark.parametrize("levels", [4, 10**9])
def test_rank_folder_matches_direct_computation(levels):
    """Overall, within-group histograms and shift sums against rank_desc row by row, with
    ties (levels = 4) and without; chunked folding."""
    from cityindex.rank import RankFolder

    rng = np.random.default_rng(levels % 97)
    u = 11
    labels = np.array([0, 1, 0, 2, 1, -1, 0, 2, 1, 2, -1])
    other = np.array([1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1])
    reference = rng.permutation(u) + 1
    scores = np.floor(rng.uniform(0, levels, size=(3000, u)))
    folder = RankFolder(u, reference, [labels, other])
    for chunk in np.array_split(scores, 7):
        folder.add(chunk)
    ranks = rank_desc(scores)
    direct = RankHistogram(u)
    direct.add(ranks)
    np.testing.assert_array_equal(folder.overall.counts, direct.counts)
    shifts = np.abs(ranks - reference).sum(axis=1)
    np.testing.assert_array_equal(folder.shift_counts,
                                  np.bincount(shifts, minlength=u * u + 1))
    for p, lab in enumerate([labels, other]):
        for g in np.unique(lab[lab >= 0]):
            members = np.flatnonzero(lab == g)
            expected = RankHistogram(members.size)
            expected.add(rank_desc(scores[:, members]))
            np.testing.assert_array_equal(folder.group_histogram(p, members).counts,
                                          expected.counts)


def test_rank_matrix_equals_rank_desc():
    from cityindex.rank import rank_matrix

    rng = np.random.default_rng(3)
    for levels in (3, 10**9):
        s = np.floor(rng.uniform(0, levels, size=(500, 30)))
        np.testing.assert_array_equal(rank_matrix(s), rank_desc(s))
