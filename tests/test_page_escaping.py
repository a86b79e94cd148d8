"""Strings of a data folder or run file reach the page as text, never as markup or script.

A spec.toml or a CSV is third-party data: a unit noun like ``cities<img src=x onerror=...>``
must not run script, and a unit named ``<!--<script>`` must not stop the page. Every such
string goes through one escaping path (``page.esc`` for HTML text and attributes,
``page.script_json`` / ``page.json_script`` for JSON inside ``<script>``), and the page's
Content-Security-Policy runs its own inline scripts only (by hash): no inline event handler,
no eval.

Here: unit tests of the escaping functions and of the policy; then one small audit of a copy of
the built-in data whose unit ids, English names, node, tier and group labels, unit noun and
title are hostile, built as the small page and as the large page, read as text; and, when
Chromium is installed, both pages loaded in it (over the DevTools pipe, which reports any
dialog) and used: no dialog, no injected element or handler, every chart drawn.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import DATA
from devtools import DevToolsPipe

from cityindex.report.page import (
    build_page,
    content_security_policy,
    esc,
    inline_script,
    json_script,
    script_json,
)

IN_CI = os.environ.get("CI") == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# --- payloads ------------------------------------------------------------------------------

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<!--<script>",
    "</script><script>alert(2)</script>",
    "\" onmouseover=\"alert(3)",
    "' onmouseover='alert(4)",
    "</SCRIPT ><!-- <sCrIpT src=x>",
    "a&amp;b &lt;&#39; \u2028line\u2029para <![CDATA[x]]> -->",
    "北京 Beijing",
]

# unit id -> hostile id (consistently in every CSV of the data folder)
UNIT_IDS = {
    "北京": "<img src=x onerror=alert(1)>",
    "上海": "<!--<script>",
    "深圳": "</script><script>alert(2)</script>",
    "杭州": "\" onmouseover=\"alert(3)",
    "合肥": "' onmouseover='alert(4)",
    "海口": "a&amp;b<!--c--> ]]>",
}
# unit id -> hostile English name (units.csv / cities.csv name_en)
NAMES_EN = {"北京": "</script><!--<script>", "上海": "<svg onload=alert(5)>",
            "成都": "x' onfocus='alert(10)' autofocus='"}
GROUP_VALUES = {"east": "<b onclick=alert(6)>east</b>"}  # a group (region) value
NOUN = "cities<img src=x onerror=alert('noun')>"
TITLE_EN = "Index </title><script>alert(7)</script>"
TITLE_ZH = "<!--<script>指数\u2028"
NODE_LABEL = "Search <img src=x onerror=alert(8)> &amp;"
GROUP_LABEL = "Region <script>alert(9)</script>"
TIER_LABELS = ["<b>top</b>", "</script>mid", "<!--low"]
# A raw U+2028/U+2029 in a label that Vega-Lite puts in a sort order or domain stops that
# chart (Vega-Lite writes such a list into an expression without escaping them): here they
# stand in the title (HTML only) and, below, in the verdict table's JSON of the large page.

RUN = """
[run]
data = "{data}"
seed = 3
samples = 256
[normalisation]
choices = ["published", "rank"]
[leave_one_out]
enabled = true
[sobol]
enabled = true
n = 16
n_boot = 10
[noise]
replicates = 100
[rank_ci]
n_boot = 100
"""


# --- 1. the escaping functions -------------------------------------------------------------

@pytest.mark.parametrize("text", PAYLOADS)
def test_esc_leaves_no_markup_and_reads_back(text):
    out = esc(text)
    assert not set(out) & set("<>\"'"), out
    assert re.sub(r"&(amp|lt|gt|quot|#x27);", "", out).count("&") == 0, out
    parsed = _parse(f"<p title='{out}' data-x=\"{out}\">{out}</p>")
    assert parsed.tags == [("p", {"title": text, "data-x": text})]
    assert parsed.text == [text]


def test_esc_takes_any_value_as_text():
    assert esc(3) == "3" and esc(None) == "None" and esc(1.5) == "1.5"
    assert esc("&<>\"'") == "&amp;&lt;&gt;&quot;&#x27;"
    assert esc("北京 Beijing") == "北京 Beijing"


@pytest.mark.parametrize("text", PAYLOADS)
def test_script_json_has_nothing_the_html_parser_reads(text):
    obj = {"unit": text, text: [text, 1, None, 2.5, {"nested": text}], "plain": "a/b"}
    out = script_json(obj)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in out, (bad, out)
    assert json.loads(out) == obj


def test_script_json_escapes_exactly_these_characters():
    assert script_json("</script>") == '"\\u003c/script\\u003e"'
    assert script_json("<!--&-->") == '"\\u003c!--\\u0026--\\u003e"'
    assert script_json("a\u2028b\u2029c") == '"a\\u2028b\\u2029c"'
    assert script_json("北京 '\"") == '"北京 \'\\""'  # non-ASCII kept, quotes as JSON has them
    # json.dumps keywords pass through
    assert script_json({"b": 1, "a": "<"}, separators=(",", ":"), sort_keys=True) \
        == '{"a":"\\u003c","b":1}'


@pytest.mark.parametrize("text", PAYLOADS)
def test_json_script_is_one_element_that_reads_back(text):
    element = json_script(f"data-{text}", {"name": text, "rows": [[1, text]]})
    parsed = _parse(f"<body>{element}<p>after</p></body>")
    assert [t for t, _ in parsed.tags] == ["body", "script", "p"]
    assert parsed.tags[1][1] == {"type": "application/json", "id": f"data-{text}"}
    assert len(parsed.scripts) == 1
    assert json.loads(parsed.scripts[0][1]) == {"name": text, "rows": [[1, text]]}
    assert parsed.text == ["after"]


@pytest.mark.parametrize("code", ["x = '</script>';", "<!-- x", "a = '<SCRIPT>';",
                                  "y = '</sCrIpT'"])
def test_inline_script_refuses_what_would_break_the_element(code):
    with pytest.raises(ValueError, match="inline script"):
        inline_script(code)


def test_inline_script_hash_is_of_its_text():
    element, source = inline_script("let a = 1;\r\nlet b = 2;", module=True)
    assert element == "<script type='module'>let a = 1;\nlet b = 2;</script>"
    digest = base64.b64encode(hashlib.sha256(b"let a = 1;\nlet b = 2;").digest()).decode()
    assert source == f"'sha256-{digest}'"


def csp_of(page: str) -> dict[str, list[str]]:
    m = re.search(r"<meta http-equiv='Content-Security-Policy' content=\"([^\"]*)\">", page)
    assert m, "the page has its Content-Security-Policy in a meta element"
    head_end = page.index("</head>")
    assert m.start() < page.index("<style>") < head_end, "the policy comes before any content"
    directives = {}
    for part in m.group(1).split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_policy_runs_only_the_page_scripts(page: str) -> None:
    csp = csp_of(page)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src-attr"] == ["'none'"]
    for values in csp.values():
        assert "'unsafe-eval'" not in values and "'unsafe-hashes'" not in values
        assert "'wasm-unsafe-eval'" not in values and "'strict-dynamic'" not in values
    assert "'unsafe-inline'" not in csp["script-src"], "inline handlers would run"
    parsed = _parse(page)
    executable = [code for attrs, code in parsed.scripts if attrs.get("type") != "application/json"]
    assert len(executable) == 2  # the table script and the Vega bundle
    hashes = sorted("'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest())
                    .decode() + "'" for code in executable)
    assert sorted(csp["script-src"]) == hashes
    for name in ("connect-src", "img-src", "font-src", "style-src"):
        assert not any(v.startswith(("http", "*")) for v in csp.get(name, [])), name


def test_policy_of_a_page_allows_its_own_scripts_only():
    page = build_page("t <b>", "<p>intro</p>", [{"id": "x", "title": "T", "text": "<i>"}])
    assert_policy_runs_only_the_page_scripts(page)
    assert "<title>t &lt;b&gt;</title>" in page and "&lt;i&gt;" in page
    assert content_security_policy(["'sha256-A'"]).startswith(
        "default-src 'none'; script-src 'sha256-A'; script-src-attr 'none';")


# --- 2. a page of hostile data -------------------------------------------------------------

def _rewrite_csv(path: Path, cell) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    header = rows[0]
    out = [header] + [[cell(h, c, dict(zip(header, r))) for h, c in zip(header, r)]
                      for r in rows[1:]]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(out)
    path.write_text(buf.getvalue(), encoding="utf-8")


def _toml_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a TOML basic string for these payloads


def hostile_data(dest: Path) -> Path:
    """A copy of the built-in data folder with hostile unit ids (in every CSV), English
    names, a group value and the spec's noun, titles, a node label, a group label and tier
    labels."""
    shutil.copytree(DATA, dest)

    def cell(header: str, value: str, row: dict) -> str:
        if header == "units":  # claims.csv: units separated by 、
            return "、".join(UNIT_IDS.get(u, u) for u in value.split("、"))
        if header == "text":   # claims.csv: the report's sentence, naming units
            for old, new in UNIT_IDS.items():
                value = value.replace(old, new)
            return value
        if header == "name_en" and row.get("unit") in NAMES_EN:
            return NAMES_EN[row["unit"]]
        if header in ("region", "group") and value in GROUP_VALUES:
            return GROUP_VALUES[value]
        return UNIT_IDS.get(value, value)

    for path in sorted(dest.glob("*.csv")):
        _rewrite_csv(path, cell)
    spec = (dest / "spec.toml").read_text(encoding="utf-8")
    replacements = [
        ('units = "cities"', f"units = {_toml_string(NOUN)}\n"
                             f"tier_labels = {json.dumps(TIER_LABELS, ensure_ascii=False)}"),
        ('title_en = "China City International Online Image Index 2025"',
         f"title_en = {_toml_string(TITLE_EN)}"),
        ('title_zh = "中国城市国际网络形象指数（2025）"', f"title_zh = {_toml_string(TITLE_ZH)}"),
        ('label_en = "International search volume"', f"label_en = {_toml_string(NODE_LABEL)}"),
        ('column = "region"', f'column = "region"\nlabel_en = {_toml_string(GROUP_LABEL)}'),
    ]
    for old, new in replacements:
        assert spec.count(old) == 1, old
        spec = spec.replace(old, new)
    (dest / "spec.toml").write_text(spec, encoding="utf-8")
    return dest


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The audit of the hostile data (a few hundred scenarios, about 5 s), written as a run
    would write it (small page), plus the large page built from the same tables."""
    import cityindex as ci
    from cityindex.report.build import build_large_report

    base = tmp_path_factory.mktemp("hostile")
    data = hostile_data(base / "data")
    run = base / "hostile.toml"
    run.write_text(RUN.format(data=data.as_posix()), encoding="utf-8")
    study = ci.Study.from_runfile(run)
    ds = study.dataset
    assert ds.spec.units == NOUN and ds.spec.title_en == TITLE_EN
    assert set(UNIT_IDS.values()) <= set(ds.units)
    audit = study.run()
    audit.write(base / "small", static=False)
    tables = audit.tables()
    large = build_large_report(ds, audit.summary(tables), tables, static=False)
    (base / "large").mkdir()
    (base / "large" / "index.html").write_bytes(large["index.html"])
    return {"ds": ds, "tables": tables, "small": base / "small" / "index.html",
            "large": base / "large" / "index.html"}


