"""Run files (``analyses/*.toml``): the complete, reviewable record of an audit, read into a
:class:`RunFile` — provenance (path, SHA-256), the data folder, the seed, and the validated
:class:`cityindex.UncertaintyModel`.

Schema (a contract: extend, don't change)::

    [run]            data (relative to the run file's folder, or absolute), seed, samples,
                     allow_large (accept counts beyond model.LARGE_LIMITS, e.g. > 10^9 samples),
                     backend = "local" | "dask" (where the Monte Carlo runs; same outputs),
                     scheduler (dask: a scheduler address, e.g. "tcp://10.0.0.5:8786")
    [weights]        model = uniform | dirichlet | simplex | fixed; delta; concentration
    [normalisation]  choices = [published | minmax | zscore | rank, ...]
    [aggregation]    choices = [arithmetic | geometric, ...]; geometric_offset
    [flags]          rank_width (optional; unset: a rank is fragile when its 90% interval
                     crosses a tier boundary), tier_probability
    [leave_one_out]  enabled
    [imputation]     choices = [none | mean | median | group_mean | zero, ...] (named
                     alternatives: that rule for every missing value), by (group_mean's
                     units.csv column)
    [treatment]      choices = [none | winsorise, ...] (named alternatives: that outlier
                     treatment of every raw indicator before its normalisation; raw.csv only)
    [sobol]          enabled, n (power of two), n_boot, weights = "nodes" | "grouped",
                     leave_one_out (include the leave-one-out trigger factor),
                     leave_one_out_none (probability that the trigger drops nothing)
    [extremes]       enabled, delta (default: [weights].delta)
    [importance]     enabled, bandwidth (LOWESS frac)
    [noise]          replicates; <indicator> = { model = none|rounding|grid|normal|lognormal,
                     sd, cv }
    [resample]       enabled, replicates
    [rank_ci]        enabled (default true), coverage, n_boot (confidence sets from the
                     [noise] covariance)
    [construction]   montecarlo (the construction lens's Monte Carlo), samples,
                     normalisation = { choice = probability, ... }, aggregation = { ... },
                     leave_one_out (probability of leaving one indicator out)
    [combined]       enabled (default true: runs when [normalisation]/[aggregation] list an
                     alternative), samples

Unknown sections and keys are errors naming the closest known one. Values are checked by the
model itself (:mod:`cityindex.model`), so a run file and Python give the same message.
"""

from __future__ import annotations

import difflib
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from cityindex.errors import ModelError, RunFileError
from cityindex.model import (
    CombinedSettings,
    ConstructionSettings,
    ExtremesSettings,
    ImportanceSettings,
    NoiseModel,
    NoiseSettings,
    RankCISettings,
    ResampleSettings,
    SobolSettings,
    UncertaintyModel,
)
from cityindex.sensitivity.backends import BACKENDS, Backend

SECTIONS: dict[str, tuple[str, ...]] = {
    "run": ("data", "seed", "samples", "allow_large", "backend", "scheduler"),
    "weights": ("model", "delta", "concentration"),
    "normalisation": ("choices",),
    "aggregation": ("choices", "geometric_offset"),
    "flags": ("rank_width", "tier_probability"),
    "leave_one_out": ("enabled",),
    "imputation": ("choices", "by"),
    "treatment": ("choices",),
    "sobol": ("enabled", "n", "n_boot", "weights", "leave_one_out", "leave_one_out_none"),
    "extremes": ("enabled", "delta"),
    "importance": ("enabled", "bandwidth"),
    "noise": ("replicates",),           # plus one key per indicator, checked against the spec
    "resample": ("enabled", "replicates"),
    "rank_ci": ("enabled", "coverage", "n_boot"),
    "construction": ("montecarlo", "samples", "normalisation", "aggregation", "leave_one_out"),
    "combined": ("enabled", "samples"),
}
NOISE_KEYS = ("model", "sd", "cv")


@dataclass(frozen=True)
class RunFile:
    """A parsed run file: where it came from, and the Study it describes."""

    path: Path
    sha256: str
    data: Path
    seed: int
    model: UncertaintyModel
    backend: Backend = field(default_factory=Backend)


