"""Altair chart builders. Each takes tidy tables and returns an *unconfigured* chart, so that
charts compose (``alt.hconcat(a, b)``); the page applies :func:`configure` once per chart it
embeds. Nothing here writes files.

Colour has one meaning per hue on the page: the verdict (Okabe-Ito, colour-blind safe) is the
main colour of every per-city mark; tiers are shades of blue; heatmaps use sequential schemes
that share no hue with the verdicts. The published rank is a white diamond with a black
outline, visible on every bar colour. Charts that show a lens's numbers show one lens at a
time (a selector, default ``weights``) and name it in the title.
"""

from __future__ import annotations

import json
import textwrap

import altair as alt
import numpy as np
import pandas as pd

from cityindex.report.labels import (
    LENS_SHORT,
    factor_label,
    group_kind_label,
    group_value_labels,
    lens_options,
    lens_title,
    node_label,
    scenario_label,
)
from cityindex.vocabulary import VERDICTS

CJK_FONT = "WenQuanYi Micro Hei, Noto Sans CJK SC, Noto Sans SC, sans-serif"
ROW = 13  # pixels per city row
VERDICT_ORDER = list(VERDICTS)   # the vocabulary's order
VERDICT_COLORS = ["#D55E00", "#CC79A7", "#E69F00", "#8C8C8C"]
VERDICT_SCALE = alt.Scale(domain=VERDICT_ORDER, range=VERDICT_COLORS)
TIER_BLUES = ["#08519c", "#4292c6", "#c6dbef", "#eff3ff"]
RANGE_GREY = "#d0d0d0"
PUBLISHED_MARK = {"shape": "diamond", "filled": True, "fill": "white", "stroke": "black",
                  "strokeWidth": 1.2, "size": 42}
PLOT_WIDTH = 700
# The phone variant of the rank-uncertainty and tier charts (``compact=True``), shown by the
# page below 640 px instead of the wide one: the whole chart (labels, plot, legend, titles)
# within about 360 px, the width a 390 px phone leaves inside the page's margins.
COMPACT_PLOT_WIDTH = 205
COMPACT_LABEL_LIMIT = 110
COMPACT_CHARS = 58  # subtitle characters per line (11 px)
UNCERTAINTY_SUBTITLE = [
    "grey band: exact best–worst rank over every admissible weighting (weights lens) "
    "or the simultaneous rank",
    "confidence set (noise lens); bar: 50% and line: 90% interval; black tick: median; "
    "white diamond: published rank;",
    "dashed: tier boundaries; colour: the city's verdict (one per city, all lenses)"]


def nice_step(x: float) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that is at least ``x`` (and at least 1)."""
    step = 1
    while True:
        for m in (1, 2, 5):
            if step * m >= x:
                return step * m
        step *= 10


def configure(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The page's one configuration (CJK-capable font, no view stroke, left-aligned titles),
    applied at the top level only: a configured chart can no longer be concatenated."""
    return (chart.configure(font=CJK_FONT).configure_view(stroke=None)
            .configure_title(anchor="start", fontSize=14, subtitleFontSize=11,
                             subtitleColor="#444")
            .configure_legend(orient="top", direction="horizontal", titleOrient="left",
                              labelLimit=260, titleLimit=420))


def city_tooltips(extra: list | None = None, noun: str = "city") -> list:
    """The fields every per-city tooltip starts with (``noun``: the spec's unit noun)."""
    return [alt.Tooltip("city:N", title=noun),
            alt.Tooltip("published_rank:Q", title="published rank"),
            alt.Tooltip("nominal_rank:Q", title="recomputed rank (nominal)"),
            alt.Tooltip("verdict:N", title="verdict"), *(extra or [])]


def verdict_color(legend: bool = True, compact: bool = False) -> alt.Color:
    if not legend:
        return alt.Color("verdict:N", scale=VERDICT_SCALE, legend=None)
    return alt.Color("verdict:N", scale=VERDICT_SCALE,
                     legend=compact_legend("verdict") if compact else alt.Legend(title="verdict"))


def default_info(ranks: pd.DataFrame) -> pd.DataFrame:
    """City rows for a chart drawn outside a full audit (no verdicts yet): every city's
    verdict is 'robust'-grey and the tooltip says 'not assessed'."""
    first = ranks.drop_duplicates("unit")
    city = (first["unit"] + " " + first.get("name_en", pd.Series("", index=first.index))
            .fillna("")).str.strip()
    info = pd.DataFrame({"unit": first["unit"].to_numpy(), "city": city.to_numpy(),
                         "published_rank": first["published_rank"].to_numpy(),
                         "published_tier": first["published_tier"].to_numpy(),
                         "nominal_rank": first["nominal_rank"].to_numpy(),
                         "verdict": "robust"})
    info["row"] = info["published_rank"].astype(str).str.zfill(3) + " " + info["city"]
    return info


def _uncertainty_subtitle(ranges: pd.DataFrame | None) -> list[str]:
    """The rank chart's subtitle, naming the grey band as the ranges do (exact or bounds)."""
    if ranges is None or not len(ranges) or "range_kind" not in ranges:
        return UNCERTAINTY_SUBTITLE
    kinds = ranges.loc[ranges["lens"] == "weights", "range_kind"]
    if not len(kinds) or str(kinds.iloc[0]).startswith("exact"):
        return UNCERTAINTY_SUBTITLE
    return [UNCERTAINTY_SUBTITLE[0].replace(
        "exact best–worst rank", "best–worst bounds (inner: the true range may be wider)"),
        *UNCERTAINTY_SUBTITLE[1:]]


def extremes_ranges(extremes: pd.DataFrame | None) -> pd.DataFrame | None:
    """The weights lens's grey range (best-worst, exact or inner bounds) from extremes.csv."""
    if extremes is None:
        return None
    from cityindex.sensitivity.extremes import bounds_words

    return pd.DataFrame({"lens": "weights", "unit": extremes["unit"],
                         "range_lo": extremes["best"], "range_hi": extremes["worst"],
                         "range_kind": f"{bounds_words(extremes)} (ERA)"})


def _lens_param(present: list[str], name: str = "lens") -> alt.Parameter:
    opts, labels = lens_options(present)
    return alt.param(name=name, value="weights" if "weights" in opts else opts[0],
                     bind=alt.binding_select(options=opts, labels=labels, name="Lens "))


