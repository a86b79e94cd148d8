"""The index's uncertain choices as Sobol' factors (Saisana, Saltelli & Tarantola 2005).

Factors, each uniform on its range:

- one weight multiplier per node, U(1 - delta, 1 + delta), renormalised among siblings as in
  the Monte-Carlo ``uniform`` model; with ``weights = "grouped"`` the multipliers move in
  SALib groups (the pillar weights together, each pillar's split together);
- discrete choices by trigger, a U(0, 1) factor mapped to one of k options by floor(u k):
  the normalisation and the aggregation (when the run file lists more than one),
  leave-one-out: "none" with probability ``[sobol] leave_one_out_none`` (u below it), else
  each indicator equally likely (the rest of the unit interval in D equal parts) — with equal
  odds over "none" and D indicators the trigger would drop one in D of D + 1 draws and
  dominate every rank by construction — and, when the run file has a [noise] model,
  measurement noise: a trigger over K = 1024 noisy copies of the data drawn once from that
  model (seeded), so the noise realisation is a factor like any other (Saisana et al. 2005
  treat data error the same way).

Outputs: each unit's rank (ties "min") and the average absolute rank shift against the nominal
ranking. Every output is a function of all factors; indices say which factors its variance
comes from. Ranks are discrete, so indices describe the variance of a step function: they are
valid (Sobol' decomposition needs only square-integrability) but converge more slowly; the
convergence table shows the estimates at n/4, n/2 and n.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from SALib.util import extract_group_names

from cityindex.construction import WeightBox, effective_weight_batch, normalise
from cityindex.data import Dataset
from cityindex.model import SobolSettings, UncertaintyModel
from cityindex.rank import rank_matrix
from cityindex.result import Result
from cityindex.score import log_shifted
from cityindex.sensitivity import sobol, sobol_stream
from cityindex.sensitivity.engine import IndexModel, nominal_ranks
from cityindex.sensitivity.leave_one_out import drop_indicator
from cityindex.sensitivity.noise import check_noise_models, draw_noisy, noise_parameters
from cityindex.spec import Spec
from cityindex.streams import Stream, block_rng

NOISE_REALISATIONS = 1024

CONF_LEVEL = 0.95  # bootstrap confidence level of the half-widths S1_conf, ST_conf


def index_problem(spec: Spec, cfg: UncertaintyModel, grouped: bool = False,
                  leave_one_out: bool = True, noise: bool = False) -> dict:
    """The SALib problem of the index's factors."""
    names, bounds, groups = [], [], []
    box = WeightBox(spec, cfg.delta)
    # delta = 0: the weights are fixed, not a factor (SALib refuses an empty range)
    for node, span in zip(spec.weighted_nodes, box.sobol_bounds() if cfg.delta > 0 else []):
        names.append(f"w_{node}")
        bounds.append(span)
        parent = spec.nodes[node].parent
        groups.append("pillar weights" if parent == spec.root else f"{parent} split")
    if len(cfg.normalisations) > 1:
        names.append("normalisation")
        bounds.append([0.0, 1.0])
        groups.append("normalisation")
    if len(cfg.aggregations) > 1:
        names.append("aggregation")
        bounds.append([0.0, 1.0])
        groups.append("aggregation")
    if leave_one_out:
        names.append("leave_one_out")
        bounds.append([0.0, 1.0])
        groups.append("leave_one_out")
    if noise:
        names.append("measurement_noise")
        bounds.append([0.0, 1.0])
        groups.append("measurement_noise")
    problem = {"num_vars": len(names), "names": names, "bounds": bounds}
    if grouped:
        problem["groups"] = groups
    return problem


def trigger(u: np.ndarray, k: int) -> np.ndarray:
    """Map U(0, 1) to {0, ..., k-1} in k equal parts."""
    return np.minimum((u * k).astype(np.int64), k - 1)


def leave_one_out_trigger(u: np.ndarray, d: int, p_none: float) -> np.ndarray:
    """Map U(0, 1) to 0 ("none") when u < p_none, else to 1..d in equal parts of the rest."""
    rest = trigger((u - p_none) / (1.0 - p_none), d) + 1
    return np.where(u < p_none, 0, rest)


def factor_distributions(ds: Dataset, cfg: UncertaintyModel, problem: dict,
                         leave_one_out_none: float) -> list[dict]:
    """Each factor and its distribution in words (summary.json and the page)."""
    spec = ds.spec
    out = []
    for name in problem["names"]:
        if name.startswith("w_"):
            text = (f"multiplier U({1 - cfg.delta:g}, {1 + cfg.delta:g}) on the node's "
                    "weight, renormalised among its siblings")
        elif name == "normalisation":
            text = (f"one of {', '.join(cfg.normalisations)}, equally likely "
                    f"(1/{len(cfg.normalisations)} each)")
        elif name == "aggregation":
            text = (f"one of {', '.join(cfg.aggregations)}, equally likely "
                    f"(1/{len(cfg.aggregations)} each)")
        elif name == "leave_one_out":
            d = len(spec.indicators)
            text = (f"no indicator left out with probability {leave_one_out_none:g}; each of "
                    f"the {d} indicators left out with probability "
                    f"{(1 - leave_one_out_none) / d:.3g}")
        else:
            text = (f"one of {NOISE_REALISATIONS} noisy copies of the data drawn once from the "
                    "[noise] model, equally likely")
        out.append({"factor": name, "distribution": text})
    return out


