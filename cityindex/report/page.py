"""The one-page, self-contained HTML report, and the PNG/SVG export of the rank uncertainty
chart.

The Vega, Vega-Lite and Vega-Embed libraries are inlined (vl-convert's JavaScript bundle), so
the page makes no request to any server; a Content-Security-Policy forbids network access so
that any attempt would fail loudly (and is recorded in the page's error list, which the browser
test reads). Chinese names need a CJK font: browsers find one on the system; for PNG/SVG,
vl-convert is pointed at a CJK font directory (``find_cjk_font_dir``).
"""

from __future__ import annotations

import html
import json

import pandas as pd
import vl_convert as vlc

from cityindex.report.fonts import (  # noqa: F401  (re-exported: page.find_cjk_font_dir)
    CJK_FONT_DIRS,
    find_cjk_font_dir,
    register_cjk_font,
)

VL_VERSION = "6.4"

EMBED = """
const errors = [];
const log = (msg) => { errors.push(String(msg)); document.getElementById('page-errors')
  .textContent = errors.join('\\n'); };
window.addEventListener('error', (e) => log('error: ' + e.message));
document.addEventListener('securitypolicyviolation', (e) => log('blocked: ' + e.blockedURI));
const origError = console.error;
console.error = (...args) => { log('console: ' + args.join(' ')); origError(...args); };
const jobs = [];
for (const el of document.querySelectorAll('[data-spec]')) {
  const spec = JSON.parse(document.getElementById(el.dataset.spec).textContent);
  jobs.push(vegaEmbed(el, spec, {actions: false, renderer: 'svg'})
    .then(() => { el.dataset.rendered = 'true'; })
    .catch((e) => log('chart ' + el.id + ': ' + e)));
}
Promise.allSettled(jobs).then(() => { document.body.dataset.chartsDone = 'true'; });
"""

CSS = """
body { font-family: "WenQuanYi Micro Hei", "Noto Sans CJK SC", "PingFang SC", sans-serif;
       margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; }
.headline { display: flex; flex-wrap: wrap; gap: 1em; }
.headline div { background: #f4f6f8; padding: .8em 1.2em; border-radius: 6px; min-width: 150px; }
.headline b { display: block; font-size: 1.8em; }
table { border-collapse: collapse; font-size: .85em; } td, th { border: 1px solid #ddd;
  padding: 3px 6px; vertical-align: top; } th { background: #f4f6f8; }
.note { color: #555; font-size: .9em; max-width: 900px; }
#page-errors { color: #b00; }
"""


def export_static(chart, name: str) -> dict[str, bytes]:
    """PNG and SVG of a chart, drawn by vl-convert with a CJK font when one is found."""
    register_cjk_font()
    spec = chart_spec(chart)
    return {f"{name}.png": vlc.vegalite_to_png(spec, vl_version=VL_VERSION, scale=1.5),
            f"{name}.svg": vlc.vegalite_to_svg(spec, vl_version=VL_VERSION).encode("utf-8")}


def _table(df: pd.DataFrame, columns: list[str] | None = None) -> str:
    df = df[columns] if columns else df
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def chart_spec(chart) -> dict:
    """The chart's Vega-Lite spec with its data inline, whatever its number of rows: Altair's
    5,000-row guard (MaxRowsError) is lifted for this call only, not globally."""
    import altair as alt

    with alt.data_transformers.disable_max_rows():
        return chart.to_dict()


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if v != v else f"{v:.4g}"
    return str(v)


def build_page(title: str, headline: list[tuple[str, str]], sections: list[dict]) -> str:
    """sections: dicts with 'title', optional 'text', 'chart' (Altair), 'html'."""
    specs, parts = [], []
    for i, sec in enumerate(sections):
        parts.append(f"<h2>{html.escape(sec['title'])}</h2>")
        if sec.get("text"):
            parts.append(f"<p class='note'>{html.escape(sec['text'])}</p>")
        if sec.get("chart") is not None:
            spec = json.dumps(chart_spec(sec["chart"]), ensure_ascii=False, sort_keys=True)
            spec = spec.replace("</", "<\\/")
            specs.append(f"<script type='application/json' id='spec{i}'>{spec}</script>")
            parts.append(f"<div class='chart' id='chart{i}' data-spec='spec{i}'></div>")
        if sec.get("html"):
            parts.append(sec["html"])
    bundle = vlc.javascript_bundle(EMBED, vl_version=VL_VERSION)
    heads = "".join(f"<div><b>{html.escape(v)}</b>{html.escape(k)}</div>" for k, v in headline)
    csp = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
           "style-src 'unsafe-inline'; img-src data: blob:; font-src data:")
    return (
        "<!DOCTYPE html>\n<html lang='zh-CN'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='headline'>{heads}</div>"
        "<pre id='page-errors'></pre>" + "".join(parts) + "".join(specs)
        + f"<script type='module'>{bundle}</script></body></html>\n")
