"""Confidence sets for ranks (Mogstad, Romano, Shaikh & Wilhelm 2024, "Inference for Ranks
with Applications to Mobility across Neighbourhoods and Academic Achievement across Countries",
Review of Economic Studies 91(1)).

Rank 1 is the largest value: rank_j = 1 + #{k : theta_k > theta_j}. A confidence set for
rank_j follows from simultaneous confidence intervals for the differences
Delta_jk = theta_k - theta_j: every k whose difference is significantly positive is certainly
above j, every k significantly negative certainly below, so

    rank_j in [1 + #{k certainly above j},  p - #{k certainly below j}].

Critical values come from a parametric bootstrap of the estimates, theta* ~ N(0, cov), of
max |Delta*_jk| / sigma_jk over the pairs still in play (its (1 - alpha) quantile taken as
an order statistic, method "higher": conservative) (max of one-sided statistics for the
one-sided sets); the stepdown refinement (Romano & Wolf 2005) removes the pairs already
rejected and recomputes the critical value until nothing changes. Marginal sets control the
error for each unit's rank separately; simultaneous sets for all ranks at once.

Why not bootstrap percentile intervals of the ranks themselves? Near ties the bootstrap
distribution of an estimated rank does not approximate its sampling distribution (the rank is
a discontinuous function of the estimates; Hall & Miller 2009, "Using the bootstrap to quantify
the authority of an empirical ranking", Annals of Statistics 37(6)), and such intervals
under-cover exactly where ranks are most uncertain. The sets here are valid (conservative)
whatever the configuration of true values, ties included, as long as the estimates are
approximately normal with the given covariance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

KINDS = ("two-sided", "lower", "upper")


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
    return est, cov, index


def _draws(cov: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Parametric bootstrap draws of estimation error, N(0, cov); eigen-decomposition copes
    with singular covariances (e.g. units that share noise)."""
    vals, vecs = np.linalg.eigh((cov + cov.T) / 2)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_boot, cov.shape[0])) @ root.T


def _pairwise(est: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Delta_hat[j, k] = est_k - est_j and its standard error sigma[j, k]."""
    d = est[None, :] - est[:, None]
    var = np.diag(cov)[None, :] + np.diag(cov)[:, None] - 2 * cov
    sigma = np.sqrt(np.clip(var, 0, None))
    return d, sigma


def _reject(est, cov, coverage, simultaneous, stepdown, kind, n_boot, seed
            ) -> tuple[np.ndarray, np.ndarray]:
    """Boolean matrices (above[j, k]: k certainly above j; below[j, k]: k certainly below)."""
    p = est.size
    d, sigma = _pairwise(est, cov)
    z = _draws(cov, n_boot, seed)
    dstar = z[:, None, :] - z[:, :, None]                     # (B, p, p) estimation errors
    valid = ~np.eye(p, dtype=bool) & (sigma > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_hat = np.where(valid, d / sigma, 0.0)
        t_star = np.where(valid, dstar / sigma, 0.0)
    # exact zero-variance pairs: known difference, decided without error
    exact = ~np.eye(p, dtype=bool) & (sigma == 0)
    if kind == "two-sided":
        stat_star = np.abs(t_star)
    elif kind == "lower":          # find units certainly above j: H0: Delta_jk <= 0
        stat_star = t_star
    else:                          # find units certainly below j: H0: Delta_jk >= 0
        stat_star = -t_star
    alpha = 1 - coverage
    active = valid.copy()
    rejected = np.zeros((p, p), dtype=bool)
    while active.any():
        masked = np.where(active[None, :, :], stat_star, -np.inf)
        if simultaneous:
            crit = np.quantile(masked.reshape(n_boot, -1).max(axis=1), 1 - alpha,
                               method="higher")
            crit = np.full((p, 1), crit)
        else:
            # units with no pair left in play get an infinite critical value (nothing to test)
            row_max = masked.max(axis=2)
            row_max[:, ~active.any(axis=1)] = np.inf
            crit = np.quantile(row_max, 1 - alpha, axis=0, method="higher")[:, None]
        if kind == "two-sided":
            new = active & (np.abs(t_hat) > crit)
        elif kind == "lower":
            new = active & (t_hat > crit)
        else:
            new = active & (-t_hat > crit)
        if kind == "two-sided" and simultaneous:
            new = new | new.T  # a pair is one hypothesis
        if not new.any():
            break
        rejected |= new
        active &= ~new
        if not stepdown:
            break
    above = (rejected & (d > 0)) | (exact & (d > 0))
    below = (rejected & (d < 0)) | (exact & (d < 0))
    return above, below


def rank_confidence_sets(estimates, cov, coverage: float = 0.95, simultaneous: bool = True,
                         stepdown: bool = True, kind: str = "two-sided", n_boot: int = 1000,
                         seed: int = 0) -> pd.DataFrame:
    """Confidence sets for the ranks of ``estimates`` (rank 1 = largest).

    Parameters
    ----------
    estimates : 1-D array or Series (index = unit names) of p estimates.
    cov : (p, p) covariance of the estimates.
    coverage : 1 - alpha.
    simultaneous : cover all ranks at once (else each rank separately).
    stepdown : apply the stepdown refinement.
    kind : "two-sided" (lower and upper bounds), "lower" ([lower, p]) or "upper" ([1, upper]).

    Returns
    -------
    DataFrame indexed by unit with integer columns rank (of the estimates, ties "min"),
    lower, upper.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
    est, cov, index = _as_arrays(estimates, cov)
    p = est.size
    above, below = _reject(est, cov, coverage, simultaneous, stepdown, kind, n_boot, seed)
    lower = 1 + above.sum(axis=1)
    upper = p - below.sum(axis=1)
    if kind == "lower":
        upper = np.full(p, p)
    elif kind == "upper":
        lower = np.ones(p, dtype=int)
    rank = rankdata(-est, method="min").astype(int)
    return pd.DataFrame({"rank": rank, "lower": lower.astype(int), "upper": upper.astype(int)},
                        index=index)


def tau_best(estimates, cov, tau: int, coverage: float = 0.95, n_boot: int = 1000,
             seed: int = 0) -> pd.Series:
    """Confidence set for the units among the top ``tau`` (MRSW 2024, section on the
    "tau-best"): units whose simultaneous one-sided lower rank bound is at most tau. With
    probability at least ``coverage`` it contains every unit truly in the top tau, so a unit
    outside it is, with that confidence, not in the top tau."""
    cs = rank_confidence_sets(estimates, cov, coverage, simultaneous=True, stepdown=True,
                              kind="lower", n_boot=n_boot, seed=seed)
    return (cs["lower"] <= tau).rename("tau_best")


def tau_worst(estimates, cov, tau: int, coverage: float = 0.95, n_boot: int = 1000,
              seed: int = 0) -> pd.Series:
    """Confidence set for the units among the bottom ``tau``: simultaneous one-sided upper
    rank bound at least p - tau + 1."""
    cs = rank_confidence_sets(estimates, cov, coverage, simultaneous=True, stepdown=True,
                              kind="upper", n_boot=n_boot, seed=seed)
    p = len(cs)
    return (cs["upper"] >= p - tau + 1).rename("tau_worst")
