"""The compiled folding kernels (cityindex.kernels) against the numpy path: the same integer
state after folding the same scores, exact and binned, with exact ties, near ties, units in
no group and partitions too large for packed counters."""

from __future__ import annotations

import numpy as np
import pytest

from cityindex import kernels
from cityindex.rank import RankFolder

pytestmark = pytest.mark.skipif(not kernels.enabled(), reason="numba not installed")


def test_a_kernel_that_fails_to_compile_falls_back_to_numpy_loudly(monkeypatch):
    def broken() -> None:
        raise RuntimeError("LLVM says no")

    monkeypatch.setattr(kernels, "_warm_up", broken)
    kernels._usable.cache_clear()
    try:
        with pytest.warns(UserWarning, match="LLVM says no.*numpy path"):
            assert not kernels.enabled()
    finally:
        kernels._usable.cache_clear()


def _state(folder: RankFolder) -> dict[str, np.ndarray]:
    out = {"overall": folder.overall.counts, "partitions": folder._pcounts,
           "shifts": folder.shift_counts}
    if not folder.exact:
        h = folder.overall
        out.update(low=h.low, high=h.high, total=h.total, near=h.near, plow=folder._plow,
                   phigh=folder._phigh, ptotal=folder._ptotal,
                   shift_total=np.array(folder.shift_total),
                   shift_max=np.array(folder.shift_max))
    return {k: np.array(v, copy=True) for k, v in out.items()}


def _fold(monkeypatch, mode: str, scores: np.ndarray, make) -> tuple[dict, np.ndarray]:
    monkeypatch.setenv("CITYINDEX_KERNELS", mode)
    assert kernels.enabled() == (mode == "numba")
    folder = make()
    shifts = np.concatenate([folder.add(c) for c in np.array_split(scores, 5)])
    return _state(folder), shifts


def _scores(rng, rows: int, u: int) -> np.ndarray:
    """Distinct scores, with rows of exact ties and rows of near ties (1 ulp apart)."""
    s = rng.normal(size=(rows, u))
    s[::7] = np.floor(s[::7] * 2)                        # exact ties
    near = s[3::11]
    near[:, 1] = np.nextafter(near[:, 0], np.inf)         # a near tie, strictly ordered
    s[3::11] = near
    return s


@pytest.mark.parametrize("max_bins", [None, 9])
def test_compiled_fold_equals_numpy(monkeypatch, max_bins):
    rng = np.random.default_rng(11)
    u = 80
    region = rng.integers(-1, 6, size=u)                 # -1: in no group
    capital = (rng.random(u) < 0.3).astype(np.int64)
    many = np.arange(u) // 2                              # 40 groups x 2 bits: not packable
    reference = rng.permutation(u) + 1
    focus = rng.permutation(u) + 1
    parts = [region, capital, many]
    packed, _ = kernels.packed_counters(kernels.group_labels(parts, u))
    assert packed.tolist() == [True, True, False]         # both kernel paths run
    scores = _scores(rng, 1500, u)

    def make() -> RankFolder:
        return RankFolder(u, reference, parts, tiers=(10, 20),
                          partition_tiers=[(2,), (1,), (1,)], focus=focus,
                          max_bins=max_bins)

    assert make().exact == (max_bins is None)
    fast, fast_shifts = _fold(monkeypatch, "numba", scores, make)
    slow, slow_shifts = _fold(monkeypatch, "numpy", scores, make)
    np.testing.assert_array_equal(fast_shifts, slow_shifts)
    assert fast.keys() == slow.keys()
    for name in fast:
        np.testing.assert_array_equal(fast[name], slow[name], err_msg=name)
    assert fast["overall"].sum() == 1500 * u


def test_monte_carlo_outputs_do_not_depend_on_the_kernels(monkeypatch, dataset):
    """The 2025 index (three report groupings) through both paths: the same tables."""
    import cityindex as ci
    from cityindex.sensitivity import montecarlo

    model = ci.UncertaintyModel(samples=6000)
    tables = {}
    for mode in ("numba", "numpy"):
        monkeypatch.setenv("CITYINDEX_KERNELS", mode)
        res = montecarlo.run_montecarlo(dataset, model, 5, chunk_blocks=1)
        tables[mode] = (res.ranks().to_csv(), res.groups().to_csv(),
                        res.acceptability().to_csv(), str(res.summary()))
    assert tables["numba"] == tables["numpy"]


def test_sorted_keys_is_sorted_order():
    from cityindex.rank import sorted_order

    rng = np.random.default_rng(2)
    s = _scores(rng, 400, 37)
    keys, mask, skip = kernels.sorted_keys(s)
    order, maybe_tied = sorted_order(s)
    np.testing.assert_array_equal(keys & mask, order)
    np.testing.assert_array_equal(skip, maybe_tied)
    assert skip[::7].all()                                 # the rows of exact ties
    with pytest.raises(ValueError, match="NaN"):
        kernels.sorted_keys(np.array([[1.0, np.nan]]))