def _lens_title_expr(present: list[str], prefix: str, param: str = "lens",
                     compact: bool = False) -> alt.ExprRef:
    """The title naming the selected lens; ``compact``: two lines, the prefix (its trailing
    ", lens: " dropped) above "lens: <short name>"."""
    titles = LENS_SHORT if compact else {lens: lens_title(lens) for lens in present}
    expr = "''"
    for lens in reversed(present):
        expr = f"{param} == {json.dumps(lens)} ? {json.dumps(titles[lens])} : ({expr})"
    if compact:
        head = prefix.removesuffix(", lens: ").removesuffix(" lens: ")
        return alt.ExprRef(f"[{json.dumps(head)}, 'lens: ' + ({expr})]")
    return alt.ExprRef(f"{json.dumps(prefix)} + ({expr})")


def wrap_lines(lines: list[str] | str, width: int = COMPACT_CHARS) -> list[str]:
    """A subtitle (one string or lines) re-wrapped at ``width`` characters, for a compact
    chart."""
    text = " ".join([lines] if isinstance(lines, str) else lines)
    return textwrap.wrap(text, width, break_on_hyphens=False)


def compact_legend(title: str | None) -> alt.Legend:
    """A legend that wraps into two columns (a compact chart's width)."""
    return alt.Legend(title=title, columns=2, labelFontSize=10, symbolSize=60,
                      titleOrient="top", labelLimit=150)


def _group_filters(info: pd.DataFrame, group_columns: dict[str, str]
                   ) -> tuple[list[alt.Parameter], str]:
    """One select per grouping (readable labels) and the filter expression they make."""
    params, terms = [], []
    for col, title in group_columns.items():
        values = sorted(v for v in info[col].dropna().unique() if v != "")
        name = f"pick_{col}"
        params.append(alt.param(name=name, value=None, bind=alt.binding_select(
            options=[None, *values], labels=["all", *values], name=f"{title} ")))
        terms.append(f"({name} == null || datum['{col}'] == {name})")
    return params, " && ".join(terms) if terms else "true"


def _verdict_filter() -> tuple[alt.Parameter, str]:
    p = alt.param(name="pick_verdict", value=None, bind=alt.binding_select(
        options=[None, *VERDICT_ORDER], labels=["all", *VERDICT_ORDER], name="Verdict "))
    return p, "(pick_verdict == null || datum.verdict == pick_verdict)"


def _tier_edges(tiers: tuple[int, ...]) -> alt.Chart:
    edges = pd.DataFrame({"edge": np.cumsum(tiers)[:-1] + 0.5})
    return alt.Chart(edges).mark_rule(strokeDash=[4, 3], color="#555").encode(x="edge:Q")


def _edges_at(edges: list[int]) -> alt.Chart:
    """Dashed rules after the given ranks (tier boundaries inside a zoomed axis)."""
    frame = pd.DataFrame({"edge": [e + 0.5 for e in edges]})
    return alt.Chart(frame).mark_rule(strokeDash=[4, 3], color="#555").encode(x="edge:Q")


