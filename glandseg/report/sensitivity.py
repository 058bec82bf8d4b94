"""How far the post-processing settings that the paper leaves open move a trained run's figures.

The paper thresholds the network's probability map with Otsu's method and cleans it with
morphology, but gives no sizes: not how small an object may be before it is dropped, nor
whether an opening separates glands joined by a thin bridge. Both move the object F1 directly
(a dropped speckle is one false positive less; two glands merged into one component are a true
positive and a false negative). For a finished run, :func:`sweep_run` predicts the probability
maps once, from the run's kept weights, and puts them through the post-processing under every
setting of a :class:`SweepGrid`; each setting is scored with the challenge metrics on Test A and
Test B and on the run's own validation images.

Choosing a setting by its test score would tune on the test set. The record therefore names the
setting that scores best on the **validation images** (which training held out and which chose
the kept weights), and reports its test figures beside those of the run's own setting: a fair
estimate of what tuning the open sizes would give, with only five validation images behind the
choice. The run's own setting is always part of the grid, so the sweep reproduces the run's
record there (a test checks this).

A sweep record is ``results/<preset>/<run>/postprocess_sweep.json`` (``glandseg sensitivity``).
The book shows the sweeps on its discussion page (book/discussion.md).
"""

from __future__ import annotations

import json
import numbers
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from glandseg import metrics, postprocess, results, runner
from glandseg.config import ExperimentConfig, PostprocessConfig

__all__ = ["SweepGrid", "SPLITS", "settings", "score_settings", "choose", "sweep_run", "sweep_filename", "write_sweep",
           "load_sweeps",
           "mean_grid", "choice_rows"]

#: Validation images of the run first (the choice is made on them), then the test parts.
SPLITS = ("val", "testA", "testB")
FILENAME = "postprocess_sweep.json"
#: The figures each setting keeps (pooled over a part).
SCORE_KEYS = ("f1", "object_dice", "object_hausdorff", "tp", "fp", "fn")


@dataclass(frozen=True)
class SweepGrid:
    """The post-processing settings a sweep tries: every opening radius with every smallest size.

    Parameters
    ----------
    opening_radius_px : tuple of int
        Radii (pixels of the original image, >= 0) of the disk opening before labelling. The
        default runs from none to 16 px, about the width of the gaps between neighbouring glands.
    min_size_px : tuple of int
        Smallest object kept (pixels of the original image, >= 0). The default runs from the
        paper preset's 200 px to 4000 px, a size some annotated glands are smaller than (the
        book's data page draws the gland areas), so the sweep sees both sides of the trade.

    The run's own values are added to each axis when missing, so the sweep always holds the
    run's setting. Threshold (Otsu, as the paper), hole filling and connectivity stay the run's.
    """

    opening_radius_px: tuple = (0, 4, 8, 16)
    min_size_px: tuple = (200, 1000, 2000, 4000)

    def __post_init__(self):
        for name in ("opening_radius_px", "min_size_px"):
            values = getattr(self, name)
            if (
                not isinstance(values, (tuple, list))
                or not values
                or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 0 for v in values)
            ):
                raise ValueError(f"SweepGrid.{name} must be a non-empty tuple of integers >= 0. Received: {values!r}")
            object.__setattr__(self, name, tuple(sorted({int(v) for v in values})))


def settings(grid: SweepGrid, base: PostprocessConfig) -> list[PostprocessConfig]:
    """Every setting of ``grid`` (opening radius, then smallest size, ascending) on top of ``base``.

    ``base``'s own opening radius and smallest size join the grid's axes.

    Examples
    --------
    >>> base = PostprocessConfig(min_size_px=1000)
    >>> [(s.opening_radius_px, s.min_size_px) for s in settings(SweepGrid((0, 4), (200,)), base)]
    [(0, 200), (0, 1000), (4, 200), (4, 1000)]
    """
    if not isinstance(grid, SweepGrid):
        raise TypeError(f"grid must be a SweepGrid. Received: {type(grid).__name__}")
    if not isinstance(base, PostprocessConfig):
        raise TypeError(f"base must be a PostprocessConfig. Received: {type(base).__name__}")
    radii = sorted(set(grid.opening_radius_px) | {base.opening_radius_px})
    sizes = sorted(set(grid.min_size_px) | {base.min_size_px})
    return [base.replace(opening_radius_px=r, min_size_px=m) for r in radii for m in sizes]


