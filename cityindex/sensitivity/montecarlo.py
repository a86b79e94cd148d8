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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from cityindex.data import Dataset
from cityindex.errors import ComputationError
from cityindex.rank import RankFolder, RankHistogram, rank_desc, tier_of_rank
from cityindex.runfile import RunConfig
from cityindex.score import aggregate, log_shifted, normalise
from cityindex.sensitivity.sampler import Scenarios, ScenarioSampler


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

    def scores(self, sc: Scenarios) -> np.ndarray:
        out = np.empty((len(sc), self.n_units))
        for k in range(len(self.normalisations)):
            for a, method in enumerate(self.aggregations):
                rows = np.flatnonzero((sc.normalisation == k) & (sc.aggregation == a))
                if rows.size == 0:
                    continue
                w = sc.effective[rows]
                if method == "arithmetic":
                    out[rows] = w @ self.x[k].T
                else:
                    out[rows] = np.exp(w @ self.logx[k].T) - self.offset
        if not np.isfinite(out).all():
            bad = np.argwhere(~np.isfinite(out))[0]
            raise ComputationError(
                f"scenario with normalisation '{self.normalisations[sc.normalisation[bad[0]]]}'"
                f" and aggregation '{self.aggregations[sc.aggregation[bad[0]]]}'",
                f"a non-finite composite score for unit #{bad[1]}", "finite scores")
        return out


def nominal_scores(ds: Dataset, weights: pd.Series | None = None) -> np.ndarray:
    """Composite scores with the published method: published normalisation, arithmetic
    aggregation, nominal (or given) node weights."""
    eff = ds.spec.effective_weights(weights).reindex(ds.spec.indicators).to_numpy()
    return aggregate(ds.indicators[ds.spec.indicators].to_numpy(), eff)


@dataclass
class MonteCarloResult:
    """Accumulated Monte-Carlo rank statistics (see the module docstring)."""

    dataset: Dataset
    config: RunConfig
    groups: list[Group]
    folder: RankFolder
    choice_counts: np.ndarray        # (normalisations, aggregations) scenario counts
    nominal_rank: np.ndarray
    nominal_group_rank: list[np.ndarray]

    @property
    def n(self) -> int:
        return self.folder.overall.n

    def group_histograms(self) -> list[RankHistogram]:
        kinds = list(dict.fromkeys(g.kind for g in self.groups))
        return [self.folder.group_histogram(kinds.index(g.kind), g.members)
                for g in self.groups]


def partitions(ds: Dataset, groups: list[Group]) -> list[np.ndarray]:
    """One label array per group kind (-1 for units in no group of that kind)."""
    out = []
    for kind in dict.fromkeys(g.kind for g in groups):
        lab = np.full(ds.n_units, -1, dtype=np.int64)
        for k, g in enumerate(g for g in groups if g.kind == kind):
            lab[g.members] = k
        out.append(lab)
    return out


def run_montecarlo(ds: Dataset, config: RunConfig, chunk_blocks: int | None = None,
                   workers: int = 2, progress: Callable[[int, int], None] | None = None
                   ) -> MonteCarloResult:
    """Draw ``config.samples`` scenarios and accumulate rank statistics.

    Tasks of ``chunk_blocks`` sampler blocks run on ``workers`` threads (numpy releases the
    GIL in matrix products, sorts and ufuncs); each block is scored and folded on its own
    (small arrays stay in cache). Partial integer accumulators are merged, so the result is
    identical for any chunking and any number of workers.
    """
    sampler = ScenarioSampler(ds.spec, config)
    model = IndexModel(ds, config.normalisations, config.aggregations, config.geometric_offset)
    groups = report_groups(ds)
    labels = partitions(ds, groups)
    base = nominal_scores(ds)
    nominal = rank_desc(base)
    nominal_group = [rank_desc(base[g.members]) for g in groups]
    chunk_blocks = max(1, chunk_blocks or 8)
    starts = list(range(0, sampler.n_blocks, chunk_blocks))
    shape = (len(config.normalisations), len(config.aggregations))

    def work(start: int) -> tuple[RankFolder, np.ndarray, int]:
        folder = RankFolder(ds.n_units, nominal, labels)
        choices = np.zeros(shape, dtype=np.int64)
        n = 0
        for b in range(start, min(start + chunk_blocks, sampler.n_blocks)):
            sc = sampler.block(b)
            folder.add(model.scores(sc))
            np.add.at(choices, (sc.normalisation, sc.aggregation), 1)
            n += len(sc)
        return folder, choices, n

    total = RankFolder(ds.n_units, nominal, labels)
    choice_counts = np.zeros(shape, dtype=np.int64)
    done = 0
    # One BLAS thread per worker: BLAS's own threads would fight the worker threads.
    with threadpool_limits(1), ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for folder, choices, n in pool.map(work, starts):
            total.merge(folder)
            choice_counts += choices
            done += n
            if progress:
                progress(done, config.samples)
    return MonteCarloResult(ds, config, groups, total, choice_counts, nominal, nominal_group)


