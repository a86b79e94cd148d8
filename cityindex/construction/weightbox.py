"""The weight box: every admissible weighting of the ``uniform`` weight model.

Each node weight is its nominal value times a factor in [1 - delta, 1 + delta], renormalised
among its siblings (Saisana, Saltelli & Tarantola 2005, JRSS A 168(2); the JRC's standard weight
perturbation). The Monte Carlo draws from it, Sobol' indices take its factors as inputs, and the
extreme ranks (ERA) optimise over it; this one class is their only definition.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cityindex.spec import Spec


MAX_VERTICES = 1 << 16


@dataclass(frozen=True)
class Polytope:
    """Linear description of admissible normalised effective weights: variables z
    (indicators) then t (one per aggregate); A_ub @ v <= 0 and sum(z) = 1."""

    a_ub: np.ndarray
    n_ind: int
    n_aux: int


def sibling_columns(spec: Spec) -> list[np.ndarray]:
    """Column indices (into ``spec.weighted_nodes``) of each aggregate's children."""
    col = {n: j for j, n in enumerate(spec.weighted_nodes)}
    return [np.array([col[k] for k in spec.children(agg)]) for agg in spec.aggregates]


def renormalise(weights: np.ndarray, siblings: list[np.ndarray]) -> np.ndarray:
    """In place and returned: each sibling group's weights divided by their row sum."""
    for g in siblings:
        weights[:, g] /= weights[:, g].sum(axis=1, keepdims=True)
    return weights


@dataclass(frozen=True, eq=False)
class WeightBox:
    spec: Spec
    delta: float

    @cached_property
    def nominal(self) -> np.ndarray:
        """Nominal node weights in ``spec.weighted_nodes`` order."""
        return self.spec.nominal_weights().reindex(self.spec.weighted_nodes).to_numpy()

    @cached_property
    def siblings(self) -> list[np.ndarray]:
        return sibling_columns(self.spec)

    def from_factors(self, factors: np.ndarray) -> np.ndarray:
        """(n, W) factors in [1 - delta, 1 + delta] -> renormalised node weights."""
        return renormalise(self.nominal * factors, self.siblings)

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n uniform draws from the box: (n, W) node weights."""
        return self.from_factors(rng.uniform(1 - self.delta, 1 + self.delta,
                                             size=(n, self.nominal.size)))

    def sobol_bounds(self) -> list[list[float]]:
        """One [1 - delta, 1 + delta] factor range per weighted node (SALib's bounds)."""
        return [[1 - self.delta, 1 + self.delta]] * self.nominal.size

    @property
    def vertex_count(self) -> int:
        """The number of combinations of sibling-group box vertices, in exact integers (a
        product of 2**k in int64 wraps to 0 at 64 weighted nodes)."""
        return math.prod(2 ** len(self.spec.children(a)) for a in self.spec.aggregates)

    def vertices(self, limit: int = MAX_VERTICES) -> np.ndarray | None:
        """Node weights at every combination of sibling-group box vertices (renormalised),
        or None when there are more than ``limit``."""
        spec = self.spec
        if self.vertex_count > limit:
            return None
        groups = [spec.children(a) for a in spec.aggregates]
        nominal = spec.nominal_weights()
        per_group = []
        for g in groups:
            options = []
            for signs in itertools.product((-1.0, 1.0), repeat=len(g)):
                w = np.array([nominal[c] * (1 + s * self.delta) for c, s in zip(g, signs)])
                options.append(w / w.sum())
            per_group.append(options)
        out = []
        for combo in itertools.product(*per_group):
            w = nominal.copy()
            for g, vals in zip(groups, combo):
                w[g] = vals
            out.append(w.reindex(spec.weighted_nodes).to_numpy())
        return np.array(out)

    def polytope(self) -> Polytope:
        """The box as linear constraints on unnormalised effective weights (see
        :mod:`cityindex.sensitivity.extremes`)."""
        spec = self.spec
        leaves = spec.indicators
        index = {leaf: i for i, leaf in enumerate(leaves)}
        aggs = spec.aggregates
        n_ind, n_aux = len(leaves), len(aggs)
        rows = []
        for j, agg in enumerate(aggs):
            for child in spec.children(agg):
                mass = np.zeros(n_ind + n_aux)
                for leaf in spec.leaves_under(child):
                    mass[index[leaf]] = 1.0
                nominal = spec.nodes[child].weight
                lower = -mass.copy()
                lower[n_ind + j] = nominal * (1 - self.delta)      # l t - M <= 0
                upper = mass.copy()
                upper[n_ind + j] = -nominal * (1 + self.delta)     # M - h t <= 0
                rows += [lower, upper]
        return Polytope(np.array(rows), n_ind, n_aux)