def rank_uncertainty(ranks: pd.DataFrame, info: pd.DataFrame | None, tiers: tuple[int, ...],
                     ranges: pd.DataFrame | None = None,
                     group_columns: dict[str, str] | None = None, *,
                     n_units: int | None = None, subtitle: list[str] | None = None,
                     unit_noun: str = "city", compact: bool = False) -> alt.TopLevelMixin:
    """One row per city in published order, one lens at a time: the lens's grey range
    (best-worst rank for ``weights``, the run's simultaneous confidence set for
    ``noise``), 50% bar and 90% line coloured by verdict, median tick, published rank.
    ``info`` (one row per city with its verdict, see the page) defaults to the cities of
    ``ranks`` with no verdict.

    A selection of a large index's units: given ``n_units`` (the whole index's size), the
    rank axis spans the ranks the rows reach under any lens (its title says which of the
    ``n_units``), with the tier boundaries inside it and round ranks as ticks; ``subtitle``
    replaces the default one (it should say which units are drawn and why) and
    ``unit_noun`` names the unit in the tooltips.

    ``compact``: the phone variant, the same data in about 360 px (a narrow plot, shorter
    labels, a rank axis with a few round ticks, titles and legend wrapped)."""
    if info is None:
        info = default_info(ranks)
    present = list(dict.fromkeys(ranks["lens"]))
    df = ranks.drop(columns=[c for c in ("name_en", "published_rank", "nominal_rank",
                                         "published_tier", "reasons") if c in ranks])
    df = df.merge(info, on="unit", how="left")
    if ranges is not None and len(ranges):
        df = df.merge(ranges, on=["lens", "unit"], how="left")
    else:
        df["range_lo"] = np.nan
        df["range_hi"] = np.nan
        df["range_kind"] = ""
    order = list(info.sort_values("published_rank")["row"])
    lens = _lens_param(present)
    verdict_p, verdict_expr = _verdict_filter()
    group_params, group_expr = _group_filters(info, group_columns or {})
    n = len(info) if n_units is None else n_units
    edges = np.cumsum(tiers)[:-1].tolist()
    x_title = "rank (1 = best)"
    if n_units is None:
        domain = [0, n + 1]
        # round ticks (every 10; compact: about 4 and the last rank) that leave room for the
        # tier boundaries' labels
        step, room = (nice_step(n / 4), 0.1 * n) if compact else (10, 0.04 * n)
        ticks = [1, *edges]
        for t in [*range(step, n + 1, step), *([n] if compact else [])]:
            if all(abs(t - e) > room for e in ticks[1:]):
                ticks.append(t)
    else:  # a selection: the ranks its rows reach (every lens), round ticks that do not
        # collide with the tier boundaries' labels
        span = df[["p05", "p95", "range_lo", "range_hi", "published_rank"]].to_numpy(float)
        lo, hi = float(np.nanmin(span)), float(np.nanmax(span))
        pad = max(2.0, 0.03 * (hi - lo))
        domain = [max(0, int(np.floor(lo - pad))), min(n + 1, int(np.ceil(hi + pad)))]
        width = domain[1] - domain[0]
        edges = [e for e in edges if domain[0] < e < domain[1]]
        step = nice_step(width / (4 if compact else 8))
        first = max(step, -(-domain[0] // step) * step)
        ticks = [*([1] if domain[0] <= 1 else []), *edges,
                 *(t for t in range(first, domain[1] + 1, step)
                   if all(abs(t - e) > (0.1 if compact else 0.05) * width for e in edges))]
        if domain != [0, n + 1]:
            x_title = f"rank (1 = best; axis: ranks {domain[0]:,}–{domain[1]:,} of {n:,})"
            if compact:
                x_title = ["rank (1 = best)", f"axis: ranks {domain[0]:,}–{domain[1]:,} of {n:,}"]
    x_scale = alt.Scale(domain=domain, nice=False)
    tooltip = city_tooltips([
        alt.Tooltip("lens:N", title="lens"),
        alt.Tooltip("median:Q", title="median rank"),
        alt.Tooltip("p05:Q", title="90% interval from"), alt.Tooltip("p95:Q", title="to"),
        alt.Tooltip("p_published_tier:Q", title="P(published tier)", format=".3f"),
        alt.Tooltip("range_kind:N", title="grey range"),
        alt.Tooltip("range_lo:Q", title="grey from"), alt.Tooltip("range_hi:Q", title="to")],
        noun=unit_noun)
    keep = ["lens", "row", "city", "published_rank", "nominal_rank", "verdict", "p05", "p25",
            "median", "p75", "p95", "p_published_tier", "range_lo", "range_hi", "range_kind",
            *(group_columns or {})]
    data = df[keep]
    base = alt.Chart().transform_filter(f"datum.lens == lens && {verdict_expr} && "
                                        f"{group_expr}").encode(
        y=alt.Y("row:N", sort=order, title=None,
                axis=alt.Axis(labelFontSize=9 if compact else 10,
                              labelLimit=COMPACT_LABEL_LIMIT if compact else 170)))
    x = alt.X("p25:Q", scale=x_scale, title=x_title,
              axis=alt.Axis(orient="top", values=ticks))
    layers = [
        base.mark_rule(color=RANGE_GREY, strokeWidth=8).encode(
            x=alt.X("range_lo:Q", scale=x_scale), x2="range_hi:Q", tooltip=tooltip),
        base.mark_bar(height=7).encode(x=x, x2="p75:Q", color=verdict_color(compact=compact),
                                       tooltip=tooltip),
        base.mark_rule(strokeWidth=2).encode(x="p05:Q", x2="p95:Q",
                                             color=verdict_color(compact=compact),
                                             tooltip=tooltip),
        base.mark_tick(color="black", thickness=2, size=10).encode(x="median:Q",
                                                                   tooltip=tooltip),
        base.mark_point(**PUBLISHED_MARK).encode(x="published_rank:Q", tooltip=tooltip),
        _tier_edges(tiers) if n_units is None else _edges_at(edges),
    ]
    sub = subtitle or _uncertainty_subtitle(ranges)
    return alt.layer(*layers, data=data).add_params(lens, verdict_p, *group_params).properties(
        width=COMPACT_PLOT_WIDTH if compact else PLOT_WIDTH, height=alt.Step(ROW),
        title=alt.Title(_lens_title_expr(present, "Rank uncertainty, lens: ", compact=compact),
                        subtitle=wrap_lines(sub) if compact else sub))


def tier_probabilities(ranks: pd.DataFrame, info: pd.DataFrame, n_tiers: int,
                       compact: bool = False) -> alt.TopLevelMixin:
    """P(tier) stacked per city, one lens at a time; the published tier at the right.
    ``compact``: the phone variant (see :func:`rank_uncertainty`)."""
    present = list(dict.fromkeys(ranks["lens"]))
    cols = [f"p_tier_{t}" for t in range(1, n_tiers + 1)]
    df = ranks[["lens", "unit", *cols]].merge(info, on="unit", how="left")
    long = df.melt(id_vars=["lens", "unit", "row", "city", "published_rank", "nominal_rank",
                            "verdict", "published_tier"],
                   value_vars=cols, var_name="tier", value_name="probability")
    long["tier"] = long["tier"].str.replace("p_tier_", "tier ")
    order = list(info.sort_values("published_rank")["row"])
    lens = _lens_param(present)
    verdict_p, verdict_expr = _verdict_filter()
    long["probability"] = long["probability"].round(4)
    data = long.drop(columns=["unit"])
    width = COMPACT_PLOT_WIDTH if compact else 320
    base = alt.Chart().transform_filter(f"datum.lens == lens && {verdict_expr}")
    bars = base.mark_bar().encode(
        y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(
            labelFontSize=9 if compact else 10,
            labelLimit=COMPACT_LABEL_LIMIT if compact else 170)),
        x=alt.X("probability:Q", stack="zero", title="P(tier)", scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(orient="top")),
        color=alt.Color("tier:N", scale=alt.Scale(
            domain=[f"tier {t}" for t in range(1, n_tiers + 1)],
            range=TIER_BLUES[:n_tiers]), legend=alt.Legend(title="P(tier)")),
        # ordinal, not nominal: Vega-Lite warns "Channel order is inappropriate for nominal
        # field" (the tiers stack in their order, tier 1 at the left)
        order=alt.Order("tier:O"),
        tooltip=city_tooltips([alt.Tooltip("tier:N"),
                               alt.Tooltip("probability:Q", format=".3f")]))
    marks = base.transform_filter("datum.tier == 'tier 1'").mark_text(
        align="left", dx=4, fontSize=9).encode(
        y=alt.Y("row:N", sort=order), x=alt.value(width + 4),
        text=alt.Text("published_tier:N", format=""))
    sub = (f"stacked P(tier {'/'.join(map(str, range(1, n_tiers + 1)))}); "
           "number at right: published tier")
    return alt.layer(bars, marks, data=data).add_params(lens, verdict_p).properties(
        width=width, height=alt.Step(ROW),
        title=alt.Title(_lens_title_expr(present, "Tier membership, lens: ", compact=compact),
                        subtitle=wrap_lines(sub) if compact else sub))


def acceptability(acc: pd.DataFrame, info: pd.DataFrame, floor: float = 1e-4
                  ) -> alt.TopLevelMixin:
    """P(city has rank r) (SMAA-2), one lens at a time, on a log colour scale; cells below
    ``floor`` are left blank (the legend says so). One data row per lens and city, the
    non-blank cells as two arrays that the chart flattens (so the data stays small)."""
    present = list(dict.fromkeys(acc["lens"]))
    cells = acc.filter(like="rank_")
    p = cells.to_numpy()
    # rank_<r>, or rank_<first>_<last> for binned histograms: a bin is drawn at its first rank
    first = cells.columns.str.extract(r"rank_(\d+)")[0].astype(int).to_numpy()
    rows = []
    for (lens_name, unit), probs in zip(acc[["lens", "unit"]].itertuples(index=False), p):
        keep = np.flatnonzero(probs >= floor)
        rows.append({"lens": lens_name, "unit": unit, "rank": first[keep].tolist(),
                     "p": [float(f"{v:.3g}") for v in probs[keep]]})
    data = pd.DataFrame(rows)
    order = list(info.sort_values("published_rank")["row"])
    lens = _lens_param(present)
    n = len(info)
    fields = ["row", "city", "published_rank", "nominal_rank", "verdict"]
    return alt.Chart(data).transform_filter("datum.lens == lens").transform_flatten(
        ["rank", "p"]).transform_lookup(
        lookup="unit", from_=alt.LookupData(info, "unit", fields)).mark_rect().encode(
        x=alt.X("rank:O", title="rank", axis=alt.Axis(
            orient="top", values=[1, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, n],
            labelAngle=0)),
        y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelFontSize=9,
                                                                 labelLimit=170)),
        color=alt.Color("p:Q", scale=alt.Scale(type="log", domain=[floor, 1],
                                               scheme="yellowgreenblue", clamp=True),
                        legend=alt.Legend(title=f"P(rank), log scale; below {floor:g} blank",
                                          format="~g", values=[1e-4, 1e-3, 1e-2, 1e-1, 1],
                                          gradientLength=220)),
        tooltip=city_tooltips([alt.Tooltip("rank:O", title="rank"),
                               alt.Tooltip("p:Q", title="P(rank)", format=".4f")]),
    ).add_params(lens).properties(
        width=PLOT_WIDTH, height=alt.Step(ROW),
        title=alt.Title(_lens_title_expr(present, "Rank acceptability (SMAA-2), lens: "),
                        subtitle="P(city has rank r): a tight diagonal means a stable ranking"))


