"""Loading and validating a data folder into a :class:`Dataset`.

A data folder holds ``spec.toml``; the indicators as published normalised scores
(``indicators.csv``: ``unit`` and one column per indicator) and/or as raw values (``raw.csv``,
the same shape, normalised here by each leaf's declared method); ``published.csv`` (the
published score and rank of every aggregate node, ranks may be shared); ``units.csv`` (unit
metadata: ``unit``, optional ``name_en``, group columns; ``cities.csv`` is accepted as the same
file) and optionally ``subtables.csv`` and ``claims.csv``. Values are kept as printed: each
cell's number of decimals is recorded (at least the spec's ``decimals`` for published scores),
because the audit needs to know how precisely each value was published.

An empty indicator cell is a missing value; the spec's ``missing`` rule says what it means:
``error`` (the default: one line naming the cell), ``exclude`` (the unit leaves the ranking and
is listed in ``Dataset.excluded``) or ``reweight`` (kept; each node averages its available
children, see :func:`cityindex.score.evaluate_tree`).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from cityindex.construction import LeafScaler, Pipeline, treat
from cityindex.errors import DataError, SpecError
from cityindex.frames import read_sources
from cityindex.rank import rank_desc
from cityindex.spec import Spec, load_spec

NUMBER = re.compile(r"^[+-]?(\d+)(\.(\d+))?$")
INTEGER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Table:
    """A CSV file read as strings, with the line number of each row kept for messages."""

    path: str
    header: list[str]
    rows: list[list[str]]

    def column(self, name: str) -> list[str]:
        j = self.header.index(name)
        return [r[j] for r in self.rows]

    def line(self, i: int) -> int:
        return i + 2  # header is line 1


@dataclass(frozen=True)
class Dataset:
    """Units x indicators with their published node scores and metadata.

    Attributes
    ----------
    units : list of unit identifiers, in the order of ``indicators.csv``.
    indicators : DataFrame (units x indicators) of published indicator scores.
    indicator_decimals : DataFrame of the number of decimals printed in each indicator cell.
    published : DataFrame (units x aggregate nodes) of published scores.
    published_decimals : DataFrame, printed decimals of each published score.
    published_ranks : DataFrame (units x aggregate nodes) of published ranks (nullable ints).
    meta : DataFrame of unit metadata indexed by unit (``cities.csv``); may be empty.
    subtables : long DataFrame of sub-table rows, or None.
    claims : the report's text statements about tiers and positions (claims.csv), or None.
    indicator_half : DataFrame, half-width of each indicator score's uncertainty from printing
        (half a unit in the last printed digit, carried through the normalisation for raw
        values).
    published_half : DataFrame, the same for the published scores.
    raw : DataFrame of raw indicator values (raw.csv), or None.
    available : (units, indicators) bool where a value exists, or None when none is missing.
    excluded : DataFrame (unit, reason) of units left out of the ranking (missing =
        exclude, coverage, no published composite, nothing to compute).
    pipeline : the construction pipeline (:class:`cityindex.construction.Pipeline`) that
        every analysis evaluates through: gaps, exceptions, imputation groups.
    has_published : False for a draft index without published.csv (the recomputed
        composite then stands in for the published one).
    treatment : per indicator, the outlier treatment applied to raw values, or None.
    raw_scores : (scores, half-widths) of raw.csv through the declared normalisation, when
        both raw.csv and indicators.csv are given (the audit checks one against the other).
    """

    spec: Spec
    folder: Path
    units: list[str]
    indicators: pd.DataFrame
    indicator_decimals: pd.DataFrame
    published: pd.DataFrame
    published_decimals: pd.DataFrame
    published_ranks: pd.DataFrame
    meta: pd.DataFrame
    subtables: pd.DataFrame | None
    claims: pd.DataFrame | None = None
    indicator_half: pd.DataFrame | None = None
    published_half: pd.DataFrame | None = None
    raw: pd.DataFrame | None = None
    available: np.ndarray | None = None
    excluded: pd.DataFrame | None = None
    pipeline: Pipeline | None = None
    has_published: bool = True
    treatment: pd.DataFrame | None = None
    raw_scores: tuple[pd.DataFrame, pd.DataFrame] | None = None
    n_exceptions: int = 0
    excluded_meta: dict | None = None
    sources: dict | None = None
    derived_ranks: tuple[str, ...] = ()      # ranks not published: from published scores
    raw_all: pd.DataFrame | None = None      # raw values of every unit, ranked or not

    @classmethod
    def from_frames(cls, indicators: pd.DataFrame | None = None,
                    tree: pd.DataFrame | None = None, published: pd.DataFrame | None = None,
                    units: pd.DataFrame | None = None, **kwargs) -> Dataset:
        """A dataset from DataFrames, validated by the same code as a data folder
        (:func:`cityindex.frames.dataset_from_frames`: also ``raw``, ``exceptions`` and
        ``index``, the ``[index]`` keys)."""
        from cityindex.frames import dataset_from_frames

        if tree is None:
            raise DataError("Dataset.from_frames", "no tree", "tree= a node table")
        return dataset_from_frames(indicators, tree, published, units, **kwargs)

    def to_folder(self, path: str | Path) -> Path:
        """Write the data contract (spec.toml and the CSVs this dataset was built from)."""
        from cityindex.frames import write_folder

        return write_folder(self.sources or {}, path)

    def __post_init__(self) -> None:
        if self.pipeline is None:
            object.__setattr__(self, "pipeline", Pipeline(self.spec, len(self.units),
                                                          self.available,
                                                          units=tuple(self.units)))

    def __repr__(self) -> str:
        """One line (the generated dataclass repr printed every frame: 134 lines)."""
        gaps = 0 if self.available is None else int((~self.available).sum())
        n_out = 0 if self.excluded is None else len(self.excluded)
        noun = self.spec.unit if self.n_units == 1 else self.spec.units
        return (f"Dataset({self.spec.id!r}, {self.n_units} {noun}, "
                f"{len(self.spec.indicators)} indicators, {gaps} gaps, {n_out} not ranked)")

    @cached_property
    def matrix(self) -> np.ndarray:
        """The indicator scores as a (units, indicators) array in ``spec.indicators`` order
        (computed once: selecting a thousand columns from the frame costs milliseconds)."""
        out = self.indicators[self.spec.indicators].to_numpy()
        out.flags.writeable = False
        return out

    @property
    def n_units(self) -> int:
        return len(self.units)

    def excluded_names(self) -> list[str]:
        """English names of the units left out of the ranking (empty where unknown)."""
        if self.excluded is None:
            return []
        names = self.excluded_meta.get("name_en", {}) if self.excluded_meta else {}
        return [str(names.get(u, "")) for u in self.excluded["unit"]]

    def label(self, unit: str) -> str:
        """Chinese name plus English name where known, e.g. '北京 Beijing'."""
        if "name_en" in self.meta.columns and unit in self.meta.index:
            return f"{unit} {self.meta.at[unit, 'name_en']}"
        return unit


def read_table(path: Path) -> Table:
    """Read a UTF-8 CSV file as strings; raise :class:`DataError` on encoding or shape errors."""
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(name, "file not found", "a CSV file in the data folder") from None
    except OSError as exc:  # a directory, no permission
        raise DataError(name, f"unreadable ({exc.strerror})", "a readable CSV file") from None
    except UnicodeDecodeError as exc:
        raise DataError(name, f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset "
                        f"{exc.start})", "a UTF-8 encoded CSV file") from None
    # newline="": the csv module's own line handling, so "\n", "\r\n" and old Mac "\r"
    # line endings all read (and a quoted cell may hold a line break)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:  # a cell over the csv module's field limit, a stray NUL, ...
        line = reader.line_num
        if "field larger than field limit" in str(exc):
            raise DataError(f"{name} line {line}", f"a cell of more than "
                            f"{csv.field_size_limit():,} characters",
                            "cells of ordinary length (a number, a name)") from None
        raise DataError(f"{name} line {line}", f"not readable as CSV ({exc})",
                        "comma-separated values, one row per line") from None
    if not rows:
        raise DataError(name, "empty file", "a header row and data rows")
    header = [h.strip() for h in rows[0]]
    body = []
    for i, row in enumerate(rows[1:]):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{name} line {i + 2}", f"{len(row)} fields",
                            f"{len(header)} fields as in the header")
        body.append([cell.strip() for cell in row])
    dupes = {h for h in header if header.count(h) > 1}
    if dupes:
        raise DataError(f"{name} header", f"duplicate column(s) {sorted(dupes)}",
                        "each column once")
    return Table(name, header, body)


def parse_number(text: str, where: str) -> tuple[float, int]:
    """A printed decimal number and its number of decimals."""
    m = NUMBER.match(text)
    if not m:
        found = "an empty cell" if text == "" else f"'{text}'"
        raise DataError(where, found, "a decimal number as printed (e.g. 12.34)")
    value = float(text)
    if not math.isfinite(value):
        raise DataError(where, f"'{text}'", "a finite number")
    return value, len(m.group(3) or "")


def _units_column(table: Table) -> list[str]:
    if "unit" not in table.header:
        raise DataError(f"{table.path} header", f"columns {table.header}",
                        "a 'unit' column naming each unit")
    units = table.column("unit")
    seen: dict[str, int] = {}
    for i, u in enumerate(units):
        if u == "":
            raise DataError(f"{table.path} line {table.line(i)}", "an empty unit name",
                            "a unit name")
        if u in seen:
            raise DataError(f"{table.path} line {table.line(i)}",
                            f"duplicate unit '{u}' (first on line {table.line(seen[u])})",
                            "each unit once")
        seen[u] = i
    return units


def _same_units(table: Table, units: list[str], reference: str) -> None:
    mine = table.column("unit")
    mine_set, units_set = set(mine), set(units)  # once: O(U), not O(U^2)
    missing = [u for u in units if u not in mine_set]
    extra = [u for u in mine if u not in units_set]
    if extra:
        i = mine.index(extra[0])
        raise DataError(f"{table.path} line {table.line(i)}", f"unknown unit '{extra[0]}'",
                        f"a unit of {reference}")
    if missing:
        raise DataError(table.path, f"unit(s) missing: {', '.join(missing[:5])}"
                        + (" …" if len(missing) > 5 else ""), f"every unit of {reference}")


def _numeric_block(table: Table, columns: list[str], units: list[str],
                   allow_empty: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse the cells of ``columns`` for ``units``; empty cells become NaN (0 decimals) when
    ``allow_empty``, else an error naming the cell."""
    values = np.empty((len(units), len(columns)))
    decimals = np.empty((len(units), len(columns)), dtype=int)
    order = {u: i for i, u in enumerate(table.column("unit"))}
    for j, col in enumerate(columns):
        cells = table.column(col)
        for k, unit in enumerate(units):
            i = order[unit]
            if allow_empty and cells[i] == "":
                values[k, j], decimals[k, j] = np.nan, 0
                continue
            values[k, j], decimals[k, j] = parse_number(
                cells[i], f"{table.path} line {table.line(i)} ({unit}), column '{col}'")
    return (pd.DataFrame(values, index=units, columns=columns),
            pd.DataFrame(decimals, index=units, columns=columns))


