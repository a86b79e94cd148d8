"""Run files (``analyses/*.toml``): the complete, reviewable record of an audit.

Schema (a contract: extend, don't change)::

    [run]            data, seed, samples
    [weights]        model = uniform | dirichlet | simplex | fixed; delta; concentration
    [normalisation]  choices = [published | minmax | zscore | rank, ...]
    [aggregation]    choices = [arithmetic | geometric, ...]; geometric_offset
    [flags]          rank_width, tier_probability
    [leave_one_out]  enabled
    [sobol]          enabled, n (power of two), n_boot, weights = "nodes" | "grouped",
                     leave_one_out (include the leave-one-out trigger factor)
    [extremes]       enabled, delta (default: [weights].delta)
    [importance]     enabled, bandwidth (LOWESS frac)
    [noise]          replicates; <indicator> = { model = none|rounding|grid|normal|lognormal,
                     sd, cv }
    [resample]       enabled, replicates
    [rank_ci]        coverage, n_boot (confidence sets from the [noise] covariance)
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cityindex.errors import RunFileError
from cityindex.score import AGGREGATION_CHOICES, DEFAULT_GEOMETRIC_OFFSET, NORMALISATION_CHOICES

WEIGHT_MODELS = ("uniform", "dirichlet", "simplex", "fixed")
KNOWN_SECTIONS = {"run", "weights", "normalisation", "aggregation", "flags", "leave_one_out",
                  "sobol", "extremes", "importance", "noise", "resample", "rank_ci"}
NOISE_MODELS = ("none", "rounding", "grid", "normal", "lognormal")


@dataclass(frozen=True)
class NoiseConfig:
    replicates: int
    models: dict  # indicator -> cityindex.sensitivity.noise.NoiseModel
    coverage: float = 0.95
    n_boot: int = 1000


@dataclass(frozen=True)
class SobolConfig:
    n: int = 2**14
    n_boot: int = 200
    grouped: bool = False
    leave_one_out: bool = True


@dataclass(frozen=True)
class WeightsConfig:
    model: str = "uniform"
    delta: float = 0.25
    concentration: float = 50.0


@dataclass(frozen=True)
class RunConfig:
    path: Path
    sha256: str
    data: Path
    seed: int
    samples: int
    weights: WeightsConfig = field(default_factory=WeightsConfig)
    normalisations: tuple[str, ...] = ("published",)
    aggregations: tuple[str, ...] = ("arithmetic",)
    geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET
    rank_width: int = 10
    tier_probability: float = 0.90
    leave_one_out: bool = False
    sobol: SobolConfig | None = None
    extremes_delta: float | None = None     # None: extremes disabled
    importance_bandwidth: float | None = None  # None: importance disabled
    noise: NoiseConfig | None = None
    resample_replicates: int | None = None

    def to_dict(self) -> dict:
        return {
            "run_file": self.path.name, "run_file_sha256": self.sha256,
            "data": self.data.name, "seed": self.seed, "samples": self.samples,
            "weights": {"model": self.weights.model, "delta": self.weights.delta,
                        "concentration": self.weights.concentration},
            "normalisation": {"choices": list(self.normalisations)},
            "aggregation": {"choices": list(self.aggregations),
                            "geometric_offset": self.geometric_offset},
            "flags": {"rank_width": self.rank_width, "tier_probability": self.tier_probability},
            "leave_one_out": {"enabled": self.leave_one_out},
            "sobol": ({"enabled": True, "n": self.sobol.n, "n_boot": self.sobol.n_boot,
                       "weights": "grouped" if self.sobol.grouped else "nodes",
                       "leave_one_out": self.sobol.leave_one_out}
                      if self.sobol else {"enabled": False}),
            "extremes": ({"enabled": True, "delta": self.extremes_delta}
                         if self.extremes_delta is not None else {"enabled": False}),
            "importance": ({"enabled": True, "bandwidth": self.importance_bandwidth}
                           if self.importance_bandwidth is not None else {"enabled": False}),
            "noise": ({"replicates": self.noise.replicates,
                       "models": {k: {"model": m.model, "sd": m.sd, "cv": m.cv}
                                  for k, m in self.noise.models.items()}}
                      if self.noise else {"enabled": False}),
            "rank_ci": ({"coverage": self.noise.coverage, "n_boot": self.noise.n_boot}
                        if self.noise else {"enabled": False}),
            "resample": ({"enabled": True, "replicates": self.resample_replicates}
                         if self.resample_replicates else {"enabled": False}),
        }


def _get(table: dict, key: str, where: str, kind, expected: str, default=None, required=False):
    if key not in table:
        if required:
            raise RunFileError(where, f"missing key '{key}'", expected)
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise RunFileError(f"{where}.{key}", f"found {value!r}", expected)
    if not isinstance(value, kinds):
        raise RunFileError(f"{where}.{key}", f"found {value!r}", expected)
    return value


def _choices(table: dict, where: str, allowed: tuple[str, ...], default: tuple[str, ...]
             ) -> tuple[str, ...]:
    choices = _get(table, "choices", where, list, f"a list from {list(allowed)}", list(default))
    if not choices:
        raise RunFileError(f"{where}.choices", "an empty list", f"one or more of {list(allowed)}")
    for c in choices:
        if c not in allowed:
            raise RunFileError(f"{where}.choices", f"unknown choice {c!r}",
                               f"one of {list(allowed)}")
    if len(set(choices)) != len(choices):
        raise RunFileError(f"{where}.choices", f"repeated choices {choices}", "each choice once")
    return tuple(choices)


def load_runfile(path: str | Path, root: Path | None = None) -> RunConfig:
    """Read and validate a run file. ``data`` is resolved against ``root`` (default: the run
    file's parent's parent, i.e. the project root for ``analyses/*.toml``)."""
    path = Path(path)
    name = str(path)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(name, "file not found", "a run file (analyses/*.toml)") from None
    try:
        raw = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise RunFileError(name, "not UTF-8", "a UTF-8 TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunFileError(name, f"invalid TOML ({exc})", "valid TOML") from None
    unknown = sorted(set(raw) - KNOWN_SECTIONS)
    if unknown:
        raise RunFileError(name, f"unknown section [{unknown[0]}]",
                           f"sections among {sorted(KNOWN_SECTIONS)}")
    run = raw.get("run")
    if not isinstance(run, dict):
        raise RunFileError(name, "no [run] section", "[run] with data, seed and samples")
    where = f"{name} [run]"
    data = _get(run, "data", where, str, "a data folder path", required=True)
    seed = _get(run, "seed", where, int, "a non-negative integer seed", required=True)
    samples = _get(run, "samples", where, int, "a positive number of scenarios", required=True)
    if seed < 0:
        raise RunFileError(f"{where}.seed", f"found {seed}", "a non-negative integer")
    if samples < 1:
        raise RunFileError(f"{where}.samples", f"found {samples}", "a positive integer")
    base = root if root is not None else path.resolve().parent.parent
    data_path = (base / data) if not Path(data).is_absolute() else Path(data)

    w = raw.get("weights", {})
    wwhere = f"{name} [weights]"
    model = _get(w, "model", wwhere, str, f"one of {list(WEIGHT_MODELS)}", "uniform")
    if model not in WEIGHT_MODELS:
        raise RunFileError(f"{wwhere}.model", f"found {model!r}", f"one of {list(WEIGHT_MODELS)}")
    delta = float(_get(w, "delta", wwhere, (int, float), "a number in [0, 1)", 0.25))
    if not 0 <= delta < 1:
        raise RunFileError(f"{wwhere}.delta", f"found {delta}", "a number in [0, 1)")
    conc = float(_get(w, "concentration", wwhere, (int, float), "a positive number", 50.0))
    if conc <= 0:
        raise RunFileError(f"{wwhere}.concentration", f"found {conc}", "a positive number")

    norm = raw.get("normalisation", {})
    agg = raw.get("aggregation", {})
    normalisations = _choices(norm, f"{name} [normalisation]", NORMALISATION_CHOICES,
                              ("published",))
    aggregations = _choices(agg, f"{name} [aggregation]", AGGREGATION_CHOICES,
                            ("arithmetic",))
    offset = float(_get(agg, "geometric_offset", f"{name} [aggregation]", (int, float),
                        "a non-negative number", DEFAULT_GEOMETRIC_OFFSET))
    if offset < 0:
        raise RunFileError(f"{name} [aggregation].geometric_offset", f"found {offset}",
                           "a non-negative number")
    flags = raw.get("flags", {})
    fwhere = f"{name} [flags]"
    width = _get(flags, "rank_width", fwhere, int, "a positive integer", 10)
    tierp = float(_get(flags, "tier_probability", fwhere, (int, float), "a probability", 0.9))
    if width < 1:
        raise RunFileError(f"{fwhere}.rank_width", f"found {width}", "a positive integer")
    if not 0 < tierp <= 1:
        raise RunFileError(f"{fwhere}.tier_probability", f"found {tierp}", "a number in (0, 1]")
    loo = raw.get("leave_one_out", {})
    loo_on = _get(loo, "enabled", f"{name} [leave_one_out]", bool, "true or false", False)
    sobol = _sobol(raw.get("sobol", {}), f"{name} [sobol]")
    ext = raw.get("extremes", {})
    ewhere = f"{name} [extremes]"
    extremes_delta = None
    if _get(ext, "enabled", ewhere, bool, "true or false", False):
        extremes_delta = float(_get(ext, "delta", ewhere, (int, float), "a number in [0, 1)",
                                    delta))
        if not 0 <= extremes_delta < 1:
            raise RunFileError(f"{ewhere}.delta", f"found {extremes_delta}", "a number in [0, 1)")
    imp = raw.get("importance", {})
    iwhere = f"{name} [importance]"
    bandwidth = None
    if _get(imp, "enabled", iwhere, bool, "true or false", False):
        bandwidth = float(_get(imp, "bandwidth", iwhere, (int, float), "a LOWESS frac in (0, 1]",
                               0.5))
        if not 0 < bandwidth <= 1:
            raise RunFileError(f"{iwhere}.bandwidth", f"found {bandwidth}", "a number in (0, 1]")
    return RunConfig(
        path=path, sha256=hashlib.sha256(raw_bytes).hexdigest(), data=data_path, seed=seed,
        samples=samples, weights=WeightsConfig(model, delta, conc),
        normalisations=normalisations, aggregations=aggregations, geometric_offset=offset,
        rank_width=width, tier_probability=tierp, leave_one_out=loo_on, sobol=sobol,
        extremes_delta=extremes_delta, importance_bandwidth=bandwidth,
        noise=_noise(raw.get("noise"), raw.get("rank_ci", {}), name),
        resample_replicates=_resample(raw.get("resample", {}), f"{name} [resample]"))


def _noise(table: dict | None, ci: dict, name: str) -> NoiseConfig | None:
    from cityindex.sensitivity.noise import NoiseModel

    if table is None:
        return None
    where = f"{name} [noise]"
    reps = _get(table, "replicates", where, int, "a positive integer", 2000)
    if reps < 2:
        raise RunFileError(f"{where}.replicates", f"found {reps}", "an integer >= 2")
    models = {}
    for key, value in table.items():
        if key == "replicates":
            continue
        kw = f"{where}.{key}"
        if not isinstance(value, dict):
            raise RunFileError(kw, f"found {value!r}", "an inline table { model = ... }")
        model = _get(value, "model", kw, str, f"one of {list(NOISE_MODELS)}", required=True)
        if model not in NOISE_MODELS:
            raise RunFileError(f"{kw}.model", f"found {model!r}", f"one of {list(NOISE_MODELS)}")
        sd = float(_get(value, "sd", kw, (int, float), "a positive sd in score points", 0.0))
        cv = float(_get(value, "cv", kw, (int, float), "a positive coefficient of variation",
                        0.0))
        if model == "normal" and sd <= 0:
            raise RunFileError(f"{kw}.sd", f"found {sd}", "a positive sd for model 'normal'")
        if model == "lognormal" and cv <= 0:
            raise RunFileError(f"{kw}.cv", f"found {cv}", "a positive cv for model 'lognormal'")
        models[key] = NoiseModel(model, sd, cv)
    cwhere = f"{name} [rank_ci]"
    coverage = float(_get(ci, "coverage", cwhere, (int, float), "a number in (0, 1)", 0.95))
    if not 0 < coverage < 1:
        raise RunFileError(f"{cwhere}.coverage", f"found {coverage}", "a number in (0, 1)")
    n_boot = _get(ci, "n_boot", cwhere, int, "an integer >= 100", 1000)
    if n_boot < 100:
        raise RunFileError(f"{cwhere}.n_boot", f"found {n_boot}", "an integer >= 100")
    return NoiseConfig(reps, models, coverage, n_boot)


def _resample(table: dict, where: str) -> int | None:
    if not _get(table, "enabled", where, bool, "true or false", False):
        return None
    reps = _get(table, "replicates", where, int, "a positive integer", 2000)
    if reps < 2:
        raise RunFileError(f"{where}.replicates", f"found {reps}", "an integer >= 2")
    return reps


def _sobol(table: dict, where: str) -> SobolConfig | None:
    if not _get(table, "enabled", where, bool, "true or false", False):
        return None
    n = _get(table, "n", where, int, "a power of two, e.g. 16384", 2**14)
    if n < 4 or n & (n - 1):
        raise RunFileError(f"{where}.n", f"found {n}", "a power of two >= 4 (Sobol' sequence)")
    n_boot = _get(table, "n_boot", where, int, "an integer >= 10", 200)
    if n_boot < 10:
        raise RunFileError(f"{where}.n_boot", f"found {n_boot}", "an integer >= 10")
    weights = _get(table, "weights", where, str, "'nodes' or 'grouped'", "nodes")
    if weights not in ("nodes", "grouped"):
        raise RunFileError(f"{where}.weights", f"found {weights!r}", "'nodes' or 'grouped'")
    loo = _get(table, "leave_one_out", where, bool, "true or false", True)
    return SobolConfig(n, n_boot, weights == "grouped", loo)
