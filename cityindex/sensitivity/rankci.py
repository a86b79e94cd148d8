"""Confidence sets for ranks (Mogstad, Romano, Shaikh & Wilhelm 2024, "Inference for Ranks
with Applications to Mobility across Neighbourhoods and Academic Achievement across
Countries", Review of Economic Studies 91(1), sections 3-4; reference implementation: the
authors' R package csranks, ``csranks`` in R/ranks.R and ``csdiffmeans`` / ``initialize_I0``
in R/diffmeans.R).

Rank 1 is the largest value: rank_j = 1 + #{k : theta_k > theta_j} (csranks' ``irank``).
Under ties a unit could take any rank in [1 + #{k : theta_k > theta_j},
p - #{k : theta_k < theta_j}]; the sets below cover that whole range whenever no true
hypothesis is rejected, so they cover the rank above under any tie-breaking.

Hypotheses. For every ordered pair (j, k), j != k, the one-sided hypothesis

    H_jk : Delta_jk = theta_k - theta_j <= 0        ("k is not above j")

is tested with t_jk = (est_k - est_j) / sigma_jk, sigma_jk the standard error of the
difference. Rejecting H_jk says k is certainly above j; rejecting H_kj says k is certainly
below j. Then

    rank_j in [1 + #{k : H_jk rejected},  p - #{k : H_kj rejected}].

Families (which hypotheses share one familywise error rate):

* simultaneous, any kind: all ordered pairs (both directions of every pair). The one-sided
  simultaneous sets ("lower", "upper") use the same family, so the lower bounds of the
  two-sided simultaneous sets equal those of kind "lower" and the upper bounds those of kind
  "upper" (tau-best / tau-worst use these one-sided sets).
* marginal, unit j: "two-sided" - every difference involving j in both directions,
  {H_jk} and {H_kj} over k; "lower" - {H_jk} over k (who is above j); "upper" - {H_kj}
  over k (who is below j).

Critical values come from a parametric bootstrap of the estimation error, z ~ N(0, cov):
the critical value of a family is the (1 - alpha) quantile over draws of
max_{(j, k) in family} (z_k - z_j) / sigma_jk, and H_jk is rejected when t_jk exceeds it.
With both directions of a pair in the family this maximum is max |z_k - z_j| / sigma_jk, the
familiar two-sided statistic. The stepdown refinement (Romano & Wolf 2005) removes the
*hypotheses* rejected so far - one direction of a pair, never both: rejecting "k is not above
j" leaves "j is not above k" in the family and in the maximum of the next step - recomputes
the critical value on the same draws and repeats until no new rejection. (Removing both
directions once |Delta_jk| was rejected, as this module did before, drops hypotheses that are
true, so later critical values were too small and the sets too narrow; single-step sets are
unchanged.) Marginal sets run one such stepdown per unit on its own family.

Bootstrap quantile: the critical value is an order statistic of the B bootstrap maxima, the
one with 0-based index ceil((B - 1)(1 - alpha)) - numpy's ``method="higher"``. csranks uses
R's default (type 7, linear interpolation between that order statistic and the one below),
and the paper's quantile inf{x : F_B(x) >= 1 - alpha} is the ceil(B (1 - alpha))-th order
statistic, never larger. "higher" is never below either, so on the same draws the sets are
never narrower than with those rules; the difference is at most one spacing of the bootstrap
maxima near their 95th percentile (O(1/B)), well inside the bootstrap's own Monte-Carlo error.
It keeps the critical value an actual bootstrap value, free of interpolation.

Differences with zero variance (sigma_jk = 0, e.g. two units sharing all their noise; taken
as zero when below 1e-12 (var_j + var_k)) are known exactly: they are decided by the sign of
est_k - est_j and stay out of the bootstrap maxima.

Why not bootstrap percentile intervals of the ranks themselves? Near ties the bootstrap
distribution of an estimated rank does not approximate its sampling distribution (the rank is
a discontinuous function of the estimates; Hall & Miller 2009, "Using the bootstrap to quantify
the authority of an empirical ranking", Annals of Statistics 37(6)), and such intervals
under-cover exactly where ranks are most uncertain. The sets here are valid (conservative)
whatever the configuration of true values, ties included, as long as the estimates are
approximately normal with the given covariance.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cityindex.streams import Stream, block_rng

KINDS = ("two-sided", "lower", "upper")
ZERO_VARIANCE = 1e-12  # relative to var_j + var_k: below it a difference is known exactly


def _as_arrays(estimates, cov) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    if isinstance(estimates, pd.Series):
        index = estimates.index
        est = estimates.to_numpy(dtype=float)
    else:
        est = np.asarray(estimates, dtype=float)
        index = pd.RangeIndex(est.size)
    cov = np.asarray(cov, dtype=float)
    if est.ndim != 1 or cov.shape != (est.size, est.size):
        raise ValueError(f"estimates must be 1-D (p,) and cov (p, p); got {est.shape}, "
                         f"{cov.shape}")
    return est, (cov + cov.T) / 2, index


def _check(coverage: float, kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    if not 0 < coverage < 1:
        raise ValueError(f"coverage must be in (0, 1); got {coverage}")


def _draws(cov: np.ndarray, n_boot: int, seed: int = 0,
           rng: np.random.Generator | None = None) -> np.ndarray:
    """Parametric bootstrap draws of estimation error, N(0, cov), shape (n_boot, p), from
    ``rng`` if given, else from the seed's ``RANK_CI`` stream; eigen-decomposition copes
    with singular covariances (e.g. units that share noise)."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    if rng is None:
        rng = block_rng(seed, Stream.RANK_CI)
    return rng.standard_normal((n_boot, cov.shape[0])) @ root.T


