"""cityindex: a statistical audit of published composite indices.

>>> import cityindex as ci
>>> ds = ci.load_dataset("data/city-image-2025")                # doctest: +SKIP
>>> study = ci.Study(ds, ci.UncertaintyModel(delta=0.25), seed=7)  # doctest: +SKIP
>>> study.montecarlo(samples=10_000).ranks()                   # doctest: +SKIP
"""

from cityindex.audit import ReproductionResult, audit
from cityindex.data import Dataset, load_dataset
from cityindex.errors import (
    CityIndexError,
    ComputationError,
    DataError,
    ModelError,
    RunFileError,
    SpecError,
)
from cityindex.model import (
    ExtremesSettings,
    ImportanceSettings,
    NoiseModel,
    NoiseSettings,
    RankCISettings,
    ResampleSettings,
    SobolSettings,
    UncertaintyModel,
)
from cityindex.rank import rank_desc, tier_of_rank
from cityindex.result import Result
from cityindex.sensitivity.engine import nominal_ranks, nominal_scores, published_ranks
from cityindex.spec import Spec, load_spec
from cityindex.streams import Stream
from cityindex.study import AuditResult, Study

__version__ = "0.2.0"

__all__ = [
    "AuditResult", "CityIndexError", "ComputationError", "DataError", "Dataset",
    "ExtremesSettings", "ImportanceSettings", "ModelError", "NoiseModel", "NoiseSettings",
    "RankCISettings", "ReproductionResult", "ResampleSettings", "Result", "RunFileError",
    "SobolSettings", "Spec", "SpecError", "Stream", "Study", "UncertaintyModel", "audit",
    "load_dataset", "load_spec", "nominal_ranks", "nominal_scores", "published_ranks",
    "rank_desc", "tier_of_rank",
]
