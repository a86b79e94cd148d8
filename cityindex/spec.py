"""The index tree: nodes, weights, effective weights, validation.

A spec is a TOML file with an ``[index]`` table and one ``[nodes.<id>]`` table per node. Every
node but the root names its ``parent`` and its ``weight`` among its siblings; leaves are the
indicators and declare their ``normalisation``. Any depth and any number of nodes work.

``[index]``: ``root``; ``units`` (the unit noun, e.g. "countries"); ``scale`` ([low, high] of
normalised scores); ``decimals`` (the minimum printed precision of published scores: a ``0.85``
read under ``decimals = 3`` is 0.850 ± 0.0005); tiers either as ``tiers`` (counts in rank order,
summing to the number of ranked units) or ``tier_thresholds`` (descending score cut-offs: tier 1
is a score >= the first, the last tier below the last), optional ``tier_labels``; ``missing`` =
``error`` | ``exclude`` | ``reweight`` (what an empty indicator cell means); ``coverage`` (rank
a unit only when at least this share of its applicable indicators is present); ``title`` (the
index's name on the page).

Leaves: ``normalisation``, ``goalposts = [lo, hi]`` in raw units, ``transform`` (before scaling,
goalposts too), ``direction`` (higher | lower), ``treatment`` (none | winsorise | cap, with
``cap = [lo, hi]`` or ``cap_percentiles = [p_lo, p_hi]``). Aggregates: ``aggregation`` (and
``p`` for ``power_mean``). Any node: ``impute`` (with ``impute_by``, a units.csv column, for
``group_mean``). The names allowed are those of the registries in :mod:`cityindex.construction`;
unknown keys and names anywhere are errors naming the key, its table and the closest known one.
"""

from __future__ import annotations

import difflib
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from cityindex.construction.aggregations import AGGREGATIONS as AGGREGATION_OPS
from cityindex.construction.imputation import IMPUTATIONS as IMPUTATION_OPS
from cityindex.construction.normalisations import LEAF_NORMALISATIONS
from cityindex.construction.normalisations import TRANSFORMS as TRANSFORM_OPS
from cityindex.construction.treatment import TREATMENTS as TREATMENT_OPS
from cityindex.errors import SpecError

NORMALISATIONS = LEAF_NORMALISATIONS.names()
TRANSFORMS = TRANSFORM_OPS.names()
AGGREGATIONS = AGGREGATION_OPS.names()
IMPUTATIONS = IMPUTATION_OPS.names()
TREATMENTS = TREATMENT_OPS.names()

DIRECTIONS = ("higher", "lower")
REWEIGHT_RULES = ("children", "leaves")
MISSING_RULES = ("error", "exclude", "reweight")
WEIGHT_TOLERANCE = 1e-9
TOP_KEYS = ("index", "nodes", "groups")
INDEX_KEYS = ("id", "title", "title_zh", "title_en", "root", "units", "tiers",
              "tier_thresholds", "tier_labels", "decimals", "scale", "missing", "coverage",
              "impute_over")
NODE_KEYS = ("parent", "weight", "label_zh", "label_en", "source", "normalisation",
             "goalposts", "transform", "direction", "aggregation", "p", "impute", "impute_by",
             "treatment", "cap", "cap_percentiles", "reweight")
GROUP_KEYS = ("column", "tiers", "exclude", "label_en", "label_zh")


@dataclass(frozen=True)
class Node:
    id: str
    parent: str | None
    weight: float | None
    label_zh: str = ""
    label_en: str = ""
    normalisation: str | None = None
    source: str = ""
    aggregation: str = "arithmetic"          # aggregates only
    goalposts: tuple[float, float] | None = None
    transform: str = "none"
    direction: str = "higher"
    p: float | None = None                   # power_mean's exponent
    impute: str = "none"                     # what fills the node where it is missing
    impute_by: str | None = None             # units.csv column of group_mean
    treatment: str = "none"                  # leaves: outlier treatment of raw values
    cap: tuple[float, float] | None = None
    cap_percentiles: tuple[float, float] | None = None
    reweight: str = "children"               # a gap's weight goes to siblings or to leaves


