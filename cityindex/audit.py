"""Reproduction audit: do the published numbers follow from the published method?

Every published value is known only to +-half a unit in its last printed place. A recomputed
aggregate sum_k w_k c_k from printed children c_k is therefore consistent with a printed parent p
when |sum_k w_k c_k - p| <= sum_k w_k h_k + h_p (interval arithmetic: the true children lie in
[c_k - h_k, c_k + h_k], the true parent in [p - h_p, p + h_p], and the weighted sum of intervals
is an interval). The tolerance is derived, never guessed; a tiny 1e-9 absorbs float error.

Checks (each finding names the unit, node, published and recomputed values and the tolerance):

1. ``aggregate``     each aggregate from its published children; the root also from the
                     indicators through the effective weights.
2. ``rank_order``    each published rank against the published scores: a unit's rank must lie
                     in [1 + #units printed strictly higher, #units printed at least as high];
                     ranks must be 1..n without gaps.
3. ``subtable``      every sub-table row against the main tables: value, within-group rank,
                     group membership, and that a top-n table holds the group's top n.
4. ``claim``         the report's text statements about tiers and positions (claims.csv).
5. ``normalisation`` each indicator against its declared normalisation: min-max scores must
                     attain 0 and 100; rating/5 scores must lie in [0, 100].

Observations that are not contradictions (quantisation grids and off-grid values, printed ties
broken by the report) are returned as ``notes`` and the indicator ``profile``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from cityindex.construction import AGGREGATIONS, IMPUTATIONS
from cityindex.construction.imputation import impute
from cityindex.data import Dataset
from cityindex.quantisation import detect_grid
from cityindex.rank import rank_desc
from cityindex.result import Result, bar_chart, summary_html
from cityindex.vocabulary import counted

FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class Finding:
    check: str
    unit: str
    node: str
    published: float | int | str
    recomputed: float | int | str
    tolerance: float
    detail: str
    source: str = ""

    @property
    def difference(self) -> float | None:
        if isinstance(self.published, int | float) and isinstance(self.recomputed, int | float):
            return round(float(self.published) - float(self.recomputed), 10)
        return None


@dataclass
class ReproductionResult(Result):
    """The reproduction audit of one data folder (statsmodels-style results object):
    ``table()`` the inconsistencies, ``summary()`` their counts, ``text()`` a readable
    report."""

    dataset: str
    inconsistencies: list[Finding]
    notes: list[Finding]
    profile: pd.DataFrame
    rank_differences: pd.DataFrame
    checks: dict[str, int] = field(default_factory=dict)
    not_ranked: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["unit", "reason"]))
    blank_published: dict[str, int] = field(default_factory=dict)
    has_published: bool = True

    name = "reproduction"

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"reproduction": self.table(), "indicator_profile": self.profile}

    def summary(self) -> dict:
        out = {"inconsistencies": len(self.inconsistencies),
               "by_check": {k: sum(f.check == k for f in self.inconsistencies)
                            for k in self.checks}}
        if len(self.not_ranked):
            out["not_ranked"] = len(self.not_ranked)
        if self.blank_published:
            out["blank_published"] = dict(self.blank_published)
        if not self.has_published:
            out["published"] = False
        return out

    def table(self, which: str = "inconsistencies") -> pd.DataFrame:
        rows = [{**asdict(f), "difference": f.difference} for f in getattr(self, which)]
        cols = ["check", "unit", "node", "published", "recomputed", "difference", "tolerance",
                "detail", "source"]
        return pd.DataFrame(rows, columns=cols)

    def to_dict(self) -> dict:
        def clean(rec: dict) -> dict:
            return {k: (None if isinstance(v, float) and np.isnan(v) else v)
                    for k, v in rec.items()}
        return {
            "dataset": self.dataset,
            "checks": self.checks,
            "n_inconsistencies": len(self.inconsistencies),
            "inconsistencies": [clean(r) for r in self.table().to_dict("records")],
            "notes": [clean(r) for r in self.table("notes").to_dict("records")],
            "indicator_profile": [clean(r) for r in self.profile.to_dict("records")],
            "rank_differences": [clean(r) for r in self.rank_differences.to_dict("records")],
            **({"not_ranked": self.not_ranked.to_dict("records")} if len(self.not_ranked)
               else {}),
            **({"blank_published": dict(self.blank_published)} if self.blank_published
               else {}),
            **({"published": False} if not self.has_published else {}),
        }

    def text(self) -> str:
        lines = [f"Reproduction audit of {self.dataset}"]
        if not self.has_published:
            lines.append("no published.csv: a draft index, nothing published to check (the "
                         "recomputed ranking stands in for the published one)")
        lines.append("checks run: " + ", ".join(f"{k} {v}" for k, v in self.checks.items()))
        if self.blank_published:
            lines.append("blank published values, not checked: " + ", ".join(
                f"{node} {n}" for node, n in self.blank_published.items()))
        if len(self.not_ranked):
            lines.append(f"{len(self.not_ranked)} units not ranked:")
            lines.extend(f"  {r['unit']}: {r['reason']}"
                         for r in self.not_ranked.to_dict("records"))
        lines.append(f"{len(self.inconsistencies)} inconsistencies:")
        for f in self.inconsistencies:
            diff = f.difference
            num = f" (diff {diff:+.4g}, tolerance {f.tolerance:.4g})" if diff is not None else ""
            lines.append(f"  [{f.check}] {f.unit} / {f.node}: published {f.published}, "
                         f"expected {f.recomputed}{num}. {f.detail}"
                         + (f" [{f.source}]" if f.source else ""))
        lines.append("indicator profile (declared normalisation, range, quantisation):")
        for rec in self.profile.to_dict("records"):
            if not rec.get("n"):
                lines.append(f"  {rec['indicator']} [{rec['normalisation']}]: no value for "
                             "any ranked unit")
                continue
            grid = (f"grid step {rec['grid_step']:.6g} ({rec['grid_levels']:.4g} steps to 100, "
                    f"{rec['grid_coverage']:.0%} on grid; off: {rec['off_grid'] or 'none'})"
                    if rec["grid_step"] == rec["grid_step"] else "no grid")
            treated = (f"; treatment {rec['treatment']}: {rec['treatment_detail']}"
                       if rec.get("treatment", "none") != "none" else "")
            lines.append(f"  {rec['indicator']} [{rec['normalisation']}]: "
                         f"min {rec['min']:g}, max {rec['max']:g}, {rec['n_tied']} tied; {grid}"
                         f"{treated}")
        if len(self.rank_differences):
            lines.append("recomputed ranks that differ from the published ones:")
            for rec in self.rank_differences.to_dict("records"):
                lines.append(f"  {rec['unit']} / {rec['node']}: published {rec['published_rank']}"
                             f", recomputed {rec['recomputed_rank']} ({rec['explanation']})")
        if self.notes:
            lines.append(f"{len(self.notes)} notes (consistent, but worth knowing):")
            lines.extend(f"  [{n.check}] {n.unit} / {n.node}: {n.detail}" for n in self.notes)
        lines.append(self.verdict())  # the last line: what the audit found, in one line
        return "\n".join(lines)

    def counts_by_check(self) -> dict[str, int]:
        """Inconsistencies per check, in the order the checks ran (every check, zeros too)."""
        kinds = list(dict.fromkeys([*self.checks, *(f.check for f in self.inconsistencies)]))
        return {k: sum(f.check == k for f in self.inconsistencies) for k in kinds}

    def verdict(self) -> str:
        """The audit in one line: inconsistencies by kind, then the units not ranked, e.g.
        '39 inconsistencies: 3 aggregate, 33 claim, 3 normalisation; 4 units not ranked'."""
        n = len(self.inconsistencies)
        if n:
            kinds = ", ".join(f"{v} {k.replace('_', ' ')}"
                              for k, v in self.counts_by_check().items() if v)
            text = f"{counted(n, 'inconsistency', 'inconsistencies')}: {kinds}"
        elif not self.has_published:
            text = "no inconsistencies (nothing published to check)"
        else:
            text = ("no inconsistencies: the published numbers follow from the published "
                    "method")
        if len(self.not_ranked):
            text += f"; {counted(len(self.not_ranked), 'unit')} not ranked"
        return text

    def title(self) -> str:
        return f"reproduction audit of {self.dataset}"

    def _repr_html_(self) -> str:
        summary = {"verdict": self.verdict(), "checks run": dict(self.checks),
                   **self.summary()}
        return summary_html(self.title(), summary, self._shapes())

    def chart(self):
        """Inconsistencies by check (bars; every check that ran, zeros included)."""
        counts = self.counts_by_check()
        frame = pd.DataFrame({"check": [k.replace("_", " ") for k in counts],
                              "inconsistencies": list(counts.values()),
                              "checked": [self.checks.get(k, 0) for k in counts]})
        return bar_chart(frame, "check", "inconsistencies", self.title(),
                         "inconsistencies found", self.verdict())


def half_unit(decimals: pd.DataFrame | pd.Series | np.ndarray) -> np.ndarray:
    return 0.5 * 10.0 ** -np.asarray(decimals, dtype=float)


def _fmt(x: float, decimals: int) -> float:
    return round(float(x), decimals + 3)


def _monotone(spec, node: str) -> bool:
    """Every aggregation at or below ``node`` is increasing in each child."""
    return all(AGGREGATIONS[spec.nodes[a].aggregation].monotone
               for a in spec.postorder(node) if spec.children(a))


def node_interval(ds: Dataset, node: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit's score of ``node`` recomputed from the indicators through the dataset's
    pipeline (gaps, exceptions and imputation as declared), and the interval its printed
    indicators allow: for aggregations increasing in each indicator the node at the
    indicators' lower and upper ends; otherwise a first-order bound (sum over indicators of
    the change from moving each by its half-unit, doubled)."""
    spec = ds.spec
    x = ds.matrix
    h = ds.indicator_half[spec.indicators].to_numpy()
    if ds.pipeline.linear:
        eff = spec.effective_weights(node=node).reindex(spec.indicators, fill_value=0.0)
        mid = x @ eff.to_numpy()
        tol = h @ eff.to_numpy()
        return mid, mid - tol, mid + tol
    lo_scale = spec.scale[0] if any(AGGREGATIONS[spec.nodes[a].aggregation].positive
                                    for a in spec.aggregates) else -np.inf

    def at(v: np.ndarray) -> np.ndarray:
        return ds.pipeline.evaluate(v, node=node)

    mid = at(x)
    if _monotone(spec, node):
        return mid, at(np.maximum(x - h, lo_scale)), at(x + h)
    tol = np.zeros_like(mid)
    for j in range(x.shape[1]):
        step = np.zeros_like(x)
        step[:, j] = np.nan_to_num(h[:, j])
        tol += np.abs(at(x + step) - at(np.maximum(x - step, lo_scale))) / 2
    return mid, mid - 2 * tol, mid + 2 * tol


