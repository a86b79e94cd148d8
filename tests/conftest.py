from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "city-image-2025"
SEED_DIR = ROOT.parent / "shared" / "seed"
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    """A private copy of the built-in data folder, for corruption tests."""
    dest = tmp_path / "city-image-2025"
    shutil.copytree(DATA, dest)
    return dest


@pytest.fixture(scope="session")
def dataset():
    from cityindex.data import load_dataset

    return load_dataset(DATA)
