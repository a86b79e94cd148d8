"""The page of a large index (more than ``build.LARGE_PAGE_UNITS`` units): what a reader can
use when one row per unit is no longer readable, in a page whose size grows with the verdict
table only.

- summary distributions over units: the width of the 90% rank interval (per lens), the width
  along the ranking (per lens), the verdicts inside each published tier, P(published tier)
  (per lens), the construction lens's alternatives in counts, the within-group tiers in a
  table;
- the most fragile units' intervals: the usual rank-uncertainty chart restricted to the
  units :func:`fragile_selection` picks (its subtitle says which and why);
- the verdict table with search, filters, sorting and paging: every unit's row embedded once
  as compact JSON and drawn 50 rows at a time by :data:`page.PAGED_TABLE_SCRIPT`;
- a note that the CSV files keep every unit.

Every chart here embeds counts or quantiles per bin, never a row per unit (the fragile chart
embeds its ``FRAGILE_SHOWN`` units' rows).
"""

from __future__ import annotations

import pandas as pd

from cityindex.report.labels import (
    LENS_SHORT,
    group_kind_label,
    group_value_labels,
    scenario_label,
    verdict_text,
)
from cityindex.report.page import esc, json_script, verdict_table_header
from cityindex.sensitivity.extremes import bounds_words
from cityindex.vocabulary import VERDICTS

FRAGILE_SHOWN = 50   # units in the fragile-units chart
PAGE_ROWS = 50       # verdict-table rows per page
REPRODUCTION_ROWS = 200  # inconsistencies listed on the page (reproduction.csv: all)

# Extra style for the large page only (the small page's bytes do not change).
LARGE_CSS = """
.large-note { background: #f4f6f8; border-left: 6px solid #222; padding: .6em 1em;
              max-width: 900px; font-size: .92em; }
.large-note p { margin: .3em 0; }
.pager { margin: .4em 0; }
.pager button:disabled { opacity: .45; cursor: default; }
#verdict-page { font-size: .85em; color: #444; }
"""

# What each per-unit file holds, for the note (only the files the run wrote are named).
UNIT_FILES = {
    "verdicts": "one verdict per unit, its reasons and the numbers of the table below",
    "fragile": "the units that are not robust",
    "ranks": "every lens's median, 50% and 90% intervals, P(each tier), per unit",
    "acceptability": "each unit's rank histogram, per lens",
    "groups": "each unit's rank and tier within its groups, per lens",
    "scenarios": "each unit's rank under each named alternative construction",
    "extremes": "best and worst ranks over the admissible weights",
    "rank_ci": "simultaneous rank confidence sets under measurement noise (coverage: "
               "summary.json, run.rank_ci)",
    "noise": "ranks under measurement noise",
    "resample": "ranks under unit resampling",
    "sobol": "each unit's Sobol' indices",
    "dominance": "pairs of units one of which dominates the other",
}


def fragile_selection(verdicts: pd.DataFrame, k: int = FRAGILE_SHOWN) -> pd.DataFrame:
    """The ``k`` units least likely to keep their published tier under the weights lens:
    lowest P(published tier) first; among equals, the widest 90% interval (p95 - p05)
    relative to the size of the published tier (the number of units published in it); then
    the better published rank, then the unit id. Returns their verdict rows in that order,
    with ``relative_width``."""
    v = verdicts
    size = v["published_tier"].map(v["published_tier"].value_counts())
    key = v.assign(relative_width=(v["weights_p95"] - v["weights_p05"]) / size)
    key = key.sort_values(["weights_p_published_tier", "relative_width", "published_rank",
                           "unit"], ascending=[True, False, True, True], kind="stable")
    return key.head(k)


def _int_or_none(x):
    return None if x is None or pd.isna(x) else int(x)