def _children_interval(ds: Dataset, node: str, values: pd.DataFrame, halfs: pd.DataFrame
                       ) -> tuple[np.ndarray, np.ndarray, str]:
    """``node`` from its printed children: the recomputed value and its tolerance (interval
    arithmetic: sum w_k h_k for a weighted sum; the ends of the interval for any aggregation
    increasing in each child; a doubled first-order bound otherwise). A blank child is
    imputed from the printed values of its column by the child's rule, or left out with
    its siblings reweighted."""
    spec = ds.spec
    kids = spec.children(node)
    w = np.array([spec.nodes[k].weight for k in kids])
    c, h = values[kids].to_numpy(), halfs[kids].to_numpy()
    op = AGGREGATIONS[spec.nodes[node].aggregation]
    blank = np.isnan(c)
    if op.name == "arithmetic" and not blank.any():
        how = f"{node} = " + " + ".join(f"{wk:g}*{k}" for wk, k in zip(w, kids))
        return c @ w, h @ w, how
    m = ~blank
    for j, k in enumerate(kids):
        rule = IMPUTATIONS[spec.nodes[k].impute]
        if rule.fill is not None and blank[:, j].any():
            groups = ds.pipeline.groups.get(k)
            filled, avail = impute(rule, c[:, j], m[:, j], blank[:, j], groups)
            c[:, j], m[:, j] = filled, avail
            h[:, j] = np.where(blank[:, j], 0.0, h[:, j])
    h = np.nan_to_num(h)
    wm = w[None, None, :] * m[None]
    den = wm.sum(axis=-1)

    def f(v: np.ndarray) -> np.ndarray:
        return op.combine(v, wm, m, den, 0.0, {"p": spec.nodes[node].p})[0]

    mid = np.where(m.any(axis=1), f(c), np.nan)
    if op.monotone:
        lo_v = np.maximum(c - h, 0.0) if op.positive else c - h
        tol = np.maximum(f(c + h) - mid, mid - f(lo_v))
    else:
        tol = np.zeros_like(mid)
        for j in range(len(kids)):
            step = np.zeros_like(c)
            step[:, j] = h[:, j]
            tol += np.abs(f(c + step) - f(c - step)) / 2
        tol = 2 * tol
    if op.name == "arithmetic":
        how = f"{node} = " + " + ".join(f"{wk:g}*{k}" for wk, k in zip(w, kids))
    elif op.name == "geometric":
        how = f"{node} = " + " * ".join(f"{k}^{wk:g}" for wk, k in zip(w, kids))
    else:
        how = f"{node} = {op.label} of " + ", ".join(f"{k} ({wk:g})" for wk, k in zip(w, kids))
    if blank.any():
        how += " (blank children imputed by their rule or left out, siblings reweighted)"
    return mid, tol, how


