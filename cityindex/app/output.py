"""Writing outputs: deterministic bytes, atomic replacement, checksums, the manifest.

The only module that writes files (the library computes and returns). Every file is written
into a temporary folder beside the destination and moved into place only when all of them are
complete, so a failed run leaves nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import pandas as pd

PACKAGES = ["numpy", "scipy", "pandas", "statsmodels", "SALib", "altair", "vl-convert-python",
            "threadpoolctl"]

FLOAT_FORMAT = "%.10g"


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n").encode("utf-8")


def _rounded(obj: object) -> object:
    """Floats to 10 significant digits, as in the CSVs: the last bits of a float depend on
    the BLAS kernel, the 10th digit does not."""
    if isinstance(obj, float):
        return float(f"{obj:.10g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_rounded(v) for v in obj]
    return obj


def json_bytes(obj: object) -> bytes:
    return (json.dumps(_rounded(obj), ensure_ascii=False, indent=2, sort_keys=False,
                       allow_nan=False) + "\n").encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class OutputFolder:
    """Collects files in a temporary folder; ``commit`` moves them all into ``dest``."""

    def __init__(self, dest: Path) -> None:
        self.dest = Path(dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.dest.name}.", dir=self.dest.parent))
        self.hashes: dict[str, str] = {}

    def write(self, name: str, data: bytes, hashed: bool = True) -> None:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if hashed:
            self.hashes[name] = sha256(data)

    def csv(self, name: str, df: pd.DataFrame) -> None:
        self.write(name, csv_bytes(df))

    def json(self, name: str, obj: object, hashed: bool = True) -> None:
        self.write(name, json_bytes(obj), hashed)

    def commit(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.tmp.rglob("*")):
            if path.is_file():
                target = self.dest / path.relative_to(self.tmp)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    try:
        out["cityindex"] = metadata.version("cityindex")
    except metadata.PackageNotFoundError:
        out["cityindex"] = "source"
    return out


def write_audit(result, dest: Path, static: bool = True) -> Path:
    """Write an :class:`cityindex.study.AuditResult` into ``dest``: every table as CSV,
    summary.json, the page (and its static images), and manifest.json last."""
    import time

    folder = OutputFolder(dest)
    try:
        tables = result.tables()
        for stem, frame in tables.items():
            folder.csv(f"{stem}.csv", frame)
        summary = result.summary(tables)
        folder.json("summary.json", summary)
        t = time.perf_counter()
        for name, data in result.report_files(tables, summary, static=static).items():
            folder.write(name, data)
        timings = {**result.timings, "report": time.perf_counter() - t}
        prov = result.study.provenance
        manifest = {
            "run_file": prov.get("run_file_path"), "run_file_sha256": prov.get("run_file_sha256"),
            "seed": result.study.seed, "versions": versions(),
            "platform": {"machine": platform.machine(), "system": platform.system()},
            "wall_time_seconds": {k: round(v, 3) for k, v in timings.items()},
            "outputs": dict(sorted(folder.hashes.items())),
        }
        folder.json("manifest.json", manifest, hashed=False)
        folder.commit()
    except BaseException:
        folder.discard()
        raise
    return dest
