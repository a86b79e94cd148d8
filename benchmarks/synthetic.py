"""Synthetic composite indices of any size, in the shape of the 2025 city-image index.

``make_index(folder, n_units, seed)`` writes a data folder that ``cityindex`` reads like the
built-in one: ``spec.toml`` (the 2025 tree: three pillars weighted 0.3 / 0.5 / 0.2, six
indicators, three min-max and three rating/5; tiers scaled from 20 / 30 / 56 of 106),
``indicators.csv`` (normalised scores printed with 2 decimals), ``published.csv`` (every
aggregate computed from the unrounded indicators and printed with 2 decimals, ranks from the
unrounded composite, as a report does) and ``units.csv`` with the three group columns of the
2025 report (scale class, region, provincial capital or not; "municipality" excluded from the
capital grouping). The reproduction audit finds no inconsistency in such a folder.

The indicators share one latent "size" factor (as the 2025 indicators do) with a skewed,
heavy-tailed min-max indicator like the foreign-media volume. Everything is a function of
``(n_units, seed)``: the same arguments write the same bytes.

Command line: ``python benchmarks/synthetic.py OUT_DIR --units 5000 [--seed 0]``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

PILLARS = {"communication": 0.30, "influence": 0.50, "recognition": 0.20}
INDICATORS = [  # name, pillar, weight within the pillar, normalisation
    ("search", "communication", 0.30, "minmax"),
    ("dissemination", "communication", 0.70, "minmax"),
    ("mainstream_media", "influence", 0.30, "score5"),
    ("social_media", "influence", 0.70, "score5"),
    ("favorability", "recognition", 0.60, "score5"),
    ("attractiveness", "recognition", 0.40, "minmax"),
]
SCALES = ("super", "mega", "large_i", "large_ii")
SCALE_P = (0.08, 0.12, 0.15, 0.65)
REGIONS = ("east", "central", "west", "northeast")
REGION_P = (0.50, 0.25, 0.18, 0.07)


def tier_sizes(n: int, shares: tuple[int, ...] = (20, 30, 56)) -> list[int]:
    """The 2025 tier counts scaled to n units (the last tier takes the rest)."""
    total = sum(shares)
    sizes = [max(1, round(n * s / total)) for s in shares[:-1]]
    while sum(sizes) >= n:  # tiny n: keep at least one unit in the last tier
        sizes[sizes.index(max(sizes))] -= 1
    return [*sizes, n - sum(sizes)]


def spec_text(n: int) -> str:
    tiers = tier_sizes(n)
    group_tiers = [max(1, round(n * 10 / 106)), max(2, round(n * 20 / 106))]
    lines = [
        "# Synthetic index in the shape of the 2025 city-image index (benchmarks/synthetic.py)",
        "[index]", 'id = "synthetic"', f'title_en = "Synthetic index, {n} units"',
        'title_zh = "合成指数"', 'units = "units"', 'root = "image"', f"tiers = {tiers}",
        "decimals = 2", "scale = [0.0, 100.0]", "", "[nodes.image]", 'label_en = "Composite"',
    ]
    for pillar, w in PILLARS.items():
        lines += ["", f"[nodes.{pillar}]", 'parent = "image"', f"weight = {w:.2f}"]
    for name, pillar, w, norm in INDICATORS:
        lines += ["", f"[nodes.{name}]", f'parent = "{pillar}"', f"weight = {w:.2f}",
                  f'normalisation = "{norm}"']
    for gid, column in (("scale", "scale_code"), ("region", "region"), ("admin", "admin_type")):
        lines += ["", f"[groups.{gid}]", f'column = "{column}"', f"tiers = {group_tiers}"]
        if gid == "admin":
            lines.append('exclude = ["municipality"]')
    return "\n".join(lines) + "\n"


def _minmax(raw: np.ndarray) -> np.ndarray:
    return 100.0 * (raw - raw.min()) / (raw.max() - raw.min())


def indicator_values(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 6) unrounded normalised scores sharing one latent factor."""
    f = rng.standard_normal(n)
    cols = []
    for name, _, _, norm in INDICATORS:
        e = rng.standard_normal(n)
        if norm == "minmax":
            skew = {"search": 0.8, "dissemination": 1.6, "attractiveness": 0.6}[name]
            cols.append(_minmax(np.exp(skew * (0.7 * f + 0.7 * e))))
        else:  # ratings out of 5, x 20
            rating = np.clip(3.3 + 0.35 * f + 0.3 * e, 1.0, 5.0)
            cols.append(rating * 20.0)
    return np.column_stack(cols)