def sobol_bars(sobol: pd.DataFrame, spec=None) -> alt.TopLevelMixin:
    """S1 and ST of the average rank shift, factor by factor, with 95% half-widths."""
    rows = sobol[sobol["unit"] == "mean_abs_shift"]
    df = rows.melt(id_vars=["factor"], value_vars=["S1", "ST"], var_name="index",
                   value_name="value")
    conf = rows.melt(id_vars=["factor"], value_vars=["S1_conf", "ST_conf"], var_name="index",
                     value_name="conf")
    conf["index"] = conf["index"].str.replace("_conf", "")
    df = df.merge(conf, on=["factor", "index"])
    df["lo"] = df["value"] - df["conf"]
    df["hi"] = df["value"] + df["conf"]
    df["factor_label"] = [factor_label(spec, f) if spec else f for f in df["factor"]]
    df["index"] = df["index"].map({"S1": "S1 (alone)", "ST": "ST (with interactions)"})
    order = list(dict.fromkeys(df["factor_label"]))
    base = alt.Chart(df).encode(
        y=alt.Y("factor_label:N", title=None, sort=order, axis=alt.Axis(labelLimit=330)),
        yOffset="index:N",
        color=alt.Color("index:N", scale=alt.Scale(range=["#8fc7c1", "#00575c"]),
                        legend=alt.Legend(title="Sobol' index")))
    tooltip = [alt.Tooltip("factor_label:N", title="factor"), alt.Tooltip("index:N"),
               alt.Tooltip("value:Q", format=".3f"),
               alt.Tooltip("conf:Q", title="95% half-width", format=".3f")]
    return alt.layer(
        base.mark_bar().encode(x=alt.X("value:Q", title="Sobol' index"), tooltip=tooltip),
        base.mark_rule(color="black").encode(x="lo:Q", x2="hi:Q"),
    ).properties(width=360, height=alt.Step(11), title=alt.Title(
        "What moves the average rank shift (all factors jointly)",
        subtitle="first-order (S1) and total (ST) Sobol' indices with 95% bootstrap "
                 "half-widths"))


def sobol_heatmap(sobol: pd.DataFrame, info: pd.DataFrame, spec=None) -> alt.TopLevelMixin:
    """The total Sobol' index of every city's rank, factor by factor."""
    df = sobol[sobol["unit"] != "mean_abs_shift"][["unit", "factor", "S1", "ST", "note"]]
    df = df.merge(info[["unit", "row", "city", "published_rank", "nominal_rank", "verdict"]],
                  on="unit", how="left").drop(columns=["unit"])
    df["factor_label"] = [factor_label(spec, f, short=True) if spec else f
                          for f in df["factor"]]
    df = df.drop(columns=["factor"])
    df[["S1", "ST"]] = df[["S1", "ST"]].round(3)
    order = list(info.sort_values("published_rank")["row"])
    factors = list(dict.fromkeys(df["factor_label"]))
    return alt.Chart(df).mark_rect().encode(
        x=alt.X("factor_label:N", title=None, sort=factors,
                axis=alt.Axis(orient="top", labelAngle=-90, labelLimit=260, labelFontSize=10)),
        y=alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelFontSize=9,
                                                                 labelLimit=170)),
        color=alt.Color("ST:Q", scale=alt.Scale(scheme="teals", domain=[0, 1]),
                        legend=alt.Legend(title="total index ST")),
        tooltip=city_tooltips([alt.Tooltip("factor_label:N", title="factor"),
                               alt.Tooltip("ST:Q", format=".2f"),
                               alt.Tooltip("S1:Q", format=".2f"), alt.Tooltip("note:N")]),
    ).properties(width=alt.Step(22), height=alt.Step(ROW), title=alt.Title(
        "Total Sobol' index of each city's rank, by factor",
        subtitle="share of the rank's variance that involves the factor (all factors jointly)"))


