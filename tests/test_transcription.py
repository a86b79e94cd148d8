"""Every transcribed value against the seed text of the report.

This reader is deliberately independent of tools/transcribe_seed.py: it finds each table by its
heading and each city's row by name, and compares the printed strings cell by cell.
"""

from __future__ import annotations

import csv
import re
from collections import Counter

import pytest
from conftest import DATA, SEED_DIR

SEEDS = sorted(SEED_DIR.glob("*.txt")) if SEED_DIR.is_dir() else []
pytestmark = pytest.mark.skipif(
    not SEEDS, reason=f"report seed text not present at {SEED_DIR} (only in the project "
    "workspace; a user's clone has the transcribed CSVs only)")


@pytest.fixture(scope="module")
def seed_tables() -> dict[int, dict[str, list[str]]]:
    """table number -> {city: [rank, fields…]} from the seed text."""
    text = SEEDS[0].read_text(encoding="utf-8")
    tables: dict[int, dict[str, list[str]]] = {}
    for m in re.finditer(r"^表\s*(\d+)[^\n]*\n", text, flags=re.M):
        number = int(m.group(1))
        rows: dict[str, list[str]] = {}
        for line in text[m.end():].splitlines():
            if re.match(r"^\d+\t", line):
                fields = line.split("\t")
                rows[fields[1]] = [fields[0], *fields[2:]]
            elif line.strip() and not line.startswith("排序"):
                if rows:
                    break
        tables[number] = rows
    return tables


def read(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_tables_present(seed_tables):
    # Table 11 does not exist in the report (numbering jumps from 10 to 12).
    expected = {1, *range(2, 11), *range(12, 34)}
    assert expected - {1} <= set(seed_tables)
    assert 11 not in seed_tables
    for main in (2, 3, 14, 24):
        assert len(seed_tables[main]) == 106


def test_indicators_match_seed(seed_tables):
    rows = read("indicators.csv")
    assert len(rows) == 106
    checked = 0
    for row in rows:
        city = row["unit"]
        t3, t14, t24 = seed_tables[3][city], seed_tables[14][city], seed_tables[24][city]
        # fields: rank, scale, child1, child2, pillar
        assert (row["search"], row["dissemination"]) == (t3[2], t3[3]), city
        assert (row["mainstream_media"], row["social_media"]) == (t14[2], t14[3]), city
        assert (row["favorability"], row["attractiveness"]) == (t24[2], t24[3]), city
        checked += 6
    assert checked == 636


def test_published_match_seed(seed_tables):
    for row in read("published.csv"):
        city = row["unit"]
        t2 = seed_tables[2][city]
        assert (row["image_rank"], row["image"]) == (t2[0], t2[-1]), city
        for number, node in ((3, "communication"), (14, "influence"), (24, "recognition")):
            t = seed_tables[number][city]
            assert (row[f"{node}_rank"], row[node]) == (t[0], t[-1]), (city, node)


def test_subtables_match_seed(seed_tables):
    rows = read("subtables.csv")
    by_table = Counter(int(r["table"]) for r in rows)
    # every row of every sub-table is transcribed (3 values a row; table 2: 3 pillar values)
    for number in [*range(4, 11), *range(12, 14), *range(15, 24), *range(25, 34)]:
        assert by_table[number] == 3 * len(seed_tables[number]), number
    assert by_table[2] == 3 * 106
    for r in rows:
        number = int(r["table"])
        seed_row = seed_tables[number][r["unit"]]
        assert r["rank"] == seed_row[0]
        values = seed_row[2:5] if number == 2 else seed_row[1:]
        nodes = (["communication", "influence", "recognition"] if number == 2 else None)
        if nodes:
            assert values[nodes.index(r["node"])] == r["value"], r
        else:
            assert r["value"] in values, r


def test_cities_scale_matches_every_main_table(seed_tables):
    for row in read("cities.csv"):
        for number in (2, 3, 14, 24):
            assert seed_tables[number][row["unit"]][1] == row["scale"]


def test_regions_follow_footnote_2():
    text = SEEDS[0].read_text(encoding="utf-8")
    note = re.search(r"东部地区包括(.+?)\d+\s*个省.*?中部地区包括(.+?)\d+\s*个省.*?"
                     r"西部地区包括(.+?)\d+\s*个省", text)
    assert note, "footnote 2 not found"
    region_of = {}
    for region, group in zip(("east", "central", "west"), note.groups()):
        for province in group.strip().split("、"):
            region_of[province.strip()] = region
    for row in read("cities.csv"):
        assert region_of[row["province"]] == row["region"], row["unit"]


def test_group_sizes_agree_with_report_counts():
    rows = read("cities.csv")
    scale = Counter(r["scale"] for r in rows)
    # "10座超大城市、13座特大城市、12座I型大城市和71座II型大城市"
    assert scale == {"超大城市": 10, "特大城市": 13, "I型大城市": 12, "II型大城市": 71}
    region = Counter(r["region"] for r in rows)
    # east 10+20+29 (line 311); central 10+16 (line 983); west 10+11 (line 1007)
    assert region == {"east": 59, "central": 26, "west": 21}
    admin = Counter(r["admin_type"] for r in rows)
    # capitals 10+16 (line 345); non-capitals 10+20+46 (line 353); 4 municipalities in neither
    assert admin == {"provincial_capital": 26, "other": 76, "municipality": 4}


def test_claims_quote_the_seed():
    text = SEEDS[0].read_text(encoding="utf-8").splitlines()
    for r in read("claims.csv"):
        # the cited line and the next two (a sentence may run across a page break)
        line = "".join(text[int(r["report_line"]) - 1: int(r["report_line"]) + 2])
        # the quote may elide with … ; every piece of it is on the cited line
        for piece in r["text"].split("…"):
            assert piece.replace(" ", "") in line.replace(" ", ""), (r["report_line"], piece)
        for unit in r["units"].split("、"):
            assert unit in line, (r["report_line"], unit)
