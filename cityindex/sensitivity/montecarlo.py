"""Monte-Carlo uncertainty analysis of ranks and tiers.

Following Saisana, Saltelli & Tarantola (2005, JRSS A 168(2), "Uncertainty and sensitivity
analysis techniques as tools for the quality assessment of composite indicators") and the
OECD/JRC Handbook (2008, ch. 7): each scenario draws the weights, the normalisation and the
aggregation from the run file's model; every unit is scored and ranked in that scenario; the
ranks are folded into integer accumulators, chunk by chunk:

- a rank histogram per unit, giving the rank acceptability matrix of SMAA-2 (Lahdelma &
  Salminen 2001), quantiles, mean, extremes and tier probabilities;
- the same within each of the report's groups (scale class, region, capital/non-capital);
- the distribution of the average absolute rank shift against the nominal ranking,
  R_s = (1/U) sum_c |rank_nominal(c) - rank_s(c)| (Saisana et al. 2005, eq. 12), kept as an
  exact histogram of sum_c |...| (an integer).

Assumptions stated in the report: scenarios are independent draws; every choice listed in the
run file is equally likely; ranks use ties "min". Monte-Carlo standard errors of probabilities
are binomial, sqrt(p (1 - p) / N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.model import UncertaintyModel
from cityindex.rank import RankFolder, RankHistogram, rank_desc, tier_of_rank
from cityindex.result import Result
from cityindex.sensitivity.backends import Backend, run_chunks
from cityindex.sensitivity.engine import (
    Group,
    IndexModel,
    nominal_ranks,
    nominal_scores,
    published_ranks,
    rank_summary,
    report_groups,
)
from cityindex.sensitivity.folding import fold_scenarios, rank_folder
from cityindex.sensitivity.sampler import ScenarioSampler


@dataclass
class MonteCarloResult(Result):
    """Accumulated Monte-Carlo rank statistics (see the module docstring)."""

    dataset: Dataset
    model: UncertaintyModel
    seed: int
    group_defs: list[Group]
    folder: RankFolder
    choice_counts: np.ndarray        # (normalisations, aggregations) scenario counts
    nominal_rank: np.ndarray
    nominal_group_rank: list[np.ndarray]
    name = "montecarlo"

    @property
    def n(self) -> int:
        return self.folder.overall.n

    def group_histograms(self) -> list[RankHistogram]:
        kinds = list(dict.fromkeys(g.kind for g in self.group_defs))
        return [self.folder.group_histogram(kinds.index(g.kind), g.members)
                for g in self.group_defs]

    def ranks(self) -> pd.DataFrame:
        """ranks.csv: one row per unit — quantiles, extremes, P(tier), flags."""
        return rank_summary(self.dataset, self.folder.overall, self.nominal_rank,
                            self.model.rank_width, self.model.tier_probability,
                            self.folder.tier_counts)

    def acceptability(self) -> pd.DataFrame:
        """acceptability.csv: P(unit has rank r) (SMAA-2)."""
        return acceptability_table(self)

    def groups(self) -> pd.DataFrame:
        """groups.csv: within-group rank intervals and tier probabilities."""
        return group_table(self)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"ranks": self.ranks(), "acceptability": self.acceptability(),
                "groups": self.groups()}

    def summary(self) -> dict:
        ranks, groups = self.ranks(), self.groups()
        m = self.model
        return {
            "scenarios": self.n,
            "scenarios_by_choice": {
                f"{nm}/{ag}": int(self.choice_counts[i, j])
                for i, nm in enumerate(m.normalisations)
                for j, ag in enumerate(m.aggregations)},
            "average_abs_rank_shift": shift_summary(self),
            "rank_fragile": int(ranks["rank_fragile"].sum()),
            "tier_fragile": int(ranks["tier_fragile"].sum()),
            "tier_fragile_by_published_tier": {
                str(t): int(ranks.loc[ranks.published_tier == t, "tier_fragile"].sum())
                for t in sorted(ranks["published_tier"].unique())},
            "nominal_differs_from_published": [
                {"unit": u, "published_rank": int(p), "nominal_rank": int(n)}
                for u, p, n in ranks[["unit", "published_rank", "nominal_rank"]]
                .itertuples(index=False) if p != n],
            "group_tier_fragile": {
                kind: int(g["group_tier_fragile"].sum())
                for kind, g in groups.groupby("group_kind", sort=True)},
            "max_se_p_published_tier": float(np.max(ranks["se_p_published_tier"])),
            **self.folder.resolution(),  # large indices: rank bins and their error
        }

    def method_notes(self) -> dict:
        """Notes that replace method_notes' defaults for this run: for large indices, how
        exact the binned rank statistics are."""
        res = self.folder.resolution().get("rank_histograms")
        if not res:
            return {}
        return {"quantiles": f"inverse-CDF (Hyndman & Fan type 1) from rank histograms in "
                             f"bins of up to {res['bin_width']} ranks (the index has more "
                             f"units than exact histograms hold): {res['quantile_error']}; "
                             f"exact: {res['exact_statistics']} (Monte Carlo, noise and "
                             "resampling alike)"}

    def chart(self, extremes: pd.DataFrame | None = None):
        """Rank uncertainty, one row per unit (unconfigured Altair chart)."""
        from cityindex.report import charts

        return charts.rank_uncertainty(self.ranks(), self.dataset.meta, self.dataset.spec.tiers,
                                       extremes)


def run_montecarlo(ds: Dataset, model: UncertaintyModel, seed: int, samples: int | None = None,
                   chunk_blocks: int | None = None, workers: int = 2,
                   progress: Callable[[int, int], None] | None = None,
                   backend: Backend | str | None = None) -> MonteCarloResult:
    """Draw ``samples`` scenarios (default ``model.samples``) and accumulate rank statistics.

    Tasks of ``chunk_blocks`` sampler blocks run on ``workers`` threads (numpy releases the
    GIL in matrix products, sorts and ufuncs) or, with ``backend="dask"``, on a Dask cluster
    (:mod:`cityindex.sensitivity.backends`); each block is scored and folded on its own
    (small arrays stay in cache). Partial integer accumulators are merged, so the result is
    identical for any chunking, any number of workers and either backend.

    Tasks are submitted lazily, at most ``2 x workers`` ahead of the one being merged, and
    merged in block order: memory is bounded whatever the number of scenarios (submitting
    every task up front, as ``Executor.map`` does, grows without bound for large N).
    """
    sampler = ScenarioSampler(ds.spec, model, seed, samples)
    scorer = IndexModel(ds, model.normalisations, model.aggregations, model.geometric_offset)
    groups = report_groups(ds)
    base = nominal_scores(ds).to_numpy()
    nominal = nominal_ranks(ds)
    nominal_group = [rank_desc(base[g.members]) for g in groups]
    chunk_blocks = max(1, chunk_blocks or 8)
    starts = range(0, sampler.n_blocks, chunk_blocks)  # lazy: N may be huge
    shape = (len(model.normalisations), len(model.aggregations))

    def work(start: int, folder: RankFolder | None = None
             ) -> tuple[RankFolder, np.ndarray, int]:
        folder = rank_folder(ds, nominal) if folder is None else folder
        choices = np.zeros(shape, dtype=np.int64)
        n = 0
        for b in range(start, min(start + chunk_blocks, sampler.n_blocks)):
            sc = sampler.block(b)
            fold_scenarios(folder, scorer, sc)
            np.add.at(choices, (sc.normalisation, sc.aggregation), 1)
            n += len(sc)
        return folder, choices, n

    choice_counts = np.zeros(shape, dtype=np.int64)
    done = 0

    def merge(choices: np.ndarray, n: int) -> None:
        nonlocal done
        choice_counts[...] += choices
        done += n
        if progress:
            progress(done, sampler.samples)

    if progress:
        progress(0, sampler.samples)  # the stage starts (its clock, for the rate)
    # chunks on threads or a Dask cluster (cityindex.sensitivity.backends): same counts
    total = run_chunks(work, lambda: rank_folder(ds, nominal), starts, merge, workers, backend)
    return MonteCarloResult(ds, model, seed, groups, total, choice_counts, nominal,
                            nominal_group)


def acceptability_table(res: MonteCarloResult) -> pd.DataFrame:
    """acceptability.csv: P(unit has rank r), one row per unit, one column per rank."""
    p = res.folder.overall.probabilities()
    df = pd.DataFrame(p, columns=res.folder.overall.labels())  # rank bins for large indices
    df.insert(0, "unit", res.dataset.units)
    return df


def group_table(res: MonteCarloResult) -> pd.DataFrame:
    """groups.csv: within-group rank intervals and tier probabilities."""
    ds = res.dataset
    published = published_ranks(ds)
    frames = []
    for g, hist, nominal in zip(res.group_defs, res.group_histograms(),
                                res.nominal_group_rank):
        pub = rank_desc(-published[g.members].astype(float))  # published order in the group
        pub_tier = tier_of_rank(pub, g.tiers)
        p_tiers = hist.tier_probabilities(g.tiers)
        p_pub = p_tiers[np.arange(g.members.size), pub_tier - 1]
        frames.append(pd.DataFrame({
            "group_kind": g.kind, "group": g.name, "group_size": g.members.size,
            "unit": [ds.units[i] for i in g.members],
            "published_rank": published[g.members],
            "published_group_rank": pub, "nominal_group_rank": nominal,
            "published_group_tier": pub_tier,
            "median": hist.quantile(0.5), "p05": hist.quantile(0.05),
            "p95": hist.quantile(0.95), "mc_min": hist.minimum(), "mc_max": hist.maximum(),
            "p_published_group_tier": p_pub,
            "se_p_published_group_tier": np.sqrt(p_pub * (1 - p_pub) / max(hist.n, 1)),
            "group_tier_fragile": p_pub < res.model.tier_probability,
        }))
    columns = ["group_kind", "group", "group_size", "unit", "published_rank",
               "published_group_rank", "nominal_group_rank", "published_group_tier", "median",
               "p05", "p95", "mc_min", "mc_max", "p_published_group_tier",
               "se_p_published_group_tier", "group_tier_fragile"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def shift_summary(res: MonteCarloResult) -> dict:
    """Average absolute rank shift R_s (Saisana et al. 2005): mean, quantiles, histogram."""
    return res.folder.shift_summary()


def method_notes(model: UncertaintyModel, seed: int) -> dict:
    """The assumptions behind the Monte-Carlo numbers, in words, for summary.json and the
    report."""
    weights = {
        "uniform": f"each node weight multiplied by U(1-{model.delta}, 1+{model.delta}) "
                   "independently, then renormalised among siblings (Saisana, Saltelli & "
                   "Tarantola 2005)",
        "dirichlet": f"each sibling group ~ Dirichlet({model.concentration} x nominal weights)",
        "simplex": "each sibling group uniform on the simplex, Dirichlet(1,...,1) (SMAA, "
                   "Lahdelma & Salminen 2001)",
        "fixed": "nominal weights",
    }[model.weights]
    return {
        "weights": weights,
        "normalisation": f"one of {list(model.normalisations)} per scenario, equally likely",
        "aggregation": f"one of {list(model.aggregations)} per scenario, equally likely; "
                       "'published' is each node's own method, 'arithmetic'/'geometric' that "
                       "method at every aggregate node; geometric uses value + "
                       f"{model.geometric_offset}",
        "ranks": "1 = best; ties share the lowest rank ('min')",
        "quantiles": "inverse-CDF (Hyndman & Fan type 1) from exact rank histograms",
        "reference_ranking": "nominal: published normalisation, each node's own aggregation, "
                             "nominal weights, recomputed from the published indicators",
        "standard_errors": "binomial Monte-Carlo standard error sqrt(p(1-p)/N)",
        "rank_fragile": f"90% Monte-Carlo rank interval (p05-p95) at least {model.rank_width} "
                        "ranks wide",
        "tier_fragile": f"P(published tier) below {model.tier_probability}",
        "randomness": f"numpy PCG64 streams from SeedSequence({seed}), one per block of "
                      "2048 scenarios keyed by block index",
    }
