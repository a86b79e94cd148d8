"""``cityindex run RUNFILE``: run every analysis a run file enables and write the report
folder (CSV, JSON, manifest). Part of the command-line layer: it is the one place besides
``report/`` that writes files, always through :class:`cityindex.output.OutputFolder`."""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

from cityindex.audit import audit
from cityindex.data import load_dataset
from cityindex.errors import RunFileError
from cityindex.fragile import fragile_table
from cityindex.output import OutputFolder
from cityindex.rank import rank_desc, tier_of_rank
from cityindex.report.build import build_report
from cityindex.runfile import RunConfig, load_runfile
from cityindex.sensitivity.dominance import dominance_tables
from cityindex.sensitivity.extremes import extreme_ranks
from cityindex.sensitivity.importance import coherence_table, importance_table
from cityindex.sensitivity.index_sobol import index_sobol
from cityindex.sensitivity.leave_one_out import leave_one_out, leave_one_out_summary
from cityindex.sensitivity.montecarlo import (
    acceptability_table,
    group_table,
    nominal_scores,
    rank_summary,
    rank_table,
    run_montecarlo,
    shift_summary,
)
from cityindex.sensitivity.noise import noise_bootstrap, noise_parameters, resample_bootstrap
from cityindex.sensitivity.rankci import rank_confidence_sets, tau_best, tau_worst
from cityindex.sensitivity.sampler import ScenarioSampler
from cityindex.sensitivity.scenarios import scenario_ranks

PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "SALib", "altair", "vl-convert-python",
            "threadpoolctl"]