def verdict_rows(ds, verdicts: pd.DataFrame, info: pd.DataFrame) -> dict:
    """Every unit's verdict-table row as compact JSON-ready lists, in published order:
    verdicts, alternatives and the clauses of the reasons (the parts between "; ", which
    repeat from unit to unit) as indices into their own lists."""
    spec = ds.spec
    v = verdicts.sort_values(["published_rank", "unit"], kind="stable")
    alt_codes = [a if isinstance(a, str) else "" for a in v["construction_worst"]]
    alternatives = list(dict.fromkeys(["", *alt_codes]))
    alt_index = {a: i for i, a in enumerate(alternatives)}
    labels = [scenario_label(spec, a, short=True) if a else "" for a in alternatives]
    vindex = {name: i for i, name in enumerate(VERDICTS)}
    nominal = dict(zip(info["unit"], info["nominal_rank"]))
    clauses: dict[str, int] = {}
    reasons = [[clauses.setdefault(c, len(clauses)) for c in r.split("; ") if c]
               if isinstance(r, str) else [] for r in v["reasons"]]
    p = v["weights_p_published_tier"].astype(float).round(3)
    cols = {c: [_int_or_none(x) for x in v[c]]
            for c in ("weights_p05", "weights_p95", "era_best", "era_worst", "noise_lower",
                      "noise_upper", "construction_shift")}
    rows = [
        [int(rank), ds.label(u), int(tier), vindex[verdict],
         None if pd.isna(pp) else float(pp), lo, hi, best, worst, nlo, nhi,
         alt_index[a], shift, 1 if err else 0, why, _int_or_none(nominal.get(u))]
        for rank, u, tier, verdict, pp, lo, hi, best, worst, nlo, nhi, a, shift, err, why
        in zip(v["published_rank"], v["unit"], v["published_tier"], v["verdict"], p,
               cols["weights_p05"], cols["weights_p95"], cols["era_best"], cols["era_worst"],
               cols["noise_lower"], cols["noise_upper"], alt_codes, cols["construction_shift"],
               v["erratum"], reasons)]
    return {"verdicts": list(VERDICTS), "alternatives": labels, "clauses": list(clauses),
            "page_size": PAGE_ROWS, "rows": rows}


def paged_verdict_table_html(ds, verdicts: pd.DataFrame, info: pd.DataFrame) -> str:
    """The verdict table of a large index: the controls, an empty table and every row as
    JSON; :data:`page.PAGED_TABLE_SCRIPT` draws it a page at a time."""
    one = ds.spec.unit
    words = bounds_words(verdicts.attrs.get("extremes"))
    ths = verdict_table_header(one, f"{words} rank over every admissible weighting (ERA)"
                               + ("" if words.startswith("exact")
                                  else ": inner bounds, the true range may be wider"), words,
                               verdicts.attrs.get("coverage"))
    buttons = "".join(
        f"<button type='button' data-filter-verdict='{esc(v)}' class='filter verdict-{esc(v)}'>"
        f"{esc(v)} ({int((verdicts.verdict == v).sum()):,})</button>" for v in VERDICTS)
    legend = "".join(f"<li><span class='chip verdict-{esc(v)}'>{esc(v)}</span> {esc(t)}</li>"
                     for v, t in verdict_text(verdicts.attrs.get("coverage")).items())
    buttons_html = "".join(f"<button type='button' data-page='{esc(k)}'>{esc(label)}</button>"
                           for k, label in (("first", "« first"), ("previous", "‹ previous"),
                                            ("next", "next ›"), ("last", "last »")))
    pager = (f"<div class='controls pager'>{buttons_html}"
             "<span id='verdict-page' aria-live='polite'></span></div>")
    return (
        "<div class='controls'><button type='button' data-filter-verdict='all' "
        f"class='filter'>all ({len(verdicts):,})</button>{buttons}"
        f"<label>find <input id='verdict-search' type='search' "
        f"placeholder='{esc(one)}, reason…'>"
        "</label> <span id='verdict-count'></span></div>"
        f"<ol class='verdict-legend'>{legend}</ol>{pager}"
        "<div class='table-wrap scroll'><table id='verdict-table' class='sortable'>"
        f"<thead><tr>{ths}</tr></thead><tbody></tbody></table></div>"
        f"<div class='controls pager'>{buttons_html}</div>"
        + json_script("verdict-data", verdict_rows(ds, verdicts, info), separators=(",", ":")))


