"""Outlier treatment of raw indicator values (before normalisation).

``none``       the values as given.
``winsorise``  the JRC/COINr default (COINr ``Treat()`` / ``qTreat()``, defaults winmax = 5,
               skew_thresh = 2, kurt_thresh = 3.5; OECD/JRC 2008 Handbook, section 4): an
               indicator with |skewness| > 2 *and* kurtosis > 3.5 has its most extreme value on
               the skewed side replaced by the next one, one point at a time, up to 5 points,
               until it is within the thresholds; if 5 points do not suffice, the winsorisation
               is undone and the values are log-transformed instead, log(v - min + 1) (COINr's
               ``log_CT``, for positive skew; reflected for negative skew). Skewness and
               kurtosis are the sample statistics with the small-sample adjustment (as Excel's
               SKEW and KURT, which COINr's ``skew()`` and ``kurt()`` follow; kurtosis is
               excess kurtosis).
``cap``        fixed caps ``cap = [lo, hi]`` in raw units, or percentile caps
               ``cap_percentiles = [p_lo, p_hi]`` (percent of the units present).
The assumption, stated in the report: extreme values are to be damped, not errors to fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cityindex.construction.registry import Registry

TREATMENTS: Registry[str] = Registry("treatment")
for _name, _label in (("none", "none"), ("winsorise", "winsorisation (COINr default rule)"),
                      ("cap", "fixed caps")):
    TREATMENTS.register(_name, _label)

WINMAX, SKEW_THRESH, KURT_THRESH = 5, 2.0, 3.5


@dataclass(frozen=True)
class Treated:
    values: np.ndarray
    method: str        # what was applied: none | winsorised | log | capped
    points: int        # values changed
    detail: str


def skew_kurt(v: np.ndarray) -> tuple[float, float]:
    """Adjusted sample skewness and excess kurtosis (Excel's SKEW and KURT)."""
    x = v[np.isfinite(v)]
    n = x.size
    if n < 4:
        return 0.0, 0.0
    s = x.std(ddof=1)
    if s == 0:
        return 0.0, 0.0
    z = (x - x.mean()) / s
    skew = n / ((n - 1) * (n - 2)) * (z ** 3).sum()
    kurt = (n * (n + 1) / ((n - 1) * (n - 2) * (n - 3)) * (z ** 4).sum()
            - 3 * (n - 1) ** 2 / ((n - 2) * (n - 3)))
    return float(skew), float(kurt)


def _outlying(v: np.ndarray) -> bool:
    skew, kurt = skew_kurt(v)
    return abs(skew) > SKEW_THRESH and kurt > KURT_THRESH


def winsorise(values: np.ndarray) -> Treated:
    v = np.asarray(values, dtype=float).copy()
    if not _outlying(v):
        return Treated(v, "none", 0, "within the skewness/kurtosis thresholds")
    original = v.copy()
    finite = np.flatnonzero(np.isfinite(v))
    for k in range(1, WINMAX + 1):
        skew, _ = skew_kurt(v)
        vals = v[finite]
        order = np.argsort(vals, kind="stable")
        if skew > 0:   # replace the highest by the next highest
            v[finite[order[-1]]] = vals[order[-2]]
        else:
            v[finite[order[0]]] = vals[order[1]]
        if not _outlying(v):
            changed = int((v != original)[finite].sum())
            return Treated(v, "winsorised", changed, f"{k} point(s) winsorised")
    skew, _ = skew_kurt(original)
    x = original
    lo, hi = np.nanmin(x), np.nanmax(x)
    logged = np.log(x - lo + 1.0) if skew > 0 else -np.log(hi - x + 1.0)
    return Treated(logged, "log", int(np.isfinite(x).sum()),
                   f"{WINMAX} points did not suffice: log(v - min + 1) instead")


def cap(values: np.ndarray, lo: float, hi: float) -> Treated:
    v = np.asarray(values, dtype=float)
    out = np.clip(v, lo, hi)
    changed = int(((out != v) & np.isfinite(v)).sum())
    return Treated(out, "capped" if changed else "none", changed, f"capped to [{lo:g}, {hi:g}]")


def treat(values: np.ndarray, method: str, caps: tuple[float, float] | None = None,
          percentiles: tuple[float, float] | None = None) -> Treated:
    """Apply one indicator's declared treatment (see the module docstring)."""
    if method == "winsorise":
        return winsorise(values)
    if method == "cap":
        if percentiles is not None:
            lo, hi = np.nanpercentile(values, percentiles)
            return cap(values, float(lo), float(hi))
        assert caps is not None
        return cap(values, *caps)
    v = np.asarray(values, dtype=float)
    return Treated(v, "none", 0, "no treatment declared")
