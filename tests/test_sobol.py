"""Sobol' indices: identical to SALib on identical samples; analytic truth on Ishigami and
the Sobol' G-function; constant outputs undefined with a reason; the index's factor model."""

from __future__ import annotations

import numpy as np
import pytest
from SALib.analyze import sobol as salib_sobol
from SALib.test_functions import Ishigami, Sobol_G

from cityindex.model import NoiseModel, NoiseSettings, SobolSettings, UncertaintyModel
from cityindex.sensitivity.index_sobol import (
    index_model,
    index_problem,
    index_sobol,
    trigger,
)
from cityindex.sensitivity.sobol import CONSTANT_NOTE, estimate, sample, sobol_indices

ISHIGAMI = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
# Ishigami (a = 7, b = 0.1): analytic indices (Ishigami & Homma 1990; Saltelli et al. 2008)
A, B = 7.0, 0.1
V = A**2 / 8 + B * np.pi**4 / 5 + B**2 * np.pi**8 / 18 + 0.5
V1 = 0.5 * (1 + B * np.pi**4 / 5) ** 2
V2 = A**2 / 8
V13 = B**2 * np.pi**8 * (1 / 18 - 1 / 50)
ISHIGAMI_S1 = np.array([V1 / V, V2 / V, 0.0])
ISHIGAMI_ST = np.array([(V1 + V13) / V, V2 / V, V13 / V])


def test_matches_salib_on_identical_samples_for_many_outputs():
    x = sample(ISHIGAMI, 2**10, seed=5)
    y1 = Ishigami.evaluate(x)
    y = np.column_stack([y1, np.sin(y1) + x[:, 2], x[:, 0] ** 2])
    mine = estimate(y, 3, n_boot=50, seed=9)
    for k in range(y.shape[1]):
        ref = salib_sobol.analyze(ISHIGAMI, y[:, k], calc_second_order=False,
                                  num_resamples=50, seed=9)
        for key in ("S1", "ST", "S1_conf", "ST_conf"):
            np.testing.assert_allclose(mine[key][:, k], ref[key], rtol=1e-9, atol=1e-12)


def test_ishigami_analytic_within_confidence():
    df = sobol_indices(Ishigami.evaluate, ISHIGAMI, n=2**14, seed=1, n_boot=200)
    assert list(df.columns) == ["output", "factor", "S1", "S1_conf", "ST", "ST_conf", "note"]
    assert (np.abs(df["S1"] - ISHIGAMI_S1) <= df["S1_conf"]).all()
    assert (np.abs(df["ST"] - ISHIGAMI_ST) <= df["ST_conf"]).all()


def test_g_function_analytic_within_confidence():
    a = np.array([0, 1, 4.5, 9, 99, 99])
    problem = {"num_vars": 6, "names": [f"x{i}" for i in range(6)], "bounds": [[0, 1]] * 6}
    df = sobol_indices(lambda x: Sobol_G.evaluate(x, a), problem, n=2**14, seed=2)
    # G-function: V_i = 1 / (3 (1 + a_i)^2), S_i = V_i / (prod(1 + V_j) - 1)
    vi = 1 / (3 * (1 + a) ** 2)
    total_v = np.prod(1 + vi) - 1
    s1 = vi / total_v
    st = vi * np.prod(1 + vi) / (1 + vi) / total_v
    np.testing.assert_allclose(s1, Sobol_G.sensitivity_index(a), rtol=1e-12)
    assert (np.abs(df["S1"] - s1) <= df["S1_conf"]).all()
    assert (np.abs(df["ST"] - st) <= df["ST_conf"]).all()


def test_constant_output_is_undefined_with_reason():
    def model(x):
        return np.column_stack([x[:, 0] + x[:, 1], np.full(x.shape[0], 3.0)])

    problem = {"num_vars": 2, "names": ["a", "b"], "bounds": [[0, 1], [0, 1]]}
    df = sobol_indices(model, problem, n=256, seed=1, n_boot=20, output_names=["sum", "flat"])
    flat = df[df.output == "flat"]
    assert flat[["S1", "ST", "S1_conf", "ST_conf"]].isna().all().all()
    assert (flat["note"] == CONSTANT_NOTE).all()
    assert (df.loc[df.output == "sum", "note"] == "").all()
    # additive model: S1 = ST = 1/2 for two equal uniforms
    np.testing.assert_allclose(df.loc[df.output == "sum", "S1"], 0.5, atol=0.05)


