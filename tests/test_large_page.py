"""The page of a large index (issue 15): above ``LARGE_PAGE_UNITS`` units the page draws
summaries, the most fragile units' intervals and a paged verdict table instead of one row per
unit, and stays small; the CSVs keep every unit. One synthetic run of 600 units through the
command line (about 10 s), then the page read as text and, when Chromium is installed, used
as a reader would (paging, filters, search, sorting; 1,400 px and a 390 px phone)."""

from __future__ import annotations

import csv
import html
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT

from cityindex.app.cli import main
from cityindex.report.build import LARGE_PAGE_UNITS
from cityindex.report.large import FRAGILE_SHOWN, PAGE_ROWS

sys.path.insert(0, str(ROOT / "benchmarks"))
UNITS = 600
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RUN = """
[run]
data = "{data}"
seed = 5
samples = 2048
[normalisation]
choices = ["published", "rank"]
[leave_one_out]
enabled = true
[noise]
replicates = 100
dissemination = {{ model = "lognormal", cv = 0.10 }}
[rank_ci]
n_boot = 100
[resample]
enabled = true
replicates = 100
"""


@pytest.fixture(scope="module")
def large_report(tmp_path_factory) -> Path:
    from synthetic import make_index

    assert UNITS > LARGE_PAGE_UNITS
    base = tmp_path_factory.mktemp("large")
    data = make_index(base / "data", UNITS, seed=3)
    run = base / "large.toml"
    run.write_text(RUN.format(data=data.as_posix()), encoding="utf-8")
    out = base / "out"
    assert main(["run", str(run), "--out", str(out), "--quiet"]) == 0  # PNG/SVG included
    return out


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def page_text(folder: Path) -> str:
    return (folder / "index.html").read_text(encoding="utf-8")


def verdict_data(page: str) -> dict:
    m = re.search(r"<script type='application/json' id='verdict-data'>(.*?)</script>", page,
                  re.S)
    assert m, "the verdict rows are embedded once, as JSON"
    return json.loads(m.group(1).replace("<\\/", "</"))


def chart_spec_after(page: str, anchor: str) -> dict:
    """The Vega-Lite spec of the first chart after the element with id ``anchor``."""
    start = page.index(f"id='{anchor}'")
    spec_id = re.compile(r"data-spec='(spec\d+)'").search(page, start).group(1)
    m = re.search(rf"<script type='application/json' id='{spec_id}'>(.*?)</script>", page,
                  re.S)
    return json.loads(m.group(1).replace("<\\/", "</"))


def expected_fragile(folder: Path) -> list[str]:
    """The rule, recomputed from ranks.csv (weights lens): lowest P(published tier); among
    equals the widest 90% interval (p95 - p05) relative to the number of units published in
    the tier; then the better published rank; then the unit id."""
    rows = [r for r in read_csv(folder / "ranks.csv") if r["lens"] == "weights"]
    size: dict[str, int] = {}
    for r in rows:
        size[r["published_tier"]] = size.get(r["published_tier"], 0) + 1
    key = sorted(rows, key=lambda r: (float(r["p_published_tier"]),
                                      -(float(r["p95"]) - float(r["p05"]))
                                      / size[r["published_tier"]],
                                      int(r["published_rank"]), r["unit"]))
    return [r["unit"] for r in key[:FRAGILE_SHOWN]]


def test_large_page_sections_and_note(large_report):
    page = page_text(large_report)
    for anchor in ("verdicts", "distributions", "distributions-lens", "rank-uncertainty",
                   "construction", "groups", "reproduction", "method"):
        assert f"id='{anchor}'" in page, anchor
    assert f"The {FRAGILE_SHOWN} most fragile units" in page
    assert "The CSV files beside this page keep every unit" in page
    for name in ("verdicts.csv", "ranks.csv", "acceptability.csv", "scenarios.csv"):
        assert f"<b>{name}</b>" in page
    # the per-unit charts of a small index are not drawn
    for anchor in ("tiers", "acceptability", "groups-scale", "sobol-cities"):
        assert f"id='{anchor}'" not in page, anchor
    # the summary charts name what they show
    for title in ("Verdicts by published tier", "Width of the 90% rank interval, lens: ",
                  "Interval width along the ranking, lens: ", "P(published tier), lens: ",
                  "never leaves its tier"):
        assert title in page, title
    # offline, as the small page
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)


