"""The method's ceiling: what a perfect network would score after the paper's post-processing.

The network outputs a gland probability map at the preset's input size; the post-processing
resizes it back, thresholds it, cleans it and labels its connected components. Even a perfect
map, the training target itself, loses something on the way: glands that touch in the
annotation become one component, a ground-truth gland drawn in several pieces becomes several,
and at a reduced input size narrow gaps between glands vanish. The scores of that perfect map
are what a network that learned its target exactly would reach: a ceiling for networks trained
on this target with this post-processing (one could pass it only by departing from its target in
just the right places). They split the gap between our runs and the paper into what the
protocol costs by itself and what the network has not learned.

A ceiling record (``results/<preset>/ceiling.json``, written by ``glandseg ceiling``) holds, for
each test part, the scores at the preset's input size and at the original size, with each
image's figures, the configuration and the provenance. The book shows the ceilings on its
discussion page (book/discussion.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from glandseg import data, metrics, postprocess, preprocessing, results
from glandseg.report import analysis
from glandseg.config import PostprocessConfig, preset_config

__all__ = ["TEST_SPLITS", "perfect_map_scores", "perfect_segmentation", "ceiling_record", "write_ceiling", "load_ceilings"]

TEST_SPLITS = ("testA", "testB")
FILENAME = "ceiling.json"


def perfect_map_scores(samples, size=None, config=None) -> dict:
    """GlaS scores of each ground truth's gland mask put through the post-processing.

    Parameters
    ----------
    samples : sequence of glandseg.data.Sample
        Images of one test part with their instance labels (``labels``, (H, W) int, 0 =
        background).
    size : (width, height) tuple of int, optional
        The network's input size (``PreprocessConfig.size``). The perfect map is the binary
        gland mask resized to it by nearest neighbour, as training sees its target
        (:func:`glandseg.preprocessing.to_mask`); the post-processing resizes it back to the
        image's own size. None (default) skips the resize: the mask at the original size.
    config : PostprocessConfig, optional
        The post-processing (default ``PostprocessConfig()``).

    Returns
    -------
    dict
        :func:`glandseg.metrics.evaluate` of the post-processed masks against the labels,
        pooled over the part (``f1``, ``object_dice``, ``object_hausdorff``, ``tp``, ``fp``,
        ``fn``, ..., ``per_image``, and ``per_grade`` when every sample has a grade).

    Raises
    ------
    ValueError
        If ``samples`` is empty.

    Examples
    --------
    Two glands that touch in the annotation (areas 12 and 4 px) become one component: it
    covers the larger one (a true positive) and the smaller one goes missing.

    >>> from glandseg.data import Sample
    >>> labels = np.zeros((6, 8), int)
    >>> labels[1:5, 1:4], labels[1:5, 4:5] = 1, 2
    >>> s = Sample("x", np.zeros((6, 8, 3), np.uint8), labels)
    >>> r = perfect_map_scores([s], config=PostprocessConfig(min_size_px=1, hole_size_px=0))
    >>> r["tp"], r["fp"], r["fn"], round(r["f1"], 3)
    (1, 0, 1, 0.667)
    """
    samples = list(samples)
    if not samples:
        raise ValueError("samples is empty; give the images of a test part (glandseg.data.load_split).")
    return _scores(samples, [perfect_segmentation(s.labels, size, config) for s in samples])


def _scores(samples, segs) -> dict:
    grades = [s.grade for s in samples]
    return metrics.evaluate(
        segs, [s.labels for s in samples], aggregate="pooled", names=[s.name for s in samples],
        grades=grades if all(grades) else None,
    )


def perfect_segmentation(labels, size=None, config=None) -> np.ndarray:
    """The label map a perfect network gives after the post-processing (see :func:`perfect_map_scores`).

    Parameters
    ----------
    labels : (H, W) array_like of int
        Ground-truth instance labels (0 = background).
    size : (width, height) tuple of int, optional
        The network's input size; None keeps the original size.
    config : PostprocessConfig, optional

    Returns
    -------
    (H, W) int32 ndarray
        Instance labels at the original size.
    """
    labels = np.asarray(labels)
    config = PostprocessConfig() if config is None else config
    if size is None:
        return postprocess.to_instances((labels > 0).astype(np.float32), None, config)
    prob = preprocessing.to_mask(labels, size).astype(np.float32)
    return postprocess.to_instances(prob, labels.shape, config)


def _errors(samples, segs) -> dict:
    total = dict.fromkeys((*analysis.GLAND_FATES, *analysis.OBJECT_KINDS), 0)
    for s, seg in zip(samples, segs):
        for key, value in analysis.object_errors(seg, s.labels).items():
            total[key] += value
    return total


def _summary(scores: dict) -> dict:
    keep = {k: scores[k] for k in metrics.METRIC_KEYS}
    keep["n_images"] = len(scores["per_image"])
    keep["per_image"] = scores["per_image"]
    return keep


def ceiling_record(preset: str, root=None, *, splits=TEST_SPLITS) -> dict:
    """The ceiling of ``preset`` on the GlaS test parts, as a record.

    Parameters
    ----------
    preset : str
        A preset of :func:`glandseg.config.preset_config`; its input size and post-processing
        are used (the grid's other axes do not change either).
    root : path, optional
        GlaS folder (default: ``GLANDSEG_DATA`` or the user data folder).
    splits : sequence of str, optional

    Returns
    -------
    dict
        ``preset``, ``size`` (the input size, width x height), ``postprocess`` (its settings),
        ``scores``: split -> ``{"network_size": ..., "original_size": ...}``, each the pooled
        figures, ``n_images`` and ``per_image`` rows of :func:`perfect_map_scores` and
        ``errors`` (:func:`glandseg.report.analysis.object_errors` summed over the part); and
        ``provenance`` (:func:`glandseg.results.provenance`).

    Raises
    ------
    ValueError
        For an unknown preset, a preset on synthetic data or an unknown split.
    FileNotFoundError
        When the GlaS data are not found.
    """
    config = preset_config(preset)
    if config.data != "glas":
        raise ValueError(f"preset {preset!r} trains on {config.data} data; the ceiling needs GlaS (preset=paper, cpu or workshop).")
    bad = [s for s in splits if s not in TEST_SPLITS]
    if bad:
        raise ValueError(f"splits must be among {TEST_SPLITS}. Received: {bad}")
    started = results._utc_now()
    root = data.data_root(root)
    size = tuple(config.preprocess.size)
    scores = {}
    for split in splits:
        samples = data.load_split(split, root)
        scores[split] = {}
        for where, at in (("network_size", size), ("original_size", None)):
            segs = [perfect_segmentation(s.labels, at, config.postprocess) for s in samples]
            scores[split][where] = {**_summary(_scores(samples, segs)), "errors": _errors(samples, segs)}
    return {
        "kind": "ceiling",
        "preset": preset,
        "size": list(size),
        "postprocess": asdict(config.postprocess),
        "scores": scores,
        "provenance": results.provenance(started),
    }


def write_ceiling(preset: str, results_dir="results", root=None) -> Path:
    """Compute :func:`ceiling_record` and write it to ``results_dir/<preset>/ceiling.json`` (atomically)."""
    record = ceiling_record(preset, root)
    path = Path(results_dir) / preset / FILENAME
    results.write_json_atomic(path, record)
    return path


def load_ceilings(results_dir="results") -> dict[str, dict]:
    """Every ceiling record under ``results_dir``, by preset (sorted by preset name)."""
    out = {}
    for path in sorted(Path(results_dir).glob(f"*/{FILENAME}")):
        rec = json.loads(path.read_text())
        rec["_path"] = str(path)
        out[rec["preset"]] = rec
    return out
