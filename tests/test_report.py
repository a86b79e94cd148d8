"""The audit page as a reviewer meets it: rendered in headless Chromium, offline, with Chinese
names drawn; and the committed report is what the run file produces."""

from __future__ import annotations

import csv
import hashlib
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


def test_report_files_and_fragile_reasons(small_report):
    for name in ("index.html", "rank_uncertainty.png", "rank_uncertainty.svg", "fragile.csv",
                 "scenarios.csv", "manifest.json", "summary.json"):
        assert (small_report / name).exists(), name
    manifest = json.loads((small_report / "manifest.json").read_text())
    assert "index.html" in manifest["outputs"] and "fragile.csv" in manifest["outputs"]
    rows = list(csv.DictReader(io.StringIO((small_report / "fragile.csv").read_text())))
    assert rows, "some city is fragile in any realistic audit"
    for r in rows:
        assert r["reasons"] and re.search(r"\d", r["reasons"]), r  # words with numbers
    page = (small_report / "index.html").read_text(encoding="utf-8")
    # offline: no external resource referenced from an attribute
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", page)
    assert "北京 Beijing" in page


def render_dom(page: Path) -> str:
    profile = tempfile.mkdtemp()
    try:
        proc = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=30000",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return proc.stdout


@pytest.mark.skipif(CHROMIUM is None and not IN_CI,
                    reason="headless Chromium not installed (Debian package 'chromium'; "
                           ".ci/run installs it)")
def test_page_renders_every_chart_offline_without_errors(small_report):
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    dom = render_dom(small_report / "index.html")
    assert 'data-charts-done="true"' in dom, "the page's chart promises never settled"
    charts = re.findall(r'<div class="chart[^"]*" id="chart\d+"[^>]*>', dom)
    assert len(charts) >= 8
    assert all('data-rendered="true"' in c for c in charts)
    # every chart holds an SVG
    for m in re.finditer(r'id="(chart\d+)"', dom):
        start = m.end()
        assert "<svg" in dom[start:start + 5000], m.group(1)
    errors = re.search(r'<pre id="page-errors">(.*?)</pre>', dom, re.S).group(1)
    # console errors, script errors and any blocked (network) request are written there
    assert errors.strip() == ""


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
