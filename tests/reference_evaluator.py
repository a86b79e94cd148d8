"""A deliberately plain reference evaluator of composite indices, for the property tests.

Written from the documented definitions (the docstrings of cityindex/construction/*.py,
cityindex/spec.py and cityindex/data.py), NOT from the library's code: pure Python loops over
units and nodes, the math module, exact rationals (fractions) for the statistics whose
degenerate case (a zero standard deviation) must be recognised exactly, plain lists and dicts.
Nothing from cityindex and no numpy is imported here.

The index is a plain dict (written to a data folder by the tests)::

    {"root": "r", "scale": (0.0, 100.0), "missing": "reweight", "coverage": None | share,
     "nodes": {id: {"parent": id | None, "weight": float | None,
                    # leaves
                    "normalisation", "transform", "direction", "goalposts": (lo, hi) | None,
                    # aggregates
                    "aggregation", "p",
                    # any node
                    "impute", "impute_by"}},      # insertion order = sibling order
     "units": [unit, ...],                        # raw.csv row order
     "raw": {unit: {leaf: "12.5" or "" (an empty cell)}},
     "meta": {unit: {column: label}},             # units.csv
     "exceptions": [(unit, node, "missing" | "not_applicable"), ...]}

Definitions used (one line each; the docstring each comes from in brackets):

* leaf scores [normalisations.py]: t = transform(raw) (none, ln, log10); statistics over the
  values present in raw.csv (every unit of the file); goalposts: (clip(t, t(lo), t(hi)) -
  t(lo)) / (t(hi) - t(lo)); minmax: the same with the observed min and max (a constant
  indicator: 0); zscore: (t - mean) / sd, population sd (a constant indicator: 0); rank: the
  percentile rank (below + ties / 2) / n (the mid-distribution function: the library's tests
  pin this; the docstring's "share of units with a value <= v (ties averaged)" reads as
  average-rank / n instead, see the report); score5: t / 5; none: t. All but zscore and none
  are then mapped to the scale [a, b]: a + (b - a) u, after u -> 1 - u for direction "lower";
  zscore changes sign, none is reflected as a + b - t.
* a node is present for a unit when the data have the leaf value / some child is available,
  unless exceptions.csv marks it missing or not_applicable for the unit; a node that is not
  present is filled by its imputation rule (never where not applicable) from the units where
  it is present: mean, median, group mean (units.csv column impute_by; a group with no present
  unit stays missing), zero; available = present or filled [pipeline.py, imputation.py].
* aggregates combine their available children, weights renormalised over them
  [aggregations.py]: arithmetic sum w v / sum w; geometric exp(sum w ln(v + o) / sum w) - o,
  a zero child 0; harmonic and power mean (sum w (v + o)^p / sum w)^(1/p) - o, a zero child
  0 for p < 0 (adds 0 for p > 0); Mazziotta-Pareto: each child standardised over the units
  where it is available, z = 100 + 10 (v - mean) / sd (population sd; sd 0: z = 100), then
  M - S^2 / M with M, S the weighted mean and weighted population sd of the unit's z over its
  available children. A geometric, harmonic or power mean with an available child below
  -offset is an error.
* ranked units [data.py, spec.py]: an empty cell is a gap unless the leaf (or an ancestor) is
  not applicable; missing = "error": a gap at a leaf without an impute rule is an error;
  "exclude": such a unit leaves the ranking; coverage: present / applicable indicators below
  the share leaves it too; then every unit whose composite is not available leaves, repeated
  until none (leaving units out changes the imputation means).
"""

from __future__ import annotations

import math
from fractions import Fraction


class ReferenceDataError(Exception):
    """The data folder is invalid (the library must raise DataError)."""


class ReferenceComputationError(Exception):
    """A value the aggregation cannot take (the library must raise ComputationError)."""


# -- the tree --------------------------------------------------------------------------------

def children(index: dict) -> dict[str, list[str]]:
    kids: dict[str, list[str]] = {n: [] for n in index["nodes"]}
    for n, node in index["nodes"].items():
        if node["parent"] is not None:
            kids[node["parent"]].append(n)
    return kids


def postorder(index: dict) -> list[str]:
    kids = children(index)
    out: list[str] = []

    def visit(n: str) -> None:
        for c in kids[n]:
            visit(c)
        out.append(n)

    visit(index["root"])
    return out


def leaves(index: dict) -> list[str]:
    kids = children(index)
    return [n for n in postorder(index) if not kids[n]]


def ancestors_and_self(index: dict, node: str) -> list[str]:
    out = []
    while node is not None:
        out.append(node)
        node = index["nodes"][node]["parent"]
    return out


# -- leaf normalisation ----------------------------------------------------------------------

def transform(value: float, how: str) -> float:
    if how == "none":
        return value
    if value <= 0:
        raise ReferenceDataError(f"{value} <= 0 under transform {how}")
    return math.log(value) if how == "log" else math.log10(value)


