"""Analysis of results records: bootstrap intervals, the paper's tables and claims, grades.

Everything the book says about measured results is computed here from ``record.json`` files
(see :mod:`glandseg.results`), so a page only calls a function and draws. It serves
book/results.md (the paper's tables, grades, protocols, progress of the runs),
book/discussion.md (claims, Test A against Test B, the other methods, errors, seed effects) and
book/metrics.md (the per-object table of the worked example).

Uncertainty
-----------
The test parts are small (Test A: 60 images, Test B: 20), so a pooled figure depends on which
images happened to be drawn. Every interval here is a **percentile bootstrap over test
images**: the images of a part are resampled with replacement and the *pooled* metric (the
challenge's figure, :func:`glandseg.metrics.evaluate` with ``aggregate="pooled"``) is computed
again from the resampled images, ``n_boot`` times; the interval runs between the
``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of those values (no interpolation, so an
infinite Hausdorff distance stays infinite instead of turning into NaN).

- **Pooled figures from per-image pieces.** Pooled F1 needs only each image's TP, FP and FN,
  which every record's per-image table holds. Pooled object Dice and Hausdorff weight every
  object by its area over *all* objects of the part, so each image contributes the sums
  :data:`POOLING_KEYS` (areas of its segmented and ground-truth objects, and those areas times
  each object's Dice or Hausdorff value). :func:`glandseg.metrics.evaluate` writes them into
  every per-image row; for records made before it did, :func:`add_pooling_pieces` computes
  them from a run's saved predictions and the ground truth.
- **Several seeds.** A configuration run with several seeds is summarised by the mean over
  seeds of the pooled metric. Its interval resamples the test images *jointly* for all seeds
  (the same resampled images for every seed) and takes the mean over seeds in each resample:
  it is the test-set sampling uncertainty of the seed-averaged figure. The spread between seeds
  is reported separately, as the sample standard deviation.
- **Differences** between two configurations (:func:`bootstrap_difference`, :func:`claims`) are
  paired: both are evaluated on the same resampled images, and when both were run with some
  common seeds only those seeds are used, so a difference of a configuration with itself is
  exactly zero in every resample.

References
----------
.. [1] B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap*, Chapman & Hall (1993),
       ch. 13 (percentile intervals).
.. [2] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
       challenge contest", Medical Image Analysis 35 (2017) 489-502.
"""

from __future__ import annotations

import math
from itertools import combinations
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

from glandseg import metrics, results

__all__ = [
    "CONFIG_ORDER",
    "PAPER_CONFIGS",
    "POOLING_KEYS",
    "VERDICTS",
    "Interval",
    "add_pooling_pieces",
    "best_run",
    "bootstrap_ci",
    "bootstrap_difference",
    "bootstrap_mean_ci",
    "claims",
    "against_others",
    "error_table",
    "format_interval",
    "grade_table",
    "object_errors",
    "object_table",
    "protocol_differences",
    "pooled_metric",
    "pooling_pieces",
    "presets",
    "protocol",
    "protocols",
    "results_table",
    "run_progress",
    "PLANS",
    "seed_effects",
    "split_contrast",
]

#: Row order of the results tables: the paper's six configurations (Tables 1-2), then the two
#: ablations of the paper's best (RGB input, no deep supervision). Labels as
#: :func:`glandseg.results.config_label` writes them.
CONFIG_ORDER = (
    "H + L1",
    "H + L2",
    "H + L3",
    "H + unsharp + L1",
    "H + unsharp + L2",
    "H + unsharp + L3",
    "RGB + L3",
    "H + L3 (no deep sup.)",
)

#: The paper's six configurations, the rows of its Tables 1-2 (the first six of :data:`CONFIG_ORDER`).
PAPER_CONFIGS = CONFIG_ORDER[:6]

#: The per-image sums that pool into object Dice and Hausdorff (:data:`glandseg.metrics.POOLING_KEYS`).
POOLING_KEYS = metrics.POOLING_KEYS

#: Verdicts of :func:`claims`.
VERDICTS = ("holds", "does not hold", "inconclusive", "not run yet")

NOT_RUN = "not run yet"
_BOOTSTRAP_METRICS = ("f1", "precision", "recall", "object_dice", "object_hausdorff")
_DIGITS = {"f1": 3, "precision": 3, "recall": 3, "object_dice": 3, "object_hausdorff": 2}
#: +1 where a larger value is better, -1 where a smaller one is.
_BETTER = {"f1": 1, "precision": 1, "recall": 1, "object_dice": 1, "object_hausdorff": -1}


class Interval(NamedTuple):
    """A point estimate with a bootstrap interval: ``(estimate, low, high)``."""

    estimate: float
    low: float
    high: float


# --------------------------------------------------------------------------------------------
# Per-image pieces
# --------------------------------------------------------------------------------------------


def pooling_pieces(seg, gt) -> dict:
    """The per-image sums from which pooled object Dice and Hausdorff follow.

    :func:`glandseg.metrics.pooling_pieces`, which :func:`glandseg.metrics.evaluate` also adds
    to every per-image row (records written before it did lack them; see
    :func:`add_pooling_pieces`).
    """
    return metrics.pooling_pieces(seg, gt)


def add_pooling_pieces(records, *, root=None) -> list[dict]:
    """Copies of ``records`` whose per-image rows carry :data:`POOLING_KEYS`, where possible.

    Records written since :func:`glandseg.metrics.evaluate` stores the sums already carry them
    and are passed through. For older records, the predicted label maps saved in the run folder
    (``pred/<name>_labels.png``, next to ``record.json``) are compared again with the ground
    truth (:func:`glandseg.runner.load_samples`). A record whose predictions or data are
    missing is returned unchanged (its F1 intervals still follow from TP, FP and FN).

    Parameters
    ----------
    records : list of dict
        As returned by :func:`glandseg.results.load_records` (each with ``_path``).
    root : path, optional
        GlaS folder (default: :func:`glandseg.data.data_root`).

    Returns
    -------
    records : list of dict
        New dicts; ``record["_pieces"]`` is True where the pieces were added, else the reason
        (a str) they could not be.
    """
    from glandseg import runner
    from glandseg.config import ExperimentConfig

    out = []
    cached: dict = {}
    for rec in records:
        rows = [row for m in rec.get("metrics", {}).values() for row in m.get("per_image", [])]
        if rows and all(k in row for row in rows for k in POOLING_KEYS):
            out.append({**rec, "_pieces": True})
            continue
        try:
            out.append({**rec, "metrics": _with_pieces(rec, cached, root, runner, ExperimentConfig), "_pieces": True})
        except (FileNotFoundError, ValueError, KeyError) as err:
            kind = "FileNotFoundError" if isinstance(err, FileNotFoundError) else type(err).__name__
            out.append({**rec, "_pieces": f"{kind}: {err}"})
    return out


def _with_pieces(rec, cached, root, runner, config_cls) -> dict:
    """A record's metrics with the pooling pieces added to every per-image row."""
    new = {split: {**m, "per_image": []} for split, m in rec.get("metrics", {}).items()}
    for split, row, seg, gt in _predictions(rec, cached, root, runner, config_cls):
        new[split]["per_image"].append({**row, **pooling_pieces(seg, gt)})
    return new


class _MissingPrediction(FileNotFoundError):
    """A run's saved predictions (or its folder) are not there; the data may still be."""


def _predictions(rec, cached, root, runner, config_cls, splits=None):
    """``(split, per-image row, predicted labels, ground-truth labels)`` of every image of a record.

    Ground truths are read once per data source and part into ``cached``. Raises
    :class:`_MissingPrediction` for a missing prediction or record path, FileNotFoundError
    when the data are missing.
    """
    if not rec.get("_path"):
        raise _MissingPrediction("the record has no _path (load it with results.load_records)")
    run_dir = Path(rec["_path"]).parent
    fields = config_cls.__dataclass_fields__
    config = config_cls.from_dict({k: v for k, v in rec["config"].items() if k in fields})
    for split, m in rec.get("metrics", {}).items():
        if splits is not None and split not in splits:
            continue
        key = (config.data, config.seed if config.data == "synthetic" else None, split)
        if key not in cached:
            cached[key] = {s.name: s.labels for s in runner.load_samples(config, split, root)}
        gts = cached[key]
        for row in m.get("per_image", []):
            path = runner.prediction_path(run_dir, row["name"])
            if not path.exists():
                raise _MissingPrediction(f"{path} is missing")
            yield split, row, runner._read_label_png(path), gts[row["name"]]