def _indicator_table(table: Table, spec: Spec) -> list[str]:
    units = _units_column(table)
    indicators = spec.indicators
    unknown = [c for c in table.header if c != "unit" and c not in indicators]
    if unknown:
        raise DataError(f"{table.path} header", f"unknown node column '{unknown[0]}'",
                        f"only 'unit' and the spec's indicators {indicators}")
    missing = [c for c in indicators if c not in table.header]
    if missing:
        raise DataError(f"{table.path} header", f"missing indicator column '{missing[0]}'",
                        f"one column per indicator of the spec {indicators}")
    if not units:
        raise DataError(table.path, "no data rows", "one row per unit")
    return units


def _first_empty(table: Table, values: pd.DataFrame) -> str:
    unit, col = next((u, c) for u in values.index for c in values.columns
                     if np.isnan(values.at[u, c]))
    return f"{table.path} line {table.line(table.column('unit').index(unit))} ({unit}), " \
        f"column '{col}'"


def normalise_raw(raw: pd.DataFrame, decimals: pd.DataFrame, spec: Spec, path: str
                  ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Normalised scores from raw values by each leaf's declared treatment and normalisation,
    the half-width of each score implied by the raw value's printing (the normalisation is
    monotone, so the printed interval maps to an interval; the larger side is kept), and the
    treatment applied to each indicator."""
    scores = pd.DataFrame(index=raw.index, columns=raw.columns, dtype=float)
    half = pd.DataFrame(index=raw.index, columns=raw.columns, dtype=float)
    treated = []
    for ind in spec.indicators:
        node = spec.nodes[ind]
        v = raw[ind].to_numpy()
        t = treat(v, node.treatment, node.cap, node.cap_percentiles)
        treated.append({"indicator": ind, "treatment": node.treatment, "applied": t.method,
                        "points_changed": t.points, "detail": t.detail})
        v = t.values
        h = 0.5 * 10.0 ** -decimals[ind].to_numpy(dtype=float)
        where = f"{path}, column '{ind}'"
        bad = np.isfinite(v) & (v <= 0)
        if node.transform != "none" and bad.any():
            unit = raw.index[np.flatnonzero(bad)[0]]
            raise DataError(f"{where} ({unit})", f"raw value {v[bad][0]:g} <= 0 under "
                            f"transform '{node.transform}'",
                            "positive raw values (or transform = 'none')")
        scaler = LeafScaler.fit(node, v, spec.scale, where)
        mid = scaler(v)
        lo = scaler(np.maximum(v - h, np.nextafter(0, 1)) if node.transform != "none"
                    else v - h)
        hi = scaler(v + h)
        scores[ind] = mid
        half[ind] = np.nan_to_num(np.maximum(np.abs(hi - mid), np.abs(mid - lo)))
    return scores, half, pd.DataFrame(treated)


EXCEPTION_COLUMNS = ["unit", "node", "treat"]
EXCEPTION_TREATS = ("missing", "not_applicable")


def _load_exceptions(path: Path, spec: Spec, units: list[str]
                     ) -> tuple[dict[str, set[str]], dict[str, set[str]], int]:
    """exceptions.csv: the publisher's single-cell overrides -> (node -> units treated as
    missing, node -> units where the node is not applicable, row count)."""
    table = _read_with_header(path, EXCEPTION_COLUMNS)
    known = set(units)
    missing: dict[str, set[str]] = {}
    na: dict[str, set[str]] = {}
    seen: dict[tuple[str, str], int] = {}
    for i, (unit, node, how) in enumerate(table.rows):
        where = f"{table.path} line {table.line(i)}"
        if unit not in known:
            raise DataError(f"{where}, column 'unit'", f"unknown unit '{unit}'",
                            "a unit of the indicator table")
        if node not in spec.nodes or node == spec.root:
            raise DataError(f"{where}, column 'node'", f"'{node}'",
                            "a node of the spec other than the root")
        if how not in EXCEPTION_TREATS:
            raise DataError(f"{where}, column 'treat'", f"'{how}'",
                            f"one of {list(EXCEPTION_TREATS)}")
        if (unit, node) in seen:
            raise DataError(where, f"a second row for {unit} / {node} (first on line "
                            f"{seen[(unit, node)]})", "one row per unit and node")
        seen[(unit, node)] = table.line(i)
        (missing if how == "missing" else na).setdefault(node, set()).add(unit)
    return missing, na, len(table.rows)


def _masks(units: list[str], marked: dict[str, set[str]]) -> dict[str, np.ndarray]:
    """node -> (units,) bool: the units ``marked`` names for each node."""
    return {node: np.array([u in who for u in units]) for node, who in marked.items()}


def _not_applicable_leaves(spec: Spec, units: list[str], na: dict[str, set[str]]
                           ) -> pd.DataFrame:
    """(units x indicators) True where a leaf or one of its ancestors is not applicable."""
    out = pd.DataFrame(False, index=units, columns=spec.indicators)
    for node, who in na.items():
        leaves = spec.leaves_under(node)
        out.loc[sorted(who, key=units.index), leaves] = True
    return out


def _imputed_leaves(spec: Spec) -> pd.Series:
    """Leaves whose own rule fills a gap (impute on the leaf)."""
    return pd.Series({leaf: spec.nodes[leaf].impute != "none" for leaf in spec.indicators})


def make_pipeline(spec: Spec, units: list[str], available: np.ndarray | None,
                  missing: dict[str, set[str]], na: dict[str, set[str]], meta: pd.DataFrame,
                  where: str, extra: pd.DataFrame | None = None) -> Pipeline:
    """The dataset's construction pipeline (gaps, exceptions, imputation groups). ``extra``
    (units not ranked x indicators) enter the imputation means when ``[index] impute_over``
    is "all" (the default)."""
    if extra is not None and len(extra) and spec.impute_over == "all":
        both = [*units, *extra.index]
        values = np.vstack([np.ones((len(units), len(spec.indicators)), dtype=bool)
                            if available is None else available,
                            ~np.isnan(extra[spec.indicators].to_numpy())])
        full = make_pipeline(spec, both, None if values.all() else values, missing, na,
                             meta, where)
        own = make_pipeline(spec, units, available, missing, na, meta, where)
        return replace(own, extra_x=extra[spec.indicators].to_numpy(), full=full)
    for node_id, node in spec.nodes.items():
        if node.impute == "group_mean" and node.impute_by not in meta.columns:
            raise SpecError(f"{spec.path} [nodes.{node_id}].impute_by",
                            f"no column '{node.impute_by}' in {where}",
                            "a column of units.csv naming each unit's group")
    labels = {}
    for column in meta.columns:   # every column can name groups (spec or alternatives)
        _, codes = np.unique(meta[column].reindex(units).astype(str).to_numpy(),
                             return_inverse=True)
        labels[column] = codes.astype(np.int64)
    return Pipeline(spec, len(units), available, _masks(units, missing), _masks(units, na),
                    labels, tuple(units))


def load_dataset(folder: str | Path, spec: Spec | None = None) -> Dataset:
    """Load and validate a data folder. Raises :class:`DataError` / :class:`SpecError` with a
    message naming the file, row or key, what was found and what was expected."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(str(folder), "not a directory", "a data folder with spec.toml and CSVs")
    spec = spec or load_spec(folder / "spec.toml")
    aggregates = spec.aggregates

    has_ind, has_raw = (folder / "indicators.csv").exists(), (folder / "raw.csv").exists()
    if not has_ind and not has_raw:
        raise DataError(str(folder), "no indicators.csv and no raw.csv",
                        "published indicator scores (indicators.csv) or raw values (raw.csv)")
    raw = raw_dec = raw_all = None
    treatment = None
    raw_check = None
    if has_raw:
        raw_table = read_table(folder / "raw.csv")
        raw_units = _indicator_table(raw_table, spec)
        raw, raw_dec = _numeric_block(raw_table, spec.indicators, raw_units, True)
    if has_ind:
        ind = read_table(folder / "indicators.csv")
        all_units = _indicator_table(ind, spec)
        values, decimals = _numeric_block(ind, spec.indicators, all_units, True)
        decimals = np.maximum(decimals, spec.decimals)
        half = 0.5 * 10.0 ** -decimals.astype(float)
        primary = ind
        if raw is not None:
            _same_units(raw_table, all_units, ind.path)
            raw, raw_dec = raw.loc[all_units], raw_dec.loc[all_units]
            r_scores, r_half, treatment = normalise_raw(raw, raw_dec, spec, raw_table.path)
            raw_check = (r_scores, r_half)
    else:
        primary, all_units = raw_table, raw_units
        values, half, treatment = normalise_raw(raw, raw_dec, spec, raw_table.path)
        decimals = raw_dec

    missing_x: dict[str, set[str]] = {}
    na_x: dict[str, set[str]] = {}
    n_exceptions = 0
    if (folder / "exceptions.csv").exists():
        missing_x, na_x, n_exceptions = _load_exceptions(folder / "exceptions.csv", spec,
                                                         all_units)
    empty = values.isna()
    not_applicable = _not_applicable_leaves(spec, all_units, na_x)
    leaf_imputed = _imputed_leaves(spec)
    gap = empty & ~not_applicable
    if spec.missing == "error":
        unfilled = gap & ~leaf_imputed
        if unfilled.to_numpy().any():
            raise DataError(_first_empty(primary, values.mask(~unfilled, 0.0)),
                            "an empty cell (a missing value)",
                            "a number, or [index] missing = 'exclude' or 'reweight' in "
                            "spec.toml, or an impute rule or exceptions.csv row for it")
    reasons: dict[str, str] = {}
    if spec.missing == "exclude":
        for u in all_units:
            cols = [c for c in spec.indicators if gap.at[u, c] and not leaf_imputed[c]]
            if cols:
                reasons[u] = f"missing {', '.join(cols)}"
    if spec.coverage is not None:
        applicable = (~not_applicable).sum(axis=1)
        present = (~empty & ~not_applicable).sum(axis=1)
        for u in all_units:
            share = present[u] / applicable[u] if applicable[u] else 0.0
            if share < spec.coverage - 1e-12 and u not in reasons:
                reasons[u] = (f"{present[u]} of {applicable[u]} applicable indicators present "
                              f"({share:.0%}), below the coverage of {spec.coverage:.0%}")

    meta_all = pd.DataFrame(index=pd.Index(all_units, name="unit"))
    meta_files = [f for f in ("units.csv", "cities.csv") if (folder / f).exists()]
    if len(meta_files) == 2:
        raise DataError(str(folder), "both units.csv and cities.csv",
                        "one metadata file (units.csv; cities.csv is the older name)")
    meta_path = "units.csv (none in the data folder)"
    if meta_files:
        cities = read_table(folder / meta_files[0])
        meta_path = cities.path
        _units_column(cities)
        _same_units(cities, all_units, primary.path)
        meta_all = pd.DataFrame(cities.rows, columns=cities.header).set_index("unit")
        meta_all = meta_all.loc[all_units]
        for gid, group in spec.groups.items():
            if group.column not in meta_all.columns:
                raise DataError(f"{cities.path} header", f"no column '{group.column}'",
                                f"the column that spec group '{gid}' names")

    pub = None
    derived_ranks: tuple[str, ...] = ()
    if (folder / "published.csv").exists():
        pub = read_table(folder / "published.csv")
        _units_column(pub)
        _same_units(pub, all_units, primary.path)
        allowed = {"unit", *aggregates, *(f"{a}_rank" for a in aggregates)}
        unknown = [c for c in pub.header if c not in allowed]
        if unknown:
            raise DataError(f"{pub.path} header", f"unknown node column '{unknown[0]}'",
                            f"'unit', aggregate nodes {aggregates} and their '<node>_rank'")
        if spec.root not in pub.header:
            raise DataError(f"{pub.path} header", f"no column for the root node '{spec.root}'",
                            "the published composite score")
        root_cells = dict(zip(pub.column("unit"), pub.column(spec.root)))
        for u in all_units:
            if root_cells[u] == "" and u not in reasons:
                reasons[u] = "no published composite (not ranked by the publisher)"

    # Units with no composite at all (every indicator missing or not applicable) cannot be
    # ranked: listed with the reason, never a NaN score. Repeated because leaving units out
    # changes the imputation means.
    while True:
        units = [u for u in all_units if u not in reasons]
        if not units:
            raise DataError(primary.path, "no unit left to rank ("
                            + "; ".join(f"{u}: {r}" for u, r in list(reasons.items())[:3])
                            + (" …" if len(reasons) > 3 else "") + ")",
                            "at least one unit to rank")
        avail = ~empty.loc[units].to_numpy()
        available = None if avail.all() else avail
        pipeline = make_pipeline(spec, units, available, missing_x, na_x, meta_all, meta_path,
                                 values.loc[[u for u in all_units if u in reasons]])
        no_root = ~pipeline.node_available(spec.root)
        if not no_root.any():
            break
        for i in np.flatnonzero(no_root):
            reasons[units[i]] = "no indicator present to compute the composite"
    excluded = pd.DataFrame({"unit": list(reasons), "reason": list(reasons.values())},
                            columns=["unit", "reason"])
    values, decimals, half = values.loc[units], decimals.loc[units], half.loc[units]
    if raw is not None:
        raw_all = raw
        raw, raw_dec = raw.loc[units], raw_dec.loc[units]
    if raw_check is not None:
        raw_check = (raw_check[0].loc[units], raw_check[1].loc[units])
    if has_ind:
        lo, hi = spec.scale
        bad = (values < lo) | (values > hi)
        if bad.to_numpy().any():
            unit, col = next((u, c) for u in units for c in spec.indicators if bad.at[u, c])
            i = ind.column("unit").index(unit)
            raise DataError(f"{ind.path} line {ind.line(i)} ({unit}), column '{col}'",
                            f"value {values.at[unit, col]}", f"a score within [{lo}, {hi}]")
    if spec.tiers and sum(spec.tiers) != len(units):
        raise SpecError(f"{spec.path} [index].tiers",
                        f"tier sizes {list(spec.tiers)} sum to {sum(spec.tiers)}",
                        f"sizes summing to the {len(units)} ranked {spec.units}"
                        + (f" ({len(reasons)} not ranked)" if reasons else ""))

    if pub is not None:
        score_cols = [a for a in aggregates if a in pub.header]
        pvalues, pdecimals = _numeric_block(pub, score_cols, units, allow_empty=True)
        pdecimals = np.maximum(pdecimals, spec.decimals)
        ranks = pd.DataFrame(index=units, dtype="Int64")
        order = {u: i for i, u in enumerate(pub.column("unit"))}
        for a in score_cols:
            col = f"{a}_rank"
            if col not in pub.header:
                continue
            cells = pub.column(col)
            out = []
            for unit in units:
                i = order[unit]
                cell = cells[i]
                if cell == "" and a != spec.root:
                    out.append(pd.NA)
                    continue
                if not INTEGER.match(cell) or not 1 <= int(cell) <= len(units):
                    raise DataError(f"{pub.path} line {pub.line(i)} ({unit}), column '{col}'",
                                    f"'{cell}'", f"an integer rank from 1 to {len(units)}"
                                    + ("" if a == spec.root else " (or empty)"))
                out.append(int(cell))
            ranks[a] = pd.array(out, dtype="Int64")
        if spec.root not in ranks.columns:
            # no published ranks: the order of the published composite (ties share the best
            # rank), so that every lens has its reference; the audit does not check them
            ranks[spec.root] = pd.array(rank_desc(pvalues[spec.root].to_numpy()),
                                        dtype="Int64")
            derived_ranks = (spec.root,)
        has_published = True
    else:
        # A draft index: the recomputed composite stands in for the published one, so that
        # every lens can run; the reproduction audit says there is nothing to check.
        root = pipeline.evaluate(values[spec.indicators].to_numpy())
        pdecimals = pd.DataFrame({spec.root: spec.decimals}, index=units)
        pvalues = pd.DataFrame({spec.root: root}, index=units)
        ranks = pd.DataFrame({spec.root: pd.array(rank_desc(root), dtype="Int64")},
                             index=units)
        has_published = False

    meta = meta_all.loc[units] if len(meta_all.columns) else \
        pd.DataFrame(index=pd.Index(units, name="unit"))

    sub = None
    if (folder / "subtables.csv").exists():
        sub = _load_subtables(folder / "subtables.csv", spec, set(units))

    claims = None
    if (folder / "claims.csv").exists():
        claims = _load_claims(folder / "claims.csv", spec, set(units), ranks, meta)

    return Dataset(spec=spec, folder=folder, units=units, indicators=values,
                   indicator_decimals=decimals, published=pvalues,
                   published_decimals=pdecimals, published_ranks=ranks, meta=meta,
                   subtables=sub, claims=claims, indicator_half=half,
                   published_half=0.5 * 10.0 ** -pdecimals.astype(float), raw=raw,
                   available=available, excluded=excluded, pipeline=pipeline,
                   has_published=has_published, treatment=treatment, raw_scores=raw_check,
                   n_exceptions=n_exceptions, sources=read_sources(folder),
                   derived_ranks=derived_ranks, raw_all=raw_all,
                   excluded_meta={"name_en": meta_all["name_en"].reindex(list(reasons))
                                  .to_dict()} if "name_en" in meta_all.columns else None)


