"""Shared fixtures.

The real GlaS data is research-use only and never part of the repository; tests that need it
look for ``$GLANDSEG_DATA`` or ``../shared/data/glas`` beside the checkout and skip otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _find_glas() -> Path | None:
    candidates = []
    if os.environ.get("GLANDSEG_DATA"):
        candidates.append(Path(os.environ["GLANDSEG_DATA"]))
    candidates.append(REPO.parent / "shared" / "data" / "glas")
    for path in candidates:
        if (path / "Grade.csv").is_file():
            return path
    return None


GLAS_ROOT = _find_glas()


@pytest.fixture(scope="session")
def glas_root() -> Path:
    """Folder of the real GlaS data; skips the test when it is not available."""
    if GLAS_ROOT is None:
        pytest.skip("GlaS data not found (set GLANDSEG_DATA or put it in ../shared/data/glas)")
    return GLAS_ROOT
