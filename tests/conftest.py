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
    """The code state reads commit ``"a" * 40`` (clean) until a commit is made, then ``"b" * 40``.

    Returns ``commit_during(owner, name)``, after which a call of ``owner.name`` makes that
    commit: for tests that a result credits the code state at its start, not one committed while
    it works.
    """
    from glandseg import results

    head = {"state": {"git_commit": "a" * 40, "dirty": False, "dirty_files": []}}

    def commit():
        head["state"] = {"git_commit": "b" * 40, "dirty": True, "dirty_files": ["glandseg/x.py"]}

    def commit_during(owner, name):
        real = getattr(owner, name)

        def wrapped(*args, **kwargs):
            commit()
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)

    monkeypatch.setattr(results, "_read_code_state", lambda: dict(head["state"]))
    results._code_state_once.cache_clear()
    yield commit_during
    results._code_state_once.cache_clear()  # the next test reads the real checkout again
