"""The shape every analysis returns: a results object in the style of statsmodels (numbers as
attributes, ``summary()``) and SALib's ``ProblemSpec`` (``to_df()``, ``plot()``).

Shared defaults live here: ``_repr_html_`` (a compact summary table for Jupyter) and the
simple Altair charts several results draw (rank intervals, bars, dots). Every chart is
unconfigured, so ``alt.hconcat(r.chart(), r.chart())`` composes.
"""

from __future__ import annotations

import html
import math

import pandas as pd

REPR_ROWS = 16      # rows of the Jupyter summary table
REPR_ITEMS = 5      # items shown of a list or mapping
CHART_ROW = 9       # pixels per unit in the rank-interval charts
CHART_ROWS = 120    # units drawn at most by the simple per-unit charts (the best ranked)


class Result:
    """Base of every analysis result.

    ``tables()`` maps each output file's stem (``"ranks"`` for ranks.csv) to a tidy DataFrame;
    ``table()`` is the main one; ``summary()`` is a JSON-ready dict; ``chart()`` an unconfigured
    Altair chart (so ``alt.hconcat``/``alt.vconcat`` work); ``_repr_html_()`` a compact
    summary table for Jupyter.
    """

    name: str = "result"

    def tables(self) -> dict[str, pd.DataFrame]:
        raise NotImplementedError

    def table(self) -> pd.DataFrame:
        return next(iter(self.tables().values()))

    def to_df(self) -> pd.DataFrame:
        """The main table (SALib's name for it)."""
        return self.table()

    def summary(self) -> dict:
        return {}

    def chart(self):
        """The summary's numbers as bars (results with a chart of their own override it)."""
        import altair as alt

        rows = [{"quantity": k.replace("_", " "), "value": float(v)}
                for k, v in self.summary().items()
                if isinstance(v, int | float) and not isinstance(v, bool)
                and math.isfinite(float(v))]
        return alt.Chart(pd.DataFrame(rows, columns=["quantity", "value"])).mark_bar().encode(
            y=alt.Y("quantity:N", title=None, sort=None), x=alt.X("value:Q", title=None),
            tooltip=["quantity:N", "value:Q"]).properties(title=self.title())

    def plot(self):
        """The chart (SALib's name for it)."""
        return self.chart()

    def title(self) -> str:
        """A short name for the result, for chart titles and the Jupyter table."""
        return self.name.replace("_", " ")

    def _repr_html_(self) -> str:
        return summary_html(self.title(), self.summary(), self._shapes())

    def _shapes(self) -> str:
        try:
            return ", ".join(f"{k}.csv {v.shape[0]} x {v.shape[1]}"
                             for k, v in self.tables().items())
        except NotImplementedError:
            return ""

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {v.shape[0]}x{v.shape[1]}" for k, v in self.tables().items())
        return f"<{type(self).__name__} {shapes}>"


# -- Jupyter ---------------------------------------------------------------------------------


def _short(value) -> str:
    """One cell of the summary table: scalars as they are, lists and mappings cut short."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        items = list(value.items())
        text = ", ".join(f"{k}: {_short(v)}" if not isinstance(v, dict | list)
                         else f"{k}: ({len(v)})" for k, v in items[:REPR_ITEMS])
        return text + (f", … ({len(items)} in all)" if len(items) > REPR_ITEMS else "")
    if isinstance(value, list | tuple):
        shown = ", ".join(_short(v) if not isinstance(v, dict | list) else "…"
                          for v in value[:REPR_ITEMS])
        if not value:
            return "none"
        return shown + (f", … ({len(value)} in all)" if len(value) > REPR_ITEMS else "")
    return str(value)


def summary_html(title: str, summary: dict, shapes: str = "") -> str:
    """A small HTML table of a summary: one row per key (the first REPR_ROWS), long values
    cut short; every string escaped."""
    rows = list(summary.items())
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k).replace('_', ' '))}"
                   f"</th><td style='text-align:left'>{html.escape(_short(v))}</td></tr>"
                   for k, v in rows[:REPR_ROWS])
    more = (f"<tr><td colspan='2'>… {len(rows) - REPR_ROWS} more in summary()</td></tr>"
            if len(rows) > REPR_ROWS else "")
    caption = html.escape(title) + (f" <small>({html.escape(shapes)})</small>" if shapes
                                     else "")
    return (f"<table><caption style='text-align:left'><b>{caption}</b></caption>"
            f"{body}{more}</table>")


# -- simple charts ---------------------------------------------------------------------------


def rank_interval_chart(frame: pd.DataFrame, lower: str, upper: str, point: str,
                        title: str, subtitle: str = "", order: str | None = None,
                        color: str | None = None, label: str = "unit"):
    """One row per unit: a rule from ``lower`` to ``upper`` and a dot at ``point`` (ranks,
    1 = best, at the top), sorted by ``order`` (default ``point``); ``color`` an optional
    column for the rule's colour. At most CHART_ROWS units (the first in that order)."""
    import altair as alt

    order = order or point
    cols = list(dict.fromkeys(c for c in ("unit", label, lower, upper, point, order, color)
                              if c))
    df = frame[cols].sort_values(order, kind="stable").head(CHART_ROWS).copy()
    df["row"] = df[label].astype(str)
    y = alt.Y("row:N", sort=list(dict.fromkeys(df["row"])), title=None,
              axis=alt.Axis(labelLimit=160))
    x_title = "rank (1 = best)"
    tips = [alt.Tooltip("row:N", title=label), alt.Tooltip(f"{lower}:Q"),
            alt.Tooltip(f"{upper}:Q"), alt.Tooltip(f"{point}:Q")]
    rule_enc = {"y": y, "x": alt.X(f"{lower}:Q", title=x_title), "x2": f"{upper}:Q",
                "tooltip": tips}
    if color:
        rule_enc["color"] = alt.Color(f"{color}:N")
    base = alt.Chart(df)
    rule = base.mark_rule(strokeWidth=3, opacity=0.6).encode(**rule_enc)
    dot = base.mark_point(shape="diamond", filled=True, color="black", size=24).encode(
        y=y, x=alt.X(f"{point}:Q", title=x_title), tooltip=tips)
    return alt.layer(rule, dot).properties(
        width=360, height=alt.Step(CHART_ROW),
        title=alt.Title(title, subtitle=subtitle) if subtitle else title)


def bar_chart(frame: pd.DataFrame, category: str, value: str, title: str,
              value_title: str | None = None, subtitle: str = ""):
    """Horizontal bars, one per category, in the frame's order."""
    import altair as alt

    return alt.Chart(frame).mark_bar().encode(
        y=alt.Y(f"{category}:N", sort=list(dict.fromkeys(frame[category].astype(str))),
                title=None, axis=alt.Axis(labelLimit=220)),
        x=alt.X(f"{value}:Q", title=value_title or value),
        tooltip=[f"{category}:N", f"{value}:Q"]).properties(
        width=300, title=alt.Title(title, subtitle=subtitle) if subtitle else title)