def weights_importance(importance: pd.DataFrame, spec=None) -> alt.TopLevelMixin:
    df = importance.melt(id_vars=["variable", "level"],
                         value_vars=["weight_share", "importance_share", "linear_r2"],
                         var_name="measure", value_name="value")
    df["measure"] = df["measure"].map({"weight_share": "nominal weight (share)",
                                       "importance_share": "importance S_i (share)",
                                       "linear_r2": "linear R²"})
    df["name"] = [node_label(spec, v) if spec else v for v in df["variable"]]
    return alt.Chart(df).mark_bar().encode(
        x=alt.X("value:Q", title=None), y=alt.Y("name:N", title=None,
                                               axis=alt.Axis(labelLimit=330)),
        yOffset=alt.YOffset("measure:N", sort=["nominal weight (share)",
                                                "importance S_i (share)", "linear R²"]),
        color=alt.Color("measure:N", scale=alt.Scale(
            domain=["nominal weight (share)", "importance S_i (share)", "linear R²"],
            range=["#252525", "#7f7f7f", "#c7c7c7"]), legend=alt.Legend(title=None)),
        row=alt.Row("level:N", title=None),
        tooltip=[alt.Tooltip("name:N", title="variable"), "measure:N",
                 alt.Tooltip("value:Q", format=".3f")]).properties(
        width=360, title=alt.Title(
            "Nominal weight versus importance",
            subtitle="importance: correlation ratio V[E(y|x)]/V(y) by LOWESS "
                     "(Paruolo et al. 2013)")).resolve_scale(y="independent")


def correlations(coherence: pd.DataFrame, spec=None) -> alt.TopLevelMixin:
    df = coherence[coherence["kind"] == "pearson"][["a", "b", "value"]]
    sym = pd.concat([df, df.rename(columns={"a": "b", "b": "a"})])
    names = list(dict.fromkeys([*df["a"], *df["b"]]))
    diag = pd.DataFrame({"a": names, "b": names, "value": 1.0})
    sym = pd.concat([sym, diag])
    label = {n: node_label(spec, n, short=True) if spec else n for n in names}
    sym["a_label"] = sym["a"].map(label)
    sym["b_label"] = sym["b"].map(label)
    order = [label[n] for n in names]
    base = alt.Chart(sym).encode(
        x=alt.X("a_label:N", sort=order, title=None,
                axis=alt.Axis(labelAngle=-40, labelLimit=200)),
        y=alt.Y("b_label:N", sort=order, title=None, axis=alt.Axis(labelLimit=230)))
    return alt.layer(
        base.mark_rect().encode(color=alt.Color("value:Q", scale=alt.Scale(
            scheme="brownbluegreen", domain=[-1, 1]), legend=alt.Legend(title="Pearson r")),
            tooltip=[alt.Tooltip("a_label:N", title="a"), alt.Tooltip("b_label:N", title="b"),
                     alt.Tooltip("value:Q", format=".2f")]),
        base.mark_text(fontSize=9).encode(
            text=alt.Text("value:Q", format=".2f"),
            color=alt.condition("abs(datum.value) > 0.6", alt.value("white"),
                                alt.value("black"))),
    ).properties(width=alt.Step(34), height=alt.Step(26),
                 title="Correlations: indicators, pillars, composite")


def _kinds_text(df: pd.DataFrame) -> list[str]:
    """The alternatives' kinds in words, for the construction chart's subtitle."""
    words = {"normalisation": "each normalisation", "aggregation": "each aggregation",
             "indicator left out": "each indicator left out",
             "imputation": "each imputation rule", "treatment": "each outlier treatment"}
    return [words[k] for k in dict.fromkeys(df["kind"].dropna())]


def scenario_dots(scenarios: pd.DataFrame, info: pd.DataFrame, tiers: tuple[int, ...],
                  spec=None, compact: bool = False) -> alt.TopLevelMixin:
    """The construction lens: each city's rank under each named alternative (nominal
    weights); orange where the alternative puts it in another tier. ``compact``: the phone
    variant (see :func:`rank_uncertainty`)."""
    df = scenarios[scenarios["kind"] != "baseline"][
        ["unit", "scenario", "kind", "rank", "shift", "tier_changed"]]
    df = df.merge(info[["unit", "row", "city", "published_rank", "nominal_rank", "verdict"]],
                  on="unit", how="left")
    df["alternative"] = [scenario_label(spec, s) if spec else s for s in df["scenario"]]
    df["effect"] = np.where(df["tier_changed"], "moves it into another tier", "same tier")
    df["kind"] = df["kind"].map({"normalisation": "normalisation", "aggregation": "aggregation",
                                 "leave_one_out": "indicator left out",
                                 "imputation": "imputation", "treatment": "treatment"})
    order = list(info.sort_values("published_rank")["row"])
    alts = list(dict.fromkeys(df["alternative"]))
    pick = alt.param(name="pick_alternative", value=None, bind=alt.binding_select(
        options=[None, *alts], labels=["all", *alts], name="Alternative "))
    y = alt.Y("row:N", sort=order, title=None, axis=alt.Axis(
        labelFontSize=9, labelLimit=COMPACT_LABEL_LIMIT if compact else 170))
    n = len(info)
    edges = np.cumsum(tiers)[:-1].tolist()
    ticks = alt.Undefined
    if compact:  # about 4 round ticks and the last rank, clear of the tier boundaries
        step = nice_step(n / 4)
        ticks = [1, *edges]
        for t in [*range(step, n + 1, step), n]:
            if all(abs(t - e) > 0.1 * n for e in ticks[1:]):
                ticks.append(t)
    df = df.drop(columns=["unit", "scenario", "tier_changed"])
    base = alt.Chart(df).transform_filter(
        "pick_alternative == null || datum.alternative == pick_alternative")
    dots = base.mark_point(filled=True, size=22, opacity=0.85).encode(
        y=y, x=alt.X("rank:Q", title="rank under the alternative",
                     scale=alt.Scale(domain=[0, n + 1], nice=False),
                     axis=alt.Axis(orient="top", values=ticks)),
        color=alt.Color("effect:N", scale=alt.Scale(
            domain=["moves it into another tier", "same tier"], range=["#E69F00", "#B0B0B0"]),
            # compact: no room for two legends side by side; the subtitle says what orange is
            legend=None if compact else alt.Legend(title=None)),
        shape=alt.Shape("kind:N", scale=alt.Scale(
            domain=["normalisation", "aggregation", "indicator left out", "imputation",
                    "treatment"],
            range=["circle", "square", "triangle-up", "diamond", "cross"]),
            legend=compact_legend("kind") if compact else alt.Legend(title="kind")),
        tooltip=city_tooltips([alt.Tooltip("alternative:N"),
                               alt.Tooltip("rank:Q", title="rank under it"),
                               alt.Tooltip("shift:Q", title="shift from published")]))
    published = alt.Chart(info).mark_point(**PUBLISHED_MARK).encode(
        y=y, x="published_rank:Q", tooltip=city_tooltips())
    subtitle = ["the run file's alternatives: " + ", ".join(_kinds_text(df))
                + "; white diamond: published rank;",
                "orange: the alternative puts the city in another tier"]
    title = ["Lens: construction —", "named alternatives at nominal weights"] if compact \
        else "Lens: construction — named alternatives at nominal weights"
    return alt.layer(dots, published, _tier_edges(tiers)).add_params(pick).properties(
        width=COMPACT_PLOT_WIDTH if compact else PLOT_WIDTH, height=alt.Step(ROW),
        title=alt.Title(title, subtitle=wrap_lines(subtitle) if compact else subtitle))


