"""The shared scoring engine: nominal scores and ranks, published ranks and tiers, the report's
groups, batch scoring of scenarios, and the per-unit summary of a rank distribution.

Every analysis reads these concepts from here, so each is computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityindex.construction import AGGREGATIONS, effective_weight_batch, normalise
from cityindex.data import Dataset
from cityindex.errors import ComputationError
from cityindex.rank import RankHistogram, rank_desc, tier_of_rank
from cityindex.score import log_shifted
from cityindex.spec import tier_of_score


def composite(ds: Dataset, node_weights: np.ndarray | None = None) -> np.ndarray:
    """The published construction (published normalisation, each node's own aggregation,
    missing values by the spec's rule) at the given node weights ((W,) or (S, W) in
    ``spec.weighted_nodes`` order; default nominal): (units,) or (S, units)."""
    spec = ds.spec
    x = ds.matrix
    if ds.pipeline.linear:  # the fast path: one matrix product
        w = (spec.nominal_weights().reindex(spec.weighted_nodes).to_numpy()
             if node_weights is None else node_weights)
        eff = effective_weight_batch(spec, np.atleast_2d(w))
        out = eff @ x.T
        return out if np.ndim(w) == 2 else out[0]
    return ds.pipeline.evaluate(x, node_weights)


def nominal_scores(ds: Dataset, weights: pd.Series | None = None) -> pd.Series:
    """Composite scores with the published method — published normalisation, each node's own
    aggregation, nominal (or the given node) weights — as a Series indexed by unit."""
    if weights is None and ds.pipeline.linear:
        eff = ds.spec.effective_weights().reindex(ds.spec.indicators).to_numpy()
        values = eff @ ds.matrix.T
    else:
        w = None if weights is None else \
            weights.reindex(ds.spec.weighted_nodes).to_numpy(dtype=float)
        values = composite(ds, w)
    return pd.Series(values, index=pd.Index(ds.units, name="unit"), name=ds.spec.root)


def nominal_ranks(ds: Dataset) -> np.ndarray:
    """Ranks (1 = best, ties "min") of :func:`nominal_scores`, in the dataset's unit order."""
    return rank_desc(nominal_scores(ds).to_numpy())


def published_ranks(ds: Dataset) -> np.ndarray:
    """The published composite ranks, in the dataset's unit order."""
    return ds.published_ranks[ds.spec.root].to_numpy(dtype=int)


def tiers_of(ds: Dataset, ranks: np.ndarray | None = None, scores: np.ndarray | None = None
             ) -> np.ndarray:
    """Tiers (1-based) as the spec defines them: of ranks for tier counts, of scores for score
    thresholds. Without ``scores`` (a construction whose scores are on another scale, e.g.
    z-scores, where the thresholds mean nothing), threshold tiers fall back to rank positions
    with the published tiers' sizes (:func:`rank_tier_sizes`)."""
    if ds.spec.tier_thresholds is not None and scores is not None:
        return tier_of_score(scores, ds.spec.tier_thresholds)
    return tier_of_rank(ranks, rank_tier_sizes(ds))


def rank_tier_sizes(ds: Dataset) -> tuple[int, ...]:
    """Tier sizes in rank order: the spec's counts, or, for score-threshold tiers, the sizes of
    the published tiers (so that rank-based methods — confidence sets, dominance — can ask
    whether a rank stays within its tier's positions)."""
    if ds.spec.tier_thresholds is None:
        return ds.spec.tiers
    counts = np.bincount(published_tiers(ds), minlength=ds.spec.n_tiers + 1)[1:]
    return tuple(int(c) for c in counts)


def published_tiers(ds: Dataset) -> np.ndarray:
    """The tier (1-based) of each published composite (by rank or by score)."""
    return tiers_of(ds, published_ranks(ds), ds.published[ds.spec.root].to_numpy())


def names_en(ds: Dataset) -> list[str]:
    """English names (empty where the metadata has none)."""
    if "name_en" not in ds.meta.columns:
        return [""] * ds.n_units
    return [str(ds.meta.at[u, "name_en"]) for u in ds.units]


@dataclass(frozen=True)
class Group:
    kind: str
    name: str
    members: np.ndarray          # indices into the dataset's units
    tiers: tuple[int, ...]


