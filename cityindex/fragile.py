"""fragile.csv: every unit whose rank or tier is fragile by any analysis, with the reasons in
words and numbers a reviewer can check against the other tables."""

from __future__ import annotations

import pandas as pd

from cityindex.data import Dataset
from cityindex.spec import tier_of_rank

SOBOL_DOMINANT = 0.5


def fragile_table(ds: Dataset, ranks: pd.DataFrame, extremes: pd.DataFrame | None = None,
                  sobol: pd.DataFrame | None = None, rank_ci: pd.DataFrame | None = None,
                  noise: pd.DataFrame | None = None, rank_width: int = 10) -> pd.DataFrame:
    tiers = ds.spec.tiers
    bounds = list(pd.Series(tiers).cumsum())
    reasons: dict[str, list[str]] = {u: [] for u in ds.units}
    for r in ranks.to_dict("records"):
        if r["rank_fragile"]:
            reasons[r["unit"]].append(
                f"90% Monte-Carlo rank interval {r['p05']}–{r['p95']} "
                f"(width {r['p95'] - r['p05']})")
        if r["tier_fragile"]:
            reasons[r["unit"]].append(
                f"P(stays in tier {r['published_tier']}) = {r['p_published_tier']:.2f}")
    if extremes is not None:
        for r in extremes.to_dict("records"):
            if r["tier_guaranteed"]:
                continue
            tier = int(tier_of_rank([r["published_rank"]], tiers)[0])
            if tier < len(tiers) and r["worst"] > bounds[tier - 1]:
                reasons[r["unit"]].append(
                    f"can leave tier {tier} under admissible weights: worst rank {r['worst']}")
            if tier > 1 and r["best"] <= bounds[tier - 2]:
                reasons[r["unit"]].append(
                    f"can rise out of tier {tier} under admissible weights: best rank "
                    f"{r['best']}")
    if noise is not None:
        alone = noise[noise["scenario"] == "noise"]
        for r in alone.to_dict("records"):
            if r["tier_fragile"]:
                reasons[r["unit"]].append(
                    f"measurement noise alone: P(stays in tier {r['published_tier']}) = "
                    f"{r['p_published_tier']:.2f}")
            elif r["p95"] - r["p05"] >= rank_width:
                reasons[r["unit"]].append(
                    f"measurement noise alone: 90% rank interval {r['p05']}–{r['p95']}")
    if rank_ci is not None:
        for r in rank_ci.to_dict("records"):
            if not r["tier_certain"]:
                reasons[r["unit"]].append(
                    f"95% simultaneous rank confidence set {r['simultaneous_lower']}–"
                    f"{r['simultaneous_upper']} crosses a tier boundary")
    flagged = [u for u in ds.units if reasons[u]]
    if sobol is not None:
        defined = sobol[(sobol["note"] == "") & sobol["unit"].isin(flagged)]
        if len(defined):
            top = defined.loc[defined.groupby("unit")["ST"].idxmax()]
            for r in top.to_dict("records"):
                if r["ST"] >= SOBOL_DOMINANT:
                    reasons[r["unit"]].append(
                        f"rank depends mostly on the {r['factor']} factor: ST = {r['ST']:.2f}")
    meta = ranks.set_index("unit")
    return pd.DataFrame([{
        "unit": u, "name_en": meta.at[u, "name_en"],
        "published_rank": int(meta.at[u, "published_rank"]),
        "published_tier": int(meta.at[u, "published_tier"]),
        "n_reasons": len(reasons[u]), "reasons": "; ".join(reasons[u]),
    } for u in flagged], columns=["unit", "name_en", "published_rank", "published_tier",
                                  "n_reasons", "reasons"])
