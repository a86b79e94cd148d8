"""The one-page, self-contained HTML report, and the PNG/SVG export of the rank uncertainty
chart.

The Vega, Vega-Lite and Vega-Embed libraries are inlined (vl-convert's JavaScript bundle), so
the page makes no request to any server; a Content-Security-Policy forbids network access so
that any attempt would fail loudly (and is recorded in the page's error list, which the browser
test reads). Chinese names need a CJK font: for PNG/SVG, vl-convert is pointed at a CJK font
directory (``find_cjk_font_dir``); the page embeds a subset of the same font, the characters it
shows only (``fonts.page_font_face``), first in its CSS and in its charts' font lists, so that
a reader without a CJK font sees names, not boxes.

The per-unit rank charts (rank uncertainty, tier membership, alternative constructions; the
fragile units' chart of a large index) come in a wide and a compact variant (a section's
``narrow`` chart, each in a ``div.only-wide`` / ``div.only-narrow``): the style sheet shows the
compact one below 640 px, and the compact spec borrows the wide one's data (the
``data-datasets`` of its ``div``) instead of repeating it. Below 640 px the verdict table is
one block per unit: rank, unit and verdict first, the reasons under them, the numbers after.

Every string of a data folder or run file (unit ids and names, node, tier and group labels,
the unit noun, the index title, reasons) is third-party data. It reaches the page through one
path: :func:`esc` for HTML text and attribute values, :func:`script_json` /
:func:`json_script` for JSON inside a ``<script>`` element (``<``, ``>``, ``&``, U+2028 and
U+2029 as ``\\u`` escapes, so no ``</script``, ``<!--`` or ``<script`` can appear in it).
The page's own scripts are added by :func:`inline_script` only, and the Content-Security-Policy
runs exactly those (by SHA-256 hash): no inline event handler, no ``javascript:`` URL, no eval
(Vega evaluates its expressions with its interpreter, vega-embed's ``ast`` option).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

import pandas as pd
import vl_convert as vlc

from cityindex.report.fonts import (  # noqa: F401  (re-exported: page.find_cjk_font_dir)
    CJK_FONT_DIRS,
    PAGE_FONT_FAMILY,
    find_cjk_font_dir,
    page_font_face,
    register_cjk_font,
)
from cityindex.vocabulary import confidence_set, percent

VL_VERSION = "6.4"

EMBED = """
const errors = [];
const log = (msg) => { errors.push(String(msg)); document.getElementById('page-errors')
  .textContent = errors.join('\\n'); };
window.addEventListener('error', (e) => log('error: ' + e.message));
document.addEventListener('securitypolicyviolation', (e) => log('blocked: ' + e.blockedURI));
const origError = console.error;
console.error = (...args) => { log('console: ' + args.join(' ')); origError(...args); };
const parsed = new Map();
const specOf = (id) => {
  if (!parsed.has(id)) parsed.set(id, JSON.parse(document.getElementById(id).textContent));
  return parsed.get(id);
};
// the embedded font first (Vega measures label widths with it), then the charts
const font = document.fonts ? document.fonts.load('16px "PAGE_FONT_FAMILY"')
  .catch((e) => log('font: ' + e)) : Promise.resolve();
