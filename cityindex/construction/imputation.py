"""Imputation operators: what a node's value becomes for a unit where it is missing.

A node is missing for a unit when none of its children is available (or an exception in
``exceptions.csv`` says ``treat = missing``). Its rule (``impute`` in the spec) then fills the
value from the units where it is present, computed in the same scenario (so a perturbed
weighting re-imputes from the perturbed scores, as the publisher's procedure would):

``none``        left missing: the parent reweights its available children.
``mean``        the mean over the units where the node is present.
``median``      their median.
``group_mean``  the mean over the present units of the same group (``impute_by``, a units.csv
                column), e.g. the regional mean the Sustainable Development Report uses for a
                missing goal; a group with no present unit leaves the value missing.
``zero``        0 (a missing value counts as the worst possible on a 0-based scale).

Units marked ``not_applicable`` for the node are never imputed (and never count as present).
Source: OECD/JRC (2008), Handbook on Constructing Composite Indicators, section 4 (single
imputation by unconditional or group means); the assumption, stated in the report, is that a
missing value is like the present values of its group (missing at random within groups).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cityindex.construction.registry import Registry


@dataclass(frozen=True)
class Imputation:
    name: str
    fill: Callable[[np.ndarray, np.ndarray, np.ndarray | None], np.ndarray] | None
    needs_group: bool
    label: str


IMPUTATIONS: Registry[Imputation] = Registry("imputation")


def _mean(values: np.ndarray, present: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """(..., U) values, (U,) present -> (..., 1) fill value."""
    n = present.sum()
    if n == 0:
        return np.full((*values.shape[:-1], 1), np.nan)
    return (np.where(present, values, 0.0).sum(axis=-1, keepdims=True) / n)


def _median(values: np.ndarray, present: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    if not present.any():
        return np.full((*values.shape[:-1], 1), np.nan)
    return np.median(values[..., present], axis=-1, keepdims=True)


def _group_mean(values: np.ndarray, present: np.ndarray, groups: np.ndarray | None
                ) -> np.ndarray:
    """(..., U): each unit's group mean over the present units of its group (NaN where the
    group has none)."""
    assert groups is not None
    n_groups = int(groups.max()) + 1 if groups.size else 0
    onehot = np.zeros((groups.size, n_groups))
    onehot[np.arange(groups.size), groups] = 1.0
    counts = present.astype(float) @ onehot                         # (G,)
    sums = np.where(present, values, 0.0) @ onehot                  # (..., G)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1.0), np.nan)
    return means[..., groups]


def _zero(values: np.ndarray, present: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    return np.zeros((*values.shape[:-1], 1))


for _op in (
    Imputation("none", None, False, "left missing (siblings reweighted)"),
    Imputation("mean", _mean, False, "mean of the units with a value"),
    Imputation("median", _median, False, "median of the units with a value"),
    Imputation("group_mean", _group_mean, True, "mean of the unit's group"),
    Imputation("zero", _zero, False, "zero"),
):
    IMPUTATIONS.register(_op.name, _op)


def impute(rule: Imputation, values: np.ndarray, present: np.ndarray, fill_at: np.ndarray,
           groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``values`` (..., U) at ``fill_at`` (U,) by ``rule`` from the ``present`` (U,)
    units; returns the values and the units now available (present or filled)."""
    if rule.fill is None or not fill_at.any():
        return values, present
    filler = np.broadcast_to(rule.fill(values, present, groups), values.shape)
    filled = fill_at & ~np.isnan(filler).reshape(-1, filler.shape[-1]).any(axis=0)
    return np.where(filled, filler, values), present | filled
