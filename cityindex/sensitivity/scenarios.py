"""Deterministic alternative constructions, for side-by-side comparison with the published
ranking: each normalisation with arithmetic aggregation, geometric aggregation of the published
scores, and each indicator left out (nominal weights throughout)."""

from __future__ import annotations

import pandas as pd

from cityindex.data import Dataset
from cityindex.rank import rank_desc
from cityindex.runfile import RunConfig
from cityindex.score import NORMALISATION_CHOICES, aggregate, normalise
from cityindex.sensitivity.leave_one_out import weights_without


def scenario_ranks(ds: Dataset, cfg: RunConfig) -> pd.DataFrame:
    """scenarios.csv (long): unit, scenario, rank, published_rank, shift (rank - published)."""
    spec = ds.spec
    x = ds.indicators[spec.indicators].to_numpy()
    eff = spec.effective_weights().reindex(spec.indicators).to_numpy()
    published = ds.published_ranks[spec.root].to_numpy(dtype=int)
    rows = {}
    for method in NORMALISATION_CHOICES:
        rows[f"{method} normalisation"] = aggregate(normalise(x, method, spec.scale), eff)
    rows["geometric aggregation"] = aggregate(x, eff, "geometric", cfg.geometric_offset)
    for ind in spec.indicators:
        w = spec.effective_weights(weights_without(spec, ind)).reindex(spec.indicators)
        rows[f"without {ind}"] = aggregate(x, w.to_numpy())
    frames = []
    for name, scores in rows.items():
        ranks = rank_desc(scores)
        frames.append(pd.DataFrame({"unit": ds.units, "scenario": name, "rank": ranks,
                                    "published_rank": published,
                                    "shift": ranks - published}))
    return pd.concat(frames, ignore_index=True)