def score_settings(probs, gts, setting_list) -> list[dict]:
    """Pooled GlaS figures of probability maps under each post-processing setting.

    Parameters
    ----------
    probs : sequence of (h, w) or (h, w, 1) array_like of float
        Probability maps at the network's size, values in [0, 1].
    gts : sequence of (H, W) array_like of int
        Ground-truth instance labels at the original size, one per map.
    setting_list : sequence of PostprocessConfig

    Returns
    -------
    rows : list of dict
        One per setting, in order: ``opening_radius_px``, ``min_size_px`` and the pooled
        :data:`SCORE_KEYS` of :func:`glandseg.metrics.evaluate`.

    Examples
    --------
    Two glands of 20 px joined by a bridge one pixel thick and three long: without an opening
    they are one object, which covers the first gland (a true positive) and loses the second;
    an opening of radius 1 breaks the bridge.

    >>> gt = np.zeros((7, 13), int); gt[1:6, 1:5] = 1; gt[1:6, 8:12] = 2
    >>> prob = (gt > 0).astype(float); prob[3, 5:8] = 1.0
    >>> base = PostprocessConfig(min_size_px=1, hole_size_px=0)
    >>> rows = score_settings([prob], [gt], [base, base.replace(opening_radius_px=1)])
    >>> [(r["opening_radius_px"], r["tp"], r["fp"], r["fn"]) for r in rows]
    [(0, 1, 0, 1), (1, 2, 0, 0)]
    """
    probs, gts = list(probs), [np.asarray(g) for g in gts]
    if len(probs) != len(gts):
        raise ValueError(f"got {len(probs)} probability maps and {len(gts)} ground truths; give one of each per image.")
    if not probs:
        raise ValueError("got no images; give at least one probability map and its ground truth.")
    # the resize and the threshold do not depend on the cleaning: once per map and threshold
    masks = {}
    rows = []
    for setting in setting_list:
        if setting.threshold not in masks:
            masks[setting.threshold] = [
                postprocess.threshold(postprocess.resize_probability(p, g.shape), setting.threshold)
                for p, g in zip(probs, gts)
            ]
        segs = [postprocess.mask_to_instances(m, setting) for m in masks[setting.threshold]]
        scores = metrics.evaluate(segs, gts, aggregate="pooled")
        rows.append({"opening_radius_px": setting.opening_radius_px, "min_size_px": setting.min_size_px,
                     **{k: scores[k] for k in SCORE_KEYS}})
    return rows


def choose(rows: list[dict], own: dict, metric: str = "f1") -> int:
    """Index of the setting with the best ``metric`` in ``rows``; ties go to the run's own setting.

    Among tied settings other than the run's own, the first (smallest opening, then smallest
    size) wins. ``own`` holds the run's ``opening_radius_px`` and ``min_size_px``.

    Examples
    --------
    >>> rows = [{"opening_radius_px": 0, "min_size_px": 200, "f1": 0.8},
    ...         {"opening_radius_px": 0, "min_size_px": 500, "f1": 0.9},
    ...         {"opening_radius_px": 2, "min_size_px": 200, "f1": 0.9}]
    >>> choose(rows, {"opening_radius_px": 2, "min_size_px": 200}), choose(rows, rows[0])
    (2, 1)
    """
    if not rows:
        raise ValueError("rows is empty; give the scores of at least one setting.")
    sign = -1 if metric == "object_hausdorff" else 1
    values = np.array([sign * float(r[metric]) for r in rows])
    best = np.flatnonzero(values == np.nanmax(values))
    for i in best:
        if all(rows[i][k] == own[k] for k in ("opening_radius_px", "min_size_px")):
            return int(i)
    return int(best[0])


def _run_config(run_dir: Path) -> ExperimentConfig:
    path = run_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a run folder (glandseg run / grid).")
    return ExperimentConfig.from_json(path.read_text())