class _Page(HTMLParser):
    """Tags with their attributes, text outside scripts and styles, script contents."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text, self.scripts, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = (tag, dict(attrs), [])

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if self._in and tag == self._in[0]:
            if tag == "script":
                self.scripts.append((self._in[1], "".join(self._in[2])))
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._in[2].append(data)
        elif data.strip():
            self.text.append(data)

    def handle_comment(self, data):
        raise AssertionError(f"a comment in the page: {data[:80]!r}")


def _parse(page: str) -> _Page:
    p = _Page()
    p.feed(page)
    p.close()
    return p


def _strings(obj) -> set[str]:
    if isinstance(obj, str):
        return {obj}
    if isinstance(obj, dict):
        return set().union(*map(_strings, obj.keys()), *map(_strings, obj.values()))
    if isinstance(obj, list):
        return set().union(set(), *map(_strings, obj))
    return set()


@pytest.mark.parametrize("kind", ["small", "large"])
def test_hostile_strings_are_text_on_the_page(hostile, kind):
    ds = hostile["ds"]
    page = hostile[kind].read_text(encoding="utf-8")
    # nothing of the payloads as markup
    for raw in ("<img src=x", "<svg onload", "<b onclick", "<script>alert", "</title><script",
                "<!--", "onerror=alert('noun')>"):
        assert raw not in page, raw
    assert_policy_runs_only_the_page_scripts(page)
    parsed = _parse(page)  # raises on any comment
    names = {t for t, _ in parsed.tags}
    assert not names & {"img", "svg", "iframe", "object", "embed", "form", "base", "a"}, names
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on") or a in ("src", "href", "autofocus",
                                                                     "srcdoc", "style")], \
            (tag, attrs)
    # the scripts are the page's own: its two inline scripts and its JSON blocks
    charts = re.findall(r"<div class='chart' id='chart(\d+)' data-spec='spec(\d+)'></div>", page)
    expected = {f"spec{i}" for i, _ in charts} | ({"verdict-data"} if kind == "large" else set())
    blocks = {}
    for attrs, content in parsed.scripts:
        if attrs.get("type") == "application/json":
            assert set(attrs) == {"type", "id"}, attrs
            blocks[attrs["id"]] = content
        else:
            assert attrs in ({}, {"type": "module"}), attrs
    assert set(blocks) == expected
    assert len(parsed.scripts) == len(expected) + 2
    assert page.count("<script") == len(parsed.scripts)  # no script hidden from the parser
    # every JSON block: no character the HTML parser reads inside <script>, and it reads back
    strings = set()
    for name, content in blocks.items():
        for bad in ("<", ">", "&", "\u2028", "\u2029"):
            assert bad not in content, (name, bad)
        strings |= _strings(json.loads(content))
    labels = {u: ds.label(u) for u in ds.units}
    hostile_labels = {labels[u] for u in UNIT_IDS.values()}
    hostile_labels |= {labels[UNIT_IDS.get(u, u)] for u in NAMES_EN}
    assert any(NAMES_EN["北京"] in x for x in hostile_labels)
    if kind == "large":
        rows = json.loads(blocks["verdict-data"])["rows"]
        assert {r[1] for r in rows} == set(labels.values())  # every unit, name as given
    else:
        assert hostile_labels <= strings  # the rank-uncertainty chart names every unit
    shown = strings | set(parsed.text)
    assert any(NODE_LABEL in s for s in shown)  # Sobol' factors, alternatives
    assert any(GROUP_LABEL in s for s in shown)  # within-group chart or table
    if kind == "large":
        assert any(NOUN in s for s in strings)  # the summary charts' titles
        assert any(TIER_LABELS[1] in s for s in strings)  # verdicts by tier
    # and as text: the title, the tiles' noun, the verdict table (small page)
    title = f"Audit of the {TITLE_EN} ({TITLE_ZH})"
    assert parsed.text[0] == title and title in parsed.text
    assert NOUN in parsed.text
    assert any(f"{NOUN} with numbers the audit contradicts" in t for t in parsed.text)
    if kind == "small":
        assert hostile_labels <= set(parsed.text)
        cells = [a.get("data-sort") for t, a in parsed.tags if t == "td"]
        assert hostile_labels <= set(cells)
        searchable = [a["data-search"] for t, a in parsed.tags if "data-search" in a]
        assert any(UNIT_IDS["合肥"].lower() in s for s in searchable)
    else:
        assert any(t.startswith(f"{ds.n_units:,} {NOUN}") for t in parsed.text)


def test_verdict_data_keeps_line_separators_in_names(hostile):
    """The large page's table JSON with U+2028/U+2029 in every name: escaped, read back."""
    from cityindex.report.build import city_info
    from cityindex.report.large import paged_verdict_table_html

    ds, tables = hostile["ds"], hostile["tables"]

    class Renamed:  # the dataset, every unit's label with both separators
        def __getattr__(self, name):
            return getattr(ds, name)

        def label(self, unit):
            return f"{ds.label(unit)}\u2028{unit}\u2029"

    info, _ = city_info(ds, tables["ranks"], tables["verdicts"])
    table = paged_verdict_table_html(Renamed(), tables["verdicts"], info)
    parsed = _parse(table)
    (attrs, content), = parsed.scripts
    assert attrs == {"type": "application/json", "id": "verdict-data"}
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in content, bad
    rows = json.loads(content)["rows"]
    assert {r[1] for r in rows} == {Renamed().label(u) for u in ds.units}


