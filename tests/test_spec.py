from __future__ import annotations

import numpy as np
import pytest
from conftest import DATA
from synth import SMALL_SPEC

from cityindex.errors import SpecError
from cityindex.spec import load_spec, tier_of_rank


def test_city_spec_tree_and_effective_weights():
    spec = load_spec(DATA / "spec.toml")
    assert spec.indicators == ["search", "dissemination", "mainstream_media", "social_media",
                               "favorability", "attractiveness"]
    assert spec.aggregates == ["communication", "influence", "recognition", "image"]
    eff = spec.effective_weights()
    # Table 1: 30% x (30%, 70%), 50% x (30%, 70%), 20% x (60%, 40%)
    expected = [0.3 * 0.3, 0.3 * 0.7, 0.5 * 0.3, 0.5 * 0.7, 0.2 * 0.6, 0.2 * 0.4]
    np.testing.assert_allclose(eff.to_numpy(), expected, rtol=0, atol=1e-15)
    assert eff.sum() == pytest.approx(1.0)
    m = spec.weight_matrix()
    np.testing.assert_allclose(m.loc["communication", ["search", "dissemination"]], [0.3, 0.7])
    assert m.loc["communication", "social_media"] == 0
    assert spec.tiers == (20, 30, 56)


DEEP_SPEC = """
[index]
root = "r"
tiers = [1]
[nodes.r]
[nodes.a]
parent = "r"
weight = 0.5
[nodes.b]
parent = "r"
weight = 0.5
[nodes.a1]
parent = "a"
weight = 0.2
normalisation = "none"
[nodes.a2]
parent = "a"
weight = 0.8
[nodes.a2x]
parent = "a2"
weight = 0.25
normalisation = "none"
[nodes.a2y]
parent = "a2"
weight = 0.75
normalisation = "none"
[nodes.b1]
parent = "b"
weight = 1.0
normalisation = "none"
"""


def test_deeper_tree_effective_weights(tmp_path):
    (tmp_path / "deep.toml").write_text(DEEP_SPEC)
    spec = load_spec(tmp_path / "deep.toml")
    eff = spec.effective_weights()
    assert eff["a2x"] == pytest.approx(0.5 * 0.8 * 0.25)
    assert eff["a2y"] == pytest.approx(0.5 * 0.8 * 0.75)
    assert eff["a1"] == pytest.approx(0.1)
    assert eff["b1"] == pytest.approx(0.5)
    assert spec.aggregates.index("a2") < spec.aggregates.index("a") < spec.aggregates.index("r")


def test_invalid_toml_is_a_spec_error(tmp_path):
    (tmp_path / "bad.toml").write_text(DEEP_SPEC + "[nodes.a1]\n")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_spec(tmp_path / "bad.toml")


@pytest.mark.parametrize("old,new,message", [
    ("weight = 0.6", "weight = 0.7", "sum to 1.1"),
    ("weight = 0.6", "weight = -0.6", "between 0 and 1"),
    ('parent = "a"\nweight = 0.25', 'parent = "zz"\nweight = 0.25', "unknown node 'zz'"),
    ('normalisation = "none"', 'normalisation = "log"', "normalisation"),
    ('root = "total"', 'root = "nothere"', "root 'nothere'"),
    ("tiers = [2, 3]", "tiers = [2, -3]", "positive integers"),
])
def test_spec_validation_names_the_key(tmp_path, old, new, message):
    (tmp_path / "spec.toml").write_text(SMALL_SPEC.replace(old, new, 1))
    with pytest.raises(SpecError, match=message) as info:
        load_spec(tmp_path / "spec.toml")
    assert "spec.toml" in str(info.value)


def test_spec_cycle_detected(tmp_path):
    text = SMALL_SPEC.replace('[nodes.a]\nparent = "total"', '[nodes.a]\nparent = "x1"')
    (tmp_path / "spec.toml").write_text(text)
    with pytest.raises(SpecError, match="cycle"):
        load_spec(tmp_path / "spec.toml")


def test_tier_of_rank():
    ranks = np.array([1, 20, 21, 50, 51, 106])
    np.testing.assert_array_equal(tier_of_rank(ranks, (20, 30, 56)), [1, 1, 2, 2, 3, 3])
    # sizes that do not cover every rank: the rest form one more tier
    np.testing.assert_array_equal(tier_of_rank(np.array([10, 11, 30, 31, 71]), (10, 20)),
                                  [1, 2, 2, 3, 3])
