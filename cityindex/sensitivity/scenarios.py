"""The ``construction`` lens's named, deterministic alternatives, side by side with the
published ranking, exactly as the run file lists them (nominal weights throughout): each
``[normalisation]`` choice with the index's own aggregation; each ``[aggregation]`` choice at
every node of the published scores (on value + ``geometric_offset`` where the aggregation
needs positive values; a choice that is the index's own construction is the baseline, not an
alternative); each indicator left out when ``[leave_one_out]`` is enabled. Without a model
(``scenario_ranks(ds)``) every re-normalisation, geometric aggregation (and arithmetic where
the index is not arithmetic) and every indicator left out are tried.

The index's own construction ("published normalisation") is kept as the ``baseline`` row: it
is the nominal ranking recomputed from the published indicators, and it differs from the
published ranks only where the report's own numbers do (see reproduction.csv). A unit's tier
"changes" under an alternative when the alternative puts it in another tier than the
published one (by rank for tier counts, by score for score thresholds).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from cityindex.construction import AGGREGATIONS
from cityindex.data import Dataset
from cityindex.errors import ModelError
from cityindex.rank import rank_desc
from cityindex.result import Result
from cityindex.score import DEFAULT_GEOMETRIC_OFFSET, NORMALISATION_CHOICES
from cityindex.sensitivity.engine import (
    composite,
    construction_scores,
    published_ranks,
    published_tiers,
    tiers_of,
)
from cityindex.sensitivity.leave_one_out import weights_without
from cityindex.vocabulary import SCENARIO_LABELS

BASELINE = "published normalisation"


def _is_own(ds: Dataset, aggregation: str) -> bool:
    """Is ``aggregation`` at every node the index's own construction (so not an
    alternative)? Only where no offset applies: an arithmetic index under arithmetic."""
    op = AGGREGATIONS[aggregation]
    return not op.positive and all(ds.spec.nodes[a].aggregation == aggregation
                                   for a in ds.spec.aggregates)


def imputation_scores(ds: Dataset, rule: str, by: str | None = None) -> np.ndarray:
    """Composite scores (units,) at nominal weights when every missing value (every node but
    the root) is filled by ``rule`` instead of the spec's own rules; ``by`` is group_mean's
    units.csv column."""
    spec = ds.spec
    if rule == "group_mean" and by not in ds.pipeline.labels:
        raise ModelError("imputation_by", "[imputation].by", f"no units.csv column {by!r}",
                         f"a column of units.csv, one of {list(ds.pipeline.labels)}")
    nodes = {n: (node if n == spec.root else
                 replace(node, impute=rule, impute_by=by if rule == "group_mean" else None))
             for n, node in spec.nodes.items()}
    # the dataset's own pipeline under the variant: same gaps, exceptions, groups and units
    # not ranked (impute_over)
    return ds.pipeline.with_spec(replace(spec, nodes=nodes)).evaluate(ds.matrix)


def treatment_scores(ds: Dataset, rule: str) -> np.ndarray:
    """Composite scores (units,) at nominal weights when every raw indicator is treated by
    ``rule`` before its declared normalisation (fitted, like the published scores, on every
    unit of raw.csv, ranked or not)."""
    from cityindex.data import normalise_raw

    if ds.raw_all is None or ds.raw_scores is not None:
        raise ModelError("treatments", "[treatment].choices",
                         "treatment alternatives on published indicator scores",
                         "a data folder whose scores come from raw.csv alone (treatment acts "
                         "on raw values before normalisation)")
    spec = ds.spec
    nodes = {n: (replace(node, treatment=rule, cap=None, cap_percentiles=None)
                 if n in spec.indicators else node) for n, node in spec.nodes.items()}
    variant = replace(spec, nodes=nodes)
    zero = pd.DataFrame(0, index=ds.raw_all.index, columns=ds.raw_all.columns)
    scores, _, _ = normalise_raw(ds.raw_all, zero, variant, "raw.csv")
    x = scores.loc[ds.units, spec.indicators].to_numpy()
    return ds.pipeline.evaluate(x)


def scenario_ranks(ds: Dataset, geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET,
                   model=None) -> pd.DataFrame:
    """scenarios.csv (long): unit, scenario, kind (baseline | normalisation | aggregation |
    leave_one_out), rank, published_rank, shift (rank - published), tier, published_tier,
    tier_changed. ``model`` (an :class:`cityindex.UncertaintyModel`) says which alternatives
    to compute (see the module docstring)."""
    spec = ds.spec
    published = published_ranks(ds)
    pub_tier = published_tiers(ds)
    if model is None:
        normalisations = NORMALISATION_CHOICES
        aggregations = ("geometric",) if spec.linear else ("arithmetic", "geometric")
        leave_one_out = True
    else:
        geometric_offset = model.geometric_offset
        normalisations = ("published", *(m for m in model.normalisations if m != "published"))
        aggregations = tuple(a for a in model.aggregations
                             if a != "published" and not _is_own(ds, a))
        leave_one_out = model.leave_one_out
    imputations = () if model is None else model.imputations
    treatments = () if model is None else model.treatments
    ranks_by: dict[str, tuple[str, np.ndarray]] = {}  # name -> (kind, scores)
    for method in normalisations:
        name = f"{method} normalisation"
        ranks_by[name] = ("baseline" if name == BASELINE else "normalisation",
                          construction_scores(ds, method, "published"))
    for agg in aggregations:
        ranks_by[f"{agg} aggregation"] = (
            "aggregation", construction_scores(ds, "published", agg, geometric_offset))
    for rule in imputations:
        ranks_by[f"{rule} imputation"] = (
            "imputation", imputation_scores(ds, rule, model.imputation_by))
    for rule in treatments:
        ranks_by[f"{rule} treatment"] = ("treatment", treatment_scores(ds, rule))
    for ind in spec.indicators if leave_one_out else ():
        ranks_by[f"without {ind}"] = (
            "leave_one_out", composite(ds, weights_without(spec, ind).to_numpy()))
    frames = []
    for name, (kind, scores) in ranks_by.items():
        ranks = rank_desc(scores)
        # another normalisation puts scores on another scale: tiers by rank position there
        tier = tiers_of(ds, ranks, None if kind == "normalisation" else scores)
        frames.append(pd.DataFrame({"unit": ds.units, "scenario": name, "kind": kind,
                                    "rank": ranks, "published_rank": published,
                                    "shift": ranks - published, "tier": tier,
                                    "published_tier": pub_tier,
                                    "tier_changed": tier != pub_tier}))
    return pd.concat(frames, ignore_index=True)


def scenario_label(spec, scenario: str, short: bool = False) -> str:
    """A named alternative construction in words."""
    if scenario in SCENARIO_LABELS:
        return SCENARIO_LABELS[scenario]
    name = scenario.removesuffix(" aggregation")
    if name in AGGREGATIONS:   # a registered aggregation without words of its own
        return f"{AGGREGATIONS[name].label} at every node"
    if scenario.startswith("without "):
        node = scenario[8:]
        if node in spec.nodes:
            n = spec.nodes[node]
            label = n.label_en if short and n.label_en else (spec.label(node) or node)
            return f"without {label}"
    return scenario


def worst_alternative(frame: pd.DataFrame) -> pd.DataFrame:
    """Per unit: the alternative (baseline excluded) that moves it most (largest |shift|;
    the first in scenario order on ties), its shift, and whether any alternative changes
    its tier."""
    alt = frame[frame["kind"] != "baseline"].copy()
    alt["abs_shift"] = alt["shift"].abs()
    order = {s: i for i, s in enumerate(dict.fromkeys(alt["scenario"]))}
    alt["order"] = alt["scenario"].map(order)
    top = (alt.sort_values(["unit", "abs_shift", "order"], ascending=[True, False, True])
           .groupby("unit", sort=False).head(1).set_index("unit"))
    changes = alt.groupby("unit")["tier_changed"].any()
    moved_by = alt[alt["tier_changed"]].groupby("unit")["scenario"].apply(list)
    return pd.DataFrame({"construction_worst": top["scenario"],
                         "construction_shift": top["shift"].astype(int),
                         "tier_changes": changes.reindex(top.index),
                         "moved_by": moved_by.reindex(top.index)})


class ScenariosResult(Result):
    """Named alternative constructions side by side (scenarios.csv)."""

    name = "scenarios"

    def __init__(self, ds: Dataset, geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET,
                 model=None) -> None:
        self.dataset = ds
        self.frame = scenario_ranks(ds, geometric_offset, model)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"scenarios": self.frame}

    @property
    def has_alternatives(self) -> bool:
        return bool((self.frame["kind"] != "baseline").any())

    def worst(self) -> pd.DataFrame | None:
        """Per unit: the alternative that moves it most (see :func:`worst_alternative`);
        None when the run file lists no alternative."""
        return worst_alternative(self.frame) if self.has_alternatives else None

    def summary(self) -> dict:
        f = self.frame
        alt = f[f["kind"] != "baseline"]
        worst = self.worst()
        if worst is None:
            return {"alternatives": [], "labels": {},
                    "tier_kept_under_every_alternative": None,
                    "tier_changed_by_some_alternative": 0, "median_largest_shift": None,
                    "tier_changes_by_alternative": {}, "mean_abs_shift_by_alternative": {}}
        per = alt.groupby("scenario", sort=False)
        names = list(dict.fromkeys(alt["scenario"]))
        return {
            "alternatives": names,
            # scenarios.csv's ids in words, as the reasons and the page write them
            "labels": {k: scenario_label(self.dataset.spec, k, short=True) for k in names},
            "tier_kept_under_every_alternative": int((~worst["tier_changes"]).sum()),
            "tier_changed_by_some_alternative": int(worst["tier_changes"].sum()),
            "median_largest_shift": float(np.median(worst["construction_shift"].abs())),
            "tier_changes_by_alternative": {k: int(g["tier_changed"].sum()) for k, g in per},
            "mean_abs_shift_by_alternative": {k: float(g["shift"].abs().mean())
                                              for k, g in per},
        }

    def chart(self, info: pd.DataFrame | None = None):
        """Each city's rank under each alternative (``info``: the page's city rows)."""
        from cityindex.report import charts

        if info is None:
            f = self.frame[self.frame["kind"] == "baseline"]
            info = charts.default_info(f.assign(
                name_en=[self.dataset.label(u).removeprefix(u).strip() for u in f["unit"]],
                nominal_rank=f["rank"]))
        return charts.scenario_dots(self.frame, info, self.dataset.spec.tiers,
                                    self.dataset.spec)