def _interval_text(lo: int, hi: int) -> str:
    return f"{lo}–{hi}"


def rank_table(res: MonteCarloResult) -> pd.DataFrame:
    """ranks.csv: one row per unit (see issue contract)."""
    return rank_summary(res.dataset, res.folder.overall, res.nominal_rank, res.config)


def rank_summary(ds: Dataset, hist: RankHistogram, nominal_rank: np.ndarray,
                 cfg: RunConfig) -> pd.DataFrame:
    """Per-unit rank distribution summary from a rank histogram (any analysis)."""
    tiers = ds.spec.tiers
    published = ds.published_ranks[ds.spec.root].to_numpy(dtype=int)
    pub_tier = tier_of_rank(published, tiers)
    n = hist.n
    p_tiers = hist.tier_probabilities(tiers)
    p05, p25, p50, p75, p95 = (hist.quantile(q) for q in (0.05, 0.25, 0.5, 0.75, 0.95))
    p_pub_tier = p_tiers[np.arange(ds.n_units), pub_tier - 1]
    df = pd.DataFrame({
        "unit": ds.units,
        "name_en": [ds.meta.at[u, "name_en"] if "name_en" in ds.meta.columns else ""
                    for u in ds.units],
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
    df["rank_fragile"] = width >= cfg.rank_width
    df["tier_fragile"] = df["p_published_tier"] < cfg.tier_probability
    reasons = []
    for rec in df.to_dict("records"):
        r = []
        if rec["rank_fragile"]:
            r.append(f"90% rank interval {_interval_text(rec['p05'], rec['p95'])} "
                     f"(width {rec['p95'] - rec['p05']})")
        if rec["tier_fragile"]:
            r.append(f"P(stays in tier {rec['published_tier']}) = {rec['p_published_tier']:.2f}")
        reasons.append("; ".join(r))
    df["reasons"] = reasons
    return df


def acceptability_table(res: MonteCarloResult) -> pd.DataFrame:
    """acceptability.csv: P(unit has rank r), one row per unit, one column per rank."""
    p = res.folder.overall.probabilities()
    df = pd.DataFrame(p, columns=[f"rank_{r}" for r in range(1, p.shape[1] + 1)])
    df.insert(0, "unit", res.dataset.units)
    return df


def group_table(res: MonteCarloResult) -> pd.DataFrame:
    """groups.csv: within-group rank intervals and tier probabilities."""
    ds, cfg = res.dataset, res.config
    published = ds.published_ranks[ds.spec.root].to_numpy(dtype=int)
    frames = []
    for g, hist, nominal in zip(res.groups, res.group_histograms(), res.nominal_group_rank):
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
            "group_tier_fragile": p_pub < cfg.tier_probability,
        }))
    columns = ["group_kind", "group", "group_size", "unit", "published_rank",
               "published_group_rank", "nominal_group_rank", "published_group_tier", "median",
               "p05", "p95", "mc_min", "mc_max", "p_published_group_tier",
               "se_p_published_group_tier", "group_tier_fragile"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def shift_summary(res: MonteCarloResult) -> dict:
    """Average absolute rank shift R_s (Saisana et al. 2005): mean, quantiles, histogram."""
    u = res.dataset.n_units
    counts = res.folder.shift_counts
    n = counts.sum()
    values = np.arange(counts.size) / u
    cdf = np.cumsum(counts)

    def q(p: float) -> float:
        return float(values[np.searchsorted(cdf, p * n - 1e-9 * n)])

    nz = np.flatnonzero(counts)
    # histogram in unit-width bins of R_s for a compact, exact-enough record
    edges = np.arange(0, np.ceil(values[nz[-1]]) + 2) if nz.size else np.arange(2)
    binned = np.histogram(values, bins=edges, weights=counts)[0].astype(int)
    return {
        "definition": "R_s = mean over units of |rank in scenario s - nominal rank|",
        "mean": float(counts @ values / n), "p05": q(0.05), "median": q(0.5), "p95": q(0.95),
        "max": float(values[nz[-1]]) if nz.size else 0.0,
        "histogram": {"bin_edges": edges.tolist(), "counts": binned.tolist()},
    }
