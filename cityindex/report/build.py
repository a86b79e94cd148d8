"""Assemble the audit page from the run's tables (called by the runner)."""

from __future__ import annotations

import pandas as pd

from cityindex.report import charts
from cityindex.report.page import _table, build_page, export_static

CITATIONS = [
    "Saisana, Saltelli & Tarantola (2005). Uncertainty and sensitivity analysis techniques as "
    "tools for the quality assessment of composite indicators. JRSS A 168(2).",
    "OECD/JRC (2008). Handbook on Constructing Composite Indicators.",
    "Lahdelma & Salminen (2001). SMAA-2: Stochastic multicriteria acceptability analysis for "
    "group decision making. Operations Research 49(3).",
    "Saltelli et al. (2010). Variance based sensitivity analysis of model output. Comput. Phys. "
    "Commun. 181; Jansen (1999). Comput. Phys. Commun. 117.",
    "Kadziński, Greco & Słowiński (2012). Extreme ranking analysis in robust ordinal "
    "regression. Omega 40.",
    "Paruolo, Saisana & Saltelli (2013). Ratings and rankings: voodoo or science? JRSS A 176; "
    "Becker et al. (2017). Ecological Indicators 80.",
    "Mogstad, Romano, Shaikh & Wilhelm (2024). Inference for ranks. Review of Economic "
    "Studies 91(1); Hall & Miller (2009). Annals of Statistics 37(6).",
    "Efron (1979). Bootstrap methods: another look at the jackknife. Annals of Statistics 7.",
]


def build_report(ds, summary: dict, tables: dict[str, pd.DataFrame], static: bool = True
                 ) -> dict[str, bytes]:
    """index.html plus (when ``static``) rank_uncertainty.png/.svg, as bytes keyed by file
    name."""
    ranks = tables["ranks"]
    tiers = ds.spec.tiers
    meta = ds.meta
    ext = tables.get("extremes")
    mc = summary["montecarlo"]
    headline = [
        ("cities", str(ds.n_units)),
        ("ranks fragile (90% MC interval ≥ "
         f"{summary['run']['flags']['rank_width']} wide)", str(mc["rank_fragile"])),
        ("tier placements fragile (P < "
         f"{summary['run']['flags']['tier_probability']})", str(mc["tier_fragile"])),
    ]
    if "extremes" in summary:
        headline.append(("tiers guaranteed under all admissible weights",
                         str(summary["extremes"]["tier_guaranteed"])))
    if "noise" in summary:
        headline.append(("tiers statistically certain under measurement noise (95%)",
                         str(summary["noise"]["rank_ci"]["tier_certain"])))
    headline.append(("inconsistencies in the report (errata, text vs tables)",
                     str(summary["reproduction"]["inconsistencies"])))
    headline.append(("cities flagged in fragile.csv", str(len(tables["fragile"]))))

    uncertainty = charts.rank_uncertainty(ranks, meta, tiers, ext)
    sections = [
        {"title": "Rank uncertainty", "chart": uncertainty,
         "text": "One row per city in published order. Use the selectors to show one scale "
                 "class or region. Red rows are fragile (wide interval or P(published tier) "
                 "below the threshold). Hover for numbers."},
        {"title": "Tier membership", "chart": charts.tier_probabilities(ranks, len(tiers))},
        {"title": "Rank acceptability", "chart": charts.acceptability(tables["acceptability"],
                                                                      ranks)},
    ]
    if "sobol" in tables:
        sections.append({"title": "Which choice moves which rank (Sobol')",
                         "chart": charts.sobol_bars(tables["sobol"]),
                         "text": "Factors: node-weight multipliers, normalisation and "
                                 "aggregation triggers, leave-one-out trigger."})
        sections.append({"title": "Total Sobol' index by city",
                         "chart": charts.sobol_heatmap(tables["sobol"], ranks)})
    if "importance" in tables:
        sections.append({"title": "Weights versus importance",
                         "chart": charts.weights_importance(tables["importance"])})
    if "coherence" in tables:
        coh = tables["coherence"]
        flags = coh[coh["flag"] != ""]
        sections.append({"title": "Statistical coherence",
                         "chart": charts.correlations(coh),
                         "html": _table(flags, ["kind", "a", "b", "value", "flag"])})
    if "scenarios" in tables:
        sections.append({"title": "Alternative constructions",
                         "chart": charts.scenario_dots(tables["scenarios"], ranks)})
    if "groups" in tables and len(tables["groups"]):
        sections.append({"title": "Within-group robustness",
                         "chart": charts.group_intervals(tables["groups"])})
    sections.append({"title": "Fragile ranks and tiers (fragile.csv)",
                     "html": _table(tables["fragile"])})
    rep = tables["reproduction"]
    sections.append({"title": "Reproduction audit: every inconsistency found",
                     "html": _table(rep, ["check", "unit", "node", "published", "recomputed",
                                          "tolerance", "detail", "source"])})
    method = summary.get("method", {})
    items = [f"<li><b>{k}</b>: {v}</li>" for k, v in method.items()]
    if "noise" in summary:
        items.append(f"<li><b>measurement noise</b>: {summary['noise']['assumptions']}; "
                     f"models: {summary['run']['noise']['models']}</li>")
        items.append(f"<li><b>rank confidence sets</b>: "
                     f"{summary['noise']['rank_ci']['method']}</li>")
    if "sobol" in summary:
        s = summary["sobol"]
        items.append(f"<li><b>Sobol'</b>: n = {s['n']}, {s['factors']} factors, "
                     f"{s['evaluations']} evaluations, {s['n_boot']} bootstrap resamples; "
                     f"half-widths above 0.1: {s['ci_half_width_above_0_1']}</li>")
    if "extremes" in summary:
        items.append(f"<li><b>extreme ranks</b>: MILP over all weightings with multipliers in "
                     f"[1 ± {summary['extremes']['delta']}]</li>")
    items.append(f"<li><b>run</b>: {summary['run']['run_file']} (SHA-256 "
                 f"{summary['run']['run_file_sha256'][:16]}…), seed {summary['run']['seed']}, "
                 f"{summary['run']['samples']} Monte-Carlo scenarios</li>")
    refs = "".join(f"<li>{c}</li>" for c in CITATIONS)
    sections.append({"title": "Method and assumptions",
                     "html": f"<ul>{''.join(items)}</ul><h3>References</h3><ol>{refs}</ol>"})
    for sec in sections:
        if sec.get("chart") is not None:
            sec["chart"] = charts.configure(sec["chart"])
    title = f"Audit of the {ds.spec.title_en} ({ds.spec.title_zh})"
    out = {"index.html": build_page(title, headline, sections).encode("utf-8")}
    if static:
        out.update(export_static(charts.configure(uncertainty), "rank_uncertainty"))
    return out