def exact_mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation, exact before the final rounding (so that a
    constant list has sd exactly 0)."""
    fr = [Fraction(v) for v in values]
    mean = sum(fr, Fraction(0)) / len(fr)
    var = sum(((v - mean) ** 2 for v in fr), Fraction(0)) / len(fr)
    return float(mean), math.sqrt(float(var))


def normalise_leaf(node: dict, raw: list[float | None], scale: tuple[float, float]
                   ) -> list[float | None]:
    """One indicator's scores from its raw values (None = empty cell)."""
    a, b = scale
    how = node["transform"]
    t = [None if v is None else transform(v, how) for v in raw]
    present = [v for v in t if v is not None]
    method = node["normalisation"]
    out: list[float | None] = []
    for v in t:
        if v is None:
            out.append(None)
            continue
        if method in ("goalposts", "minmax"):
            if method == "goalposts":
                lo = transform(node["goalposts"][0], how)
                hi = transform(node["goalposts"][1], how)
            else:
                lo, hi = min(present), max(present)
            unit = 0.0 if hi <= lo else (min(max(v, lo), hi) - lo) / (hi - lo)
        elif method == "rank":
            below = sum(1 for w in present if w < v)
            ties = sum(1 for w in present if w == v)
            unit = (below + ties / 2) / len(present)
        elif method == "score5":
            unit = v / 5.0
        elif method == "zscore":
            mean, sd = exact_mean_sd(present)
            z = (v - mean) / sd if sd > 0 else 0.0
            out.append(-z if node["direction"] == "lower" else z)
            continue
        elif method == "none":
            out.append(a + b - v if node["direction"] == "lower" else v)
            continue
        else:
            raise ValueError(method)
        if node["direction"] == "lower":
            unit = 1.0 - unit
        out.append(a + (b - a) * unit)
    return out


def leaf_scores(index: dict) -> dict[str, dict[str, float | None]]:
    """Every leaf's normalised score for every unit of raw.csv."""
    units = index["units"]
    out = {}
    for leaf in leaves(index):
        raw = [None if index["raw"][u][leaf] == "" else float(index["raw"][u][leaf])
               for u in units]
        out[leaf] = dict(zip(units, normalise_leaf(index["nodes"][leaf], raw, index["scale"])))
    return out


# -- aggregation -----------------------------------------------------------------------------

def power_mean(values: list[float], weights: list[float], p: float, offset: float) -> float:
    den = sum(weights)
    total = 0.0
    for v, w in zip(values, weights):
        s = v + offset
        if w > 0 and s == 0:
            if p < 0:
                return 0.0 - offset
            continue
        if w > 0:
            total += w * s ** p
    return (total / den) ** (1.0 / p) - offset


def geometric_mean(values: list[float], weights: list[float], offset: float) -> float:
    den = sum(weights)
    total = 0.0
    for v, w in zip(values, weights):
        if w == 0:
            continue
        s = v + offset
        if s == 0:
            return 0.0 - offset
        total += w * math.log(s)
    return math.exp(total / den) - offset


def mazziotta_pareto(zs: list[float], weights: list[float]) -> float:
    den = sum(weights)
    m = sum(w * z for z, w in zip(zs, weights)) / den
    var = sum(w * (z - m) ** 2 for z, w in zip(zs, weights)) / den
    return m - var / m if m != 0 else m - var


POSITIVE = ("geometric", "harmonic", "power_mean")


