"""Scenario sampling for the Monte-Carlo uncertainty analysis.

Scenarios are drawn in fixed-size *blocks*. Block ``b`` has its own generator from the
registry of named streams (:func:`cityindex.streams.block_rng`), so a block's draws depend
only on the seed and its index: any chunking, ordering or number of workers yields the same
scenarios and, because the accumulators are integer counts, the same output bytes.

Weight models (each node weight, renormalised among its siblings):

``uniform``    w_i x U(1 - delta, 1 + delta), renormalised (Saisana, Saltelli & Tarantola
               2005, JRSS A 168(2); the JRC's standard weight perturbation).
``dirichlet``  siblings ~ Dirichlet(concentration x nominal weights): centred on the nominal
               weights, with variance shrinking as the concentration grows.
``simplex``    siblings ~ Dirichlet(1, ..., 1), uniform on the simplex: no preference
               information, as in SMAA (Lahdelma & Salminen 2001, Operations Research 49(3)).
``fixed``      the nominal weights.

Effective indicator weights are the products of node weights down the tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityindex.construction import WeightBox, effective_weight_batch
from cityindex.model import UncertaintyModel
from cityindex.spec import Spec
from cityindex.streams import Stream, block_rng

BLOCK = 2048  # scenarios per generator block; also the scoring batch (fits in cache)


@dataclass(frozen=True)
class Scenarios:
    node_weights: np.ndarray     # (n, weighted nodes), siblings summing to 1
    effective: np.ndarray        # (n, indicators)
    normalisation: np.ndarray    # (n,) index into the run file's choices
    aggregation: np.ndarray      # (n,) index into the run file's choices

    def __len__(self) -> int:
        return self.effective.shape[0]


class ScenarioSampler:
    """Draws ``samples`` scenarios, in blocks, from an uncertainty model."""

    def __init__(self, spec: Spec, model: UncertaintyModel, seed: int, samples: int | None = None,
                 stream: Stream = Stream.MONTECARLO) -> None:
        self.spec = spec
        self.model = model
        self.seed = seed
        self.samples = model.samples if samples is None else samples
        self.stream = stream
        self.nodes = spec.weighted_nodes
        self.box = WeightBox(spec, model.delta)
        self.nominal = self.box.nominal
        self.sibling_groups = self.box.siblings

    @property
    def n_blocks(self) -> int:
        return -(-self.samples // BLOCK)

    def block_size(self, block: int) -> int:
        return min(BLOCK, self.samples - block * BLOCK)

    def draw_weights(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cfg = self.model
        if cfg.weights == "fixed":
            return np.broadcast_to(self.nominal, (n, self.nominal.size)).copy()
        if cfg.weights == "uniform":
            return self.box.draw(rng, n)
        w = np.empty((n, self.nominal.size))
        for g in self.sibling_groups:
            alpha = (np.ones(g.size) if cfg.weights == "simplex"
                     else cfg.concentration * self.nominal[g])
            w[:, g] = rng.dirichlet(alpha, size=n) if g.size > 1 else 1.0
        return w

    def block(self, block: int) -> Scenarios:
        n = self.block_size(block)
        rng = block_rng(self.seed, self.stream, block)
        node_w = self.draw_weights(rng, n)
        norm = rng.integers(0, len(self.model.normalisations), size=n)
        agg = rng.integers(0, len(self.model.aggregations), size=n)
        return Scenarios(node_w, effective_weight_batch(self.spec, node_w), norm, agg)


class ConstructionSampler(ScenarioSampler):
    """The construction lens's scenarios: nominal weights; each scenario draws a
    normalisation and an aggregation with the model's construction probabilities and, with
    probability ``leave_one_out``, leaves one indicator out (each equally likely; siblings
    renormalised as in :func:`cityindex.sensitivity.leave_one_out.drop_indicator`).

    ``normalisations`` / ``aggregations`` are the choices with a positive probability, in the
    library's order: the scorer is built over exactly these."""

    def __init__(self, spec: Spec, model: UncertaintyModel, seed: int,
                 samples: int | None = None) -> None:
        norm_p, agg_p = model.construction_probabilities
        self.normalisations = tuple(k for k, p in norm_p.items() if p > 0)
        self.aggregations = tuple(k for k, p in agg_p.items() if p > 0)
        self.norm_p = np.array([norm_p[k] for k in self.normalisations])
        self.agg_p = np.array([agg_p[k] for k in self.aggregations])
        c = model.construction
        self.drop_p = 0.0 if c is None else c.leave_one_out
        super().__init__(spec, model, seed,
                         model.construction_samples if samples is None else samples,
                         Stream.CONSTRUCTION)

    def block(self, block: int) -> Scenarios:
        from cityindex.sensitivity.leave_one_out import drop_indicator

        n = self.block_size(block)
        rng = block_rng(self.seed, self.stream, block)
        node_w = np.broadcast_to(self.nominal, (n, self.nominal.size)).copy()
        norm = rng.choice(len(self.normalisations), size=n, p=self.norm_p)
        agg = rng.choice(len(self.aggregations), size=n, p=self.agg_p)
        drop = rng.random(n) < self.drop_p
        which = rng.integers(0, len(self.spec.indicators), size=n)
        for i, ind in enumerate(self.spec.indicators):
            rows = np.flatnonzero(drop & (which == i))
            if rows.size:
                sub = node_w[rows]
                drop_indicator(self.spec, sub, ind)
                node_w[rows] = sub
        return Scenarios(node_w, effective_weight_batch(self.spec, node_w), norm, agg)
