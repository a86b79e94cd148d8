"""Altair chart builders. Each takes tidy tables and returns an *unconfigured* chart, so that
charts compose (``alt.hconcat(a, b)``); the page applies :func:`configure` once per chart it
embeds. Nothing here writes files."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

CJK_FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Noto Sans SC, sans-serif"
ROW = 13  # pixels per city row
FRAGILE_COLORS = alt.Scale(domain=["fragile", "robust"], range=["#d62728", "#1f77b4"])


def configure(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The page's one configuration (CJK-capable font, no view stroke), applied at the top
    level only: a configured chart can no longer be concatenated."""
    return chart.configure(font=CJK_FONT).configure_view(stroke=None)


def _labels(ranks: pd.DataFrame) -> pd.Series:
    return ranks["published_rank"].astype(str).str.zfill(3) + " " + ranks["unit"] + " " + \
        ranks["name_en"].fillna("")


def rank_uncertainty(ranks: pd.DataFrame, meta: pd.DataFrame, tiers: tuple[int, ...],
                     extremes: pd.DataFrame | None = None) -> alt.TopLevelMixin:
    """One row per city in published order: exact best-worst range, 90% and 50% Monte-Carlo
    intervals, median, published rank; tier boundaries; fragile cities in red."""
    df = ranks.copy()
    df["city"] = _labels(df)
    df["status"] = np.where(df["rank_fragile"] | df["tier_fragile"], "fragile", "robust")
    df["scale"] = df["unit"].map(meta["scale"]) if "scale" in meta else ""
    df["region"] = df["unit"].map(meta["region"]) if "region" in meta else ""
    if extremes is not None:
        df = df.merge(extremes[["unit", "best", "worst"]], on="unit", how="left")
    order = list(df.sort_values("published_rank")["city"])
    scale_sel = alt.param(name="scale", bind=alt.binding_select(
        options=[None, *sorted(df["scale"].dropna().unique())],
        labels=["all", *sorted(df["scale"].dropna().unique())], name="Scale class "),
        value=None)
    region_sel = alt.param(name="region", bind=alt.binding_select(
        options=[None, *sorted(df["region"].dropna().unique())],
        labels=["all", *sorted(df["region"].dropna().unique())], name="Region "), value=None)
    y = alt.Y("city:N", sort=order, title=None, axis=alt.Axis(labelFontSize=10))
    x_scale = alt.Scale(domain=[0, len(df) + 1])
    tooltip = [alt.Tooltip("unit:N", title="city"), alt.Tooltip("name_en:N", title="English"),
               "published_rank:Q", "nominal_rank:Q", "median:Q", "p05:Q", "p95:Q",
               alt.Tooltip("p_published_tier:Q", format=".2f"), "reasons:N"]
    if extremes is not None:
        tooltip += ["best:Q", "worst:Q"]
    base = alt.Chart(df).transform_filter(
        "(scale == null || datum.scale == scale) && (region == null || datum.region == region)"
    ).encode(y=y)
    layers = []
    if extremes is not None:
        layers.append(base.mark_rule(color="#bbbbbb", strokeWidth=1).encode(
            x=alt.X("best:Q", scale=x_scale, title="rank (1 = best)"), x2="worst:Q",
            tooltip=tooltip))
    layers += [
        base.mark_rule(strokeWidth=2).encode(
            x=alt.X("p05:Q", scale=x_scale, title="rank (1 = best)"), x2="p95:Q",
            color=alt.Color("status:N", scale=FRAGILE_COLORS, title=None), tooltip=tooltip),
        base.mark_bar(height=7, opacity=0.6).encode(
            x="p25:Q", x2="p75:Q", color=alt.Color("status:N", scale=FRAGILE_COLORS),
            tooltip=tooltip),
        base.mark_tick(color="black", thickness=2, size=9).encode(x="median:Q",
                                                                   tooltip=tooltip),
        base.mark_point(shape="diamond", filled=True, color="#ff7f0e", size=30).encode(
            x="published_rank:Q", tooltip=tooltip),
    ]
    edges = pd.DataFrame({"edge": np.cumsum(tiers)[:-1] + 0.5})
    layers.append(alt.Chart(edges).mark_rule(strokeDash=[4, 3], color="#555").encode(
        x="edge:Q"))
    chart = alt.layer(*layers).add_params(scale_sel, region_sel).properties(
        width=620, height=ROW * len(df),
        title=alt.Title("Rank uncertainty, city by city", subtitle=[
            "grey: exact best–worst rank over admissible weights; bar: 50% and line: 90% "
            "Monte-Carlo interval; tick: median; diamond: published rank",
            "dashed: tier boundaries; red: rank or tier fragile"]))
    return (chart)