# --------------------------------------------------------------------------------------------
# Pooled figures and the bootstrap
# --------------------------------------------------------------------------------------------


def _check_metric(metric: str, rows) -> None:
    if metric not in _BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {_BOOTSTRAP_METRICS}. Received: metric={metric!r}")
    need = ("tp", "fp", "fn") if metric in ("f1", "precision", "recall") else POOLING_KEYS
    for row in rows:
        missing = [k for k in need if k not in row]
        if missing:
            raise ValueError(
                f"per-image row {row.get('name', '?')!r} lacks {', '.join(missing)}, needed to pool {metric}. "
                "Add them with glandseg.report.analysis.add_pooling_pieces (needs the run's predictions and the data)."
            )


def _matrix(rows, keys) -> np.ndarray:
    return np.array([[float(r[k]) for k in keys] for r in rows], dtype=np.float64).reshape(len(rows), len(keys))


def _weighted_sum(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``weights @ values`` where an infinite value counts only when its weight is positive."""
    finite = np.isfinite(values)
    out = weights[:, finite] @ values[finite]
    if not finite.all():
        out = np.where((weights[:, ~finite] > 0).any(axis=1), np.inf, out)
    return out


def _pooled(rows, metric: str, weights: np.ndarray) -> np.ndarray:
    """Pooled ``metric`` of ``rows`` for each row of ``weights`` ((B, n) image counts): (B,)."""
    if metric in ("f1", "precision", "recall"):
        tp, fp, fn = (weights @ _matrix(rows, ("tp", "fp", "fn"))).T
        empty = tp + fp + fn == 0
        num, den = {"f1": (2 * tp, 2 * tp + fp + fn), "precision": (tp, tp + fp), "recall": (tp, tp + fn)}[metric]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.where(empty, 1.0, 0.0))
    kind = metric.split("_")[1]  # "dice" or "hausdorff"
    area = weights @ _matrix(rows, ("seg_area_px", "gt_area_px"))
    total = np.zeros(weights.shape[0])
    for side, col in (("seg", 0), ("gt", 1)):
        s = _weighted_sum(weights, _matrix(rows, (f"{side}_{kind}_x_area",))[:, 0])
        with np.errstate(invalid="ignore", divide="ignore"):
            total += np.where(area[:, col] > 0, s / np.where(area[:, col] > 0, area[:, col], 1), 0.0)
    both_empty = (area == 0).all(axis=1)
    return np.where(both_empty, 1.0 if kind == "dice" else 0.0, total / 2.0)


def pooled_metric(per_image_rows, metric: str) -> float:
    """The pooled (challenge-style) ``metric`` of a test part from its per-image rows.

    Parameters
    ----------
    per_image_rows : list of dict
        One row per image, as in a record's ``metrics[split]["per_image"]``: ``tp``, ``fp``,
        ``fn`` for F1, precision and recall; also the :data:`POOLING_KEYS` for object Dice and
        Hausdorff (see :func:`add_pooling_pieces`).
    metric : {"f1", "precision", "recall", "object_dice", "object_hausdorff"}

    Returns
    -------
    value : float
        Equal to ``glandseg.metrics.evaluate(..., aggregate="pooled")[metric]`` for the same images.

    Raises
    ------
    ValueError
        For an unknown metric, no rows, or rows lacking what the metric needs.

    Examples
    --------
    >>> rows = [{"tp": 2, "fp": 0, "fn": 0}, {"tp": 0, "fp": 0, "fn": 1}]
    >>> round(pooled_metric(rows, "f1"), 4)   # 2 * 2 / (2 * 2 + 0 + 1)
    0.8
    """
    rows = list(per_image_rows)
    if not rows:
        raise ValueError("got no per-image rows; give at least one image.")
    _check_metric(metric, rows)
    return float(_pooled(rows, metric, np.ones((1, len(rows))))[0])


def _weights(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) float64: how often each image is drawn in each resample (rows sum to n)."""
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    flat = (idx + n * np.arange(n_boot)[:, None]).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def _aligned(runs) -> list[list[dict]]:
    """Per-image rows of several runs of the same images, each in the first run's image order."""
    runs = [list(r) for r in runs]
    if not runs or not runs[0]:
        raise ValueError("got no runs or no per-image rows; give at least one run with one image.")
    names = [r.get("name", k) for k, r in enumerate(runs[0])]
    out = []
    for rows in runs:
        by_name = {r.get("name", k): r for k, r in enumerate(rows)}
        if sorted(map(str, by_name)) != sorted(map(str, names)) or len(rows) != len(names):
            raise ValueError(
                f"runs hold different test images ({len(rows)} vs {len(names)} rows, or other names); "
                "compare runs of the same test part."
            )
        out.append([by_name[n] for n in names])
    return out


def _check_boot(n_boot, level) -> None:
    if not (isinstance(n_boot, (int, np.integer)) and n_boot >= 1):
        raise ValueError(f"n_boot must be a positive integer. Received: n_boot={n_boot!r}")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), e.g. 0.95. Received: level={level!r}")


def _interval(estimate: float, values: np.ndarray, level: float) -> Interval:
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return Interval(float(estimate), float(low), float(high))


def _mean_over_runs(runs, metric, weights) -> np.ndarray:
    return np.mean([_pooled(rows, metric, weights) for rows in runs], axis=0)


def _resampled_means(groups, metric: str, n_boot: int, seed: int) -> tuple[list[float], list[np.ndarray]]:
    """Each group's mean over its runs of a pooled metric, measured and over resampled images.

    ``groups`` is a list of lists of runs (per-image rows), every run of every group on the same
    test images. All groups share one resampling of the images (paired by image), so contrasts
    between them keep the pairing. Returns the estimates and the ``(n_boot,)`` resampled values
    of each group, in the order given.
    """
    sizes = [len(g) for g in groups]
    if not all(sizes):
        raise ValueError("every configuration needs at least one run.")
    aligned = _aligned([rows for g in groups for rows in g])
    for rows in aligned:
        _check_metric(metric, rows)
    n = len(aligned[0])
    ones, w = np.ones((1, n)), _weights(n, int(n_boot), seed)
    ends = np.cumsum(sizes)
    parts = [aligned[end - size : end] for size, end in zip(sizes, ends)]
    return ([float(_mean_over_runs(p, metric, ones)[0]) for p in parts],
            [_mean_over_runs(p, metric, w) for p in parts])


