"""The audit page as a reviewer meets it: rendered in headless Chromium, offline, with Chinese
names drawn; and the committed report is what the run file produces."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import DATA, ROOT

from cityindex.app.cli import main

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

SMALL = f"""
[run]
data = "{DATA.as_posix()}"
seed = 11
samples = 4096
[normalisation]
choices = ["published", "rank"]
[aggregation]
choices = ["arithmetic", "geometric"]
[leave_one_out]
enabled = true
[sobol]
enabled = true
n = 64
n_boot = 20
[extremes]
enabled = true
[importance]
enabled = true
[noise]
replicates = 200
search = {{ model = "grid" }}
[rank_ci]
n_boot = 200
[resample]
enabled = true
replicates = 200
[construction]
montecarlo = true
samples = 2048
leave_one_out = 0.25
[combined]
samples = 4096
"""


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("report")
    run = base / "analyses" / "small.toml"
    run.parent.mkdir()
    run.write_text(SMALL, encoding="utf-8")
    out = base / "out"
    assert main(["run", str(run), "--out", str(out), "--quiet"]) == 0
    return out


def test_report_files_verdicts_and_reasons(small_report):
    for name in ("index.html", "rank_uncertainty.png", "rank_uncertainty.svg", "fragile.csv",
                 "verdicts.csv", "scenarios.csv", "manifest.json", "summary.json"):
        assert (small_report / name).exists(), name
    manifest = json.loads((small_report / "manifest.json").read_text())
    assert {"index.html", "fragile.csv", "verdicts.csv"} <= set(manifest["outputs"])
    rows = list(csv.DictReader(io.StringIO((small_report / "fragile.csv").read_text())))
    assert rows, "some city is not robust in any realistic audit"
    for r in rows:
        assert r["verdict"] != "robust"
        assert r["reasons"] and re.search(r"\d", r["reasons"]), r  # words with numbers
    ranks = list(csv.DictReader(io.StringIO((small_report / "ranks.csv").read_text())))
    assert list(dict.fromkeys(r["lens"] for r in ranks)) == [
        "weights", "construction", "noise", "sample", "combined"]
    summary = json.loads((small_report / "summary.json").read_text())
    assert list(summary["lenses"]) == ["weights", "construction", "noise", "sample", "combined"]
    page = (small_report / "index.html").read_text(encoding="utf-8")
    # offline: no external resource referenced from an attribute
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "北京 Beijing" in page
    for sentence in (summary["verdicts"]["headline"],
                     *(lens["headline"] for lens in summary["lenses"].values())):
        assert html.escape(sentence) in page
    # no identifiers where a reader expects words (the reproduction audit's findings, quoted
    # verbatim from `cityindex reproduce`, come last and are exempt)
    shown = re.sub(r"<script.*?</script>", "", page.split("id='reproduction'")[0], flags=re.S)
    for code in ("w_social_media", "p_published_tier", "large_i", "leave_one_out"):
        assert code not in shown, code


def render_dom(url: str, width: int = 1400, *extra: str) -> str:
    profile = tempfile.mkdtemp()
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=40000",
             f"--window-size={width},3000", *extra, "--dump-dom", url],
            capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return proc.stdout


def body_data(dom: str, name: str) -> str:
    m = re.search(rf'<body[^>]* data-{name}="([^"]*)"', dom)
    assert m, f"the page did not record data-{name}"
    return m.group(1)


# A phone-sized frame: headless Chromium will not open a window narrower than 500 px, so the
# page is loaded into a 390 px iframe and measured from inside it.
PHONE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" width="390" height="2400" style="border:0"></iframe>
<pre id="out"></pre><script>
const f = document.getElementById('f');
function poll() {{
  const d = f.contentDocument;
  if (d && d.body && d.body.dataset.chartsDone === 'true') {{
    const charts = Array.from(d.querySelectorAll('.chart'));
    document.getElementById('out').textContent = JSON.stringify({{
      inner: f.contentWindow.innerWidth, scroll: d.documentElement.scrollWidth,
      viewport: (d.querySelector('meta[name=viewport]') || {{}}).content || '',
      charts: charts.length,
      contained: charts.every((el) => ['auto', 'scroll']
        .includes(getComputedStyle(el).overflowX) && el.clientWidth <= 390),
      tables: Array.from(d.querySelectorAll('table')).every(
        (t) => t.parentElement.clientWidth <= 390)}});
    return;
  }}
  setTimeout(poll, 200);
}}
poll();
</script></body></html>"""


@pytest.mark.skipif(CHROMIUM is None and not IN_CI,
                    reason="headless Chromium not installed (Debian package 'chromium'; "
                           ".ci/run installs it)")
