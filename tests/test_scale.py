"""Large-index code paths against the exact ones, on indices small enough for both (issue 15),
and the Dask backend against the local one."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, ROOT

from cityindex import rank
from cityindex.rank import RankFolder, RankHistogram, rank_bins, rank_desc

sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture
def binned(monkeypatch):
    """Force rank bins on small indices: at most 16 bins per ranking."""
    monkeypatch.setattr(rank, "EXACT_CELLS", 0)
    monkeypatch.setattr(rank, "MIN_BINS", 16)


def test_rank_bins_split_at_tiers():
    edges = rank_bins(106, 16, (20, 30, 56))
    assert edges[0] == 1 and {21, 51} <= set(edges)
    upper = np.append(edges[1:] - 1, 106)
    assert (upper - edges + 1).max() == 7           # ceil(106 / 16)
    np.testing.assert_array_equal(rank_bins(10, 16), np.arange(1, 11))


@pytest.mark.parametrize("levels", [4, 10**9])
def test_binned_folder_is_the_exact_folder_summed_over_bins(levels):
    """Bins hold exactly the sums of the exact counts; min, max, means, counts near the focus
    and the shift's mean and max are exact; with ties (levels = 4) and without."""
    rng = np.random.default_rng(levels % 89)
    u = 37
    labels = rng.integers(-1, 3, u)
    other = rng.integers(0, 2, u)
    reference = rng.permutation(u) + 1
    focus = rng.permutation(u) + 1
    scores = np.floor(rng.uniform(0, levels, size=(2500, u)))
    exact = RankFolder(u, reference, [labels, other])
    binned = RankFolder(u, reference, [labels, other], tiers=(5, 10),
                        partition_tiers=[(3,), (4, 4)], focus=focus, max_bins=6)
    assert exact.exact and not binned.exact
    for chunk in np.array_split(scores, 5):
        exact.add(chunk)
        binned.add(chunk)
    hist = binned.overall
    lut = hist.lookup
    summed = np.zeros_like(hist.counts)
    np.add.at(summed.T, lut, exact.overall.counts.T)
    np.testing.assert_array_equal(hist.counts, summed)
    ref = exact.overall
    np.testing.assert_array_equal(hist.minimum(), ref.minimum())
    np.testing.assert_array_equal(hist.maximum(), ref.maximum())
    np.testing.assert_allclose(hist.mean(), ref.mean(), rtol=1e-12)
    for lo, hi in ((focus, focus), (focus - 2, focus + 2)):
        np.testing.assert_array_equal(hist.prob_between(lo, hi), ref.prob_between(lo, hi))
    np.testing.assert_array_equal(hist.tier_probabilities((5, 10)),
                                  ref.tier_probabilities((5, 10)))
    half = hist.max_width // 2
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert np.abs(hist.quantile(q) - ref.quantile(q)).max() <= half
    a, b = exact.shift_summary(), binned.shift_summary()
    assert a["max"] == b["max"] and abs(a["mean"] - b["mean"]) < 1e-12
    for key in ("p05", "median", "p95"):
        assert abs(a[key] - b[key]) <= 1 / (2 * rank.SHIFT_STEPS) + 1e-12
    assert a["histogram"] == b["histogram"]
    for p, (lab, tiers) in enumerate(zip([labels, other], [(3,), (4, 4)])):
        for g in np.unique(lab[lab >= 0]):
            members = np.flatnonzero(lab == g)
            e, h = exact.group_histogram(p, members), binned.group_histogram(p, members)
            np.testing.assert_array_equal(h.minimum(), e.minimum())
            np.testing.assert_array_equal(h.maximum(), e.maximum())
            np.testing.assert_array_equal(h.tier_probabilities(tiers),
                                          e.tier_probabilities(tiers))
            for q in (0.05, 0.5, 0.95):
                assert np.abs(h.quantile(q) - e.quantile(q)).max() <= h.max_width // 2


