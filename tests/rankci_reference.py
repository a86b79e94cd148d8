"""A deliberately plain reference for cityindex.sensitivity.rankci, written from the
description in Mogstad, Romano, Shaikh & Wilhelm (2024, Review of Economic Studies 91(1),
sections 3-4): explicit families of one-sided hypotheses, one loop per step, per unit and per
hypothesis. Slow; for tests only. It takes the bootstrap draws z (n_boot, p) of the
estimation error as given so that it can be run on the same draws as the library.

Hypothesis (j, k) means H_jk: theta_k - theta_j <= 0, "k is not above j"; rejecting it says k
is certainly above j. Conventions shared with the library (they are part of its
documentation, not of its code): the (1 - alpha) quantile of B values is the sorted value at
0-based position ceil((B - 1) * coverage); a pair whose difference has variance at most
1e-12 * (var_j + var_k) is known exactly and decided by the sign of the estimated difference.
"""

from __future__ import annotations

import math

import numpy as np


def _sd_of_difference(cov, j, k):
    var = cov[j][j] + cov[k][k] - 2 * cov[j][k]
    if var <= 1e-12 * (cov[j][j] + cov[k][k]):
        return 0.0
    return math.sqrt(var)


def _quantile(values, coverage):
    ordered = sorted(values)
    position = math.ceil((len(ordered) - 1) * coverage - 1e-9)
    return ordered[min(len(ordered) - 1, max(0, position))]


def _stepdown(family, t_hat, t_star, coverage, stepdown):
    """Rejected hypotheses of one family (a set of (j, k)), Romano-Wolf stepdown: reject
    what exceeds the bootstrap quantile of the maximum over the hypotheses not yet rejected,
    drop exactly those hypotheses, repeat."""
    remaining = set(family)
    rejected = set()
    while remaining:
        n_boot = len(next(iter(t_star.values())))
        maxima = []
        for b in range(n_boot):
            maxima.append(max(t_star[h][b] for h in remaining))
        crit = _quantile(maxima, coverage)
        new = {h for h in remaining if t_hat[h] > crit}
        if not new:
            break
        rejected |= new
        remaining -= new
        if not stepdown:
            break
    return rejected


def reference_bounds(est, cov, z, coverage=0.95, simultaneous=True, stepdown=True,
                     kind="two-sided"):
    """Lower and upper rank bounds (lists of int), rank 1 = largest."""
    est = [float(x) for x in est]
    cov = np.asarray(cov, dtype=float)
    cov = ((cov + cov.T) / 2).tolist()
    z = np.asarray(z, dtype=float)
    p = len(est)

    t_hat, t_star, exact_above = {}, {}, set()
    for j in range(p):
        for k in range(p):
            if j == k:
                continue
            sd = _sd_of_difference(cov, j, k)
            if sd == 0.0:
                if est[k] > est[j]:
                    exact_above.add((j, k))  # k above j, no error
                continue
            t_hat[(j, k)] = (est[k] - est[j]) / sd
            t_star[(j, k)] = [(z[b, k] - z[b, j]) / sd for b in range(z.shape[0])]
    testable = set(t_hat)

    if simultaneous:
        # one family: all ordered pairs, both directions (for every kind)
        rejected = _stepdown(testable, t_hat, t_star, coverage, stepdown)
        per_unit = [rejected] * p
    else:
        per_unit = []
        for j in range(p):
            family = set()
            for k in range(p):
                if kind in ("two-sided", "lower") and (j, k) in testable:
                    family.add((j, k))  # is k above j?
                if kind in ("two-sided", "upper") and (k, j) in testable:
                    family.add((k, j))  # is k below j (j above k)?
            per_unit.append(_stepdown(family, t_hat, t_star, coverage, stepdown))

    lower, upper = [], []
    for j in range(p):
        n_above = sum(1 for k in range(p)
                      if (j, k) in per_unit[j] or (j, k) in exact_above)
        n_below = sum(1 for k in range(p)
                      if (k, j) in per_unit[j] or (k, j) in exact_above)
        lower.append(1 + n_above if kind != "upper" else 1)
        upper.append(p - n_below if kind != "lower" else p)
    return lower, upper
