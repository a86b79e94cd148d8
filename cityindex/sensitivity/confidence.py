"""Confidence sets for the ranks under measurement noise (rank_ci.csv): the method of
:mod:`cityindex.sensitivity.rankci` (Mogstad, Romano, Shaikh & Wilhelm 2024) applied to the
nominal composites, with their covariance estimated from the noise bootstrap's replicates.

Assumption stated in the report: the composites are approximately normal with that
covariance (a parametric bootstrap draws the critical values)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from cityindex.data import Dataset
from cityindex.model import RankCISettings
from cityindex.rank import tier_of_rank
from cityindex.result import Result, rank_interval_chart
from cityindex.sensitivity.engine import (
    nominal_scores,
    published_ranks,
    published_tiers,
    rank_tier_sizes,
)
from cityindex.sensitivity.rankci import rank_confidence_sets, tau_best, tau_worst
from cityindex.sensitivity.rankci_stream import Covariance, streamed_sets
from cityindex.vocabulary import confidence_set, unit_label

METHOD = ("Mogstad, Romano, Shaikh & Wilhelm (2024), parametric bootstrap, two-sided with "
          "stepdown")
# n_boot x units^2 bootstrap statistics beyond which the pairs are streamed in blocks
# (rankci_stream: the same sets, O(n_boot x block x units) memory)
IN_MEMORY_ELEMENTS = 1 << 25
FULL_COVARIANCE_UNITS = 2048


class RankCIResult(Result):
    """Marginal and simultaneous confidence sets for every rank, tier certainty, and the
    tau-best / tau-worst sets for the first and last tiers."""

    name = "rank_ci"

    def __init__(self, ds: Dataset, noise_scores: np.ndarray, settings: RankCISettings,
                 seed: int) -> None:
        self.dataset, self.settings = ds, settings
        est = nominal_scores(ds)
        p = ds.n_units
        self.streamed = settings.n_boot * p * p > IN_MEMORY_ELEMENTS
        if self.streamed:  # pairs in blocks (rankci_stream): the same sets, bounded memory
            self._streamed(ds, est, noise_scores, settings, seed)
            return
        # at least 2-D: np.cov of one unit (missing = "exclude" can leave one) is a scalar
        cov = np.atleast_2d(np.cov(noise_scores, rowvar=False))
        kw = {"coverage": settings.coverage, "n_boot": settings.n_boot, "seed": seed}
        marginal = rank_confidence_sets(est, cov, simultaneous=False, **kw)
        simult = rank_confidence_sets(est, cov, simultaneous=True, **kw)
        self._finish(ds, marginal["rank"].to_numpy(), np.sqrt(np.diag(cov)),
                     (marginal["lower"].to_numpy(), marginal["upper"].to_numpy()),
                     (simult["lower"].to_numpy(), simult["upper"].to_numpy()))
        self.best = tau_best(est, cov, self.top, **kw)
        self.worst = tau_worst(est, cov, self.bottom, **kw)

    def _streamed(self, ds: Dataset, est: pd.Series, noise_scores: np.ndarray,
                  settings: RankCISettings, seed: int) -> None:
        """Large indices: one set of draws and one pass over blocks of pairs for all four
        set families; up to FULL_COVARIANCE_UNITS the covariance matrix and its
        eigen-decomposition as in the in-memory path (identical sets), above it the noise
        replicates themselves (no p x p matrix; draws z = g X / sqrt(R - 1))."""
        p = ds.n_units
        cov = (Covariance.full(np.atleast_2d(np.cov(noise_scores, rowvar=False)))
               if p <= FULL_COVARIANCE_UNITS else Covariance.replicates(noise_scores))
        z = cov.draws(settings.n_boot, seed)
        sets = streamed_sets(est.to_numpy(), cov, z, settings.coverage)
        rank = rankdata(-est.to_numpy(), method="min").astype(int)
        self._finish(ds, rank, np.sqrt(cov.diag), (sets.marginal_lower, sets.marginal_upper),
                     sets.simultaneous("two-sided"))
        lower, upper = sets.simultaneous("two-sided")
        self.best = pd.Series(lower <= self.top, index=est.index, name="tau_best")
        self.worst = pd.Series(upper >= p - self.bottom + 1, index=est.index,
                               name="tau_worst")

    def _finish(self, ds: Dataset, rank: np.ndarray, sd: np.ndarray,
                marginal: tuple[np.ndarray, np.ndarray],
                simultaneous: tuple[np.ndarray, np.ndarray]) -> None:
        tiers = rank_tier_sizes(ds)
        published = published_ranks(ds)
        pub_tier = published_tiers(ds)
        table = pd.DataFrame({
            "unit": ds.units, "published_rank": published, "published_tier": pub_tier,
            "rank": rank, "sd_composite": sd,
            "marginal_lower": marginal[0], "marginal_upper": marginal[1],
            "simultaneous_lower": simultaneous[0], "simultaneous_upper": simultaneous[1],
        })
        lo_t = tier_of_rank(table["simultaneous_lower"].to_numpy(), tiers)
        hi_t = tier_of_rank(table["simultaneous_upper"].to_numpy(), tiers)
        table["tier_certain"] = (lo_t == pub_tier) & (hi_t == pub_tier)
        table.attrs["coverage"] = self.settings.coverage  # the reasons' words read it
        self.frame = table
        self.top, self.bottom = tiers[0], tiers[-1]

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
            **({"computation": "pairs streamed in blocks (the in-memory sets, bounded memory)"
                + ("" if ds.n_units <= FULL_COVARIANCE_UNITS else
                   "; covariance and bootstrap draws from the noise replicates, "
                   "z = g X / sqrt(R - 1)")} if self.streamed else {}),
        }

    def title(self) -> str:
        return (f"{confidence_set(self.settings.coverage, plural=True)} under measurement "
                "noise")

    def chart(self):
        """Each unit's simultaneous confidence set for its rank (a bar) and its nominal rank
        (a diamond); colour: does the set stay within the published tier?"""
        f = self.frame.assign(
            label=[unit_label(self.dataset, u) for u in self.frame["unit"]],
            tier=np.where(self.frame["tier_certain"], "within its tier",
                          "crosses a tier boundary"))
        return rank_interval_chart(
            f, "simultaneous_lower", "simultaneous_upper", "rank", self.title(),
            f"{METHOD}; {self.settings.n_boot} bootstrap draws; diamond: the nominal rank",
            color="tier", label="label")