def check_aggregates(ds: Dataset) -> tuple[list[Finding], int]:
    spec = ds.spec
    values = pd.concat([ds.indicators, ds.published], axis=1)
    halfs = pd.concat([ds.indicator_half, ds.published_half], axis=1)
    findings, n = [], 0
    for node in spec.aggregates:
        if node not in ds.published.columns:
            continue
        kids = spec.children(node)
        if not all(k in values.columns for k in kids):
            continue
        if (not ds.pipeline.complete and set(kids) <= set(spec.indicators)) or \
                spec.nodes[node].reweight == "leaves":
            mid, lo, hi = node_interval(ds, node)
            recomputed, tol = mid, np.maximum(hi - mid, mid - lo)
            how = (f"{node} from its indicators through the declared construction (gaps "
                   "reweighted or imputed, exceptions applied)")
        else:
            recomputed, tol, how = _children_interval(ds, node, values, halfs)
        findings += _compare(ds, node, recomputed, tol + halfs[node].to_numpy(), "aggregate",
                             how)
        n += int(ds.published[node].notna().sum())
    # The composite all the way from the indicators (nodes whose children are all indicators
    # were already checked from their children above).
    root = spec.root
    if not set(spec.children(root)) <= set(spec.indicators):
        mid, lo, hi = node_interval(ds, root)
        tol = np.maximum(hi - mid, mid - lo) + ds.published_half[root].to_numpy()
        if ds.pipeline.linear:
            eff = spec.effective_weights()
            how = (f"{root} from the indicators with effective weights "
                   + ", ".join(f"{k} {v:g}" for k, v in eff.items()))
        else:
            how = f"{root} from the indicators through the tree (each node's own aggregation)"
        findings += _compare(ds, root, mid, tol, "aggregate", how)
        n += int(ds.published[root].notna().sum())
    return findings, n


