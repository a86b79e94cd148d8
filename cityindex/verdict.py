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
from cityindex.vocabulary import (  # noqa: F401 (VERDICTS, VERDICT_LENS: re-exported)
    NOT_RANKED,
    VERDICT_LENS,
    VERDICTS,
    confidence_set,
    counted,
    move_words,
    percent,
    places,
    tier_words,
    unit_label,
)

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
                  reproduction: pd.DataFrame | None = None,
                  coverage: float | None = None) -> pd.DataFrame:
    """verdicts.csv: one row per unit (see the module docstring).

    ``weights`` is the ``weights`` lens's rows of ranks.csv; ``extremes`` extremes.csv;
    ``rank_ci`` rank_ci.csv; ``scenarios`` the per-unit worst alternative
    (:func:`cityindex.sensitivity.scenarios.worst_alternative`); ``reproduction``
    reproduction.csv. Missing analyses leave their columns empty and their condition false.
    ``coverage`` is the rank sets' coverage (default: the one
    :class:`cityindex.sensitivity.confidence.RankCIResult` records on its table), written
    into the reasons; never assumed.
    """
    if coverage is None and rank_ci is not None:
        coverage = rank_ci.attrs.get("coverage")
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
    spec = ds.spec
    bounds = bounds_words(extremes)
    reasons = []
    for i, r in enumerate(df.to_dict("records")):
        tier = tier_words(spec, r["published_tier"])
        out = []
        if weight_sensitive[i]:
            where = (f"; {bounds} rank {r['era_best']}–{r['era_worst']} over the admissible "
                     f"weights leaves {tier}"
                     if extremes is not None else " (best/worst ranks not computed)")
            out.append(f"weights: P(stays in {tier}) = {r['weights_p_published_tier']:.3f} "
                       f"< {tier_probability:g}{where}")
        if noise_limited[i]:
            out.append(f"noise: {confidence_set(coverage)} {r['noise_lower']}–"
                       f"{r['noise_upper']} crosses a tier boundary")
        if construction[i]:
            out.append(construction_reason(spec, moved_by[i], r["construction_worst"],
                                           r["construction_shift"], tier))
        if not weight_sensitive[i] and not_guaranteed[i] and extremes is not None:
            out.append(f"weights: {tier} not guaranteed ({bounds} "
                       f"{r['era_best']}–{r['era_worst']}) but P(stays) = "
                       f"{r['weights_p_published_tier']:.3f}")
        for finding in errata.get(r["unit"], []):
            out.append(f"erratum: {finding}")
        reasons.append("; ".join(out))
    df["reasons"] = reasons
    return df[COLUMNS]


def construction_reason(spec, moved_by, worst: str, shift: int, tier: str) -> str:
    """The construction clause of a reason: which named alternatives (scenarios.csv ids,
    in words as :func:`scenario_label` gives them, the page's labels) put the unit out of
    its published tier, and the alternative that moves it most."""
    names = [scenario_label(spec, m, short=True) for m in (moved_by or [])]
    which = (f"{len(names)} alternative constructions put it out of {tier}: " if len(names) > 1
             else f"1 alternative construction puts it out of {tier}: ")
    return (f"construction: {which}{', '.join(names)}; largest move: "
            f"{scenario_label(spec, worst, short=True)}, {move_words(shift)}")


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
    labels = [unit_label(ds, u) for u in units]
    if len(labels) > limit:
        return ", ".join(labels[:limit]) + f" and {len(labels) - limit} more"
    return ", ".join(labels)


_places = places  # (the fragment lives in cityindex.vocabulary)


def weights_phrase(model) -> str:
    """The weight model in a few words, for a headline."""
    if model.weights == "uniform":
        return f"±{model.delta * 100:g}% weights"
    if model.weights == "dirichlet":
        return f"Dirichlet({model.concentration:g} × nominal) weights"
    if model.weights == "simplex":
        return "weights uniform on the simplex"
    return "the nominal weights"


def _coverage(model, lenses: dict[str, dict], rank_ci: pd.DataFrame | None) -> float | None:
    """The run's rank-set coverage: the rank_ci summary's, the table's, else the model's."""
    found = lenses.get("noise", {}).get("rank_ci", {}).get("coverage")
    if found is None and rank_ci is not None:
        found = rank_ci.attrs.get("coverage")
    if found is None and getattr(model, "rank_ci", None) is not None:
        found = model.rank_ci.coverage
    return found


