"""Independent check of the UNDP Human Development Index data folder (data/hdi-2021).

Recomputes every published HDI from raw.csv with the method of the report's technical
note 1 (HDR 2021/2022), without importing cityindex:

    life expectancy index   = (LE - 20) / (85 - 20)
    education index         = ((EYS - 0) / (18 - 0) + (MYS - 0) / (15 - 0)) / 2
    income index            = (ln GNIpc - ln 100) / (ln 75000 - ln 100)
    HDI                     = (LEI * EI * II) ** (1/3)

each indicator first capped at its goalposts (LE at 85, EYS at 18, GNI per capita at 75,000;
mean years never exceeds 15 here and the lower goalposts are never reached).

Raw values are printed with a limited number of digits (1 decimal for the years, whole
2017 PPP dollars for GNI), so each stands for an interval of +/- half a unit of its last
printed digit. The HDI is non-decreasing in every input, so its exact range over that box
is [HDI(all lower ends), HDI(all upper ends)]. A published HDI printed with 3 decimals
stands for [value - 0.0005, value + 0.0005]. A unit is a mismatch only if the two intervals
do not meet.

Ranks are checked against the published values alone: a unit's rank must be 1 + the number
of units with a strictly higher published HDI (equal published values share the lowest rank).
The published human-development group (units.csv, hdi_group) is checked against the
published value and the thresholds 0.800 / 0.700 / 0.550.

Usage: python tools/check_hdi.py [data-folder]      (exit status 1 if anything mismatches)
"""

from __future__ import annotations

import csv
import math
import sys
import tomllib
from pathlib import Path

# Goalposts and caps as published (HDR 2021/2022, technical note 1).
GOALPOSTS = {
    "life_expectancy": (20.0, 85.0),
    "expected_schooling": (0.0, 18.0),
    "mean_schooling": (0.0, 15.0),
    "gni_per_capita": (100.0, 75000.0),
}
LEAVES = list(GOALPOSTS)
THRESHOLDS = [(0.800, "very high"), (0.700, "high"), (0.550, "medium")]
LOW = "low"
EPS = 1e-12  # float slack when comparing interval ends


def half_unit(text: str) -> float:
    """Half a unit of the last printed digit of a plain decimal string."""
    if "." in text:
        return 0.5 * 10.0 ** -len(text.split(".", 1)[1])
    return 0.5


def clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def hdi(le: float, eys: float, mys: float, gni: float) -> float:
    lo, hi = GOALPOSTS["life_expectancy"]
    lei = (clip(le, lo, hi) - lo) / (hi - lo)
    lo, hi = GOALPOSTS["expected_schooling"]
    eysi = (clip(eys, lo, hi) - lo) / (hi - lo)
    lo, hi = GOALPOSTS["mean_schooling"]
    mysi = (clip(mys, lo, hi) - lo) / (hi - lo)
    lo, hi = GOALPOSTS["gni_per_capita"]
    ii = (math.log(clip(gni, lo, hi)) - math.log(lo)) / (math.log(hi) - math.log(lo))
    ei = (eysi + mysi) / 2.0
    return (lei * ei * ii) ** (1.0 / 3.0)


def tier(value: float) -> str:
    for cut, label in THRESHOLDS:
        if value >= cut - EPS:
            return label
    return LOW


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["unit"]: row for row in csv.DictReader(fh)}