def _order_index(n_boot: int, coverage: float) -> int:
    """0-based index of the order statistic used as the (coverage) quantile of n_boot values:
    ceil((n_boot - 1) * coverage), numpy's method="higher" (the tolerance keeps float noise
    in the product from moving it up one)."""
    return min(n_boot - 1, max(0, math.ceil((n_boot - 1) * coverage - 1e-9)))


def _quantile(stats: np.ndarray, coverage: float) -> np.ndarray:
    """Critical values: the "higher" (coverage) quantile over axis 0 (the draws)."""
    k = _order_index(stats.shape[0], coverage)
    return np.partition(stats, k, axis=0)[k]


def _bounds(est: np.ndarray, cov: np.ndarray, z: np.ndarray, coverage: float,
            simultaneous: bool, stepdown: bool, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer lower and upper rank bounds given the bootstrap draws z (n_boot, p): the
    stepdowns of :mod:`cityindex.sensitivity.rankci_stream` (one implementation; the pairs
    in blocks, identical to holding every statistic at once)."""
    from cityindex.sensitivity.rankci_stream import Covariance, streamed_sets

    p = est.size
    if simultaneous:
        sets = streamed_sets(est, Covariance.full(cov), z, coverage, stepdown, workers=1)
        lower, upper = sets.simultaneous(kind)
    else:
        sets = streamed_sets(est, Covariance.full(cov), z, coverage, stepdown, workers=1,
                             kind=kind)
        lower, upper = sets.marginal_lower, sets.marginal_upper
        if kind == "lower":
            upper = np.full(p, p)
        elif kind == "upper":
            lower = np.ones(p, dtype=int)
    return np.asarray(lower).astype(int), np.asarray(upper).astype(int)


def rank_confidence_sets(estimates, cov, coverage: float = 0.95, simultaneous: bool = True,
                         stepdown: bool = True, kind: str = "two-sided", n_boot: int = 1000,
                         seed: int = 0, rng: np.random.Generator | None = None
                         ) -> pd.DataFrame:
    """Confidence sets for the ranks of ``estimates`` (rank 1 = largest).

    Parameters
    ----------
    estimates : 1-D array or Series (index = unit names) of p estimates.
    cov : (p, p) covariance of the estimates.
    coverage : 1 - alpha.
    simultaneous : cover all ranks at once (else each rank separately).
    stepdown : apply the stepdown refinement.
    kind : "two-sided" (lower and upper bounds), "lower" ([lower, p]) or "upper" ([1, upper]).
    n_boot : number of bootstrap draws.
    seed : seed of the bootstrap draws when ``rng`` is not given.
    rng : generator to draw the bootstrap from instead of the seed's ``RANK_CI`` stream
        (:mod:`cityindex.streams`).

    Returns
    -------
    DataFrame indexed by unit with integer columns rank (of the estimates, ties "min"),
    lower, upper.
    """
    _check(coverage, kind)
    est, cov, index = _as_arrays(estimates, cov)
    z = _draws(cov, n_boot, seed, rng)
    lower, upper = _bounds(est, cov, z, coverage, simultaneous, stepdown, kind)
    rank = rankdata(-est, method="min").astype(int)
    return pd.DataFrame({"rank": rank, "lower": lower, "upper": upper}, index=index)


def tau_best(estimates, cov, tau: int, coverage: float = 0.95, n_boot: int = 1000,
             seed: int = 0, rng: np.random.Generator | None = None) -> pd.Series:
    """Confidence set for the units among the top ``tau`` (MRSW 2024, section on the
    "tau-best"): units whose simultaneous one-sided lower rank bound is at most tau. With
    probability at least ``coverage`` it contains every unit truly in the top tau, so a unit
    outside it is, with that confidence, not in the top tau."""
    cs = rank_confidence_sets(estimates, cov, coverage, simultaneous=True, stepdown=True,
                              kind="lower", n_boot=n_boot, seed=seed, rng=rng)
    return (cs["lower"] <= tau).rename("tau_best")


def tau_worst(estimates, cov, tau: int, coverage: float = 0.95, n_boot: int = 1000,
              seed: int = 0, rng: np.random.Generator | None = None) -> pd.Series:
    """Confidence set for the units among the bottom ``tau``: simultaneous one-sided upper
    rank bound at least p - tau + 1."""
    cs = rank_confidence_sets(estimates, cov, coverage, simultaneous=True, stepdown=True,
                              kind="upper", n_boot=n_boot, seed=seed, rng=rng)
    p = len(cs)
    return (cs["upper"] >= p - tau + 1).rename("tau_worst")
