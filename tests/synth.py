"""Synthetic data folders with known truth, for tests.

Indicator scores are drawn at random, every aggregate is computed exactly and then rounded the
way a report rounds (half away from zero at the printed decimals), so a correct audit must find
nothing; tests then corrupt one thing at a time.
"""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np

SMALL_SPEC = """
[index]
id = "synthetic"
root = "total"
tiers = [2, 3]
decimals = 2

[nodes.total]
label_en = "Total"

[nodes.a]
parent = "total"
weight = 0.6

[nodes.b]
parent = "total"
weight = 0.4

[nodes.x1]
parent = "a"
weight = 0.25
normalisation = "none"

[nodes.x2]
parent = "a"
weight = 0.75
normalisation = "none"

[nodes.x3]
parent = "b"
weight = 0.5
normalisation = "none"

[nodes.x4]
parent = "b"
weight = 0.5
normalisation = "none"
"""


def fmt(x: float, decimals: int = 2) -> str:
    q = Decimal(1).scaleb(-decimals)
    return str(Decimal(repr(float(x))).quantize(q, rounding=ROUND_HALF_UP))


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_folder(folder: Path, n_units: int = 8, seed: int = 0, spec_text: str = SMALL_SPEC,
                indicators: np.ndarray | None = None) -> Path:
    """Write spec.toml, indicators.csv, published.csv, cities.csv for a random index."""
    from cityindex.rank import rank_desc
    from cityindex.spec import load_spec

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.toml").write_text(spec_text, encoding="utf-8")
    spec = load_spec(folder / "spec.toml")
    rng = np.random.default_rng(seed)
    d = len(spec.indicators)
    x = indicators if indicators is not None else rng.uniform(0, 100, size=(n_units, d))
    if spec.tiers and sum(spec.tiers) != len(x):  # tier counts must cover every unit
        tiers, left = [], len(x)
        for t in [*spec.tiers, len(x)]:  # the spec's sizes while they fit, then the rest
            if left > 0:
                tiers.append(min(t, left))
                left -= tiers[-1]
        spec_text = spec_text.replace(f"tiers = {list(spec.tiers)}", f"tiers = {tiers}", 1)
        (folder / "spec.toml").write_text(spec_text, encoding="utf-8")
        spec = load_spec(folder / "spec.toml")
    units = [f"u{i:02d}" for i in range(len(x))]
    write_csv(folder / "indicators.csv", ["unit", *spec.indicators],
              [[u, *(fmt(v) for v in row)] for u, row in zip(units, x)])
    matrix = spec.weight_matrix().to_numpy()
    exact = x @ matrix.T  # units x aggregates from the unrounded indicators, as a report does
    header, cols = ["unit"], []
    for j, agg in enumerate(spec.aggregates):
        ranks = rank_desc(exact[:, j])
        header += [agg, f"{agg}_rank"]
        cols.append(([fmt(v) for v in exact[:, j]], ranks))
    rows = [[u] + [c for col in cols for c in (col[0][i], int(col[1][i]))]
            for i, u in enumerate(units)]
    write_csv(folder / "published.csv", header, rows)
    write_csv(folder / "cities.csv", ["unit", "name_en", "region"],
              [[u, f"Unit {i}", "north" if i % 2 else "south"] for i, u in enumerate(units)])
    return folder


def one_level_spec(weights: list[float], tiers: tuple[int, ...] = (2, 3)) -> str:
    """A spec with indicators x1..xk directly under the root, with the given weights."""
    text = f"[index]\nroot = \"total\"\ntiers = {list(tiers)}\n[nodes.total]\n"
    for i, w in enumerate(weights, start=1):
        text += f"[nodes.x{i}]\nparent = \"total\"\nweight = {w}\nnormalisation = \"none\"\n"
    return text