def report_groups(ds: Dataset) -> list[Group]:
    """The spec's groups (e.g. scale class, region, capital) as member index arrays."""
    out = []
    for gid, g in ds.spec.groups.items():
        if g.column not in ds.meta.columns:
            continue
        col = ds.meta[g.column].reindex(ds.units).to_numpy()
        for value in sorted(set(col) - set(g.exclude)):
            out.append(Group(gid, str(value), np.flatnonzero(col == value), g.tiers))
    return out


def partitions(ds: Dataset, groups: list[Group]) -> list[np.ndarray]:
    """One label array per group kind (-1 for units in no group of that kind)."""
    out = []
    for kind in dict.fromkeys(g.kind for g in groups):
        lab = np.full(ds.n_units, -1, dtype=np.int64)
        for k, g in enumerate(g for g in groups if g.kind == kind):
            lab[g.members] = k
        out.append(lab)
    return out


class IndexModel:
    """Scores batches of scenarios for one dataset, through the dataset's pipeline.

    Aggregation choices: ``published`` (each node's own method from the spec) or the name of
    a registered aggregation (that method at every node, on value + offset where the
    aggregation needs positive values). Where every node's method is linear (or log-linear)
    in the weights and the data are complete, a batch is one matrix product per
    (normalisation, aggregation) pair; otherwise it goes through the tree node by node.
    """

    def __init__(self, ds: Dataset, normalisations: tuple[str, ...],
                 aggregations: tuple[str, ...], offset: float) -> None:
        self.spec = ds.spec
        self.pipeline = ds.pipeline
        x = ds.matrix
        self.normalisations = normalisations
        self.aggregations = aggregations
        self.offset = offset
        self.x = [normalise(x, m, ds.spec.scale) for m in normalisations]
        self.methods = {a: self._methods(a) for a in aggregations}
        # log(x + offset) once per normalisation: refuses non-positive values up front
        self.logx = ([log_shifted(xk, offset, f"'{m}'-normalised indicators")
                      for xk, m in zip(self.x, normalisations)]
                     if "loglinear" in self.methods.values() else None)
        self.n_units = x.shape[0]

    def _methods(self, choice: str) -> str | dict[str, str]:
        """'linear' / 'loglinear' (geometric on value + offset) when one method holds at every
        node and the path is a matrix product, else the per-node methods."""
        if choice == "published":
            form = self.pipeline.uniform_form()
            # the published geometric mean has no offset: it goes through the tree
            return "linear" if form == "linear" else \
                {a: self.spec.nodes[a].aggregation for a in self.spec.aggregates}
        AGGREGATIONS.get(choice, "[aggregation].choices")
        form = self.pipeline.uniform_form(choice)
        if form in ("linear", "loglinear"):
            return form
        return {a: choice for a in self.spec.aggregates}

    def offset_of(self, choice: str) -> float:
        return 0.0 if choice == "published" else self.offset

    def scores(self, node_weights: np.ndarray, effective: np.ndarray,
               normalisation: np.ndarray, aggregation: np.ndarray) -> np.ndarray:
        """(scenarios, units) composites for node weights (scenarios, weighted nodes), their
        effective weights (scenarios, indicators) and each scenario's normalisation and
        aggregation (indices into the model's choices)."""
        out = None  # allocated on the first partial choice: one choice for all needs none
        for k in range(len(self.normalisations)):
            for a, choice in enumerate(self.aggregations):
                rows = np.flatnonzero((normalisation == k) & (aggregation == a))
                if rows.size == 0:
                    continue
                whole = rows.size == effective.shape[0]  # one choice: no gather/scatter
                if whole:
                    rows = slice(None)
                method = self.methods[choice]
                if method == "linear":
                    part = effective[rows] @ self.x[k].T
                elif method == "loglinear":
                    part = np.exp(effective[rows] @ self.logx[k].T) - self.offset
                else:
                    part = self.pipeline.evaluate(self.x[k], node_weights[rows], method,
                                                  self.offset_of(choice))
                if whole:
                    out = part
                else:
                    if out is None:
                        out = np.empty((effective.shape[0], self.n_units))
                    out[rows] = part
        if out is None:  # no scenarios
            out = np.empty((effective.shape[0], self.n_units))
        if not np.isfinite(out).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            name = self.pipeline.units[bad[1]] if self.pipeline.units else f"#{bad[1]}"
            raise ComputationError(
                f"scenario with normalisation '{self.normalisations[normalisation[bad[0]]]}'"
                f" and aggregation '{self.aggregations[aggregation[bad[0]]]}'",
                f"a non-finite composite score for unit '{name}'", "finite scores")
        return out


