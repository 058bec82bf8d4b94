"""Results records: provenance, atomic writing, loading and tables for the book.

A run's ``record.json`` (written by ``glandseg.runner``) holds its configuration, seed, metrics
per test part (pooled, per image, per grade), training summary and provenance (git commit,
package versions, backend, device, times). Records live in ``results/<preset>/<run_id>/`` and
are committed; the book reads them only through this module, so no number is typed by hand.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from glandseg import hardware

__all__ = [
    "PAPER_TABLES",
    "METRICS",
    "code_state",
    "provenance",
    "write_json_atomic",
    "cpu_model",
    "load_records",
    "config_label",
    "summary_table",
    "format_mean_sd",
    "checkout_results",
]

METRICS = ("f1", "object_dice", "object_hausdorff")

#: The paper's Tables 1 (Test A) and 2 (Test B): (F1, object Dice, object Hausdorff) as printed.
PAPER_TABLES = {
    "testA": {
        "H + L1": (0.812, 0.869, 56.84),
        "H + L2": (0.823, 0.858, 63.9),
        "H + L3": (0.846, 0.874, 55.13),
        "H + unsharp + L1": (0.817, 0.849, 66.13),
        "H + unsharp + L2": (0.832, 0.872, 55.51),
        "H + unsharp + L3": (0.773, 0.823, 79.1),
        "Rezaei et al.": (0.83, 0.867, 56.641),
        "CUMedVision1": (0.868, 0.867, 74.596),
        "CUMedVision2 (DCAN)": (0.912, 0.897, 45.418),
    },
    "testB": {
        "H + L1": (0.73, 0.82, 109.72),
        "H + L2": (0.695, 0.798, 129.77),
        "H + L3": (0.739, 0.816, 118.95),
        "H + unsharp + L1": (0.731, 0.816, 123.66),
        "H + unsharp + L2": (0.752, 0.817, 111.17),
        "H + unsharp + L3": (0.72, 0.765, 161.85),
        "Rezaei et al.": (0.75, 0.822, 108.208),
        "CUMedVision1": (0.769, 0.8, 153.646),
        "CUMedVision2 (DCAN)": (0.716, 0.781, 160.347),
    },
}

_PACKAGES = ("glandseg", "keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "numpy", "scipy", "scikit-image")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(*args, cwd=None) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one), e.g. "AMD EPYC"."""
    return hardware.cpu_info()["model"]


def _device(backend: str | None) -> str:
    desc = f"{cpu_model()}, {os.cpu_count()} logical CPUs"
    if backend == "jax" and "jax" in sys.modules:
        devices = sys.modules["jax"].devices()
        kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
        if any(d.platform != "cpu" for d in devices):
            desc = f"{len(devices)} x {', '.join(kinds)}; host {desc}"
    return desc


def code_state() -> dict:
    """The package's code state as this process runs it: git commit, dirty flag, changed files.

    Taken at the first call in a process and kept: the modules a process runs are the ones it
    imported, so a commit made while a long process works (a grid, a sweep) is not credited with
    its results. ``dirty`` is True when the code that makes results (the package, the notebooks
    and ``pyproject.toml``) differs from the commit; ``dirty_files`` names those files. Changes
    to the book, the tests or ``glandseg.report`` (which only turns records into pages and is
    never imported by a run) do not make a result dirty. Outside a git checkout the commit and
    the flag are None.
    """
    state = _code_state_once()
    return {**state, "dirty_files": list(state["dirty_files"])}


@functools.cache
def _code_state_once() -> dict:
    return _read_code_state()


def _read_code_state() -> dict:
    here = Path(__file__).resolve().parent
    commit = _git("rev-parse", "HEAD", cwd=here)
    status = _git(
        "status", "--porcelain", "--untracked-files=no", "--", "glandseg", ":(exclude)glandseg/report", "notebooks",
        "pyproject.toml", cwd=here.parent,
    )
    return {
        "git_commit": commit,
        "dirty": bool(status) if status is not None else None,
        "dirty_files": sorted(line.split(maxsplit=1)[1] for line in status.splitlines()) if status else [],
    }


