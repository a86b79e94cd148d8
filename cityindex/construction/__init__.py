"""The one home of how a score is made: registries of transforms, treatments, imputations,
normalisations and aggregations; the pipeline that evaluates a tree for a batch of weightings;
the weight box. Every analysis evaluates through here (see DESIGN.md, "Construction")."""

from cityindex.construction.aggregations import AGGREGATIONS, Aggregation
from cityindex.construction.imputation import IMPUTATIONS, Imputation
from cityindex.construction.normalisations import (
    LEAF_NORMALISATIONS,
    RENORMALISATIONS,
    TRANSFORMS,
    LeafScaler,
    apply_transform,
    normalise,
)
from cityindex.construction.pipeline import Pipeline, effective_weight_batch
from cityindex.construction.treatment import TREATMENTS, treat
from cityindex.construction.weightbox import WeightBox, renormalise, sibling_columns

__all__ = ["AGGREGATIONS", "IMPUTATIONS", "LEAF_NORMALISATIONS", "RENORMALISATIONS",
           "TRANSFORMS", "TREATMENTS", "Aggregation", "Imputation", "LeafScaler", "Pipeline",
           "WeightBox", "apply_transform", "effective_weight_batch", "normalise", "renormalise",
           "sibling_columns", "treat"]