def group_intervals(groups: pd.DataFrame, info: pd.DataFrame, ds, kind: str,
                    columns: int = 3) -> alt.TopLevelMixin:
    """Within-group robustness for one grouping: one panel per group (wrapped), one lens at a
    time; 90% interval of the within-group rank coloured by the city's verdict, published
    order as a white diamond, the report's within-group tier boundaries dashed."""
    df = groups[groups["group_kind"] == kind][
        ["lens", "group", "group_size", "unit", "published_group_rank", "median", "p05", "p95",
         "p_published_group_tier"]].merge(
        info[["unit", "city", "published_rank", "nominal_rank", "verdict"]], on="unit",
        how="left")
    df["p_published_group_tier"] = df["p_published_group_tier"].round(4)
    present = list(dict.fromkeys(df["lens"]))
    labels = group_value_labels(ds, kind)
    lens = _lens_param(present)
    spec_group = ds.spec.groups[kind]
    panels = []
    best = df.groupby("group")["published_rank"].min().sort_values()
    for name in best.index:
        g = df[df["group"] == name]
        size = int(g["group_size"].iloc[0])
        g = g.copy()
        g["label"] = g["published_group_rank"].astype(str).str.zfill(2) + " " + g["city"]
        order = list(g.drop_duplicates("unit").sort_values("published_group_rank")["label"])
        x_scale = alt.Scale(domain=[0, size + 1], nice=False)
        data = g.drop(columns=["unit", "group", "group_size"])
        base = alt.Chart().transform_filter("datum.lens == lens").encode(
            y=alt.Y("label:N", sort=order, title=None,
                    axis=alt.Axis(labelFontSize=9, labelLimit=140)))
        tooltip = city_tooltips([
            alt.Tooltip("published_group_rank:Q", title="published rank in group"),
            alt.Tooltip("median:Q", title="median rank in group"),
            alt.Tooltip("p05:Q", title="90% from"), alt.Tooltip("p95:Q", title="to"),
            alt.Tooltip("p_published_group_tier:Q", title="P(published group tier)",
                        format=".3f")])
        edges = [e + 0.5 for e in np.cumsum(spec_group.tiers) if e < size]
        layers = [
            base.mark_rule(strokeWidth=2).encode(
                x=alt.X("p05:Q", scale=x_scale, title="rank in the group"), x2="p95:Q",
                color=verdict_color(), tooltip=tooltip),
            base.mark_tick(color="black", thickness=2, size=8).encode(x="median:Q",
                                                                       tooltip=tooltip),
            base.mark_point(**{**PUBLISHED_MARK, "size": 30}).encode(
                x="published_group_rank:Q", tooltip=tooltip),
        ]
        if edges:
            layers.append(alt.Chart(pd.DataFrame({"edge": edges})).mark_rule(
                strokeDash=[4, 3], color="#555").encode(x="edge:Q"))
        panels.append(alt.layer(*layers, data=data).properties(
            width=190, height=alt.Step(11),
            title=alt.Title(f"{labels.get(str(name), name)} ({size})", fontSize=12)))
    title = group_kind_label(ds.spec, kind)
    return alt.concat(*panels, columns=columns).add_params(lens).properties(
        title=alt.Title(_lens_title_expr(present, f"Within-group robustness: {title}, lens: "),
                        subtitle="90% interval of the rank inside the group, coloured by the "
                                 "city's verdict; white diamond: published order; dashed: "
                                 "the report's within-group tiers"))


# Summaries for large indices: every chart below draws counts or quantiles over units, so its
# data grows with the number of bins, not of units (the page embeds no row per unit).

