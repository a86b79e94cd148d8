"""Per-draw maxima of the pairwise bootstrap statistics behind the rank confidence sets.

The stepdowns of :mod:`cityindex.sensitivity.rankci_stream` need, for each bootstrap draw
z (a row of ``z``) and unit j, the largest statistic r_jk = (z_k - z_j) / sigma_jk over the
hypotheses still in j's family, and which k attains it. That is O(n_boot x p) work per unit
and dominates the sets' cost (O(n_boot x p^2)). In numpy it takes (n_boot, rows, p)
temporaries and some eight passes over them; the compiled kernels here (numba, as
:mod:`cityindex.kernels`) hold nothing but the maxima. Every statistic that can be a maximum
is computed by the same float64 operations as in numpy (the first pass screens with products
first and divides only the candidates, see ``_first_kernel``), and both keep the first
maximiser on ties (numpy's argmax), so they return identical values
(tests/test_pair_maxima.py, also against brute force; a self-test compares the first maxima
on a small case before first use and falls back to numpy, with a warning, if they
disagree). ``CITYINDEX_KERNELS=numpy`` selects the numpy paths.

``sigma`` is the (rows, p) block of standard errors of the differences with +inf where a
pair is not tested (itself, or a difference known exactly): r is then 0 there, which never
exceeds a tested |r| in a two-sided family, and such pairs are skipped in one-sided ones.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from cityindex import kernels

KINDS = {"two-sided": 0, "lower": 1, "upper": 2}
TILE = 1 << 15          # pairs per tile of rows in the compiled kernels (256 KiB of sigma)


def enabled() -> bool:
    """True when the compiled kernels are used (see module docstring)."""
    return kernels.switched_on() and _usable()


@functools.cache
def _usable() -> bool:
    if not kernels.enabled():
        return False
    try:
        _self_test()
    except Exception as error:  # a compiler failure or a disagreement: fall back, loudly
        warnings.warn(f"cityindex: compiled pair maxima unavailable ({type(error).__name__}: "
                      f"{error}); using the numpy path (same results, slower)", stacklevel=2)
        return False
    return True


def _self_test() -> None:
    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 5))
    sigma = rng.uniform(0.5, 2.0, (3, 5))
    sigma[0, 1] = sigma[1, 2] = sigma[2, 3] = np.inf
    for kind in KINDS:
        got = _first_compiled(z, 1, sigma, kind)
        want = _first_numpy(z, 1, sigma, kind)
        if not all(np.array_equal(a, b) for a, b in zip(got, want, strict=True)):
            raise RuntimeError(f"compiled and numpy first maxima differ ({kind})")


# -- first maxima: every hypothesis of each unit's family ---------------------------------

def first_maxima(z: np.ndarray, lo: int, sigma: np.ndarray, kind: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For draws ``z`` (n_boot, p) and units lo .. lo + rows (``sigma`` their rows): per
    draw and unit, (n_boot, rows) arrays of the family's largest statistic, the k attaining
    it (first on ties) and its direction (True: H_jk, "k above j", r >= 0; False: H_kj).
    The statistic is |r| for "two-sided", r over tested pairs for "lower" (H_jk only) and
    -r for "upper" (H_kj only); -inf when the family is empty."""
    if enabled():
        return _first_compiled(z, lo, sigma, kind)
    return _first_numpy(z, lo, sigma, kind)


