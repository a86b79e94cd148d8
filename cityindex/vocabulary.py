"""The words every output shares: verdict and lens names, the labels of named alternative
constructions, and the sentence fragments that carry a run's numbers (confidence levels,
tiers, places, noise models).

One module so that verdicts.csv, summary.json, the result objects and the page say the same
thing the same way; every number in a fragment is an argument (a coverage is never written
as a literal: a run at ``[rank_ci] coverage = 0.90`` says 90%).
"""

from __future__ import annotations

# -- verdicts and lenses ---------------------------------------------------------------------

VERDICTS = ("weight-sensitive", "noise-limited", "construction-sensitive", "robust")
NOT_RANKED = "not ranked"
VERDICT_LENS = {"weight-sensitive": "weights", "noise-limited": "noise",
                "construction-sensitive": "construction", "robust": "all lenses"}

LENSES = ("weights", "construction", "noise", "sample", "combined")
LENS_TITLES = {
    "weights": "weights (the index's own construction, weights perturbed)",
    "construction": "construction (alternative normalisations, aggregations, indicator sets)",
    "noise": "noise (measurement-noise bootstrap)",
    "sample": "sample (resampling the units)",
    "combined": "combined (JRC-style joint run: weights x normalisations x aggregations)",
}

# -- named alternative constructions (scenarios.csv ids -> words) ----------------------------

SCENARIO_LABELS = {
    "published normalisation": "published normalisation (the index's own)",
    "minmax normalisation": "min-max re-normalisation",
    "zscore normalisation": "z-score normalisation",
    "rank normalisation": "percentile-rank normalisation",
    "geometric aggregation": "geometric aggregation",
    "arithmetic aggregation": "arithmetic aggregation",
    "harmonic aggregation": "harmonic aggregation",
    "none imputation": "no imputation (siblings reweighted)",
    "mean imputation": "mean imputation of every gap",
    "median imputation": "median imputation of every gap",
    "group_mean imputation": "group-mean imputation of every gap",
    "zero imputation": "every gap counted as zero",
    "none treatment": "no outlier treatment of raw values",
    "winsorise treatment": "winsorised raw values (COINr rule)",
}
# the ids of Monte-Carlo choices (model.normalisations / model.aggregations) in words
NORMALISATION_WORDS = {"published": "the index's own normalisation",
                       "minmax": "min-max re-normalisation", "zscore": "z-score normalisation",
                       "rank": "percentile-rank normalisation"}
AGGREGATION_WORDS = {"published": "each node's own aggregation",
                     "arithmetic": "arithmetic aggregation at every node",
                     "geometric": "geometric aggregation at every node",
                     "harmonic": "harmonic aggregation at every node"}

# -- best/worst ranks -------------------------------------------------------------------------

EXACT_BOUNDS = "exact best–worst"
INNER_BOUNDS = "best–worst bounds"
SOME_BOUNDS = "best–worst"

# -- fragments --------------------------------------------------------------------------------


def percent(p: float) -> str:
    """0.9 -> '90%', 0.95 -> '95%', 0.975 -> '97.5%'."""
    return f"{round(float(p) * 100, 6):g}%"


def confidence_set(coverage: float | None, plural: bool = False) -> str:
    """'90% simultaneous rank confidence set' (the run's coverage), or without a number when
    the coverage is not known."""
    noun = "sets" if plural else "set"
    if coverage is None:
        return f"simultaneous rank confidence {noun}"
    return f"{percent(coverage)} simultaneous rank confidence {noun}"


def tier_words(spec, tier) -> str:
    """A tier in words: 'tier 2', or 'the very high tier' where the spec names its tiers."""
    label = spec.tier_label(int(tier))
    return label if label.startswith("tier ") else f"the {label} tier"


def places(k: float) -> str:
    """'1 place', '2.5 places'."""
    k = float(k)
    text = f"{k:g}"
    return f"{text} place" if k == 1 else f"{text} places"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """'1 unit', '3 units' ('1 city', '3 cities' with ``plural``)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def move_words(shift: int) -> str:
    """A rank shift (rank - reference; positive = the unit falls) in words."""
    shift = int(shift)
    if shift == 0:
        return "no move"
    return f"{'falls' if shift > 0 else 'rises'} {places(abs(shift))}"


def unit_label(ds, unit: str) -> str:
    """'北京 Beijing', but 'Norway' (not 'Norway Norway') where the id is already the English
    name, and the id alone where no English name is known."""
    meta = getattr(ds, "meta", None)
    if meta is not None and "name_en" in meta.columns and unit in meta.index:
        name = str(meta.at[unit, "name_en"]).strip()
        if name and name != "nan" and name != str(unit):
            return f"{unit} {name}"
    return str(unit)


def noise_model_words(model, grid_step: float | None = None) -> str:
    """One indicator's measurement-noise model in words (a
    :class:`cityindex.model.NoiseModel`): the model, its size, and whether its size is
    assumed (the run file states no source for sd or cv) or read from the data (the printing
    precision, a detected grid)."""
    kind = getattr(model, "model", "rounding")
    if kind in ("none", "rounding"):
        return "rounding to the printed precision only"
    if kind == "grid":
        step = f" of step {grid_step:.4g}" if grid_step else ""
        return (f"values lie on a grid{step} detected in the published scores (uniform within "
                "half a grid step)")
    if kind == "normal":
        unit = "score point" if model.sd == 1 else "score points"
        return f"normal, sd {model.sd:g} {unit} (assumed)"
    if kind == "lognormal":
        return f"lognormal, cv {model.cv:g} (assumed)"
    return str(kind)