def sweep_run(run_dir, *, root=None, grid: SweepGrid | None = None, cache_dir=None, metric: str = "f1",
              epoch: int | None = None, splits=SPLITS) -> dict:
    """Sweep the post-processing of one finished run (see the module docstring).

    Parameters
    ----------
    run_dir : path
        A finished run folder (``record.json``, ``training.json`` and ``best.weights.h5``), or
        with ``epoch`` any run folder that holds that epoch's weight snapshot.
    root : path, optional
        GlaS folder (default: ``GLANDSEG_DATA`` or the user data folder).
    grid : SweepGrid, optional
        Default ``SweepGrid()``.
    cache_dir : path, optional
        Pre-processing cache (default ``<run_dir>/../../.cache``, as the runner's).
    metric : str, optional
        The validation figure that chooses a setting (default pooled F1).
    epoch : int, optional
        Sweep the network after this epoch (its snapshot, ``glandseg.train.snapshot_path``,
        kept at the learning-curve epochs) instead of the one validation selected. The run need
        not be finished: this separates what training has learnt by then from what the
        post-processing sizes make of it, e.g. to compare protocols at equal epochs.
    splits : sequence of {"val", "testA", "testB"}
        The parts to score (default all). ``("val",)`` alone is what choosing between
        candidate protocols needs, in a sixteenth of the time (scoring every setting on the
        80 test images is most of a sweep's work); ``"val"`` is always scored.

    Returns
    -------
    record : dict
        ``kind`` ("postprocess sweep"), ``run_id``, ``preset``, ``seed``, ``config`` (the run
        record's), ``own`` (the run's opening radius and smallest size), ``grid``, ``metric``,
        ``val_names``, ``scores`` (split -> one row per setting, :func:`score_settings`),
        (only the ``splits`` scored), ``chosen`` (the index of the setting :func:`choose` picks on the validation images,
        and the run's own index), ``epoch`` (None for the selected network) and ``provenance``.

    Raises
    ------
    FileNotFoundError
        When the run is not finished (or has no snapshot of ``epoch``), its weights are gone,
        or the data are missing.
    ValueError
        When the run kept no validation images.
    """
    from glandseg import predict, train

    run_dir = Path(run_dir)
    grid = SweepGrid() if grid is None else grid
    if metric not in SCORE_KEYS[:3]:
        raise ValueError(f"metric must be one of {SCORE_KEYS[:3]}. Received: metric={metric!r}")
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"splits must be among {SPLITS}. Received: splits={tuple(splits)!r}")
    splits = [s for s in SPLITS if s in splits or s == "val"]
    config = _run_config(run_dir)
    if epoch is None:
        for name in ("record.json", "training.json"):
            if not (run_dir / name).is_file():
                raise FileNotFoundError(f"{run_dir / name} not found: finish the run first (glandseg grid resumes it).")
    else:
        weights = train.snapshot_path(run_dir, epoch)
        if not weights.is_file():
            raise FileNotFoundError(f"{weights} not found: the run keeps snapshots of its learning-curve epochs only "
                                    "(glandseg grid --curve)")
    record = json.loads((run_dir / "record.json").read_text()) if (run_dir / "record.json").is_file() else {}
    cache_dir = Path(cache_dir) if cache_dir is not None else run_dir.parent.parent / ".cache"
    samples = {split: runner.load_samples(config, split, root) for split in ("train", *runner.TEST_SPLITS) if split == "train" or split in splits}
    if (run_dir / "training.json").is_file():
        val_names = json.loads((run_dir / "training.json").read_text()).get("val_names") or []
    else:  # an unfinished run: the same draw the training made
        _, val_idx = train.split_train_val(len(samples["train"]), config.train.val_images, config.seed)
        val_names = [samples["train"][i].name for i in val_idx]
    if not val_names:
        raise ValueError(f"{run_dir} kept no validation images (train.val_images=0): nothing to choose a setting on.")
    setting_list = settings(grid, config.postprocess)
    own = {"opening_radius_px": config.postprocess.opening_radius_px, "min_size_px": config.postprocess.min_size_px}
    started = results._utc_now()
    # Fix the code state now, before the long work: the record's provenance credits the code
    # this process loaded, not a commit made while it scored.
    results.code_state()
    model = train.load_trained(config, run_dir, weights=None if epoch is None else train.snapshot_path(run_dir, epoch))
    model = predict.fold_batch_norm(model)  # once for every split
    scores = {}
    for split in splits:
        if split == "val":
            by_name = {s.name: s for s in samples["train"]}
            chosen_samples = [by_name[n] for n in val_names]
            probs = runner.probabilities(model, config, "train", samples["train"], cache_dir, root, names=val_names)
        else:
            chosen_samples = samples[split]
            probs = runner.probabilities(model, config, split, samples[split], cache_dir, root)
        scores[split] = score_settings(probs, [s.labels for s in chosen_samples], setting_list)
    own_index = next(i for i, s in enumerate(setting_list)
                     if (s.opening_radius_px, s.min_size_px) == (own["opening_radius_px"], own["min_size_px"]))
    return {
        "kind": "postprocess sweep",
        "run_id": run_dir.name,
        "preset": config.preset,
        "seed": config.seed,
        "config": record.get("config", config.to_dict()),
        "own": own,
        "grid": asdict(grid),
        "metric": metric,
        "val_names": list(val_names),
        "scores": scores,
        "chosen": {"by_val": choose(scores["val"], own, metric), "own": own_index},
        "epoch": None if epoch is None else int(epoch),
        "provenance": results.provenance(started),
    }


def sweep_filename(epoch: int | None = None) -> str:
    """``postprocess_sweep.json``, or ``postprocess_sweep-epoch-005.json`` for epoch 5's snapshot."""
    return FILENAME if epoch is None else f"{Path(FILENAME).stem}-epoch-{int(epoch):03d}.json"