def test_page_renders_every_chart_offline_without_errors(small_report):
    """At 1,400 px: every chart drawn, no error, nothing wider than the window and no chart
    that needs its own scroll bar; a link can carry the verdict filter."""
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    dom = render_dom(small_report.joinpath("index.html").as_uri() + "#verdict=robust", 1400)
    assert 'data-charts-done="true"' in dom, "the page's chart promises never settled"
    charts = re.findall(r'<div class="chart[^"]*" id="chart\d+"[^>]*>', dom)
    assert len(charts) >= 10
    assert all('data-rendered="true"' in c for c in charts)
    # every chart holds an SVG
    for m in re.finditer(r'id="(chart\d+)"', dom):
        start = m.end()
        assert "<svg" in dom[start:start + 5000], m.group(1)
    errors = re.search(r'<pre id="page-errors">(.*?)</pre>', dom, re.S).group(1)
    # console errors, script errors and any blocked (network) request are written there
    assert errors.strip() == ""
    assert int(body_data(dom, "view-width")) == 1400
    assert int(body_data(dom, "page-width")) <= 1400
    assert body_data(dom, "charts-scrolling") == "", "charts wider than their column at 1,400 px"
    verdicts = list(csv.DictReader(io.StringIO((small_report / "verdicts.csv").read_text())))
    robust = sum(r["verdict"] == "robust" for r in verdicts)
    assert f'id="verdict-count">{robust} of {len(verdicts)} shown<' in dom
    assert dom.count('<tr data-verdict="robust"') == robust
    shown = re.findall(r'<tr data-verdict="([a-z-]+)"(?![^>]*hidden)', dom)
    assert set(shown) == {"robust"}


@pytest.mark.skipif(CHROMIUM is None and not IN_CI,
                    reason="headless Chromium not installed (Debian package 'chromium')")
def test_page_fits_a_390_px_phone(small_report, tmp_path):
    """At 390 px the page has a viewport meta and nothing widens it: charts and tables scroll
    inside their own containers."""
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    frame = tmp_path / "phone.html"
    frame.write_text(PHONE.format(src=small_report.joinpath("index.html").as_uri()),
                     encoding="utf-8")
    dom = render_dom(frame.as_uri(), 1000, "--allow-file-access-from-files")
    found = re.search(r'<pre id="out">(.*?)</pre>', dom, re.S)
    assert found and found.group(1).startswith("{"), dom[-2000:]
    m = json.loads(html.unescape(found.group(1)))
    assert m["inner"] == 390
    assert m["viewport"] == "width=device-width, initial-scale=1"
    assert m["scroll"] <= 390, m
    assert m["charts"] >= 10 and m["contained"] and m["tables"], m


def test_chinese_names_are_drawn_not_boxes():
    """Without a CJK font every Chinese character is drawn as the same empty box, so two
    different names of equal length render identically; with glyphs they differ."""
    from cityindex.report.page import find_cjk_font_dir, register_cjk_font

    if find_cjk_font_dir() is None:
        if IN_CI:
            pytest.fail("CI must have a CJK font: .ci/run installs fonts-wqy-microhei")
        pytest.skip("no CJK font (install fonts-wqy-microhei or set CITYINDEX_CJK_FONT_DIR)")
    register_cjk_font()
    import altair as alt
    import numpy as np
    import pandas as pd
    import vl_convert as vlc
    from PIL import Image

    def png(label: str) -> np.ndarray:
        spec = alt.Chart(pd.DataFrame({"t": [label]})).mark_text(fontSize=40).encode(
            text="t:N").configure(font="WenQuanYi Micro Hei, Noto Sans CJK SC").to_dict()
        data = vlc.vegalite_to_png(spec, vl_version="6.4")
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=int)

    beijing, shanghai = png("北京"), png("上海")
    assert beijing.shape == shanghai.shape
    assert np.abs(beijing - shanghai).sum() > 10000  # different glyphs, not equal boxes


@pytest.mark.parametrize("stem", ["sensitivity", "hdi"])
def test_committed_report_is_what_the_run_file_produces(tmp_path, stem):
    committed = ROOT / "reports" / stem
    manifest = json.loads((committed / "manifest.json").read_text())
    run = ROOT / "analyses" / f"{stem}.toml"
    assert manifest["run_file_sha256"] == hashlib.sha256(run.read_bytes()).hexdigest(), \
        f"analyses/{stem}.toml changed since reports/{stem}/ was generated"
    for name, digest in manifest["outputs"].items():
        assert hashlib.sha256((committed / name).read_bytes()).hexdigest() == digest, name
    out = tmp_path / "rerun"
    # a fresh process, as a reviewer would run it (and no fork after vl-convert's threads)
    subprocess.run([sys.executable, "-m", "cityindex", "run", str(run), "--out", str(out),
                    "--quiet"], check=True, cwd=ROOT)
    rerun = json.loads((out / "manifest.json").read_text())["outputs"]
    for name, digest in manifest["outputs"].items():
        if not name.endswith((".csv", ".json")):
            continue  # HTML/PNG/SVG embed library and font builds: not part of the contract
        if rerun[name] == digest:
            continue
        assert name.endswith(".csv"), f"{name} differs from the committed copy"
        _assert_csv_close(committed / name, out / name)


def _assert_csv_close(a: Path, b: Path) -> None:
    """Across platforms, floats may differ in the last digits: compare within 1e-9."""
    ra = list(csv.reader(a.open(encoding="utf-8")))
    rb = list(csv.reader(b.open(encoding="utf-8")))
    assert len(ra) == len(rb), a.name
    for x, y in zip(ra, rb):
        for u, v in zip(x, y, strict=True):
            if u == v:
                continue
            assert float(u) == pytest.approx(float(v), rel=1e-9, abs=1e-12), (a.name, u, v)