def _noisy_normalised(ds: Dataset, cfg: UncertaintyModel, seed: int) -> dict[str, np.ndarray]:
    """K noisy copies of the indicators from the [noise] model, normalised by every choice
    (K, choices, U, D), with logs for geometric aggregation."""
    spec = ds.spec
    x = ds.matrix
    params = noise_parameters(ds, cfg.noise.models)
    rng = block_rng(seed, Stream.SOBOL_NOISE, 0)
    draws = draw_noisy(x, params, rng, NOISE_REALISATIONS, spec.scale)
    arr = np.stack([np.stack([normalise(d, m, spec.scale) for m in cfg.normalisations])
                    for d in draws])
    out = {"x": arr}
    if any(ds.pipeline.uniform_form(a) == "loglinear" for a in cfg.aggregations
           if a != "published"):
        out["log"] = log_shifted(arr, cfg.geometric_offset, "noisy normalised indicators")
    return out


def _noisy_scores(noisy: dict[str, np.ndarray], k: np.ndarray, norm: np.ndarray,
                  agg: np.ndarray, w: np.ndarray, eff: np.ndarray, cfg: UncertaintyModel,
                  scorer: IndexModel) -> np.ndarray:
    """Composite scores of rows using noisy copy k, normalisation norm, aggregation agg."""
    out = np.empty((k.size, noisy["x"].shape[2]))
    for a, choice in enumerate(cfg.aggregations):
        rows = np.flatnonzero(agg == a)
        if rows.size == 0:
            continue
        method = scorer.methods[choice]
        if method == "linear":
            out[rows] = np.einsum("sud,sd->su", noisy["x"][k[rows], norm[rows]], eff[rows])
        elif method == "loglinear":
            out[rows] = np.exp(np.einsum("sud,sd->su", noisy["log"][k[rows], norm[rows]],
                                         eff[rows])) - cfg.geometric_offset
        else:  # node by node, through the dataset's pipeline
            out[rows] = scorer.pipeline.evaluate(noisy["x"][k[rows], norm[rows]], w[rows],
                                                 method, scorer.offset_of(choice))
    return out


