"""Extreme ranks with witnesses: the best and worst rank each unit can take over every
admissible weighting (Extreme Ranking Analysis, Kadziński, Greco & Słowiński 2012, Omega 40).

Admissible weightings are exactly those of the Monte-Carlo ``uniform`` model's support: every
node weight times a factor in [1 - delta, 1 + delta], renormalised among siblings. Ranks do not
change when all weights are scaled, so the set can be written with linear constraints on
unnormalised effective indicator weights z >= 0: for each aggregate node a, with M_c the sum
of z over the indicators under child c, there is t_a >= 0 with

    nominal_c (1 - delta) t_a <= M_c <= nominal_c (1 + delta) t_a    for every child c of a,

i.e. the children's masses lie in the cone of their weight box; sum(z) = 1 fixes the scale (so
z are the normalised effective weights, and M_c / M_a is the renormalised node weight).

Best rank of unit k: 1 + the fewest units that must score strictly above it (MILP with one
binary per unit whose order against k can change; ties count for k). Worst rank: 1 + the most
units that can score at least as high (ties count against k). Both use big-M constraints with
M the largest score difference, solved by HiGHS (scipy.optimize.milp).

Pruning: the score difference of two units is linear in z, and over this polytope a
multilinear-in-groups objective is extreme at combinations of each sibling group's box vertices;
enumerating those combinations gives every pair's sign range, so pairs ordered the same way at
every vertex need no binary. Each witness is re-scored and its rank checked against the MILP
optimum.

Numerical convention: HiGHS accepts constraint violations up to ~1e-6, so an order that the
MILP asserts must hold with a margin of 1e-5 score points (units with identical indicator
values, always tied, are handled exactly outside the MILP: they count for k in the best case
and against it in the worst). An order that holds only as an exact tie on the boundary of the
weight set is therefore not credited; re-scoring every witness checks the stated rank.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing as mp
import os
import signal
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from cityindex.construction import WeightBox, effective_weight_batch
from cityindex.construction.weightbox import MAX_VERTICES, Polytope
from cityindex.data import Dataset
from cityindex.rank import rank_desc, rank_matrix, tier_of_rank
from cityindex.result import Result, rank_interval_chart
from cityindex.sensitivity.dominance import dominance_tables
from cityindex.sensitivity.engine import composite, published_ranks, published_tiers
from cityindex.spec import Spec, tier_of_score
from cityindex.streams import Stream, block_rng
from cityindex.vocabulary import EXACT_BOUNDS, INNER_BOUNDS, SOME_BOUNDS, unit_label

MARGIN = 1e-5
HIGHS_OPTIONS: dict = {"presolve": False}  # presolve costs more than it saves here


def weight_polytope(spec: Spec, delta: float) -> Polytope:
    """The weight box as linear constraints (:meth:`WeightBox.polytope`)."""
    return WeightBox(spec, delta).polytope()


def vertex_weights(spec: Spec, delta: float) -> np.ndarray | None:
    """Effective weights at every combination of sibling-group box vertices (renormalised),
    or None when there are more than MAX_VERTICES combinations."""
    nodes = vertex_node_weights(spec, delta)
    return None if nodes is None else effective_weight_batch(spec, nodes)


def vertex_node_weights(spec: Spec, delta: float) -> np.ndarray | None:
    """Node weights at the weight box's vertices (:meth:`WeightBox.vertices`), or None when
    there are more than MAX_VERTICES."""
    return WeightBox(spec, delta).vertices(MAX_VERTICES)


@contextlib.contextmanager
def _quiet_stdout():
    """HiGHS prints solver chatter on the C-level stdout in some builds; keep it off."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def _solve(x: np.ndarray, k: int, others: np.ndarray, fixed_above: int, poly: Polytope,
           best: bool, big: np.ndarray, incumbent: int | None = None,
           node_limit: int | None = None) -> tuple:
    """MILP over z, t, b (one binary per unit in ``others``); ``big`` bounds |s_j - s_k| over
    the weight set (the tighter the big-M, the faster HiGHS closes the gap).

    With ``node_limit`` (branch-and-bound nodes: deterministic, unlike a time limit) returns
    (count of the best solution found, its weights, the solver's bound on the optimal count),
    which differ when the limit stopped it."""
    n_ind, n_aux, m = poly.n_ind, poly.n_aux, others.size
    nv = n_ind + n_aux + m
    cons = [LinearConstraint(np.hstack([poly.a_ub, np.zeros((poly.a_ub.shape[0], m))]),
                             -np.inf, 0.0),
            LinearConstraint(np.concatenate([np.ones(n_ind), np.zeros(n_aux + m)])[None, :],
                             1.0, 1.0)]
    if m:
        diff = x[others] - x[k]                        # (m, D): s_j - s_k = diff @ z
        big = big + 2 * MARGIN
        a = np.zeros((m, nv))
        if best:
            # b_j = 0  =>  s_k - s_j >= margin (j below k)
            a[:, :n_ind] = -diff
            a[np.arange(m), n_ind + n_aux + np.arange(m)] = big
            cons.append(LinearConstraint(a, MARGIN, np.inf))
        else:
            # b_j = 1  =>  s_j - s_k >= margin (j above k)
            a[:, :n_ind] = diff
            a[np.arange(m), n_ind + n_aux + np.arange(m)] = -big
            cons.append(LinearConstraint(a, MARGIN - big, np.inf))
    c = np.zeros(nv)
    c[n_ind + n_aux:] = 1.0 if best else -1.0
    integrality = np.concatenate([np.zeros(n_ind + n_aux), np.ones(m)])
    lb = np.zeros(nv)
    ub = np.concatenate([np.full(n_ind, 1.0), np.full(n_aux, np.inf), np.ones(m)])
    options = HIGHS_OPTIONS if node_limit is None else {**HIGHS_OPTIONS,
                                                         "node_limit": node_limit}
    res = milp(c, constraints=cons, integrality=integrality, bounds=Bounds(lb, ub),
               options=options)
    stopped = node_limit is not None and not res.success and res.x is not None
    if not res.success and not stopped:
        raise RuntimeError(f"MILP for unit {k} failed: {res.message}")
    z = res.x[:n_ind]
    count = round(float(res.x[n_ind + n_aux:].sum())) if m else 0
    if node_limit is None:
        return fixed_above + count, z / z.sum()
    bound = count
    if stopped:  # the dual bound on sum(b) (best: minimised; worst: -sum(b) minimised)
        dual = float(getattr(res, "mip_dual_bound", np.nan))
        if np.isfinite(dual):
            bound = (max(0, math.ceil(dual - 1e-6)) if best
                     else min(m, math.floor(-dual + 1e-6)))
        else:
            bound = 0 if best else m
    return fixed_above + count, z / z.sum(), fixed_above + bound