def check_spec(folder: Path) -> list[str]:
    """The spec must encode the method above (goalposts, log income, geometric root)."""
    spec = tomllib.loads((folder / "spec.toml").read_text(encoding="utf-8"))
    nodes = spec["nodes"]
    out = []
    root = spec["index"]["root"]
    if nodes[root].get("aggregation") != "geometric":
        out.append(f"spec: root {root!r} is not geometric")
    for leaf, (lo, hi) in GOALPOSTS.items():
        node = nodes.get(leaf, {})
        if node.get("normalisation") != "goalposts" or node.get("goalposts") != [lo, hi]:
            out.append(f"spec: {leaf} goalposts {node.get('goalposts')} != {[lo, hi]}")
    if nodes.get("gni_per_capita", {}).get("transform") != "log":
        out.append("spec: gni_per_capita is not log-transformed")
    if spec["index"].get("tier_thresholds") != [c for c, _ in THRESHOLDS]:
        out.append(f"spec: tier_thresholds {spec['index'].get('tier_thresholds')}")
    return out


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parent.parent
    folder = Path(argv[1]) if len(argv) > 1 else repo / "data" / "hdi-2021"
    raw = read(folder / "raw.csv")
    pub = read(folder / "published.csv")
    units = read(folder / "units.csv")

    problems: list[str] = []
    if set(raw) != set(pub) or set(raw) != set(units):
        problems.append("unit sets differ between raw.csv, published.csv and units.csv")

    # --- values -------------------------------------------------------------------------
    n_with, n_missing, widths, worst = 0, 0, [], (0.0, "")
    for unit, row in raw.items():
        cells = [row[k].strip() for k in LEAVES]
        p_text = pub[unit]["hdi"].strip()
        complete = all(cells)
        if not complete:
            n_missing += 1
            if p_text:
                problems.append(f"{unit}: published HDI {p_text} but raw indicators are missing")
            continue
        if not p_text:
            problems.append(f"{unit}: all raw indicators present but no published HDI")
            continue
        n_with += 1
        vals = [float(c) for c in cells]
        halves = [half_unit(c) for c in cells]
        lo = hdi(*[v - h for v, h in zip(vals, halves)])
        hi = hdi(*[v + h for v, h in zip(vals, halves)])
        mid = hdi(*vals)
        p = float(p_text)
        p_half = half_unit(p_text)
        widths.append(hi - lo)
        if abs(mid - p) > worst[0]:
            worst = (abs(mid - p), unit)
        if hi < p - p_half - EPS or lo > p + p_half + EPS:
            problems.append(
                f"{unit} ({units[unit]['name_en']}): published {p_text}, recomputed "
                f"{mid:.5f}, range over printed precision [{lo:.5f}, {hi:.5f}] "
                f"from {dict(zip(LEAVES, cells))}"
            )

    # --- ranks --------------------------------------------------------------------------
    ranked = {u: r for u, r in pub.items() if r["hdi"].strip()}
    milli = {u: round(float(r["hdi"]) * 1000) for u, r in ranked.items()}
    rank_bad = 0
    for unit, row in ranked.items():
        expected = 1 + sum(1 for v in milli.values() if v > milli[unit])
        got = row["hdi_rank"].strip()
        if got != str(expected):
            rank_bad += 1
            problems.append(f"{unit}: published rank {got!r}, expected {expected} from values")
    for unit, row in pub.items():
        if not row["hdi"].strip() and row["hdi_rank"].strip():
            problems.append(f"{unit}: rank {row['hdi_rank']} without a published HDI")
    rank_counts: dict[str, int] = {}
    for row in ranked.values():
        rank_counts[row["hdi_rank"]] = rank_counts.get(row["hdi_rank"], 0) + 1
    tie_groups = [n for n in rank_counts.values() if n > 1]

    # --- tiers --------------------------------------------------------------------------
    tiers: dict[str, int] = {}
    for unit in ranked:
        t = tier(milli[unit] / 1000)
        tiers[t] = tiers.get(t, 0) + 1
        published_group = units[unit].get("hdi_group", "").strip()
        if published_group and published_group != t:
            problems.append(f"{unit}: group {published_group!r} but value gives {t!r}")

    problems += check_spec(folder)

    print(f"folder: {folder}")
    print(f"units: {len(raw)}")
    print(f"with published HDI: {n_with}; without (missing raw indicator): {n_missing}")
    if widths:
        widths.sort()
        print(
            f"HDI range implied by printed raw precision: median width "
            f"{widths[len(widths) // 2]:.5f}, max {widths[-1]:.5f}"
        )
        print(f"largest |recomputed - published| (point estimate): {worst[0]:.5f} ({worst[1]})")
    print(
        f"ranks checked: {len(ranked)}; tie groups: {len(tie_groups)} "
        f"({sum(tie_groups)} units share a rank)"
    )
    order = ["very high", "high", "medium", "low"]
    print("tiers from published values: " + ", ".join(f"{t} {tiers.get(t, 0)}" for t in order))
    print(f"mismatches: {len(problems)}")
    for line in problems:
        print("  " + line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