@dataclass(frozen=True)
class GroupSpec:
    """A grouping of units for within-group rankings (a column of cities.csv)."""

    id: str
    column: str
    tiers: tuple[int, ...]
    exclude: tuple[str, ...] = ()
    label_en: str = ""
    label_zh: str = ""


@dataclass(frozen=True)
class Spec:
    id: str
    root: str
    nodes: dict[str, Node]
    tiers: tuple[int, ...]
    decimals: int
    scale: tuple[float, float]
    title_zh: str = ""
    title_en: str = ""
    groups: dict[str, GroupSpec] = field(default_factory=dict)
    path: str = "spec.toml"
    units: str = "units"
    tier_thresholds: tuple[float, ...] | None = None
    tier_labels: tuple[str, ...] = ()
    missing: str = "error"
    coverage: float | None = None
    title: str = ""
    impute_over: str = "all"     # units whose values enter imputation means: all | ranked

    @cached_property
    def _children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n in self.nodes.values():
            if n.parent is not None:
                out[n.parent].append(n.id)
        return out

    @property
    def display_title(self) -> str:
        """The index's name for the page: ``title``, else the English or Chinese title."""
        return self.title or self.title_en or self.title_zh or self.id

    @property
    def unit(self) -> str:
        """The unit noun in the singular ("cities" -> "city", "countries" -> "country")."""
        noun = self.units
        if noun.endswith("ies"):
            return noun[:-3] + "y"
        return noun[:-1] if noun.endswith("s") else noun

    @property
    def n_tiers(self) -> int:
        if self.tier_thresholds is not None:
            return len(self.tier_thresholds) + 1
        return len(self.tiers)

    def tier_label(self, tier: int) -> str:
        """'tier 2' or the spec's own label, e.g. 'high'."""
        if self.tier_labels:
            return self.tier_labels[tier - 1]
        return f"tier {tier}"

    @property
    def linear(self) -> bool:
        """Every aggregate is arithmetic: the composite is linear in the indicators with the
        effective weights (the fast path of every analysis, where the data are complete)."""
        return all(self.nodes[a].aggregation == "arithmetic" for a in self.aggregates)

    def children(self, node: str) -> list[str]:
        return list(self._children[node])

    @property
    def indicators(self) -> list[str]:
        """Leaves, in depth-first order of the tree."""
        return list(self._order[0])

    @property
    def aggregates(self) -> list[str]:
        """Internal nodes in post-order: children before parents, so they can be computed in
        this order."""
        return list(self._order[1])

    @cached_property
    def _order(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        pre = self.preorder()
        return (tuple(n for n in pre if not self._children[n]),
                tuple(n for n in self.postorder() if self._children[n]),
                tuple(n for n in pre if n != self.root))

    def postorder(self, node: str | None = None) -> list[str]:
        """Children before parents, siblings in order (iterative: any depth)."""
        out, stack = [], [node or self.root]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self._children[n])
        return out[::-1]

    def preorder(self, node: str | None = None) -> list[str]:
        out: list[str] = []
        stack = [node or self.root]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(reversed(self._children[n]))
        return out

    def leaves_under(self, node: str) -> list[str]:
        return [n for n in self.preorder(node) if not self._children[n]]

    def path_to_root(self, node: str) -> list[str]:
        """The node and its ancestors up to (excluding) the root."""
        return list(self._paths[node])

    @cached_property
    def _paths(self) -> dict[str, tuple[str, ...]]:
        """node -> the node and its ancestors up to (excluding) the root, computed once:
        path_to_root is called for every leaf of every scenario (leave-one-out and the
        alternative constructions of a 1,000-indicator index called it 10^6 times)."""
        paths: dict[str, tuple[str, ...]] = {}
        for node in self.preorder():  # parents first
            parent = self.nodes[node].parent or ""
            paths[node] = () if node == self.root else (node, *paths.get(parent, ()))
        return paths

    @property
    def weighted_nodes(self) -> list[str]:
        """Every node that carries a weight (all but the root), in preorder."""
        return list(self._order[2])

    def nominal_weights(self) -> pd.Series:
        return self._nominal_weights.copy()  # a copy: callers modify it

    @cached_property
    def _nominal_weights(self) -> pd.Series:
        return pd.Series({n: self.nodes[n].weight for n in self.weighted_nodes}, dtype=float)

    def effective_weights(self, weights: pd.Series | None = None, node: str | None = None
                          ) -> pd.Series:
        """Weight of each indicator in ``node`` (default the root): the product of the node
        weights on the path from the indicator up to ``node``."""
        w = self.nominal_weights() if weights is None else weights
        top = node or self.root
        out = {}
        for leaf in self.leaves_under(top):
            prod = 1.0
            cur = leaf
            while cur != top:
                prod *= float(w[cur])
                cur = self.nodes[cur].parent  # type: ignore[assignment]
            out[leaf] = prod
        return pd.Series(out, dtype=float)

    def weight_matrix(self, weights: pd.Series | None = None) -> pd.DataFrame:
        """Aggregates x indicators: the effective weight of each indicator in each aggregate,
        so that, under arithmetic aggregation, node scores = indicators @ matrix.T."""
        rows = {}
        for agg in self.aggregates:
            eff = self.effective_weights(weights, agg)
            rows[agg] = eff.reindex(self.indicators, fill_value=0.0)
        return pd.DataFrame(rows).T.loc[self.aggregates, self.indicators]

    def label(self, node: str) -> str:
        n = self.nodes[node]
        return f"{n.label_zh} {n.label_en}".strip()


