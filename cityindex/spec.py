"""The index tree: nodes, weights, effective weights, validation.

A spec is a TOML file with an ``[index]`` table and one ``[nodes.<id>]`` table per node. Every
node but the root names its ``parent`` and its ``weight`` among its siblings; leaves are the
indicators and declare their ``normalisation``. Any depth and any number of nodes work.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cityindex.errors import SpecError

NORMALISATIONS = ("minmax", "score5", "none")
WEIGHT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Node:
    id: str
    parent: str | None
    weight: float | None
    label_zh: str = ""
    label_en: str = ""
    normalisation: str | None = None
    source: str = ""


@dataclass(frozen=True)
class GroupSpec:
    """A grouping of units for within-group rankings (a column of cities.csv)."""

    id: str
    column: str
    tiers: tuple[int, ...]
    exclude: tuple[str, ...] = ()


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

    def children(self, node: str) -> list[str]:
        return [n.id for n in self.nodes.values() if n.parent == node]

    @property
    def indicators(self) -> list[str]:
        """Leaves, in depth-first order of the tree."""
        return [n for n in self.preorder() if not self.children(n)]

    @property
    def aggregates(self) -> list[str]:
        """Internal nodes in post-order: children before parents, so they can be computed in
        this order."""
        return [n for n in self.postorder() if self.children(n)]

    def postorder(self, node: str | None = None) -> list[str]:
        node = node or self.root
        return [d for k in self.children(node) for d in self.postorder(k)] + [node]

    def preorder(self) -> list[str]:
        out: list[str] = []
        stack = [self.root]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(self.children(node)))
        return out

    def leaves_under(self, node: str) -> list[str]:
        kids = self.children(node)
        if not kids:
            return [node]
        return [leaf for k in kids for leaf in self.leaves_under(k)]

    def path_to_root(self, node: str) -> list[str]:
        """The node and its ancestors up to (excluding) the root."""
        out = []
        while node != self.root:
            out.append(node)
            node = self.nodes[node].parent  # type: ignore[assignment]
        return out

    @property
    def weighted_nodes(self) -> list[str]:
        """Every node that carries a weight (all but the root), in preorder."""
        return [n for n in self.preorder() if n != self.root]

    def nominal_weights(self) -> pd.Series:
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


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; raises :class:`SpecError` naming the key at fault."""
    path = Path(path)
    name = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise SpecError(name, "file not found", "an index spec (spec.toml)") from None
    except OSError as exc:  # a directory, no permission
        raise SpecError(name, f"unreadable ({exc.strerror})", "a readable index spec") from None
    except UnicodeDecodeError as exc:
        raise SpecError(name, f"not UTF-8 ({exc.reason} at byte {exc.start})",
                        "a UTF-8 encoded TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(name, f"invalid TOML ({exc})", "valid TOML") from None
    index = raw.get("index")
    if not isinstance(index, dict):
        raise SpecError(name, "no [index] table", "an [index] table with root, tiers, decimals")
    where = f"{name} [index]"
    root = _require(index, "root", where, str, "the id of the root node")
    tiers = _require(index, "tiers", where, list, "a list of tier sizes, e.g. [20, 30, 56]")
    if not tiers or not all(isinstance(t, int) and not isinstance(t, bool) and t > 0
                            for t in tiers):
        raise SpecError(f"{where}.tiers", f"found {tiers!r}", "positive integers")
    decimals = index.get("decimals", 2)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise SpecError(f"{where}.decimals", f"found {decimals!r}",
                        "a non-negative integer (printed decimals)")
    scale = index.get("scale", [0.0, 100.0])
    if (not isinstance(scale, list) or len(scale) != 2
            or not all(isinstance(v, int | float) for v in scale) or scale[0] >= scale[1]):
        raise SpecError(f"{where}.scale", f"found {scale!r}", "[low, high] with low < high")

    raw_nodes = raw.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise SpecError(name, "no [nodes.<id>] tables", "one [nodes.<id>] table per node")
    if root not in raw_nodes:
        raise SpecError(f"{where}.root", f"root '{root}' has no [nodes.{root}] table",
                        "a node id defined under [nodes]")
    nodes: dict[str, Node] = {}
    for node_id, table in raw_nodes.items():
        nwhere = f"{name} [nodes.{node_id}]"
        if not isinstance(table, dict):
            raise SpecError(nwhere, f"found {table!r}", "a table")
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
        nodes[node_id] = Node(
            id=node_id, parent=parent, weight=weight,
            label_zh=str(table.get("label_zh", "")), label_en=str(table.get("label_en", "")),
            normalisation=table.get("normalisation"), source=str(table.get("source", "")),
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
        tiers=tuple(tiers), decimals=int(decimals), scale=(float(scale[0]), float(scale[1])),
        title_zh=str(index.get("title_zh", "")), title_en=str(index.get("title_en", "")),
        path=name,
    )
    for agg in spec.aggregates:
        kids = spec.children(agg)
        total = sum(nodes[k].weight for k in kids)  # type: ignore[misc]
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            raise SpecError(f"{name} [nodes.*] children of '{agg}'",
                            f"weights {', '.join(f'{k}={nodes[k].weight}' for k in kids)} "
                            f"sum to {total:.12g}", "sibling weights summing to 1")
    for leaf in spec.indicators:
        norm = nodes[leaf].normalisation
        if norm not in NORMALISATIONS:
            raise SpecError(f"{name} [nodes.{leaf}].normalisation", f"found {norm!r}",
                            f"one of {list(NORMALISATIONS)} on every indicator")

    groups = {}
    if not isinstance(raw.get("groups") or {}, dict):
        raise SpecError(f"{name} groups", f"found {raw['groups']!r}",
                        "[groups.<id>] tables (column, tiers, exclude)")
    for gid, table in (raw.get("groups") or {}).items():
        gwhere = f"{name} [groups.{gid}]"
        if not isinstance(table, dict):
            raise SpecError(gwhere, f"found {table!r}", "a table (column, tiers, exclude)")
        column = _require(table, "column", gwhere, str, "a column of cities.csv")
        gtiers = table.get("tiers", [])
        if not isinstance(gtiers, list) or not all(
                isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in gtiers):
            raise SpecError(f"{gwhere}.tiers", f"found {gtiers!r}",
                            "a list of positive integers, e.g. [10, 20]")
        excl = table.get("exclude", [])
        if not isinstance(excl, list) or not all(isinstance(v, str) for v in excl):
            raise SpecError(f"{gwhere}.exclude", f"found {excl!r}",
                            'a list of group values, e.g. ["municipality"]')
        groups[gid] = GroupSpec(gid, column, tuple(gtiers), tuple(table.get("exclude", [])))
    object.__setattr__(spec, "groups", groups)
    return spec


def tier_of_rank(ranks: np.ndarray, tiers: tuple[int, ...]) -> np.ndarray:
    """Tier number (1-based) of each rank; ranks beyond the listed sizes fall in the last+1
    tier ("the rest")."""
    bounds = np.cumsum(tiers)
    return np.searchsorted(bounds, np.asarray(ranks), side="left") + 1