def large_note(ds, tables: dict[str, pd.DataFrame]) -> str:
    """Says what the page draws instead of one row per unit, and which files keep every
    unit."""
    spec = ds.spec
    files = "; ".join(f"<b>{esc(name)}.csv</b> ({esc(text)})"
                      for name, text in UNIT_FILES.items() if name in tables)
    return (
        f"<div class='large-note'><p><b>{ds.n_units:,} {esc(spec.units)}</b>: too "
        f"many to draw one row per {esc(spec.unit)}. This page shows distributions "
        f"over the {esc(spec.units)}, the intervals of the {FRAGILE_SHOWN} most "
        f"fragile, and every {esc(spec.unit)}'s verdict in a table you can search, "
        "filter, sort and page through.</p>"
        f"<p><b>The CSV files beside this page keep every {esc(spec.unit)}</b>: "
        f"{files}.</p></div>")


def fragile_subtitle(ds, chosen: pd.DataFrame, threshold: float) -> list[str]:
    """Which units the fragile chart shows and why, then how to read it (lines of about 110
    characters: the chart is 700 px wide)."""
    spec = ds.spec
    k, n = len(chosen), ds.n_units
    below = int((chosen["weights_p_published_tier"] < 1).sum())
    ws = int((chosen["verdict"] == "weight-sensitive").sum())
    return [
        f"Shown: the {k} of {n:,} {spec.units} least likely to keep their published tier "
        "under the weights lens (lowest P(published tier)",
        "first, then the widest 90% interval relative to the size of the tier). Of these, "
        f"{below} leave their tier in some scenario",
        f"and {ws} are weight-sensitive (P < {threshold:g}, tier not guaranteed). All "
        f"{spec.units}: the verdict table.",
        "Grey band: best–worst rank over the admissible weights (weights lens) or the "
        "simultaneous rank confidence set",
        "(noise lens); bar: 50% and line: 90% interval; black tick: median; white diamond: "
        "published rank;",
        f"dashed: tier boundaries; colour: the {spec.unit}'s verdict (one per {spec.unit}, "
        "all lenses)."]


def group_summary_html(ds, groups: pd.DataFrame) -> str:
    """Per grouping and group: its units and, per lens, how many of them keep their
    within-group tier with probability below 0.9 (group_tier_fragile)."""
    spec = ds.spec
    lenses = list(dict.fromkeys(groups["lens"]))
    c = (groups.groupby(["group_kind", "group", "lens"], sort=False)
         .agg(size=("group_size", "first"), fragile=("group_tier_fragile", "sum"))
         .reset_index())
    wide = c.pivot_table(index=["group_kind", "group", "size"], columns="lens",
                         values="fragile", sort=False).reset_index()
    head = ["grouping", "group", spec.units, *(f"fragile group tier: {LENS_SHORT[x]}"
                                               for x in lenses)]
    body = []
    for kind in spec.groups:
        sub = wide[wide["group_kind"] == kind].sort_values("size", ascending=False,
                                                            kind="stable")
        labels = group_value_labels(ds, kind)
        for r in sub.to_dict("records"):
            cells = [group_kind_label(spec, kind), labels.get(str(r["group"]), r["group"]),
                     f"{int(r['size']):,}",
                     *("" if pd.isna(r.get(x)) else f"{int(r[x]):,}" for x in lenses)]
            body.append("<tr>" + "".join(f"<td>{esc(x)}</td>" for x in cells) + "</tr>")
    ths = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (f"<div class='table-wrap'><table><thead><tr>{ths}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")