def _compare(ds: Dataset, node: str, recomputed: np.ndarray, tol: np.ndarray, check: str,
             how: str) -> list[Finding]:
    """Findings where a printed value lies outside the recomputed interval; a blank printed
    value is not checked; a printed value where the construction gives none is a finding."""
    published = ds.published[node].to_numpy()
    with np.errstate(invalid="ignore"):
        bad = np.abs(published - recomputed) > tol + FLOAT_SLACK
    bad |= ~np.isnan(published) & np.isnan(recomputed)
    dec = int(ds.published_decimals[node].max())
    return [Finding(check, ds.units[i], node, float(published[i]),
                    "none" if np.isnan(recomputed[i]) else _fmt(recomputed[i], dec),
                    float(round(np.nan_to_num(tol[i]), 12)),
                    how if not np.isnan(recomputed[i]) else
                    "published, but the declared construction gives no value (every "
                    "indicator missing or not applicable)", "published.csv")
            for i in np.flatnonzero(bad)]


def check_rank_order(ds: Dataset) -> tuple[list[Finding], list[Finding], int]:
    findings, notes, n = [], [], 0
    for node in ds.published_ranks.columns:
        if node in ds.derived_ranks:
            continue  # not published: derived from the published scores, nothing to check
        # units with a printed score and rank (blank cells are not checked)
        keep = np.flatnonzero(ds.published_ranks[node].notna().to_numpy()
                              & ~np.isnan(ds.published[node].to_numpy()))
        units = [ds.units[i] for i in keep]
        score = ds.published[node].to_numpy()[keep]
        ranks = ds.published_ranks[node].to_numpy()[keep].astype(int)
        # units printed higher / at least as high: O(U log U) by binary search
        ordered = np.sort(score[~np.isnan(score)])  # (a missing score compares false)
        higher = ordered.size - np.searchsorted(ordered, score, side="right")
        at_least = ordered.size - np.searchsorted(ordered, score, side="left")
        n += len(units)
        for i in np.flatnonzero((ranks < higher + 1) | (ranks > at_least)):
            lo, hi = higher[i] + 1, at_least[i]
            findings.append(Finding(
                "rank_order", units[i], node, int(ranks[i]),
                f"{lo}" if lo == hi else f"{lo}-{hi}", 0.0,
                f"published rank {ranks[i]} contradicts the published score {score[i]:g}: "
                f"{higher[i]} units are printed higher", "published.csv"))
        # (The interval covers duplicates and gaps too: a rank shared by units with different
        # scores, or a skipped rank, puts some unit outside its interval.)
        # Printed ties that the report nevertheless ranks apart: consistent (the unrounded
        # scores decide), but a reader should know the order is not visible in the table.
        order = np.argsort(score, kind="stable")  # runs of equal printed scores, in order
        starts = np.flatnonzero(np.r_[True, score[order][1:] != score[order][:-1]])
        for members, value in zip(np.split(order, starts[1:]), score[order][starts]):
            if members.size > 1 and len(set(ranks[members])) == members.size:
                names = ", ".join(f"{units[i]} ({ranks[i]})"
                                  for i in members[np.argsort(ranks[members])])
                notes.append(Finding("printed_tie", names, node, float(value), "", 0.0,
                                     f"printed tie at {value:g} ranked apart: {names}",
                                     "published.csv"))
    return findings, notes, n


def _group_members(ds: Dataset, kind: str, group: str) -> list[str] | None:
    if kind == "all":
        return list(ds.units)
    spec_group = ds.spec.groups.get(kind)
    if spec_group is None or spec_group.column not in ds.meta.columns:
        return None
    col = ds.meta[spec_group.column]
    return [u for u in ds.units if col[u] == group]