_STATE: tuple | None = None


def _worker_init() -> None:
    """Pool workers end quietly on the SIGTERM with which the pool stops them (a handler
    inherited from the command line would raise in them)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _solve_unit(k: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    x, poly, always_above, never_at_least, identical, bound = _STATE
    free = np.flatnonzero(~always_above[:, k] & ~never_at_least[:, k])
    fixed = int(always_above[:, k].sum())
    best, wb = _solve(x, k, free, fixed, poly, True, bound[free, k])
    worst, ww = _solve(x, k, free, fixed + int(identical[:, k].sum()), poly, False,
                       bound[free, k])
    return 1 + best, 1 + worst, wb, ww


EXACT = "exact (MILP)"
EXACT_LOG = "exact (MILP on the logarithms: geometric aggregation at every node)"
SAMPLED = ("inner bounds: every vertex of the weight box and {n:,} uniform draws inside it "
           "(the tree is not linear in the weights, so no exact method applies)")
SAMPLED_DRAWS = 20_000


def bounds_are_exact(extremes: pd.DataFrame | None) -> bool:
    """Are the best/worst ranks exact for every unit (the ``method`` column of
    extremes.csv), rather than inner bounds?"""
    return extremes is not None and "method" in extremes and bool(
        extremes["method"].astype(str).str.startswith("exact").all())


def bounds_words(extremes: pd.DataFrame | None) -> str:
    """How the page, the reasons and the charts name the best–worst range: "exact
    best–worst" only where every row of extremes.csv is exact, "best–worst bounds" where
    some are inner bounds (the true range may be wider), plain "best–worst" for a table that
    does not say how it was computed (no ``method`` column)."""
    if extremes is not None and "method" not in extremes:
        return SOME_BOUNDS
    return EXACT_BOUNDS if bounds_are_exact(extremes) else INNER_BOUNDS


def extreme_ranks(ds: Dataset, delta: float, workers: int = 2, seed: int = 0,
                  scope: str = "auto", max_milp_units: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """extremes.csv: unit, published_rank, best, worst, tier_guaranteed, method, and witness
    weights best_w_<indicator>, worst_w_<indicator> (effective, summing to 1).

    Exact (MILP) where each pairwise comparison is linear in the weights: arithmetic
    aggregation everywhere, or geometric everywhere (linear in the logarithms). Otherwise the
    bounds are the extremes over the weight box's vertices and seeded uniform draws inside it,
    inner bounds that the ``method`` column names.

    ``scope``: ``"all"`` solves both MILPs for every unit; ``"undecided"`` (the default,
    ``"auto"``, above ALL_UNITS units) bounds every unit from the weight box's vertices and
    solves MILPs only where those bounds leave the tier undecided, for at most
    ``max_milp_units`` units (default MILP_UNITS; see :func:`_bounded_extremes`)."""
    spec = ds.spec
    x = ds.matrix
    form = ds.pipeline.uniform_form()   # the aggregations' declared weight form
    if form == "linear":
        method = EXACT
    elif form == "loglinear" and (x > 0).all():
        x, method = np.log(x), EXACT_LOG
    else:
        return _sampled_extremes(ds, delta, seed)
    if scope == "auto":
        scope = "all" if x.shape[0] <= ALL_UNITS else "undecided"
    if scope not in ("all", "undecided"):
        raise ValueError(f"scope must be 'auto', 'all' or 'undecided'; got {scope!r}")
    if scope == "undecided" and vertex_weights(spec, delta) is not None:
        return _bounded_extremes(ds, x, delta, method, workers, max_milp_units)
    poly = weight_polytope(spec, delta)
    vertices = vertex_weights(spec, delta)
    n = x.shape[0]
    if vertices is not None:
        s = vertices @ x.T                                # (V, U)
        d = s[:, :, None] - s[:, None, :]                 # [v, j, k] = s_j - s_k
        always_above = (d > 0).all(axis=0)                # j > k everywhere
        never_at_least = (d < 0).all(axis=0)              # j < k everywhere
        bound = np.abs(d).max(axis=0)                     # max |s_j - s_k| over the set
    else:
        always_above = np.zeros((n, n), dtype=bool)
        never_at_least = np.zeros((n, n), dtype=bool)
        bound = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
    identical = (x[:, None, :] == x[None, :, :]).all(axis=2)      # always tied
    np.fill_diagonal(identical, False)
    always_above &= ~identical
    never_at_least |= identical
    np.fill_diagonal(always_above, False)
    np.fill_diagonal(never_at_least, True)
    global _STATE
    _STATE = (x, poly, always_above, never_at_least, identical, bound)
    # Each unit's two MILPs are independent: a forked process pool uses both cores (HiGHS in
    # threads holds the GIL for part of its work and scales poorly).
    if workers > 1 and "fork" in mp.get_all_start_methods():
        with _quiet_stdout(), mp.get_context("fork").Pool(workers, _worker_init) as pool:
            rows = []
            for row in pool.imap(_solve_unit, range(n), chunksize=4):
                rows.append(row)
                if progress:
                    progress(len(rows), n)
    else:
        with _quiet_stdout():
            rows = []
            for k in range(n):
                rows.append(_solve_unit(k))
                if progress:
                    progress(k + 1, n)
    _STATE = None
    best_w, worst_w = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    scores = None
    if spec.tier_thresholds is not None:  # score range over the polytope: at its vertices
        nodes = vertex_node_weights(spec, delta)
        scores = composite(ds, nodes) if nodes is not None else None
    return _table(ds, [r[0] for r in rows], [r[1] for r in rows], best_w, worst_w, method,
                  scores)


def same_published_tier(ds: Dataset, best_tier: np.ndarray, worst_tier: np.ndarray
                        ) -> np.ndarray:
    """tier_guaranteed: the best and the worst case both fall in the *published* tier (the
    same tier at both ends is not enough: a unit whose published tier contradicts its own
    numbers can stay in another tier under every weighting)."""
    published = published_tiers(ds)
    return (np.asarray(best_tier) == published) & (np.asarray(worst_tier) == published)


def _table(ds: Dataset, best, worst, best_w: np.ndarray, worst_w: np.ndarray, method: str,
           scores: np.ndarray | None) -> pd.DataFrame:
    """The extremes table; with threshold tiers, ``scores`` (scenarios, units) give each
    unit's score range (tier guaranteed when it stays within one band)."""
    spec = ds.spec
    df = pd.DataFrame({"unit": ds.units, "published_rank": published_ranks(ds),
                       "best": best, "worst": worst})
    if spec.tier_thresholds is None:
        df["tier_guaranteed"] = same_published_tier(
            ds, tier_of_rank(df["best"].to_numpy(), spec.tiers),
            tier_of_rank(df["worst"].to_numpy(), spec.tiers))
    elif scores is not None:
        lo, hi = scores.min(axis=0), scores.max(axis=0)
        df["score_min"], df["score_max"] = lo, hi
        df["tier_guaranteed"] = same_published_tier(
            ds, tier_of_score(lo, spec.tier_thresholds), tier_of_score(hi, spec.tier_thresholds))
    else:
        df["tier_guaranteed"] = False
    df["method"] = method
    witnesses = {f"{prefix}{ind}": w[:, i] for prefix, w in (("best_w_", best_w),
                                                               ("worst_w_", worst_w))
                 for i, ind in enumerate(spec.indicators)}
    df = pd.concat([df, pd.DataFrame(witnesses, index=df.index)], axis=1)
    return df