SUBTABLE_COLUMNS = ["table", "dimension", "group_kind", "group", "rank", "unit", "node", "value"]


def _read_with_header(path: Path, columns: list[str]) -> Table:
    """A CSV whose header must be exactly ``columns``."""
    table = read_table(path)
    if table.header != columns:
        raise DataError(f"{table.path} header", f"columns {table.header}", f"columns {columns}")
    return table


def _load_subtables(path: Path, spec: Spec, units: set[str]) -> pd.DataFrame:
    table = _read_with_header(path, SUBTABLE_COLUMNS)
    records = []
    for i, row in enumerate(table.rows):
        where = f"{table.path} line {table.line(i)}"
        rec = dict(zip(SUBTABLE_COLUMNS, row))
        if rec["unit"] not in units:
            raise DataError(f"{where}, column 'unit'", f"unknown unit '{rec['unit']}'",
                            "a unit of indicators.csv")
        for col in ("dimension", "node"):
            if rec[col] not in spec.nodes:
                raise DataError(f"{where}, column '{col}'", f"unknown node '{rec[col]}'",
                                "a node of the spec")
        for col in ("table", "rank"):
            if not INTEGER.match(rec[col]):
                raise DataError(f"{where}, column '{col}'", f"'{rec[col]}'", "an integer")
        value, dec = parse_number(rec["value"], f"{where}, column 'value'")
        records.append({**rec, "table": int(rec["table"]), "rank": int(rec["rank"]),
                        "value": value, "decimals": dec, "line": table.line(i)})
    if not records:
        raise DataError(table.path, "no data rows (header only)",
                        "one row per sub-table entry, or no subtables.csv")
    return pd.DataFrame.from_records(records)