def check_subtables(ds: Dataset) -> tuple[list[Finding], int]:
    if ds.subtables is None:
        return [], 0
    findings, n = [], 0
    main = pd.concat([ds.indicators, ds.published], axis=1)
    main_dec = pd.concat([ds.indicator_decimals, ds.published_decimals], axis=1)
    for rec in ds.subtables.to_dict("records"):
        n += 1
        unit, node = rec["unit"], rec["node"]
        src = f"subtables.csv line {rec['line']} (table {rec['table']})"
        pub = main.at[unit, node]
        tol = float(half_unit(main_dec.at[unit, node]) + half_unit(rec["decimals"]))
        # Same printed value, or two roundings of one number (e.g. 70.9 and 70.90).
        if abs(rec["value"] - pub) > tol - min(half_unit(main_dec.at[unit, node]),
                                                 half_unit(rec["decimals"])) + FLOAT_SLACK:
            findings.append(Finding("subtable", unit, node, rec["value"], float(pub), tol,
                                    f"table {rec['table']} prints {rec['value']:g}, the main "
                                    f"table {pub:g}", src))
    for (table, dim, kind, group), rows in ds.subtables.groupby(
            ["table", "dimension", "group_kind", "group"], sort=True):
        members = _group_members(ds, kind, group)
        rows = rows.drop_duplicates("unit")
        src = f"subtables.csv table {table}"
        if members is None or dim not in ds.published_ranks.columns:
            continue
        for rec in rows.to_dict("records"):
            if rec["unit"] not in members:
                findings.append(Finding(
                    "subtable", rec["unit"], dim, f"{kind}={group}",
                    f"{kind}={ds.meta.at[rec['unit'], ds.spec.groups[kind].column]}", 0.0,
                    f"table {table} lists {rec['unit']} in group {group}, unit metadata "
                    "says otherwise", src))
        ranks = ds.published_ranks.loc[members, dim].astype(int)
        within = ranks.rank(method="min").astype(int)
        for rec in rows.to_dict("records"):
            if rec["unit"] in within.index and within[rec["unit"]] != rec["rank"]:
                findings.append(Finding(
                    "subtable", rec["unit"], dim, int(rec["rank"]), int(within[rec["unit"]]),
                    0.0, f"table {table} ranks {rec['unit']} {rec['rank']} in {kind}={group}; "
                    f"the main table's order gives {within[rec['unit']]}", src))
        top = set(within[within <= len(rows)].index)
        for u in sorted(top - set(rows["unit"]), key=lambda u: within[u]):
            findings.append(Finding(
                "subtable", u, dim, "absent", int(within[u]), 0.0,
                f"table {table} (top {len(rows)} of {kind}={group}) omits {u}, whose "
                f"within-group rank is {within[u]}", src))
        n += len(rows)
    return findings, n


def _rank_interval(ds: Dataset, node: str, members: list[str]) -> pd.DataFrame:
    """Each member's possible within-group rank by ``node``: exact where the report publishes
    ranks (ordered among the members), else [1 + #printed higher, #printed at least as high]
    from the printed values, so printed ties allow every rank they span."""
    if node in ds.published_ranks.columns:
        r = ds.published_ranks.loc[members, node].astype(int).rank(method="first").astype(int)
        return pd.DataFrame({"lo": r, "hi": r})
    return _rank_interval_printed(ds, node, members)


def _rank_interval_printed(ds: Dataset, node: str, members: list[str]) -> pd.DataFrame:
    x = (ds.indicators[node] if node in ds.indicators.columns else ds.published[node])
    x = x.loc[members].to_numpy()
    lo = (x[None, :] > x[:, None]).sum(axis=1) + 1
    hi = (x[None, :] >= x[:, None]).sum(axis=1)
    return pd.DataFrame({"lo": lo, "hi": hi}, index=members)


def check_claims(ds: Dataset) -> tuple[list[Finding], int]:
    """The report's text statements (claims.csv) against the tables: each listed unit must
    belong to the group and hold a rank within the stated range (exactly rank_from + k for
    the k-th unit of an ordered list); a list that ends a group's tiers must end at its size."""
    claims = ds.claims
    if claims is None:
        return [], 0
    findings, n = [], 0
    for rec in claims.to_dict("records"):
        members = _group_members(ds, rec["group_kind"], rec["group"]) or []
        src = f"claims.csv line {rec['line']} (report line {rec['report_line']})"
        node, lo, hi = rec["node"], int(rec["rank_from"]), int(rec["rank_to"])
        group = f"{rec['group_kind']}={rec['group']}"
        quote = f"“{rec['text']}”"
        interval = _rank_interval(ds, node, members)
        n += 1
        if rec["exhaustive"] and hi != len(members):
            findings.append(Finding(
                "claim", group, node, hi, len(members), 0.0,
                f"the text's tiers end at rank {hi}, the group has {len(members)} units {quote}",
                src))
        names = rec["units"]
        dupes = sorted({u for u in names if names.count(u) > 1})
        if dupes or len(names) > hi - lo + 1:
            findings.append(Finding(
                "claim", "、".join(names), node, f"{len(names)} names for ranks {lo}-{hi}",
                f"at most {hi - lo + 1} distinct names", 0.0,
                f"the text lists {len(names)} names" + (f", repeating {'、'.join(dupes)}"
                                                         if dupes else "")
                + f" for {hi - lo + 1} places {quote}", src))
        for k, unit in enumerate(names):
            n += 1
            if unit not in interval.index:
                actual = _group_label(ds, rec["group_kind"], unit)
                findings.append(Finding(
                    "claim", unit, node, group, actual, 0.0,
                    f"the text counts {unit} in {group}, the tables put it in {actual} "
                    f"{quote}", src))
                continue
            r_lo, r_hi = int(interval.at[unit, "lo"]), int(interval.at[unit, "hi"])
            want_lo, want_hi = (lo + k, lo + k) if rec["ordered"] else (lo, hi)
            if r_hi < want_lo or r_lo > want_hi:
                want = f"{want_lo}" if want_lo == want_hi else f"{want_lo}-{want_hi}"
                actual = f"{r_lo}" if r_lo == r_hi else f"{r_lo}-{r_hi}"
                printed = _rank_interval_printed(ds, node, members).loc[unit]
                tie = (" (the printed scores tie here: only the table's tie-break contradicts "
                       "the text)" if printed["lo"] <= want_hi and printed["hi"] >= want_lo
                       else "")
                findings.append(Finding(
                    "claim", unit, node, want, actual, 0.0,
                    f"the text puts {unit} at {want} of {node} in {group}, the tables give "
                    f"{actual}{tie} {quote}", src))
    return findings, n


