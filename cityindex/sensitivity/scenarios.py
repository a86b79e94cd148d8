"""Deterministic alternative constructions, for side-by-side comparison with the published
ranking: each normalisation with the index's own aggregation, arithmetic (when the index is not
arithmetic everywhere) and geometric aggregation at every node of the published scores, and
each indicator left out (nominal weights throughout)."""

from __future__ import annotations

import pandas as pd

from cityindex.data import Dataset
from cityindex.rank import rank_desc
from cityindex.result import Result
from cityindex.score import DEFAULT_GEOMETRIC_OFFSET, NORMALISATION_CHOICES
from cityindex.sensitivity.engine import construction_scores, published_ranks
from cityindex.sensitivity.leave_one_out import leave_one_out


def scenario_ranks(ds: Dataset, geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET,
                   loo: pd.DataFrame | None = None) -> pd.DataFrame:
    """scenarios.csv (long): unit, scenario, rank, published_rank, shift (rank - published).
    ``loo`` is the :func:`leave_one_out` table when the caller already has it."""
    spec = ds.spec
    published = published_ranks(ds)
    rows = {}
    for method in NORMALISATION_CHOICES:
        rows[f"{method} normalisation"] = construction_scores(ds, method, "published")
    if not spec.linear:
        rows["arithmetic aggregation"] = construction_scores(ds, "published", "arithmetic")
    rows["geometric aggregation"] = construction_scores(ds, "published", "geometric",
                                                        geometric_offset)
    ranks_by = {name: rank_desc(scores) for name, scores in rows.items()}
    loo = leave_one_out(ds) if loo is None else loo
    for ind in spec.indicators:
        ranks_by[f"without {ind}"] = loo[f"rank_without_{ind}"].to_numpy()
    frames = []
    for name, ranks in ranks_by.items():
        frames.append(pd.DataFrame({"unit": ds.units, "scenario": name, "rank": ranks,
                                    "published_rank": published,
                                    "shift": ranks - published}))
    return pd.concat(frames, ignore_index=True)


class ScenariosResult(Result):
    """Named alternative constructions side by side (scenarios.csv)."""

    name = "scenarios"

    def __init__(self, ds: Dataset, geometric_offset: float = DEFAULT_GEOMETRIC_OFFSET,
                 loo: pd.DataFrame | None = None) -> None:
        self.dataset = ds
        self.frame = scenario_ranks(ds, geometric_offset, loo)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"scenarios": self.frame}

    def chart(self, ranks: pd.DataFrame | None = None):
        from cityindex.report import charts

        return charts.scenario_dots(self.frame, ranks)
