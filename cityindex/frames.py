"""A dataset from DataFrames, and a dataset back to a data folder.

COINr's ``new_coin(iData, iMeta)`` builds an index from two data frames; here
:func:`dataset_from_frames` writes the frames as the data contract (spec.toml and CSVs) into a
staging folder and loads it with :func:`cityindex.data.load_dataset`, so a dataset built in a
notebook is validated by exactly the code that validates a folder, and its error messages
name the same keys and cells. :func:`write_folder` writes a dataset's source files back (byte
for byte those it was loaded from).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from cityindex.errors import DataError, SpecError

SOURCE_FILES = ("spec.toml", "indicators.csv", "raw.csv", "published.csv", "units.csv",
                "cities.csv", "exceptions.csv", "subtables.csv", "claims.csv", "SOURCES.md")
NODE_COLUMNS = ("parent", "weight", "label_zh", "label_en", "source", "normalisation",
                "goalposts", "transform", "direction", "aggregation", "p", "impute",
                "impute_by", "treatment", "cap", "cap_percentiles")


def read_sources(folder: Path) -> dict[str, bytes]:
    """The data contract's files present in ``folder``, as bytes."""
    return {name: (folder / name).read_bytes() for name in SOURCE_FILES
            if (folder / name).is_file()}


def _toml_value(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(where, f"found {value!r}", "a finite number")
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise DataError(where, f"found {value!r}", "a string, number, boolean or list")


def _spec_text(tree: pd.DataFrame, index: dict) -> str:
    """spec.toml from a node table (one row per node: ``id`` or the index, ``parent``,
    ``weight`` and any node key) and the ``[index]`` keys."""
    t = tree.copy()
    if "id" in t.columns:
        t = t.set_index("id")
    unknown = [c for c in t.columns if c not in NODE_COLUMNS]
    if unknown:
        raise DataError(f"tree column '{unknown[0]}'", "an unknown node key",
                        f"node keys among {list(NODE_COLUMNS)}")
    roots = [str(n) for n, row in t.iterrows()
             if "parent" not in t.columns or pd.isna(row.get("parent"))]
    index = {"root": roots[0] if len(roots) == 1 else None, **index}
    index = {k: v for k, v in index.items() if v is not None}
    lines = ["[index]"] + [f"{k} = {_toml_value(v, f'index {k}')}" for k, v in index.items()]
    for node, row in t.iterrows():
        lines += ["", f'[nodes."{node}"]']
        for key, value in row.items():
            if isinstance(value, list | tuple) or not pd.isna(value):
                if isinstance(value, float) and key != "weight" and value.is_integer() \
                        and key not in ("p",):
                    value = int(value)
                lines.append(f"{key} = {_toml_value(value, f'tree {node}.{key}')}")
    return "\n".join(lines) + "\n"


def _csv(frame: pd.DataFrame) -> bytes:
    f = frame.copy()
    if "unit" not in f.columns:
        f = f.rename_axis("unit").reset_index()
    return f.to_csv(index=False, lineterminator="\n", float_format=None).encode("utf-8")


def dataset_from_frames(indicators: pd.DataFrame | None, tree: pd.DataFrame,
                        published: pd.DataFrame | None = None,
                        units: pd.DataFrame | None = None, raw: pd.DataFrame | None = None,
                        exceptions: pd.DataFrame | None = None, index: dict | None = None):
    """A validated :class:`cityindex.Dataset` from frames (see the module docstring).

    indicators : units x leaves of normalised scores (index or a ``unit`` column; NaN = a gap),
        or None with ``raw``.
    tree : one row per node: ``id`` (or the index), ``parent`` (empty for the root),
        ``weight`` and any node key of spec.toml (``normalisation``, ``aggregation``, ...).
    published : published aggregate scores and ``<node>_rank`` columns, or None (a draft).
    units : unit metadata (``name_en``, group columns); raw : raw values;
    exceptions : ``unit, node, treat`` rows; index : the ``[index]`` keys (default
        ``tiers = [number of units]``, the root found from the tree).
    """
    from cityindex.data import load_dataset

    staging = Path(tempfile.mkdtemp(prefix="cityindex-frames-"))
    try:
        frame = indicators if indicators is not None else raw
        if frame is None:
            raise DataError("Dataset.from_frames", "neither indicators nor raw",
                            "indicators= (scores) or raw= (raw values)")
        n = len(frame)
        keys = {"tiers": [n]} if not index or ("tiers" not in index
                                                and "tier_thresholds" not in index) else {}
        (staging / "spec.toml").write_text(_spec_text(tree, {**keys, **(index or {})}),
                                           encoding="utf-8")
        for name, df in (("indicators.csv", indicators), ("raw.csv", raw),
                         ("published.csv", published), ("units.csv", units)):
            if df is not None:
                (staging / name).write_bytes(_csv(df))
        if exceptions is not None:
            (staging / "exceptions.csv").write_bytes(
                exceptions[["unit", "node", "treat"]].to_csv(index=False,
                                                             lineterminator="\n").encode())
        try:
            return load_dataset(staging)
        except (DataError, SpecError) as err:  # name the frame, not the staging folder
            raise type(err)(err.where.replace(f"{staging}{os.sep}", "Dataset.from_frames: "),
                            err.found, err.expected) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_folder(sources: dict[str, bytes], folder: str | Path) -> Path:
    """Write a dataset's source files into ``folder`` (created; each file written to a
    temporary name, then renamed, so no half-written file is left)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sources.items():
        tmp = folder / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, folder / name)
    return folder
