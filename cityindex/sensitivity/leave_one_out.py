"""Leave-one-indicator-out: one deterministic scenario per indicator.

The indicator's weight is set to zero and its siblings are renormalised to sum to 1; a node
left with no weighted child is itself removed the same way, up the tree. The composite is then
recomputed with the published method (published normalisation, each node's own aggregation)
and the units re-ranked (ties "min"). This is the "exclusion of one indicator at a time" scenario of
the OECD/JRC Handbook (2008, section 7.1) and of Saisana et al. (2005).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cityindex.data import Dataset
from cityindex.errors import ComputationError
from cityindex.rank import rank_desc
from cityindex.result import Result
from cityindex.sensitivity.engine import composite, nominal_ranks, published_ranks
from cityindex.spec import Spec
from cityindex.vocabulary import unit_label


def drop_indicator(spec: Spec, weights: np.ndarray, indicator: str) -> None:
    """In place, on (rows, weighted nodes) node weights: zero ``indicator``'s weight in every
    row and renormalise its siblings; a parent left with no weight is dropped the same way, up
    the tree."""
    col = {n: j for j, n in enumerate(spec.weighted_nodes)}
    node = indicator
    while node != spec.root:
        weights[:, col[node]] = 0.0
        parent = spec.nodes[node].parent
        kids = [col[k] for k in spec.children(parent)]
        total = weights[:, kids].sum(axis=1, keepdims=True)
        if (total > 0).all():
            weights[:, kids] /= total
            return
        node = parent
    raise ComputationError(f"leaving out indicator '{indicator}'",
                           "no weighted indicator would be left",
                           "an index with at least two weighted indicators (or "
                           "[leave_one_out] enabled = false)")


def weights_without(spec: Spec, indicator: str) -> pd.Series:
    """Node weights with ``indicator`` removed and siblings renormalised (recursively)."""
    w = spec.nominal_weights().reindex(spec.weighted_nodes)
    values = w.to_numpy(dtype=float)[None, :].copy()
    drop_indicator(spec, values, indicator)
    return pd.Series(values[0], index=w.index)


def leave_one_out(ds: Dataset) -> pd.DataFrame:
    """One row per unit: nominal rank, rank without each indicator, and the shift
    (rank without - nominal rank; positive = the unit falls)."""
    spec = ds.spec
    nominal = nominal_ranks(ds)
    df = pd.DataFrame({
        "unit": ds.units,
        "published_rank": published_ranks(ds),
        "nominal_rank": nominal,
    })
    shifts, columns = [], {}
    for ind in spec.indicators:
        w = weights_without(spec, ind).to_numpy()
        ranks = rank_desc(composite(ds, w))
        columns[f"rank_without_{ind}"] = ranks
        columns[f"shift_without_{ind}"] = ranks - nominal
        shifts.append(ranks - nominal)
    columns["max_abs_shift"] = np.abs(np.column_stack(shifts)).max(axis=1)
    return pd.concat([df, pd.DataFrame(columns)], axis=1)


def leave_one_out_summary(table: pd.DataFrame, indicators: list[str]) -> dict:
    """Per indicator: mean absolute rank shift and the largest move, for summary.json."""
    out = {}
    for ind in indicators:
        s = table[f"shift_without_{ind}"]
        i = int(np.argmax(np.abs(s.to_numpy())))
        out[ind] = {"mean_abs_shift": float(np.abs(s).mean()),
                    "units_moved": int((s != 0).sum()),
                    "largest_move": {"unit": table["unit"].iloc[i], "shift": int(s.iloc[i])}}
    return out


class LeaveOneOutResult(Result):
    """Each indicator left out in turn (leave_one_out.csv)."""

    name = "leave_one_out"

    def __init__(self, ds: Dataset) -> None:
        self.dataset = ds
        self.frame = leave_one_out(ds)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"leave_one_out": self.frame}

    def summary(self) -> dict:
        return leave_one_out_summary(self.frame, self.dataset.spec.indicators)

    def title(self) -> str:
        return "rank shift with each indicator left out (nominal weights)"

    def chart(self):
        """One dot per unit and indicator left out: the rank shift against the nominal
        ranking (positive = the unit falls)."""
        import altair as alt

        spec = self.dataset.spec
        long = pd.DataFrame([
            {"unit": unit_label(self.dataset, u), "left out": _node_words(spec, ind),
             "shift": int(s), "nominal rank": int(r)}
            for ind in spec.indicators
            for u, s, r in zip(self.frame["unit"], self.frame[f"shift_without_{ind}"],
                               self.frame["nominal_rank"])])
        order = [_node_words(spec, i) for i in spec.indicators]
        return alt.Chart(long).mark_circle(size=28, opacity=0.55).encode(
            x=alt.X("shift:Q", title="rank shift (positive = falls)"),
            y=alt.Y("left out:N", sort=order, title=None, axis=alt.Axis(labelLimit=260)),
            tooltip=["unit:N", "left out:N", "shift:Q", "nominal rank:Q"]).properties(
            width=360, title=self.title())


def _node_words(spec: Spec, node: str) -> str:
    """An indicator's English label, else its spec label, else its id."""
    n = spec.nodes[node]
    return n.label_en or spec.label(node) or node