def _group_label(ds: Dataset, kind: str, unit: str) -> str:
    group = ds.spec.groups.get(kind)
    if group is None or group.column not in ds.meta.columns:
        return "?"
    return f"{kind}={ds.meta.at[unit, group.column]}"


def indicator_profile(ds: Dataset) -> tuple[pd.DataFrame, list[Finding], list[Finding], int]:
    spec = ds.spec
    lo_scale, hi_scale = spec.scale
    rows, findings, notes = [], [], []
    printed = ds.raw is None or ds.raw_scores is not None   # indicators.csv was given
    for ind in spec.indicators:
        present = np.flatnonzero(ds.indicators[ind].notna().to_numpy())  # missing: skipped
        x = ds.indicators[ind].to_numpy()[present]
        h = ds.indicator_half[ind].to_numpy()[present]
        units = [ds.units[i] for i in present]
        norm = spec.nodes[ind].normalisation
        if x.size == 0:   # no ranked unit has it: nothing to profile, said in the row
            rows.append({"indicator": ind, "normalisation": norm, "n": 0})
            continue
        grid = detect_grid(x, h)
        values, counts = np.unique(x, return_counts=True)
        off = [units[i] for i in np.flatnonzero(~grid.on_grid)] if grid else []
        rows.append({
            "indicator": ind, "normalisation": norm, "n": x.size,
            "min": float(x.min()), "max": float(x.max()),
            "min_unit": units[int(np.argmin(x))], "max_unit": units[int(np.argmax(x))],
            "min_attained": bool(abs(x.min() - lo_scale) <= h[np.argmin(x)]),
            "max_attained": bool(abs(x.max() - hi_scale) <= h[np.argmax(x)]),
            "n_distinct": int(values.size), "n_tied": int(counts[counts > 1].sum()),
            "grid_step": grid.step if grid else np.nan,
            "grid_levels": (hi_scale - lo_scale) / grid.step if grid else np.nan,
            "grid_coverage": grid.coverage if grid else np.nan,
            "grid_p_value": grid.p_value if grid else np.nan,
            "off_grid": ", ".join(f"{u} ({ds.indicators.at[u, ind]:g})" for u in off),
        })
        # (scores this toolkit normalised from raw.csv are not published numbers: their
        # min-max bounds come from every unit, ranked or not)
        if norm == "minmax" and printed:
            for which, target, i in (("minimum", lo_scale, int(np.argmin(x))),
                                     ("maximum", hi_scale, int(np.argmax(x)))):
                if abs(x[i] - target) > h[i] + FLOAT_SLACK:
                    findings.append(Finding(
                        "normalisation", units[i], ind, float(x[i]), float(target),
                        float(h[i]), f"declared min-max normalisation maps the {which} to "
                        f"{target:g}, the published {which} is {x[i]:g}", "indicators.csv"))
        out_of_range = (x < lo_scale - h) | (x > hi_scale + h)
        for i in np.flatnonzero(out_of_range):
            findings.append(Finding("normalisation", units[i], ind, float(x[i]),
                                    f"[{lo_scale:g}, {hi_scale:g}]", float(h[i]),
                                    "outside the normalised range", "indicators.csv"))
        if grid:
            for u in off:
                v = ds.indicators.at[u, ind]
                notes.append(Finding(
                    "quantisation", u, ind, float(v), round(grid.step * round(v / grid.step), 4),
                    float(ds.indicator_half.at[u, ind]),
                    f"{ind} lies on a grid of step {grid.step:.6g} "
                    f"({grid.coverage:.0%} of units); {u} ({v:g}) is off it", "indicators.csv"))
    profile = pd.DataFrame(rows)
    treated = ds.treatment
    if treated is not None and (treated["treatment"] != "none").any():
        # the outlier treatment of raw values, per indicator: what was declared, what was
        # applied (none, winsorised, log, capped) and how many values it changed
        t = treated.set_index("indicator")
        for col in ("treatment", "applied", "points_changed", "detail"):
            profile[f"treatment_{col}" if col != "treatment" else col] = \
                profile["indicator"].map(t[col]).to_numpy()
    return profile, findings, notes, len(spec.indicators)