def construction_scores(ds: Dataset, normalisation: str = "published",
                        aggregation: str = "published", offset: float = 1.0,
                        node_weights: np.ndarray | None = None) -> np.ndarray:
    """Composite scores (units,) under one named construction at the given (default nominal)
    node weights."""
    spec = ds.spec
    w = (spec.nominal_weights().reindex(spec.weighted_nodes).to_numpy()
         if node_weights is None else np.asarray(node_weights, dtype=float))[None]
    model = IndexModel(ds, (normalisation,), (aggregation,), offset)
    zero = np.zeros(1, dtype=np.int64)
    return model.scores(w, effective_weight_batch(spec, w), zero, zero)[0]


def _interval_text(lo: int, hi: int) -> str:
    return f"{lo}–{hi}"


def rank_summary(ds: Dataset, hist: RankHistogram, nominal_rank: np.ndarray,
                 rank_width: int | None, tier_probability: float,
                 tier_counts: np.ndarray | None = None) -> pd.DataFrame:
    """Per-unit summary of a rank distribution (ranks.csv and its siblings): quantiles,
    extremes, P(published rank / tier), binomial standard error, fragility flags. A rank is
    fragile when its 90% interval crosses a tier boundary (tiers in rank positions: see
    :func:`rank_tier_sizes`), or, when ``rank_width`` is set, when the interval is at least
    that wide. ``tier_counts`` (units x tiers) are the scenarios' tiers by score, for threshold
    tiers (a threshold tier follows the scenario's score, not its rank)."""
    tiers = rank_tier_sizes(ds)
    published = published_ranks(ds)
    pub_tier = published_tiers(ds)
    n = hist.n
    p_tiers = hist.tier_probabilities(tiers) if tier_counts is None \
        else tier_counts / max(n, 1)
    p05, p25, p50, p75, p95 = (hist.quantile(q) for q in (0.05, 0.25, 0.5, 0.75, 0.95))
    p_pub_tier = p_tiers[np.arange(ds.n_units), pub_tier - 1]
    df = pd.DataFrame({
        "unit": ds.units,
        "name_en": names_en(ds),
        "published_rank": published,
        "published_tier": pub_tier,
        "nominal_rank": nominal_rank,
        "median": p50, "mean": hist.mean(), "p05": p05, "p25": p25, "p75": p75, "p95": p95,
        "mc_min": hist.minimum(), "mc_max": hist.maximum(),
        "p_published_rank": hist.prob_between(published, published),
        "p_within_2": hist.prob_between(published - 2, published + 2),
    })
    for t in range(p_tiers.shape[1]):
        df[f"p_tier_{t + 1}"] = p_tiers[:, t]
    df["p_published_tier"] = p_pub_tier
    df["se_p_published_tier"] = np.sqrt(p_pub_tier * (1 - p_pub_tier) / max(n, 1))
    width = df["p95"] - df["p05"]
    if rank_width is None:
        df["rank_fragile"] = tier_of_rank(p05, tiers) != tier_of_rank(p95, tiers)
    else:
        df["rank_fragile"] = width >= rank_width
    df["tier_fragile"] = df["p_published_tier"] < tier_probability
    reasons = []
    for rec in df.to_dict("records"):
        r = []
        if rec["rank_fragile"]:
            r.append(f"90% rank interval {_interval_text(rec['p05'], rec['p95'])} "
                     + ("crosses a tier boundary" if rank_width is None
                        else f"(width {rec['p95'] - rec['p05']})"))
        if rec["tier_fragile"]:
            r.append(f"P(stays in tier {rec['published_tier']}) = {rec['p_published_tier']:.2f}")
        reasons.append("; ".join(r))
    df["reasons"] = reasons
    return df