def _sampled_extremes(ds: Dataset, delta: float, seed: int) -> pd.DataFrame:
    """Best and worst ranks over the weight box's vertices and uniform draws inside it (the
    Monte-Carlo ``uniform`` model's support), with witnesses."""
    spec = ds.spec
    rng = block_rng(seed, Stream.EXTREMES)
    draws = WeightBox(spec, delta).draw(rng, SAMPLED_DRAWS)
    vertices = vertex_node_weights(spec, delta)
    nodes = draws if vertices is None else np.vstack([vertices, draws])
    scores = np.vstack([composite(ds, chunk) for chunk in np.array_split(
        nodes, max(1, nodes.shape[0] // 2048))])
    ranks = rank_matrix(scores)
    best_i, worst_i = ranks.argmin(axis=0), ranks.argmax(axis=0)
    units = np.arange(ds.n_units)
    eff = effective_weight_batch(spec, nodes)
    method = SAMPLED.format(n=SAMPLED_DRAWS)
    return _table(ds, ranks[best_i, units], ranks[worst_i, units], eff[best_i], eff[worst_i],
                  method, scores)


ALL_UNITS = 250            # up to this many units, both MILPs for every unit (scope "all")
MILP_NODE_LIMIT = 500      # branch-and-bound nodes per MILP on the large-index path
MILP_UNITS = 25            # at most this many units get MILPs on the large-index path
BOUNDED = "bounds from the weight box's {v} vertices; tier decided without a MILP"
BOUNDED_EXACT = "exact (the weight box's {v} vertices attain the bounds)"
BOUNDED_LIMIT = f"bounds (MILP stopped at its limit of {MILP_NODE_LIMIT} nodes)"
UNDECIDED = ("bounds from the weight box's {v} vertices; tier undecided (beyond the "
             "{m} units given MILPs): tier_guaranteed is not proven either way")
BOUNDED_MILP = ("bounds from the weight box's {v} vertices; exact (MILP) on the side whose tier "
                "they left open")
_BIG: tuple | None = None
BOUNDED_SCOPE = (f"more than {ALL_UNITS} units: every unit bounded from the weight box's vertices "
                 "(best in [best_bound, best], worst in [worst, worst_bound]); MILPs only for "
                 "units whose tier the bounds leave undecided (method column per unit)")


def unique_vertex_weights(spec: Spec, delta: float) -> np.ndarray | None:
    """:func:`vertex_weights` without repeats (siblings moved together renormalise to the
    same weights: 189 distinct points of 512 combinations for the 2025 tree)."""
    vertices = vertex_weights(spec, delta)
    return None if vertices is None else np.unique(vertices, axis=0)


def _unit_pairs(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For unit k: (always above, never at least, identical, max |s_j - s_k|), each (U,),
    from the vertex scores; O(U x V)."""
    x, s, _ = _BIG
    d = s - s[k]                                   # (U, V): s_j - s_k at every vertex
    same = (x == x[k]).all(axis=1)
    same[k] = False
    above = (d > 0).all(axis=1) & ~same
    below = (d < 0).all(axis=1) | same
    below[k] = True
    return above, below, same, np.abs(d).max(axis=1)


def _outer_block(ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(units certainly above, units certainly below) for each unit of a block."""
    above, below = [], []
    for k in ks:
        a, b, same, _ = _unit_pairs(int(k))
        above.append(int(a.sum()))
        below.append(int(b.sum()) - int(same.sum()) - 1)
    return np.array(above), np.array(below)


def _milp_unit(task: tuple[int, bool, bool, int]) -> tuple:
    """The MILPs of one unit on the large-index path (best and/or worst), node-limited."""
    k, do_best, do_worst, limit = task
    x, _, poly = _BIG
    above, below, same, bound = _unit_pairs(k)
    free = np.flatnonzero(~above & ~below)
    fixed = int(above.sum())
    out = [None, None]
    if do_best:
        out[0] = _solve(x, k, free, fixed, poly, True, bound[free], node_limit=limit)
    if do_worst:
        out[1] = _solve(x, k, free, fixed + int(same.sum()), poly, False, bound[free],
                        node_limit=limit)
    return k, out


def _bounded_extremes(ds: Dataset, x: np.ndarray, delta: float, method: str, workers: int,
                      max_milp_units: int | None = None) -> pd.DataFrame:
    """Best/worst ranks for large indices: bounds for every unit, MILPs where they matter.

    Over the V distinct vertices of the weight box (V = 189 for the 2025 tree):
    - inner bounds, attained with witnesses: each unit's best and worst rank at any vertex
      (O(V U log U) in all: one ranking per vertex);
    - outer bounds: a unit's best rank is at least 1 + the units above it at every vertex,
      its worst at most U - the units below it at every vertex (the vertices decide every
      pair's order over the whole set; O(V U) per unit, O(V U^2) in all, in blocks).
    Where the inner bounds already cross a tier boundary the tier is not guaranteed; where the
    outer bounds stay within one tier it is; only the remaining ("undecided") units get MILPs,
    the first ``max_milp_units`` of them in published order (default MILP_UNITS), for the
    side (best or worst) whose tier the bounds leave open, each stopped after MILP_NODE_LIMIT
    branch-and-bound nodes (its incumbent and dual bound are kept; a node limit, unlike a
    time limit, keeps the output reproducible). Undecided units beyond the cap keep their
    bounds and ``tier_guaranteed`` False, their method saying that it is not proven either
    way. A MILP's cost grows with the units whose order against k can change (one binary
    each): about 0.1 s at 106 units (~20 binaries), about 1 s at 1,000 (~150 binaries),
    10 s or more at 5,000 (~700 binaries, usually stopped by the node limit with a gap).
    extremes.csv then adds
    ``best_bound`` and ``worst_bound`` (best in [best_bound, best], worst in [worst,
    worst_bound]; equal where exact) and says per unit which method gave its numbers.
    """
    global _BIG
    spec = ds.spec
    limit = MILP_NODE_LIMIT
    cap = MILP_UNITS if max_milp_units is None else max_milp_units
    vertices = unique_vertex_weights(spec, delta)
    n_v = vertices.shape[0]
    s = x @ vertices.T                                   # (U, V)
    n = x.shape[0]
    # inner bounds: ranks at every vertex (ties for k: "min"; ties against k: "max")
    best_in = np.full(n, n + 1)
    worst_in = np.zeros(n, dtype=np.int64)
    best_v = np.zeros(n, dtype=np.int64)
    worst_v = np.zeros(n, dtype=np.int64)
    for v in range(n_v):
        col = s[:, v]
        srt = np.sort(col)
        r_min = n - np.searchsorted(srt, col, side="right") + 1
        r_max = n - np.searchsorted(srt, col, side="left")
        better, worse = r_min < best_in, r_max > worst_in
        best_in[better], best_v[better] = r_min[better], v
        worst_in[worse], worst_v[worse] = r_max[worse], v
    _BIG = (x, s, weight_polytope(spec, delta))
    try:
        blocks = np.array_split(np.arange(n), max(1, n // 64))
        parallel = workers > 1 and "fork" in mp.get_all_start_methods()
        if parallel:
            with mp.get_context("fork").Pool(workers, _worker_init) as pool:
                parts = pool.map(_outer_block, blocks)
        else:
            parts = [_outer_block(b) for b in blocks]
        above = np.concatenate([p[0] for p in parts])
        below = np.concatenate([p[1] for p in parts])
        best_out, worst_out = 1 + above, n - below
        tiers = spec.tiers
        t = (lambda r: tier_of_rank(r, tiers)) if spec.tier_thresholds is None else None
        tasks, beyond = [], np.zeros(0, dtype=np.int64)
        if t is not None:
            open_best = t(best_out) != t(best_in)
            open_worst = t(worst_out) != t(worst_in)
            undecided = (t(best_out) != t(worst_out)) & (t(best_in) == t(worst_in))
            order = np.flatnonzero(undecided)
            order = order[np.argsort(published_ranks(ds)[order], kind="stable")]
            beyond = order[cap:]
            tasks = [(int(k), bool(open_best[k]), bool(open_worst[k]), limit)
                     for k in order[:cap]]
        if parallel and len(tasks) > 1:
            with _quiet_stdout(), mp.get_context("fork").Pool(workers, _worker_init) as pool:
                solved = pool.map(_milp_unit, tasks, chunksize=1)
        else:
            with _quiet_stdout():
                solved = [_milp_unit(task) for task in tasks]
    finally:
        _BIG = None
    eff = vertices
    best, worst = best_in.copy(), worst_in.copy()
    best_w, worst_w = eff[best_v].copy(), eff[worst_v].copy()
    stopped = np.zeros(n, dtype=bool)
    milp_units = np.zeros(n, dtype=bool)
    for k, (b, w) in solved:
        milp_units[k] = True
        if b is not None:
            best[k], best_w[k], best_out[k] = 1 + b[0], b[1], 1 + b[2]
            stopped[k] |= b[0] != b[2]
        if w is not None:
            worst[k], worst_w[k], worst_out[k] = 1 + w[0], w[1], 1 + w[2]
            stopped[k] |= w[0] != w[2]
    exact = (best == best_out) & (worst == worst_out)
    methods = np.where(stopped, BOUNDED_LIMIT, np.where(
        exact, np.where(milp_units, method, BOUNDED_EXACT.format(v=n_v)),
        np.where(milp_units, BOUNDED_MILP.format(v=n_v), BOUNDED.format(v=n_v))))
    methods[beyond] = UNDECIDED.format(v=n_v, m=cap)
    scores = composite(ds, vertex_node_weights(spec, delta)) \
        if spec.tier_thresholds is not None else None
    df = _table(ds, best, worst, best_w, worst_w, method, scores)
    if spec.tier_thresholds is None:  # decided by the bounds where no MILP was needed
        guaranteed = same_published_tier(ds, tier_of_rank(best_out, spec.tiers),
                                         tier_of_rank(worst_out, spec.tiers))
        df["tier_guaranteed"] = guaranteed
    df["method"] = methods
    at = df.columns.get_loc("worst") + 1
    df.insert(at, "best_bound", best_out)
    df.insert(at + 1, "worst_bound", worst_out)
    df.attrs["scope"] = {"units_with_milp": int(milp_units.sum()),
                         "milp_stopped_at_node_limit": int(stopped.sum()),
                         "undecided_beyond_cap": len(beyond),
                         "exact": int(exact.sum()), "vertices": n_v,
                         "milp_node_limit": limit, "max_milp_units": cap}
    return df


def witness_ranks(ds: Dataset, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Re-score every witness: unit k's rank under its best and its worst witness weights
    (best: ties for k, i.e. rank "min"; worst: ties against k)."""
    x = ds.matrix
    inds = ds.spec.indicators
    best, worst = [], []
    for k in range(len(table)):
        sb = x @ table.loc[k, [f"best_w_{i}" for i in inds]].to_numpy(dtype=float)
        best.append(int(rank_desc(sb)[k]))
        sw = x @ table.loc[k, [f"worst_w_{i}" for i in inds]].to_numpy(dtype=float)
        worst.append(1 + int((sw >= sw[k]).sum()) - 1)
    return np.array(best), np.array(worst)


class ExtremesResult(Result):
    """Exact best/worst ranks with witnesses (extremes.csv) and the weight-free dominance
    facts (dominance.csv, dominance_summary.csv)."""

    name = "extremes"

    def __init__(self, ds: Dataset, delta: float, workers: int = 2, seed: int = 0,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.dataset, self.delta = ds, delta
        self.frame = extreme_ranks(ds, delta, workers, seed, progress=progress)
        self.pairs, self.dominance = dominance_tables(ds)

    def include_sampled(self, ranks: pd.DataFrame) -> None:
        """Inner (sampled) bounds widened to every rank a Monte Carlo over the same weight box
        drew (``ranks``: its ranks.csv rows), so that no sampled rank falls outside them;
        exact bounds are left alone (they contain every sample by construction)."""
        f = self.frame
        inner = ~f["method"].str.startswith("exact").to_numpy()
        if not inner.any():
            return
        r = ranks.set_index("unit").reindex(f["unit"])
        best = np.minimum(f["best"].to_numpy(), r["mc_min"].to_numpy())
        worst = np.maximum(f["worst"].to_numpy(), r["mc_max"].to_numpy())
        f["best"] = np.where(inner, best, f["best"].to_numpy())
        f["worst"] = np.where(inner, worst, f["worst"].to_numpy())
        spec = self.dataset.spec
        if spec.tier_thresholds is None:
            kept = same_published_tier(self.dataset, tier_of_rank(f["best"].to_numpy(),
                                                                  spec.tiers),
                                       tier_of_rank(f["worst"].to_numpy(), spec.tiers))
        else:
            kept = f["tier_guaranteed"].to_numpy() & (r["p_published_tier"].to_numpy() >= 1.0)
        f["tier_guaranteed"] = np.where(inner, kept, f["tier_guaranteed"].to_numpy())
        f.loc[inner, "method"] = f.loc[inner, "method"] + \
            "; widened to every rank the weights lens sampled"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"extremes": self.frame, "dominance": self.pairs,
                "dominance_summary": self.dominance}

    def summary(self) -> dict:
        ext = self.frame
        tier = published_tiers(self.dataset)
        return {
            "delta": self.delta,
            "method": str(ext["method"].iloc[0]),
            "tier_guaranteed": int(ext["tier_guaranteed"].sum()),
            "tier_guaranteed_by_tier": {
                str(t): int(ext.loc[tier == t, "tier_guaranteed"].sum())
                for t in range(1, self.dataset.spec.n_tiers + 1)},
            **({"scope": {**self.frame.attrs["scope"], "method": BOUNDED_SCOPE}}
               if "scope" in self.frame.attrs else {}),
            "dominance_pairs": len(self.pairs),
            "tier_fixed_by_dominance": int(self.dominance["tier_fixed_by_dominance"].sum()),
        }

    def title(self) -> str:
        return f"best and worst ranks over the admissible weights (±{self.delta * 100:g}%)"

    def chart(self):
        """Each unit's best-to-worst rank over the admissible weights (a bar) and its
        published rank (a diamond); colour: is the published tier guaranteed?"""
        f = self.frame.assign(
            label=[unit_label(self.dataset, u) for u in self.frame["unit"]],
            tier=np.where(self.frame["tier_guaranteed"], "tier guaranteed",
                          "tier not guaranteed"))
        return rank_interval_chart(
            f, "best", "worst", "published_rank", self.title(),
            f"{bounds_words(self.frame)} ranks; diamond: the published rank",
            color="tier", label="label")
