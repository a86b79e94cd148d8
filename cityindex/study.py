"""A :class:`Study` is a dataset, an uncertainty model and a seed; it runs the analyses and
collects their results. A run file is just a serialised Study (:meth:`Study.from_runfile`).

Nothing here touches the disk except :meth:`AuditResult.write`, which hands the results to
:mod:`cityindex.app.output`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cityindex.audit import ReproductionResult, audit
from cityindex.data import Dataset
from cityindex.errors import ModelError, RunFileError
from cityindex.model import (
    ExtremesSettings,
    ImportanceSettings,
    NoiseSettings,
    RankCISettings,
    ResampleSettings,
    SobolSettings,
    UncertaintyModel,
    check_count,
)
from cityindex.result import Result
from cityindex.sensitivity.backends import Backend
from cityindex.sensitivity.confidence import RankCIResult
from cityindex.sensitivity.extremes import ExtremesResult
from cityindex.sensitivity.importance import ImportanceResult, check_bandwidth
from cityindex.sensitivity.index_sobol import SobolResult
from cityindex.sensitivity.leave_one_out import LeaveOneOutResult
from cityindex.sensitivity.lens import LENSES, stack
from cityindex.sensitivity.montecarlo import MonteCarloResult, method_notes, run_montecarlo
from cityindex.sensitivity.noise import NoiseResult, ResampleResult, check_noise_models
from cityindex.sensitivity.scenarios import ScenariosResult
from cityindex.verdict import (
    NOT_RANKED,
    fragile_table,
    headlines,
    verdict_counts,
    verdict_table,
    with_not_ranked,
)

Progress = Callable[[str, int, int], None]

# Output order of a full run (file stems); the manifest lists them sorted.
TABLE_ORDER = ("reproduction", "indicator_profile", "ranks", "acceptability", "groups",
               "leave_one_out", "sobol", "sobol_convergence", "extremes", "dominance",
               "dominance_summary", "importance", "coherence", "noise", "rank_ci", "resample",
               "scenarios", "verdicts", "fragile")
MONTECARLO_LENSES = ("weights", "construction", "combined")
# Progress labels of the stages that report no count of their own (start and end only).
STAGE_LABELS = {"reproduction": "Reproduction audit", "leave_one_out": "Leave one out",
                "sobol": "Sobol' indices",
                "extremes": "Best/worst ranks (ERA: exact by MILP where linear, else bounds)",
                "importance": "Importance and coherence", "rank_ci": "Rank confidence sets",
                "resample": "Unit resampling", "scenarios": "Alternative constructions"}


class Study:
    """An audit of one dataset under one uncertainty model and seed.

    Each method runs one analysis and returns its result object (``.tables()``,
    ``.summary()``, ``.chart()``); :meth:`run` runs every analysis the model enables.
    Arguments given to a method override the model's settings for that call.

    Parameters
    ----------
    dataset : a :class:`cityindex.Dataset` (see :func:`cityindex.load_dataset`).
    model : an :class:`UncertaintyModel` (default: ±25% uniform weights at the index's own
        construction).
    seed : a non-negative integer; every random number derives from it (0 is a seed too).
    progress : optional callback ``progress(stage, done, total)``.
    backend : where the Monte Carlo runs: ``"local"`` (threads, the default), ``"dask"`` or a
        :class:`cityindex.sensitivity.backends.Backend` with a scheduler address; the
        outputs are the same bytes either way.
    """

    def __init__(self, dataset: Dataset, model: UncertaintyModel | None = None, seed: int = 0,
                 *, progress: Progress | None = None, workers: int = 2,
                 chunk_blocks: int | None = None, provenance: dict | None = None,
                 backend: Backend | str | None = None) -> None:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"dataset must be a cityindex Dataset (load_dataset); got "
                            f"{type(dataset).__name__}")
        model = UncertaintyModel() if model is None else model
        if not isinstance(model, UncertaintyModel):
            raise TypeError(f"model must be an UncertaintyModel; got {type(model).__name__}")
        if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer; got {workers!r}")
        if chunk_blocks is not None and (not isinstance(chunk_blocks, int) or chunk_blocks < 1):
            raise ValueError(f"chunk_blocks must be a positive integer; got {chunk_blocks!r}")
        if model.noise is not None:  # run-file keys that name parts of the index
            check_noise_models(dataset, model.noise.models)
        if model.importance is not None:  # a bandwidth too narrow for this dataset
            check_bandwidth(dataset, model.importance.bandwidth)
        self.dataset, self.model, self.seed = dataset, model, int(seed)
        self.progress, self.workers, self.chunk_blocks = progress, workers, chunk_blocks
        self.provenance = dict(provenance or {})
        self.backend = Backend.of(backend)  # where the Monte Carlo runs: same bytes either way
        self.backend.check()  # dask not installed: say so now, before any analysis runs

    @classmethod
    def from_runfile(cls, path: str | Path, **kwargs) -> Study:
        """The Study a run file describes (its ``data`` is relative to the run file)."""
        from cityindex.app.runfile import load_runfile
        from cityindex.data import load_dataset

        rf = load_runfile(path)
        dataset = load_dataset(rf.data)
        kwargs.setdefault("backend", rf.backend)
        try:
            return cls(dataset, rf.model, rf.seed,
                       provenance={"run_file": rf.path.name, "run_file_sha256": rf.sha256,
                                   "run_file_path": str(rf.path)}, **kwargs)
        except ModelError as exc:  # a key that names a part of this index
            raise RunFileError(f"{rf.path} {exc.key}", exc.found, exc.expected) from None

    def __repr__(self) -> str:
        """One line: the dataset, the seed, the weight model and the analyses a run enables
        (``study.model`` has every setting)."""
        m = self.model
        on = [name for name in ("extremes", "leave_one_out", "construction", "noise",
                                "resample", "sobol", "importance") if getattr(m, name)]
        weights = m.weights + (f" ±{m.delta:.0%}" if m.weights == "uniform" else "")
        return (f"Study({self.dataset!r}, seed={self.seed}, weights={weights!r}, "
                f"samples={m.samples:,}, analyses={on}"
                + (f", backend={self.backend.kind!r}" if self.backend.kind != "local" else "")
                + ")")

    def _count(self, value: object, method: str, argument: str, key: str,
               minimum: int = 1, limit: tuple[str, str] | None = None) -> int:
        """A count given to one method: the same rules as the model's (an integer, at least
        ``minimum``, the large-count guard unless the model allows large counts)."""
        return check_count(value, argument, key, self.model.allow_large, minimum,
                           owner=f"Study.{method}", limit=limit)

    def _progress(self, stage: str) -> Callable[[int, int], None] | None:
        if self.progress is None:
            return None
        return lambda done, total: self.progress(stage, done, total)  # type: ignore[misc]

    # -- one method per analysis ---------------------------------------------------------

    def reproduce(self) -> ReproductionResult:
        """Do the published numbers follow from the published method?"""
        return audit(self.dataset)

    def montecarlo(self, samples: int | None = None, lens: str = "weights"
                   ) -> MonteCarloResult:
        """Monte Carlo of one lens: ``"weights"`` (the model's weights at the index's own
        normalisation and aggregation — the headline), ``"construction"`` (nominal weights,
        alternatives drawn with the model's construction probabilities) or ``"combined"``
        (weights x every normalisation and aggregation the model lists, as JRC audits do)."""
        if lens not in MONTECARLO_LENSES:
            raise ValueError(f"lens must be one of {list(MONTECARLO_LENSES)}; got {lens!r}")
        if samples is not None:  # the model's rules: a positive integer, the large-count guard
            samples = self._count(samples, "montecarlo", "samples", "[run].samples")
        return run_montecarlo(self.dataset, self.model, self.seed, samples=samples,
                              chunk_blocks=self.chunk_blocks, workers=self.workers,
                              progress=self._progress(f"Monte Carlo ({lens})"), lens=lens,
                              backend=self.backend)

    def leave_one_out(self) -> LeaveOneOutResult:
        """Each indicator left out in turn, nominal weights."""
        return LeaveOneOutResult(self.dataset)

    def scenarios(self) -> ScenariosResult:
        """Named alternative constructions side by side."""
        return ScenariosResult(self.dataset, self.model.geometric_offset, self.model)

    def sobol(self, n: int | None = None, n_boot: int | None = None) -> SobolResult:
        """Sobol' indices of every rank (factors: node weights, normalisation and
        aggregation triggers, leave-one-out, measurement noise when the model has it)."""
        base = self.model.sobol or SobolSettings()
        if n is not None:
            self._count(n, "sobol", "n", "[sobol].n", 4, ("sobol.n", "[sobol].n"))
        settings = SobolSettings(n if n is not None else base.n,
                                 n_boot if n_boot is not None else base.n_boot,
                                 base.weights, base.leave_one_out, base.leave_one_out_none)
        return SobolResult(self.dataset, self.model, settings, self.seed,
                           progress=self._progress(STAGE_LABELS["sobol"]))

    def extremes(self, delta: float | None = None) -> ExtremesResult:
        """Exact best/worst ranks over every admissible weighting (no sampling)."""
        if delta is None:
            delta = self.model.extremes_delta
        if delta is None:
            delta = self.model.delta
        settings = ExtremesSettings(delta)
        return ExtremesResult(self.dataset, settings.delta, self.workers, self.seed,
                              progress=self._progress(STAGE_LABELS["extremes"]))

    def importance(self, bandwidth: float | None = None) -> ImportanceResult:
        """Weights versus importance and statistical coherence."""
        base = self.model.importance or ImportanceSettings()
        settings = ImportanceSettings(base.bandwidth if bandwidth is None else bandwidth)
        return ImportanceResult(self.dataset, settings.bandwidth,
                                progress=self._progress(STAGE_LABELS["importance"]))

    def noise(self, replicates: int | None = None) -> NoiseResult:
        """Measurement-noise bootstrap, alone and with the weight model."""
        base = self.model.noise or NoiseSettings()
        if replicates is not None:
            self._count(replicates, "noise", "replicates", "[noise].replicates", 2,
                        ("noise.replicates", "[noise].replicates"))
        settings = NoiseSettings(base.replicates if replicates is None else replicates,
                                 base.models)
        return NoiseResult(self.dataset, self.model, settings, self.seed,
                           progress=self._progress("Noise"))

    def rank_ci(self, coverage: float | None = None, n_boot: int | None = None,
                noise: NoiseResult | None = None) -> RankCIResult:
        """Confidence sets for ranks from the noise bootstrap's covariance (runs the noise
        bootstrap unless its result is given)."""
        base = self.model.rank_ci
        if n_boot is not None:
            self._count(n_boot, "rank_ci", "n_boot", "[rank_ci].n_boot", 100,
                        ("rank_ci.n_boot", "[rank_ci].n_boot"))
        settings = RankCISettings(base.coverage if coverage is None else coverage,
                                  base.n_boot if n_boot is None else n_boot)
        noise = noise if noise is not None else self.noise()
        return RankCIResult(self.dataset, noise.scores, settings, self.seed)

    def resample(self, replicates: int | None = None) -> ResampleResult:
        """Unit resampling with min-max bounds re-derived from each resample."""
        base = self.model.resample or ResampleSettings()
        if replicates is not None:
            self._count(replicates, "resample", "replicates", "[resample].replicates", 2,
                        ("resample.replicates", "[resample].replicates"))
        settings = ResampleSettings(base.replicates if replicates is None else replicates)
        return ResampleResult(self.dataset, self.model, settings.replicates, self.seed)

    def verdicts(self) -> pd.DataFrame:
        """verdicts.csv without the rest of a run: only the analyses a verdict reads — the
        reproduction audit (errata), the weights Monte Carlo, the extremes (when the model
        enables them), the rank confidence sets (when it has [noise]) and the named
        alternatives. Units not ranked are listed last, as in verdicts.csv."""
        m = self.model
        results: dict[str, Result] = {"reproduction": self.reproduce(),
                                      "weights": self.montecarlo(lens="weights")}
        if m.extremes:
            results["extremes"] = self.extremes()
        results["scenarios"] = self.scenarios()
        if m.noise and m.runs_rank_ci:
            results["rank_ci"] = self.rank_ci()
        audit = AuditResult(self, results)
        return with_not_ranked(self.dataset, audit.verdicts())

    # -- everything ----------------------------------------------------------------------

    def run(self) -> AuditResult:
        """Every analysis the model enables, in order; returns an :class:`AuditResult`."""
        m = self.model
        results: dict[str, Result] = {}
        timings: dict[str, float] = {}

        def step(name: str, fn: Callable[[], Result]) -> Result:
            t = time.perf_counter()
            label = STAGE_LABELS.get(name) if self.progress else None
            if label:
                self.progress(label, 0, 1)  # type: ignore[misc]
            results[name] = fn()
            timings[name] = time.perf_counter() - t
            if label:
                self.progress(label, 1, 1)  # type: ignore[misc]
            return results[name]

        step("reproduction", self.reproduce)
        # the weights lens: Monte Carlo and exact extremes at the index's own construction
        step("weights", lambda: self.montecarlo(lens="weights"))
        if m.extremes:
            ext = step("extremes", self.extremes)
            if m.weights == "uniform" and m.extremes_delta == m.delta:  # the same weight box
                ext.include_sampled(results["weights"].ranks())
        # the construction lens: named alternatives, and a Monte Carlo when asked
        if m.leave_one_out:
            step("leave_one_out", self.leave_one_out)
        step("scenarios", self.scenarios)
        if m.construction:
            step("construction", lambda: self.montecarlo(lens="construction"))
        # the noise and sample lenses
        if m.noise:
            noise = step("noise", self.noise)
            if m.runs_rank_ci:
                step("rank_ci", lambda: self.rank_ci(noise=noise))
        if m.resample:
            step("resample", self.resample)
        # the combined lens: the JRC-style joint run, when the model lists alternatives
        if m.combined is not None and m.has_alternatives:
            step("combined", lambda: self.montecarlo(lens="combined"))
        # explanation across lenses
        if m.sobol:
            step("sobol", self.sobol)
        if m.importance:
            step("importance", self.importance)
        return AuditResult(self, results, timings)


@dataclass
class AuditResult:
    """Every analysis of a :meth:`Study.run`: ``tables()`` (file stem -> DataFrame),
    ``summary()`` (summary.json), ``fragile()``, and :meth:`write`."""

    study: Study
    results: dict[str, Result]
    timings: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Result:
        return self.results[name]

    def lenses(self) -> list[str]:
        """The lenses this run computed, in :data:`LENSES` order."""
        have = {"weights": "weights" in self.results,
                "construction": "scenarios" in self.results or "construction" in self.results,
                "noise": "noise" in self.results, "sample": "resample" in self.results,
                "combined": "combined" in self.results}
        return [lens for lens in LENSES if have[lens]]

    def verdicts(self) -> pd.DataFrame:
        """verdicts.csv: one verdict per unit (see :mod:`cityindex.verdict`)."""
        r = self.results
        return verdict_table(
            self.study.dataset, r["weights"].ranks(), self.study.model.tier_probability,
            extremes=r["extremes"].frame if "extremes" in r else None,
            rank_ci=r["rank_ci"].frame if "rank_ci" in r else None,
            scenarios=r["scenarios"].worst() if "scenarios" in r else None,
            reproduction=r["reproduction"].table())

    def fragile(self) -> pd.DataFrame:
        """fragile.csv: the units whose verdict is not robust."""
        return fragile_table(self.verdicts())

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table, keyed by output file stem, in output order. ranks, acceptability and
        groups hold one block of rows per lens (a ``lens`` column)."""
        found: dict[str, pd.DataFrame] = {}
        for result in self.results.values():
            found.update(result.tables())
        found.update(stack([r.distribution() for r in self.results.values()
                            if hasattr(r, "distribution")]))
        found["verdicts"] = with_not_ranked(self.study.dataset, self.verdicts())
        found["fragile"] = fragile_table(found["verdicts"])
        return {k: found[k] for k in TABLE_ORDER if k in found}

    def run_record(self) -> dict:
        """The run's identity: run file (if any), data, seed, samples and the model."""
        s = self.study
        return {"run_file": s.provenance.get("run_file"),
                "run_file_sha256": s.provenance.get("run_file_sha256"),
                "data": s.dataset.folder.name, "seed": s.seed, "samples": s.model.samples,
                **s.model.to_dict()}

    def lens_summaries(self) -> dict[str, dict]:
        """summary.json's per-lens sections (without the headline sentences)."""
        r = self.results
        out: dict[str, dict] = {}
        if "weights" in r:
            out["weights"] = {"montecarlo": r["weights"].summary()}
            if "extremes" in r:
                out["weights"]["extremes"] = r["extremes"].summary()
        if "scenarios" in r:
            out["construction"] = {"alternatives": r["scenarios"].summary()}
            if "leave_one_out" in r:
                out["construction"]["leave_one_out"] = r["leave_one_out"].summary()
            if "construction" in r:
                out["construction"]["montecarlo"] = r["construction"].summary()
        if "noise" in r:
            out["noise"] = {"bootstrap": r["noise"].summary()}
            if "rank_ci" in r:
                out["noise"]["rank_ci"] = r["rank_ci"].summary()
        if "resample" in r:
            out["sample"] = {"resample": r["resample"].summary()}
        if "combined" in r:
            out["combined"] = {"montecarlo": r["combined"].summary()}
        return out

    def summary(self, tables: dict[str, pd.DataFrame] | None = None) -> dict:
        """summary.json: the run, the dataset, the method, one section per lens (each with
        its headline sentence), the verdicts, and the analyses that explain across lenses."""
        s, r = self.study, self.results
        ds = s.dataset
        verdicts = (tables or {}).get("verdicts")
        verdicts = self.verdicts() if verdicts is None else verdicts
        verdicts = verdicts[verdicts["verdict"] != NOT_RANKED]
        lenses = self.lens_summaries()
        rank_ci = r["rank_ci"].frame if "rank_ci" in r else None
        sentences = headlines(ds, s.model, lenses, verdicts, rank_ci)
        for lens, text in sentences.items():
            if lens in lenses:
                lenses[lens] = {"headline": text, **lenses[lens]}
        counts = verdict_counts(verdicts)
        out = {
            "run": self.run_record(),
            "dataset": {"id": ds.spec.id, "title": ds.spec.title_en, "units": ds.n_units,
                        "unit_noun": ds.spec.units,
                        "indicators": ds.spec.indicators, "tiers": list(ds.spec.tiers)},
            "method": {**method_notes(s.model, s.seed),
                       **(r["weights"].method_notes() if "weights" in r else {})},
            "verdicts": {
                "headline": sentences["verdicts"],
                "counts": counts,
                "by_published_tier": {
                    str(t): {v: int(((verdicts.verdict == v)
                                     & (verdicts.published_tier == t)).sum())
                             for v in counts}
                    for t in range(1, len(ds.spec.tiers) + 1)},
                "weight_sensitive_units": list(
                    verdicts.loc[verdicts.verdict == "weight-sensitive", "unit"]),
                "erratum_units": list(verdicts.loc[verdicts.erratum, "unit"]),
                **({"not_ranked": ds.excluded.to_dict("records")}
                   if ds.excluded is not None and len(ds.excluded) else {}),
            },
            "lenses": lenses,
            "reproduction": r["reproduction"].summary(),
        }
        for name in ("sobol", "importance"):
            if name in r:
                out[name] = r[name].summary()
        return out

    def report_files(self, tables: dict[str, pd.DataFrame] | None = None,
                     summary: dict | None = None, static: bool = True) -> dict[str, bytes]:
        """index.html (and rank_uncertainty.png/.svg when ``static``) as bytes."""
        from cityindex.report.build import build_report

        tables = self.tables() if tables is None else tables
        summary = self.summary(tables) if summary is None else summary
        return build_report(self.study.dataset, summary, tables, static=static)

    def write(self, folder: str | Path, static: bool = True) -> Path:
        """Write every table, summary.json, the page and manifest.json into ``folder``,
        replacing its previous contents as a whole. The only call that touches the disk."""
        from cityindex.app.output import write_audit

        return write_audit(self, Path(folder), static=static)
