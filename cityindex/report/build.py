"""Assemble the audit page from the run's tables and summary (called by the runner)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.report import charts, large
from cityindex.report.labels import (
    LENS_SHORT,
    confidence_set,
    coverage_of,
    factor_label,
    group_kind_label,
    group_value_labels,
    node_label,
    scenario_label,
    verdict_text,
)
from cityindex.report.page import (
    PAGED_TABLE_SCRIPT,
    _table,
    build_page,
    esc,
    export_static,
    verdict_table_header,
)
from cityindex.sensitivity.engine import rank_tier_sizes
from cityindex.sensitivity.extremes import bounds_words
from cityindex.sensitivity.lens import LENSES
from cityindex.verdict import NOT_RANKED
from cityindex.vocabulary import VERDICTS

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
# Above this many units the page shows summaries, the most fragile units and a paged verdict
# table instead of one row per unit (cityindex.report.large); the CSVs keep every unit.
LARGE_PAGE_UNITS = 300
VERDICT_LENS_NOTE = {"weight-sensitive": "lens: weights", "noise-limited": "lens: noise",
                     "construction-sensitive": "lens: construction",
                     "robust": "no lens flags it"}


def city_info(ds, ranks: pd.DataFrame, verdicts: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                        dict[str, str]]:
    """One row per unit with what every tooltip shows (city label, published and recomputed
    rank, verdict) and one readable column per grouping; returns the frame and
    {column: grouping title}."""
    w = ranks[ranks["lens"] == "weights"].set_index("unit") if "lens" in ranks else \
        ranks.set_index("unit")
    v = verdicts.set_index("unit")
    info = pd.DataFrame({"unit": ds.units})
    info["city"] = [ds.label(u) for u in ds.units]
    info["published_rank"] = v.loc[ds.units, "published_rank"].to_numpy()
    info["published_tier"] = v.loc[ds.units, "published_tier"].to_numpy()
    info["nominal_rank"] = w.loc[ds.units, "nominal_rank"].to_numpy()
    info["verdict"] = v.loc[ds.units, "verdict"].to_numpy()
    info["row"] = info["published_rank"].astype(str).str.zfill(3) + " " + info["city"]
    columns = {}
    for kind, g in ds.spec.groups.items():
        if g.column not in ds.meta.columns:
            continue
        labels = group_value_labels(ds, kind)
        col = f"group_{kind}"
        info[col] = [labels.get(str(ds.meta.at[u, g.column]), "") if u in ds.meta.index
                     and str(ds.meta.at[u, g.column]) not in g.exclude else ""
                     for u in ds.units]
        columns[col] = group_kind_label(ds.spec, kind)
    return info, columns


def tables_extremes(verdicts: pd.DataFrame) -> pd.DataFrame | None:
    """extremes.csv's method column as the verdicts carry it (attrs set by the page
    builder), for the wording of the best–worst range."""
    return verdicts.attrs.get("extremes")


def lens_ranges(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The grey range each lens draws: best-worst ranks (weights), the run's
    simultaneous confidence set (noise)."""
    frames = []
    if "extremes" in tables:
        e = tables["extremes"]
        frames.append(pd.DataFrame({"lens": "weights", "unit": e["unit"],
                                    "range_lo": e["best"], "range_hi": e["worst"],
                                    "range_kind": f"{bounds_words(e)} (ERA)"}))
    if "rank_ci" in tables:
        c = tables["rank_ci"]
        frames.append(pd.DataFrame({"lens": "noise", "unit": c["unit"],
                                    "range_lo": c["simultaneous_lower"],
                                    "range_hi": c["simultaneous_upper"],
                                    "range_kind": confidence_set(
                                        c.attrs.get("coverage")).replace(" rank", "")}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _tiles(summary: dict, noun: str) -> str:
    """The verdict tiles; ``noun`` (the spec's unit noun) is data and escaped like any."""
    v = summary["verdicts"]["counts"]
    total = sum(v.values())
    thr = summary["run"]["flags"]["tier_probability"]
    what = {"weight-sensitive": f"tier not guaranteed under the admissible weights and "
                                f"P(tier) < {thr:g}",
            "noise-limited": f"{confidence_set(coverage_of(summary))} under measurement noise "
                             "crosses a tier",
            "construction-sensitive": "a named alternative construction changes the tier",
            "robust": "none of the three"}
    if summary["run"]["rank_ci"] == {"enabled": False}:
        what["noise-limited"] = "not judged: this run computed no rank confidence sets"
    parts = []
    for verdict, n in v.items():
        parts.append(
            f"<button type='button' class='tile verdict-{esc(verdict)}' "
            f"data-filter-verdict='{esc(verdict)}' title='show these in the verdict table'>"
            f"<b>{n:,}</b><span class='name'>{esc(verdict)}</span>"
            f"<span class='lens'>{esc(VERDICT_LENS_NOTE[verdict])}</span>"
            f"<span class='what'>{esc(what[verdict])}</span></button>")
    parts.append(f"<div class='tile sum'><b>= {total:,}</b><span class='name'>{esc(noun)}</span>"
                 "<span class='lens'>one verdict each, the first that applies</span></div>")
    rep = summary["reproduction"]
    errata = len(summary["verdicts"]["erratum_units"])
    parts.append(f"<div class='tile audit'><b>{rep['inconsistencies']:,}</b>"
                 "<span class='name'>inconsistencies in the report</span>"
                 "<span class='lens'>reproduction audit (not a lens)</span>"
                 f"<span class='what'>{errata:,} {esc(noun)} with numbers the audit contradicts "
                 "(marked “erratum” in the table)</span></div>")
    return f"<div class='tiles'>{''.join(parts)}</div>"


def _headlines(summary: dict) -> str:
    items = []
    for lens in LENSES:
        sec = summary["lenses"].get(lens)
        if not sec:
            continue
        tag = " (headline)" if lens == "weights" else ""
        items.append(f"<li><b>{esc(LENS_SHORT[lens])}{tag}</b>: "
                     f"{esc(sec['headline'])}</li>")
    return (f"<p class='verdict-line'>{esc(summary['verdicts']['headline'])}</p>"
            f"<ul class='lenses'>{''.join(items)}</ul>")


def _cell(value, sort=None, cls: str = "") -> str:
    text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else value
    if isinstance(text, float):
        text = f"{text:.3f}"
    key = esc(sort if sort is not None else text)
    c = f" class='{esc(cls)}'" if cls else ""
    return f"<td data-sort='{key}'{c}>{esc(text)}</td>"


def _range(lo, hi) -> tuple[str, float]:
    if lo is None or pd.isna(lo):
        return "", np.nan
    return f"{int(lo)}–{int(hi)}", float(lo) * 1000 + float(hi)


def verdict_table_html(ds, verdicts: pd.DataFrame, info: pd.DataFrame) -> str:
    """The sortable, filterable verdict table (the page's inline script drives it)."""
    spec = ds.spec
    one = spec.unit
    words = bounds_words(tables_extremes(verdicts))
    ths = verdict_table_header(
        one, f"{words} rank over every admissible weighting (ERA)"
        + ("" if words.startswith("exact") else ": inner bounds, the true range may be wider"),
        words, verdicts.attrs.get("coverage"))
    nominal = dict(zip(info["unit"], info["nominal_rank"]))
    body = []
    for r in verdicts.to_dict("records"):
        city = ds.label(r["unit"])
        w90, w90s = _range(r["weights_p05"], r["weights_p95"])
        era, eras = _range(r["era_best"], r["era_worst"])
        noise, noises = _range(r["noise_lower"], r["noise_upper"])
        alt = (scenario_label(spec, r["construction_worst"], short=True)
               if isinstance(r["construction_worst"], str) and r["construction_worst"] else "")
        shift = r["construction_shift"]
        search = f"{city} {r['verdict']} {r['reasons']}".lower()
        body.append(
            f"<tr data-verdict='{esc(r['verdict'])}' data-search='{esc(search)}' "
            f"title='recomputed rank {esc(nominal.get(r['unit'], ''))}'>"
            + _cell(r["published_rank"]) + _cell(city, cls="city")
            + _cell(r["published_tier"])
            + f"<td data-sort='{esc(r['verdict'])}'><span class='chip "
              f"verdict-{esc(r['verdict'])}'>{esc(r['verdict'])}</span></td>"
            + _cell(float(r["weights_p_published_tier"]))
            + _cell(w90, w90s) + _cell(era, eras) + _cell(noise, noises)
            + _cell(alt, cls="alternative") + _cell("" if pd.isna(shift) else f"{int(shift):+d}",
                                 "" if pd.isna(shift) else abs(int(shift)))
            + _cell("yes" if r["erratum"] else "", cls="erratum" if r["erratum"] else "")
            + _cell(r["reasons"], cls="reasons") + "</tr>")
    buttons = "".join(
        f"<button type='button' data-filter-verdict='{esc(v)}' class='filter verdict-{esc(v)}'>"
        f"{esc(v)} ({int((verdicts.verdict == v).sum())})</button>"
        for v in VERDICTS)
    legend = "".join(f"<li><span class='chip verdict-{esc(v)}'>{esc(v)}</span> {esc(t)}</li>"
                     for v, t in verdict_text(verdicts.attrs.get("coverage")).items())
    return (
        "<div class='controls'><button type='button' data-filter-verdict='all' "
        f"class='filter'>all ({len(verdicts)})</button>{buttons}"
        f"<label>find <input id='verdict-search' type='search' placeholder='{esc(one)}, "
        "reason…'>"
        "</label> <span id='verdict-count'></span></div>"
        f"<ol class='verdict-legend'>{legend}</ol>"
        "<div class='table-wrap scroll'><table id='verdict-table' class='sortable'>"
        f"<thead><tr>{ths}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def not_ranked_sections(ds, summary: dict) -> list[dict]:
    """A section listing the units left out of the ranking, with the reason (none when every
    unit is ranked)."""
    rows = summary["verdicts"].get("not_ranked") or []
    if not rows:
        return []
    noun = summary["dataset"].get("unit_noun", "units")
    listed = "; ".join(f"{ds_label(ds, r['unit'])}: {r['reason']}" for r in rows)
    return [{"id": "not-ranked", "title": f"Not ranked ({len(rows):,} {noun})",
             "text": f"Left out of the ranking and of every lens, as the spec's missing-data "
                     f"rules say (verdicts.csv lists them with the verdict 'not ranked'). "
                     f"{listed}."}]


def ds_label(ds, unit: str) -> str:
    """A unit and its English name where the data give one that differs from the id."""
    names = dict(zip(ds.excluded["unit"], ds.excluded_names())) if ds.excluded is not None \
        else {}
    name = names.get(unit, "")
    return f"{unit} ({name})" if name and name != unit else unit


def build_report(ds, summary: dict, tables: dict[str, pd.DataFrame], static: bool = True
                 ) -> dict[str, bytes]:
    """index.html plus (when ``static``) rank_uncertainty.png/.svg, as bytes keyed by file
    name. Above ``LARGE_PAGE_UNITS`` units, the large index's page
    (:func:`build_large_report`)."""
    v = tables["verdicts"]
    tables = {**tables, "verdicts": v[v["verdict"] != NOT_RANKED].reset_index(drop=True)}
    tables["verdicts"].attrs["extremes"] = tables.get("extremes")
    tables["verdicts"].attrs["coverage"] = coverage_of(summary)
    if ds.n_units > LARGE_PAGE_UNITS:
        return build_large_report(ds, summary, tables, static)
    spec = ds.spec
    noun = summary["dataset"].get("unit_noun", "units")
    ranks = tables["ranks"]
    tiers = rank_tier_sizes(ds)  # tiers in rank positions (threshold tiers: published sizes)
    verdicts = tables["verdicts"]
    info, group_columns = city_info(ds, ranks, verdicts)
    ranges = lens_ranges(tables)
    uncertainty = charts.rank_uncertainty(ranks, info, tiers, ranges, group_columns)
    one = spec.unit
    sections = [
        {"id": "verdicts", "title": f"Verdict for every {one}",
         "text": f"One verdict per {one}, the first that applies in the order below; reasons "
                 "list every condition that holds, with its numbers. Click a column to sort, a "
                 "button to filter.",
         "html": verdict_table_html(ds, verdicts, info)},
        {"id": "rank-uncertainty", "title": "Rank uncertainty, one lens at a time",
         "chart": uncertainty,
         "narrow": charts.rank_uncertainty(ranks, info, tiers, ranges, group_columns,
                                           compact=True),
         "text": "Pick a lens. Under the weights lens every scenario is an admissible "
                 f"weighting, so the 90% interval lies inside the grey "
                 f"{bounds_words(tables.get('extremes'))} range; "
                 "the other lenses perturb other things and their intervals are not "
                 "comparable with that range (it is not drawn for them). Colour is the "
                 f"{one}'s verdict; filter by verdict or group; hover for the numbers."},
        {"id": "tiers", "title": "Tier membership",
         "chart": charts.tier_probabilities(ranks, info, len(tiers)),
         "narrow": charts.tier_probabilities(ranks, info, len(tiers), compact=True)},
    ]
    if "scenarios" in tables:
        sections.append({"id": "construction", "title": "Alternative constructions",
                         "chart": charts.scenario_dots(tables["scenarios"], info, tiers, spec),
                         "narrow": charts.scenario_dots(tables["scenarios"], info, tiers, spec,
                                                        compact=True),
                         "text": summary["lenses"]["construction"]["headline"]})
    sections.append({"id": "acceptability", "title": "Rank acceptability",
                     "chart": charts.acceptability(tables["acceptability"], info)})
    if "groups" in tables and len(tables["groups"]):
        first = True
        for kind in spec.groups:
            if kind not in set(tables["groups"]["group_kind"]):
                continue
            sections.append({
                "id": f"groups-{kind}",
                "title": "Within-group robustness" if first else "",
                "text": ("The report's own sub-rankings, with its within-group tiers of "
                         f"{' / '.join(str(t) for t in spec.groups[kind].tiers)} / rest."
                         if first else ""),
                "chart": charts.group_intervals(tables["groups"], info, ds, kind)})
            first = False
    sections += _tail_sections(ds, summary, tables, info)
    for sec in sections:
        for key in ("chart", "narrow"):
            if sec.get(key) is not None:
                sec[key] = charts.configure(sec[key])
    title = f"Audit of the {spec.title_en}" + (f" ({spec.title_zh})" if spec.title_zh else "")
    intro = _tiles(summary, noun) + _headlines(summary)
    sections[1:1] = not_ranked_sections(ds, summary)
    out = {"index.html": build_page(title, intro, sections).encode("utf-8")}
    if static:
        out.update(export_static(charts.configure(uncertainty), "rank_uncertainty"))
    return out


def build_large_report(ds, summary: dict, tables: dict[str, pd.DataFrame], static: bool = True
                       ) -> dict[str, bytes]:
    """The page of a large index (see :mod:`cityindex.report.large`): summary distributions,
    the most fragile units' intervals and a paged verdict table instead of one row per unit;
    the PNG/SVG export is the fragile units' chart."""
    v = tables["verdicts"]
    tables = {**tables, "verdicts": v[v["verdict"] != NOT_RANKED].reset_index(drop=True)}
    tables["verdicts"].attrs["extremes"] = tables.get("extremes")
    tables["verdicts"].attrs["coverage"] = coverage_of(summary)
    spec = ds.spec
    noun = summary["dataset"].get("unit_noun", "units")
    one = spec.unit
    ranks = tables["ranks"]
    tiers = rank_tier_sizes(ds)
    verdicts = tables["verdicts"]
    threshold = summary["run"]["flags"]["tier_probability"]
    info, _ = city_info(ds, ranks, verdicts)
    chosen = large.fragile_selection(verdicts)
    keep = set(chosen["unit"])
    ranges = lens_ranges(tables)
    fragile, fragile_narrow = (charts.rank_uncertainty(
        ranks[ranks["unit"].isin(keep)], info[info["unit"].isin(keep)], tiers,
        ranges[ranges["unit"].isin(keep)] if len(ranges) else None,
        n_units=ds.n_units, subtitle=large.fragile_subtitle(ds, chosen, threshold),
        unit_noun=one, compact=compact) for compact in (False, True))
    sections = [
        {"id": "verdicts", "title": f"Verdict for every {one}",
         "text": f"One verdict per {one}, the first that applies in the order below; reasons "
                 "list every condition that holds, with its numbers. Click a column to sort "
                 f"(all {ds.n_units:,} rows), a button to filter, find by {one}, verdict or "
                 f"reason; {large.PAGE_ROWS} rows a page.",
         "html": large.paged_verdict_table_html(ds, verdicts, info)},
        {"id": "distributions", "title": f"Across all {ds.n_units:,} {noun}",
         "text": f"Distributions over the {noun}, colour is the verdict. Below the verdicts "
                 "by tier, one lens at a time (pick it above the charts): how wide the 90% "
                 "rank intervals are, where in the ranking they are wide, and how likely each "
                 f"{one} is to keep its published tier. Under the weights lens every scenario "
                 "is an admissible weighting.",
         "chart": charts.verdicts_by_tier(verdicts, spec, one)},
        {"id": "distributions-lens", "title": "",
         "chart": charts.lens_distributions(ranks, info, tiers, threshold, one)},
        {"id": "rank-uncertainty",
         "title": f"The {len(chosen)} most fragile {noun}, one lens at a time",
         "chart": fragile, "narrow": fragile_narrow,
         "text": f"The usual rank-uncertainty chart, for the {len(chosen)} {noun} least likely "
                 "to keep their published tier under the weights lens (the chart's subtitle "
                 "gives the rule). Pick a lens; filter by verdict; hover for the numbers."},
    ]
    if "scenarios" in tables:
        sections.append({"id": "construction", "title": "Alternative constructions",
                         "chart": charts.alternatives_summary(tables["scenarios"], spec, one),
                         "text": summary["lenses"]["construction"]["headline"]})
    if "groups" in tables and len(tables["groups"]):
        tiers_text = "; ".join(
            f"{group_kind_label(spec, k)}: {' / '.join(map(str, g.tiers))} / rest"
            for k, g in spec.groups.items())
        sections.append({"id": "groups", "title": "Within-group robustness",
                         "text": "The report's own sub-rankings, with its within-group tiers "
                                 f"({tiers_text}): per group, how many {noun} keep their "
                                 "within-group tier with probability below 0.9, per lens "
                                 "(groups.csv has every unit).",
                         "html": large.group_summary_html(ds, tables["groups"])})
    sections += _tail_sections(ds, summary, tables,
                               reproduction_rows=large.REPRODUCTION_ROWS)
    for sec in sections:
        for key in ("chart", "narrow"):
            if sec.get(key) is not None:
                sec[key] = charts.configure(sec[key])
    title = f"Audit of the {spec.title_en}" + (f" ({spec.title_zh})" if spec.title_zh else "")
    intro = _tiles(summary, noun) + _headlines(summary) + large.large_note(ds, tables)
    sections[1:1] = not_ranked_sections(ds, summary)
    page = build_page(title, intro, sections, table_script=PAGED_TABLE_SCRIPT,
                      extra_css=large.LARGE_CSS)
    out = {"index.html": page.encode("utf-8")}
    if static:
        out.update(export_static(charts.configure(fragile), "rank_uncertainty"))
    return out


def _tail_sections(ds, summary: dict, tables: dict[str, pd.DataFrame],
                   info: pd.DataFrame | None = None, reproduction_rows: int | None = None
                   ) -> list[dict]:
    """The sections after the per-unit charts: Sobol' indices (with each unit's total
    indices when ``info`` is given), weights versus importance, coherence, the reproduction
    audit (its first ``reproduction_rows`` findings when given) and the method."""
    spec = ds.spec
    weights = summary["lenses"]["weights"]
    out: list[dict] = []
    if "sobol" in tables:
        s = summary["sobol"]
        by_text: dict[str, list[str]] = {}
        for d in s.get("factor_distributions", []):
            by_text.setdefault(d["distribution"], []).append(d["factor"])
        dist = ""
        for text, factors in by_text.items():
            if len(factors) > 1 and all(f.startswith("w_") for f in factors):
                names = ", ".join(node_label(spec, f[2:], short=True) for f in factors)
                dist += (f"<li><b>each node weight</b> ({len(factors)}: "
                         f"{esc(names)}): {esc(text)}</li>")
            else:
                dist += "".join(f"<li><b>{esc(factor_label(spec, f))}</b>: "
                                f"{esc(text)}</li>" for f in factors)
        out.append({"id": "sobol", "title": "Which choice moves which rank (Sobol')",
                    "chart": charts.sobol_bars(tables["sobol"], spec),
                    "text": "All factors varied jointly (like the combined lens), each "
                            "with the distribution below; indices say which factor a "
                            "rank's variance comes from.",
                    "html": f"<ul class='factors'>{dist}</ul>"})
        if info is not None:
            out.append({"id": "sobol-cities", "title": "",
                        "chart": charts.sobol_heatmap(tables["sobol"], info, spec)})
    if "importance" in tables:
        out.append({"id": "importance", "title": "Weights versus importance",
                    "chart": charts.weights_importance(tables["importance"], spec)})
    if "coherence" in tables:
        coh = tables["coherence"]
        flags = coh[coh["flag"] != ""].copy()
        for c in ("a", "b"):
            flags[c] = [node_label(spec, v) if isinstance(v, str) and v in spec.nodes else v
                        for v in flags[c]]
        out.append({"id": "coherence", "title": "Statistical coherence",
                    "text": "Flagged: problems in the correlation structure (OECD/JRC "
                            "Handbook 2008); the full matrix below.",
                    "chart": charts.correlations(coh, spec),
                    "html": _table(flags, ["kind", "a", "b", "value", "flag"])})
    rep = tables["reproduction"]
    text = ""
    if reproduction_rows is not None and len(rep) > reproduction_rows:
        text = (f"The first {reproduction_rows:,} of {len(rep):,}; reproduction.csv lists "
                "every one.")
        rep = rep.head(reproduction_rows)
    rep = rep.copy()
    rep["node"] = [node_label(spec, v, short=True) if v in spec.nodes else v
                   for v in rep["node"]]
    out.append({"id": "reproduction", "title": "Reproduction audit: every inconsistency found",
                     **({"text": text} if text else {}),
                     "html": _table(rep, ["check", "unit", "node", "published", "recomputed",
                                     "tolerance", "detail", "source"])})
    out.append({"id": "method", "title": "Method and assumptions",
                     "html": _method_html(summary, weights)})
    return out


def _method_html(summary: dict, weights: dict) -> str:
    method = summary.get("method", {})
    items = [f"<li><b>{esc(k.replace('_', ' '))}</b>: {esc(v)}</li>"
             for k, v in method.items()]
    lenses = summary["lenses"]
    if "noise" in lenses:
        n = lenses["noise"]
        models = n["bootstrap"].get("models") or "as run.noise.models in summary.json"
        items.append(f"<li><b>noise lens</b>: {esc(n['bootstrap']['assumptions'])}; "
                     f"error models: {esc(models)}</li>")
        for note in n.get("notes", [])[1:]:   # why sets and tiles, sets and P(tier) differ
            items.append(f"<li><b>reading the noise lens</b>: {esc(note)}</li>")
        if "rank_ci" in n:
            items.append(f"<li><b>rank confidence sets</b>: "
                         f"{esc(n['rank_ci']['method'])}</li>")
    if "sample" in lenses:
        items.append(f"<li><b>sample lens</b>: "
                     f"{esc(lenses['sample']['resample']['assumptions'])}</li>")
    if "sobol" in summary:
        s = summary["sobol"]
        items.append(f"<li><b>Sobol'</b>: n = {esc(s['n'])}, {esc(s['factors'])} factors, "
                     f"{esc(s['evaluations'])} evaluations, {esc(s['n_boot'])} bootstrap "
                     f"resamples; half-widths above 0.1: "
                     f"{esc(s['ci_half_width_above_0_1'])}</li>")
    if "extremes" in weights:
        items.append(f"<li><b>extreme ranks (ERA)</b> over all weightings with multipliers in "
                     f"[1 ± {esc(weights['extremes']['delta'])}]: exact (MILP) where the "
                     "composite is linear or log-linear in the weights, otherwise inner "
                     "bounds from the box's vertices and draws (extremes.csv's method column "
                     "says which)</li>")
    items.append("<li><b>verdicts</b>: " + "; ".join(
        f"{esc(k)}: {esc(v)}" for k, v in verdict_text(coverage_of(summary)).items())
        + " — the first that applies.</li>")
    run = summary["run"]
    sha = (run.get("run_file_sha256") or "")[:16]
    items.append(f"<li><b>run</b>: {esc(run['run_file'])} (SHA-256 {esc(sha)}…), "
                 f"seed {esc(run['seed'])}, {esc(run['samples'])} weights-lens scenarios</li>")
    refs = "".join(f"<li>{esc(c)}</li>" for c in CITATIONS)
    return f"<ul>{''.join(items)}</ul><h3>References</h3><ol>{refs}</ol>"
