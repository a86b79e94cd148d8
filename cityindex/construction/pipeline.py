"""The pipeline: evaluate an index tree for a batch of weightings.

Leaves carry normalised scores (units x indicators, NaN where missing). Each leaf and each
aggregate node, in post-order: the unit's value is *present* when the data have it (a leaf) or
any child is available (an aggregate), unless ``exceptions.csv`` marks it ``missing`` or
``not_applicable`` for the unit; an aggregate combines its available children with its
registered aggregation (weights renormalised over them); a value that is not present is filled
by the node's imputation rule where it has one (never where not applicable). Every analysis
evaluates through :class:`Pipeline`, so a method registered once works everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from cityindex.construction.aggregations import AGGREGATIONS
from cityindex.construction.imputation import IMPUTATIONS, impute
from cityindex.errors import ComputationError

if TYPE_CHECKING:
    from cityindex.spec import Spec


_PATHS: dict[int, tuple[object, np.ndarray]] = {}


def _path_columns(spec: Spec) -> np.ndarray:
    """(indicators, depth) columns of each indicator's path to the root in
    ``spec.weighted_nodes`` order, leaf first, padded with the index of a column of ones."""
    key = id(spec)
    hit = _PATHS.get(key)
    if hit is not None and hit[0] is spec:
        return hit[1]
    col = {n: j for j, n in enumerate(spec.weighted_nodes)}
    paths = [[col[n] for n in spec.path_to_root(leaf)] for leaf in spec.indicators]
    depth = max((len(p) for p in paths), default=0)
    table = np.full((len(paths), depth), len(col), dtype=np.intp)
    for i, p in enumerate(paths):
        table[i, : len(p)] = p
    _PATHS[key] = (spec, table)
    return table


def effective_weight_batch(spec: Spec, node_weights: np.ndarray) -> np.ndarray:
    """(scenarios, weighted nodes) node weights -> (scenarios, indicators) effective weights:
    the product of node weights on each indicator's path to the root, leaf first (one gather
    and one product for every indicator at once)."""
    w = np.asarray(node_weights, dtype=float)
    table = _path_columns(spec)
    if table.shape[1] == 0:
        return np.ones((w.shape[0], len(spec.indicators)))
    ext = np.concatenate([w, np.ones((w.shape[0], 1))], axis=1)
    out = ext[:, table[:, 0]].copy()
    for d in range(1, table.shape[1]):   # left to right, as 1 * w_leaf * w_parent * ...
        out *= ext[:, table[:, d]]
    return out


@dataclass(frozen=True, eq=False)
class Pipeline:
    """How one dataset's scores are made: the tree, which leaf values are present, the
    exceptions and the imputation groups.

    available : (units, indicators) bool, or None when every value is present.
    missing, not_applicable : node -> (units,) bool, from exceptions.csv.
    labels : units.csv column -> (units,) int group codes (what ``impute_by`` names).
    units : unit names, for messages.
    extra_x, full : the units not ranked (their indicator values) and the pipeline over
        ranked and not ranked units together, when they enter the imputation means.
    """

    spec: Spec
    n_units: int
    available: np.ndarray | None = None
    missing: Mapping[str, np.ndarray] = field(default_factory=dict)
    not_applicable: Mapping[str, np.ndarray] = field(default_factory=dict)
    labels: Mapping[str, np.ndarray] = field(default_factory=dict)
    units: tuple[str, ...] = ()
    extra_x: np.ndarray | None = None
    full: Pipeline | None = None

    @cached_property
    def groups(self) -> dict[str, np.ndarray]:
        """node -> group codes of its ``impute_by`` column (the nodes imputed by group
        mean), derived from the spec, so that another construction gets its own."""
        return {n: self.labels[node.impute_by] for n, node in self.spec.nodes.items()
                if node.impute == "group_mean" and node.impute_by in self.labels}

    def with_spec(self, spec: Spec) -> Pipeline:
        """The same data (gaps, exceptions, groups, units not ranked) under another
        construction, e.g. an alternative's imputation rules."""
        return replace(self, spec=spec,
                       full=None if self.full is None else self.full.with_spec(spec))

    @cached_property
    def imputes_from_units(self) -> bool:
        """Does some node fill a gap from other units' values (mean, median, group mean)?"""
        return any(IMPUTATIONS[n.impute].fill is not None and n.impute != "zero"
                   for n in self.spec.nodes.values())

    @cached_property
    def _kept_leaves(self) -> frozenset[str]:
        """Leaves a ``reweight = "leaves"`` ancestor reads after their parent is done."""
        return frozenset(leaf for a in self.spec.aggregates
                         if self.spec.nodes[a].reweight == "leaves"
                         for leaf in self.spec.leaves_under(a))

    @cached_property
    def complete(self) -> bool:
        """No gap and no exception: imputation can never apply."""
        return self.available is None and not self.missing and not self.not_applicable

    def uniform_form(self, methods: str | Mapping[str, str] | None = None) -> str | None:
        """"linear" / "loglinear" when every node's aggregation has that weight form and the
        data are complete (one matrix product scores a batch), else None."""
        if not self.complete:
            return None
        forms = {AGGREGATIONS[self.method(a, methods)].weight_form
                 for a in self.spec.aggregates}
        return forms.pop() if len(forms) == 1 else None

    @property
    def linear(self) -> bool:
        return self.uniform_form() == "linear"

    def method(self, node: str, methods: str | Mapping[str, str] | None) -> str:
        if isinstance(methods, str):
            return methods
        return (methods or {}).get(node, self.spec.nodes[node].aggregation)

    def _name(self, i: int) -> str:
        return f"'{self.units[i]}'" if self.units else f"#{i}"

    def evaluate(self, x: np.ndarray, node_weights: np.ndarray | None = None,
                 methods: str | Mapping[str, str] | None = None, offset: float = 0.0,
                 node: str | None = None) -> np.ndarray:
        """Scores through the tree, node by node.

        x : (units, indicators) or (scenarios, units, indicators) normalised scores in
            ``spec.indicators`` order.
        node_weights : (W,) or (scenarios, W) in ``spec.weighted_nodes`` order (default
            nominal).
        methods : one aggregation for every node, or node -> aggregation (default each
            node's own).
        offset : added to every value before a geometric, harmonic or power mean (0: the
            published method; a zero child then gives a zero mean, the limit).
        node : return this node's scores instead of the root's.

        Returns (units,) or (scenarios, units); NaN where a node is neither present nor
        imputed.
        """
        if self.full is not None and self.imputes_from_units:
            # units that are not ranked still enter the imputation means (their data as
            # loaded): evaluate over them too, return the ranked units
            x = np.asarray(x, dtype=float)
            extra = np.broadcast_to(self.extra_x, x.shape[:-2] + self.extra_x.shape)
            out = self.full.evaluate(np.concatenate([x, extra], axis=-2), node_weights,
                                     methods, offset, node)
            return out[..., : self.n_units]
        spec = self.spec
        x = np.asarray(x, dtype=float)
        w = spec.nominal_weights().reindex(spec.weighted_nodes).to_numpy() \
            if node_weights is None else np.asarray(node_weights, dtype=float)
        batched = x.ndim == 3 or w.ndim == 2
        w2 = np.atleast_2d(w)                                     # (S or 1, W)
        col = {n: j for j, n in enumerate(spec.weighted_nodes)}
        n_units = x.shape[-2]
        none = np.zeros(n_units, dtype=bool)
        values: dict[str, np.ndarray] = {}
        avail: dict[str, np.ndarray] = {}

        untouched: dict[str, int] = {}   # leaves whose value is still x[..., i] (a view)

        def settle(name: str, value: np.ndarray, present: np.ndarray) -> bool:
            na = self.not_applicable.get(name, none)
            present = present & ~na & ~self.missing.get(name, none)
            rule = IMPUTATIONS[spec.nodes[name].impute]
            filled, present = impute(rule, value, present, ~present & ~na,
                                     self.groups.get(name))
            values[name] = filled
            avail[name] = present
            return filled is value

        for i, leaf in enumerate(spec.indicators):
            present = (np.ones(n_units, dtype=bool) if self.available is None
                       else np.asarray(self.available)[:, i].copy())
            if settle(leaf, x[..., i], present):
                untouched[leaf] = i
        for agg in spec.aggregates:
            if spec.nodes[agg].reweight == "leaves" and self.method(agg, methods) == \
                    "arithmetic":
                self._flat(agg, values, avail, w2, col, settle)
                continue
            kids = spec.children(agg)
            op = AGGREGATIONS[self.method(agg, methods)]
            idx = [untouched.get(k, -1) for k in kids]
            if idx[0] >= 0 and idx == list(range(idx[0], idx[0] + len(kids))):
                v = x[..., idx[0]: idx[0] + len(kids)]   # leaves side by side: no copy
            else:
                v = np.stack(np.broadcast_arrays(*[values[k] for k in kids]), axis=-1)
            m = np.stack([avail[k] for k in kids], axis=-1)                          # (U, k)
            wk = w2[:, [col[k] for k in kids]][:, None, :]                            # (S,1,k)
            mv = m
            nan = np.isnan(v)
            if nan.any() and (nan & m).any():
                # a child missing in some scenarios only (its own children all weighted 0
                # there): missing for that scenario, its siblings reweighted
                mv = m & ~nan
            wm = wk * mv                                                              # (S,U,k)
            den = wm.sum(axis=-1)
            if op.positive:
                low = v < -offset
                if (low & m).any():
                    where = np.argwhere(low & m)[0]
                    unit = int(where[-2])
                    raise ComputationError(
                        f"{op.label} at node '{agg}', unit {self._name(unit)}",
                        f"a value {float(v[tuple(where)]):.6g} + offset "
                        f"{offset} < 0", "non-negative values")
            out = op.combine(v, wm, mv, den, offset, {"p": spec.nodes[agg].p})
            # no weight on any available child (e.g. its only one left out): no value, never
            # an arbitrary one
            out = np.where(den > 0, out, np.nan)
            present = m.any(axis=-1)
            settle(agg, np.where(present, out, np.nan), present)
            values[agg] = np.where(avail[agg], values[agg], np.nan)
            for k in kids:  # a child is done once its parent is: memory O(depth), not O(nodes)
                if k != node and k not in self._kept_leaves:
                    del values[k]
        result = values[node or spec.root]
        return result if batched or result.ndim == 1 else result[0]

    def _flat(self, agg: str, values: dict, avail: dict, w2: np.ndarray, col: dict,
              settle) -> None:
        """``reweight = "leaves"``: the node's weighted mean over the leaves present below
        it, with their effective weights within the node (a gap's weight goes to every leaf
        present, not only to its siblings: the EPI's reallocation within an objective)."""
        spec = self.spec
        leaves = spec.leaves_under(agg)
        eff = np.ones((w2.shape[0], len(leaves)))
        for j, leaf in enumerate(leaves):
            node = leaf
            while node != agg:
                eff[:, j] *= w2[:, col[node]]
                node = spec.nodes[node].parent
        v = np.stack(np.broadcast_arrays(*[values[leaf] for leaf in leaves]), axis=-1)
        m = np.stack([avail[leaf] for leaf in leaves], axis=-1)
        for j, leaf in enumerate(leaves):  # a leaf under a node marked missing or n/a: out
            node = spec.nodes[leaf].parent
            while node != agg:
                for marks in (self.not_applicable, self.missing):
                    if node in marks:
                        m[:, j] &= ~marks[node]
                node = spec.nodes[node].parent
        wm = eff[:, None, :] * m[None]
        out = AGGREGATIONS["arithmetic"].combine(v, wm, m, wm.sum(axis=-1), 0.0, {})
        present = m.any(axis=-1)
        settle(agg, np.where(present, out, np.nan), present)
        values[agg] = np.where(avail[agg], values[agg], np.nan)

    def node_available(self, node: str) -> np.ndarray:
        """(units,) whether ``node`` has a value (present or imputed) for each unit."""
        x = np.zeros((self.n_units, len(self.spec.indicators)))
        return ~np.isnan(self.evaluate(x, node=node))
