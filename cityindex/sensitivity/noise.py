"""Measurement-noise (parametric) bootstrap and unit-resampling bootstrap of the ranks.

Measurement noise. Each published indicator score is a measurement known only to within its
printing precision, and often coarser. For every replicate and every cell, cityindex draws

    x* = clip(x + U(-h, h) + e, lo, hi)                               (rounding, then model)

where h is half a unit in the cell's last printed digit (always applied: a value printed 12.34
is anywhere in [12.335, 12.345)), and e follows the indicator's model from the run file:

``none``       e = 0 (rounding only);
``rounding``   the same as ``none`` (stated for clarity);
``grid``       e ~ U(-s/2, s/2) with s the quantisation step the reproduction audit detects;
``normal``     e ~ N(0, sd^2), sd in score points;
``lognormal``  multiplicative: x' (exp(sigma Z - sigma^2 / 2) - 1) with sigma^2 = ln(1 + cv^2)
               (mean-preserving, relative error cv).

Draws are clipped to the spec's scale (0-100) and rescored with the published method (or with
the run file's weight model, for "noise and weights together"). Errors are independent across
cells (an assumption the report states).

Unit resampling (Efron 1979, nonparametric bootstrap of the sample of cities). Cities are drawn
with replacement; for each min-max indicator the scaling bounds are re-derived from the
resample (the resample's min and max of the published 0-100 scores map to 0 and 100) and the
original cities are rescored with those bounds and ranked. Under a linear (arithmetic)
construction, values of cities outside the resample's range fall outside 0-100 and are kept so
(not clipped): the point is to see how much a rank owes to which other cities, and outliers,
define the scale. Under any other aggregation (geometric, harmonic, Mazziotta-Pareto, ...) a
score outside the scale is not defined (a geometric mean of -28.67 + offset), so there the
rescaled scores are clipped to the index scale: a value below the resample's minimum scores the
scale's minimum, one above its maximum the scale's maximum (as min-max bounds applied to data
outside them usually are). Rating/5 indicators have a fixed scale and do not change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from cityindex.construction import effective_weight_batch
from cityindex.data import Dataset
from cityindex.errors import ModelError
from cityindex.model import NOISE_MODELS, NoiseModel, NoiseSettings, UncertaintyModel
from cityindex.quantisation import detect_grid
from cityindex.rank import RankFolder
from cityindex.result import Result, rank_interval_chart
from cityindex.sensitivity.engine import nominal_ranks, rank_summary, report_groups
from cityindex.sensitivity.folding import rank_folder
from cityindex.sensitivity.lens import RankDistribution
from cityindex.sensitivity.sampler import ScenarioSampler
from cityindex.streams import Stream, block_rng
from cityindex.vocabulary import noise_model_words, unit_label

BLOCK = 1024
BLOCK_ELEMENTS = 1 << 23   # replicates x units x indicators per block (64 MiB of float64)


def block_size(n_units: int, n_indicators: int) -> int:
    """Replicates per generator block: BLOCK, or fewer for large indices (a power of two,
    so that a block's (replicates, units, indicators) arrays stay within BLOCK_ELEMENTS).
    A function of the dataset's shape only: the same seed gives the same numbers."""
    per = max(1, n_units * n_indicators)
    if per * BLOCK <= BLOCK_ELEMENTS:
        return BLOCK
    return 1 << max(0, (BLOCK_ELEMENTS // per).bit_length() - 1)
ASSUMPTIONS = ("rounding U(-h, h) on every cell plus the per-indicator model; independent "
               "errors; clipped to the scale; composite covariance from the noise-alone "
               "replicates (normal approximation for rank CIs)")


def check_noise_models(ds: Dataset, models: Mapping[str, NoiseModel]) -> None:
    """Models must name indicators of the spec, and a 'grid' model needs a grid."""
    unknown = sorted(set(models) - set(ds.spec.indicators))
    if unknown:
        raise ModelError(f"noise[{unknown[0]!r}]", f"[noise].{unknown[0]}",
                         "not an indicator of the spec", f"one of {ds.spec.indicators}")
    noise_parameters(ds, models)


def noise_parameters(ds: Dataset, models: Mapping[str, NoiseModel]) -> dict[str, np.ndarray]:
    """Per-indicator arrays the sampler needs: half-units (U, D), model codes, parameters."""
    spec = ds.spec
    half = ds.indicator_half[spec.indicators].to_numpy(dtype=float)
    step = np.zeros(len(spec.indicators))
    for i, ind in enumerate(spec.indicators):
        m = models.get(ind, NoiseModel())
        if m.model == "grid":
            grid = detect_grid(ds.indicators[ind].to_numpy(), half[:, i])
            if grid is None:
                raise ModelError(f"noise[{ind!r}].model", f"[noise].{ind}",
                                 f"model 'grid', but the published '{ind}' scores show no "
                                 "quantisation grid", "another noise model for this indicator")
            step[i] = grid.step
    code = np.array([NOISE_MODELS.index(models.get(i, NoiseModel()).model)
                     for i in spec.indicators])
    sd = np.array([models.get(i, NoiseModel()).sd for i in spec.indicators])
    cv = np.array([models.get(i, NoiseModel()).cv for i in spec.indicators])
    return {"half": half, "code": code, "step": step, "sd": sd, "cv": cv}


def draw_noisy(x: np.ndarray, params: dict[str, np.ndarray], rng: np.random.Generator,
               n: int, scale: tuple[float, float]) -> np.ndarray:
    """(n, U, D) noisy copies of the indicator matrix x (U, D)."""
    u, d = x.shape
    out = x[None] + rng.uniform(-1.0, 1.0, size=(n, u, d)) * params["half"][None]
    code = params["code"]
    grid = code == NOISE_MODELS.index("grid")
    if grid.any():
        out[:, :, grid] += rng.uniform(-0.5, 0.5, size=(n, u, int(grid.sum()))) * \
            params["step"][grid]
    normal = code == NOISE_MODELS.index("normal")
    if normal.any():
        out[:, :, normal] += rng.standard_normal((n, u, int(normal.sum()))) * \
            params["sd"][normal]
    logn = code == NOISE_MODELS.index("lognormal")
    if logn.any():
        sigma = np.sqrt(np.log1p(params["cv"][logn] ** 2))
        factor = np.exp(sigma * rng.standard_normal((n, u, int(logn.sum()))) - sigma**2 / 2)
        out[:, :, logn] *= factor
    return np.clip(out, scale[0], scale[1])


def noise_bootstrap(ds: Dataset, models: Mapping[str, NoiseModel], replicates: int, seed: int,
                    weights: ScenarioSampler | None = None,
                    progress: Callable[[int, int], None] | None = None
                    ) -> tuple[RankFolder, np.ndarray | None]:
    """Fold the ranks of ``replicates`` noisy datasets; returns the folder and the composite
    scores of every replicate (replicates x units, for the covariance of rank CIs; None with
    ``weights``).

    With ``weights`` the replicate's weights are drawn from that sampler's model too (noise and
    weights together); otherwise nominal weights (noise alone)."""
    spec = ds.spec
    x = ds.matrix
    params = noise_parameters(ds, models)
    folder = rank_folder(ds)
    eff_nominal = spec.effective_weights().reindex(spec.indicators).to_numpy()
    linear = ds.pipeline.linear
    # the replicates' scores are kept for the noise-alone run (the rank sets' covariance)
    scores = np.empty((replicates, ds.n_units)) if weights is None else None
    stream = Stream.NOISE if weights is None else Stream.NOISE_WEIGHTS
    step = block_size(ds.n_units, len(spec.indicators))
    for b, lo in enumerate(range(0, replicates, step)):
        n = min(step, replicates - lo)
        rng = block_rng(seed, stream, b)
        noisy = draw_noisy(x, params, rng, n, spec.scale)
        w = None if weights is None else weights.draw_weights(rng, n)
        if not linear:
            s = ds.pipeline.evaluate(noisy, w)
        elif w is None:
            s = noisy @ eff_nominal
        else:
            s = np.einsum("nud,nd->nu", noisy, effective_weight_batch(spec, w))
        folder.add(s)
        if scores is not None:
            scores[lo: lo + n] = s
        if progress:
            progress(lo + n, replicates)
    return folder, scores


def resample_bootstrap(ds: Dataset, replicates: int, seed: int) -> RankFolder:
    """Fold the ranks of the original units rescored with min-max bounds re-derived from
    resamples of the units (see module docstring)."""
    spec = ds.spec
    x = ds.matrix
    minmax = np.array([spec.nodes[i].normalisation == "minmax" for i in spec.indicators])
    lo_s, hi_s = spec.scale
    eff = spec.effective_weights().reindex(spec.indicators).to_numpy()
    linear = ds.pipeline.linear
    folder = rank_folder(ds)
    u = x.shape[0]
    step = block_size(u, len(spec.indicators))
    for b, start in enumerate(range(0, replicates, step)):
        n = min(step, replicates - start)
        rng = block_rng(seed, Stream.RESAMPLE, b)
        idx = rng.integers(0, u, size=(n, u))
        sample = x[idx]                                   # (n, U, D)
        mn, mx = np.nanmin(sample, axis=1), np.nanmax(sample, axis=1)   # (n, D)
        span = np.where(mx > mn, mx - mn, 1.0)
        rescaled = lo_s + (hi_s - lo_s) * (x[None] - mn[:, None, :]) / span[:, None, :]
        if not linear:  # see the module docstring: geometric & co. need scores on the scale
            np.clip(rescaled, lo_s, hi_s, out=rescaled)
        values = np.where(minmax[None, None, :], rescaled, x[None])
        folder.add(values @ eff if linear
                   else ds.pipeline.evaluate(values))
    return folder


class NoiseResult(Result):
    """The measurement-noise bootstrap, alone and together with the weight model
    (noise.csv); ``scores`` are the noise-alone composites (replicates x units)."""

    name = "noise"

    def __init__(self, ds: Dataset, model: UncertaintyModel, settings: NoiseSettings,
                 seed: int, progress: Callable[[int, int], None] | None = None) -> None:
        check_noise_models(ds, settings.models)
        self.dataset, self.settings = ds, settings
        alone, self.scores = noise_bootstrap(ds, settings.models, settings.replicates, seed,
                                             progress=progress)
        both, _ = noise_bootstrap(ds, settings.models, settings.replicates, seed,
                                  weights=ScenarioSampler(ds.spec, model, seed))
        nominal = nominal_ranks(ds)
        self.alone = RankDistribution("noise", ds, alone, nominal, report_groups(ds),
                                      model.rank_width, model.tier_probability)
        frames = []
        for label, fold in (("noise", alone), ("noise+weights", both)):
            frame = rank_summary(ds, fold.overall, nominal, model.rank_width,
                                 model.tier_probability, fold.tier_counts)
            frame.insert(0, "scenario", label)
            frames.append(frame)
        self.frame = pd.concat(frames, ignore_index=True)

    def distribution(self) -> RankDistribution:
        """The ``noise`` lens: the noise-alone bootstrap at nominal weights (noise.csv's
        "noise+weights" rows mix two lenses and are kept there for comparison only)."""
        return self.alone

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"noise": self.frame}

    def summary(self) -> dict:
        ranks = self.alone.ranks()
        return {"replicates": self.settings.replicates, "assumptions": ASSUMPTIONS,
                "models": noise_models_text(self.dataset, self.settings.models),
                "models_by_indicator": noise_models_words(self.dataset, self.settings.models),
                **self.alone.summary(),
                "tier_fragile_units": list(ranks.loc[ranks["tier_fragile"], "unit"])}

    def title(self) -> str:
        return (f"rank intervals under measurement noise ({self.settings.replicates} noisy "
                "copies, nominal weights)")

    def chart(self):
        """Each unit's 90% rank interval (p05-p95) in the noise-alone bootstrap (a bar) and
        its nominal rank (a diamond); colour: P(published tier) below the threshold?"""
        return _interval_chart(self.dataset, self.alone.ranks(), self.title(),
                               "90% interval (p05–p95) of the noise-alone bootstrap; "
                               "diamond: the nominal rank")


def _interval_chart(ds: Dataset, ranks: pd.DataFrame, title: str, subtitle: str):
    f = ranks.assign(label=[unit_label(ds, u) for u in ranks["unit"]],
                     tier=np.where(ranks["tier_fragile"], "P(published tier) below threshold",
                                   "P(published tier) at or above threshold"))
    return rank_interval_chart(f, "p05", "p95", "nominal_rank", title, subtitle,
                               color="tier", label="label")


def noise_models_words(ds: Dataset, models: Mapping[str, NoiseModel]) -> dict[str, str]:
    """indicator -> its noise model in words (:func:`cityindex.vocabulary.noise_model_words`),
    every indicator of the spec, the grid step where one was detected."""
    params = noise_parameters(ds, models)
    return {ind: noise_model_words(models.get(ind, NoiseModel()),
                                   float(params["step"][i]) or None)
            for i, ind in enumerate(ds.spec.indicators)}


def noise_models_text(ds: Dataset, models: Mapping[str, NoiseModel]) -> str:
    """The noise models in one phrase: 'search: values lie on a grid …; dissemination:
    lognormal, cv 0.1 (assumed); every other indicator: rounding …'. Rounding to the printed
    precision is applied under every model."""
    words = noise_models_words(ds, models)
    named = [f"{ind}: {w}" for ind, w in words.items() if ind in models
             and models[ind].model not in ("none", "rounding")]
    rest = [ind for ind in words if ind not in models
            or models[ind].model in ("none", "rounding")]
    if rest and named:
        named.append(f"{'every other indicator' if len(rest) > 1 else rest[0]}: "
                     "rounding to the printed precision only")
    elif rest:
        named.append("every indicator: rounding to the printed precision only")
    return "; ".join(named)


class ResampleResult(Result):
    """Unit resampling (resample.csv)."""

    name = "resample"

    def __init__(self, ds: Dataset, model: UncertaintyModel, replicates: int, seed: int) -> None:
        self.dataset, self.replicates = ds, replicates
        fold = resample_bootstrap(ds, replicates, seed)
        self.frame = rank_summary(ds, fold.overall, nominal_ranks(ds), model.rank_width,
                                  model.tier_probability, fold.tier_counts)
        self.lens = RankDistribution("sample", ds, fold, nominal_ranks(ds), report_groups(ds),
                                     model.rank_width, model.tier_probability)

    def distribution(self) -> RankDistribution:
        """The ``sample`` lens."""
        return self.lens

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"resample": self.frame}

    def summary(self) -> dict:
        return {"replicates": self.replicates,
                "assumptions": "units drawn with replacement; min-max bounds re-derived from "
                               "each resample; nominal weights",
                **self.lens.summary()}

    def title(self) -> str:
        return f"rank intervals under unit resampling ({self.replicates} resamples)"

    def chart(self):
        """Each unit's 90% rank interval (p05-p95) over the resamples (a bar) and its nominal
        rank (a diamond); colour: P(published tier) below the threshold?"""
        return _interval_chart(self.dataset, self.frame, self.title(),
                               "90% interval (p05–p95), min-max bounds re-derived from each "
                               "resample; diamond: the nominal rank")