def explain_rank_differences(ds: Dataset, inconsistencies: list[Finding]) -> pd.DataFrame:
    """Where ranks recomputed from the indicators (ties "min") differ from the published ranks,
    say why: an erratum found above, a printed tie, or an order within rounding tolerance.

    The units whose order relative to unit i differs (published above i but scored at most
    as high, or below but at least as high) lie in the stretch of the published order bounded
    by the running minimum above and the running maximum below; those stretches are scanned
    for every differing unit at once, so time is the sum of their lengths (about U x the
    typical displacement; U^2 only if the published order is wrong over long stretches)."""
    spec = ds.spec
    erratum = {(f.unit, f.node) for f in inconsistencies if f.check == "aggregate"}
    erratum |= {(f.unit, spec.root) for f in inconsistencies if f.check == "aggregate"}
    names = np.asarray(ds.units, dtype=object)
    rows = []
    for node in ds.published_ranks.columns:
        if node in ds.derived_ranks or ds.published_ranks[node].isna().any():
            continue  # ranks over a subset of units: checked against the scores only
        s, lo, hi = node_interval(ds, node)
        tol = np.maximum(hi - s, s - lo)
        rec_rank = rank_desc(s)
        pub_rank = ds.published_ranks[node].to_numpy(dtype=int)
        err = np.array([(u, node) in erratum for u in ds.units], dtype=bool)
        diff = np.flatnonzero(rec_rank != pub_rank)
        flipped, reasons = _flipped(s, tol, pub_rank, err, diff)
        for k, i in enumerate(diff):
            rows.append({"unit": ds.units[i], "node": node, "published_rank": int(pub_rank[i]),
                         "recomputed_rank": int(rec_rank[i]),
                         "swapped_with": ", ".join(names[flipped[k]]),
                         "explanation": "; ".join(sorted(reasons[k]))})
    return pd.DataFrame(rows, columns=["unit", "node", "published_rank", "recomputed_rank",
                                       "swapped_with", "explanation"])


FLIP_REASONS = ("erratum", "tie in recomputed scores, ranked apart by the report",
                "order within rounding of the printed indicators", "unexplained")


def _flipped(s: np.ndarray, tol: np.ndarray, pub_rank: np.ndarray, err: np.ndarray,
             diff: np.ndarray) -> tuple[list[np.ndarray], list[set[str]]]:
    """For each unit i in ``diff``: the units (ascending) whose order relative to i differs
    between the published ranks and the scores s, and the reasons (:data:`FLIP_REASONS`,
    checked in that order for each such unit; shared published ranks too)."""
    order = np.argsort(pub_rank, kind="stable")               # published order
    sp, rp = s[order], pub_rank[order]
    running_min = np.minimum.accumulate(sp)                   # min of sp[:k + 1]
    running_max = np.maximum.accumulate(sp[::-1])[::-1]       # max of sp[k:]
    flipped, reasons = [], []
    for lo in range(0, diff.size, FLIP_BLOCK):   # blocks of units: bounded temporaries
        f, r = _flipped_block(s, tol, pub_rank, err, diff[lo: lo + FLIP_BLOCK], order, sp,
                              rp, running_min, running_max)
        flipped += f
        reasons += r
    return flipped, reasons


FLIP_BLOCK = 4096


def _flipped_block(s, tol, pub_rank, err, diff, order, sp, rp, running_min, running_max
                   ) -> tuple[list[np.ndarray], list[set[str]]]:
    """:func:`_flipped` for one block of the differing units."""
    si, pi = s[diff], pub_rank[diff]
    start = np.searchsorted(rp, pi, "left")                   # first of i's published rank
    end = np.searchsorted(rp, pi, "right")                    # after its last
    first = np.minimum(np.searchsorted(-running_min, -si, "left"), start)
    last = np.maximum(np.searchsorted(-running_max, -si, "right"), end)
    lengths = (start - first) + (last - end)
    owner = np.repeat(np.arange(diff.size), lengths)
    # positions first..start-1 then end..last-1 of every row, concatenated
    begin = np.repeat(np.cumsum(lengths) - lengths, lengths)
    step = np.arange(owner.size) - begin
    above = step < (start - first)[owner]
    pos = np.where(above, first[owner] + step, end[owner] + step - (start - first)[owner])
    keep = np.where(above, sp[pos] <= si[owner], sp[pos] >= si[owner])
    owner, unit = owner[keep], order[pos[keep]]
    sort = np.lexsort((unit, owner))
    owner, unit = owner[sort], unit[sort]
    i = diff[owner]
    e = err[i] | err[unit]
    tie = ~e & (s[unit] == s[i])
    near = ~e & ~tie & (np.abs(s[i] - s[unit]) <= tol[i] + tol[unit])
    flags = [np.bincount(owner[f], minlength=diff.size) > 0
             for f in (e, tie, near, ~(e | tie | near))]
    bounds = np.searchsorted(owner, np.arange(diff.size + 1))
    flipped, reasons = [], []
    for k, i in enumerate(diff):
        units = unit[bounds[k]: bounds[k + 1]]
        why = {text for text, f in zip(FLIP_REASONS, flags) if f[k]}
        if end[k] - start[k] > 1:   # a published tie (shared rank) the recomputation splits
            shared = np.sort(order[start[k]: end[k]])
            apart = [j for j in shared if j != i and abs(s[i] - s[j]) > tol[i] + tol[j]]
            why.add("shared published rank (a tie in the published scores)"
                    if not apart else "unexplained")
            units = np.union1d(units, shared[shared != i])
        flipped.append(units)
        reasons.append(why)
    return flipped, reasons