const jobs = [];
for (const el of document.querySelectorAll('[data-spec]')) {
  let spec = specOf(el.dataset.spec);
  const wide = el.parentElement.dataset.datasets;
  if (wide) {  // a compact variant: the wide chart's data, its own spec
    spec = Object.assign({}, spec, {datasets: Object.assign(
      {}, specOf(wide).datasets, spec.datasets)});
  }
  // ast: Vega's expression interpreter instead of generated code (no eval: see the CSP)
  jobs.push(font.then(() => vegaEmbed(el, spec, {actions: false, renderer: 'svg', ast: true}))
    .then(() => { el.dataset.rendered = 'true'; })
    .catch((e) => log('chart ' + el.id + ': ' + e)));
}
Promise.allSettled(jobs).then(() => {
  // layout measurements, read by the browser test: the page must not be wider than the
  // window, and at a desktop width no chart may need its own scroll bar
  const de = document.documentElement;
  document.body.dataset.pageWidth = String(de.scrollWidth);
  document.body.dataset.viewWidth = String(window.innerWidth);
  document.body.dataset.chartsScrolling = Array.from(document.querySelectorAll('.chart'))
    .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.id).join(' ');
  document.body.dataset.chartsDone = 'true';
});
""".replace("PAGE_FONT_FAMILY", PAGE_FONT_FAMILY)

# The verdict table: filter by verdict (buttons and headline tiles), find by text, sort by
# any column. Plain inline script, no library, no network.
TABLE_SCRIPT = """
(function () {
  const table = document.getElementById('verdict-table');
  if (!table) return;
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  let verdict = 'all', text = '';
  const apply = () => {
    let shown = 0;
    for (const r of rows) {
      const ok = (verdict === 'all' || r.dataset.verdict === verdict)
        && (!text || r.dataset.search.includes(text));
      r.hidden = !ok;
      if (ok) shown += 1;
    }
    document.getElementById('verdict-count').textContent =
      shown + ' of ' + rows.length + ' shown';
    for (const b of document.querySelectorAll('button[data-filter-verdict]')) {
      b.setAttribute('aria-pressed', String(b.dataset.filterVerdict === verdict));
    }
  };
  for (const b of document.querySelectorAll('button[data-filter-verdict]')) {
    b.addEventListener('click', () => {
      verdict = b.dataset.filterVerdict;
      apply();
      try { history.replaceState(null, '', '#verdict=' + verdict); } catch (e) { /* file: */ }
      if (b.classList.contains('tile')) document.getElementById('verdicts').scrollIntoView();
    });
  }
  // a link to the page can carry the filter: index.html#verdict=weight-sensitive
  const m = /verdict=([a-z-]+)/.exec(location.hash);
  if (m) verdict = m[1];
  document.getElementById('verdict-search').addEventListener('input', (e) => {
    text = e.target.value.trim().toLowerCase();
    apply();
  });
  const heads = Array.from(table.tHead.rows[0].cells);
  const sortBy = (th) => {
    const i = heads.indexOf(th);
    const dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    const num = th.dataset.type === 'num';
    const key = (r) => r.cells[i].dataset.sort;
    const sorted = rows.slice().sort((a, b) => {
      const x = key(a), y = key(b);
      if (num) {
        const fx = x === '' ? Infinity : parseFloat(x), fy = y === '' ? Infinity : parseFloat(y);
        return dir * (fx - fy);
      }
      return dir * x.localeCompare(y);
    });
    for (const h of heads) h.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    for (const r of sorted) body.appendChild(r);
  };
  for (const th of heads) {
    th.addEventListener('click', () => sortBy(th));
    th.addEventListener('keydown', (e) => { if (e.key === 'Enter') sortBy(th); });
  }
  apply();
})();
"""

# The verdict table of a large index: its rows are embedded once as JSON (<script
# id='verdict-data'>) and drawn a page at a time; filter by verdict (buttons, tiles, a link
# ending #verdict=...), find by text (unit, verdict, reasons), sort by any column, page
# through. Plain inline script, no library, no network.
PAGED_TABLE_SCRIPT = """
(function () {
  const src = document.getElementById('verdict-data');
  const table = document.getElementById('verdict-table');
  if (!src || !table) return;
  const data = JSON.parse(src.textContent);
  // a row: rank, unit, tier, verdict (index), P(tier), p05, p95, best, worst, noise lower,
  // noise upper, alternative (index), shift, erratum, reasons (clause indices), recomputed
  // rank; the reasons are joined here once
  const rows = data.rows, V = data.verdicts, A = data.alternatives, size = data.page_size;
  for (const r of rows) r[14] = r[14].map((c) => data.clauses[c]).join('; ');
  const hay = rows.map((r) => (r[1] + ' ' + V[r[3]] + ' ' + r[14]).toLowerCase());
  const body = table.tBodies[0];
  const count = document.getElementById('verdict-count');
  const where = document.getElementById('verdict-page');
  const pagers = Array.from(document.querySelectorAll('button[data-page]'));
  const collator = new Intl.Collator();
  const keys = [(r) => [r[0]], (r) => r[1], (r) => [r[2]], (r) => V[r[3]], (r) => [r[4]],
    (r) => [r[5], r[6]], (r) => [r[7], r[8]], (r) => [r[9], r[10]], (r) => A[r[11]],
    (r) => [r[12] === null ? null : Math.abs(r[12])], (r) => (r[13] ? 'yes' : ''),
    (r) => r[14]];
  let verdict = 'all', text = '', page = 0, order = rows.map((_, i) => i), shown = order;
  const compare = (x, y, dir) => {
    if (typeof x === 'string') {
      if ((x === '') !== (y === '')) return x === '' ? 1 : -1;  // empty cells last
      return dir * collator.compare(x, y);
    }
    for (let k = 0; k < x.length; k += 1) {
      if (x[k] === y[k]) continue;
      if (x[k] === null || y[k] === null) return x[k] === null ? 1 : -1;
      return dir * (x[k] < y[k] ? -1 : 1);
    }
    return 0;
  };
  const range = (a, b) => (a === null ? '' : a + '–' + b);
  const cell = (tr, value, cls) => {
    const td = document.createElement('td');
    td.textContent = value === null ? '' : String(value);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  };
  const draw = () => {
    const pages = Math.max(1, Math.ceil(shown.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    const first = page * size, last = Math.min(shown.length, first + size);
    const frag = document.createDocumentFragment();
    for (let k = first; k < last; k += 1) {
      const r = rows[shown[k]], v = V[r[3]];
      const tr = document.createElement('tr');
      tr.dataset.verdict = v;
      tr.title = 'recomputed rank ' + r[15];
      cell(tr, r[0]); cell(tr, r[1], 'city'); cell(tr, r[2]);
      const chip = document.createElement('span');
      chip.className = 'chip verdict-' + v;
      chip.textContent = v;
      cell(tr, '').appendChild(chip);
      cell(tr, r[4] === null ? '' : r[4].toFixed(3));
      cell(tr, range(r[5], r[6])); cell(tr, range(r[7], r[8])); cell(tr, range(r[9], r[10]));
      cell(tr, A[r[11]], 'alternative');
      cell(tr, r[12] === null ? '' : (r[12] < 0 ? '' : '+') + r[12]);
      cell(tr, r[13] ? 'yes' : '', r[13] ? 'erratum' : '');
      cell(tr, r[14], 'reasons');
      frag.appendChild(tr);
    }
    body.replaceChildren(frag);
    const fmt = (x) => x.toLocaleString('en-US');
    count.textContent = fmt(shown.length) + ' of ' + fmt(rows.length) + ' shown';
    where.textContent = shown.length ? 'rows ' + fmt(first + 1) + '–' + fmt(last) + ', page '
      + fmt(page + 1) + ' of ' + fmt(pages) : 'no row matches';
    for (const b of pagers) {
      const back = b.dataset.page === 'first' || b.dataset.page === 'previous';
      b.disabled = back ? page === 0 : page >= pages - 1;
    }
  };
  const apply = () => {
    shown = order.filter((i) => (verdict === 'all' || V[rows[i][3]] === verdict)
      && (!text || hay[i].includes(text)));
    page = 0;
    for (const b of document.querySelectorAll('button[data-filter-verdict]')) {
      b.setAttribute('aria-pressed', String(b.dataset.filterVerdict === verdict));
    }
    draw();
  };
  for (const b of document.querySelectorAll('button[data-filter-verdict]')) {
    b.addEventListener('click', () => {
      verdict = b.dataset.filterVerdict;
      apply();
      try { history.replaceState(null, '', '#verdict=' + verdict); } catch (e) { /* file: */ }
      if (b.classList.contains('tile')) document.getElementById('verdicts').scrollIntoView();
    });
  }
  const m = /verdict=([a-z-]+)/.exec(location.hash);
  if (m) verdict = m[1];
  document.getElementById('verdict-search').addEventListener('input', (e) => {
    text = e.target.value.trim().toLowerCase();
    apply();
  });
  for (const b of pagers) {
    b.addEventListener('click', () => {
      const step = {first: -Infinity, previous: -1, next: 1, last: Infinity}[b.dataset.page];
      page = Math.abs(step) === Infinity ? (step < 0 ? 0 : Number.MAX_SAFE_INTEGER)
        : page + step;
      draw();
    });
  }
  const heads = Array.from(table.tHead.rows[0].cells);
  const sortBy = (th) => {
    const i = heads.indexOf(th);
    const dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
    const key = rows.map((r) => keys[i](r));
    order = order.slice().sort((a, b) => compare(key[a], key[b], dir) || a - b);
    for (const h of heads) h.removeAttribute('aria-sort');
    th.setAttribute('aria-sort', dir === 1 ? 'ascending' : 'descending');
    apply();
  };
  for (const th of heads) {
    th.addEventListener('click', () => sortBy(th));
    th.addEventListener('keydown', (e) => { if (e.key === 'Enter') sortBy(th); });
  }
  apply();
})();
"""

VERDICT_CSS = {"weight-sensitive": ("#D55E00", "white"), "noise-limited": ("#CC79A7", "black"),
               "construction-sensitive": ("#E69F00", "black"), "robust": ("#8C8C8C", "white")}

CSS = """
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
:root { --page-font: "PAGE_FONT_FAMILY", "WenQuanYi Micro Hei", "Noto Sans CJK SC",
                       "PingFang SC", sans-serif; }
#vg-tooltip-element { font-family: var(--page-font) !important; }  /* vega-tooltip's own */
body { font-family: var(--page-font);
       margin: 0 auto; padding: 1.2em 1.5em 3em; max-width: 1240px; color: #222;
       line-height: 1.45; }
h1 { font-size: 1.55em; overflow-wrap: anywhere; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.tiles { display: flex; flex-wrap: wrap; gap: .6em; margin: 1em 0; }
.tile { background: #f4f6f8; padding: .6em .9em; border-radius: 6px; flex: 1 1 150px;
        max-width: 240px; text-align: left; font: inherit; color: inherit;
        border: 1px solid #dde1e5; border-left: 8px solid #bbb; }
button.tile { cursor: pointer; }
button.tile:hover, button.tile:focus { outline: 2px solid #333; }
.tile b { display: block; font-size: 1.7em; line-height: 1.15; }
.tile span { display: block; }
.tile .name { font-weight: bold; }
.tile .lens { font-size: .8em; color: #333; text-transform: uppercase; letter-spacing: .02em; }
.tile .what { font-size: .8em; color: #555; }
.tile.sum { border-left-color: #222; } .tile.audit { border-left-color: #fff; }
.verdict-line { font-weight: bold; }
ul.lenses li { margin-bottom: .4em; }
.chart, .table-wrap { max-width: 100%; overflow-x: auto; }
.table-wrap.scroll { max-height: min(75vh, 900px); overflow-y: auto; border: 1px solid #ddd; }
.chart { margin: .8em 0 1.6em; }
.chart.vega-embed { display: flex !important; flex-direction: column; align-items: flex-start; }
.chart .vega-bindings { order: -1; display: flex; flex-wrap: wrap; gap: .2em 1.2em;
                        margin: 0 0 .4em; font-size: .9em; position: sticky; left: 0;
                        max-width: calc(100vw - 2em); }
.chart .vega-bind-name { font-weight: bold; }
table { border-collapse: collapse; font-size: .82em; }
#verdict-table { width: 100%; border-collapse: separate; border-spacing: 0; }
#verdict-table td, #verdict-table th { border-width: 0 1px 1px 0; }
#verdict-table tr > :first-child { border-left-width: 1px; }
td, th { border: 1px solid #ddd; padding: 3px 6px; vertical-align: top; }
th { background: #f4f6f8; position: sticky; top: 0; }
table.sortable th { cursor: pointer; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
td.reasons { min-width: 24em; font-size: .92em; }
td.city { white-space: nowrap; }
#verdict-table td.city, #verdict-table th:nth-child(2) { position: sticky; left: 0;
  background: #fff; z-index: 1; }
#verdict-table th:nth-child(2) { background: #f4f6f8; z-index: 2; }
td.alternative { min-width: 11em; }
td.erratum { font-weight: bold; }
.chip { display: inline-block; padding: 0 .45em; border-radius: 3px; white-space: nowrap; }
.controls { display: flex; flex-wrap: wrap; gap: .4em; align-items: center; margin: .6em 0; }
.controls button { font: inherit; font-size: .85em; padding: .2em .6em; border-radius: 4px;
                   border: 1px solid #999; background: #fff; cursor: pointer; }
.controls button[aria-pressed="true"] { outline: 2px solid #222; font-weight: bold; }
.controls input { font: inherit; max-width: 12em; }
ol.verdict-legend { font-size: .85em; padding-left: 1.4em; }
.note { color: #444; font-size: .92em; max-width: 900px; }
ul.factors { font-size: .88em; }
#page-errors { color: #b00; white-space: pre-wrap; }
.only-narrow { display: none; }
@media (max-width: 640px) {
  body { padding: .6em .7em 2em; }
  h1 { font-size: 1.25em; }
  .tile { flex: 1 1 45%; max-width: none; }
  .only-wide { display: none; }
  .only-narrow { display: block; }
  .chart .vega-bindings select { max-width: 100%; }
  /* the verdict table, one block per unit: rank, unit, verdict; the reasons under them; then
     the numbers, each with its column's name; the header cells wrap as sort buttons */
  #verdict-table, #verdict-table thead, #verdict-table tbody { display: block; }
  #verdict-table thead tr { display: flex; flex-wrap: wrap; gap: 2px; padding: 2px;
                            background: #f4f6f8; }
  #verdict-table thead th { display: block; position: static; border: 1px solid #ccc;
                            font-weight: normal; font-size: .9em; padding: 1px 5px; }
  #verdict-table thead { position: sticky; top: 0; z-index: 2; }
  #verdict-table tbody tr { display: flex; flex-wrap: wrap; align-items: baseline;
                            gap: 2px 8px; padding: 5px 4px; border-bottom: 1px solid #ccc; }
  #verdict-table tbody tr[hidden] { display: none; }
  #verdict-table tbody td { display: block; border: 0; padding: 0; order: 3;
                            font-size: .92em; color: #333; overflow-wrap: anywhere; }
  #verdict-table tbody td:empty { display: none; }
  #verdict-table tbody td:nth-child(1) { order: 0; font-weight: bold; }
  #verdict-table tbody td.city { order: 1; position: static; white-space: normal;
                                 font-weight: bold; font-size: 1em; color: #222; }
  #verdict-table tbody td:nth-child(4) { order: 1; }
  #verdict-table tbody td.reasons { order: 2; flex: 1 1 100%; min-width: 0; color: #222; }
  #verdict-table tbody td.alternative { min-width: 0; }
  #verdict-table tbody td:nth-child(3)::before { content: "tier "; }
  #verdict-table tbody td:nth-child(5)::before { content: "P(tier) "; }
  #verdict-table tbody td:nth-child(6)::before { content: "90% "; }
  #verdict-table tbody td:nth-child(7)::before { content: "best–worst "; }
  #verdict-table tbody td:nth-child(8)::before { content: "noise set "; }
  #verdict-table tbody td:nth-child(9)::before { content: "moves it most: "; }
  #verdict-table tbody td:nth-child(10)::before { content: "shift "; }
  #verdict-table tbody td:nth-child(11)::before { content: "erratum: "; }
  #verdict-table tbody td:nth-child(n+3)::before { color: #666; }
}
""" + "".join(
    f".verdict-{v} {{ border-left-color: {bg}; }} .chip.verdict-{v}, "
    f".filter.verdict-{v} {{ background: {bg}; color: {fg}; border-color: {bg}; }}\n"
    for v, (bg, fg) in VERDICT_CSS.items())
CSS = CSS.replace("PAGE_FONT_FAMILY", PAGE_FONT_FAMILY)


# --- the one escaping path -------------------------------------------------------------------

def esc(value) -> str:
    """``value`` as text for HTML: element content or an attribute value quoted with ``'`` or
    ``"``. ``&``, ``<``, ``>``, ``"`` and ``'`` become character references, so the text can
    neither open a tag nor leave its attribute. Any value is taken as ``str(value)``."""
    return html.escape(str(value), quote=True)


# Inside a <script> element the HTML parser looks for "</script" and, after "<!--", for
# "<script" too; JavaScript ends a line at U+2028/U+2029. Outside strings, JSON holds none of
# these characters, so replacing them everywhere only rewrites string contents, as escapes
# that JSON.parse (and json.loads) read back to the same characters.
_SCRIPT_JSON = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
                              "\u2028": "\\u2028", "\u2029": "\\u2029"})


def script_json(obj, **dumps) -> str:
    """``obj`` as JSON safe to place inside a ``<script>`` element: ``json.dumps`` (non-ASCII
    kept as is, other ``dumps`` keywords passed on) with ``<``, ``>``, ``&``, U+2028 and
    U+2029 written as ``\\u003c``, ``\\u003e``, ``\\u0026``, ``\\u2028``, ``\\u2029``."""
    dumps.setdefault("ensure_ascii", False)
    return json.dumps(obj, **dumps).translate(_SCRIPT_JSON)


def json_script(element_id: str, obj, **dumps) -> str:
    """A ``<script type='application/json'>`` element holding ``obj`` (see
    :func:`script_json`); the page's scripts read it with ``JSON.parse(el.textContent)``."""
    return (f"<script type='application/json' id='{esc(element_id)}'>"
            f"{script_json(obj, **dumps)}</script>")


_SCRIPT_BREAK = re.compile(r"</script|<!--|<script", re.I)


def inline_script(code: str, module: bool = False) -> tuple[str, str]:
    """One of the page's own scripts as a ``<script>`` element, and the CSP source that lets
    it run (``'sha256-…'`` of its text). Only code of this package or of the bundled Vega
    libraries belongs here, never data: it must not hold anything that would end the element
    early or change how the HTML parser reads it."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")  # as the HTML parser reads it
    found = _SCRIPT_BREAK.search(code)
    if found or "\0" in code:
        raise ValueError(f"an inline script holds {found.group(0) if found else 'NUL'!r}: "
                         "it cannot be embedded in the page as it is")
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    kind = " type='module'" if module else ""
    return f"<script{kind}>{code}</script>", f"'sha256-{digest}'"


def content_security_policy(script_hashes: list[str]) -> str:
    """The page's policy: nothing from the network; only the listed inline scripts run (no
    inline event handler or ``javascript:`` URL, no eval); inline styles (Vega sets them);
    images and fonts from data: and blob: URLs only."""
    return ("default-src 'none'; "
            f"script-src {' '.join(script_hashes)}; script-src-attr 'none'; "
            "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
            "base-uri 'none'; form-action 'none'")


def export_static(chart, name: str) -> dict[str, bytes]:
    """PNG and SVG of a chart, drawn by vl-convert with a CJK font when one is found."""
    register_cjk_font()
    spec = chart_spec(chart)
    return {f"{name}.png": vlc.vegalite_to_png(spec, vl_version=VL_VERSION, scale=1.5),
            f"{name}.svg": vlc.vegalite_to_svg(spec, vl_version=VL_VERSION).encode("utf-8")}


def verdict_table_header(one: str, extremes_tip: str,
                         extremes_head: str = "exact best–worst",
                         coverage: float | None = None) -> str:
    """The verdict table's header cells (small and large pages): names, sort types and
    tooltips; ``one`` is the unit noun, ``extremes_tip`` what the best–worst column holds."""
    head = ["rank", one, "tier", "verdict", "P(tier) weights", "90% weights",
            extremes_head, f"{percent(coverage)} set noise" if coverage else "set noise",
            "moves it most", "shift", "erratum",
            "reasons"]
    numeric = {0, 2, 4, 5, 6, 7, 9}
    tips = ["published rank", one, "published tier", "the first that applies (below)",
            "P(published tier) under the weights lens (Monte Carlo)",
            "90% rank interval under the weights lens", extremes_tip,
            f"{confidence_set(coverage)} under measurement noise",
            "the named alternative construction that moves it most (nominal weights)",
            "its rank under that alternative minus the published rank",
            "the reproduction audit contradicts its published numbers",
            "every condition that holds, with its numbers"]
    return "".join(f"<th data-type='{'num' if i in numeric else 'text'}' tabindex='0' "
                   f"title='{esc(t)}'>{esc(h)}</th>"
                   for i, (h, t) in enumerate(zip(head, tips)))


def _table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    df = df[columns] if columns else df
    head = "".join(f"<th>{esc(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{esc(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return (f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{body}"
            "</tbody></table></div>")


def chart_spec(chart) -> dict:
    """The chart's Vega-Lite spec with its data inline, whatever its number of rows: Altair's
    5,000-row guard (MaxRowsError) is lifted for this call only, not globally."""
    import altair as alt

    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def _page_spec(chart) -> dict:
    """A chart's spec for the page: its fonts led by the embedded one."""
    spec = chart_spec(chart)
    config = spec.setdefault("config", {})
    config["font"] = f"{PAGE_FONT_FAMILY}, {config['font']}" if config.get("font") \
        else f"{PAGE_FONT_FAMILY}, sans-serif"
    return spec


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.4g}"
    return str(v)


def build_page(title: str, intro: str, sections: list[dict], table_script: str = TABLE_SCRIPT,
               extra_css: str = "") -> str:
    """``intro``: HTML under the title (tiles, headline sentences); sections: dicts with
    'title', optional 'id', 'text', 'chart' (Altair), 'narrow' (the chart's compact variant,
    shown below 640 px instead of it), 'html'. ``table_script`` drives the verdict table
    (:data:`PAGED_TABLE_SCRIPT` for a large index's); ``extra_css`` follows the page's style
    sheet. The page embeds its font (see the module docstring)."""
    specs, parts, shown = [], [], [title, intro, CSS, extra_css, table_script]
    for i, sec in enumerate(sections):
        anchor = f" id='{esc(sec['id'])}'" if sec.get("id") else ""
        if sec.get("title"):
            parts.append(f"<h2{anchor}>{esc(sec['title'])}</h2>")
        elif anchor:
            parts.append(f"<span{anchor}></span>")
        if sec.get("text"):
            parts.append(f"<p class='note'>{esc(sec['text'])}</p>")
        if sec.get("html"):
            parts.append(sec["html"])
        if sec.get("chart") is not None:
            spec = _page_spec(sec["chart"])
            narrow = _page_spec(sec["narrow"]) if sec.get("narrow") is not None else None
            shown.append(json.dumps(spec, ensure_ascii=False))
            specs.append(json_script(f"spec{i}", spec, sort_keys=True))
            chart = f"<div class='chart' id='chart{i}' data-spec='spec{i}'></div>"
            if narrow is None:
                parts.append(chart)
                continue
            # the compact variant: numbered after every section, its data the wide one's
            k = len(sections) + i
            narrow["datasets"] = {name: v for name, v in narrow.get("datasets", {}).items()
                                  if spec.get("datasets", {}).get(name) != v}
            shown.append(json.dumps(narrow, ensure_ascii=False))
            specs.append(json_script(f"spec{k}", narrow, sort_keys=True))
            parts.append(f"<div class='only-wide'>{chart}</div><div class='only-narrow' "
                         f"data-datasets='spec{i}'><div class='chart' id='chart{k}' "
                         f"data-spec='spec{k}'></div></div>")
    shown += parts
    font_face, _ = page_font_face(html.unescape("".join(shown)))
    table, table_hash = inline_script(table_script)
    bundle, bundle_hash = inline_script(vlc.javascript_bundle(EMBED, vl_version=VL_VERSION),
                                        module=True)
    csp = content_security_policy([table_hash, bundle_hash])
    return (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        f"<title>{esc(title)}</title><style>{font_face}{CSS}{extra_css}</style></head><body>"
        f"<h1>{esc(title)}</h1>{intro}"
        "<pre id='page-errors'></pre>" + "".join(parts) + "".join(specs)
        + table + bundle + "</body></html>\n")
