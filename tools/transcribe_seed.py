"""Transcribe the 2025 report's tables (plain text, tab-separated) into the data folder.

This is the one-off tool that produced the data folder's indicators, published and subtables CSVs.
It is kept so the transcription can be re-derived and reviewed; the committed CSVs are the
record, and ``tests/test_transcription.py`` checks them cell by cell against the seed text with
its own, independent reader.

Usage: python tools/transcribe_seed.py ../shared/seed/000_790f08782bde550c.txt data/city-image-2025
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

# table number -> (ranking node, group kind, group, value columns after the unit [and scale])
MAIN = {
    2: ("image", ["communication", "influence", "recognition", "image"]),
    3: ("communication", ["search", "dissemination", "communication"]),
    14: ("influence", ["mainstream_media", "social_media", "influence"]),
    24: ("recognition", ["favorability", "attractiveness", "recognition"]),
}
PILLAR_COLUMNS = {
    "communication": ["search", "dissemination", "communication"],
    "influence": ["mainstream_media", "social_media", "influence"],
    "recognition": ["favorability", "attractiveness", "recognition"],
}
GROUPS = [
    ("scale", "super"), ("scale", "mega"), ("scale", "large_i"), ("scale", "large_ii"),
    ("region", "east"), ("region", "central"), ("region", "west"),
    ("admin", "provincial_capital"), ("admin", "other"),
]
SUB = {}
for first, pillar in ((4, "communication"), (15, "influence"), (25, "recognition")):
    for k, (kind, group) in enumerate(GROUPS):
        SUB[first + k + (1 if pillar == "communication" and k >= 7 else 0)] = (pillar, kind, group)

TABLE_HEAD = re.compile(r"^表\s*(\d+)\s")
ROW = re.compile(r"^\d+\t")


def read_tables(text: str) -> dict[int, list[list[str]]]:
    tables: dict[int, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        head = TABLE_HEAD.match(line)
        if head:
            current = int(head.group(1))
            tables[current] = []
            continue
        if current is None:
            continue
        if ROW.match(line):
            tables[current].append(line.split("\t"))
        elif line.strip() and not line.startswith("排序") and tables[current]:
            current = None
    return tables


def main(seed: Path, out: Path) -> None:
    tables = read_tables(seed.read_text(encoding="utf-8"))
    ind_cols = ["search", "dissemination", "mainstream_media", "social_media",
                "favorability", "attractiveness"]
    order = [row[1] for row in tables[2]]
    indicators: dict[str, dict[str, str]] = {u: {} for u in order}
    published: dict[str, dict[str, str]] = {u: {} for u in order}
    for number in (3, 14, 24):
        node, cols = MAIN[number]
        for row in tables[number]:
            rank, unit, _scale, *values = row
            for col, value in zip(cols[:-1], values[:-1]):
                indicators[unit][col] = value
            published[unit][node] = values[-1]
            published[unit][node + "_rank"] = rank
    for row in tables[2]:
        published[row[1]]["image"] = row[-1]
        published[row[1]]["image_rank"] = row[0]

    with open(out / "indicators.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["unit", *ind_cols])
        for u in order:
            w.writerow([u, *(indicators[u][c] for c in ind_cols)])
    pub_cols = ["image", "image_rank", "communication", "communication_rank",
                "influence", "influence_rank", "recognition", "recognition_rank"]
    with open(out / "published.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["unit", *pub_cols])
        for u in order:
            w.writerow([u, *(published[u][c] for c in pub_cols)])
    with open(out / "subtables.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["table", "dimension", "group_kind", "group", "rank", "unit", "node", "value"])
        # Table 2 repeats each pillar score beside the composite: checked like a sub-table.
        for row in tables[2]:
            for node, value in zip(["communication", "influence", "recognition"], row[3:6]):
                w.writerow([2, "image", "all", "all", row[0], row[1], node, value])
        for number in sorted(SUB):
            pillar, kind, group = SUB[number]
            for row in tables[number]:
                rank, unit, *values = row
                for node, value in zip(PILLAR_COLUMNS[pillar], values):
                    w.writerow([number, pillar, kind, group, rank, unit, node, value])


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