def test_groups_give_one_row_per_group():
    problem = {**ISHIGAMI, "groups": ["g1", "g1", "g2"]}
    df = sobol_indices(Ishigami.evaluate, problem, n=2**10, seed=1, n_boot=20)
    assert list(df["factor"]) == ["g1", "g2"]
    # x1 and x2 together explain S1(x1) + S1(x2) + S12 = S1(x1) + S1(x2) (no x1-x2 interaction)
    assert df["S1"].iloc[0] == pytest.approx(ISHIGAMI_S1[:2].sum(), abs=0.05)


def test_trigger_maps_unit_interval_to_equal_parts():
    u = np.array([0.0, 0.249, 0.25, 0.74, 0.75, 0.999999, 1.0])
    np.testing.assert_array_equal(trigger(u, 4), [0, 0, 1, 2, 3, 3, 3])


def _config(norms=("published", "minmax"), aggs=("arithmetic",)) -> UncertaintyModel:
    return UncertaintyModel(weights="uniform", delta=0.25, normalisations=norms,
                            aggregations=aggs, sobol=SobolSettings(n=64, n_boot=20))


def test_index_problem_and_model(dataset):
    cfg = _config()
    problem = index_problem(dataset.spec, cfg)
    assert problem["names"][:2] == ["w_communication", "w_search"]
    assert problem["names"][-2:] == ["normalisation", "leave_one_out"]
    assert len(problem["names"]) == 9 + 2
    model, outputs = index_model(dataset, cfg, problem)
    assert outputs[-1] == "mean_abs_shift" and len(outputs) == 107
    # all multipliers 1, published normalisation, no indicator left out: the nominal ranks
    x = np.ones((1, 11))
    x[0, -2:] = 0.0
    y = model(x)
    from cityindex.rank import rank_desc
    from cityindex.sensitivity.engine import nominal_scores

    np.testing.assert_array_equal(y[0, :-1], rank_desc(nominal_scores(dataset).to_numpy()))
    assert y[0, -1] == 0.0
    grouped = index_problem(dataset.spec, cfg, grouped=True)
    assert sorted(set(grouped["groups"])) == sorted(
        ["pillar weights", "communication split", "influence split", "recognition split",
         "normalisation", "leave_one_out"])


def test_index_sobol_convergence_table(dataset):
    cfg = _config()
    indices, convergence, problem = index_sobol(dataset, cfg, cfg.sobol, seed=3)
    assert sorted(convergence["n"].unique()) == [16, 32, 64]
    assert len(indices) == 107 * len(problem["names"])
    last = convergence[convergence.n == 64].drop(columns="n").reset_index(drop=True)
    np.testing.assert_allclose(last["ST"], indices["ST"], equal_nan=True)


def test_measurement_noise_is_a_factor_when_noise_is_modelled(dataset):
    def noise_st(model: NoiseModel) -> float:
        cfg = UncertaintyModel(sobol=SobolSettings(n=256, n_boot=20, leave_one_out=False),
                               noise=NoiseSettings(100, {"social_media": model}))
        indices, _, problem = index_sobol(dataset, cfg, cfg.sobol, seed=2)
        assert problem["names"][-1] == "measurement_noise"
        shift = indices[indices.unit == "mean_abs_shift"].set_index("factor")
        return float(shift.at["measurement_noise", "ST"])

    # rounding noise (+-0.005 points) barely moves ranks; sd = 5 points on the heaviest
    # indicator does, and the index must say so
    loud, quiet = noise_st(NoiseModel("normal", sd=5.0)), noise_st(NoiseModel("none"))
    assert loud > 0.3 and quiet < 0.05, (loud, quiet)
