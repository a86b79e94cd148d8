"""Human labels for the page: nodes and factors from the spec's labels, group values from the
data, lenses and verdicts in words. Identifiers stay in the CSVs; only the page reads these."""

from __future__ import annotations

import re

import pandas as pd

from cityindex.sensitivity.lens import LENS_TITLES, LENSES
from cityindex.sensitivity.scenarios import scenario_label  # noqa: F401 (re-export)
from cityindex.vocabulary import confidence_set, percent  # noqa: F401

LENS_SHORT = {
    "weights": "weights",
    "construction": "construction",
    "noise": "measurement noise",
    "sample": "unit resampling",
    "combined": "combined (JRC-style)",
}
def verdict_text(coverage: float | None = None) -> dict[str, str]:
    """Each verdict's condition in words, with the run's rank-set coverage."""
    return {
        "weight-sensitive": "published tier not guaranteed under the admissible weights and "
                            "P(published tier) below the threshold",
        "noise-limited": f"{confidence_set(coverage)} under measurement noise crosses a tier "
                         "boundary",
        "construction-sensitive": "a named alternative construction moves it into another "
                                  "tier",
        "robust": "none of these",
    }


def coverage_of(summary: dict) -> float | None:
    """The run's rank-set coverage ([rank_ci] coverage), or None without rank sets."""
    rank_ci = (summary.get("run") or {}).get("rank_ci") or {}
    return rank_ci.get("coverage")


VERDICT_TEXT = verdict_text()
ROMAN = {"i", "ii", "iii", "iv", "v", "vi"}


def humanize(code: str) -> str:
    """'large_ii' -> 'Large II', 'provincial_capital' -> 'Provincial capital'."""
    words = re.split(r"[_\s]+", str(code).strip())
    out = [w.upper() if w.lower() in ROMAN else w for w in words if w]
    if not out:
        return str(code)
    first = out[0]
    out[0] = first if first.isupper() and len(first) > 1 else first[:1].upper() + first[1:]
    return " ".join(out)


def node_label(spec, node: str, short: bool = False) -> str:
    """The spec's label of a node ('国际搜索量 International search volume'); ``short``:
    the English label alone when there is one."""
    if node not in spec.nodes:
        return humanize(node)
    n = spec.nodes[node]
    if short and n.label_en:
        return n.label_en
    return spec.label(node) or node


def factor_label(spec, factor: str, short: bool = False) -> str:
    """A Sobol' factor in words (``short``: English node labels only)."""
    if factor.startswith("w_") and factor[2:] in spec.nodes:
        return f"weight of {node_label(spec, factor[2:], short)}"
    if factor.endswith(" split") and factor[:-6] in spec.nodes:
        return f"weights inside {node_label(spec, factor[:-6])}"
    return {"normalisation": "normalisation (which method)",
            "aggregation": "aggregation (which method)",
            "leave_one_out": "indicator left out (which, if any)",
            "measurement_noise": "measurement noise (which noisy copy)",
            "pillar weights": "pillar weights"}.get(factor, humanize(factor))


def group_kind_label(spec, kind: str) -> str:
    g = spec.groups.get(kind)
    label = getattr(g, "label", "") or getattr(g, "label_en", "")
    return label or humanize(kind)


def group_value_labels(ds, kind: str) -> dict[str, str]:
    """Readable labels of a grouping's values: the spec's optional mapping (``labels`` in the
    group table) when present; else, when the unit metadata has another column in one-to-one
    correspondence with the group's (e.g. 'scale' beside 'scale_code'), that column's value
    before the humanised code ('II型大城市 Large II'); else the humanised code."""
    g = ds.spec.groups.get(kind)
    if g is None or g.column not in ds.meta.columns:
        return {}
    values = [str(v) for v in pd.unique(ds.meta[g.column])]
    given = getattr(g, "labels", None) or {}
    partner = None
    col = ds.meta[g.column].astype(str)
    for other in ds.meta.columns:
        if other in (g.column, "name_en"):
            continue
        o = ds.meta[other].astype(str)
        pairs = pd.DataFrame({"a": col, "b": o}).drop_duplicates()
        if (len(pairs) == len(values) == pairs["b"].nunique()
                and any(ord(ch) > 127 for v in pairs["b"] for ch in v)):
            partner = dict(zip(pairs["a"], pairs["b"]))
            break
    out = {}
    for v in values:
        if v in given:
            out[v] = str(given[v])
        elif partner:
            out[v] = f"{partner[v]} {humanize(v)}"
        else:
            out[v] = humanize(v)
    return out


def lens_title(lens: str) -> str:
    return LENS_TITLES.get(lens, lens)


def lens_options(present: list[str]) -> tuple[list[str], list[str]]:
    """Selector options (lens ids in order) and their labels."""
    opts = [lens for lens in LENSES if lens in present]
    return opts, [LENS_SHORT[lens] for lens in opts]


COLUMN_TITLES = {
    "unit": "city", "name_en": "English", "published_rank": "published rank",
    "published_tier": "published tier", "nominal_rank": "recomputed rank",
    "verdict": "verdict", "weights_p_published_tier": "P(published tier), weights",
    "weights_p05": "weights p05", "weights_p95": "weights p95",
    "era_best": "best rank (ERA)", "era_worst": "worst rank (ERA)",
    "noise_lower": "noise rank set from", "noise_upper": "noise rank set to",
    "construction_worst": "alternative that moves it most",
    "construction_shift": "its shift", "erratum": "erratum", "reasons": "reasons",
    "p_published_tier": "P(published tier)", "p05": "p05", "p95": "p95",
}