def tier_probabilities(ranks: pd.DataFrame, n_tiers: int) -> alt.TopLevelMixin:
    df = ranks.copy()
    df["city"] = _labels(df)
    long = df.melt(id_vars=["city", "unit", "published_tier"],
                   value_vars=[f"p_tier_{t}" for t in range(1, n_tiers + 1)],
                   var_name="tier", value_name="probability")
    long["tier"] = long["tier"].str.replace("p_tier_", "tier ")
    order = list(df.sort_values("published_rank")["city"])
    bars = alt.Chart(long).mark_bar().encode(
        y=alt.Y("city:N", sort=order, title=None, axis=alt.Axis(labelFontSize=10)),
        x=alt.X("probability:Q", stack="zero", title="P(tier)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("tier:N", scale=alt.Scale(scheme="tableau10")),
        tooltip=["unit:N", "tier:N", alt.Tooltip("probability:Q", format=".3f")])
    marks = alt.Chart(df).mark_text(align="left", dx=4, fontSize=9).encode(
        y=alt.Y("city:N", sort=order), x=alt.value(302),
        text=alt.Text("published_tier:N", format=""))
    return (alt.layer(bars, marks).properties(
        width=300, height=ROW * len(df),
        title=alt.Title("Tier membership probabilities",
                        subtitle="stacked P(tier 1/2/3) under the Monte-Carlo model; number "
                                 "at right: published tier")))


def acceptability(acc: pd.DataFrame, ranks: pd.DataFrame) -> alt.TopLevelMixin:
    long = acc.melt(id_vars="unit", var_name="rank", value_name="p")
    long["rank"] = long["rank"].str.extract(r"rank_(\d+)")[0].astype(int)  # bins: first rank
    long = long[long["p"] > 0]
    labels = dict(zip(ranks["unit"], _labels(ranks)))
    long["city"] = long["unit"].map(labels)
    order = list(_labels(ranks.sort_values("published_rank")))
    return (alt.Chart(long).mark_rect().encode(
        x=alt.X("rank:O", title="rank", axis=alt.Axis(values=[1, 20, 50, 106])),
        y=alt.Y("city:N", sort=order, title=None, axis=alt.Axis(labelFontSize=9)),
        color=alt.Color("p:Q", scale=alt.Scale(scheme="viridis", type="sqrt"),
                        title="P(rank)"),
        tooltip=["unit:N", "rank:O", alt.Tooltip("p:Q", format=".3f")]).properties(
        width=620, height=ROW * len(ranks),
        title=alt.Title("Rank acceptability (SMAA-2)", subtitle="P(city has rank r)")))


def sobol_bars(sobol: pd.DataFrame) -> alt.TopLevelMixin:
    df = sobol[sobol["unit"] == "mean_abs_shift"].melt(
        id_vars=["factor"], value_vars=["S1", "ST"], var_name="index", value_name="value")
    conf = sobol[sobol["unit"] == "mean_abs_shift"].melt(
        id_vars=["factor"], value_vars=["S1_conf", "ST_conf"], var_name="index",
        value_name="conf")
    conf["index"] = conf["index"].str.replace("_conf", "")
    df = df.merge(conf, on=["factor", "index"])
    df["lo"] = df["value"] - df["conf"]
    df["hi"] = df["value"] + df["conf"]
    base = alt.Chart(df).encode(y=alt.Y("factor:N", title=None),
                                yOffset="index:N", color="index:N")
    return (alt.layer(
        base.mark_bar().encode(x=alt.X("value:Q", title="Sobol' index")),
        base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q"),
    ).properties(width=420, height=360, title=alt.Title(
        "What moves the average rank shift", subtitle="first-order (S1) and total (ST) "
        "Sobol' indices with 95% bootstrap half-widths")))


def sobol_heatmap(sobol: pd.DataFrame, ranks: pd.DataFrame) -> alt.TopLevelMixin:
    df = sobol[sobol["unit"] != "mean_abs_shift"].copy()
    labels = dict(zip(ranks["unit"], _labels(ranks)))
    df["city"] = df["unit"].map(labels)
    order = list(_labels(ranks.sort_values("published_rank")))
    return (alt.Chart(df).mark_rect().encode(
        x=alt.X("factor:N", title=None),
        y=alt.Y("city:N", sort=order, title=None, axis=alt.Axis(labelFontSize=9)),
        color=alt.Color("ST:Q", scale=alt.Scale(scheme="orangered", domain=[0, 1]),
                        title="ST"),
        tooltip=["unit:N", "factor:N", alt.Tooltip("ST:Q", format=".2f"),
                 alt.Tooltip("S1:Q", format=".2f"), "note:N"]).properties(
        width=360, height=ROW * len(ranks),
        title=alt.Title("Total Sobol' index of each city's rank, by factor")))


def weights_importance(importance: pd.DataFrame) -> alt.TopLevelMixin:
    df = importance.melt(id_vars=["variable", "level"],
                         value_vars=["weight_share", "importance_share", "linear_r2"],
                         var_name="measure", value_name="value")
    df["measure"] = df["measure"].map({"weight_share": "nominal weight (share)",
                                       "importance_share": "importance S_i (share)",
                                       "linear_r2": "linear R²"})
    return (alt.Chart(df).mark_bar().encode(
        x=alt.X("value:Q", title=None), y=alt.Y("variable:N", title=None),
        yOffset="measure:N", color=alt.Color("measure:N", title=None),
        row=alt.Row("level:N", title=None),
        tooltip=["variable:N", "measure:N", alt.Tooltip("value:Q", format=".3f")]).properties(
        width=420, title=alt.Title(
            "Nominal weight versus importance",
            subtitle="importance: correlation ratio V[E(y|x)]/V(y) by LOWESS "
                     "(Paruolo et al. 2013)")).resolve_scale(y="independent"))


def correlations(coherence: pd.DataFrame) -> alt.TopLevelMixin:
    df = coherence[coherence["kind"] == "pearson"][["a", "b", "value"]]
    sym = pd.concat([df, df.rename(columns={"a": "b", "b": "a"})])
    names = list(dict.fromkeys([*df["a"], *df["b"]]))
    diag = pd.DataFrame({"a": names, "b": names, "value": 1.0})
    sym = pd.concat([sym, diag])
    base = alt.Chart(sym).encode(x=alt.X("a:N", sort=names, title=None),
                                 y=alt.Y("b:N", sort=names, title=None))
    return (alt.layer(
        base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(
            scheme="redblue", domain=[-1, 1]), title="Pearson r")),
        base.mark_text(fontSize=9).encode(text=alt.Text("value:Q", format=".2f")),
    ).properties(width=380, height=380, title="Correlations: indicators, pillars, composite"))