def write_sweep(run_dir, *, root=None, grid: SweepGrid | None = None, cache_dir=None, overwrite: bool = False,
                epoch: int | None = None, splits=SPLITS) -> Path:
    """:func:`sweep_run` written atomically to ``<run_dir>/`` :func:`sweep_filename` ``(epoch)``.

    A run that already has one is skipped (the path is returned) unless ``overwrite``.
    """
    path = Path(run_dir) / sweep_filename(epoch)
    if path.exists() and not overwrite:
        return path
    results.write_json_atomic(path, sweep_run(run_dir, root=root, grid=grid, cache_dir=cache_dir, epoch=epoch,
                                              splits=splits))
    return path


def load_sweeps(results_dir="results", preset: str | None = None, epoch: int | None = None) -> list[dict]:
    """Every sweep record under ``results_dir/<preset>/<run>/`` (all presets when None), by path.

    With ``epoch``, the sweeps of that epoch's snapshots (:func:`sweep_filename`) instead.
    """
    pattern = f"{preset or '*'}/*/{sweep_filename(epoch)}"
    out = []
    for path in sorted(Path(results_dir).glob(pattern)):
        rec = json.loads(path.read_text())
        rec["_path"] = str(path)
        out.append(rec)
    return out


def mean_grid(sweeps, split: str, metric: str = "f1") -> dict:
    """Mean over runs of ``metric`` at each setting that every sweep holds.

    Parameters
    ----------
    sweeps : list of dict
        Sweep records (:func:`load_sweeps`), e.g. of one preset.
    split : {"val", "testA", "testB"}
    metric : str
        One of :data:`SCORE_KEYS`.

    Returns
    -------
    dict
        ``opening_radius_px`` and ``min_size_px`` (the shared axes, ascending), ``values``
        (array of shape ``(len(opening), len(min_size))``, NaN where a setting is missing from
        some sweep), ``n_runs``, ``own`` (the runs' own setting when they share one, else None),
        and ``own_value``, ``chosen_value``: the mean over runs of ``metric`` at each run's own
        setting and at the setting its validation images chose.

    Raises
    ------
    ValueError
        For an unknown split or metric, or no sweeps.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}. Received: {split!r}")
    if metric not in SCORE_KEYS:
        raise ValueError(f"metric must be one of {SCORE_KEYS}. Received: {metric!r}")
    sweeps = list(sweeps)
    if not sweeps:
        raise ValueError("got no sweep records; run `glandseg sensitivity PRESET` first.")
    radii = sorted({r["opening_radius_px"] for s in sweeps for r in s["scores"][split]})
    sizes = sorted({r["min_size_px"] for s in sweeps for r in s["scores"][split]})
    cube = np.full((len(sweeps), len(radii), len(sizes)), np.nan)
    for k, s in enumerate(sweeps):
        for r in s["scores"][split]:
            cube[k, radii.index(r["opening_radius_px"]), sizes.index(r["min_size_px"])] = r[metric]
    owns = {(s["own"]["opening_radius_px"], s["own"]["min_size_px"]) for s in sweeps}
    rows = [s["scores"][split] for s in sweeps]
    return {
        "opening_radius_px": radii,
        "min_size_px": sizes,
        "values": cube.mean(axis=0),
        "n_runs": len(sweeps),
        "own": owns.pop() if len(owns) == 1 else None,
        "own_value": float(np.mean([r[s["chosen"]["own"]][metric] for r, s in zip(rows, sweeps)])),
        "chosen_value": float(np.mean([r[s["chosen"]["by_val"]][metric] for r, s in zip(rows, sweeps)])),
    }


def choice_rows(sweeps, metric: str = "f1") -> list[dict]:
    """Each run's own setting beside the one its validation images chose.

    Parameters
    ----------
    sweeps : list of dict
        Sweep records (:func:`load_sweeps`).
    metric : str
        One of :data:`SCORE_KEYS`.

    Returns
    -------
    rows : list of dict
        One per sweep, in order: ``run_id``, ``method`` (the configuration's label),
        ``opening_radius_px`` and ``min_size_px`` of the chosen setting, and for each split of
        :data:`SPLITS` ``<split>_own`` and ``<split>_chosen``, its ``metric`` at the run's own
        setting and at the chosen one.
    """
    if metric not in SCORE_KEYS:
        raise ValueError(f"metric must be one of {SCORE_KEYS}. Received: {metric!r}")
    rows = []
    for sweep in sweeps:
        own, chosen = sweep["chosen"]["own"], sweep["chosen"]["by_val"]
        setting = sweep["scores"]["val"][chosen]
        row = {"run_id": sweep["run_id"], "method": results.config_label(sweep["config"]),
               "opening_radius_px": setting["opening_radius_px"], "min_size_px": setting["min_size_px"]}
        for split in SPLITS:
            row[f"{split}_own"] = sweep["scores"][split][own][metric]
            row[f"{split}_chosen"] = sweep["scores"][split][chosen][metric]
        rows.append(row)
    return rows