def test_large_page_has_no_row_per_unit_outside_the_table(large_report):
    """The only per-unit data is the verdict table's JSON; elsewhere only the fragile units
    (and the units the headline sentences name) appear, and the page stays small."""
    page = page_text(large_report)
    summary = json.loads((large_report / "summary.json").read_text())
    data = re.search(r"<script type='application/json' id='verdict-data'>.*?</script>", page,
                     re.S)
    rest = page[:data.start()] + page[data.end():]
    named = set(re.findall(r"U\d{6}", summary["verdicts"]["headline"] + " ".join(
        lens["headline"] for lens in summary["lenses"].values())))
    assert set(re.findall(r"U\d{6}", rest)) <= set(expected_fragile(large_report)) | named
    table = data.end() - data.start()
    assert table < 200 * UNITS, f"verdict rows: {table / UNITS:.0f} bytes per unit"
    # everything else: the Vega bundle (~0.9 MB), the fragile chart and summaries of bins
    assert len(rest.encode("utf-8")) < 1_300_000


def test_verdict_table_json_has_every_unit(large_report):
    page = page_text(large_report)
    data = verdict_data(page)
    verdicts = read_csv(large_report / "verdicts.csv")
    assert len(data["rows"]) == len(verdicts) == UNITS
    assert data["page_size"] == PAGE_ROWS
    by_unit = {r["unit"]: r for r in verdicts}
    seen = set()
    for row in data["rows"]:
        unit = row[1].split(" ")[0]
        v = by_unit[unit]
        seen.add(unit)
        assert row[0] == int(v["published_rank"])
        assert row[2] == int(v["published_tier"])
        assert data["verdicts"][row[3]] == v["verdict"]
        assert row[4] == pytest.approx(float(v["weights_p_published_tier"]), abs=5e-4)
        assert (row[5], row[6]) == (int(v["weights_p05"]), int(v["weights_p95"]))
        assert "; ".join(data["clauses"][c] for c in row[14]) == v["reasons"]
        assert row[13] == (v["erratum"] == "True")
    assert seen == set(by_unit)
    assert [r[0] for r in data["rows"]] == sorted(r[0] for r in data["rows"])


def test_fragile_chart_shows_the_units_the_rule_picks(large_report):
    page = page_text(large_report)
    spec = chart_spec_after(page, "rank-uncertainty")
    rows = [r for values in spec["datasets"].values() for r in values if "city" in r]
    shown = {r["city"].split(" ")[0] for r in rows}
    expected = expected_fragile(large_report)
    assert len(expected) == FRAGILE_SHOWN
    assert shown == set(expected)
    # the rank axis spans every rank these rows reach, inside the whole index's ranks
    lo, hi = spec["layer"][1]["encoding"]["x"]["scale"]["domain"]
    reach = [r[k] for r in rows for k in ("p05", "p95", "published_rank", "range_lo",
                                          "range_hi") if r.get(k) is not None]
    assert 0 <= lo <= min(reach) and max(reach) <= hi <= UNITS + 1
    # a subtitle that says which units and why
    subtitle = " ".join(spec["title"]["subtitle"])
    assert f"the {FRAGILE_SHOWN} of {UNITS} units least likely to keep their published tier" \
        in subtitle
    assert "lowest P(published tier) first, then the widest 90% interval relative to the " \
           "size of the tier" in subtitle


def test_static_export_is_the_fragile_chart(large_report):
    from PIL import Image

    png = Image.open(large_report / "rank_uncertainty.png")
    width, height = png.size
    assert height < 2500 and width < 2000, png.size  # 50 rows, not 600
    svg = (large_report / "rank_uncertainty.svg").read_text(encoding="utf-8")
    assert "least likely to keep their published tier" in svg


