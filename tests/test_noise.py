"""Measurement-noise and unit-resampling bootstraps."""

from __future__ import annotations

import numpy as np
import pytest
from synth import make_folder

from cityindex.app.runfile import load_runfile
from cityindex.data import load_dataset
from cityindex.errors import ModelError, RunFileError
from cityindex.model import NoiseModel
from cityindex.sensitivity.noise import (
    draw_noisy,
    noise_bootstrap,
    noise_parameters,
    resample_bootstrap,
)


def test_rounding_noise_stays_within_half_a_printed_unit(dataset):
    params = noise_parameters(dataset, {})
    x = dataset.indicators[dataset.spec.indicators].to_numpy()
    draws = draw_noisy(x, params, np.random.default_rng(0), 200, (0.0, 100.0))
    assert (np.abs(draws - x) <= params["half"] + 1e-12).all()
    assert (draws >= 0).all() and (draws <= 100).all()
    # 南充's dissemination is printed with 3 decimals: its noise is ten times smaller
    i = dataset.units.index("南充")
    assert np.abs(draws[:, i, 1] - x[i, 1]).max() <= 0.0005 + 1e-12


def test_grid_lognormal_and_normal_models(dataset):
    models = {"search": NoiseModel("grid"), "dissemination": NoiseModel("lognormal", cv=0.2),
              "social_media": NoiseModel("normal", sd=2.0)}
    params = noise_parameters(dataset, models)
    assert params["step"][0] == pytest.approx(100 / 19, abs=1e-3)
    x = dataset.indicators[dataset.spec.indicators].to_numpy()
    draws = draw_noisy(x, params, np.random.default_rng(1), 4000, (-1e9, 1e9))
    assert (np.abs(draws[:, :, 0] - x[:, 0]) <= 100 / 19 / 2 + 0.005 + 1e-9).all()
    beijing = dataset.units.index("北京")  # dissemination 100: mean-preserving, cv 0.2
    d = draws[:, beijing, 1]
    assert d.mean() == pytest.approx(100, rel=0.02)
    assert d.std() / d.mean() == pytest.approx(0.2, rel=0.1)
    assert draws[:, :, 3].std(axis=0).mean() == pytest.approx(2.0, rel=0.05)


def test_noise_bootstrap_replicates_and_covariance(dataset):
    fold, scores = noise_bootstrap(dataset, {}, 500, seed=3)
    assert fold.overall.n == 500 and scores.shape == (500, 106)
    # rounding-only noise moves a composite by at most sum_i w_i h_i (h: each cell's half unit)
    from cityindex.sensitivity.engine import nominal_scores

    eff = dataset.spec.effective_weights().reindex(dataset.spec.indicators).to_numpy()
    bound = noise_parameters(dataset, {})["half"] @ eff
    assert (np.abs(scores - nominal_scores(dataset).to_numpy()) <= bound + 1e-9).all()
    # [index] decimals = 2 is the minimum printed precision: 杭州's social media "63.1" is
    # 63.10 +- 0.005, not +- 0.05; 南充's dissemination, printed with 3 decimals, is tighter
    assert bound.max() == pytest.approx(0.005) and bound.min() < 0.005


def test_resample_without_minmax_indicators_never_moves(tmp_path):
    ds = load_dataset(make_folder(tmp_path / "d", n_units=12, seed=2))  # normalisation "none"
    fold = resample_bootstrap(ds, 300, seed=1)
    hist = fold.overall
    assert (hist.minimum() == hist.maximum()).all()


def test_resample_rescaling_by_hand(dataset):
    from cityindex.sensitivity.sampler import block_rng

    fold = resample_bootstrap(dataset, 1, seed=5)
    x = dataset.indicators[dataset.spec.indicators].to_numpy()
    idx = block_rng(5, 2, 0).integers(0, 106, size=(1, 106))[0]
    sample = x[idx]
    minmax = [0, 1, 5]  # search, dissemination, attractiveness
    y = x.copy()
    for j in minmax:
        y[:, j] = 100 * (x[:, j] - sample[:, j].min()) / (sample[:, j].max() - sample[:, j].min())
    eff = dataset.spec.effective_weights().reindex(dataset.spec.indicators).to_numpy()
    from cityindex.rank import rank_desc

    expected = rank_desc(y @ eff)
    np.testing.assert_array_equal(fold.overall.counts.argmax(axis=1) + 1, expected)


def test_noise_section_validation(tmp_path):
    path = tmp_path / "a" / "r.toml"
    path.parent.mkdir()
    base = '[run]\ndata = "x"\nseed = 1\nsamples = 10\n[noise]\nreplicates = 100\n'
    path.write_text(base + 'search = { model = "normal" }\n')
    with pytest.raises(RunFileError, match=r"\[noise\].search.sd"):
        load_runfile(path)
    path.write_text(base + 'search = { model = "poisson" }\n')
    with pytest.raises(RunFileError, match="poisson"):
        load_runfile(path)


def test_grid_model_without_a_grid_is_a_run_file_error(dataset):
    with pytest.raises(ModelError, match=r"\[noise\].social_media"):
        noise_parameters(dataset, {"social_media": NoiseModel("grid")})