def index_model(ds: Dataset, cfg: UncertaintyModel, problem: dict, seed: int = 0,
                leave_one_out_none: float = SobolSettings.leave_one_out_none
                ) -> tuple[Callable[[np.ndarray], np.ndarray], list[str]]:
    """The model for :func:`cityindex.sensitivity.sobol.sobol_indices`: factor rows ->
    (units' ranks..., mean absolute rank shift). Returns the callable and output names."""
    spec = ds.spec
    names = problem["names"]
    nodes = spec.weighted_nodes
    box = WeightBox(spec, cfg.delta)
    n_weights = sum(name.startswith("w_") for name in names)
    scorer = IndexModel(ds, cfg.normalisations, cfg.aggregations, cfg.geometric_offset)
    reference = nominal_ranks(ds)
    noisy = _noisy_normalised(ds, cfg, seed) if "measurement_noise" in names else None

    # rows per chunk: 8192, fewer where the tree is walked node by node over many units (a
    # node's (rows, units, children) temporaries stay near 2^22 elements)
    widest = max(len(spec.children(a)) for a in spec.aggregates)
    rows = 8192 if ds.pipeline.linear else max(256, min(8192, 2 ** 22 // (ds.n_units * widest)))

    def model(x: np.ndarray, chunk: int = rows,
              progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out = np.empty((x.shape[0], ds.n_units + 1))
        for lo in range(0, x.shape[0], chunk):  # chunks of rows bound the memory
            out[lo: lo + chunk] = evaluate(x[lo: lo + chunk])
            if progress:
                progress(min(lo + chunk, x.shape[0]), x.shape[0])
        return out

    def evaluate(x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        w = box.from_factors(x[:, : len(nodes)] if n_weights else np.ones((n, len(nodes))))
        if "leave_one_out" in names:
            choice = leave_one_out_trigger(x[:, names.index("leave_one_out")],
                                           len(spec.indicators), leave_one_out_none)
            for i, ind in enumerate(spec.indicators, start=1):
                rows = choice == i
                if rows.any():
                    sub = w[rows]
                    drop_indicator(spec, sub, ind)
                    w[rows] = sub
        norm = (trigger(x[:, names.index("normalisation")], len(cfg.normalisations))
                if "normalisation" in names else np.zeros(n, dtype=np.int64))
        agg = (trigger(x[:, names.index("aggregation")], len(cfg.aggregations))
               if "aggregation" in names else np.zeros(n, dtype=np.int64))
        eff = effective_weight_batch(spec, w)
        if noisy is None:
            scores = scorer.scores(w, eff, norm, agg)
        else:
            k = trigger(x[:, names.index("measurement_noise")], NOISE_REALISATIONS)
            scores = _noisy_scores(noisy, k, norm, agg, w, eff, cfg, scorer)
        ranks = rank_matrix(scores)
        shift = np.abs(ranks - reference).mean(axis=1)
        return np.column_stack([ranks, shift])

    return model, [*ds.units, "mean_abs_shift"]


def index_sobol(ds: Dataset, cfg: UncertaintyModel, settings: SobolSettings, seed: int,
                progress: Callable[[int, int], None] | None = None
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Sobol' indices of every unit's rank and the mean rank shift, with convergence.

    Returns (indices at n, indices at n/4, n/2 and n in long form, problem)."""
    if cfg.noise is not None:
        check_noise_models(ds, cfg.noise.models)
    problem = index_problem(ds.spec, cfg, grouped=settings.grouped,
                            leave_one_out=settings.leave_one_out, noise=cfg.noise is not None)
    factors, d = extract_group_names(problem)
    model, outputs = index_model(ds, cfg, problem, seed, settings.leave_one_out_none)
    x = sobol.sample(problem, settings.n, seed)
    # large indices: outputs streamed over base points (sobol_stream), never all in memory
    streamed = x.shape[0] * (ds.n_units + 1) > sobol_stream.IN_MEMORY_ELEMENTS
    y = None if streamed else model(x, progress=progress)
    frames = []
    for m in (settings.n // 4, settings.n // 2, settings.n):
        res = (sobol_stream.estimate(model, x, m, d, n_boot=settings.n_boot, seed=seed,
                                     conf_level=CONF_LEVEL)
               if streamed else
               sobol.estimate(y[: m * (d + 2)], d, n_boot=settings.n_boot, seed=seed,
                              conf_level=CONF_LEVEL))
        frame = sobol.indices_frame(res, list(factors), outputs)
        frame.insert(0, "n", m)
        frames.append(frame)
    convergence = pd.concat(frames, ignore_index=True).rename(columns={"output": "unit"})
    final = frames[-1].drop(columns="n").rename(columns={"output": "unit"})
    return final, convergence, problem


class SobolResult(Result):
    """Sobol' indices of every rank and of the average rank shift (sobol.csv) and their
    convergence at n/4, n/2, n (sobol_convergence.csv)."""

    name = "sobol"

    def __init__(self, ds: Dataset, model: UncertaintyModel, settings: SobolSettings,
                 seed: int, progress: Callable[[int, int], None] | None = None) -> None:
        self.dataset, self.settings, self.model = ds, settings, model
        self.indices, self.convergence, self.problem = index_sobol(ds, model, settings, seed,
                                                                   progress)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"sobol": self.indices, "sobol_convergence": self.convergence}

    def summary(self) -> dict:
        """Design size, wide intervals, the average shift's indices, and for how many units
        each factor has the largest total index."""
        indices, problem, sc = self.indices, self.problem, self.settings
        defined = indices[indices["note"] == ""]
        wide = defined[(defined["S1_conf"] > 0.1) | (defined["ST_conf"] > 0.1)]
        d = len(set(problem.get("groups") or problem["names"]))
        shift = indices[indices["unit"] == "mean_abs_shift"]
        units = defined[defined["unit"] != "mean_abs_shift"]
        top = units.loc[units.groupby("unit", sort=True)["ST"].idxmax(), "factor"]
        return {
            "n": sc.n, "factors": d, "evaluations": sc.n * (d + 2),
            "n_boot": sc.n_boot,
            "conf_level": CONF_LEVEL,  # of the S1_conf / ST_conf half-widths
            "factor_distributions": factor_distributions(self.dataset, self.model, problem,
                                                         sc.leave_one_out_none),
            "ci_half_width_above_0_1": len(wide),
            "flag_wide_ci": bool(len(wide) > 0),
            "undefined_outputs": sorted(set(indices.loc[indices["note"] != "", "unit"])),
            "mean_abs_shift": {r["factor"]: {"S1": r["S1"], "ST": r["ST"]}
                               for r in shift.to_dict("records")},
            "units_by_dominant_factor": {k: int(v) for k, v in
                                         top.value_counts().sort_index().items()},
        }

    def chart(self):
        from cityindex.report import charts

        return charts.sobol_bars(self.indices)