# --- 3. the hostile pages in Chromium ------------------------------------------------------

class DevTools(DevToolsPipe):
    """The hostile page in headless Chromium (see tests/devtools.py), with every dialog and
    policy violation counted by a script that runs before any of the page's."""

    def __init__(self, url: str):
        super().__init__(CHROMIUM, (1400, 3000))
        try:
            # before any script of the page: count dialogs and policy violations (DevTools
            # scripts are not subject to the page's policy)
            self.send("Page.addScriptToEvaluateOnNewDocument", source="""
              window.__calls = []; window.__violations = [];
              for (const f of ['alert', 'confirm', 'prompt', 'print']) {
                const orig = window[f];
                window[f] = (...a) => { window.__calls.push(f + ' ' + a.join(' '));
                                        return orig.apply(window, a); };
              }
              document.addEventListener('securitypolicyviolation', (e) =>
                window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
            self.send("Page.navigate", url=url)
        except BaseException:
            self.close()
            raise


# Everything a reader could touch, then what is on the page.
USE_PAGE = """(async () => {
  const all = () => Array.from(document.querySelectorAll('*'));
  for (const el of all()) {
    for (const type of ['mouseover', 'mouseenter', 'focus', 'mousemove']) {
      el.dispatchEvent(new MouseEvent(type, {bubbles: true}));
    }
  }
  const table = document.getElementById('verdict-table');
  for (const th of table.tHead.rows[0].cells) th.click();
  const search = document.getElementById('verdict-search');
  search.value = %s; search.dispatchEvent(new Event('input'));
  await new Promise((r) => setTimeout(r, 300));
  const found = Array.from(table.tBodies[0].rows).filter((r) => !r.hidden)
    .map((r) => ({text: r.cells[1].textContent, children: r.cells[1].children.length}));
  for (const b of document.querySelectorAll('button[data-filter-verdict]')) b.click();
  const charts = Array.from(document.querySelectorAll('.chart'));
  return {
    calls: window.__calls, violations: window.__violations,
    errors: document.getElementById('page-errors').textContent,
    charts: charts.length,
    drawn: charts.filter((c) => c.dataset.rendered === 'true' && c.querySelector('svg')).length,
    scripts: document.scripts.length,
    injected: all().filter((el) => ['IMG', 'IFRAME', 'OBJECT', 'EMBED'].includes(el.tagName)
      || (el.tagName.toLowerCase() === 'svg' && !el.closest('.chart'))).map((el) => el.outerHTML),
    handlers: all().flatMap((el) => Array.from(el.attributes).map((a) => a.name))
      .filter((n) => n.startsWith('on')),
    title: document.title,
    h1: document.querySelector('h1').textContent,
    found,
  };
})()"""


@pytest.mark.skipif(CHROMIUM is None and not IN_CI,
                    reason="headless Chromium not installed (Debian package 'chromium'; "
                           ".ci/run installs it)")
@pytest.mark.parametrize("kind", ["small", "large"])
def test_hostile_page_in_a_browser_runs_no_injected_script(hostile, kind):
    assert CHROMIUM, "CI must have Chromium: .ci/run installs it"
    browser = DevTools(hostile[kind].as_uri())
    try:
        browser.wait_for("document.body && document.body.dataset.chartsDone === 'true'")
        time.sleep(0.5)  # an image error handler would fire after the charts
        seek = UNIT_IDS["北京"]
        got = browser.evaluate(USE_PAGE % json.dumps(seek))
    finally:
        browser.close()
    dialogs = [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
    assert dialogs == [] and got["calls"] == [], (dialogs, got["calls"])
    assert got["violations"] == [], got["violations"]  # nothing injected was even tried
    assert got["errors"] == ""
    exceptions = [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"]
    assert exceptions == []
    assert got["injected"] == [] and got["handlers"] == [], got
    assert got["charts"] >= 5 and got["drawn"] == got["charts"], got
    assert got["scripts"] == hostile[kind].read_text(encoding="utf-8").count("<script")
    title = f"Audit of the {TITLE_EN} ({TITLE_ZH})"
    assert got["h1"] == title
    assert got["title"] == re.sub(r"[ \t\n\f\r]+", " ", title).strip()
    label = hostile["ds"].label(seek)
    assert {"text": label, "children": 0} in got["found"], got["found"]