def _require(table: dict, key: str, where: str, kind: type | tuple[type, ...], expected: str):
    if key not in table:
        raise SpecError(where, f"missing key '{key}'", expected)
    value = table[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise SpecError(f"{where}.{key}", f"found {value!r}", expected)
    return value


def _known_keys(table: dict, known: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in known:
            match = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
            hint = f" (did you mean '{match[0]}'?)" if match else ""
            raise SpecError(f"{where}.{key}", f"unknown key{hint}", f"keys among {list(known)}")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _choice(table: dict, key: str, where: str, allowed: tuple[str, ...], default: str) -> str:
    value = table.get(key, default)
    if value not in allowed:
        raise SpecError(f"{where}.{key}", f"found {value!r}", f"one of {list(allowed)}")
    return value


def _positive_ints(value: object, where: str, expected: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in value):
        raise SpecError(where, f"found {value!r}", expected)
    return tuple(value)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raises :class:`SpecError` naming the key at fault."""
    path = Path(path)
    name = str(path)
    try:
        raw = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except FileNotFoundError:
        raise SpecError(name, "file not found", "an index spec (spec.toml)") from None
    except IsADirectoryError:
        raise SpecError(name, "a directory", "an index spec (spec.toml)") from None
    except UnicodeDecodeError as exc:
        raise SpecError(name, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                        "a UTF-8 encoded TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(name, f"invalid TOML ({exc})", "valid TOML") from None
    except OSError as exc:
        raise SpecError(name, f"unreadable ({exc.strerror})", "a readable spec.toml") from None
    _known_keys(raw, TOP_KEYS, name)
    index = raw.get("index")
    if not isinstance(index, dict):
        raise SpecError(name, "no [index] table", "an [index] table with root, tiers, decimals")
    where = f"{name} [index]"
    _known_keys(index, INDEX_KEYS, where)
    root = _require(index, "root", where, str, "the id of the root node")
    tiers: tuple[int, ...] = ()
    thresholds = None
    if ("tiers" in index) == ("tier_thresholds" in index):
        raise SpecError(where, "both or neither of 'tiers' and 'tier_thresholds'",
                        "tiers = [counts in rank order] or tier_thresholds = [descending "
                        "score cut-offs]")
    if "tiers" in index:
        tiers = _positive_ints(index["tiers"], f"{where}.tiers",
                               "a list of positive integers, e.g. [20, 30, 56]")
        if not tiers:
            raise SpecError(f"{where}.tiers", "found []", "at least one tier size")
    else:
        cut = index["tier_thresholds"]
        if (not isinstance(cut, list) or not cut or not all(_is_number(v) for v in cut)
                or any(a <= b for a, b in itertools.pairwise(cut))):
            raise SpecError(f"{where}.tier_thresholds", f"found {cut!r}",
                            "a non-empty list of strictly descending numbers")
        thresholds = tuple(float(v) for v in cut)
    n_tiers = len(tiers) if thresholds is None else len(thresholds) + 1
    labels = index.get("tier_labels", [])
    if (not isinstance(labels, list) or not all(isinstance(v, str) for v in labels)
            or (labels and len(labels) != n_tiers)):
        raise SpecError(f"{where}.tier_labels", f"found {labels!r}",
                        f"{n_tiers} strings, one per tier")
    decimals = index.get("decimals", 2)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise SpecError(f"{where}.decimals", f"found {decimals!r}",
                        "a non-negative integer (the minimum printed decimals)")
    scale = index.get("scale", [0.0, 100.0])
    if (not isinstance(scale, list) or len(scale) != 2
            or not all(_is_number(v) for v in scale) or scale[0] >= scale[1]):
        raise SpecError(f"{where}.scale", f"found {scale!r}", "[low, high] with low < high")
    for key in ("id", "title", "title_zh", "title_en", "units"):
        if key in index and not isinstance(index[key], str):
            raise SpecError(f"{where}.{key}", f"found {index[key]!r}", "a string")
    missing = _choice(index, "missing", where, MISSING_RULES, "error")
    coverage = index.get("coverage")
    if coverage is not None and not (_is_number(coverage) and 0 < coverage <= 1):
        raise SpecError(f"{where}.coverage", f"found {coverage!r}",
                        "a share in (0, 1]: rank a unit only with at least this share of its "
                        "applicable indicators present")
    units_noun = index.get("units", "units")
    if isinstance(units_noun, str) and not units_noun.strip():
        raise SpecError(f"{where}.units", f"found {units_noun!r}",
                        "a non-empty unit noun, e.g. \"countries\"")

    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise SpecError(name, "no [nodes.<id>] tables", "one [nodes.<id>] table per node")
    if root not in raw_nodes:
        raise SpecError(f"{where}.root", f"root '{root}' has no [nodes.{root}] table",
                        "a node id defined under [nodes]")
    for node_id, table in raw_nodes.items():
        if isinstance(table, dict) and "parent" in table and not isinstance(table["parent"], str):
            raise SpecError(f"{name} [nodes.{node_id}].parent", f"found {table['parent']!r}",
                            "the id of one parent node (a string)")
    parents = {t.get("parent") for t in raw_nodes.values() if isinstance(t, dict)}
    nodes: dict[str, Node] = {}
    for node_id, table in raw_nodes.items():
        nwhere = f"{name} [nodes.{node_id}]"
        if not isinstance(table, dict):
            raise SpecError(nwhere, f"found {table!r}", "a table")
        _known_keys(table, NODE_KEYS, nwhere)
        if node_id == root:
            if "parent" in table or "weight" in table:
                raise SpecError(nwhere, "root node has a parent or weight",
                                "no parent and no weight on the root")
            parent, weight = None, None
        else:
            parent = _require(table, "parent", nwhere, str, "the id of the parent node")
            if parent not in raw_nodes:
                raise SpecError(f"{nwhere}.parent", f"unknown node '{parent}'",
                                f"one of {sorted(raw_nodes)}")
            weight = float(_require(table, "weight", nwhere, (int, float),
                                    "a weight between 0 and 1"))
            if not math.isfinite(weight) or weight < 0 or weight > 1:
                raise SpecError(f"{nwhere}.weight", f"found {weight}",
                                "a finite weight between 0 and 1")
        leaf = node_id not in parents
        leaf_keys = ("normalisation", "goalposts", "transform", "direction", "treatment",
                     "cap", "cap_percentiles")
        misplaced = ([k for k in leaf_keys if k in table] if not leaf
                     else [k for k in ("aggregation", "p", "reweight") if k in table])
        if misplaced:
            kind = "an aggregate node" if not leaf else "an indicator (leaf)"
            raise SpecError(f"{nwhere}.{misplaced[0]}", f"set on {kind}",
                            "normalisation/goalposts/transform/direction/treatment on "
                            "indicators, aggregation (and p) on aggregate nodes")
        goalposts = None
        if "goalposts" in table:
            gp = table["goalposts"]
            if (not isinstance(gp, list) or len(gp) != 2 or not all(_is_number(v) for v in gp)
                    or gp[0] >= gp[1]):
                raise SpecError(f"{nwhere}.goalposts", f"found {gp!r}",
                                "[lo, hi] in raw units with lo < hi")
            goalposts = (float(gp[0]), float(gp[1]))
        transform = _choice(table, "transform", nwhere, TRANSFORMS, "none")
        aggregation = _choice(table, "aggregation", nwhere, AGGREGATIONS, "arithmetic")
        p = table.get("p")
        if aggregation == "power_mean" or p is not None:
            if aggregation != "power_mean":
                raise SpecError(f"{nwhere}.p", "set without aggregation = 'power_mean'",
                                "p only together with aggregation = 'power_mean'")
            if not _is_number(p) or p == 0:
                raise SpecError(f"{nwhere}.p", f"found {p!r}",
                                "a non-zero number (the power mean's exponent; use "
                                "aggregation = 'geometric' for p = 0)")
            p = float(p)
        impute = _choice(table, "impute", nwhere, IMPUTATIONS, "none")
        impute_by = table.get("impute_by")
        if (impute == "group_mean") != (impute_by is not None):
            raise SpecError(f"{nwhere}.impute_by", f"found {impute_by!r} with impute = "
                            f"{impute!r}", "impute_by = '<units.csv column>' exactly when "
                            "impute = 'group_mean'")
        if impute_by is not None and not (isinstance(impute_by, str) and impute_by.strip()):
            raise SpecError(f"{nwhere}.impute_by", f"found {impute_by!r}",
                            "the name of a units.csv column")
        treatment = _choice(table, "treatment", nwhere, TREATMENTS, "none")
        caps: dict[str, tuple[float, float] | None] = {"cap": None, "cap_percentiles": None}
        for key in caps:
            if key in table:
                c = table[key]
                hi_ok = 100 if key == "cap_percentiles" else math.inf
                if (not isinstance(c, list) or len(c) != 2 or not all(_is_number(v) for v in c)
                        or c[0] >= c[1] or (key == "cap_percentiles"
                                            and not 0 <= c[0] < c[1] <= hi_ok)):
                    raise SpecError(f"{nwhere}.{key}", f"found {c!r}",
                                    "[lo, hi] with lo < hi" + (" within [0, 100]"
                                                               if key == "cap_percentiles"
                                                               else ""))
                caps[key] = (float(c[0]), float(c[1]))
        if (treatment == "cap") != (caps["cap"] is not None or caps["cap_percentiles"]
                                    is not None) or (caps["cap"] and caps["cap_percentiles"]):
            raise SpecError(f"{nwhere}.treatment", f"found treatment = {treatment!r} with "
                            f"cap = {caps['cap']!r}, cap_percentiles = "
                            f"{caps['cap_percentiles']!r}", "treatment = 'cap' together with "
                            "exactly one of cap = [lo, hi] or cap_percentiles = [p_lo, p_hi]")
        if transform != "none" and goalposts is not None and goalposts[0] <= 0:
            raise SpecError(f"{nwhere}.goalposts", f"found {list(goalposts)!r}",
                            f"positive goalposts for transform '{transform}'")
        nodes[node_id] = Node(
            id=node_id, parent=parent, weight=weight,
            label_zh=str(table.get("label_zh", "")), label_en=str(table.get("label_en", "")),
            normalisation=table.get("normalisation"), source=str(table.get("source", "")),
            aggregation=aggregation, goalposts=goalposts, transform=transform,
            direction=_choice(table, "direction", nwhere, DIRECTIONS, "higher"),
            p=p, impute=impute, impute_by=impute_by, treatment=treatment, cap=caps["cap"],
            cap_percentiles=caps["cap_percentiles"],
            reweight=_choice(table, "reweight", nwhere, REWEIGHT_RULES, "children"),
        )

    # Every node must reach the root without a cycle.
    for node_id in nodes:
        seen = set()
        cur = node_id
        while cur != root:
            if cur in seen:
                raise SpecError(f"{name} [nodes.{node_id}]", "the parent chain has a cycle",
                                f"a tree rooted at '{root}'")
            seen.add(cur)
            cur = nodes[cur].parent  # type: ignore[assignment]

    spec = Spec(
        id=str(index.get("id", path.parent.name)), root=root, nodes=nodes,
        tiers=tiers, decimals=decimals, scale=(float(scale[0]), float(scale[1])),
        title_zh=str(index.get("title_zh", "")), title_en=str(index.get("title_en", "")),
        path=name, units=str(index.get("units", "units")), tier_thresholds=thresholds,
        tier_labels=tuple(labels), missing=missing,
        coverage=None if coverage is None else float(coverage),
        impute_over=_choice(index, "impute_over", where, ("all", "ranked"), "all"),
        title=str(index.get("title", "")),
    )
    for agg in spec.aggregates:
        kids = spec.children(agg)
        total = sum(nodes[k].weight for k in kids)  # type: ignore[misc]
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise SpecError(f"{name} [nodes.*] children of '{agg}'",
                            f"weights {', '.join(f'{k}={nodes[k].weight}' for k in kids)} "
                            f"sum to {total:.12g}", "sibling weights summing to 1")
    for agg in spec.aggregates:
        if nodes[agg].reweight == "leaves":
            below = [a for a in spec.postorder(agg) if spec.children(a)]
            other = [a for a in below if nodes[a].aggregation != "arithmetic"]
            if other:
                raise SpecError(f"{name} [nodes.{agg}].reweight",
                                f"'leaves' over node '{other[0]}' with aggregation "
                                f"'{nodes[other[0]].aggregation}'",
                                "arithmetic aggregation at the node and every node below it "
                                "(a gap's weight goes to the leaves present)")
    for leaf in spec.indicators:
        node = nodes[leaf]
        if node.normalisation not in NORMALISATIONS:
            raise SpecError(f"{name} [nodes.{leaf}].normalisation",
                            f"found {node.normalisation!r}",
                            f"one of {list(NORMALISATIONS)} on every indicator")
        if (node.normalisation == "goalposts") != (node.goalposts is not None):
            raise SpecError(f"{name} [nodes.{leaf}].goalposts",
                            "goalposts without normalisation = 'goalposts' or the reverse",
                            "normalisation = 'goalposts' together with goalposts = [lo, hi]")

    groups = {}
    raw_groups = raw.get("groups") or {}
    if not isinstance(raw_groups, dict):
        raise SpecError(f"{name} groups", f"found {raw_groups!r}", "[groups.<id>] tables")
    for gid, table in raw_groups.items():
        gwhere = f"{name} [groups.{gid}]"
        if not isinstance(table, dict):
            raise SpecError(gwhere, f"found {table!r}", "a table with column, tiers, exclude")
        _known_keys(table, GROUP_KEYS, gwhere)
        column = _require(table, "column", gwhere, str, "a column of units.csv")
        gtiers = _positive_ints(table.get("tiers", []), f"{gwhere}.tiers",
                                "a list of positive integers, e.g. [10, 20]")
        exclude = table.get("exclude", [])
        if not isinstance(exclude, list) or not all(isinstance(v, str) for v in exclude):
            raise SpecError(f"{gwhere}.exclude", f"found {exclude!r}",
                            "a list of group values, e.g. [\"municipality\"]")
        groups[gid] = GroupSpec(gid, column, gtiers, tuple(exclude),
                                str(table.get("label_en", "")), str(table.get("label_zh", "")))
    object.__setattr__(spec, "groups", groups)
    return spec


def tier_of_rank(ranks: np.ndarray, tiers: tuple[int, ...]) -> np.ndarray:
    """Tier number (1-based) of each rank; ranks beyond the listed sizes fall in the last+1
    tier ("the rest")."""
    bounds = np.cumsum(tiers)
    return np.searchsorted(bounds, np.asarray(ranks), side="left") + 1


def tier_of_score(scores: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Tier number (1-based) of each score under descending cut-offs: tier 1 is a score at
    or above the first cut-off, the last tier below the last one."""
    cut = -np.asarray(thresholds, dtype=float)
    return np.searchsorted(cut, -np.asarray(scores, dtype=float), side="left") + 1
