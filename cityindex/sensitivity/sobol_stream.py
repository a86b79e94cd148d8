"""Sobol' indices of many outputs without holding every output: base points streamed.

:func:`cityindex.sensitivity.sobol.estimate` needs the whole output matrix, N (D + 2) rows by
K outputs (every unit's rank): 17 GB for 10,000 units at N = 16,384 and D = 11. The same
estimators (Saltelli 2010 first order, Jansen 1999 total, SALib's bootstrap with SALib's
resamples) are sums over base points, so they can be accumulated over chunks of base points:

- outputs are standardised by their mean and standard deviation over all rows; the standard
  deviation cancels in every ratio, and the mean enters only through
  S1's numerator, sum b (ab - a) - mean * sum (ab - a), so the sums are kept raw (after
  subtracting each output's first value, against cancellation) and combined at the end;
- a bootstrap resample is a vector of counts c of the base points, so its sums are c @ (per
  point quantities), accumulated chunk by chunk: (n_boot, D, K) arrays for three sums, and
  (n_boot, K) for four more.

Memory is O(n_boot x D x K + chunk x (D + 2) x K), independent of N; time is that of the model
evaluations, done once per estimate (the convergence table's n/4, n/2 and n re-evaluate the
prefixes: 1.75 N (D + 2) evaluations in all, instead of N (D + 2)). Results equal the in-memory
estimates up to floating-point summation order (about 1e-12).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from cityindex.streams import salib_rng

IN_MEMORY_ELEMENTS = 1 << 26      # outputs (rows x K) above which the estimate is streamed
CHUNK_ELEMENTS = 1 << 23          # model outputs evaluated at a time (64 MiB)


def estimate(model: Callable[[np.ndarray], np.ndarray], x: np.ndarray, m: int, d: int,
             n_boot: int = 200, seed: int = 1, conf_level: float = 0.95,
             chunk_elements: int = CHUNK_ELEMENTS) -> dict[str, np.ndarray]:
    """As ``sobol.estimate(model(x)[: m (d + 2)], d, n_boot, seed, conf_level)``, evaluating
    ``model`` on chunks of base points of the design ``x``."""
    step = d + 2
    rng = salib_rng(seed)  # SALib's resamples for this m, as sobol.estimate draws them
    r = rng.integers(m, size=(m, n_boot))
    counts = np.bincount((np.arange(n_boot)[None, :] * m + r).ravel(),
                         minlength=n_boot * m).reshape(n_boot, m).astype(float)
    first = np.asarray(model(x[:1]), dtype=float)
    first = first.reshape(1, -1)
    k = first.shape[1]
    ref = first[0]
    per_chunk = max(1, chunk_elements // max(1, step * k))
    total = np.zeros(k)
    lo_all = np.full(k, np.inf)
    hi_all = np.full(k, -np.inf)
    sums = {key: np.zeros((d, k)) for key in ("p1", "diff", "pt")}
    sums.update({key: np.zeros(k) for key in ("a", "b", "a2", "b2")})
    boot = {key: np.zeros((n_boot, d, k)) for key in ("p1", "diff", "pt")}
    boot.update({key: np.zeros((n_boot, k)) for key in ("a", "b", "a2", "b2")})
    for i0 in range(0, m, per_chunk):
        i1 = min(m, i0 + per_chunk)
        y = np.asarray(model(x[i0 * step: i1 * step]), dtype=float).reshape(-1, k) - ref
        np.minimum(lo_all, y.min(axis=0), out=lo_all)
        np.maximum(hi_all, y.max(axis=0), out=hi_all)
        total += y.sum(axis=0)
        blocks = y.reshape(i1 - i0, step, k)
        a, ab, b = blocks[:, 0, :], blocks[:, 1: d + 1, :], blocks[:, d + 1, :]
        diff = ab - a[:, None, :]
        per = {"p1": b[:, None, :] * diff, "diff": diff, "pt": 0.5 * diff * diff,
               "a": a, "b": b, "a2": a * a, "b2": b * b}
        c = counts[:, i0:i1]
        for key, v in per.items():
            sums[key] += v.sum(axis=0)
            boot[key] += (c @ v.reshape(i1 - i0, -1)).reshape(boot[key].shape)
    n = m
    mu = total / (m * step)                         # mean over all rows (shifted)
    constant = (hi_all - lo_all) <= np.finfo(float).eps
    z = norm.ppf(0.5 + conf_level / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        # variance of the A and B rows, about the all-rows mean (it cancels below)
        ea = (sums["a"] + sums["b"]) / (2 * n)
        var = (sums["a2"] + sums["b2"]) / (2 * n) - ea * ea
        s1 = (sums["p1"] - mu * sums["diff"]) / n / var
        st = sums["pt"] / n / var
        cb = (boot["a"] + boot["b"]) / (2 * n)
        vb = (boot["a2"] + boot["b2"]) / (2 * n) - cb * cb
        s1b = (boot["p1"] - mu * boot["diff"]) / n / vb[:, None, :]
        stb = boot["pt"] / n / vb[:, None, :]
        out = {"S1": s1, "S1_conf": z * s1b.std(axis=0, ddof=1),
               "ST": st, "ST_conf": z * stb.std(axis=0, ddof=1), "constant": constant}
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        out[key][:, constant] = np.nan
    return out
