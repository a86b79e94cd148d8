"""The audit page's layout as a reviewer meets it in Chromium, at 1,400 px and on a 390 px
phone: nothing widens the page, the rank chart fits the phone (its compact variant), the
verdict of any unit is readable without scrolling sideways, no warning or error reaches the
console; and with every CJK font of the system hidden from Chromium, the Chinese names are
still drawn with real glyphs (the page embeds a subset of its font).

Chromium is driven over the DevTools pipe (as in test_page_escaping.py), so that console
messages are seen as they are logged and the phone is emulated (device metrics, viewport
meta honoured) rather than framed."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import DATA
from devtools import DevToolsPipe

from cityindex.report.fonts import PAGE_FONT_FAMILY

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and not IN_CI,
    reason="headless Chromium not installed (Debian package 'chromium'; .ci/run installs it)")

# a quick run of the built-in data (a few seconds): every section of the small page
RUN = """
[run]
data = "{data}"
seed = 7
samples = 512
[normalisation]
choices = ["published", "rank"]
[leave_one_out]
enabled = true
[sobol]
enabled = true
n = 16
n_boot = 10
[extremes]
enabled = true
[noise]
replicates = 100
[rank_ci]
n_boot = 100
"""


class Browser(DevToolsPipe):
    """One page at ``width`` px (below 500 px a mobile device is emulated: headless Chromium
    opens no narrower window), every console message, log entry and exception recorded in
    ``events``. ``env``: extra environment (e.g. FONTCONFIG_FILE)."""

    def __init__(self, url: str, width: int, env: dict[str, str] | None = None,
                 height: int = 1000):
        super().__init__(CHROMIUM, (max(width, 800), height), env)
        try:
            self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                      deviceScaleFactor=1, mobile=width < 500)
            self.send("Page.navigate", url=url)
        except BaseException:
            self.close()
            raise

    def wait_for_charts(self) -> None:
        self.wait_for("document.body && document.body.dataset.chartsDone === 'true'")
        time.sleep(0.3)

    def console(self) -> list[str]:
        """Every warning or error the page produced: console.warn/error (Vega's warnings),
        log entries (blocked requests, policy violations), uncaught exceptions."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in (
                    "warning", "error", "assert"):
                out.append(p["type"] + ": " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Log.entryAdded" and p["entry"]["level"] in ("warning",
                                                                             "error"):
                out.append(f"log {p['entry']['level']}: {p['entry']['text']}")
            elif e["method"] == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:500])
        return out

    def screenshot(self, path: Path) -> None:
        """The whole page as a PNG."""
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         timeout=120)["data"]
        path.write_bytes(base64.b64decode(data))


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    import cityindex as ci

    base = tmp_path_factory.mktemp("layout")
    run = base / "quick.toml"
    run.write_text(RUN.format(data=DATA.as_posix()), encoding="utf-8")
    ci.Study.from_runfile(run).run().write(base / "out", static=False)
    return base / "out" / "index.html"


# What a reader sees: page width, the rank and tier charts that are shown (the wide or the
# compact variant), and the verdict of the non-robust unit with the longest reasons, scrolled
# to vertically.
MEASURE = """(() => {
  const de = document.documentElement, W = window.innerWidth;
  const shownAfter = (id) => {  // the first chart drawn after the heading: wide or compact
    let el = document.getElementById(id).nextElementSibling;
    const chartIn = (e) => (e.classList.contains('chart') ? e : e.querySelector('.chart'));
    while (el && !(chartIn(el) && chartIn(el).offsetWidth > 0)) el = el.nextElementSibling;
    if (!el) return null;
    el = chartIn(el);
    const svg = el.querySelector('svg').getBoundingClientRect();
    return {id: el.id, compact: !!el.closest('.only-narrow'),
            client: el.clientWidth, scroll: el.scrollWidth,
            svgLeft: svg.left, svgRight: svg.right, svgWidth: svg.width,
            texts: Array.from(el.querySelectorAll('svg text')).map((t) => t.textContent)};
  };
  const rows = Array.from(document.querySelectorAll('#verdict-table tbody tr'));
  const row = rows.filter((r) => r.dataset.verdict !== 'robust').sort(
    (a, b) => b.querySelector('td.reasons').textContent.length
      - a.querySelector('td.reasons').textContent.length)[0];
  row.scrollIntoView({block: 'center'});
  const box = (el) => { const r = el.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const chip = row.querySelector('.chip'), reasons = row.querySelector('td.reasons');
  const c = chip.getBoundingClientRect();
  const hit = document.elementFromPoint((c.left + c.right) / 2, (c.top + c.bottom) / 2);
  const wrap = row.closest('.table-wrap');
  return {
    inner: W, scroll: de.scrollWidth, bodyScroll: document.body.scrollWidth,
    errors: document.getElementById('page-errors').textContent,
    rank: shownAfter('rank-uncertainty'), tiers: shownAfter('tiers'),
    unit: row.querySelector('td.city').textContent, verdict: chip.textContent,
    chip: box(chip), reasons: box(reasons), reasonsText: reasons.textContent,
    chipSeen: hit === chip || chip.contains(hit),
    wrap: {client: wrap.clientWidth, scroll: wrap.scrollWidth},
    rendered: Array.from(document.querySelectorAll('.chart')).every(
      (el) => el.dataset.rendered === 'true'),
  };
})()"""


