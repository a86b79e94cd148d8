"""One verdict per unit, reading the lenses in order (verdicts.csv, fragile.csv).

``weight-sensitive``        the published tier is not guaranteed over every admissible
                            weighting (exact best/worst ranks, ERA) *and* P(published tier)
                            under the ``weights`` lens is below ``[flags] tier_probability``;
``noise-limited``           the simultaneous rank confidence set under measurement noise
                            (Mogstad et al. 2024) crosses a tier boundary;
``construction-sensitive``  a named alternative construction (normalisation, aggregation, an
                            indicator left out) puts the unit in another tier;
``robust``                  none of these.

The first that applies is the verdict; ``reasons`` lists every condition that holds, with its
numbers, so a reviewer can check each against the lens's own table. ``erratum`` marks units
whose published numbers the reproduction audit contradicts (reproduction.csv: arithmetic,
rank order, sub-tables, normalisation checks; the report's text claims are not numbers of a
unit and do not count). The ``combined`` and ``sample`` lenses never decide a verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.sensitivity.engine import names_en, published_ranks, published_tiers
from cityindex.sensitivity.extremes import bounds_words
from cityindex.sensitivity.scenarios import scenario_label

VERDICTS = ("weight-sensitive", "noise-limited", "construction-sensitive", "robust")
VERDICT_LENS = {"weight-sensitive": "weights", "noise-limited": "noise",
                "construction-sensitive": "construction", "robust": "all lenses"}
NUMERIC_CHECKS = ("aggregate", "rank_order", "subtable", "normalisation")
COLUMNS = ["unit", "name_en", "published_rank", "published_tier", "verdict",
           "weights_p_published_tier", "weights_p05", "weights_p95", "era_best", "era_worst",
           "noise_lower", "noise_upper", "construction_worst", "construction_shift", "erratum",
           "reasons"]


def erratum_units(reproduction: pd.DataFrame | None) -> dict[str, list[str]]:
    """unit -> the reproduction findings about its published numbers, in words."""
    out: dict[str, list[str]] = {}
    if reproduction is None or not len(reproduction):
        return out
    rows = reproduction[reproduction["check"].isin(NUMERIC_CHECKS)]
    for r in rows.to_dict("records"):
        unit = str(r.get("unit", ""))
        if not unit or unit == "nan":
            continue
        what = f"{r['check']} check on {r['node']}" if r.get("node") == r.get("node") else \
            f"{r['check']} check"
        detail = (f"published {_num(r.get('published'))}, recomputed "
                  f"{_num(r.get('recomputed'))}" if r.get("recomputed") == r.get("recomputed")
                  else str(r.get("detail", "")))
        out.setdefault(unit, []).append(f"{what}: {detail}")
    return out


def _num(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def verdict_table(ds: Dataset, weights: pd.DataFrame, tier_probability: float,
                  extremes: pd.DataFrame | None = None, rank_ci: pd.DataFrame | None = None,
                  scenarios: pd.DataFrame | None = None,
                  reproduction: pd.DataFrame | None = None) -> pd.DataFrame:
    """verdicts.csv: one row per unit (see the module docstring).

    ``weights`` is the ``weights`` lens's rows of ranks.csv; ``extremes`` extremes.csv;
    ``rank_ci`` rank_ci.csv; ``scenarios`` the per-unit worst alternative
    (:func:`cityindex.sensitivity.scenarios.worst_alternative`); ``reproduction``
    reproduction.csv. Missing analyses leave their columns empty and their condition false.
    """
    n = ds.n_units
    w = weights.set_index("unit").reindex(ds.units)
    published = published_ranks(ds)
    pub_tier = published_tiers(ds)
    df = pd.DataFrame({"unit": ds.units, "name_en": names_en(ds),
                       "published_rank": published, "published_tier": pub_tier,
                       "verdict": "",
                       "weights_p_published_tier": w["p_published_tier"].to_numpy(),
                       "weights_p05": w["p05"].to_numpy(), "weights_p95": w["p95"].to_numpy()})
    p_low = df["weights_p_published_tier"].to_numpy() < tier_probability
    if extremes is not None:
        e = extremes.set_index("unit").reindex(ds.units)
        df["era_best"] = e["best"].to_numpy()
        df["era_worst"] = e["worst"].to_numpy()
        not_guaranteed = ~e["tier_guaranteed"].to_numpy(dtype=bool)
    else:
        df["era_best"] = pd.array([pd.NA] * n, dtype="Int64")
        df["era_worst"] = pd.array([pd.NA] * n, dtype="Int64")
        not_guaranteed = np.ones(n, dtype=bool)
    weight_sensitive = not_guaranteed & p_low
    if rank_ci is not None:
        c = rank_ci.set_index("unit").reindex(ds.units)
        df["noise_lower"] = c["simultaneous_lower"].to_numpy()
        df["noise_upper"] = c["simultaneous_upper"].to_numpy()
        noise_limited = ~c["tier_certain"].to_numpy(dtype=bool)
    else:
        df["noise_lower"] = pd.array([pd.NA] * n, dtype="Int64")
        df["noise_upper"] = pd.array([pd.NA] * n, dtype="Int64")
        noise_limited = np.zeros(n, dtype=bool)
    if scenarios is not None:
        s = scenarios.reindex(ds.units)
        df["construction_worst"] = s["construction_worst"].to_numpy()
        df["construction_shift"] = s["construction_shift"].to_numpy()
        construction = s["tier_changes"].to_numpy(dtype=bool)
        moved_by = s["moved_by"].to_numpy()
    else:
        df["construction_worst"] = ""
        df["construction_shift"] = pd.array([pd.NA] * n, dtype="Int64")
        construction = np.zeros(n, dtype=bool)
        moved_by = np.full(n, None)
    errata = erratum_units(reproduction)
    df["erratum"] = [u in errata for u in ds.units]
    df["verdict"] = np.select([weight_sensitive, noise_limited, construction],
                              list(VERDICTS[:3]), VERDICTS[3])
    reasons = []
    for i, r in enumerate(df.to_dict("records")):
        t = r["published_tier"]
        out = []
        if weight_sensitive[i]:
            where = (f"; best–worst rank {r['era_best']}–{r['era_worst']} over the admissible "
                     f"weights leaves tier {t}"
                     if extremes is not None else " (best/worst ranks not computed)")
            out.append(f"weights: P(stays in tier {t}) = {r['weights_p_published_tier']:.3f} "
                       f"< {tier_probability:g}{where}")
        if noise_limited[i]:
            out.append(f"noise: 95% simultaneous rank confidence set {r['noise_lower']}–"
                       f"{r['noise_upper']} crosses a tier boundary")
        if construction[i]:
            names = ", ".join(scenario_label(ds.spec, m, short=True) for m in moved_by[i])
            out.append(f"construction: another tier under {names}; largest move: "
                       f"{scenario_label(ds.spec, r['construction_worst'], short=True)} "
                       f"({r['construction_shift']:+d})")
        if not weight_sensitive[i] and not_guaranteed[i] and extremes is not None:
            out.append(f"weights: tier {t} not guaranteed ({bounds_words(extremes)} "
                       f"{r['era_best']}–{r['era_worst']}) but P(stays) = "
                       f"{r['weights_p_published_tier']:.3f}")
        for finding in errata.get(r["unit"], []):
            out.append(f"erratum: {finding}")
        reasons.append("; ".join(out))
    df["reasons"] = reasons
    return df[COLUMNS]


NOT_RANKED = "not ranked"


def with_not_ranked(ds: Dataset, verdicts: pd.DataFrame) -> pd.DataFrame:
    """verdicts.csv as written: the ranked units' verdicts, then one row per unit left out of
    the ranking (verdict ``not ranked``, the reason in ``reasons``; no numbers)."""
    if ds.excluded is None or not len(ds.excluded):
        return verdicts
    names = ds.excluded_names()
    rows = pd.DataFrame({"unit": ds.excluded["unit"].to_numpy(), "name_en": names,
                         "verdict": NOT_RANKED,
                         "reasons": [f"not ranked: {r}" for r in ds.excluded["reason"]]})
    out = pd.concat([verdicts, rows.reindex(columns=verdicts.columns)], ignore_index=True)
    for col in ("published_rank", "published_tier", "era_best", "era_worst", "noise_lower",
                "noise_upper", "construction_shift", "weights_p05", "weights_p95"):
        if col in out.columns and verdicts[col].dtype.kind in "iu":
            out[col] = out[col].astype("Int64")
    out["erratum"] = out["erratum"].fillna(False).astype(bool)
    out["construction_worst"] = out["construction_worst"].fillna("")
    return out


def fragile_table(verdicts: pd.DataFrame) -> pd.DataFrame:
    """fragile.csv: the rows of verdicts.csv whose verdict is not ``robust`` (units not
    ranked are not fragile: they are listed in verdicts.csv only)."""
    keep = (verdicts["verdict"] != "robust") & (verdicts["verdict"] != NOT_RANKED)
    return verdicts[keep].reset_index(drop=True)


def verdict_counts(verdicts: pd.DataFrame) -> dict[str, int]:
    return {v: int((verdicts["verdict"] == v).sum()) for v in VERDICTS}


def _names(ds: Dataset, units: list[str], limit: int = 25) -> str:
    labels = [ds.label(u) for u in units]
    if len(labels) > limit:
        return ", ".join(labels[:limit]) + f" and {len(labels) - limit} more"
    return ", ".join(labels)


def _places(k: float) -> str:
    k = float(k)
    text = f"{k:g}"
    return f"{text} place" if k == 1 else f"{text} places"


def weights_phrase(model) -> str:
    """The weight model in a few words, for a headline."""
    if model.weights == "uniform":
        return f"±{model.delta * 100:g}% weights"
    if model.weights == "dirichlet":
        return f"Dirichlet({model.concentration:g} × nominal) weights"
    if model.weights == "simplex":
        return "weights uniform on the simplex"
    return "the nominal weights"


def headlines(ds: Dataset, model, lenses: dict[str, dict], verdicts: pd.DataFrame,
              rank_ci: pd.DataFrame | None = None) -> dict[str, str]:
    """One sentence per lens, JRC style, plus one for the verdicts (keys: the lens names
    present and ``"verdicts"``)."""
    n = ds.n_units
    noun = ds.spec.units
    thr = model.tier_probability
    out: dict[str, str] = {}
    counts = verdict_counts(verdicts)
    if "weights" in lenses:
        w = lenses["weights"]
        mc = w["montecarlo"]
        sensitive = list(verdicts.loc[verdicts.verdict == "weight-sensitive", "unit"])
        text = f"Under {weights_phrase(model)}, "
        if "extremes" in w:
            kept = w["extremes"]["tier_guaranteed"]
            exact = str(w["extremes"].get("method", "exact")).startswith("exact")
            text += (f"{kept} of {n} {noun} keep their tier under every admissible weighting "
                     + ("(exact bounds)" if exact else "(inner bounds: vertices and sampled "
                        "weightings, the index is not linear in its weights)"))
            rest = n - kept - len(sensitive)
        else:
            kept = n - mc["tier_fragile"]
            text += f"{kept} of {n} {noun} keep their tier with P ≥ {thr:g}"
            rest = 0
        text += f"; the median 90% rank interval is {_places(mc['median_interval_90'])}; "
        if sensitive:
            text += (f"{len(sensitive)} {noun}' tiers depend on the weights: "
                     f"{_names(ds, sensitive)}")
        else:
            text += f"no {ds.spec.unit}'s tier depends on the weights"
        if rest > 0:
            text += (f"; the other {rest} can leave their tier only under unlikely weightings "
                     f"(P(stays) ≥ {thr:g})")
        out["weights"] = text + "."
    if "construction" in lenses:
        c = lenses["construction"]["alternatives"]
        alts = c["alternatives"]
        kinds = {"normalisation": sum(a.endswith("normalisation") for a in alts),
                 "left out": sum(a.startswith("without ") for a in alts)}
        aggregations = [a for a in alts if a.endswith(" aggregation")]
        imputations = [scenario_label(ds.spec, a) for a in alts
                       if a.endswith((" imputation", " treatment"))]
        parts = []
        if kinds["normalisation"]:
            k = kinds["normalisation"]
            parts.append(f"{k} other normalisation{'s' if k > 1 else ''}")
        if aggregations:
            parts.append(" and ".join(aggregations))
        if imputations:
            parts.append(", ".join(imputations))
        if kinds["left out"]:
            parts.append(f"each of {kinds['left out']} indicators left out")
        by = c["tier_changes_by_alternative"]
        top = max(by, key=lambda k: by[k]) if by else None
        if not alts:
            text = ("The run file lists no alternative construction ([normalisation], "
                    "[aggregation], [imputation] and [leave_one_out] name only the index's "
                    "own)")
        else:
            text = (f"Under {len(alts)} named alternative constructions ({', '.join(parts)}) "
                    f"at nominal weights, {c['tier_kept_under_every_alternative']} of {n} "
                    f"{noun} keep their tier under every one; the median largest move is "
                    f"{_places(c['median_largest_shift'])}; "
                    f"{c['tier_changed_by_some_alternative']} change tier under at least one")
        if top is not None and by[top]:
            text += (f", most often {scenario_label(ds.spec, top, short=True)} "
                     f"({by[top]} {noun})")
        if "montecarlo" in lenses["construction"]:
            mc = lenses["construction"]["montecarlo"]
            text += (f"; in the construction Monte Carlo (the run file's odds), "
                     f"{n - mc['tier_fragile']} keep their tier with P ≥ {thr:g}")
        out["construction"] = text + "."
    if "noise" in lenses:
        b = lenses["noise"]["bootstrap"]
        if rank_ci is not None:
            certain = int(rank_ci["tier_certain"].sum())
            width = rank_ci["simultaneous_upper"] - rank_ci["simultaneous_lower"]
            text = (f"Under the measurement-noise model, {certain} of {n} {noun}' tiers are "
                    "statistically certain (95% simultaneous confidence sets for ranks); the "
                    f"median set spans {_places(float(np.median(width)))}; {n - certain} "
                    "sets cross a tier boundary")
        else:
            text = (f"Under the measurement-noise model, {n - b['tier_fragile']} of {n} {noun} "
                    f"keep their tier with P ≥ {thr:g}")
        text += (f"; in the bootstrap ({b['replicates']} noisy copies, nominal weights) the "
                 f"median 90% rank interval is {_places(b['median_interval_90'])}")
        out["noise"] = text + "."
    if "sample" in lenses:
        s = lenses["sample"]["resample"]
        out["sample"] = (f"Resampling the {n} {noun} ({s['replicates']} resamples, min-max "
                         f"bounds re-derived), {n - s['tier_fragile']} keep their tier with "
                         f"P ≥ {thr:g}; the median 90% rank interval is "
                         f"{_places(s['median_interval_90'])}.")
    if "combined" in lenses:
        mc = lenses["combined"]["montecarlo"]
        out["combined"] = (
            f"In the JRC-style joint run ({weights_phrase(model)} × "
            f"{len(model.normalisations)} normalisations × {len(model.aggregations)} "
            f"aggregations, equally likely), {n - mc['tier_fragile']} of {n} {noun} keep their "
            f"tier with P ≥ {thr:g} and the median 90% rank interval is "
            f"{_places(mc['median_interval_90'])}; kept for comparison with published audits, "
            "no verdict uses it.")
    out["verdicts"] = (
        "Verdicts, the first that applies: "
        + " + ".join(f"{counts[v]} {v}" for v in VERDICTS) + f" = {n} {noun}.")
    if rank_ci is None:
        out["verdicts"] += (" Noise-limited was not judged: this run computed no rank "
                            "confidence sets (they need [noise], with [rank_ci] enabled).")
    return out
