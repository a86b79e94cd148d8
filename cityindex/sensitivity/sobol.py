"""Variance-based (Sobol') sensitivity indices for many outputs at once.

Design: Saltelli's radial scheme as sampled by SALib (``SALib.sample.sobol.sample`` with
``calc_second_order=False``: scrambled Sobol' sequences, rows A, AB_1..AB_D, B per base point).
Estimators, exactly as ``SALib.analyze.sobol`` (outputs standardised first):

- first order, Saltelli et al. (2010, Comput. Phys. Commun. 181, eq. (b) of Table 2):
  S_i = mean(f(B) (f(AB_i) - f(A))) / V(y)
- total order, Jansen (1999, Comput. Phys. Commun. 117): S_Ti = mean((f(A) - f(AB_i))^2) / 2V(y)

with V(y) the variance of the A and B evaluations together. Confidence half-widths are SALib's
bootstrap: Z_(1+conf)/2 times the standard deviation of the estimates over ``n_boot`` resamples
of the N base points; with the same seed the resample indices are SALib's own
(``default_rng(seed).integers(N, size=(N, n_boot))``). Unlike SALib, which loops over outputs
and resamples, every output and every resample is computed in a few matrix products: a
resample is a vector of counts c (how often each base point is drawn), and any resampled mean
is c @ v / N.

Outputs that are constant over the sample (e.g. a unit whose rank never moves) have no variance
to apportion: their indices are reported as NaN with ``note`` saying why, never as noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from SALib.sample import sobol as sobol_sample
from SALib.util import extract_group_names
from scipy.stats import norm

from cityindex.streams import salib_rng

CONSTANT_NOTE = "constant output: no variance to apportion, indices undefined"


def sample(problem: dict, n: int, seed: int) -> np.ndarray:
    """SALib's Sobol' design without second-order rows, scrambled, seeded."""
    if n < 2 or n & (n - 1):
        raise ValueError(f"n must be a power of two (Sobol' sequences); got {n}")
    return sobol_sample.sample(problem, n, calc_second_order=False, scramble=True, seed=seed)


def split_outputs(y: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N(D+2), K) outputs -> A (N, K), AB (N, D, K), B (N, K) as SALib arranges them."""
    step = d + 2
    n = y.shape[0] // step
    blocks = y[: n * step].reshape(n, step, -1)
    return blocks[:, 0, :], blocks[:, 1: d + 1, :], blocks[:, d + 1, :]


def estimate(y: np.ndarray, d: int, n_boot: int = 200, seed: int = 1,
             conf_level: float = 0.95, block_elements: int = 8_000_000
             ) -> dict[str, np.ndarray]:
    """S1, S1_conf, ST, ST_conf as (D, K) arrays from outputs y (N(D+2),) or (N(D+2), K).

    Outputs are processed in blocks of about ``block_elements`` / (N D) columns, so memory
    stays bounded whatever K; every block uses the same bootstrap resamples."""
    y = np.asarray(y, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    if y.shape[0] % (d + 2):
        raise ValueError(f"{y.shape[0]} evaluations is not a multiple of D + 2 = {d + 2}")
    n = y.shape[0] // (d + 2)
    rng = salib_rng(seed)  # seed 0 included: the same seed, the same resamples
    r = rng.integers(n, size=(n, n_boot))
    # resample b as counts of each base point: one bincount for all resamples
    counts = np.bincount((np.arange(n_boot)[None, :] * n + r).ravel(),
                         minlength=n_boot * n).reshape(n_boot, n).astype(float)
    z = norm.ppf(0.5 + conf_level / 2)
    k_total = y.shape[1]
    out = {key: np.empty((d, k_total)) for key in ("S1", "S1_conf", "ST", "ST_conf")}
    out["constant"] = np.ptp(y, axis=0) <= np.finfo(float).eps
    # blocks of outputs bound the memory of the (N, D, K) intermediates
    step = max(1, block_elements // max(1, n * d))
    for lo in range(0, k_total, step):
        cols = slice(lo, min(lo + step, k_total))
        part = _estimate_block(y[:, cols], d, n, counts, z)
        for key in ("S1", "S1_conf", "ST", "ST_conf"):
            out[key][:, cols] = part[key]
    for key in ("S1", "S1_conf", "ST", "ST_conf"):
        out[key][:, out["constant"]] = np.nan
    return out


def _estimate_block(y: np.ndarray, d: int, n: int, counts: np.ndarray, z: float
                    ) -> dict[str, np.ndarray]:
    constant = np.ptp(y, axis=0) <= np.finfo(float).eps
    ys = (y - y.mean(axis=0)) / np.where(constant, 1.0, y.std(axis=0))
    a, ab, b = split_outputs(ys, d)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.var(np.concatenate([a, b]), axis=0)                      # (K,)
        p1 = b[:, None, :] * (ab - a[:, None, :])                         # (N, D, K)
        pt = 0.5 * (a[:, None, :] - ab) ** 2
        s1 = p1.mean(axis=0) / var
        st = pt.mean(axis=0) / var
        n_boot, k = counts.shape[0], a.shape[1]
        m1 = counts @ p1.reshape(n, d * k) / n                             # (n_boot, D*K)
        mt = counts @ pt.reshape(n, d * k) / n
        ey = (counts @ a + counts @ b) / (2 * n)                           # (n_boot, K)
        vb = (counts @ (a * a) + counts @ (b * b)) / (2 * n) - ey * ey
        s1b = m1.reshape(n_boot, d, k) / vb[:, None, :]
        stb = mt.reshape(n_boot, d, k) / vb[:, None, :]
        return {"S1": s1, "S1_conf": z * s1b.std(axis=0, ddof=1),
                "ST": st, "ST_conf": z * stb.std(axis=0, ddof=1)}


def sobol_indices(model: Callable[[np.ndarray], np.ndarray], problem: dict, n: int = 2**14,
                  seed: int = 1, n_boot: int = 200, conf_level: float = 0.95,
                  output_names: list[str] | None = None) -> pd.DataFrame:
    """First-order and total Sobol' indices of every output of ``model``.

    Parameters
    ----------
    model : callable taking an (N, D) float array and returning (N,) or (N, K).
    problem : SALib problem dict: ``names``, ``bounds`` and optionally ``groups``.
    n : base sample size, a power of two; the model is evaluated n * (D + 2) times
        (D = number of groups when ``groups`` is given).
    seed : seeds both the scrambled Sobol' sequence and the bootstrap resamples.
    n_boot : bootstrap resamples for the confidence half-widths.

    Returns
    -------
    DataFrame with one row per (output, factor): output, factor, S1, S1_conf, ST, ST_conf,
    note (why indices are undefined, else empty).
    """
    factors, d = extract_group_names(problem)
    x = sample(problem, n, seed)
    y = np.asarray(model(x), dtype=float)
    res = estimate(y, d, n_boot=n_boot, seed=seed, conf_level=conf_level)
    return indices_frame(res, list(factors), output_names)


def indices_frame(res: dict[str, np.ndarray], factors: list[str],
                  output_names: list[str] | None = None) -> pd.DataFrame:
    d, k = res["S1"].shape
    names = output_names or [f"y{j}" if k > 1 else "y" for j in range(k)]
    df = pd.DataFrame({
        "output": np.repeat(names, d),
        "factor": np.tile(factors, k),
        **{key: res[key].T.ravel() for key in ("S1", "S1_conf", "ST", "ST_conf")},
        "note": np.repeat(np.where(res["constant"], CONSTANT_NOTE, ""), d),
    })
    return df