def test_within_group_ranks_with_many_groups_fall_back_to_a_sort():
    """40 groups need more than 63 bits of counters: the sort fallback, same counts."""
    rng = np.random.default_rng(5)
    u = 120
    labels = rng.integers(-1, 40, u)
    scores = rng.uniform(size=(700, u))
    folder = RankFolder(u, np.arange(1, u + 1), [labels])
    assert folder._within.fields == [None]
    folder.add(scores)
    for g in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == g)
        expected = RankHistogram(members.size)
        expected.add(rank_desc(scores[:, members]))
        np.testing.assert_array_equal(folder.group_histogram(0, members).counts,
                                      expected.counts)


def test_binned_monte_carlo_agrees_with_the_exact_one(dataset, monkeypatch):
    """The 2025 index through both paths (same scenarios): exact where the binned path says
    it is exact, quantiles within half a bin, the error stated in the summary."""
    from cityindex.model import UncertaintyModel
    from cityindex.sensitivity.montecarlo import run_montecarlo

    model = UncertaintyModel(samples=6000)
    exact = run_montecarlo(dataset, model, 11)
    monkeypatch.setattr(rank, "EXACT_CELLS", 0)
    monkeypatch.setattr(rank, "MIN_BINS", 16)
    coarse = run_montecarlo(dataset, model, 11)
    a, b = exact.ranks(), coarse.ranks()
    same = ["unit", "published_rank", "nominal_rank", "mean", "mc_min", "mc_max",
            "p_published_rank", "p_within_2", "p_tier_1", "p_tier_2", "p_tier_3",
            "p_published_tier", "tier_fragile"]
    for col in same:
        if a[col].dtype.kind == "f":
            np.testing.assert_allclose(b[col], a[col], rtol=1e-12, atol=0, err_msg=col)
        else:
            assert (a[col] == b[col]).all(), col
    width = coarse.folder.overall.max_width
    for col in ("median", "p05", "p25", "p75", "p95"):
        assert (b[col] - a[col]).abs().max() <= width // 2, col
    note = coarse.summary()["rank_histograms"]
    assert note["bin_width"] == width and f"at most {width // 2} ranks" in note["quantile_error"]
    assert "rank_histograms" not in exact.summary()
    acc = coarse.acceptability()
    assert list(acc.columns[:3]) == ["lens", "unit", "rank_1_7"]
    assert len(acc) == dataset.n_units
    np.testing.assert_allclose(acc.drop(columns=["lens", "unit"]).sum(axis=1), 1.0)
    ga, gb = exact.groups(), coarse.groups()
    for col in ("mc_min", "mc_max", "p_published_group_tier", "published_group_rank"):
        np.testing.assert_array_equal(ga[col], gb[col])
    assert (ga["median"] - gb["median"]).abs().max() <= width // 2


def test_backend_option_from_run_file_and_errors(tmp_path):
    from cityindex.app.runfile import load_runfile
    from cityindex.errors import RunFileError

    base = f'[run]\ndata = "{DATA}"\nseed = 1\nsamples = 100\n'
    ok = tmp_path / "ok.toml"
    ok.write_text(base + 'backend = "dask"\nscheduler = "tcp://127.0.0.1:8786"\n')
    rf = load_runfile(ok)
    assert (rf.backend.kind, rf.backend.scheduler) == ("dask", "tcp://127.0.0.1:8786")
    assert load_runfile(_write(tmp_path, "plain", base)).backend.kind == "local"
    for name, extra, key in (("kind", 'backend = "spark"', "[run].backend"),
                             ("lonely", 'scheduler = "tcp://x:1"', "[run].scheduler")):
        with pytest.raises(RunFileError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_runfile(_write(tmp_path, name, base + extra + "\n"))


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


RUN = """
[run]
data = "{data}"
seed = 3
samples = 12000

[normalisation]
choices = ["published", "rank"]

[leave_one_out]
enabled = true
"""


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())
            if p.suffix in (".csv", ".json") and p.name not in ("manifest.json", "run_log.json")}