# Uses the page as a reader would: the harness loads it into an iframe (same-origin file:
# pages with --allow-file-access-from-files), pages, filters, searches and sorts the table,
# and writes what it saw into <pre id="out">.
HARNESS = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" width="{width}" height="1200" style="border:0"></iframe>
<pre id="out"></pre><script>
const f = document.getElementById('f');
const res = {{}};
function snap(d, name) {{
  const rows = Array.from(d.querySelectorAll('#verdict-table tbody tr'));
  res[name] = {{rows: rows.length, count: d.getElementById('verdict-count').textContent,
    page: d.getElementById('verdict-page').textContent,
    first: rows.length ? Array.from(rows[0].cells).map((c) => c.textContent) : null,
    verdicts: Array.from(new Set(rows.map((r) => r.dataset.verdict)))}};
}}
function run() {{
  const d = f.contentDocument;
  if (!(d && d.body && d.body.dataset.chartsDone === 'true')) {{ setTimeout(run, 200); return; }}
  res.inner = f.contentWindow.innerWidth;
  res.scroll = d.documentElement.scrollWidth;
  res.errors = d.getElementById('page-errors').textContent;
  res.scrolling = d.body.dataset.chartsScrolling;
  res.rendered = Array.from(d.querySelectorAll('.chart'))
    .map((el) => el.dataset.rendered === 'true' && !!el.querySelector('svg'));
  snap(d, 'initial');
  d.querySelector('button[data-page=next]').click(); snap(d, 'next');
  d.querySelector('button[data-page=last]').click(); snap(d, 'last');
  d.querySelector('button[data-filter-verdict=weight-sensitive]').click(); snap(d, 'ws');
  const heads = d.querySelectorAll('#verdict-table th');
  heads[4].click(); snap(d, 'sorted');
  d.querySelector('button[data-filter-verdict=all]').click();
  const s = d.getElementById('verdict-search');
  s.value = '{find}'; s.dispatchEvent(new Event('input')); snap(d, 'search');
  s.value = 'no such unit'; s.dispatchEvent(new Event('input')); snap(d, 'none');
  document.getElementById('out').textContent = JSON.stringify(res);
}}
run();
</script></body></html>"""


def use_page(folder: Path, tmp_path: Path, width: int, find: str) -> dict:
    frame = tmp_path / f"harness{width}.html"
    frame.write_text(HARNESS.format(src=(folder / "index.html").as_uri(), width=width,
                                    find=find), encoding="utf-8")
    profile = tempfile.mkdtemp()
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--allow-file-access-from-files",
             "--virtual-time-budget=40000", f"--window-size={max(width + 100, 600)},1400",
             "--dump-dom", frame.as_uri()], capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    found = re.search(r'<pre id="out">(.*?)</pre>', proc.stdout, re.S)
    assert found and found.group(1).startswith("{"), proc.stdout[-2000:]
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (Debian "
                                             "package 'chromium')")
@pytest.mark.parametrize("width", [1400, 390])
def test_large_page_in_a_browser(large_report, tmp_path, width):
    verdicts = read_csv(large_report / "verdicts.csv")
    n_ws = sum(r["verdict"] == "weight-sensitive" for r in verdicts)
    target = next(r for r in verdicts if r["verdict"] == "weight-sensitive")
    name = f"{target['unit']} {target['name_en']}"
    m = use_page(large_report, tmp_path, width, name)
    assert m["errors"].strip() == ""
    assert m["inner"] == width and m["scroll"] <= width, m  # nothing widens the page
    assert m["rendered"] and all(m["rendered"]), m["rendered"]
    if width == 1400:
        assert m["scrolling"] == "", "charts wider than their column at 1,400 px"
    pages = -(-UNITS // PAGE_ROWS)
    first = m["initial"]
    assert first["rows"] == PAGE_ROWS and first["count"] == f"{UNITS} of {UNITS} shown"
    assert first["page"] == f"rows 1–{PAGE_ROWS}, page 1 of {pages}"
    assert first["first"][0] == "1"
    assert m["next"]["first"][0] == str(PAGE_ROWS + 1)
    assert m["last"]["page"].endswith(f"page {pages} of {pages}")
    ws = m["ws"]
    assert ws["count"] == f"{n_ws} of {UNITS} shown" and ws["verdicts"] == ["weight-sensitive"]
    lowest = min(float(r["weights_p_published_tier"]) for r in verdicts
                 if r["verdict"] == "weight-sensitive")
    assert float(m["sorted"]["first"][4]) == pytest.approx(lowest, abs=5e-4)
    found = m["search"]
    assert found["rows"] >= 1 and found["first"][1] == name
    assert m["none"]["rows"] == 0 and m["none"]["page"] == "no row matches"