def check_raw(ds: Dataset) -> tuple[list[Finding], int]:
    """With both raw.csv and indicators.csv: each printed indicator score against its raw value
    through the declared treatment and normalisation (interval arithmetic: the score's and the
    raw value's printing half-units)."""
    if ds.raw_scores is None:
        return [], 0
    spec = ds.spec
    expected, half = ds.raw_scores
    findings, n = [], 0
    for ind in spec.indicators:
        if spec.nodes[ind].normalisation == "none" and spec.nodes[ind].transform == "none" \
                and spec.nodes[ind].direction == "higher":
            continue  # nothing to check: the score is the raw value by declaration
        got = ds.indicators[ind].to_numpy()
        exp = expected[ind].to_numpy()
        tol = ds.indicator_half[ind].to_numpy() + half[ind].to_numpy()
        both = ~np.isnan(got) & ~np.isnan(exp)
        n += int(both.sum())
        bad = both & (np.abs(got - np.where(both, exp, 0.0)) > tol + FLOAT_SLACK)
        bad |= np.isnan(got) != np.isnan(exp)
        node = spec.nodes[ind]
        how = (f"raw value through {node.normalisation}"
               + (f" {list(node.goalposts)}" if node.goalposts else "")
               + (f", transform {node.transform}" if node.transform != "none" else "")
               + (", lower is better" if node.direction == "lower" else ""))
        dec = int(ds.indicator_decimals[ind].max())
        for i in np.flatnonzero(bad):
            findings.append(Finding(
                "raw", ds.units[i], ind,
                "blank" if np.isnan(got[i]) else float(got[i]),
                "blank" if np.isnan(exp[i]) else _fmt(exp[i], dec),
                float(round(np.nan_to_num(tol[i]), 12)),
                f"indicators.csv against raw.csv: {how}", "indicators.csv / raw.csv"))
    return findings, n


def audit(ds: Dataset) -> ReproductionResult:
    """Run every reproduction check on a dataset (see the module docstring). A draft index
    without published.csv has nothing published to check: only the indicator checks run."""
    raw, n_raw = check_raw(ds)
    if ds.has_published:
        agg, n_agg = check_aggregates(ds)
        order, tie_notes, n_rank = check_rank_order(ds)
    else:
        agg, n_agg, order, tie_notes, n_rank = [], 0, [], [], 0
    sub, n_sub = check_subtables(ds)
    claims, n_claims = check_claims(ds)
    profile, norm, grid_notes, n_norm = indicator_profile(ds)
    inconsistencies = agg + order + sub + claims + norm + raw
    # (only "aggregate" findings explain rank differences, so adding the unexplained ones
    # below does not change this table)
    differences = (explain_rank_differences(ds, inconsistencies) if ds.has_published
                   else pd.DataFrame(columns=["unit", "node", "published_rank",
                                              "recomputed_rank", "swapped_with",
                                              "explanation"]))
    for f in differences.to_dict("records"):
        if f["explanation"] == "unexplained":
            inconsistencies.append(Finding(
                "rank_order", f["unit"], f["node"], f["published_rank"], f["recomputed_rank"],
                0.0, "the published order contradicts the scores recomputed from the "
                f"indicators beyond rounding (swapped with {f['swapped_with']})", "published.csv"))
    checks = {"aggregate": n_agg, "rank_order": n_rank, "subtable": n_sub,
              "claim": n_claims, "normalisation": n_norm}
    if ds.raw_scores is not None:
        checks["raw"] = n_raw
    blank = {node: int(ds.published[node].isna().sum()) for node in ds.published.columns
             if ds.has_published and ds.published[node].isna().any()}
    return ReproductionResult(
        dataset=str(ds.folder), inconsistencies=inconsistencies,
        notes=tie_notes + grid_notes, profile=profile,
        rank_differences=differences, checks=checks,
        not_ranked=ds.excluded if ds.excluded is not None else pd.DataFrame(
            columns=["unit", "reason"]),
        blank_published=blank, has_published=ds.has_published)