def noise_notes(ds: Dataset, model, lenses: dict[str, dict], verdicts: pd.DataFrame,
                rank_ci: pd.DataFrame | None = None) -> list[str]:
    """summary.json's ``lenses.noise.notes``: the noise lens's models in words, and, with
    rank confidence sets, why their count of sets crossing a tier boundary differs from the
    noise-limited verdicts and why a set can cross while the bootstrap's P(published tier)
    is near 1 — each with this run's numbers."""
    n, noun = ds.n_units, ds.spec.units
    thr = model.tier_probability
    b = lenses["noise"]["bootstrap"]
    notes = []
    rounding = ("rounding to the printed precision (uniform within half a unit of the last "
                "printed digit)")
    if b.get("models", "").startswith("every indicator: rounding"):
        notes.append(f"Noise model: {rounding} only, errors independent across cells.")
    elif b.get("models"):
        notes.append(f"Noise models: {b['models']}; under every model also {rounding}; "
                     "errors independent across cells.")
    if rank_ci is None:
        return notes
    coverage = _coverage(model, lenses, rank_ci)
    crossing = [u for u, ok in zip(rank_ci["unit"], rank_ci["tier_certain"]) if not ok]
    v = verdicts.set_index("unit")["verdict"].reindex(crossing)
    limited = int((v == "noise-limited").sum())
    earlier = int((v == "weight-sensitive").sum())
    which = (("both" if earlier == 2 else f"all {earlier}")
             if earlier == len(crossing) and earlier > 1
             else f"{earlier} of these {len(crossing)}")
    notes.append(
        f"{len(crossing)} of the {n} {noun}' {confidence_set(coverage, plural=True)} cross a "
        f"tier boundary, and the noise-limited count is {limited}: each {ds.spec.unit} gets "
        f"the first verdict that applies, and {which} "
        f"{'is' if earlier == 1 and len(crossing) == 1 else 'are'} weight-sensitive, a "
        "verdict that comes before noise-limited.")
    if "tier_fragile_units" in b:
        fragile = set(b["tier_fragile_units"])
        high = [u for u in crossing if u not in fragile]
        notes.append(
            "A set that crosses a tier boundary and a bootstrap P(published tier) near 1 do "
            f"not contradict each other: the {confidence_set(coverage, plural=True)} hold for "
            f"all {n} {noun} jointly (so each is wider than the {ds.spec.unit}'s own spread "
            f"and also carries the noise in every other {ds.spec.unit}'s score), while "
            f"P(published tier) is the share of the {b['replicates']} noisy copies in which "
            f"its rank stays in its tier. Of the {len(crossing)} {noun} whose set crosses a "
            f"boundary, {len(high)} {'keeps its' if len(high) == 1 else 'keep their'} tier "
            f"with P ≥ {thr:g} in the bootstrap.")
    return notes


def headlines(ds: Dataset, model, lenses: dict[str, dict], verdicts: pd.DataFrame,
              rank_ci: pd.DataFrame | None = None) -> dict[str, str]:
    """One sentence per lens, JRC style, plus one for the verdicts (keys: the lens names
    present and ``"verdicts"``). With a noise lens it also adds that lens's ``notes``
    (:func:`noise_notes`) to ``lenses["noise"]``, the summary.json section it heads."""
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
        aggregations = [scenario_label(ds.spec, a, short=True) for a in alts
                        if a.endswith(" aggregation")]
        imputations = [scenario_label(ds.spec, a, short=True) for a in alts
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
            text += (f", most often {scenario_label(ds.spec, top, short=True)}, for "
                     f"{by[top]} {noun}")
        if "montecarlo" in lenses["construction"]:
            mc = lenses["construction"]["montecarlo"]
            text += (f"; in the construction Monte Carlo (the run file's odds), "
                     f"{n - mc['tier_fragile']} keep their tier with P ≥ {thr:g}")
        out["construction"] = text + "."
    if "noise" in lenses:
        b = lenses["noise"]["bootstrap"]
        coverage = _coverage(model, lenses, rank_ci)
        if rank_ci is not None:
            certain = int(rank_ci["tier_certain"].sum())
            width = rank_ci["simultaneous_upper"] - rank_ci["simultaneous_lower"]
            limited = counts["noise-limited"]
            text = (f"Under the measurement-noise model, {certain} of {n} {noun}' tiers are "
                    f"statistically certain ({confidence_set(coverage, plural=True)}); the "
                    f"median set spans {_places(float(np.median(width)))}; {n - certain} "
                    "sets cross a tier boundary"
                    + (f" ({limited} of them noise-limited, the others weight-sensitive, a "
                       "verdict that comes first)" if limited < n - certain else ""))
        else:
            text = (f"Under the measurement-noise model, {n - b['tier_fragile']} of {n} {noun} "
                    f"keep their tier with P ≥ {thr:g}")
        text += (f"; in the bootstrap ({b['replicates']} noisy copies, nominal weights) the "
                 f"median 90% rank interval is {_places(b['median_interval_90'])}")
        out["noise"] = text + "."
        # summary.json's noise section: the notes that reconcile its numbers
        lenses["noise"]["notes"] = noise_notes(ds, model, lenses, verdicts, rank_ci)
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