def _stack_by_verdict(counts: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``counts`` (keys, verdict, count) with y/y2: the verdicts stacked in their fixed order
    inside each key (computed here, so that the chart needs no stack transform)."""
    counts = counts.copy()
    counts["order"] = counts["verdict"].map({v: i for i, v in enumerate(VERDICT_ORDER)})
    counts = counts.sort_values([*keys, "order"], kind="stable")
    counts["y2"] = counts.groupby(keys, sort=False)["count"].cumsum()
    counts["y"] = counts["y2"] - counts["count"]
    return counts.drop(columns="order").reset_index(drop=True)


def _lens_verdicts(ranks: pd.DataFrame, info: pd.DataFrame, columns: list[str]
                   ) -> pd.DataFrame:
    return ranks[["lens", "unit", *columns]].merge(info[["unit", "verdict"]], on="unit",
                                                   how="left")


def width_histogram(ranks: pd.DataFrame, info: pd.DataFrame, unit_noun: str = "unit",
                    shared: bool = False) -> alt.TopLevelMixin:
    """How wide each unit's 90% rank interval (p95 - p05) is, one lens at a time: a
    histogram of units stacked by verdict, the median as a black rule. Bins of a round
    width, about 30 per lens. ``shared``: the lens selector is added by the caller (see
    :func:`lens_distributions`)."""
    df = _lens_verdicts(ranks, info, ["p05", "p95"])
    df["width"] = df["p95"] - df["p05"]
    present = list(dict.fromkeys(df["lens"]))
    frames, medians = [], []
    for lens_name in present:
        d = df[df["lens"] == lens_name]
        step = nice_step(max(float(d["width"].max()), 1.0) / 30)
        lo = (d["width"] // step * step).astype(int)
        c = d.assign(lo=lo).groupby(["lo", "verdict"]).size().rename("count").reset_index()
        c["lens"] = lens_name
        c["hi"] = c["lo"] + step
        c["bin"] = [f"{a}–{b - 1}" if step > 1 else str(a) for a, b in zip(c["lo"], c["hi"])]
        frames.append(c)
        medians.append({"lens": lens_name, "median": float(d["width"].median()),
                        "n": len(d)})
    bars = _stack_by_verdict(pd.concat(frames, ignore_index=True), ["lens", "lo"])
    bars["share"] = bars["count"] / bars["lens"].map({m["lens"]: m["n"] for m in medians})
    lens = _lens_param(present)
    x = alt.X("lo:Q", title="width of the 90% interval, p95 − p05 (rank places)",
              scale=alt.Scale(zero=True))
    hist = alt.Chart(bars).transform_filter("datum.lens == lens").mark_bar(
        stroke="white", strokeWidth=0.3).encode(
        x=x, x2="hi:Q", y=alt.Y("y:Q", title=f"{unit_noun}s"), y2="y2:Q",
        color=verdict_color(),
        tooltip=[alt.Tooltip("bin:N", title="width (places)"), alt.Tooltip("verdict:N"),
                 alt.Tooltip("count:Q", title=f"{unit_noun}s", format=","),
                 alt.Tooltip("share:Q", title="share of all", format=".1%")])
    med = pd.DataFrame(medians)
    med["label"] = [f"median {m:g}" for m in med["median"]]
    rule = alt.Chart(med).transform_filter("datum.lens == lens").mark_rule(
        color="black", strokeWidth=1.5).encode(x="median:Q", tooltip=[
            alt.Tooltip("median:Q", title="median width")])
    text = alt.Chart(med).transform_filter("datum.lens == lens").mark_text(
        align="left", dx=4, dy=-4, baseline="top", fontSize=11).encode(
        x="median:Q", y=alt.value(0), text="label:N")
    return _with_lens(alt.layer(hist, rule, text), lens, shared).properties(
        width=560, height=220,
        title=alt.Title(_lens_title_expr(present, "Width of the 90% rank interval, lens: "),
                        subtitle=f"one count per {unit_noun}, stacked by verdict; black "
                                 "rule: the median width"))


def width_along_ranking(ranks: pd.DataFrame, tiers: tuple[int, ...], bins: int = 60,
                        shared: bool = False) -> alt.TopLevelMixin:
    """Where in the ranking the intervals are wide, one lens at a time: the units in bins of
    published rank; per bin the median width of the 90% interval (line) and the 10th-90th
    percentile of the widths (band); tier boundaries dashed."""
    n = int(ranks["published_rank"].max())
    step = max(1, -(-n // bins))
    df = ranks[["lens", "published_rank", "p05", "p95"]].copy()
    df["width"] = df["p95"] - df["p05"]
    df["lo"] = (df["published_rank"] - 1) // step * step + 1
    g = df.groupby(["lens", "lo"], sort=False)["width"]
    out = pd.DataFrame({"median": g.median(), "q10": g.quantile(0.1), "q90": g.quantile(0.9),
                        "count": g.size()}).reset_index()
    out["hi"] = np.minimum(out["lo"] + step - 1, n)
    out["mid"] = (out["lo"] + out["hi"]) / 2
    out["ranks"] = out["lo"].astype(str) + "–" + out["hi"].astype(str)
    present = list(dict.fromkeys(df["lens"]))
    lens = _lens_param(present)
    x = alt.X("mid:Q", title="published rank (1 = best)",
              scale=alt.Scale(domain=[0, n + 1], nice=False))
    tooltip = [alt.Tooltip("ranks:N", title="published ranks"),
               alt.Tooltip("count:Q", title="units"),
               alt.Tooltip("median:Q", title="median width"),
               alt.Tooltip("q10:Q", title="10th percentile"),
               alt.Tooltip("q90:Q", title="90th percentile")]
    base = alt.Chart(out).transform_filter("datum.lens == lens")
    return _with_lens(alt.layer(
        base.mark_area(color="#bdbdbd", opacity=0.7, interpolate="step").encode(
            x=x, y=alt.Y("q10:Q", title="width of the 90% interval (places)"), y2="q90:Q",
            tooltip=tooltip),
        base.mark_line(color="black", strokeWidth=1.5, interpolate="step").encode(
            x="mid:Q", y="median:Q", tooltip=tooltip),
        _tier_edges(tiers),
    ), lens, shared).properties(
        width=560, height=200,
        title=alt.Title(_lens_title_expr(present, "Interval width along the ranking, lens: "),
                        subtitle=f"units in bins of {step} published ranks: black line the "
                                 "median width, grey band the 10th–90th percentile; dashed: "
                                 "tier boundaries"))


def _with_lens(chart, lens: alt.Parameter, shared: bool):
    return chart if shared else chart.add_params(lens)


def lens_distributions(ranks: pd.DataFrame, info: pd.DataFrame, tiers: tuple[int, ...],
                       threshold: float, unit_noun: str = "unit") -> alt.TopLevelMixin:
    """The width histogram, the width along the ranking and the P(published tier) histogram
    one above the other, driven by one lens selector."""
    present = list(dict.fromkeys(ranks["lens"]))
    return alt.vconcat(
        width_histogram(ranks, info, unit_noun, shared=True),
        width_along_ranking(ranks, tiers, shared=True),
        tier_probability_histogram(ranks, info, threshold, unit_noun, shared=True),
        spacing=28).add_params(_lens_param(present))


def verdicts_by_tier(verdicts: pd.DataFrame, spec=None, unit_noun: str = "unit"
                     ) -> alt.TopLevelMixin:
    """The verdict counts inside each published tier (stacked horizontal bars)."""
    c = verdicts.groupby(["published_tier", "verdict"]).size().rename("count").reset_index()
    sizes = verdicts["published_tier"].value_counts()
    c["size"] = c["published_tier"].map(sizes)
    c["share"] = c["count"] / c["size"]
    name = (spec.tier_label if spec is not None else (lambda t: f"tier {t}"))
    c["tier"] = [f"{name(int(t))} ({s:,})" if name(int(t)).startswith("tier")
                 else f"tier {int(t)}: {name(int(t))} ({s:,})"
                 for t, s in zip(c["published_tier"], c["size"])]
    order = list(dict.fromkeys(c.sort_values("published_tier")["tier"]))
    c = _stack_by_verdict(c, ["published_tier"])
    return alt.Chart(c).mark_bar(height=18).encode(
        y=alt.Y("tier:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
        x=alt.X("y:Q", title=f"{unit_noun}s"), x2="y2:Q", color=verdict_color(),
        tooltip=[alt.Tooltip("tier:N", title="published tier"), alt.Tooltip("verdict:N"),
                 alt.Tooltip("count:Q", title=f"{unit_noun}s", format=","),
                 alt.Tooltip("share:Q", title="share of the tier", format=".1%")],
    ).properties(width=560, height=alt.Step(26), title=alt.Title(
        "Verdicts by published tier",
        subtitle=f"{unit_noun}s of each published tier (its size in brackets) by verdict"))


def tier_probability_histogram(ranks: pd.DataFrame, info: pd.DataFrame, threshold: float,
                               unit_noun: str = "unit", step: float = 0.05,
                               shared: bool = False) -> alt.TopLevelMixin:
    """P(published tier), one lens at a time, for the units that leave their tier in some
    scenario: a histogram in bins of ``step`` stacked by verdict, the flag threshold dashed;
    the units that never leave it (P = 1) are counted in a line of text, not drawn."""
    df = _lens_verdicts(ranks, info, ["p_published_tier"])
    present = list(dict.fromkeys(df["lens"]))
    p = df["p_published_tier"].to_numpy(dtype=float)
    df["never"] = p >= 1.0
    k = round(1 / step)
    df["lo"] = np.minimum(np.floor(p * k + 1e-9), k - 1) / k
    leave = df[~df["never"]]
    c = leave.groupby(["lens", "lo", "verdict"]).size().rename("count").reset_index()
    c["hi"] = c["lo"] + 1 / k
    c["bin"] = [f"{a:.2f}–{b:.2f}" for a, b in zip(c["lo"], c["hi"])]
    bars = _stack_by_verdict(c, ["lens", "lo"])
    n = df.groupby("lens", sort=False).size()
    never = df.groupby("lens", sort=False)["never"].sum()
    text = pd.DataFrame({"lens": n.index, "never": never.reindex(n.index).to_numpy(),
                         "n": n.to_numpy()})
    text["label"] = [f"P = 1 (never leaves its tier): {a:,} of {b:,} {unit_noun}s, not drawn"
                     for a, b in zip(text["never"], text["n"])]
    lens = _lens_param(present)
    x = alt.X("lo:Q", title="P(published tier)", scale=alt.Scale(domain=[0, 1]))
    hist = alt.Chart(bars).transform_filter("datum.lens == lens").mark_bar(
        stroke="white", strokeWidth=0.3).encode(
        x=x, x2="hi:Q", y=alt.Y("y:Q", title=f"{unit_noun}s"), y2="y2:Q",
        color=verdict_color(),
        tooltip=[alt.Tooltip("bin:N", title="P(published tier)"), alt.Tooltip("verdict:N"),
                 alt.Tooltip("count:Q", title=f"{unit_noun}s", format=",")])
    flag = alt.Chart(pd.DataFrame({"t": [threshold],
                                   "label": [f"flag threshold {threshold:g}"]}))
    return _with_lens(alt.layer(
        hist,
        flag.mark_rule(strokeDash=[4, 3], color="#555").encode(x="t:Q"),
        flag.mark_text(align="right", dx=-4, baseline="top", fontSize=10, color="#555").encode(
            x="t:Q", y=alt.value(2), text="label:N"),
        alt.Chart(text).transform_filter("datum.lens == lens").mark_text(
            align="left", baseline="top", fontSize=11).encode(
            x=alt.value(4), y=alt.value(2), text="label:N"),
    ), lens, shared).properties(
        width=560, height=220,
        title=alt.Title(_lens_title_expr(present, "P(published tier), lens: "),
                        subtitle=f"{unit_noun}s that leave their published tier in some "
                                 f"scenario, in bins of {step:g}, stacked by verdict"))


def alternatives_summary(scenarios: pd.DataFrame, spec=None, unit_noun: str = "unit"
                         ) -> alt.TopLevelMixin:
    """The construction lens in counts: for each named alternative, how many units it puts
    in another tier (orange) and how far it moves ranks (median and 90th percentile of
    |rank - published rank|)."""
    df = scenarios[scenarios["kind"] != "baseline"]
    g = df.assign(abs_shift=df["shift"].abs()).groupby("scenario", sort=False)
    out = pd.DataFrame({"moved": g["tier_changed"].sum().astype(int),
                        "n": g.size(), "median": g["abs_shift"].median(),
                        "q90": g["abs_shift"].quantile(0.9),
                        "max": g["abs_shift"].max()}).reset_index()
    out["share"] = out["moved"] / out["n"]
    out["alternative"] = [scenario_label(spec, s) if spec else s for s in out["scenario"]]
    out = out.drop(columns="scenario")
    order = list(out["alternative"])
    y = alt.Y("alternative:N", sort=order, title=None, axis=alt.Axis(labelLimit=300))
    tooltip = [alt.Tooltip("alternative:N"),
               alt.Tooltip("moved:Q", title=f"{unit_noun}s in another tier", format=","),
               alt.Tooltip("share:Q", title="share", format=".1%"),
               alt.Tooltip("median:Q", title="median |shift|"),
               alt.Tooltip("q90:Q", title="90th percentile |shift|"),
               alt.Tooltip("max:Q", title="largest |shift|")]
    base = alt.Chart(out).encode(y=y, tooltip=tooltip)
    moved = base.mark_bar(color="#E69F00", height=12).encode(
        x=alt.X("moved:Q", title=f"{unit_noun}s put in another tier")).properties(
        width=260, height=alt.Step(20))
    right = alt.Chart(out).encode(y=alt.Y("alternative:N", sort=order, title=None, axis=None),
                                  tooltip=tooltip)
    shift = alt.layer(
        right.mark_bar(color="#B0B0B0", height=12).encode(
            x=alt.X("median:Q", title="|rank − published rank|: median (bar), 90th "
                                      "percentile (tick)")),
        right.mark_tick(color="black", thickness=2, size=14).encode(x="q90:Q"),
    ).properties(width=260, height=alt.Step(20))
    return alt.hconcat(moved, shift).properties(
        title=alt.Title("Lens: construction — named alternatives at nominal weights",
                        subtitle=f"how many {unit_noun}s each alternative puts in another "
                                 "tier, and how far it moves ranks"))


__all__ = [
    "LENS_SHORT",
    "acceptability",
    "alternatives_summary",
    "city_tooltips",
    "configure",
    "correlations",
    "group_intervals",
    "lens_distributions",
    "rank_uncertainty",
    "scenario_dots",
    "sobol_bars",
    "sobol_heatmap",
    "tier_probabilities",
    "tier_probability_histogram",
    "verdicts_by_tier",
    "weights_importance",
    "width_along_ranking",
    "width_histogram",
]