@pytest.mark.parametrize("force_bins", [False, True])
def test_dask_run_is_byte_identical_to_the_local_run(tmp_path, monkeypatch, force_bins):
    """A LocalCluster of two workers: the same CSV and JSON bytes as the threads (exact
    histograms on the 2025 index; rank bins forced on a synthetic one)."""
    distributed = pytest.importorskip("dask.distributed")
    from cityindex.sensitivity.backends import Backend
    from cityindex.study import Study

    data = DATA
    if force_bins:
        from synthetic import make_index

        data = make_index(tmp_path / "synthetic", 300, seed=2)
        monkeypatch.setattr(rank, "EXACT_CELLS", 0)
        monkeypatch.setattr(rank, "MIN_BINS", 40)
    run = _write(tmp_path, "run", RUN.format(data=data))
    Study.from_runfile(run, chunk_blocks=1).run().write(tmp_path / "local", static=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        backend = Backend("dask", cluster.scheduler_address)
        audit = Study.from_runfile(run, chunk_blocks=1, backend=backend).run()
        audit.write(tmp_path / "dask", static=False)
    local, remote = _outputs(tmp_path / "local"), _outputs(tmp_path / "dask")
    assert local.keys() == remote.keys() and "ranks.csv" in local
    for name in local:
        assert local[name] == remote[name], name
    summary = json.loads(local["summary.json"])
    weights = summary["lenses"]["weights"]["montecarlo"]
    assert weights["scenarios"] == 12000
    assert ("rank_histograms" in weights) == force_bins
    assert ("in bins of up to" in summary["method"]["quantiles"]) == force_bins


def test_streamed_rank_sets_are_the_in_memory_ones(dataset, monkeypatch):
    """The pairs streamed in tiny blocks (forced on the 2025 index) give the same sets as
    the default path (one block at this size), for every family: the block boundaries."""
    from cityindex.model import NoiseSettings, RankCISettings
    from cityindex.sensitivity import confidence, rankci_stream
    from cityindex.sensitivity.noise import noise_bootstrap

    settings = NoiseSettings(300)
    _, scores = noise_bootstrap(dataset, settings.models, settings.replicates, 4)
    ci = RankCISettings(0.95, 200)
    ref = confidence.RankCIResult(dataset, scores, ci, 4)
    monkeypatch.setattr(confidence, "IN_MEMORY_ELEMENTS", 0)
    monkeypatch.setattr(rankci_stream, "BLOCK_ELEMENTS", 200 * 106 * 3)
    monkeypatch.setattr(rankci_stream, "PAIR_ROWS", 106 * 10)
    got = confidence.RankCIResult(dataset, scores, ci, 4)
    assert got.streamed and not ref.streamed
    assert ref.frame.equals(got.frame)
    assert ref.best.equals(got.best) and ref.worst.equals(got.worst)
    a, b = ref.summary(), got.summary()
    assert "computation" in b and {k: v for k, v in b.items() if k != "computation"} == a
    # the replicates' covariance and draws (large indices): same distribution, close sets
    monkeypatch.setattr(confidence, "FULL_COVARIANCE_UNITS", 0)
    other = confidence.RankCIResult(dataset, scores, ci, 4)
    np.testing.assert_allclose(other.frame["sd_composite"], ref.frame["sd_composite"],
                               rtol=1e-10)
    width = ref.frame["simultaneous_upper"] - ref.frame["simultaneous_lower"]
    width2 = other.frame["simultaneous_upper"] - other.frame["simultaneous_lower"]
    assert abs(width2.mean() - width.mean()) < 0.1 * width.mean() + 1


def test_streamed_sobol_estimates_equal_the_in_memory_ones(dataset, monkeypatch):
    """Sobol' indices of every rank with the base points streamed in small chunks (forced on
    the 2025 index) equal the in-memory estimates up to summation order."""
    from cityindex.model import SobolSettings, UncertaintyModel
    from cityindex.sensitivity import index_sobol, sobol_stream

    model = UncertaintyModel(normalisations=("published", "rank"))
    settings = SobolSettings(64, 30)
    ref, ref_conv, _ = index_sobol.index_sobol(dataset, model, settings, 3)
    monkeypatch.setattr(sobol_stream, "IN_MEMORY_ELEMENTS", 0)
    monkeypatch.setattr(sobol_stream, "CHUNK_ELEMENTS", 14 * 107 * 5)  # 5 base points
    got, got_conv, _ = index_sobol.index_sobol(dataset, model, settings, 3)
    for a, b in ((ref, got), (ref_conv, got_conv)):
        assert (a["note"] == b["note"]).all() and (a["unit"] == b["unit"]).all()
        for col in ("S1", "S1_conf", "ST", "ST_conf"):
            np.testing.assert_allclose(b[col], a[col], rtol=1e-8, atol=1e-10, err_msg=col)


@pytest.mark.parametrize("max_bins", [None, 5])
def test_near_ties_are_ordered_exactly(max_bins):
    """Scores 1e-13 apart share their sort keys' high bits: such rows are ordered exactly
    (and exact ties still rank "min"), in the exact and the binned folder alike."""
    from cityindex.rank import resolve_near_ties, sorted_order

    rng = np.random.default_rng(8)
    u = 13
    ulp = np.spacing(15.0)                                # distinct scores ulps apart
    steps = np.array([rng.choice(60, u, replace=False) for _ in range(400)])
    scores = 15.0 + ulp * steps
    scores[::7, 3] = scores[::7, 4]                       # some exact ties too
    order, tied = sorted_order(scores)
    assert tied.mean() > 0.5
    order, tied = resolve_near_ties(scores, order, tied)
    assert 0 < tied.sum() < 400 and (tied[::7]).all()
    labels = np.array([0, 1] * 6 + [-1])
    folder = RankFolder(u, np.arange(1, u + 1), [labels], max_bins=max_bins)
    folder.add(scores)
    ranks = rank_desc(scores)
    direct = RankHistogram(u)
    direct.add(ranks)
    if folder.exact:
        np.testing.assert_array_equal(folder.overall.counts, direct.counts)
    else:
        np.testing.assert_array_equal(folder.overall.minimum(), direct.minimum())
        np.testing.assert_allclose(folder.overall.mean(), direct.mean(), rtol=1e-12)
    for g in (0, 1):
        members = np.flatnonzero(labels == g)
        expected = RankHistogram(members.size)
        expected.add(rank_desc(scores[:, members]))
        got = folder.group_histogram(0, members)
        np.testing.assert_array_equal(got.maximum(), expected.maximum())
        if folder.exact:
            np.testing.assert_array_equal(got.counts, expected.counts)


def test_bounded_extremes_contain_the_exact_ones(dataset):
    """The large-index path (vertex bounds, MILPs only where the tier is undecided) on the
    2025 index: its bounds contain the exact best/worst ranks committed in
    reports/sensitivity/extremes.csv, its tier verdicts are the exact ones, and units it calls
    exact are."""
    import pandas as pd

    from cityindex.sensitivity.extremes import extreme_ranks

    exact = pd.read_csv(ROOT / "reports" / "sensitivity" / "extremes.csv")
    got = extreme_ranks(dataset, 0.25, workers=1, scope="undecided")
    assert list(got["unit"]) == list(exact["unit"])
    assert (got["best_bound"] <= exact["best"]).all() and (exact["best"] <= got["best"]).all()
    assert (got["worst"] <= exact["worst"]).all()
    assert (exact["worst"] <= got["worst_bound"]).all()
    assert (got["tier_guaranteed"] == exact["tier_guaranteed"]).all()
    done = (got["best"] == got["best_bound"]) & (got["worst"] == got["worst_bound"])
    assert (got.loc[done, "best"] == exact.loc[done, "best"]).all()
    assert (got.loc[done, "worst"] == exact.loc[done, "worst"]).all()
    scope = got.attrs["scope"]
    assert 0 < scope["units_with_milp"] < len(got) and scope["undecided_beyond_cap"] == 0


def test_grid_candidates_dropped_early_keep_exact_counts():
    """quantisation._coverage_counts (candidates dropped once their misses rule out the
    coverage) against the full candidates x values count: exact for every candidate that
    reaches the coverage, below it for the others."""
    from cityindex import quantisation

    rng = np.random.default_rng(0)
    for _ in range(12):
        n = int(rng.integers(50, 1500))
        v = np.round(rng.integers(0, 300, n) * rng.choice([0.5, 1 / 3, 2.5, 0.1]), 2)
        noise = rng.random(n) < rng.uniform(0, 0.15)
        v[noise] = np.round(rng.uniform(0, 100, noise.sum()), 2)
        tol = np.full(n, 0.005 + 1e-9)
        positive = np.unique(v[v > 0])[:128]
        cands = np.unique(np.round((positive[:, None] / np.arange(1, 201)).ravel(), 9))
        full = (np.abs(v - cands[:, None] * np.round(v / cands[:, None])) <= tol).sum(axis=1)
        for coverage in (0.9, 0.5):
            got = quantisation._coverage_counts(v, tol, cands, coverage)
            reach = full >= np.ceil(coverage * n - 1e-9)
            assert reach.any()
            np.testing.assert_array_equal(got[reach], full[reach])
            assert (got[~reach] < np.ceil(coverage * n - 1e-9)).all()


def test_flipped_units_match_the_pairwise_definition(monkeypatch):
    """audit._flipped (stretches of the published order, blocks of units at once) against
    the definition unit by unit: published above i but scored at most as high, or below but
    at least as high; reasons checked in order for each such unit; shared published ranks."""
    import importlib

    from cityindex.audit import FLIP_REASONS, _flipped
    from cityindex.rank import rank_desc

    monkeypatch.setattr(importlib.import_module("cityindex.audit"), "FLIP_BLOCK", 7)

    rng = np.random.default_rng(5)
    for _ in range(20):
        u = int(rng.integers(5, 200))
        s = np.round(rng.normal(size=u), 1)                   # ties
        pub = rank_desc(s + rng.normal(scale=0.08, size=u))   # published with local swaps
        pub[rng.integers(0, u, 3)] = pub[0]                   # some shared published ranks
        pub[rng.integers(0, u)] = 1                           # one far off
        tol = np.full(u, 0.05)
        err = rng.random(u) < 0.05
        diff = np.flatnonzero(rank_desc(s) != pub)
        flipped, reasons = _flipped(s, tol, pub, err, diff)
        for k, i in enumerate(diff):
            j = np.flatnonzero(((pub < pub[i]) & (s <= s[i])) | ((pub > pub[i]) & (s >= s[i])))
            j = j[j != i]
            why = set()
            for m in j:
                why.add(FLIP_REASONS[0] if err[i] or err[m] else FLIP_REASONS[1]
                        if s[i] == s[m] else FLIP_REASONS[2]
                        if abs(s[i] - s[m]) <= tol[i] + tol[m] else FLIP_REASONS[3])
            shared = np.flatnonzero(pub == pub[i])
            if shared.size > 1:
                apart = any(m != i and abs(s[i] - s[m]) > tol[i] + tol[m] for m in shared)
                why.add(FLIP_REASONS[3] if apart
                        else "shared published rank (a tie in the published scores)")
                j = np.union1d(j, shared[shared != i])
            np.testing.assert_array_equal(flipped[k], j)
            assert reasons[k] == why


def test_score_and_fold_slices_do_not_change_the_counts(dataset, monkeypatch):
    """Large indices score SCORE_ELEMENTS and fold FOLD_ELEMENTS / BINNED_SLICE_ELEMENTS
    scores at a time: other slice sizes (forced small here, binned path) give the same
    counts."""
    from cityindex.model import UncertaintyModel
    from cityindex.sensitivity import folding
    from cityindex.sensitivity.montecarlo import run_montecarlo

    monkeypatch.setattr(rank, "EXACT_CELLS", 0)
    monkeypatch.setattr(rank, "MIN_BINS", 16)
    model = UncertaintyModel(samples=3000)
    runs = []
    for score, fold, binned in ((1 << 19, 1 << 21, 1 << 21), (106 * 7, 106 * 30, 106 * 13),
                                (106 * 5, 106 * 5, 106 * 2)):
        monkeypatch.setattr(folding, "SCORE_ELEMENTS", score)
        monkeypatch.setattr(folding, "FOLD_ELEMENTS", fold)
        monkeypatch.setattr(rank, "BINNED_SLICE_ELEMENTS", binned)
        f = run_montecarlo(dataset, model, 5).folder
        h = f.overall
        runs.append([h.counts, h.low, h.high, h.total, h.near, f.shift_counts,
                     *f.partition_counts, f._plow, f._phigh, f._ptotal])
    for other in runs[1:]:
        for x, y in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(x, y)