def scenario_dots(scenarios: pd.DataFrame, ranks: pd.DataFrame) -> alt.TopLevelMixin:
    df = scenarios.copy()
    labels = dict(zip(ranks["unit"], _labels(ranks)))
    df["city"] = df["unit"].map(labels)
    order = list(_labels(ranks.sort_values("published_rank")))
    pick = alt.param(name="scenario_pick", bind=alt.binding_select(
        options=[None, *df["scenario"].unique()],
        labels=["all", *df["scenario"].unique()], name="Scenario "), value=None)
    base = alt.Chart(df).transform_filter(
        "scenario_pick == null || datum.scenario == scenario_pick")
    dots = base.mark_point(filled=True, size=18, opacity=0.8).encode(
        y=alt.Y("city:N", sort=order, title=None, axis=alt.Axis(labelFontSize=9)),
        x=alt.X("rank:Q", title="rank under the scenario"),
        color=alt.Color("scenario:N", scale=alt.Scale(scheme="tableau20")),
        tooltip=["unit:N", "scenario:N", "rank:Q", "published_rank:Q", "shift:Q"])
    return (dots.add_params(pick).properties(
        width=620, height=ROW * len(ranks),
        title=alt.Title("Published ranks against alternative constructions",
                        subtitle="each normalisation, geometric aggregation, each indicator "
                                 "left out (nominal weights)")))


def group_intervals(groups: pd.DataFrame) -> alt.TopLevelMixin:
    df = groups.copy()
    df["status"] = np.where(df["group_tier_fragile"], "fragile", "robust")
    df["label"] = df["published_group_rank"].astype(str).str.zfill(2) + " " + df["unit"]
    kinds = sorted(df["group_kind"].unique())
    pick = alt.param(name="group_kind_pick", bind=alt.binding_select(
        options=kinds, name="Grouping "), value=kinds[0])
    base = alt.Chart(df).transform_filter("datum.group_kind == group_kind_pick")
    enc = {"y": alt.Y("label:N", sort="ascending", title=None,
                      axis=alt.Axis(labelFontSize=9)),
           "tooltip": ["unit:N", "group:N", "published_group_rank:Q", "median:Q", "p05:Q",
                       "p95:Q", alt.Tooltip("p_published_group_tier:Q", format=".2f")]}
    rules = base.mark_rule(strokeWidth=2).encode(
        x=alt.X("p05:Q", title="rank within the group"), x2="p95:Q",
        color=alt.Color("status:N", scale=FRAGILE_COLORS, title=None), **enc)
    pts = base.mark_point(shape="diamond", filled=True, color="#ff7f0e").encode(
        x="published_group_rank:Q", **enc)
    return (alt.layer(rules, pts).facet(
        column=alt.Column("group:N", title=None)).add_params(pick).resolve_scale(
        y="independent").properties(
        title=alt.Title("Robustness within the report's groups",
                        subtitle="90% Monte-Carlo interval of the within-group rank; "
                                 "diamond: published order; red: within-group tier fragile")))