def bootstrap_mean_ci(runs, metric: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Bootstrap interval of the mean over runs (seeds) of a pooled metric.

    Parameters
    ----------
    runs : list of list of dict
        The per-image rows of each run (same test images; matched by ``name``).
    metric, n_boot, seed, level
        As in :func:`bootstrap_ci`.

    Returns
    -------
    Interval
        ``estimate`` is the mean over runs of the pooled metric; ``low`` and ``high`` the
        percentile interval when the test images are resampled jointly for all runs.

    Raises
    ------
    ValueError
        As :func:`bootstrap_ci`, or when the runs hold different images.

    Examples
    --------
    >>> a = [{"name": "x", "tp": 1, "fp": 0, "fn": 0}, {"name": "y", "tp": 1, "fp": 1, "fn": 0}]
    >>> b = [{"name": "x", "tp": 1, "fp": 0, "fn": 0}, {"name": "y", "tp": 0, "fp": 1, "fn": 1}]
    >>> round(bootstrap_mean_ci([a, b], "f1").estimate, 4)   # (4/5 + 2/4) / 2
    0.65
    """
    _check_boot(n_boot, level)
    runs = [list(r) for r in runs]
    if not runs:
        raise ValueError("got no runs or no per-image rows; give at least one run with one image.")
    (estimate,), (values,) = _resampled_means([runs], metric, n_boot, seed)
    return _interval(estimate, values, level)


def bootstrap_ci(per_image_rows, metric: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of a pooled metric over the images of a test part.

    Parameters
    ----------
    per_image_rows : list of dict
        One row per test image of one run (a record's ``metrics[split]["per_image"]``); see
        :func:`pooled_metric` for the keys each metric needs.
    metric : {"f1", "precision", "recall", "object_dice", "object_hausdorff"}
    n_boot : int, optional
        Number of resamples (default 2000).
    seed : int, optional
        Seed of the resampling (default 0): the same seed gives the same interval.
    level : float, optional
        Coverage of the interval (default 0.95).

    Returns
    -------
    Interval
        ``(estimate, low, high)``: the pooled metric of the given images, and the
        ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (no interpolation) of the pooled
        metric over ``n_boot`` resamples of the images with replacement.

    Raises
    ------
    ValueError
        For an unknown metric, no rows, rows lacking what the metric needs, ``n_boot < 1`` or
        ``level`` outside (0, 1).

    Notes
    -----
    Each resample draws ``n`` of the ``n`` images with replacement and pools their TP, FP, FN
    (F1) or their :data:`POOLING_KEYS` (object Dice and Hausdorff), exactly as
    :func:`glandseg.metrics.evaluate` pools a part. An image whose objects have an infinite
    Hausdorff distance makes every resample that draws it infinite.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap* (1993), ch. 13.

    Examples
    --------
    >>> same = [{"tp": 3, "fp": 1, "fn": 1}] * 4    # every image alike: no uncertainty
    >>> bootstrap_ci(same, "f1")
    Interval(estimate=0.75, low=0.75, high=0.75)
    """
    return bootstrap_mean_ci([list(per_image_rows)], metric, n_boot=n_boot, seed=seed, level=level)


def bootstrap_difference(runs_a, runs_b, metric: str, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Paired bootstrap interval of ``mean_a - mean_b`` of a pooled metric.

    Parameters
    ----------
    runs_a, runs_b : list of list of dict
        Per-image rows of the runs (seeds) of two configurations on the same test images.
    metric, n_boot, seed, level
        As in :func:`bootstrap_ci`.

    Returns
    -------
    Interval
        The difference of the means over runs of the pooled metric, and its interval when the
        test images are resampled jointly for both configurations (paired by image).

    Raises
    ------
    ValueError
        As :func:`bootstrap_mean_ci`.

    Examples
    --------
    >>> rows = [{"name": "x", "tp": 1, "fp": 0, "fn": 1}, {"name": "y", "tp": 2, "fp": 1, "fn": 0}]
    >>> bootstrap_difference([rows], [rows], "f1")   # a configuration against itself
    Interval(estimate=0.0, low=0.0, high=0.0)
    """
    _check_boot(n_boot, level)
    runs_a, runs_b = list(runs_a), list(runs_b)
    if not runs_a or not runs_b:
        raise ValueError("both configurations need at least one run.")
    (est_a, est_b), (boot_a, boot_b) = _resampled_means([runs_a, runs_b], metric, n_boot, seed)
    with np.errstate(invalid="ignore"):
        return _interval(est_a - est_b, boot_a - boot_b, level)


def format_interval(interval: Interval | None, digits: int = 3) -> str:
    """``"[0.412, 0.526]"``; ``"n/a"`` for None.

    Examples
    --------
    >>> format_interval(Interval(0.5, 0.41234, 0.5261))
    '[0.412, 0.526]'
    """
    if interval is None:
        return "n/a"
    return f"[{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


# --------------------------------------------------------------------------------------------
# Tables over records
# --------------------------------------------------------------------------------------------


def presets(records) -> list[str]:
    """The presets found in ``records``, sorted by name."""
    return sorted({str(r.get("preset")) for r in records})


def _select(records, split, preset):
    """Records of ``preset`` (all when None; then they must share one preset) that hold ``split``."""
    if preset is None:
        found = presets(records)
        if len(found) > 1:
            raise ValueError(
                f"records hold several presets ({', '.join(found)}); choose one with preset=..., "
                "since their figures are not comparable."
            )
    else:
        records = [r for r in records if r.get("preset") == preset]
    return [r for r in records if split in r.get("metrics", {})]


def _groups(records) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for rec in sorted(records, key=lambda r: (r.get("seed") is None, r.get("seed") or 0)):
        groups.setdefault(results.config_label(rec["config"]), []).append(rec)
    return groups


def _has(rows, metric) -> bool:
    need = ("tp", "fp", "fn") if metric in ("f1", "precision", "recall") else POOLING_KEYS
    return bool(rows) and all(k in r for r in rows for k in need)


def _interval_of(recs, split, metric, n_boot, seed, level, grade=None) -> Interval | None:
    runs = []
    for rec in recs:
        rows = rec["metrics"][split].get("per_image") or []
        if grade is not None:
            rows = [r for r in rows if r.get("grade") == grade]
        if not _has(rows, metric):
            return None
        runs.append(rows)
    if not runs:
        return None
    return bootstrap_mean_ci(runs, metric, n_boot=n_boot, seed=seed, level=level)


def results_table(records, split: str, preset: str | None = None, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[dict]:
    """The paper's Table 1 (``"testA"``) or 2 (``"testB"``) beside the measured figures.

    Parameters
    ----------
    records : list of dict
        Results records (:func:`glandseg.results.load_records`), optionally with pooling
        pieces (:func:`add_pooling_pieces`) for the object Dice and Hausdorff intervals.
    split : {"testA", "testB"}
    preset : str, optional
        Use only this preset's records. When None, the records must share one preset.
    n_boot, seed, level
        Bootstrap settings (:func:`bootstrap_ci`).

    Returns
    -------
    rows : list of dict
        One row per entry of :data:`CONFIG_ORDER`, in that order. Keys: ``method``, ``preset``,
        ``runs`` (int), ``seeds`` (list), and for each metric ``m`` of
        :data:`glandseg.results.METRICS`: ``paper_m`` (the paper's value, None for the
        ablations), ``m`` (measured mean ± sd over seeds, a str, ``"not run yet"`` without a
        record), ``m_ci`` (the bootstrap interval as a str; ``"not run yet"`` without a record,
        ``"n/a"`` when the per-image pieces are missing), ``m_interval`` (the
        :class:`Interval` or None) and ``m_values`` (each run's pooled value, in the order of
        ``seeds``).

    Raises
    ------
    ValueError
        If ``split`` is not a test part with a paper table, or ``preset`` is None and the
        records hold several presets.

    Notes
    -----
    With several seeds the measured value is ``mean ± sd`` over seeds of the pooled metric and
    the interval that of the seed mean, test images resampled jointly for all seeds (see the
    module docstring).
    """
    if split not in results.PAPER_TABLES:
        raise ValueError(f"split must be one of {tuple(results.PAPER_TABLES)}. Received: split={split!r}")
    groups = _groups(_select(records, split, preset))
    paper = results.PAPER_TABLES[split]
    rows = []
    for label in CONFIG_ORDER:
        recs = groups.get(label, [])
        row = {
            "method": label,
            "preset": preset if preset is not None else (recs[0].get("preset") if recs else None),
            "runs": len(recs),
            "seeds": [r.get("seed") for r in recs],
        }
        for k, m in enumerate(results.METRICS):
            digits = _DIGITS[m]
            row[f"paper_{m}"] = paper[label][k] if label in paper else None
            row[f"{m}_values"] = [float(r["metrics"][split]["pooled"][m]) for r in recs]
            row[m] = results.format_mean_sd(row[f"{m}_values"], digits)
            interval = _interval_of(recs, split, m, n_boot, seed, level) if recs else None
            row[f"{m}_interval"] = interval
            row[f"{m}_ci"] = NOT_RUN if not recs else format_interval(interval, digits)
        rows.append(row)
    return rows


def grade_table(records, split: str, preset: str | None = None, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[dict]:
    """Pooled figures per histological grade (benign, malignant) for each configuration.

    Parameters
    ----------
    records, split, preset, n_boot, seed, level
        As in :func:`results_table`.

    Returns
    -------
    rows : list of dict
        For each configuration of :data:`CONFIG_ORDER` that has records, one row per grade
        (sorted): ``method``, ``grade``, ``runs``, ``n_images`` and for each metric ``m``
        ``m`` (mean ± sd over seeds of ``record["metrics"][split]["per_grade"][grade][m]``,
        str), ``m_mean`` (float) and ``m_interval`` (bootstrap :class:`Interval` over the
        images of that grade, or None without the per-image pieces).
    """
    groups = _groups(_select(records, split, preset))
    rows = []
    for label in CONFIG_ORDER:
        recs = [r for r in groups.get(label, []) if r["metrics"][split].get("per_grade")]
        grades = sorted({g for r in recs for g in r["metrics"][split]["per_grade"]})
        for grade in grades:
            have = [r for r in recs if grade in r["metrics"][split]["per_grade"]]
            row = {
                "method": label,
                "grade": grade,
                "runs": len(have),
                "n_images": have[0]["metrics"][split]["per_grade"][grade].get("n_images"),
            }
            for m in results.METRICS:
                values = [r["metrics"][split]["per_grade"][grade][m] for r in have]
                row[m] = results.format_mean_sd(values, _DIGITS[m])
                row[f"{m}_mean"] = float(np.mean(values))
                row[f"{m}_interval"] = _interval_of(have, split, m, n_boot, seed, level, grade=grade)
            rows.append(row)
    return rows


def protocol(record: dict) -> dict:
    """The training protocol of a record's configuration, in words a reader can compare.

    Returns
    -------
    dict
        ``preset``, ``size`` ("832x576"), ``crop`` ("416x288"), ``augment`` (mode),
        ``epochs``, ``batch_size``, ``optimizer`` ("adam, lr 0.002, cosine"),
        ``min_object_px``, ``seconds`` (training time, when recorded) and ``device``.
    """
    c = record["config"]
    pre, aug, tr, post = c.get("preprocess", {}), c.get("augment", {}), c.get("train", {}), c.get("postprocess", {})
    size, crop = pre.get("size") or (None, None), aug.get("crop_size") or (None, None)
    return {
        "preset": record.get("preset"),
        "size": f"{size[0]}x{size[1]}",
        "crop": f"{crop[0]}x{crop[1]}",
        "augment": aug.get("mode"),
        "epochs": tr.get("epochs"),
        "batch_size": tr.get("batch_size"),
        "optimizer": f"{tr.get('optimizer')}, lr {tr.get('learning_rate')}, {tr.get('lr_schedule')}",
        "min_object_px": post.get("min_size_px"),
        "seconds": record.get("training", {}).get("seconds"),
        "device": record.get("provenance", {}).get("device"),
    }


_PROTOCOL_FIELDS = ("size", "crop", "augment", "epochs", "batch_size", "optimizer", "min_object_px")


def protocols(records) -> dict[str, dict]:
    """The paper's protocol and that of each preset found in ``records``, for one table.

    Returns
    -------
    dict
        ``"paper (as published)"`` (from :meth:`ExperimentConfig.paper`) and one
        ``"<preset> (ours)"`` entry per preset, in :func:`presets` order. Each value is a
        :func:`protocol` dict; a preset's entry also has ``runs``, ``seconds`` (median
        training time over its runs) and ``seconds_range`` (min, max). A field on which the
        preset's records disagree (a preset changed between runs) reads ``"varies: a, b"``
        rather than silently showing the first record's value.
    """
    from glandseg.config import ExperimentConfig

    out = {"paper (as published)": protocol({"preset": "paper", "config": ExperimentConfig.paper().to_dict()})}
    for preset in presets(records):
        ps = [protocol(r) for r in records if r.get("preset") == preset]
        merged = dict(ps[0])
        for key in _PROTOCOL_FIELDS + ("device",):
            values = list(dict.fromkeys(str(q[key]) for q in ps))
            if len(values) > 1:
                merged[key] = "varies: " + ", ".join(values)
        secs = [q["seconds"] for q in ps if q["seconds"] is not None]
        merged["runs"] = len(ps)
        merged["seconds"] = float(np.median(secs)) if secs else None
        merged["seconds_range"] = (min(secs), max(secs)) if secs else None
        out[f"{preset} (ours)"] = merged
    return out


def best_run(records, split: str = "testA", preset: str | None = None, metric: str = "f1",
             among=PAPER_CONFIGS) -> dict | None:
    """The record of the best configuration (by mean pooled ``metric`` over seeds), lowest seed.

    ``among`` lists the configuration labels that compete (default: the paper's six, so that an
    ablation, which changes one of them, is never called the best configuration). Returns None
    when no record of those holds ``split``. Hausdorff counts smaller as better.
    """
    groups = {label: recs for label, recs in _groups(_select(records, split, preset)).items() if label in among}
    if not groups:
        return None
    sign = _BETTER.get(metric, 1)

    def score(label):
        return sign * float(np.mean([r["metrics"][split]["pooled"][metric] for r in groups[label]]))

    return groups[max(groups, key=score)][0]


def _hours(record: dict) -> float | None:
    """Computing hours of one run: its epochs' training time plus prediction time.

    Epoch times add up over resumed invocations, which the record's start and finish times
    (those of the last invocation) would miss; they serve only when a record lacks the former.
    """
    tr, prov = record.get("training", {}), record.get("provenance", {})
    if tr.get("seconds") is not None:
        return (tr["seconds"] + sum((tr.get("predict_seconds") or {}).values())) / 3600
    start, end = prov.get("started_utc"), prov.get("finished_utc")
    if start and end:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        return (datetime.strptime(end, fmt) - datetime.strptime(start, fmt)).total_seconds() / 3600
    return None


#: The runs planned for each preset, where not the whole grid (:data:`CONFIG_ORDER` x seeds 0-2):
#: the protocols trained long (hours a run on a CPU) run the paper's best configuration once.
PLANS = {
    "paper": {"configs": ("H + L3",), "seeds": (0,)},
    "cpu-long": {"configs": ("H + L3",), "seeds": (0,)},
}


def run_progress(records, preset: str, seeds=None, configs=None) -> dict:
    """Which of its planned runs ``preset`` has recorded.

    Parameters
    ----------
    records : list of dict
        Results records (:func:`glandseg.results.load_records`).
    preset : str
    seeds : sequence of int, optional
        The planned seeds (default: the preset's :data:`PLANS` entry, else 0, 1 and 2). A
        recorded seed outside them is still listed (and counted).
    configs : sequence of str, optional
        The planned configurations, as :func:`glandseg.results.config_label` names them
        (default: the preset's :data:`PLANS` entry, else :data:`CONFIG_ORDER`). A recorded
        configuration outside them still gets its row.

    Returns
    -------
    dict
        ``rows``: one dict per planned configuration, then per other recorded one, with
        ``method``, ``hours`` (a dict seed -> computing hours of that run: training plus
        prediction, None when its record has no times; only recorded seeds appear) and
        ``missing`` (planned seeds without a record; none outside the planned configurations).
        ``seeds``: the planned seeds followed by any other recorded ones. ``done`` and
        ``planned``: numbers of runs recorded and planned. ``hours``: total computing hours of
        all of the preset's recorded runs.
    """
    plan = PLANS.get(preset, {})
    seeds = tuple(seeds if seeds is not None else plan.get("seeds", (0, 1, 2)))
    configs = tuple(configs if configs is not None else plan.get("configs", CONFIG_ORDER))
    recs = [r for r in records if r.get("preset") == preset]
    groups = _groups(recs)
    extra = sorted({r.get("seed") for r in recs if r.get("seed") not in seeds} - {None})
    all_seeds = [*seeds, *extra]
    rows = []
    hours_of = {id(r): _hours(r) for r in recs}
    # recorded configurations outside the plan: the grid's order first, then any others by name
    others = [label for label in dict.fromkeys((*CONFIG_ORDER, *sorted(groups))) if label in groups and label not in configs]
    for label in (*configs, *others):
        got = {r.get("seed"): hours_of[id(r)] for r in groups.get(label, [])}
        missing = [s for s in seeds if s not in got] if label in configs else []
        rows.append({"method": label, "hours": got, "missing": missing})
    hours = [h for h in hours_of.values() if h is not None]
    return {
        "rows": rows,
        "seeds": all_seeds,
        "done": sum(len(row["hours"]) for row in rows),
        "planned": len(configs) * len(seeds),
        "hours": float(sum(hours)),
    }


# --------------------------------------------------------------------------------------------
# The paper's claims
# --------------------------------------------------------------------------------------------


def _verdict(interval: Interval | None, expect: int) -> str:
    """``expect`` +1: the claim says a - b > 0; -1: a - b < 0."""
    if interval is None:
        return NOT_RUN
    if any(math.isnan(v) for v in interval):
        return "inconclusive"
    if (interval.low > 0 and expect > 0) or (interval.high < 0 and expect < 0):
        return "holds"
    if (interval.high < 0 and expect > 0) or (interval.low > 0 and expect < 0):
        return "does not hold"
    return "inconclusive"


def _claim_list(split: str) -> list[tuple[str, list[tuple[str, str, int]]]]:
    """(claim, [(a, b, expected sign of a - b in a higher-is-better metric), ...])."""
    paper = results.PAPER_TABLES[split]
    out = [
        ("The hematoxylin channel is a better input than RGB", [("H + L3", "RGB + L3", 1)]),
    ]
    for loss in ("L1", "L2", "L3"):
        a, b = f"H + unsharp + {loss}", f"H + {loss}"
        sign = 1 if paper[a][0] >= paper[b][0] else -1
        verb = "helps" if sign > 0 else "hurts"
        out.append((f"Unsharp masking {verb} with {loss}", [(a, b, sign)]))
    out.append(
        ("L3 is the best loss without unsharp masking", [("H + L3", "H + L1", 1), ("H + L3", "H + L2", 1)])
    )
    out.append(("Deep supervision helps", [("H + L3", "H + L3 (no deep sup.)", 1)]))
    return out


def claims(records, split: str = "testA", *, preset: str | None = None, metric: str = "f1", n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> list[dict]:
    """The paper's claims tested on the records: measured differences and verdicts.

    Parameters
    ----------
    records : list of dict
        Results records (one preset, or choose one with ``preset``).
    split : {"testA", "testB"}, optional
        Test part (default ``"testA"``; the paper makes its claims on Test A).
    preset : str, optional
        Use only this preset's records. When None, the records must share one preset.
    metric : str, optional
        Pooled metric compared (default ``"f1"``; ``"object_hausdorff"`` counts smaller as better).
    n_boot, seed, level
        Bootstrap settings (:func:`bootstrap_difference`).

    Returns
    -------
    claims : list of dict
        One dict per claim, in a fixed order: ``claim`` (text), ``verdict`` (one of
        :data:`VERDICTS`) and ``comparisons``, a list of dicts with ``a`` and ``b`` (the two
        configurations), ``expected`` ("a > b" or "a < b", in the metric's better direction),
        ``paper_difference`` (``a - b`` in the paper's table, None where the paper has no row),
        ``difference`` (the measured :class:`Interval` of ``a - b``, or None), ``seeds``
        (the seeds used, or None), ``paired_seeds`` (bool) and ``verdict``.

    Raises
    ------
    ValueError
        As :func:`results_table`, or for an unknown metric.

    Notes
    -----
    A comparison **holds** when the interval of ``a - b`` lies entirely on the side the claim
    predicts, **does not hold** when it lies entirely on the other side, and is
    **inconclusive** when it contains 0; it is **not run yet** when either configuration has no
    record (or, for Dice and Hausdorff, no per-image pieces). A claim with several comparisons
    holds when all hold, does not hold when any does not, is not run yet when any is not run,
    and is inconclusive otherwise. The runs compared are those of the seeds both
    configurations share (paired by seed and image); without a common seed, all runs of each
    (paired by image only).
    """
    if split not in results.PAPER_TABLES:
        raise ValueError(f"split must be one of {tuple(results.PAPER_TABLES)}. Received: split={split!r}")
    if metric not in _BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {_BOOTSTRAP_METRICS}. Received: metric={metric!r}")
    groups = _groups(_select(records, split, preset))
    paper = results.PAPER_TABLES[split]
    col = results.METRICS.index(metric) if metric in results.METRICS else None
    better = _BETTER[metric]
    out = []
    for text, pairs in _claim_list(split):
        comps = []
        for a, b, sign in pairs:
            expect = sign * better
            ra, rb = groups.get(a, []), groups.get(b, [])
            common = sorted({r.get("seed") for r in ra} & {r.get("seed") for r in rb}, key=str)
            if common:
                ra = [r for r in ra if r.get("seed") in common]
                rb = [r for r in rb if r.get("seed") in common]
            runs_a = [r["metrics"][split].get("per_image") or [] for r in ra]
            runs_b = [r["metrics"][split].get("per_image") or [] for r in rb]
            interval = None
            if runs_a and runs_b and all(_has(rows, metric) for rows in runs_a + runs_b):
                interval = bootstrap_difference(runs_a, runs_b, metric, n_boot=n_boot, seed=seed, level=level)
            paper_diff = None
            if col is not None and a in paper and b in paper:
                paper_diff = paper[a][col] - paper[b][col]
            comps.append(
                {
                    "a": a,
                    "b": b,
                    "expected": "a > b" if expect > 0 else "a < b",
                    "paper_difference": paper_diff,
                    "difference": interval,
                    "seeds": common or (sorted({r.get("seed") for r in ra + rb}, key=str) if ra and rb else None),
                    "paired_seeds": bool(common),
                    "verdict": _verdict(interval, expect),
                }
            )
        verdicts = [c["verdict"] for c in comps]
        if NOT_RUN in verdicts:
            verdict = NOT_RUN
        elif "does not hold" in verdicts:
            verdict = "does not hold"
        elif all(v == "holds" for v in verdicts):
            verdict = "holds"
        else:
            verdict = "inconclusive"
        out.append({"claim": text, "verdict": verdict, "comparisons": comps})
    return out


def _split_values(groups, labels, split, metric, n_boot, seed):
    """Estimates and resampled values of each configuration's seed-mean ``metric`` on ``split``."""
    runs = [[r["metrics"][split].get("per_image") or [] for r in groups[label]] for label in labels]
    est, boot = _resampled_means(runs, metric, n_boot, seed)
    return dict(zip(labels, est)), dict(zip(labels, boot))


def split_contrast(records, preset: str | None = None, *, metric: str = "f1", n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """The paper's reading of Test B: harder for every configuration, and the configurations closer together.

    Parameters
    ----------
    records : list of dict
        Results records (one preset, or choose one with ``preset``).
    preset : str, optional
    metric : str, optional
        Pooled metric (default ``"f1"``; for ``"object_hausdorff"`` larger is worse).
    n_boot, seed, level
        Bootstrap settings (:func:`bootstrap_ci`).

    Returns
    -------
    dict
        ``harder``: one dict per configuration of the paper's grid with both parts recorded:
        ``method``, ``difference`` (:class:`Interval` of the Test A figure minus the Test B
        figure), ``paper_difference`` and ``verdict`` (the claim: Test A's figure is the
        better one). ``harder_verdict``: holds when every configuration's does (as in
        :func:`claims`). ``closer``: ``methods`` (the configurations compared),
        ``spread_a``/``spread_b`` (largest minus smallest figure over them on each part),
        ``difference`` (:class:`Interval` of ``spread_a - spread_b``, None with fewer than two
        configurations), ``paper_difference`` and ``verdict`` (the claim: Test A's spread is
        the larger).

    Notes
    -----
    The two parts hold different images, so they are resampled independently (seeds ``seed``
    and ``seed + 1``); within a part, every configuration sees the same resampled images. A
    configuration's figure is the mean over its seeds of the pooled metric. The spread (a
    range) is a biased statistic under resampling, larger on average in resamples than in the
    data, so its interval is a rough guide; the per-configuration differences are not affected.
    """
    if metric not in _BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {_BOOTSTRAP_METRICS}. Received: metric={metric!r}")
    _check_boot(n_boot, level)
    ga = _groups(_select(records, "testA", preset))
    gb = _groups(_select(records, "testB", preset))
    labels = [
        label for label in PAPER_CONFIGS
        if label in ga and label in gb
        and all(_has(r["metrics"][s].get("per_image") or [], metric) for s, g in (("testA", ga), ("testB", gb)) for r in g[label])
    ]
    better = _BETTER[metric]
    col = results.METRICS.index(metric) if metric in results.METRICS else None
    pa, pb = results.PAPER_TABLES["testA"], results.PAPER_TABLES["testB"]
    out = {"harder": [], "harder_verdict": NOT_RUN,
           "closer": {"methods": labels, "spread_a": None, "spread_b": None, "difference": None,
                      "paper_difference": None, "verdict": NOT_RUN}}
    if col is not None:
        grid = PAPER_CONFIGS
        spread = lambda table: max(table[m][col] for m in grid) - min(table[m][col] for m in grid)  # noqa: E731
        out["closer"]["paper_difference"] = spread(pa) - spread(pb)
    if not labels:
        return out
    est_a, boot_a = _split_values(ga, labels, "testA", metric, n_boot, seed)
    est_b, boot_b = _split_values(gb, labels, "testB", metric, n_boot, seed + 1)
    with np.errstate(invalid="ignore"):
        for label in labels:
            interval = _interval(est_a[label] - est_b[label], boot_a[label] - boot_b[label], level)
            out["harder"].append({
                "method": label,
                "difference": interval,
                "paper_difference": None if col is None else pa[label][col] - pb[label][col],
                "verdict": _verdict(interval, better),
            })
        verdicts = [h["verdict"] for h in out["harder"]]
        out["harder_verdict"] = ("does not hold" if "does not hold" in verdicts
                                 else "holds" if all(v == "holds" for v in verdicts) else "inconclusive")
        closer = out["closer"]
        closer["spread_a"] = max(est_a.values()) - min(est_a.values())
        closer["spread_b"] = max(est_b.values()) - min(est_b.values())
        if len(labels) >= 2:
            sa = np.max([boot_a[m] for m in labels], axis=0) - np.min([boot_a[m] for m in labels], axis=0)
            sb = np.max([boot_b[m] for m in labels], axis=0) - np.min([boot_b[m] for m in labels], axis=0)
            closer["difference"] = _interval(closer["spread_a"] - closer["spread_b"], sa - sb, level)
            closer["verdict"] = _verdict(closer["difference"], 1)
    return out


_EFFECTS = ("configuration", "seed", "residual")


def _balanced_block(groups) -> tuple[list[str], list[int]]:
    """The configurations and seeds of the largest complete block (most runs; then most seeds).

    ``groups`` maps a configuration label to its runs' seeds (any iterable of int, e.g. a
    ``{seed: value}`` dict)."""
    seed_sets = {label: set(seeds) for label, seeds in groups.items()}
    all_seeds = sorted(set().union(*seed_sets.values())) if seed_sets else []
    best: tuple[list[str], list[int]] = ([], [])
    # Few seeds per study, so every subset of them can be tried.
    for k in range(len(all_seeds), 1, -1):
        for seeds in combinations(all_seeds, k):
            labels = [label for label in groups if set(seeds) <= seed_sets[label]]
            if len(labels) >= 2 and len(labels) * k > len(best[0]) * len(best[1]):
                best = (labels, list(seeds))
    return best


def seed_effects(records, split: str = "testA", preset: str | None = None, metric: str = "f1") -> dict:
    """How much of the spread between runs is the configuration's and how much the seed's.

    A two-way analysis of variance without replication [1]_ of the pooled ``metric``: each run's
    figure is modelled as ``x[c, s] = mu + a[c] + b[s] + e[c, s]`` (configuration ``c``, seed
    ``s``), over the largest complete block of runs (the configurations that were all run with
    the same two or more seeds). The seed chooses the validation images, the initial weights and
    the training crops, the same way in every configuration, so a shared seed effect ``b``
    moves all configurations together.

    Parameters
    ----------
    records : list of dict
        Results records (:func:`glandseg.results.load_records`).
    split : {"testA", "testB"}
    preset : str, optional
        Use only this preset's records. When None, the records must share one preset.
    metric : {"f1", "precision", "recall", "object_dice", "object_hausdorff"}
        Runs whose pooled figure is not finite are left out.

    Returns
    -------
    effects : dict
        ``methods`` (configuration labels, :data:`CONFIG_ORDER` order) and ``seeds`` of the block;
        ``values``, shape ``(len(methods), len(seeds))``; ``grand_mean``; ``config_means`` and
        ``seed_means`` (dicts); for each of ``"configuration"``, ``"seed"`` and ``"residual"``
        its sum of squares ``ss``, degrees of freedom ``df`` and ``share`` of the total sum of
        squares; ``f`` and ``p`` (F statistic and its p-value against the residual) for
        ``"configuration"`` and ``"seed"``; ``same_order``, how many configurations order every
        pair of seeds strictly as the seed means do (0 when the seed means are all equal). Without a block of two configurations x two seeds,
        ``methods`` and ``seeds`` are empty and the figures None.

    References
    ----------
    .. [1] D. C. Montgomery, *Design and Analysis of Experiments*, 8th ed., Wiley (2013),
           sec. 5.3.7 (one observation per cell).

    Examples
    --------
    >>> def run(loss, seed, tps):   # tps[k]: glands found of 2 in test image k, no false positive
    ...     rows = [{"tp": t, "fp": 0, "fn": 2 - t} for t in tps]
    ...     return {"preset": "cpu", "seed": seed, "config": {"input": "hematoxylin", "loss": loss},
    ...             "metrics": {"testA": {"pooled": {"f1": pooled_metric(rows, "f1")}, "per_image": rows}}}
    >>> runs = [run("L1", 0, [1, 1]), run("L1", 1, [2, 1]), run("L2", 0, [1, 2]), run("L2", 1, [2, 2])]
    >>> e = seed_effects(runs)
    >>> e["seeds"], [round(float(v), 3) for v in e["values"].ravel()]
    ([0, 1], [0.667, 0.857, 0.857, 1.0])
    >>> round(e["share"]["seed"], 3), round(e["share"]["configuration"], 3), e["same_order"]
    (0.495, 0.495, 2)
    """
    from scipy import stats

    if metric not in _BOOTSTRAP_METRICS:
        raise ValueError(f"metric must be one of {_BOOTSTRAP_METRICS}. Received: metric={metric!r}")
    groups = {}
    for label, recs in _groups(_select(records, split, preset)).items():
        finite = {}
        for r in recs:
            value = r["metrics"][split].get("pooled", {}).get(metric)
            if value is not None and np.isfinite(value) and r.get("seed") is not None:
                finite.setdefault(int(r["seed"]), float(value))
        if finite:
            groups[label] = finite
    order = {label: i for i, label in enumerate(CONFIG_ORDER)}
    labels, seeds = _balanced_block(dict(sorted(groups.items(), key=lambda kv: order.get(kv[0], len(order)))))
    out = {"split": split, "metric": metric, "methods": labels, "seeds": seeds, "values": None,
           "grand_mean": None, "config_means": None, "seed_means": None, "same_order": None,
           **{key: None for key in ("ss", "df", "share", "f", "p")}}
    if not labels:
        return out
    x = np.array([[groups[label][s] for s in seeds] for label in labels])
    grand = x.mean()
    a, b = x.mean(axis=1) - grand, x.mean(axis=0) - grand
    resid = x - grand - a[:, None] - b[None, :]
    n_c, n_s = x.shape
    ss = {"configuration": n_s * float(a @ a), "seed": n_c * float(b @ b), "residual": float(np.sum(resid**2))}
    df = {"configuration": n_c - 1, "seed": n_s - 1, "residual": (n_c - 1) * (n_s - 1)}
    total = float(np.sum((x - grand) ** 2))
    out.update(values=x, grand_mean=float(grand), ss=ss, df=df,
               config_means=dict(zip(labels, (grand + a).tolist())), seed_means=dict(zip(seeds, (grand + b).tolist())),
               share={k: (ss[k] / total if total > 0 else math.nan) for k in _EFFECTS})
    mean_res = ss["residual"] / df["residual"]
    out["f"], out["p"] = {}, {}
    for k in ("configuration", "seed"):
        mean_sq = ss[k] / df[k]
        f = mean_sq / mean_res if mean_res > 0 else (math.inf if mean_sq > 0 else math.nan)
        out["f"][k] = float(f)
        out["p"][k] = float(stats.f.sf(f, df[k], df["residual"])) if np.isfinite(f) else (0.0 if f == math.inf else math.nan)
    order_b = np.sign(b[:, None] - b[None, :])
    ordered = order_b != 0
    out["same_order"] = int(ordered.any() and sum(
        np.array_equal(np.sign(row[:, None] - row[None, :])[ordered], order_b[ordered]) for row in x))
    return out


def against_others(records, split: str, preset: str | None = None, *, metric: str = "f1", n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """Our best configuration beside the other methods of the paper's table (the paper's last claim).

    Parameters
    ----------
    records : list of dict
    split : {"testA", "testB"}
    preset : str, optional
    metric : str, optional
        Pooled metric (default ``"f1"``).
    n_boot, seed, level
        Bootstrap settings (:func:`bootstrap_ci`).

    Returns
    -------
    dict
        ``method`` (our best configuration by mean Test A F1, :func:`best_run`; None without
        records), ``ours`` (its :class:`Interval` on ``split``, None when not available),
        ``paper_ours`` (the paper's figure for that configuration) and ``others``: one dict per
        other method of the paper's table with ``method``, ``value`` and ``position``:
        ``"better than ours"``, ``"within our interval"`` or ``"worse than ours"`` (``"not run
        yet"`` without our interval). Better means larger, except for Hausdorff.
    """
    if split not in results.PAPER_TABLES:
        raise ValueError(f"split must be one of {tuple(results.PAPER_TABLES)}. Received: split={split!r}")
    if metric not in results.METRICS:
        raise ValueError(f"metric must be one of {results.METRICS}. Received: metric={metric!r}")
    table, col = results.PAPER_TABLES[split], results.METRICS.index(metric)
    best = best_run(records, "testA", preset=preset)
    label = None if best is None else results.config_label(best["config"])
    ours = None
    if label is not None:
        recs = _groups(_select(records, split, preset)).get(label, [])
        if recs:
            ours = _interval_of(recs, split, metric, n_boot, seed, level)
    better = _BETTER[metric]
    others = []
    for name, values in table.items():
        if name in CONFIG_ORDER:
            continue
        v = values[col]
        if ours is None:
            position = NOT_RUN
        elif better * v > better * (ours.high if better > 0 else ours.low):
            position = "better than ours"
        elif better * v < better * (ours.low if better > 0 else ours.high):
            position = "worse than ours"
        else:
            position = "within our interval"
        others.append({"method": name, "value": v, "position": position})
    return {"method": label, "ours": ours, "paper_ours": table.get(label, (None,) * 3)[col] if label else None,
            "others": others}


# --------------------------------------------------------------------------------------------
# The metrics, object by object (for the worked example of the book)
# --------------------------------------------------------------------------------------------


def object_table(seg, gt) -> list[dict]:
    """Every object of one image with its partner, weight, Dice and Hausdorff distance.

    Parameters
    ----------
    seg, gt : (H, W) array_like of int
        Segmented and ground-truth label maps.

    Returns
    -------
    rows : list of dict
        One row per segmented object, then one per ground-truth object: ``side`` ("seg" or
        "gt"), ``label``, ``area_px``, ``partner`` (label of the most-overlapping object of the
        other side, None without overlap), ``overlap_px``, ``weight`` (area over the side's
        total area), ``dice``, ``hausdorff`` and, for segmented objects, ``tp`` (bool).

    Notes
    -----
    Dice, Hausdorff and TP come from :mod:`glandseg.metrics`; the weighted sums of the rows
    give :func:`glandseg.metrics.object_dice` and :func:`glandseg.metrics.object_hausdorff`.
    """
    seg, gt = metrics._check_pair(seg, gt)
    stats = metrics._image_stats(seg, gt)
    out = []
    for side, a, b, area, dice, haus in (
        ("seg", seg, gt, stats.seg_area, stats.seg_dice, stats.seg_hausdorff),
        ("gt", gt, seg, stats.gt_area, stats.gt_dice, stats.gt_hausdorff),
    ):
        labels = np.unique(a[a > 0])
        for k, label in enumerate(labels):
            under = b[a == label]
            under = under[under > 0]
            partner, overlap = (None, 0)
            if under.size:
                vals, counts = np.unique(under, return_counts=True)
                partner, overlap = int(vals[np.argmax(counts)]), int(counts.max())
            row = {
                "side": side,
                "label": int(label),
                "area_px": int(area[k]),
                "partner": partner,
                "overlap_px": overlap,
                "weight": float(area[k] / area.sum()),
                "dice": float(dice[k]),
                "hausdorff": float(haus[k]),
            }
            if side == "seg":
                row["tp"] = partner is not None and 2 * overlap > int(np.count_nonzero(gt == partner))
            out.append(row)
    return out


#: Categories of :func:`object_errors`: what became of each ground-truth gland, and what each
#: segmented object is.
GLAND_FATES = ("found", "merged", "partly found", "missed")
OBJECT_KINDS = ("true positive", "off target", "spurious")


def object_errors(seg, gt) -> dict:
    """What became of each ground-truth gland of one image, and what each segmented object is.

    Parameters
    ----------
    seg, gt : (H, W) array_like of int
        Segmented and ground-truth label maps (0 = background).

    Returns
    -------
    dict
        Counts of ground-truth glands by fate (:data:`GLAND_FATES`) and of segmented objects by
        kind (:data:`OBJECT_KINDS`):

        - **found**: a segmented object is a true positive for it (covers more than half of it,
          as :mod:`glandseg.metrics` counts a TP);
        - **merged**: not found, and the segmented object that overlaps it most is a true
          positive for another gland: it was swallowed by a neighbour's object;
        - **missed**: no segmented object overlaps it at all;
        - **partly found**: the rest: overlapped, but by no object covering more than half of it
          (split into fragments, or only grazed);
        - **true positive**, **spurious** (overlaps no gland) and **off target** (the rest:
          overlaps glands but covers no more than half of the one it overlaps most).

        ``found`` equals ``true positive`` (the TP count), the other three fates add up to FN
        and the other two kinds to FP.

    Examples
    --------
    Two touching glands found as one object (a TP for the larger), and a speck of background:

    >>> gt = np.zeros((4, 9), int)
    >>> gt[:, :3], gt[:, 3:4] = 1, 2
    >>> seg = np.zeros((4, 9), int)
    >>> seg[:, :4], seg[0, 8] = 7, 9
    >>> object_errors(seg, gt)
    {'found': 1, 'merged': 1, 'partly found': 0, 'missed': 0, 'true positive': 1, 'off target': 0, 'spurious': 1}
    """
    from skimage.metrics import contingency_table

    seg, gt = metrics._check_pair(seg, gt)
    s_vals, g_vals = np.union1d([0], seg), np.union1d([0], gt)
    s_idx, g_idx = np.searchsorted(s_vals, seg), np.searchsorted(g_vals, gt)
    # overlap[i, j]: pixels of segmented object i in ground-truth object j (row/column 0: background)
    overlap = contingency_table(s_idx, g_idx).toarray().astype(np.int64)
    overlap = np.pad(overlap, ((0, len(s_vals) - overlap.shape[0]), (0, len(g_vals) - overlap.shape[1])))
    inner = overlap[1:, 1:]
    gt_area = overlap[:, 1:].sum(axis=0)
    n_seg, n_gt = inner.shape
    # each object's partner: the object of the other side it overlaps most, ties to the smaller label
    seg_partner = inner.argmax(axis=1) if n_gt else np.zeros(n_seg, int)
    seg_overlap = inner[np.arange(n_seg), seg_partner] if n_gt else np.zeros(n_seg, int)
    tp = (seg_overlap > 0) & (2 * seg_overlap > gt_area[seg_partner] if n_gt else False)
    found = np.zeros(n_gt, bool)
    found[seg_partner[tp]] = True
    out = dict.fromkeys((*GLAND_FATES, *OBJECT_KINDS), 0)
    for j in range(n_gt):
        column = inner[:, j]
        if found[j]:
            fate = "found"
        elif not column.any():
            fate = "missed"
        elif tp[column.argmax()]:
            fate = "merged"  # its main object is a TP for another gland (found[j] is False)
        else:
            fate = "partly found"
        out[fate] += 1
    for i in range(n_seg):
        kind = "true positive" if tp[i] else ("spurious" if not inner[i].any() else "off target")
        out[kind] += 1
    return out


def error_table(records, split: str, preset: str | None = None, *, root=None) -> list[dict]:
    """:func:`object_errors` summed over a part's images, per configuration, mean over seeds.

    Parameters
    ----------
    records : list of dict
        Results records with ``_path`` (:func:`glandseg.results.load_records`); their run
        folders hold the predicted label maps.
    split : {"testA", "testB"}
    preset : str, optional
        As in :func:`results_table`.
    root : path, optional
        GlaS folder (default: :func:`glandseg.data.data_root`).

    Returns
    -------
    rows : list of dict
        One per configuration of :data:`CONFIG_ORDER` with records, in that order: ``method``,
        ``runs``, ``n_gt`` (glands of the part), each key of :data:`GLAND_FATES` and
        :data:`OBJECT_KINDS` (mean count over seeds), and ``missing`` (run ids whose
        predictions could not be read, left out of the means).

    Raises
    ------
    FileNotFoundError
        When the ground truth is not found (every run needs it).
    """
    from glandseg import runner
    from glandseg.config import ExperimentConfig

    groups = _groups(_select(records, split, preset))
    cached: dict = {}
    rows = []
    for label in CONFIG_ORDER:
        if label not in groups:
            continue
        counts, missing, n_gt = [], [], None
        for rec in groups[label]:
            total = dict.fromkeys((*GLAND_FATES, *OBJECT_KINDS), 0)
            try:
                glands = 0
                for _, _, seg, gt in _predictions(rec, cached, root, runner, ExperimentConfig, splits=(split,)):
                    for key, value in object_errors(seg, gt).items():
                        total[key] += value
                    glands += len(np.unique(gt[gt > 0]))
            except _MissingPrediction:
                missing.append(rec.get("run_id"))
                continue
            counts.append(total)
            n_gt = glands
        row = {"method": label, "runs": len(counts), "n_gt": n_gt, "missing": missing}
        for key in (*GLAND_FATES, *OBJECT_KINDS):
            row[key] = float(np.mean([c[key] for c in counts])) if counts else None
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Choices the paper leaves open
# --------------------------------------------------------------------------------------------

#: Fields that name a configuration of the grid rather than the protocol.
_GRID_FIELDS = {"preset", "seed", "preprocess.input", "preprocess.unsharp", "train.loss", "model.deep_supervision"}


def _flat(config: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        else:
            out[name] = tuple(value) if isinstance(value, list) else value
    return out


def _with_defaults(config: dict) -> dict:
    """A record's config with the fields added since it was made, at their defaults.

    A new field's default is the behaviour the code had before the field existed.
    """
    import dataclasses
    import typing

    from glandseg.config import ExperimentConfig

    out = dict(config)
    for f in dataclasses.fields(ExperimentConfig):
        section = typing.get_type_hints(ExperimentConfig)[f.name]
        if isinstance(out.get(f.name), dict) and dataclasses.is_dataclass(section):
            defaults = section().to_dict()
            out[f.name] = {**{k: v for k, v in defaults.items() if k not in out[f.name]}, **out[f.name]}
    return out


def protocol_differences(records) -> list[dict]:
    """Every protocol setting in which a preset's recorded runs differ from the ``paper`` preset.

    The values are those the records were made with (their ``config``), not the presets' current
    code, so the table stays true when a preset is later changed. The fields that pick a grid
    configuration (input, unsharp masking, loss, deep supervision, seed) are left out.

    Returns
    -------
    rows : list of dict
        ``field`` ("train.learning_rate"), ``paper`` (the paper preset's value, our default) and
        one key per preset in :func:`presets` order: its value, or ``"varies: a, b"`` when its
        records disagree.
    """
    from glandseg.config import ExperimentConfig

    paper = _flat(ExperimentConfig.paper().to_dict())
    by_preset = {p: [_flat(_with_defaults(r["config"])) for r in records if r.get("preset") == p] for p in presets(records)}
    rows = []
    for field, ref in paper.items():
        if field in _GRID_FIELDS:
            continue
        row, differs = {"field": field, "paper": ref}, False
        for preset, flats in by_preset.items():
            values = list(dict.fromkeys(f.get(field) for f in flats))
            differs |= any(v != ref for v in values)
            row[preset] = values[0] if len(values) == 1 else "varies: " + ", ".join(map(str, values))
        if differs:
            rows.append(row)
    return rows


def verdict(records, *, main_preset: str | None = None, paper_label: str = "H + L3", n_boot: int = 2000) -> dict:
    """The answer in short, for the first page: best figures per protocol and each claim's verdict.

    Parameters
    ----------
    records : list of dict
        Results records of any presets.
    main_preset : str, optional
        The preset whose runs test the claims (default: the one with the most records).
    paper_label : str
        The paper's best configuration, whose printed figures head the rows.
    n_boot : int
        Bootstrap resamples of the claim tests (:func:`claims`).

    Returns
    -------
    dict
        ``rows``: the paper's ``paper_label`` figures, then for each preset its best
        configuration by mean Test A F1 with ``preset``, ``method``, ``runs``, ``precision``
        (the precisions its runs trained in) and, per test part, the mean pooled ``f1``,
        ``object_dice`` and ``object_hausdorff``; ``main_preset``; ``claims``: ``(claim,
        verdict)`` pairs on Test A for the main preset (empty without records).
    """
    rows = [{"preset": "paper (printed)", "method": paper_label, "runs": None, "precision": None,
             **{split: dict(zip(results.METRICS, results.PAPER_TABLES[split][paper_label])) for split in ("testA", "testB")}}]
    found = presets(records)
    for preset in found:
        best = best_run(records, "testA", preset=preset)
        if best is None:
            continue
        label = results.config_label(best["config"])
        runs = [r for r in records if r.get("preset") == preset and results.config_label(r["config"]) == label]
        row = {"preset": preset, "method": label, "runs": len(runs),
               "precision": sorted({results.training_precision(r) for r in runs})}
        for split in ("testA", "testB"):
            row[split] = {m: float(np.mean([r["metrics"][split]["pooled"][m] for r in runs])) for m in results.METRICS}
        rows.append(row)
    if main_preset is None and found:
        main_preset = max(found, key=lambda p: sum(r.get("preset") == p for r in records))
    out_claims = []
    if main_preset is not None:
        out_claims = [(c["claim"], c["verdict"]) for c in claims(records, "testA", preset=main_preset, n_boot=n_boot)]
    return {"rows": rows, "main_preset": main_preset, "claims": out_claims}