class Progress:
    """A one-line progress bar on stderr."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        if not self.enabled or (done < total and now - self.last < 0.25):
            return
        self.last = now
        frac = done / max(total, 1)
        bar = "#" * int(30 * frac)
        rate = done / max(time.perf_counter() - self.start, 1e-9)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {done:>9,}/{total:,} ({rate:,.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        out["cityindex"] = metadata.version("cityindex")
    except metadata.PackageNotFoundError:
        out["cityindex"] = "source"
    return out


def method_notes(cfg: RunConfig) -> dict:
    """The assumptions behind the numbers, in words, for summary.json and the report."""
    w = cfg.weights
    weights = {
        "uniform": f"each node weight multiplied by U(1-{w.delta}, 1+{w.delta}) independently, "
                   "then renormalised among siblings (Saisana, Saltelli & Tarantola 2005)",
        "dirichlet": f"each sibling group ~ Dirichlet({w.concentration} x nominal weights)",
        "simplex": "each sibling group uniform on the simplex, Dirichlet(1,...,1) (SMAA, "
                   "Lahdelma & Salminen 2001)",
        "fixed": "nominal weights",
    }[w.model]
    return {
        "weights": weights,
        "normalisation": f"one of {list(cfg.normalisations)} per scenario, equally likely",
        "aggregation": f"one of {list(cfg.aggregations)} per scenario, equally likely, applied "
                       f"at every aggregate node; geometric uses value + {cfg.geometric_offset}",
        "ranks": "1 = best; ties share the lowest rank ('min')",
        "quantiles": "inverse-CDF (Hyndman & Fan type 1) from exact rank histograms",
        "reference_ranking": "nominal: published normalisation, arithmetic aggregation, "
                             "nominal weights, recomputed from the published indicators",
        "standard_errors": "binomial Monte-Carlo standard error sqrt(p(1-p)/N)",
        "rank_fragile": f"90% Monte-Carlo rank interval (p05-p95) at least {cfg.rank_width} "
                        "ranks wide",
        "tier_fragile": f"P(published tier) below {cfg.tier_probability}",
        "randomness": f"numpy PCG64 streams from SeedSequence({cfg.seed}), one per block of "
                      "2048 scenarios keyed by block index",
    }


def sobol_summary_dict(indices, problem: dict, cfg: RunConfig) -> dict:
    """Sobol' facts for summary.json: design size, wide intervals, the average shift's
    indices, and for how many units each factor has the largest total index."""
    defined = indices[indices["note"] == ""]
    wide = defined[(defined["S1_conf"] > 0.1) | (defined["ST_conf"] > 0.1)]
    d = len(set(problem.get("groups") or problem["names"]))
    shift = indices[indices["unit"] == "mean_abs_shift"]
    units = defined[defined["unit"] != "mean_abs_shift"]
    top = units.loc[units.groupby("unit", sort=True)["ST"].idxmax(), "factor"]
    return {
        "n": cfg.sobol.n, "factors": d, "evaluations": cfg.sobol.n * (d + 2),
        "n_boot": cfg.sobol.n_boot,
        "ci_half_width_above_0_1": len(wide),
        "flag_wide_ci": bool(len(wide) > 0),
        "undefined_outputs": sorted(set(indices.loc[indices["note"] != "", "unit"])),
        "mean_abs_shift": {r["factor"]: {"S1": r["S1"], "ST": r["ST"]}
                           for r in shift.to_dict("records")},
        "units_by_dominant_factor": {k: int(v) for k, v in
                                     top.value_counts().sort_index().items()},
    }


def _noise_analyses(ds, cfg: RunConfig, folder: OutputFolder, extra: dict) -> dict:
    """noise.csv (noise alone, noise and weights together) and rank_ci.csv."""
    nominal = rank_desc(nominal_scores(ds))
    alone, scores = noise_bootstrap(ds, cfg.noise.models, cfg.noise.replicates, cfg.seed)
    both, _ = noise_bootstrap(ds, cfg.noise.models, cfg.noise.replicates, cfg.seed,
                              weights=ScenarioSampler(ds.spec, cfg))
    frames = []
    for label, fold in (("noise", alone), ("noise+weights", both)):
        frame = rank_summary(ds, fold.overall, nominal, cfg)
        frame.insert(0, "scenario", label)
        frames.append(frame)
    extra["noise"] = pd.concat(frames, ignore_index=True)
    folder.csv("noise.csv", extra["noise"])

    est = pd.Series(nominal_scores(ds), index=ds.units)
    cov = np.cov(scores, rowvar=False)
    kw = {"coverage": cfg.noise.coverage, "n_boot": cfg.noise.n_boot, "seed": cfg.seed}
    marginal = rank_confidence_sets(est, cov, simultaneous=False, **kw)
    simult = rank_confidence_sets(est, cov, simultaneous=True, **kw)
    tiers = ds.spec.tiers
    published = ds.published_ranks[ds.spec.root].to_numpy(dtype=int)
    pub_tier = tier_of_rank(published, tiers)
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
    folder.csv("rank_ci.csv", table)
    extra["rank_ci"] = table
    top, bottom = tiers[0], tiers[-1]
    best = tau_best(est, cov, top, **kw)
    worst = tau_worst(est, cov, bottom, **kw)
    return {
        "replicates": cfg.noise.replicates,
        "assumptions": "rounding U(-h, h) on every cell plus the per-indicator model; "
                       "independent errors; clipped to the scale; composite covariance "
                       "from the noise-alone replicates (normal approximation for rank CIs)",
        "rank_ci": {
            "coverage": cfg.noise.coverage, "n_boot": cfg.noise.n_boot,
            "method": "Mogstad, Romano, Shaikh & Wilhelm (2024), parametric bootstrap, "
                      "two-sided with stepdown",
            f"certainly_top_{top}": [u for u, v in zip(ds.units, table["simultaneous_upper"])
                                      if v <= top],
            f"possibly_top_{top}": [u for u in ds.units if best[u]],
            f"certainly_not_top_{top}": [u for u in ds.units if not best[u]],
            f"certainly_bottom_{bottom}": [
                u for u, v in zip(ds.units, table["simultaneous_lower"])
                if v >= len(ds.units) - bottom + 1],
            f"certainly_not_bottom_{bottom}": [u for u in ds.units if not worst[u]],
            "tier_certain": int(table["tier_certain"].sum()),
            "tier_certain_units": [u for u, c in zip(ds.units, table["tier_certain"]) if c],
        },
    }


def _check_against_spec(cfg: RunConfig, ds) -> None:
    """Run-file keys that name parts of the index, checked before any work starts."""
    if cfg.noise:
        unknown = sorted(set(cfg.noise.models) - set(ds.spec.indicators))
        if unknown:
            raise RunFileError(f"{cfg.path} [noise].{unknown[0]}",
                               "not an indicator of the spec", f"one of {ds.spec.indicators}")
        noise_parameters(ds, cfg.noise.models)  # e.g. a 'grid' model needs a grid


def run_file(runfile: Path, out: Path | None = None, progress: bool = True,
             chunk_blocks: int | None = None) -> Path:
    """Run ``runfile`` and write its report folder; returns the folder."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    cfg = load_runfile(runfile)
    out = out or Path("reports") / runfile.stem
    ds = load_dataset(cfg.data)
    _check_against_spec(cfg, ds)
    timings["load"] = time.perf_counter() - t0

    folder = OutputFolder(out)
    try:
        t = time.perf_counter()
        result = audit(ds)
        folder.csv("reproduction.csv", result.table())
        folder.csv("indicator_profile.csv", result.profile)
        timings["reproduce"] = time.perf_counter() - t

        t = time.perf_counter()
        mc = run_montecarlo(ds, cfg, chunk_blocks=chunk_blocks,
                            progress=Progress("Monte Carlo", progress))
        ranks = rank_table(mc)
        folder.csv("ranks.csv", ranks)
        acceptability = acceptability_table(mc)
        folder.csv("acceptability.csv", acceptability)
        groups = group_table(mc)
        folder.csv("groups.csv", groups)
        timings["montecarlo"] = time.perf_counter() - t

        extra: dict[str, pd.DataFrame] = {}
        loo_summary, loo = None, None
        if cfg.leave_one_out:
            t = time.perf_counter()
            loo = leave_one_out(ds)
            folder.csv("leave_one_out.csv", loo)
            loo_summary = leave_one_out_summary(loo, ds.spec.indicators)
            timings["leave_one_out"] = time.perf_counter() - t

        sobol_summary = None
        if cfg.sobol:
            t = time.perf_counter()
            indices, convergence, problem = index_sobol(ds, cfg, cfg.seed)
            folder.csv("sobol.csv", indices)
            extra["sobol"] = indices
            folder.csv("sobol_convergence.csv", convergence)
            sobol_summary = sobol_summary_dict(indices, problem, cfg)
            timings["sobol"] = time.perf_counter() - t

        extremes_summary = None
        if cfg.extremes_delta is not None:
            t = time.perf_counter()
            ext = extreme_ranks(ds, cfg.extremes_delta)
            folder.csv("extremes.csv", ext)
            extra["extremes"] = ext
            pairs, dom = dominance_tables(ds)
            folder.csv("dominance.csv", pairs)
            folder.csv("dominance_summary.csv", dom)
            extremes_summary = {
                "delta": cfg.extremes_delta,
                "tier_guaranteed": int(ext["tier_guaranteed"].sum()),
                "tier_guaranteed_by_tier": {
                    str(t): int(ext.loc[tier_of_rank(ext["published_rank"].to_numpy(),
                                                     ds.spec.tiers) == t,
                                        "tier_guaranteed"].sum())
                    for t in range(1, len(ds.spec.tiers) + 1)},
                "dominance_pairs": len(pairs),
                "tier_fixed_by_dominance": int(dom["tier_fixed_by_dominance"].sum()),
            }
            timings["extremes"] = time.perf_counter() - t

        importance_summary = None
        if cfg.importance_bandwidth is not None:
            t = time.perf_counter()
            composite = nominal_scores(ds)
            imp = importance_table(ds, composite, cfg.importance_bandwidth)
            folder.csv("importance.csv", imp)
            coh = coherence_table(ds, composite)
            folder.csv("coherence.csv", coh)
            extra["importance"], extra["coherence"] = imp, coh
            ind = imp[imp["level"] == "indicator"]
            worst = ind.loc[ind["importance_minus_weight"].abs().idxmax()]
            importance_summary = {
                "bandwidth": cfg.importance_bandwidth,
                "largest_departure": {"indicator": worst["variable"],
                                      "weight_share": float(worst["weight_share"]),
                                      "importance_share": float(worst["importance_share"])},
                "coherence_flags": coh.loc[coh["flag"] != "",
                                           ["kind", "a", "b", "value", "flag"]]
                .to_dict("records"),
            }
            timings["importance"] = time.perf_counter() - t

        noise_summary = None
        if cfg.noise:
            t = time.perf_counter()
            noise_summary = _noise_analyses(ds, cfg, folder, extra)
            timings["noise_and_rank_ci"] = time.perf_counter() - t
        if cfg.resample_replicates:
            t = time.perf_counter()
            res_folder = resample_bootstrap(ds, cfg.resample_replicates, cfg.seed)
            folder.csv("resample.csv", rank_summary(ds, res_folder.overall, mc.nominal_rank,
                                                    cfg))
            timings["resample"] = time.perf_counter() - t

        summary = {
            "run": cfg.to_dict(),
            "dataset": {"id": ds.spec.id, "title": ds.spec.title_en, "units": ds.n_units,
                        "indicators": ds.spec.indicators, "tiers": list(ds.spec.tiers)},
            "method": method_notes(cfg),
            "reproduction": {"inconsistencies": len(result.inconsistencies),
                             "by_check": {k: sum(f.check == k for f in result.inconsistencies)
                                          for k in result.checks}},
            "montecarlo": {
                "scenarios": mc.n,
                "scenarios_by_choice": {
                    f"{nm}/{ag}": int(mc.choice_counts[i, j])
                    for i, nm in enumerate(cfg.normalisations)
                    for j, ag in enumerate(cfg.aggregations)},
                "average_abs_rank_shift": shift_summary(mc),
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
            },
        }
        if loo_summary is not None:
            summary["leave_one_out"] = loo_summary
        if sobol_summary is not None:
            summary["sobol"] = sobol_summary
        if noise_summary is not None:
            summary["noise"] = noise_summary
        if extremes_summary is not None:
            summary["extremes"] = extremes_summary
        if importance_summary is not None:
            summary["importance"] = importance_summary
        tables = {"ranks": ranks, "acceptability": acceptability, "groups": groups,
                  "reproduction": result.table()}
        scen = scenario_ranks(ds, cfg, loo)
        folder.csv("scenarios.csv", scen)
        tables["scenarios"] = scen
        for name in ("extremes", "sobol", "importance", "coherence", "rank_ci", "noise"):
            if name in extra:
                tables[name] = extra[name]
        fragile = fragile_table(ds, ranks, extra.get("extremes"), extra.get("sobol"),
                                extra.get("rank_ci"), extra.get("noise"), cfg.rank_width)
        folder.csv("fragile.csv", fragile)
        tables["fragile"] = fragile
        summary["fragile"] = {"cities": len(fragile),
                              "by_published_tier": {str(t): int((fragile.published_tier == t)
                                                                .sum())
                                                    for t in range(1, len(ds.spec.tiers) + 1)}}
        folder.json("summary.json", summary)
        t = time.perf_counter()
        for name, data in build_report(ds, summary, tables).items():
            folder.write(name, data)
        timings["report"] = time.perf_counter() - t
        timings["total"] = time.perf_counter() - t0
        manifest = {
            "run_file": str(cfg.path), "run_file_sha256": cfg.sha256, "seed": cfg.seed,
            "versions": versions(),
            "platform": {"machine": platform.machine(), "system": platform.system()},
            "wall_time_seconds": {k: round(v, 3) for k, v in timings.items()},
            "outputs": dict(sorted(folder.hashes.items())),
        }
        folder.json("manifest.json", manifest, hashed=False)
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    return out
