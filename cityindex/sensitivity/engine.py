"""The shared scoring engine: nominal scores and ranks, published ranks and tiers, the report's
groups, batch scoring of scenarios, and the per-unit summary of a rank distribution.

Every analysis reads these concepts from here, so each is computed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.errors import ComputationError
from cityindex.rank import RankHistogram, rank_desc, tier_of_rank
from cityindex.score import aggregate, log_shifted, normalise


def nominal_scores(ds: Dataset, weights: pd.Series | None = None) -> pd.Series:
    """Composite scores with the published method — published normalisation, arithmetic
    aggregation, nominal (or the given node) weights — as a Series indexed by unit."""
    eff = ds.spec.effective_weights(weights).reindex(ds.spec.indicators).to_numpy()
    values = aggregate(ds.indicators[ds.spec.indicators].to_numpy(), eff)
    return pd.Series(values, index=pd.Index(ds.units, name="unit"), name=ds.spec.root)


def nominal_ranks(ds: Dataset) -> np.ndarray:
    """Ranks (1 = best, ties "min") of :func:`nominal_scores`, in the dataset's unit order."""
    return rank_desc(nominal_scores(ds).to_numpy())


def published_ranks(ds: Dataset) -> np.ndarray:
    """The published composite ranks, in the dataset's unit order."""
    return ds.published_ranks[ds.spec.root].to_numpy(dtype=int)


def published_tiers(ds: Dataset) -> np.ndarray:
    """The tier (1-based) of each published composite rank."""
    return tier_of_rank(published_ranks(ds), ds.spec.tiers)


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
    """Scores batches of scenarios for one dataset: one matrix product per (normalisation,
    aggregation) pair present in the batch."""

    def __init__(self, ds: Dataset, normalisations: tuple[str, ...],
                 aggregations: tuple[str, ...], offset: float) -> None:
        x = ds.indicators[ds.spec.indicators].to_numpy()
        self.normalisations = normalisations
        self.aggregations = aggregations
        self.offset = offset
        self.x = [normalise(x, m, ds.spec.scale) for m in normalisations]
        # log(x + offset) once per normalisation: refuses non-positive values up front
        self.logx = ([log_shifted(xk, offset, f"'{m}'-normalised indicators")
                      for xk, m in zip(self.x, normalisations)]
                     if "geometric" in aggregations else None)
        self.n_units = x.shape[0]

    def scores(self, effective: np.ndarray, normalisation: np.ndarray,
               aggregation: np.ndarray) -> np.ndarray:
        """(scenarios, units) composites for effective weights (scenarios, indicators) and
        each scenario's normalisation and aggregation (indices into the model's choices)."""
        out = np.empty((effective.shape[0], self.n_units))
        for k in range(len(self.normalisations)):
            for a, method in enumerate(self.aggregations):
                rows = np.flatnonzero((normalisation == k) & (aggregation == a))
                if rows.size == 0:
                    continue
                w = effective[rows]
                if method == "arithmetic":
                    out[rows] = w @ self.x[k].T
                else:
                    out[rows] = np.exp(w @ self.logx[k].T) - self.offset
        if not np.isfinite(out).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise ComputationError(
                f"scenario with normalisation '{self.normalisations[normalisation[bad[0]]]}'"
                f" and aggregation '{self.aggregations[aggregation[bad[0]]]}'",
                f"a non-finite composite score for unit #{bad[1]}", "finite scores")
        return out


def _interval_text(lo: int, hi: int) -> str:
    return f"{lo}–{hi}"


def rank_summary(ds: Dataset, hist: RankHistogram, nominal_rank: np.ndarray,
                 rank_width: int | None, tier_probability: float) -> pd.DataFrame:
    """Per-unit summary of a rank distribution (ranks.csv and its siblings): quantiles,
    extremes, P(published rank / tier), binomial standard error, fragility flags. A rank is
    fragile when its 90% interval crosses a tier boundary, or, when ``rank_width`` is set,
    when the interval is at least that wide."""
    tiers = ds.spec.tiers
    published = published_ranks(ds)
    pub_tier = tier_of_rank(published, tiers)
    n = hist.n
    p_tiers = hist.tier_probabilities(tiers)
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