@needs_chromium
@pytest.mark.parametrize("width", [1400, 390])
def test_page_layout(page, width):
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    browser = Browser(page.as_uri(), width)
    try:
        browser.wait_for_charts()
        m = browser.evaluate(MEASURE)
        console = browser.console()
    finally:
        browser.close()
    assert m["inner"] == width
    assert m["scroll"] <= width and m["bodyScroll"] <= width, m  # nothing widens the page
    assert m["errors"] == "" and m["rendered"], m["errors"]
    assert console == [], console  # e.g. no "Channel order is inappropriate" from Vega
    for name in ("rank", "tiers"):
        chart = m[name]
        assert chart is not None, name
        # the chart shown fits its box and the window: no sideways scroll inside it
        assert chart["scroll"] <= chart["client"] + 1, (name, chart["id"], chart)
        assert chart["svgLeft"] >= 0 and chart["svgRight"] <= width, (name, chart)
        assert chart["compact"] == (width < 640), chart["id"]
    rank = m["rank"]
    assert any(t.startswith("Rank uncertainty") for t in rank["texts"]), rank["texts"][:20]
    assert any(t.startswith("rank (1 = best") for t in rank["texts"])
    if width < 640:  # the compact rank axis: a few round ticks up to the last rank
        ticks = [int(t) for t in rank["texts"] if re.fullmatch(r"\d+", t)]
        assert 1 in ticks and max(ticks) >= 100, ticks
    # the verdict and the reasons of the chosen unit, on screen without scrolling sideways
    assert m["chipSeen"], m
    for part in ("chip", "reasons"):
        assert m[part]["left"] >= 0 and m[part]["right"] <= width, (part, m[part])
    assert m["wrap"]["scroll"] <= m["wrap"]["client"] + 1, m["wrap"]
    if width < 640:  # the reasons under the unit, not in a far column
        assert m["reasons"]["top"] > m["chip"]["top"], m
        assert m["reasons"]["right"] - m["reasons"]["left"] > 0.6 * width, m


# Fontconfig with no CJK font: DejaVu only (or nothing), so Chromium has no system font for
# Chinese and draws boxes unless the page brings its own.
FONTS_CONF = """<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>{dirs}<cachedir>{cache}</cachedir></fontconfig>
"""

# Two different names drawn on a canvas, in a given font: with real glyphs the pixels differ,
# as boxes they are the same. The control ('sans-serif', no embedded font) must be boxes,
# or the system still has a CJK font and the test proves nothing.
GLYPHS = """(async () => {
  const names = %s;
  const draw = (font, text) => {
    const c = document.createElement('canvas'); c.width = 160; c.height = 60;
    const x = c.getContext('2d'); x.font = '40px ' + font; x.fillText(text, 4, 46);
    return x.getImageData(0, 0, 160, 60).data.filter((_, i) => i %% 4 === 3);
  };
  const diff = (font) => { const a = draw(font, names[0]), b = draw(font, names[1]);
    let s = 0; for (let i = 0; i < a.length; i += 1) s += Math.abs(a[i] - b[i]); return s; };
  const label = document.querySelector('.chart svg text');
  const chartFont = label.getAttribute('font-family');
  await document.fonts.load('40px "%s"', names.join(''));
  return {page: diff(getComputedStyle(document.body).fontFamily), chart: diff(chartFont),
          none: diff('sans-serif'), chartFont,
          loaded: document.fonts.check('40px "%s"', names.join('')),
          widths: names.map((n) => { const x = document.createElement('canvas')
            .getContext('2d'); x.font = '40px ' + chartFont; return x.measureText(n).width; })};
})()"""


@needs_chromium
def test_chinese_names_drawn_without_a_system_cjk_font(page, tmp_path):
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    latin = [d for d in ("/usr/share/fonts/truetype/dejavu",) if Path(d).is_dir()]
    conf = tmp_path / "fonts.conf"
    conf.write_text(FONTS_CONF.format(dirs="".join(f"<dir>{d}</dir>" for d in latin),
                                      cache=tmp_path / "fc-cache"), encoding="utf-8")
    html = page.read_text(encoding="utf-8")
    assert f'font-family: "{PAGE_FONT_FAMILY}"; ' in html and "data:font/woff" in html
    names = ["北京", "上海"]
    assert all(n in html for n in names)
    browser = Browser(page.as_uri(), 1400, env={"FONTCONFIG_FILE": str(conf)})
    try:
        browser.wait_for_charts()
        got = browser.evaluate(GLYPHS % (json.dumps(names), PAGE_FONT_FAMILY,
                                         PAGE_FONT_FAMILY))
        console = browser.console()
    finally:
        browser.close()
    assert console == [], console
    assert got["none"] == 0, f"the system still has a CJK font: control drew glyphs {got}"
    assert got["loaded"] and got["chartFont"].startswith(PAGE_FONT_FAMILY), got
    assert got["page"] > 10000 and got["chart"] > 10000, got  # different glyphs, not boxes