CLAIM_COLUMNS = ["report_line", "node", "group_kind", "group", "rank_from", "rank_to",
                 "ordered", "exhaustive", "units", "text"]


def _load_claims(path: Path, spec: Spec, units: set[str], ranks: pd.DataFrame,
                 meta: pd.DataFrame) -> pd.DataFrame:
    """Text statements of the report: "these units hold ranks rank_from..rank_to of ``node``
    within the group" (in that order when ``ordered`` is 1; ``exhaustive`` = 1 when the
    statement's last tier ends the group)."""
    table = _read_with_header(path, CLAIM_COLUMNS)
    records = []
    for i, row in enumerate(table.rows):
        where = f"{table.path} line {table.line(i)}"
        rec = dict(zip(CLAIM_COLUMNS, row))
        if rec["node"] not in spec.nodes:
            raise DataError(f"{where}, column 'node'", f"unknown node '{rec['node']}'",
                            f"a node of the spec {list(spec.nodes)}")
        kind = rec["group_kind"]
        if kind != "all":
            if kind not in spec.groups:
                raise DataError(f"{where}, column 'group_kind'", f"'{kind}'",
                                f"'all' or a spec group {sorted(spec.groups)}")
            col = spec.groups[kind].column
            if col not in meta.columns:
                raise DataError(f"{where}, column 'group_kind'",
                                f"group '{kind}' but no units.csv/cities.csv column '{col}'",
                                f"a units.csv (or cities.csv) beside {table.path} with "
                                f"column '{col}'")
            if rec["group"] not in set(meta[col]):
                raise DataError(f"{where}, column 'group'", f"'{rec['group']}'",
                                f"a value of cities.csv column '{col}'")
        for col in ("report_line", "rank_from", "rank_to"):
            if not INTEGER.match(rec[col]):
                raise DataError(f"{where}, column '{col}'", f"'{rec[col]}'", "an integer")
        for col in ("ordered", "exhaustive"):
            if rec[col] not in ("0", "1"):
                raise DataError(f"{where}, column '{col}'", f"'{rec[col]}'", "0 or 1")
        names = [u for u in rec["units"].split("、") if u] if rec["units"] else []
        for u in names:
            if u not in units:
                raise DataError(f"{where}, column 'units'", f"unknown unit '{u}'",
                                "units of indicators.csv separated by 、")
        records.append({**rec, "report_line": int(rec["report_line"]),
                        "rank_from": int(rec["rank_from"]), "rank_to": int(rec["rank_to"]),
                        "ordered": rec["ordered"] == "1", "exhaustive": rec["exhaustive"] == "1",
                        "units": names, "line": table.line(i)})
    return pd.DataFrame.from_records(records, columns=[*CLAIM_COLUMNS, "line"])
