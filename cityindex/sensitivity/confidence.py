"""Confidence sets for the ranks under measurement noise (rank_ci.csv): the method of
:mod:`cityindex.sensitivity.rankci` (Mogstad, Romano, Shaikh & Wilhelm 2024) applied to the
nominal composites, with their covariance estimated from the noise bootstrap's replicates.

Assumption stated in the report: the composites are approximately normal with that
covariance (a parametric bootstrap draws the critical values)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.model import RankCISettings
from cityindex.rank import tier_of_rank
from cityindex.result import Result
from cityindex.sensitivity.engine import (
    nominal_scores,
    published_ranks,
    published_tiers,
    rank_tier_sizes,
)
from cityindex.sensitivity.rankci import rank_confidence_sets, tau_best, tau_worst

METHOD = ("Mogstad, Romano, Shaikh & Wilhelm (2024), parametric bootstrap, two-sided with "
          "stepdown")


class RankCIResult(Result):
    """Marginal and simultaneous confidence sets for every rank, tier certainty, and the
    tau-best / tau-worst sets for the first and last tiers."""

    name = "rank_ci"

    def __init__(self, ds: Dataset, noise_scores: np.ndarray, settings: RankCISettings,
                 seed: int) -> None:
        self.dataset, self.settings = ds, settings
        est = nominal_scores(ds)
        cov = np.cov(noise_scores, rowvar=False)
        kw = {"coverage": settings.coverage, "n_boot": settings.n_boot, "seed": seed}
        marginal = rank_confidence_sets(est, cov, simultaneous=False, **kw)
        simult = rank_confidence_sets(est, cov, simultaneous=True, **kw)
        tiers = rank_tier_sizes(ds)
        published = published_ranks(ds)
        pub_tier = published_tiers(ds)
        table = pd.DataFrame({
            "unit": ds.units, "published_rank": published, "published_tier": pub_tier,
            "rank": marginal["rank"].to_numpy(), "sd_composite": np.sqrt(np.diag(cov)),
            "marginal_lower": marginal["lower"].to_numpy(),
            "marginal_upper": marginal["upper"].to_numpy(),
            "simultaneous_lower": simult["lower"].to_numpy(),
            "simultaneous_upper": simult["upper"].to_numpy(),
        })
        lo_t = tier_of_rank(table["simultaneous_lower"].to_numpy(), tiers)
        hi_t = tier_of_rank(table["simultaneous_upper"].to_numpy(), tiers)
        table["tier_certain"] = (lo_t == pub_tier) & (hi_t == pub_tier)
        self.frame = table
        self.top, self.bottom = tiers[0], tiers[-1]
        self.best = tau_best(est, cov, self.top, **kw)
        self.worst = tau_worst(est, cov, self.bottom, **kw)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"rank_ci": self.frame}

    def summary(self) -> dict:
        ds, table, top, bottom = self.dataset, self.frame, self.top, self.bottom
        return {
            "coverage": self.settings.coverage, "n_boot": self.settings.n_boot,
            "method": METHOD,
            f"certainly_top_{top}": [u for u, v in zip(ds.units, table["simultaneous_upper"])
                                      if v <= top],
            f"possibly_top_{top}": [u for u in ds.units if self.best[u]],
            f"certainly_not_top_{top}": [u for u in ds.units if not self.best[u]],
            f"certainly_bottom_{bottom}": [
                u for u, v in zip(ds.units, table["simultaneous_lower"])
                if v >= len(ds.units) - bottom + 1],
            f"certainly_not_bottom_{bottom}": [u for u in ds.units if not self.worst[u]],
            "tier_certain": int(table["tier_certain"].sum()),
            "tier_certain_units": [u for u, c in zip(ds.units, table["tier_certain"]) if c],
        }