def provenance(started_utc: str | None = None) -> dict:
    """Where and how a result was made: git commit, dirty flag, versions, backend, device, CPU, time.

    ``cpu`` holds :func:`glandseg.hardware.cpu_info`: model, family/model numbers and the ISA
    flags that decide speed and the ``"auto"`` precision (avx2, avx512f, avx512_bf16, amx...).

    The commit, ``dirty`` and ``dirty_files`` are :func:`code_state`'s: the code this process
    loaded, whenever the result is written. ``load_avg`` is the machine's 1, 5 and 15 minute
    load average at the end: on a shared machine it tells how far timings are from an idle one
    (a 2-core machine training alone shows about 2).
    """
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    versions["python"] = platform.python_version()
    backend = None
    if "keras" in sys.modules:
        backend = sys.modules["keras"].backend.backend()
    return {
        **code_state(),
        "versions": versions,
        "backend": backend,
        "device": _device(backend),
        "cpu": hardware.cpu_info(),
        "accelerator": hardware.accelerator(backend),
        "platform": platform.platform(),
        "started_utc": started_utc or _utc_now(),
        "finished_utc": _utc_now(),
        "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }


def write_json_atomic(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` via a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def checkout_results() -> Path:
    """``results/`` of the checkout glandseg runs from: the committed run records.

    For notebooks, which may run from any folder. With glandseg installed from a wheel the
    folder does not exist; :func:`load_records` callers should check.
    """
    return Path(__file__).resolve().parent.parent / "results"


def load_records(root="results", preset: str | None = None, *, tagged: bool = False) -> list[dict]:
    """All ``record.json`` files under ``root`` (optionally one preset's), sorted by run id.

    Runs of a protocol changed from its preset (``glandseg run/grid --set ... --tag``, their
    record has a ``tag``) are left out unless ``tagged``: they are not the preset's runs.
    """
    root = Path(root)
    pattern = f"{preset}/*/record.json" if preset else "*/*/record.json"
    records = []
    for path in sorted(root.glob(pattern)):
        rec = json.loads(path.read_text())
        if rec.get("tag") and not tagged:
            continue
        rec["_path"] = str(path)
        records.append(rec)
    return records


def config_label(config: dict) -> str:
    """The paper's row name for a record's config, e.g. ``"H + unsharp + L3"``.

    Reads a record's top-level ``input``, ``unsharp``, ``loss`` and ``deep_supervision``, or
    where they are missing the nested sections of ``ExperimentConfig.to_dict()``.

    Examples
    --------
    >>> config_label({"input": "hematoxylin", "unsharp": True, "loss": "L3"})
    'H + unsharp + L3'
    >>> config_label({"preprocess": {"input": "rgb", "unsharp": False}, "train": {"loss": "L1"},
    ...               "model": {"deep_supervision": False}})
    'RGB + L1 (no deep sup.)'
    """
    def get(key, section):
        return config[key] if key in config else config.get(section, {}).get(key)

    parts = ["H" if get("input", "preprocess") == "hematoxylin" else "RGB"]
    if get("unsharp", "preprocess"):
        parts.append("unsharp")
    parts.append(get("loss", "train") or "?")
    label = " + ".join(parts)
    if get("deep_supervision", "model") is False:
        label += " (no deep sup.)"
    return label


def training_precision(record: dict) -> str:
    """The dtype policy a record trained in.

    The policy training resolved to (``training.precision``), else the configuration's; records
    made before either was written trained in float32, the default then. A configuration's
    ``"auto"`` is a request, not a policy, and reads ``"auto (not recorded)"``.

    Examples
    --------
    >>> training_precision({"training": {"precision": "mixed_bfloat16"}, "config": {}})
    'mixed_bfloat16'
    >>> training_precision({"config": {"train": {"precision": "auto"}}})
    'auto (not recorded)'
    >>> training_precision({"config": {}})
    'float32'
    """
    precision = (record.get("training", {}).get("precision")
                 or record.get("config", {}).get("train", {}).get("precision") or "float32")
    return "auto (not recorded)" if precision == "auto" else precision


def format_mean_sd(values, digits: int) -> str:
    """``"0.812"`` for one value, ``"0.812 ± 0.010"`` (sample sd) for several, ``"not run yet"`` for none."""
    values = [v for v in values if v is not None]
    if not values:
        return "not run yet"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {float(np.std(values, ddof=1)):.{digits}f}"


def summary_table(records: list[dict], split: str) -> list[dict]:
    """One row per configuration: mean ± sd over seeds of the pooled metrics of ``split``.

    Returns
    -------
    rows : list of dict
        Keys ``method``, ``preset``, ``runs``, ``seeds``, ``f1``, ``object_dice``,
        ``object_hausdorff`` (formatted strings) and ``values`` (the raw per-seed numbers).
    """
    groups: dict[tuple, list[dict]] = {}
    for rec in records:
        key = (rec.get("preset"), config_label(rec["config"]))
        groups.setdefault(key, []).append(rec)
    rows = []
    for (preset, label), recs in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        pooled = [r["metrics"][split]["pooled"] for r in recs if split in r.get("metrics", {})]
        values = {m: [p[m] for p in pooled] for m in METRICS}
        rows.append(
            {
                "method": label,
                "preset": preset,
                "runs": len(pooled),
                "seeds": sorted(r.get("seed") for r in recs),
                "f1": format_mean_sd(values["f1"], 3),
                "object_dice": format_mean_sd(values["object_dice"], 3),
                "object_hausdorff": format_mean_sd(values["object_hausdorff"], 2),
                "values": values,
            }
        )
    return rows