def evaluate(index: dict, units: list[str], scores: dict[str, dict[str, float | None]],
             weights: dict[str, float] | None = None, offset: float = 0.0,
             methods: str | None = None, others: list[str] | tuple = ()
             ) -> dict[str, dict[str, float | None]]:
    """Every node's value for every unit of ``units`` and ``others`` (None: missing), at the
    given node weights (default nominal), ``methods`` one aggregation for every aggregate
    (default each node's own) and ``offset`` (added before a geometric, harmonic or power
    mean). ``others``: units not ranked that are evaluated alongside (their values enter the
    imputation means, see :func:`pool`)."""
    units = [*units, *others]
    nodes = index["nodes"]
    kids = children(index)
    w = {n: (weights[n] if weights is not None else nodes[n]["weight"])
         for n in nodes if n != index["root"]}
    missing: dict[str, set[str]] = {}
    not_applicable: dict[str, set[str]] = {}
    for unit, node, how in index["exceptions"]:
        (missing if how == "missing" else not_applicable).setdefault(node, set()).add(unit)
    value: dict[str, dict[str, float | None]] = {}
    for name in postorder(index):
        node = nodes[name]
        val: dict[str, float | None] = {}
        if not kids[name]:
            for u in units:
                val[u] = scores[name][u]
        else:
            method = methods or node["aggregation"]
            ks = kids[name]
            z: dict[str, dict[str, float]] = {}
            if method == "mazziotta_pareto":
                for c in ks:
                    there = [u for u in units if value[c][u] is not None]
                    mean, sd = exact_mean_sd([value[c][u] for u in there]) if there else (0, 0)
                    z[c] = {u: 100.0 + 10.0 * (value[c][u] - mean) / (sd if sd > 0 else 1.0)
                            for u in there}
            for u in units:
                avail = [c for c in ks if value[c][u] is not None]
                if method in POSITIVE:
                    for c in avail:
                        if value[c][u] + offset < 0:
                            raise ReferenceComputationError(f"{name} {u} {c}")
                if not avail:
                    val[u] = None
                    continue
                vs = [value[c][u] for c in avail]
                ws = [w[c] for c in avail]
                if method == "arithmetic":
                    val[u] = sum(wi * vi for wi, vi in zip(ws, vs)) / sum(ws)
                elif method == "geometric":
                    val[u] = geometric_mean(vs, ws, offset)
                elif method == "harmonic":
                    val[u] = power_mean(vs, ws, -1.0, offset)
                elif method == "power_mean":
                    val[u] = power_mean(vs, ws, node["p"], offset)
                elif method == "mazziotta_pareto":
                    val[u] = mazziotta_pareto([z[c][u] for c in avail], ws)
                else:
                    raise ValueError(method)
        # exceptions, then imputation from the units where the node is present
        na = not_applicable.get(name, set())
        gone = missing.get(name, set())
        present = {u: val[u] is not None and u not in na and u not in gone for u in units}
        rule = node.get("impute", "none")
        filled: dict[str, float | None] = {}
        if rule != "none":
            have = [u for u in units if present[u]]
            for u in units:
                if present[u] or u in na:
                    continue
                if rule == "zero":
                    filled[u] = 0.0
                elif rule == "mean":
                    filled[u] = (sum(val[h] for h in have) / len(have)) if have else None
                elif rule == "median":
                    filled[u] = median([val[h] for h in have]) if have else None
                elif rule == "group_mean":
                    col = node["impute_by"]
                    mine = [h for h in have
                            if index["meta"][h][col] == index["meta"][u][col]]
                    filled[u] = (sum(val[h] for h in mine) / len(mine)) if mine else None
                else:
                    raise ValueError(rule)
        value[name] = {u: (val[u] if present[u] else filled.get(u)) for u in units}
    return value


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


# -- which units are ranked ------------------------------------------------------------------

def pool(index: dict, ranked: list[str]) -> list[str]:
    """The units not ranked that are evaluated with the ranked ones: ``[index] impute_over =
    "all"`` (the default) lets every unit of the data set enter the imputation means (the
    library evaluates the whole tree over them, so they also enter every other statistic over
    units, e.g. the Mazziotta-Pareto standardisation); only when some node imputes from
    other units (mean, median, group_mean)."""
    from_units = any(n.get("impute", "none") in ("mean", "median", "group_mean")
                     for n in index["nodes"].values())
    if (index.get("impute_over") or "all") != "all" or not from_units:
        return []
    return [u for u in index["units"] if u not in ranked]


def ranked_units(index: dict, scores: dict[str, dict[str, float | None]]) -> list[str]:
    """The units the index ranks (data.py's missing rule, coverage, units without a
    composite); raises ReferenceDataError where the library must refuse the folder."""
    nodes = index["nodes"]
    leaf_ids = leaves(index)
    na_pairs = {(u, n) for u, n, how in index["exceptions"] if how == "not_applicable"}

    def not_applicable(u: str, leaf: str) -> bool:
        return any((u, a) in na_pairs for a in ancestors_and_self(index, leaf))

    excluded: set[str] = set()
    for u in index["units"]:
        gaps = [leaf for leaf in leaf_ids
                if index["raw"][u][leaf] == "" and not not_applicable(u, leaf)
                and nodes[leaf].get("impute", "none") == "none"]
        if gaps and index["missing"] == "error":
            raise ReferenceDataError(f"empty cell {u} {gaps[0]}")
        if gaps and index["missing"] == "exclude":
            excluded.add(u)
        if index["coverage"] is not None:
            applicable = [leaf for leaf in leaf_ids if not not_applicable(u, leaf)]
            present = [leaf for leaf in applicable if index["raw"][u][leaf] != ""]
            share = len(present) / len(applicable) if applicable else 0.0
            if share < index["coverage"] - 1e-12:
                excluded.add(u)
    # whether a node is available does not depend on the values: decide it on zeros (so that
    # a unit left out for having no composite cannot raise a value error first)
    zeros = {leaf: {u: None if v is None else 0.0 for u, v in s.items()}
             for leaf, s in scores.items()}
    while True:
        units = [u for u in index["units"] if u not in excluded]
        if not units:
            raise ReferenceDataError("no unit left to rank")
        root = evaluate(index, units, zeros, others=pool(index, units))[index["root"]]
        lost = [u for u in units if root[u] is None]
        if not lost:
            return units
        excluded.update(lost)


def composite(index: dict) -> dict[str, float]:
    """The composite score of every ranked unit, in raw.csv order."""
    scores = leaf_scores(index)
    units = ranked_units(index, scores)
    root = evaluate(index, units, scores, others=pool(index, units))[index["root"]]
    return {u: root[u] for u in units}


def rank_desc(values: list[float]) -> list[int]:
    """1 = highest; ties share the lowest rank ("min")."""
    return [1 + sum(1 for w in values if w > v) for v in values]