def closest(word: str, known) -> str:
    """' (did you mean 'x'?)' for the closest known word, else ''."""
    match = difflib.get_close_matches(word, list(known), n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _table(raw: dict, section: str, name: str) -> dict:
    value = raw.get(section, {})
    if not isinstance(value, dict):
        raise RunFileError(f"{name} {section}", f"found {value!r}", f"a [{section}] table")
    known = SECTIONS[section]
    for key in value:
        if key not in known and section != "noise":
            raise RunFileError(f"{name} [{section}].{key}", f"unknown key{closest(key, known)}",
                               f"keys among {list(known)}")
    return value


def _enabled(table: dict, section: str, name: str) -> bool:
    on = table.get("enabled", False)
    if not isinstance(on, bool):
        raise RunFileError(f"{name} [{section}].enabled", f"found {on!r}", "true or false")
    if not on:
        extra = sorted(set(table) - {"enabled"})
        if extra and "enabled" not in table:
            raise RunFileError(f"{name} [{section}]", f"settings {extra} without enabled = true",
                               "enabled = true to run this analysis (or remove the section)")
    return on


def read_toml(path: Path, what: str) -> tuple[dict, bytes]:
    """A TOML file's table and bytes; a UTF-8 byte-order mark is accepted."""
    name = str(path)
    if path.is_dir():
        raise RunFileError(name, "a directory", f"{what} (a TOML file)")
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise RunFileError(name, "file not found", what) from None
    except OSError as exc:
        raise RunFileError(name, f"unreadable ({exc.strerror})", f"a readable {what}") from None
    try:
        text = raw_bytes.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RunFileError(name, "not UTF-8", "a UTF-8 TOML file") from None
    try:
        return tomllib.loads(text), raw_bytes
    except tomllib.TOMLDecodeError as exc:
        raise RunFileError(name, f"invalid TOML ({exc})", "valid TOML") from None


def load_runfile(path: str | Path) -> RunFile:
    """Read and validate a run file. ``data`` is resolved against the run file's folder."""
    path = Path(path)
    name = str(path)
    raw, raw_bytes = read_toml(path, "a run file (analyses/*.toml)")
    for section in raw:
        if section not in SECTIONS:
            raise RunFileError(name, f"unknown section [{section}]{closest(section, SECTIONS)}",
                               f"sections among {sorted(SECTIONS)}")
    if "run" not in raw:
        raise RunFileError(name, "no [run] section", "[run] with data, seed and samples")
    run = _table(raw, "run", name)
    for key, expected in (("data", "a data folder path"), ("seed", "a non-negative integer"),
                          ("samples", "a positive number of scenarios")):
        if key not in run:
            raise RunFileError(f"{name} [run]", f"missing key '{key}'", expected)
    data, seed = run["data"], run["seed"]
    if not isinstance(data, str) or not data:
        raise RunFileError(f"{name} [run].data", f"found {data!r}", "a data folder path")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise RunFileError(f"{name} [run].seed", f"found {seed!r}", "a non-negative integer")
    try:
        model = _model(raw, run, name)
    except ModelError as exc:
        raise RunFileError(f"{name} {exc.key}", exc.found, exc.expected) from None
    base = path.resolve().parent
    data_path = Path(data) if Path(data).is_absolute() else base / data
    if not data_path.is_dir():
        raise RunFileError(f"{name} [run].data",
                           f"'{data}' resolves to {data_path}, which is not a directory",
                           "a data folder, relative to the run file's folder "
                           f"({base}) or absolute")
    return RunFile(path=path, sha256=hashlib.sha256(raw_bytes).hexdigest(), data=data_path,
                   seed=seed, model=model, backend=_backend(run, name))


def _backend(run: dict, name: str) -> Backend:
    kind, scheduler = run.get("backend", "local"), run.get("scheduler")
    if kind not in BACKENDS:
        raise RunFileError(f"{name} [run].backend", f"found {kind!r}", f"one of {list(BACKENDS)}")
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        raise RunFileError(f"{name} [run].scheduler", f"found {scheduler!r}",
                           "a Dask scheduler address such as \"tcp://10.0.0.5:8786\"")
    if scheduler is not None and kind != "dask":
        raise RunFileError(f"{name} [run].scheduler", "a scheduler without backend = \"dask\"",
                           "backend = \"dask\" beside it (or no scheduler)")
    return Backend(kind, scheduler)


def _model(raw: dict, run: dict, name: str) -> UncertaintyModel:
    w = _table(raw, "weights", name)
    norm = _table(raw, "normalisation", name)
    agg = _table(raw, "aggregation", name)
    flags = _table(raw, "flags", name)
    kw: dict = {"samples": run["samples"]}
    if "allow_large" in run:
        kw["allow_large"] = run["allow_large"]
    for key, arg, table in (("model", "weights", w), ("delta", "delta", w),
                            ("concentration", "concentration", w),
                            ("choices", "normalisations", norm),
                            ("choices", "aggregations", agg),
                            ("geometric_offset", "geometric_offset", agg),
                            ("rank_width", "rank_width", flags),
                            ("tier_probability", "tier_probability", flags)):
        if key in table:
            kw[arg] = table[key]
    imp_alt = _table(raw, "imputation", name)
    if "choices" in imp_alt:
        kw["imputations"] = imp_alt["choices"]
    if "by" in imp_alt:
        kw["imputation_by"] = imp_alt["by"]
    treat_alt = _table(raw, "treatment", name)
    if "choices" in treat_alt:
        kw["treatments"] = treat_alt["choices"]
    loo = _table(raw, "leave_one_out", name)
    kw["leave_one_out"] = _enabled(loo, "leave_one_out", name)
    sob = _table(raw, "sobol", name)
    if _enabled(sob, "sobol", name):
        kw["sobol"] = SobolSettings(**{k: v for k, v in sob.items() if k != "enabled"})
    ext = _table(raw, "extremes", name)
    if _enabled(ext, "extremes", name):
        kw["extremes"] = ExtremesSettings(ext.get("delta"))
    imp = _table(raw, "importance", name)
    if _enabled(imp, "importance", name):
        kw["importance"] = ImportanceSettings(**{k: v for k, v in imp.items() if k != "enabled"})
    res = _table(raw, "resample", name)
    if _enabled(res, "resample", name):
        kw["resample"] = ResampleSettings(**{k: v for k, v in res.items() if k != "enabled"})
    con = _table(raw, "construction", name)
    on = con.get("montecarlo", False)
    if not isinstance(on, bool):
        raise RunFileError(f"{name} [construction].montecarlo", f"found {on!r}", "true or false")
    extra = sorted(set(con) - {"montecarlo"})
    if extra and not on:
        raise RunFileError(f"{name} [construction]", f"settings {extra} without montecarlo = true",
                           "montecarlo = true to run the construction Monte Carlo (the named "
                           "alternatives always run)")
    if on:
        kw["construction"] = ConstructionSettings(**{k: v for k, v in con.items()
                                                     if k != "montecarlo"})
    comb = _table(raw, "combined", name)
    enabled = comb.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RunFileError(f"{name} [combined].enabled", f"found {enabled!r}", "true or false")
    kw["combined"] = (CombinedSettings(**{k: v for k, v in comb.items() if k != "enabled"})
                      if enabled else None)
    ci = _table(raw, "rank_ci", name)
    if "noise" in raw:
        kw["noise"] = _noise(_table(raw, "noise", name), name)
        kw["rank_ci"] = RankCISettings(**ci)
    elif ci:
        raise RunFileError(f"{name} [rank_ci]", "rank confidence sets without a [noise] section",
                           "a [noise] section (the sets use its covariance)")
    return UncertaintyModel(**kw)


def _noise(table: dict, name: str) -> NoiseSettings:
    models = {}
    for key, value in table.items():
        if key == "replicates":
            continue
        where = f"{name} [noise].{key}"
        if not isinstance(value, dict):
            raise RunFileError(where, f"found {value!r}", "an inline table { model = ... }")
        for k in value:
            if k not in NOISE_KEYS:
                raise RunFileError(f"{where}.{k}", f"unknown key{closest(k, NOISE_KEYS)}",
                                   f"keys among {list(NOISE_KEYS)}")
        if "model" not in value:
            raise RunFileError(where, "missing key 'model'",
                               "one of ['none', 'rounding', 'grid', 'normal', 'lognormal']")
        models[key] = NoiseModel(value["model"], value.get("sd", 0.0), value.get("cv", 0.0),
                                 key)
    return NoiseSettings(table.get("replicates", 2000), models)
