"""Lenses: each source of uncertainty computed, stored and drawn on its own.

``weights``       the run file's weight model at the index's own normalisation and
                  aggregation (Monte Carlo) plus the exact best/worst ranks over every
                  admissible weighting (ERA). The headline: the audit's subject is the
                  weighting scheme.
``construction``  each alternative normalisation, aggregation and leave-one-out as a named,
                  deterministic scenario; optionally a Monte Carlo over them with stated
                  probabilities (nominal weights).
``noise``         the measurement-noise bootstrap (nominal weights) and the confidence sets
                  for ranks.
``sample``        unit resampling (min-max bounds re-derived from each resample).
``combined``      the JRC-style joint Monte Carlo: weights x every listed normalisation x
                  every listed aggregation, kept for comparison with published audits and
                  never used for a verdict.

A :class:`RankDistribution` is one lens's rank distribution (integer rank histograms, overall
and within the report's groups); its tables carry a ``lens`` column so that the lenses stack
into one ranks.csv / acceptability.csv / groups.csv, one block of rows per lens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.rank import RankFolder, RankHistogram, rank_desc, tier_of_rank
from cityindex.sensitivity.engine import (
    Group,
    nominal_scores,
    published_ranks,
    rank_summary,
)
from cityindex.vocabulary import LENS_TITLES, LENSES  # noqa: F401 (re-export)


def lens_order(name: str) -> int:
    return LENSES.index(name) if name in LENSES else len(LENSES)


@dataclass
class RankDistribution:
    """One lens's accumulated rank statistics."""

    lens: str
    dataset: Dataset
    folder: RankFolder
    nominal_rank: np.ndarray
    group_defs: list[Group]
    rank_width: int | None
    tier_probability: float

    @property
    def n(self) -> int:
        return self.folder.overall.n

    def group_histograms(self) -> list[RankHistogram]:
        kinds = list(dict.fromkeys(g.kind for g in self.group_defs))
        return [self.folder.group_histogram(kinds.index(g.kind), g.members)
                for g in self.group_defs]

    def ranks(self) -> pd.DataFrame:
        """One row per unit — quantiles, extremes, P(tier), flags — with the lens first."""
        df = rank_summary(self.dataset, self.folder.overall, self.nominal_rank,
                          self.rank_width, self.tier_probability,
                          self.folder.tier_counts)
        df.insert(0, "lens", self.lens)
        return df

    def acceptability(self) -> pd.DataFrame:
        """P(unit has rank r) (SMAA-2), one row per unit, one column per rank."""
        p = self.folder.overall.probabilities()
        df = pd.DataFrame(p, columns=self.folder.overall.labels())  # rank bins when large
        df.insert(0, "unit", self.dataset.units)
        df.insert(0, "lens", self.lens)
        return df

    def groups(self) -> pd.DataFrame:
        """Within-group rank intervals and tier probabilities."""
        ds = self.dataset
        published = published_ranks(ds)
        base = nominal_scores(ds).to_numpy()
        frames = []
        for g, hist in zip(self.group_defs, self.group_histograms()):
            pub = rank_desc(-published[g.members].astype(float))  # published order in group
            pub_tier = tier_of_rank(pub, g.tiers)
            p_tiers = hist.tier_probabilities(g.tiers)
            p_pub = p_tiers[np.arange(g.members.size), pub_tier - 1]
            frames.append(pd.DataFrame({
                "lens": self.lens, "group_kind": g.kind, "group": g.name,
                "group_size": g.members.size,
                "unit": [ds.units[i] for i in g.members],
                "published_rank": published[g.members],
                "published_group_rank": pub, "nominal_group_rank": rank_desc(base[g.members]),
                "published_group_tier": pub_tier,
                "median": hist.quantile(0.5), "p05": hist.quantile(0.05),
                "p95": hist.quantile(0.95), "mc_min": hist.minimum(), "mc_max": hist.maximum(),
                "p_published_group_tier": p_pub,
                "se_p_published_group_tier": np.sqrt(p_pub * (1 - p_pub) / max(hist.n, 1)),
                "group_tier_fragile": p_pub < self.tier_probability,
            }))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=GROUP_COLUMNS)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"ranks": self.ranks(), "acceptability": self.acceptability(),
                "groups": self.groups()}

    def summary(self) -> dict:
        """Counts a headline needs: fragile ranks and tiers, the median 90% interval."""
        ranks = self.ranks()
        width = ranks["p95"] - ranks["p05"]
        return {
            "draws": self.n,
            "rank_fragile": int(ranks["rank_fragile"].sum()),
            "tier_fragile": int(ranks["tier_fragile"].sum()),
            "tier_fragile_by_published_tier": {
                str(t): int(ranks.loc[ranks.published_tier == t, "tier_fragile"].sum())
                for t in sorted(ranks["published_tier"].unique())},
            "median_interval_90": float(np.median(width)),
            "max_se_p_published_tier": float(np.max(ranks["se_p_published_tier"])),
        }


GROUP_COLUMNS = ["lens", "group_kind", "group", "group_size", "unit", "published_rank",
                 "published_group_rank", "nominal_group_rank", "published_group_tier", "median",
                 "p05", "p95", "mc_min", "mc_max", "p_published_group_tier",
                 "se_p_published_group_tier", "group_tier_fragile"]


def stack(distributions: list[RankDistribution]) -> dict[str, pd.DataFrame]:
    """ranks / acceptability / groups of several lenses, one block of rows per lens in
    :data:`LENSES` order."""
    ordered = sorted(distributions, key=lambda d: lens_order(d.lens))
    out: dict[str, pd.DataFrame] = {}
    for stem in ("ranks", "acceptability", "groups"):
        frames = [getattr(d, stem)() for d in ordered]
        frames = [f for f in frames if len(f)]
        if frames:
            out[stem] = pd.concat(frames, ignore_index=True)
    return out