def _fmt(values: np.ndarray) -> list[str]:
    """2-decimal strings, half away from zero on the exact binary value (as printed)."""
    r = np.floor(np.abs(values) * 100 + 0.5) / 100 * np.sign(values)
    return [f"{v:.2f}" for v in r]


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1 = highest; exact ties share the lowest rank."""
    order = np.argsort(-scores, kind="stable")
    s = scores[order]
    pos = np.arange(1, scores.size + 1)
    new = np.ones(scores.size, dtype=bool)
    new[1:] = s[1:] != s[:-1]
    run = np.maximum.accumulate(np.where(new, pos, 0))
    out = np.empty(scores.size, dtype=np.int64)
    out[order] = run
    return out


def _write(path: Path, header: list[str], columns: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(zip(*columns))


def make_index(folder: str | Path, n_units: int, seed: int = 0) -> Path:
    """Write a synthetic data folder of ``n_units`` units; returns the folder."""
    if n_units < 4:
        raise ValueError(f"n_units must be at least 4; got {n_units}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, n_units])
    x = indicator_values(n_units, rng)
    printed = np.array([[float(v) for v in _fmt(x[:, j])] for j in range(x.shape[1])]).T
    # every minmax indicator attains 0 and 100 as printed (the audit checks it)
    for j, (_, _, _, norm) in enumerate(INDICATORS):
        if norm == "minmax":
            assert printed[:, j].min() == 0.0 and printed[:, j].max() == 100.0
    units = [f"U{i:06d}" for i in range(n_units)]
    _write(folder / "indicators.csv", ["unit", *[i[0] for i in INDICATORS]],
           [units, *[_fmt(x[:, j]) for j in range(x.shape[1])]])
    pillars = {}
    for pillar in PILLARS:
        cols = [(j, w) for j, (_, p, w, _) in enumerate(INDICATORS) if p == pillar]
        pillars[pillar] = sum(w * x[:, j] for j, w in cols)
    total = sum(PILLARS[p] * pillars[p] for p in PILLARS)
    header, columns = ["unit"], [units]
    for node, values in (("image", total), *pillars.items()):
        header += [node, f"{node}_rank"]
        columns += [_fmt(values), [str(r) for r in _ranks(values)]]
    _write(folder / "published.csv", header, columns)
    # groups: scale class follows the latent size (as in the report), region at random
    size_rank = np.argsort(np.argsort(-total))
    cuts = np.cumsum(SCALE_P)[:-1] * n_units
    scale = np.array(SCALES)[np.searchsorted(cuts, size_rank, side="right")]
    region = rng.choice(REGIONS, size=n_units, p=REGION_P)
    admin = np.where(rng.random(n_units) < 0.25, "provincial_capital", "other")
    admin[np.flatnonzero(scale == "super")[:4]] = "municipality"
    _write(folder / "units.csv", ["unit", "name_en", "region", "admin_type", "scale_code"],
           [units, [f"Unit {i}" for i in range(n_units)], list(region), list(admin),
            list(scale)])
    (folder / "spec.toml").write_text(spec_text(n_units), encoding="utf-8")
    (folder / "SOURCES.md").write_text(
        f"Synthetic: benchmarks/synthetic.py, {n_units} units, seed {seed}.\n",
        encoding="utf-8")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="data folder to write")
    parser.add_argument("--units", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(make_index(args.out, args.units, args.seed))


if __name__ == "__main__":
    main()
