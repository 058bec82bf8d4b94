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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """A finished run of the smoke preset (synthetic data, one epoch): config, folder, record.

    Shared by the tests of the runner and of what reads finished runs; a test that changes the
    folder works on a copy.
    """
    from glandseg import runner
    from glandseg.config import preset_config

    out = tmp_path_factory.mktemp("results") / "smoke" / "h-L3-s0"
    config = preset_config("smoke", seed=0)
    record = runner.run_experiment(config, out, verbose=0)
    return config, out, record


@pytest.fixture
def moving_code_state(monkeypatch):
    """``results.provenance`` reports commit ``"a" * 40`` (clean) first, then ``"b" * 40`` (dirty).

    For tests that a result credits the code state at its start, not one committed meanwhile.
    """
    from glandseg import results

    real = results.provenance
    states = iter([("a" * 40, False, []), ("b" * 40, True, ["glandseg/x.py"])])

    def fake(started_utc=None):
        commit, dirty, files = next(states)
        return {**real(started_utc), "git_commit": commit, "dirty": dirty, "dirty_files": files}

    monkeypatch.setattr(results, "provenance", fake)