def _first_numpy(z, lo, sigma, kind):
    rows = sigma.shape[0]
    r = np.subtract(z[:, None, :], z[:, lo:lo + rows, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(r, sigma, out=r)
    if kind == "two-sided":
        a = np.abs(r)
    else:
        a = np.where(np.isfinite(sigma), r if kind == "lower" else -r, -np.inf)
    arg = a.argmax(axis=2)
    stat = np.take_along_axis(a, arg[:, :, None], axis=2)[:, :, 0]
    if kind == "two-sided":
        up = np.take_along_axis(r, arg[:, :, None], axis=2)[:, :, 0] >= 0
    else:
        up = np.full(arg.shape, kind == "lower")
    return stat, arg, up


def _first_compiled(z, lo, sigma, kind):
    n_boot, rows = z.shape[0], sigma.shape[0]
    stat = np.empty((n_boot, rows))
    arg = np.empty((n_boot, rows), dtype=np.int64)
    up = np.empty((n_boot, rows), dtype=np.bool_)
    sigma = np.ascontiguousarray(sigma, dtype=np.float64)
    # reciprocals for the screening pass: untested pairs give r = 0 in a two-sided family
    # and are skipped (NaN: never a maximum, never a candidate) in a one-sided one
    with np.errstate(divide="ignore"):
        inv = 1.0 / sigma
    if kind != "two-sided":
        inv[np.isinf(sigma)] = np.nan
    tile = max(1, TILE // max(1, z.shape[1]))
    kernels.jit(_first_kernel)(np.ascontiguousarray(z, dtype=np.float64), np.int64(lo),
                               sigma, inv, np.int64(KINDS[kind]), np.int64(tile), stat, arg,
                               up)
    return stat, arg, up


def _first_kernel(z, lo, sigma, inv, kind, tile, stat, arg, up):  # pragma: no cover
    # Each row's maximum of a_k (|r|, r or -r; r = (z_k - z_j) / sigma_jk) in two passes.
    # The first screens with multiplications: a'_k = (z_k - z_j) * (1 / sigma_jk) is within
    # 3u of a_k (u = 2^-53: one rounding in the reciprocal, one in the product, against one
    # in the quotient), so every k attaining the exact maximum M has a'_k >= M' - 6.1u|M'|
    # (M' = max a'_k); the threshold below, M' - 2^-50 |M'| after its one rounding, is
    # lower still. The second pass divides only at those candidates, in increasing k, so the
    # values, the first maximiser and its sign are those of dividing everywhere (division
    # costs about 4 multiplications).
    n_boot, p = z.shape
    rows = sigma.shape[0]
    screen = np.empty(p)
    for start in range(0, rows, tile):   # a tile of sigma's rows stays in cache ...
        stop = min(rows, start + tile)
        for b in range(n_boot):          # ... across the draws
            for j in range(start, stop):
                zj = z[b, lo + j]
                top = -np.inf
                for k in range(p):
                    x = (z[b, k] - zj) * inv[j, k]
                    if kind == 0:
                        x = abs(x)
                    elif kind == 2:
                        x = -x
                    screen[k] = x
                    if x > top:
                        top = x
                threshold = top - abs(top) * 8.881784197001252e-16   # 2^-50
                if abs(top) < 1e-290:       # near zero or subnormal: divide everywhere
                    threshold = -np.inf
                best = -np.inf
                where = 0
                sign = kind != 2
                for k in range(p):
                    if screen[k] >= threshold:    # NaN (untested, one-sided): never
                        r = (z[b, k] - zj) / sigma[j, k]
                        if kind == 0:
                            a = abs(r)
                        elif kind == 1:
                            a = r
                        else:
                            a = -r
                        if a > best:
                            best = a
                            where = k
                            if kind == 0:
                                sign = r >= 0
                stat[b, j] = best
                arg[b, j] = where
                up[b, j] = sign


# -- redone maxima: a unit's family after its stepdown rejected some hypotheses -----------

def redo_maxima(z: np.ndarray, lo: int, b_idx: np.ndarray, j_idx: np.ndarray,
                sigma: np.ndarray, t_hat: np.ndarray, c: np.ndarray, use_up: bool,
                use_down: bool, stat: np.ndarray, arg: np.ndarray, up: np.ndarray) -> None:
    """Recompute ``stat``, ``arg`` and ``up`` (as :func:`first_maxima`) at the cells
    (b_idx, j_idx) over the hypotheses unit j still tests: H_jk (statistic r) where
    t_hat_jk <= c_j and ``use_up``, H_kj (statistic -r) where -t_hat_jk <= c_j and
    ``use_down``; on a tie between the directions H_jk is kept.

    The compiled path visits only the pairs still tested (after the first steps, mostly a
    unit's near neighbours), in increasing k as numpy's argmax does."""
    if enabled():
        cc = c[:, None]
        tested = np.isfinite(sigma)
        # each direction's pairs still tested, row by row (CSR, k increasing), with their
        # sigma beside them: the kernel reads z[b, k] and nothing else per pair
        up_rows = _csr(tested & (t_hat <= cc) if use_up else np.zeros_like(tested), sigma)
        down_rows = _csr(tested & (-t_hat <= cc) if use_down else np.zeros_like(tested),
                         sigma)
        kernels.jit(_redo_kernel)(
            np.ascontiguousarray(z, dtype=np.float64), np.int64(lo),
            b_idx.astype(np.int64), j_idx.astype(np.int64), *up_rows, *down_rows,
            stat, arg, up)
        return
    rr = np.subtract(z[b_idx], z[b_idx, lo + j_idx][:, None])
    s = sigma[j_idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(rr, s, out=rr)
    tested, th, cc = np.isfinite(s), t_hat[j_idx], c[j_idx][:, None]
    v_up = np.where(tested & (th <= cc) & use_up, rr, -np.inf)
    v_down = np.where(tested & (-th <= cc) & use_down, -rr, -np.inf)
    best_up, best_down = v_up.max(axis=1), v_down.max(axis=1)
    take_up = best_up >= best_down
    stat[b_idx, j_idx] = np.where(take_up, best_up, best_down)
    arg[b_idx, j_idx] = np.where(take_up, v_up.argmax(axis=1), v_down.argmax(axis=1))
    up[b_idx, j_idx] = take_up


def _csr(keep: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row starts, columns and sigma values of the True cells of ``keep`` (rows x p)."""
    rows, cols = np.nonzero(keep)
    return np.searchsorted(rows, np.arange(keep.shape[0] + 1)), cols, sigma[rows, cols]


def _redo_kernel(z, lo, b_idx, j_idx, up_start, up_cols, up_sigma, down_start, down_cols,
                 down_sigma, stat, arg, up):  # pragma: no cover
    for i in range(b_idx.size):
        b = b_idx[i]
        j = j_idx[i]
        zj = z[b, lo + j]
        best_up = -np.inf
        arg_up = 0
        for q in range(up_start[j], up_start[j + 1]):    # H_jk: statistic r
            r = (z[b, up_cols[q]] - zj) / up_sigma[q]
            if r > best_up:
                best_up = r
                arg_up = up_cols[q]
        best_down = -np.inf
        arg_down = 0
        for q in range(down_start[j], down_start[j + 1]):  # H_kj: statistic -r
            r = -((z[b, down_cols[q]] - zj) / down_sigma[q])
            if r > best_down:
                best_down = r
                arg_down = down_cols[q]
        if best_up >= best_down:
            stat[b, j] = best_up
            arg[b, j] = arg_up
            up[b, j] = True
        else:
            stat[b, j] = best_down
            arg[b, j] = arg_down
            up[b, j] = False


# -- flat maxima: the simultaneous family over a block of rows ----------------------------

def flat_maxima(z: np.ndarray, lo: int, sigma: np.ndarray, active: np.ndarray,
                rows_per_block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per draw of ``z`` (m, p): the largest r_jk = (z_k - z_j) / sigma_jk over the
    ``active`` pairs of units lo .. lo + rows (``sigma``, ``active``: their rows) and its
    flat index j * p + k within the block (the first in row-major order on ties); -inf
    and 0 when no pair is active. ``rows_per_block`` bounds the numpy path's temporaries."""
    m, p = z.shape[0], z.shape[1]
    rows = sigma.shape[0]
    value = np.full(m, -np.inf)
    index = np.zeros(m, dtype=np.int64)
    if enabled():
        kernels.jit(_flat_kernel)(np.ascontiguousarray(z, dtype=np.float64), np.int64(lo),
                                  np.ascontiguousarray(sigma, dtype=np.float64),
                                  np.ascontiguousarray(active, dtype=np.bool_),
                                  np.int64(max(1, TILE // max(1, p))), value, index)
        return value, index
    for start in range(0, rows, rows_per_block):
        stop = min(rows, start + rows_per_block)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(active[start:stop],
                         (z[:, None, :] - z[:, lo + start:lo + stop, None]) / sigma[start:stop],
                         -np.inf)
        flat = t.reshape(m, -1)
        arg = flat.argmax(axis=1)
        v = flat[np.arange(m), arg]
        better = v > value
        value[better] = v[better]
        index[better] = arg[better] + start * p
    return value, index


def _flat_kernel(z, lo, sigma, active, tile, value, index):  # pragma: no cover
    m, p = z.shape
    rows = sigma.shape[0]
    for start in range(0, rows, tile):     # a tile of rows stays in cache across the draws
        stop = min(rows, start + tile)
        for b in range(m):
            best = value[b]
            where = index[b]
            for j in range(start, stop):
                zj = z[b, lo + j]
                for k in range(p):
                    if active[j, k]:
                        v = (z[b, k] - zj) / sigma[j, k]
                        if v > best:
                            best = v
                            where = j * p + k
            value[b] = best
            index[b] = where
