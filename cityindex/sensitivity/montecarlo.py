"""Monte-Carlo uncertainty analysis of ranks and tiers.

Following Saisana, Saltelli & Tarantola (2005, JRSS A 168(2), "Uncertainty and sensitivity
analysis techniques as tools for the quality assessment of composite indicators") and the
OECD/JRC Handbook (2008, ch. 7): each scenario draws the weights, the normalisation and the
aggregation from one lens of the run file's model (:mod:`cityindex.sensitivity.lens`): the
``weights`` lens varies the weights alone at the index's own construction, the
``construction`` lens draws alternative constructions at nominal weights, the ``combined``
lens draws all of them jointly; every unit is scored and ranked in that scenario; the ranks
are folded into integer accumulators, chunk by chunk:

- a rank histogram per unit, giving the rank acceptability matrix of SMAA-2 (Lahdelma &
  Salminen 2001), quantiles, mean, extremes and tier probabilities;
- the same within each of the report's groups (scale class, region, capital/non-capital);
- the distribution of the average absolute rank shift against the nominal ranking,
  R_s = (1/U) sum_c |rank_nominal(c) - rank_s(c)| (Saisana et al. 2005, eq. 12), kept as an
  exact histogram of sum_c |...| (an integer).

Assumptions stated in the report: scenarios are independent draws; in the combined lens every
choice listed in the run file is equally likely, in the construction lens each has the
probability the run file states; ranks use ties "min". Monte-Carlo standard errors of probabilities
are binomial, sqrt(p (1 - p) / N).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from cityindex.construction import AGGREGATIONS
from cityindex.data import Dataset
from cityindex.model import OWN_AGGREGATIONS, OWN_NORMALISATIONS, UncertaintyModel
from cityindex.rank import RankFolder, RankHistogram, rank_desc
from cityindex.result import Result
from cityindex.sensitivity.backends import Backend, default_chunk_blocks, run_chunks
from cityindex.sensitivity.engine import (
    Group,
    IndexModel,
    nominal_ranks,
    nominal_scores,
    report_groups,
)
from cityindex.sensitivity.folding import fold_scenarios, rank_folder
from cityindex.sensitivity.lens import RankDistribution
from cityindex.sensitivity.sampler import ConstructionSampler, ScenarioSampler
from cityindex.streams import Stream
from cityindex.vocabulary import AGGREGATION_WORDS, NORMALISATION_WORDS


@dataclass
class MonteCarloResult(Result):
    """Accumulated Monte-Carlo rank statistics of one lens (see the module docstring):
    ``weights`` (the weight model at the index's own construction), ``construction`` (named
    alternatives drawn with stated probabilities, nominal weights) or ``combined`` (weights
    x every listed normalisation x aggregation)."""

    dataset: Dataset
    model: UncertaintyModel
    seed: int
    group_defs: list[Group]
    folder: RankFolder
    choice_counts: np.ndarray        # (normalisations, aggregations) scenario counts
    nominal_rank: np.ndarray
    nominal_group_rank: list[np.ndarray]
    lens: str = "weights"
    normalisations: tuple[str, ...] = ()
    aggregations: tuple[str, ...] = ()
    name = "montecarlo"

    @property
    def n(self) -> int:
        return self.folder.overall.n

    def distribution(self) -> RankDistribution:
        """The lens's rank distribution (ranks, acceptability, groups with a lens column)."""
        return RankDistribution(self.lens, self.dataset, self.folder, self.nominal_rank,
                                self.group_defs, self.model.rank_width,
                                self.model.tier_probability)

    def group_histograms(self) -> list[RankHistogram]:
        return self.distribution().group_histograms()

    def ranks(self) -> pd.DataFrame:
        """ranks.csv rows of this lens: one row per unit — quantiles, extremes, P(tier),
        flags."""
        return self.distribution().ranks()

    def acceptability(self) -> pd.DataFrame:
        """acceptability.csv rows of this lens: P(unit has rank r) (SMAA-2)."""
        return self.distribution().acceptability()

    def groups(self) -> pd.DataFrame:
        """groups.csv rows of this lens: within-group rank intervals and tier
        probabilities."""
        return self.distribution().groups()

    def tables(self) -> dict[str, pd.DataFrame]:
        return self.distribution().tables()

    def summary(self) -> dict:
        groups = self.groups()
        ranks = self.ranks()
        return {
            "scenarios": self.n,
            "scenarios_by_choice": {
                f"{nm}/{ag}": int(self.choice_counts[i, j])
                for i, nm in enumerate(self.normalisations)
                for j, ag in enumerate(self.aggregations)},
            "average_abs_rank_shift": shift_summary(self),
            **{k: v for k, v in self.distribution().summary().items() if k != "draws"},
            "nominal_differs_from_published": [
                {"unit": u, "published_rank": int(p), "nominal_rank": int(n)}
                for u, p, n in ranks[["unit", "published_rank", "nominal_rank"]]
                .itertuples(index=False) if p != n],
            "group_tier_fragile": {
                kind: int(g["group_tier_fragile"].sum())
                for kind, g in groups.groupby("group_kind", sort=True)},
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

        return charts.rank_uncertainty(self.ranks(), None, self.dataset.spec.tiers,
                                       charts.extremes_ranges(extremes))


def run_montecarlo(ds: Dataset, model: UncertaintyModel, seed: int, samples: int | None = None,
                   chunk_blocks: int | None = None, workers: int = 2,
                   progress: Callable[[int, int], None] | None = None,
                   lens: str | None = None, backend: Backend | str | None = None
                   ) -> MonteCarloResult:
    """Draw ``samples`` scenarios (default: the lens's sample count) and accumulate rank
    statistics.

    ``lens`` is ``"weights"`` (the model's weights at the index's own normalisation and
    aggregation), ``"construction"`` (nominal weights, the model's construction
    probabilities) or ``"combined"`` (the model as given: weights x every listed
    normalisation x aggregation). Default: ``"weights"`` when the model lists no alternative,
    else ``"combined"``.

    Tasks of ``chunk_blocks`` sampler blocks run on ``workers`` threads (numpy releases the
    GIL in matrix products, sorts and ufuncs) or, with ``backend="dask"``, on a Dask cluster
    (:mod:`cityindex.sensitivity.backends`); each block is scored and folded on its own
    (small arrays stay in cache). Partial integer accumulators are merged, so the result is
    identical for any chunking, any number of workers and either backend.

    Tasks are submitted lazily, at most ``2 x workers`` ahead of the one being merged, and
    merged in block order: memory is bounded whatever the number of scenarios (submitting
    every task up front, as ``Executor.map`` does, grows without bound for large N).
    """
    if lens is None:
        lens = "combined" if model.has_alternatives else "weights"
    if lens == "weights":
        model = model.replace(normalisations=OWN_NORMALISATIONS, aggregations=OWN_AGGREGATIONS)
        sampler = ScenarioSampler(ds.spec, model, seed, samples, Stream.WEIGHTS)
        norms, aggs = model.normalisations, model.aggregations
    elif lens == "combined":
        sampler = ScenarioSampler(ds.spec, model, seed,
                                  model.combined_samples if samples is None else samples)
        norms, aggs = model.normalisations, model.aggregations
    elif lens == "construction":
        sampler = ConstructionSampler(ds.spec, model, seed, samples)
        norms, aggs = sampler.normalisations, sampler.aggregations
    else:
        raise ValueError(f"lens must be 'weights', 'construction' or 'combined'; got {lens!r}")
    scorer = IndexModel(ds, norms, aggs, model.geometric_offset)
    groups = report_groups(ds)
    base = nominal_scores(ds).to_numpy()
    nominal = nominal_ranks(ds)
    nominal_group = [rank_desc(base[g.members]) for g in groups]
    if chunk_blocks is None:
        chunk_blocks = default_chunk_blocks(sampler.n_blocks, workers, backend)
    # score thresholds hold on the index's own scale: under another normalisation, tiers go
    # by rank position (engine.tiers_of)
    own_scale = set(norms) <= {"published"}

    def new_folder() -> RankFolder:
        return rank_folder(ds, nominal, own_scale=own_scale)
    starts = range(0, sampler.n_blocks, chunk_blocks)  # lazy: N may be huge
    shape = (len(norms), len(aggs))

    def work(start: int, folder: RankFolder | None = None
             ) -> tuple[RankFolder, np.ndarray, int]:
        folder = new_folder() if folder is None else folder
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
    total = run_chunks(work, new_folder, starts, merge, workers, backend)
    return MonteCarloResult(ds, model, seed, groups, total, choice_counts, nominal,
                            nominal_group, lens, tuple(norms), tuple(aggs))


def acceptability_table(res: MonteCarloResult) -> pd.DataFrame:
    """acceptability.csv rows of one lens: P(unit has rank r)."""
    return res.acceptability()


def group_table(res: MonteCarloResult) -> pd.DataFrame:
    """groups.csv rows of one lens: within-group rank intervals and tier probabilities."""
    return res.groups()


def shift_summary(res: MonteCarloResult) -> dict:
    """Average absolute rank shift R_s (Saisana et al. 2005): mean, quantiles, histogram."""
    return res.folder.shift_summary()


def weight_model_text(model: UncertaintyModel) -> str:
    """The weight model in words."""
    return {
        "uniform": f"each node weight multiplied by U(1-{model.delta}, 1+{model.delta}) "
                   "independently, then renormalised among siblings (Saisana, Saltelli & "
                   "Tarantola 2005)",
        "dirichlet": f"each sibling group ~ Dirichlet({model.concentration} x nominal weights)",
        "simplex": "each sibling group uniform on the simplex, Dirichlet(1,...,1) (SMAA, "
                   "Lahdelma & Salminen 2001)",
        "fixed": "nominal weights",
    }[model.weights]


def _odds(p: dict, words: dict[str, str] | None = None) -> str:
    words = words or {}
    return ", ".join(f"{words.get(k, k)} {v:.3g}" for k, v in p.items())


def _one_of(choices, words: dict[str, str]) -> str:
    return " or ".join(words.get(c, c) for c in choices)


def _alternatives(model: UncertaintyModel) -> list[str]:
    """The named alternatives the model lists, in words (scenarios.csv computes them)."""
    out = [NORMALISATION_WORDS.get(m, m) for m in model.normalisations if m != "published"]
    out += [(AGGREGATION_WORDS.get(a) or f"{AGGREGATIONS[a].label} at every node")
            + (f" (on value + {model.geometric_offset})"
               if a != "published" and AGGREGATIONS[a].positive
               else " (where it is not the index's own)")
            for a in model.aggregations if a != "published"]
    out += [f"{r} imputation" for r in model.imputations]
    out += [f"{r} treatment of raw values" for r in model.treatments]
    if model.leave_one_out:
        out.append("each indicator left out")
    return out or ["none (the run file lists only the index's own construction)"]


def method_notes(model: UncertaintyModel, seed: int) -> dict:
    """The assumptions behind each lens's numbers, in words, for summary.json and the
    report."""
    norm_p, agg_p = model.construction_probabilities
    c = model.construction
    return {
        "weights_lens": f"{weight_model_text(model)}; the index's own normalisation and "
                        f"each node's own aggregation; {model.samples} scenarios",
        "construction_lens": (
            "named deterministic alternatives at nominal weights, those the run file lists: "
            + "; ".join(_alternatives(model))
            + (f"; Monte Carlo of {model.construction_samples} scenarios at nominal weights "
               f"with normalisation odds {_odds(dict(norm_p), NORMALISATION_WORDS)}, "
               f"aggregation odds {_odds(dict(agg_p), AGGREGATION_WORDS)}, one indicator "
               "left out with probability "
               f"{c.leave_one_out}" if c is not None else "")),
        "combined_lens": (
            f"{weight_model_text(model)}; per scenario "
            f"{_one_of(model.normalisations, NORMALISATION_WORDS)}, and "
            f"{_one_of(model.aggregations, AGGREGATION_WORDS)}, equally likely (geometric on "
            f"value + {model.geometric_offset}); "
            f"{model.combined_samples} scenarios; for comparison "
            "with published audits, not used for any verdict"
            if model.combined is not None and model.has_alternatives else "not run"),
        "ranks": "1 = best; ties share the lowest rank ('min')",
        "quantiles": "inverse-CDF (Hyndman & Fan type 1) from exact rank histograms",
        "reference_ranking": "nominal: published normalisation, each node's own aggregation, "
                             "nominal weights, recomputed from the published indicators",
        "standard_errors": "binomial Monte-Carlo standard error sqrt(p(1-p)/N)",
        "rank_fragile": ("90% rank interval (p05-p95) crosses a tier boundary"
                         if model.rank_width is None else
                         f"90% rank interval (p05-p95) at least {model.rank_width} ranks wide"),
        "tier_fragile": f"P(published tier) below {model.tier_probability}",
        "randomness": f"numpy PCG64 streams from SeedSequence({seed}), one per block of "
                      "2048 scenarios keyed by stream and block index",
    }
