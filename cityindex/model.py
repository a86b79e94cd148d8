"""The uncertainty model: what a run file's sections describe, as one validated object.

An :class:`UncertaintyModel` says which choices behind the index are uncertain and how (the
weight model, alternative normalisations and aggregations), how many scenarios to draw, and
which analyses to run with which settings. It validates itself when built — in Python exactly
as from a run file — and raises :class:`cityindex.errors.ModelError` (a ``ValueError``) naming
the argument, the run-file key, what was found and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType

from cityindex.construction import IMPUTATIONS
from cityindex.errors import ModelError
from cityindex.score import AGGREGATION_CHOICES, DEFAULT_GEOMETRIC_OFFSET, NORMALISATION_CHOICES

IMPUTATION_CHOICES = IMPUTATIONS.names()
TREATMENT_CHOICES = ("none", "winsorise")   # "cap" needs bounds: declared per indicator

WEIGHT_MODELS = ("uniform", "dirichlet", "simplex", "fixed")
NOISE_MODELS = ("none", "rounding", "grid", "normal", "lognormal")
SOBOL_WEIGHTS = ("nodes", "grouped")
# The index's own construction (the ``weights`` lens): the published normalisation and each
# node's own aggregation from the spec; the one place the lenses read it from.
OWN_NORMALISATIONS = ("published",)
OWN_AGGREGATIONS = ("published",)

# Counts beyond these are refused unless ``allow_large=True`` ([run] allow_large = true): a
# Monte-Carlo run of 10^9 scenarios already takes about an hour (at ~350k scenarios/s), and
# the other analyses hold arrays proportional to their count in memory.
LARGE_LIMITS = {  # (argument, run-file key) -> largest count accepted without allow_large
    ("samples", "[run].samples"): 10**9,
    ("sobol.n", "[sobol].n"): 2**20,
    ("noise.replicates", "[noise].replicates"): 10**6,
    ("rank_ci.n_boot", "[rank_ci].n_boot"): 10**6,
    ("resample.replicates", "[resample].replicates"): 10**7,
}


def check_count(value: object, argument: str, key: str, allow_large: bool = False,
                minimum: int = 1, owner: str = "UncertaintyModel",
                limit: tuple[str, str] | None = None) -> int:
    """A count given to one analysis call (``Study.montecarlo(samples=...)`` and the like):
    an integer >= ``minimum`` and, unless ``allow_large``, within the ``LARGE_LIMITS`` entry
    ``limit`` (default ``(argument, key)``) — the same rules as the model's own counts;
    else :class:`ModelError` naming ``owner`` and ``argument``."""
    if not _is_int(value) or value < minimum:  # type: ignore[operator]
        raise ModelError(argument, key, f"found {value!r}", f"an integer >= {minimum}", owner)
    most = LARGE_LIMITS.get(limit or (argument, key))
    if most is not None and not allow_large and value > most:  # type: ignore[operator]
        raise ModelError(argument, key, f"found {value!r}",
                         f"at most {most:,}, or [run] allow_large = true (allow_large=True) "
                         "to run that many", owner)
    return int(value)  # type: ignore[arg-type]


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _fail(argument: str, key: str, value: object, expected: str) -> None:
    raise ModelError(argument, key, f"found {value!r}", expected)


def _number(value: object, argument: str, key: str, expected: str, ok) -> float:
    if not _is_number(value) or not ok(value):
        _fail(argument, key, value, expected)
    return float(value)  # type: ignore[arg-type]


def _integer(value: object, argument: str, key: str, expected: str, ok) -> int:
    if not _is_int(value) or not ok(value):
        _fail(argument, key, value, expected)
    return int(value)  # type: ignore[arg-type]


def _flag(value: object, argument: str, key: str) -> bool:
    if not isinstance(value, bool):
        _fail(argument, key, value, "true or false")
    return bool(value)


def _choice(value: object, argument: str, key: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        _fail(argument, key, value, f"one of {list(allowed)}")
    return str(value)


def _choices(value: object, argument: str, key: str, allowed: tuple[str, ...]
             ) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple) or not value:
        _fail(argument, key, value, f"a non-empty list drawn from {list(allowed)}")
    for c in value:  # type: ignore[union-attr]
        if c not in allowed:
            raise ModelError(argument, key, f"unknown choice {c!r}", f"one of {list(allowed)}")
    if len(set(value)) != len(value):  # type: ignore[arg-type]
        _fail(argument, key, value, "each choice once")
    return tuple(value)  # type: ignore[arg-type]


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True)
class NoiseModel:
    """Measurement-noise model of one indicator (see :mod:`cityindex.sensitivity.noise`)."""

    model: str = "rounding"
    sd: float = 0.0
    cv: float = 0.0
    indicator: str = field(default="*", compare=False, repr=False)

    def __post_init__(self) -> None:
        where = f"[noise].{self.indicator}"
        _choice(self.model, f"noise[{self.indicator!r}].model", f"{where}.model", NOISE_MODELS)
        _set(self, "sd", _number(self.sd, f"noise[{self.indicator!r}].sd", f"{where}.sd",
                                 "a non-negative sd in score points", lambda v: v >= 0))
        _set(self, "cv", _number(self.cv, f"noise[{self.indicator!r}].cv", f"{where}.cv",
                                 "a non-negative coefficient of variation", lambda v: v >= 0))
        if self.model == "normal" and self.sd <= 0:
            _fail(f"noise[{self.indicator!r}].sd", f"{where}.sd", self.sd,
                  "a positive sd for model 'normal'")
        if self.model == "lognormal" and self.cv <= 0:
            _fail(f"noise[{self.indicator!r}].cv", f"{where}.cv", self.cv,
                  "a positive cv for model 'lognormal'")


@dataclass(frozen=True)
class NoiseSettings:
    """The measurement-noise bootstrap: replicates and one model per indicator (indicators
    not listed get rounding noise only)."""

    replicates: int = 2000
    models: Mapping[str, NoiseModel] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _integer(self.replicates, "noise.replicates", "[noise].replicates", "an integer >= 2",
                 lambda v: v >= 2)
        if not isinstance(self.models, Mapping):
            _fail("noise.models", "[noise]", self.models, "a mapping indicator -> NoiseModel")
        models = {}
        for ind, m in self.models.items():
            if isinstance(m, Mapping):
                m = NoiseModel(**{**m, "indicator": ind})
            if not isinstance(m, NoiseModel):
                _fail(f"noise[{ind!r}]", f"[noise].{ind}", m,
                      "an inline table { model = ... } (a NoiseModel)")
            models[ind] = NoiseModel(m.model, m.sd, m.cv, ind)
        _set(self, "models", MappingProxyType(models))

    def model_of(self, indicator: str) -> NoiseModel:
        return self.models.get(indicator, NoiseModel())


@dataclass(frozen=True)
class RankCISettings:
    """Confidence sets for ranks (from the noise bootstrap's covariance). ``enabled`` =
    False keeps the noise bootstrap but skips the sets in :meth:`Study.run` (they cost
    O(n_boot x units^2): minutes from a few thousand units)."""

    coverage: float = 0.95
    n_boot: int = 1000
    enabled: bool = True

    def __post_init__(self) -> None:
        _flag(self.enabled, "rank_ci.enabled", "[rank_ci].enabled")
        _set(self, "coverage", _number(self.coverage, "rank_ci.coverage", "[rank_ci].coverage",
                                       "a number in (0, 1)", lambda v: 0 < v < 1))
        _integer(self.n_boot, "rank_ci.n_boot", "[rank_ci].n_boot", "an integer >= 100",
                 lambda v: v >= 100)


@dataclass(frozen=True)
class SobolSettings:
    """Sobol' indices of every rank: base sample ``n`` (a power of two), bootstrap
    resamples, node or grouped weight factors, the leave-one-out trigger and the probability
    ``leave_one_out_none`` that it drops no indicator (the rest is split equally among the
    indicators). With equal odds over "none" and each of D indicators the trigger drops one
    in D of D + 1 draws and dominates every rank's variance by construction; 0.5 says "the
    published indicator set is as likely as all the others together"."""

    n: int = 2**14
    n_boot: int = 200
    weights: str = "nodes"
    leave_one_out: bool = True
    leave_one_out_none: float = 0.5

    def __post_init__(self) -> None:
        _integer(self.n, "sobol.n", "[sobol].n", "a power of two >= 4 (Sobol' sequence)",
                 lambda v: v >= 4 and not v & (v - 1))
        _integer(self.n_boot, "sobol.n_boot", "[sobol].n_boot", "an integer >= 10",
                 lambda v: v >= 10)
        _choice(self.weights, "sobol.weights", "[sobol].weights", SOBOL_WEIGHTS)
        _flag(self.leave_one_out, "sobol.leave_one_out", "[sobol].leave_one_out")
        _set(self, "leave_one_out_none", _number(
            self.leave_one_out_none, "sobol.leave_one_out_none", "[sobol].leave_one_out_none",
            "a probability in [0, 1)", lambda v: 0 <= v < 1))

    @property
    def grouped(self) -> bool:
        return self.weights == "grouped"


@dataclass(frozen=True)
class ExtremesSettings:
    """Exact best/worst ranks; ``delta`` defaults to the weight model's."""

    delta: float | None = None

    def __post_init__(self) -> None:
        if self.delta is not None:
            _set(self, "delta", _number(self.delta, "extremes.delta", "[extremes].delta",
                                        "a number in [0, 1)", lambda v: 0 <= v < 1))


@dataclass(frozen=True)
class ImportanceSettings:
    """Weights versus importance: LOWESS bandwidth (frac)."""

    bandwidth: float = 0.5

    def __post_init__(self) -> None:
        _set(self, "bandwidth", _number(self.bandwidth, "importance.bandwidth",
                                        "[importance].bandwidth", "a LOWESS frac in (0, 1]",
                                        lambda v: 0 < v <= 1))


@dataclass(frozen=True)
class ResampleSettings:
    """Unit resampling (nonparametric bootstrap of the sample of units)."""

    replicates: int = 2000

    def __post_init__(self) -> None:
        _integer(self.replicates, "resample.replicates", "[resample].replicates",
                 "an integer >= 2", lambda v: v >= 2)


def _probabilities(value: object, argument: str, key: str, allowed: tuple[str, ...]
                   ) -> Mapping[str, float] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        _fail(argument, key, value, f"a table {{ choice = probability }} over {list(allowed)}")
    out = {}
    for k, p in value.items():  # type: ignore[union-attr]
        if k not in allowed:
            raise ModelError(argument, f"{key}.{k}", f"unknown choice {k!r}",
                             f"one of {list(allowed)}")
        out[k] = _number(p, f"{argument}[{k!r}]", f"{key}.{k}", "a probability in [0, 1]",
                         lambda v: 0 <= v <= 1)
    total = sum(out.values())
    if abs(total - 1.0) > 1e-9:
        _fail(argument, key, value, f"probabilities summing to 1 (they sum to {total:.6g})")
    return MappingProxyType({k: out[k] for k in allowed if k in out})


@dataclass(frozen=True)
class ConstructionSettings:
    """The ``construction`` lens's optional Monte Carlo: nominal weights, and each scenario
    draws a normalisation and an aggregation with the stated probabilities (default: equal
    odds over the model's choices) and, with probability ``leave_one_out``, leaves one
    indicator out (each equally likely). ``samples`` defaults to the model's."""

    samples: int | None = None
    normalisation: Mapping[str, float] | None = None
    aggregation: Mapping[str, float] | None = None
    leave_one_out: float = 0.0

    def __post_init__(self) -> None:
        if self.samples is not None:
            _integer(self.samples, "construction.samples", "[construction].samples",
                     "a positive integer", lambda v: v >= 1)
        _set(self, "normalisation", _probabilities(
            self.normalisation, "construction.normalisation", "[construction].normalisation",
            NORMALISATION_CHOICES))
        _set(self, "aggregation", _probabilities(
            self.aggregation, "construction.aggregation", "[construction].aggregation",
            AGGREGATION_CHOICES))
        _set(self, "leave_one_out", _number(
            self.leave_one_out, "construction.leave_one_out", "[construction].leave_one_out",
            "a probability in [0, 1]", lambda v: 0 <= v <= 1))


@dataclass(frozen=True)
class CombinedSettings:
    """The ``combined`` lens: the JRC-style joint Monte Carlo of the weight model with every
    normalisation and aggregation the model lists (run only when it lists an alternative).
    ``samples`` defaults to the model's."""

    samples: int | None = None

    def __post_init__(self) -> None:
        if self.samples is not None:
            _integer(self.samples, "combined.samples", "[combined].samples",
                     "a positive integer", lambda v: v >= 1)


@dataclass(frozen=True)
class UncertaintyModel:
    """The uncertain choices behind an index and the analyses to run on them.

    Defaults are the index's own construction (published normalisation, each node's own
    aggregation) with each node weight perturbed by ±25% (the JRC's customary band).
    Analyses left as ``None`` are off in :meth:`cityindex.Study.run` (each can still be
    called on its own).
    """

    weights: str = "uniform"
    delta: float = 0.25
    concentration: float = 50.0
    normalisations: tuple[str, ...] = ("published",)
    aggregations: tuple[str, ...] = ("published",)
    geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET
    samples: int = 100_000
    rank_width: int | None = None
    tier_probability: float = 0.90
    leave_one_out: bool = False
    sobol: SobolSettings | None = None
    extremes: ExtremesSettings | None = None
    importance: ImportanceSettings | None = None
    noise: NoiseSettings | None = None
    rank_ci: RankCISettings = field(default_factory=RankCISettings)
    resample: ResampleSettings | None = None
    construction: ConstructionSettings | None = None
    combined: CombinedSettings | None = field(default_factory=CombinedSettings)
    allow_large: bool = False
    imputations: tuple[str, ...] = ()
    imputation_by: str | None = None
    treatments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _choice(self.weights, "weights", "[weights].model", WEIGHT_MODELS)
        _set(self, "delta", _number(self.delta, "delta", "[weights].delta",
                                    "a number in [0, 1)", lambda v: 0 <= v < 1))
        _set(self, "concentration", _number(self.concentration, "concentration",
                                            "[weights].concentration", "a positive number",
                                            lambda v: v > 0))
        _set(self, "normalisations", _choices(self.normalisations, "normalisations",
                                              "[normalisation].choices",
                                              NORMALISATION_CHOICES))
        if self.imputations != ():
            _set(self, "imputations", _choices(self.imputations, "imputations",
                                               "[imputation].choices", IMPUTATION_CHOICES))
        if self.treatments != ():
            _set(self, "treatments", _choices(self.treatments, "treatments",
                                              "[treatment].choices", TREATMENT_CHOICES))
        if ("group_mean" in self.imputations) != (self.imputation_by is not None) or (
                self.imputation_by is not None and not (isinstance(self.imputation_by, str)
                                                        and self.imputation_by.strip())):
            _fail("imputation_by", "[imputation].by", self.imputation_by,
                  "a units.csv column exactly when the choices include 'group_mean'")
        _set(self, "aggregations", _choices(self.aggregations, "aggregations",
                                            "[aggregation].choices", AGGREGATION_CHOICES))
        _set(self, "geometric_offset", _number(self.geometric_offset, "geometric_offset",
                                               "[aggregation].geometric_offset",
                                               "a non-negative number", lambda v: v >= 0))
        _integer(self.samples, "samples", "[run].samples", "a positive integer",
                 lambda v: v >= 1)
        if self.rank_width is not None:
            _integer(self.rank_width, "rank_width", "[flags].rank_width",
                     "a positive integer (or unset: fragile when the 90% interval crosses a "
                     "tier boundary)", lambda v: v >= 1)
        _set(self, "tier_probability", _number(self.tier_probability, "tier_probability",
                                               "[flags].tier_probability", "a number in (0, 1]",
                                               lambda v: 0 < v <= 1))
        _flag(self.leave_one_out, "leave_one_out", "[leave_one_out].enabled")
        for name, kind in (("sobol", SobolSettings), ("extremes", ExtremesSettings),
                           ("importance", ImportanceSettings), ("noise", NoiseSettings),
                           ("rank_ci", RankCISettings), ("resample", ResampleSettings),
                           ("construction", ConstructionSettings),
                           ("combined", CombinedSettings)):
            value = getattr(self, name)
            if value is True:  # "on, with default settings"
                _set(self, name, kind())
            elif value is False and name != "rank_ci":
                _set(self, name, None)
            elif not (value is None and name != "rank_ci") and not isinstance(value, kind):
                _fail(name, f"[{name}]", value, f"a {kind.__name__}, True, False or None")
        _flag(self.allow_large, "allow_large", "[run].allow_large")
        if not self.allow_large:
            self._check_counts()

    def _check_counts(self) -> None:
        """Refuse counts the author cannot have meant (see ``LARGE_LIMITS``)."""
        counts = {"samples": self.samples,
                  "sobol.n": self.sobol.n if self.sobol else 0,
                  "noise.replicates": self.noise.replicates if self.noise else 0,
                  "rank_ci.n_boot": self.rank_ci.n_boot if self.runs_rank_ci else 0,
                  "resample.replicates": self.resample.replicates if self.resample else 0}
        for (argument, key), limit in LARGE_LIMITS.items():
            if counts[argument] > limit:
                _fail(argument, key, counts[argument],
                      f"at most {limit:,}, or [run] allow_large = true (allow_large=True) "
                      "to run that many")

    @property
    def extremes_delta(self) -> float | None:
        """The extremes' weight band, or None when extremes are off."""
        if self.extremes is None:
            return None
        return self.delta if self.extremes.delta is None else self.extremes.delta

    @property
    def runs_rank_ci(self) -> bool:
        """Does a full run compute the rank confidence sets (noise on, sets not disabled)?"""
        return self.noise is not None and self.rank_ci.enabled

    @property
    def has_alternatives(self) -> bool:
        """Does the model list a normalisation or aggregation besides the index's own?"""
        return (tuple(self.normalisations) != OWN_NORMALISATIONS
                or tuple(self.aggregations) != OWN_AGGREGATIONS)

    @property
    def combined_samples(self) -> int:
        c = self.combined
        return self.samples if c is None or c.samples is None else c.samples

    @property
    def construction_samples(self) -> int:
        c = self.construction
        return self.samples if c is None or c.samples is None else c.samples

    @property
    def construction_probabilities(self) -> tuple[Mapping[str, float], Mapping[str, float]]:
        """(normalisation, aggregation) probabilities of the construction Monte Carlo: the
        stated ones, else equal odds over the model's choices."""
        c = self.construction or ConstructionSettings()
        norm = c.normalisation or {m: 1 / len(self.normalisations) for m in self.normalisations}
        agg = c.aggregation or {a: 1 / len(self.aggregations) for a in self.aggregations}
        return MappingProxyType(dict(norm)), MappingProxyType(dict(agg))

    def replace(self, **changes) -> UncertaintyModel:
        """A copy with some fields changed (validated like a new model)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = sorted(set(changes) - set(values))
        if unknown:
            _fail(unknown[0], unknown[0], unknown[0], f"one of {sorted(values)}")
        return UncertaintyModel(**{**values, **changes})

    def to_dict(self) -> dict:
        """The model as run-file sections (JSON-ready), as summary.json records it."""
        return {
            "weights": {"model": self.weights, "delta": self.delta,
                        "concentration": self.concentration},
            "normalisation": {"choices": list(self.normalisations)},
            "aggregation": {"choices": list(self.aggregations),
                            "geometric_offset": self.geometric_offset},
            "flags": {"rank_width": self.rank_width, "tier_probability": self.tier_probability},
            "leave_one_out": {"enabled": self.leave_one_out},
            **({"imputation": {"choices": list(self.imputations), "by": self.imputation_by}}
               if self.imputations else {}),
            **({"treatment": {"choices": list(self.treatments)}} if self.treatments else {}),
            "sobol": ({"enabled": True, "n": self.sobol.n, "n_boot": self.sobol.n_boot,
                       "weights": self.sobol.weights,
                       "leave_one_out": self.sobol.leave_one_out,
                       "leave_one_out_none": self.sobol.leave_one_out_none}
                      if self.sobol else {"enabled": False}),
            "extremes": ({"enabled": True, "delta": self.extremes_delta}
                         if self.extremes else {"enabled": False}),
            "importance": ({"enabled": True, "bandwidth": self.importance.bandwidth}
                           if self.importance else {"enabled": False}),
            "noise": ({"replicates": self.noise.replicates,
                       "models": {k: {"model": m.model, "sd": m.sd, "cv": m.cv}
                                  for k, m in self.noise.models.items()}}
                      if self.noise else {"enabled": False}),
            "rank_ci": ({"coverage": self.rank_ci.coverage, "n_boot": self.rank_ci.n_boot}
                        if self.runs_rank_ci else {"enabled": False}),
            "resample": ({"enabled": True, "replicates": self.resample.replicates}
                         if self.resample else {"enabled": False}),
            "construction": (
                {"montecarlo": True, "samples": self.construction_samples,
                 "normalisation": dict(self.construction_probabilities[0]),
                 "aggregation": dict(self.construction_probabilities[1]),
                 "leave_one_out": self.construction.leave_one_out}
                if self.construction else {"montecarlo": False}),
            "combined": ({"enabled": True, "samples": self.combined_samples,
                          "runs": self.has_alternatives}
                         if self.combined else {"enabled": False}),
        }
