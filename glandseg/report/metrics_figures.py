"""Figures and tables of the metrics page (book/metrics.md).

A tiny worked example of the GlaS object metrics drawn pixel by pixel with its per-object
table, and the agreement and speed of :mod:`glandseg.metrics` against the literal reference
(``benchmarks/results/metrics-*.json``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from glandseg.report.tables import Table

__all__ = ["label_maps_figure", "object_table_view", "metrics_benchmark_table"]


def label_maps_figure(seg, gt, ax=None):
    """A tiny label map drawn pixel by pixel: segmented objects filled, ground truth outlined.

    Each object's label is written at its centre: ``S<label>`` for segmented objects (in the
    fill colour) and ``G<label>`` for ground-truth objects (outlined in black).
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    seg, gt = np.asarray(seg), np.asarray(gt)
    if ax is None:
        _, ax = plt.subplots(figsize=(0.32 * seg.shape[1] + 0.6, 0.32 * seg.shape[0] + 0.4), constrained_layout=True)
    palette = ["#ffffff", "#8da0cb", "#fc8d62", "#66c2a5", "#e78ac3", "#a6d854", "#ffd92f"]
    labels = np.unique(seg[seg > 0])
    index = np.zeros_like(seg)
    for k, lab in enumerate(labels, 1):
        index[seg == lab] = k
    ax.imshow(index, cmap=ListedColormap(palette[: len(labels) + 1]), vmin=0, vmax=max(len(labels), 1), interpolation="nearest")
    h, w = seg.shape
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.85", lw=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for lab in np.unique(gt[gt > 0]):
        mask = gt == lab
        # outline: the edges between a pixel of the object and one outside it
        for r, c in zip(*np.nonzero(mask)):
            for dr, dc, seg_x, seg_y in ((-1, 0, (c - .5, c + .5), (r - .5, r - .5)), (1, 0, (c - .5, c + .5), (r + .5, r + .5)),
                                         (0, -1, (c - .5, c - .5), (r - .5, r + .5)), (0, 1, (c + .5, c + .5), (r - .5, r + .5))):
                rr, cc = r + dr, c + dc
                if not (0 <= rr < h and 0 <= cc < w) or not mask[rr, cc]:
                    ax.plot(seg_x, seg_y, color="black", lw=2, solid_capstyle="round")
        r, c = np.argwhere(mask).mean(axis=0)
        ax.text(c, r + 0.3, f"G{lab}", ha="center", va="center", fontsize=9, fontweight="bold")
    for lab in labels:
        r, c = np.argwhere(seg == lab).mean(axis=0)
        ax.text(c, r - 0.35, f"S{lab}", ha="center", va="center", fontsize=9, color="#333333", style="italic")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    return ax


def object_table_view(rows, caption=None) -> Table:
    """Per-object rows of :func:`glandseg.report.analysis.object_table` as a table."""
    cols = ["object", "area (px)", "partner", "overlap (px)", "weight", "Dice", "Hausdorff (px)", "TP"]
    body = []
    for r in rows:
        me, other = ("S", "G") if r["side"] == "seg" else ("G", "S")
        body.append([
            f"{me}{r['label']}", r["area_px"], "none" if r["partner"] is None else f"{other}{r['partner']}",
            r["overlap_px"], f"{r['weight']:.3f}", f"{r['dice']:.3f}", f"{r['hausdorff']:.3f}",
            {True: "yes", False: "no"}.get(r.get("tp"), ""),
        ])
    return Table(cols, body, caption=caption)


def metrics_benchmark_table(path) -> Table:
    """Agreement with the literal MATLAB-style reference and speed, from ``benchmarks/results/metrics-*.json``.

    One row per perturbation family: images, the largest absolute differences of F1, object
    Dice and object Hausdorff against the reference, count mismatches, and the time per image
    of the reference and of :mod:`glandseg.metrics`.
    """
    import json

    bench = json.loads(Path(path).read_text())
    cols = ["family", "images", "max abs ΔF1", "max abs ΔDice", "max abs ΔHausdorff", "count mismatches",
            "reference (ms/image)", "glandseg (ms/image)", "speed-up"]
    body = []
    for name, fam in bench["families"].items():
        diff = fam["max_abs_diff"]
        body.append([
            name, fam["images"], f"{diff['f1']:.1e}", f"{diff['object_dice']:.1e}", f"{diff['object_hausdorff']:.1e}",
            len(fam["count_mismatches"]), f"{fam['literal_per_image_ms']:.0f}", f"{fam['fast_per_image_ms']:.1f}",
            f"{fam['speedup_wall']:.0f}x",
        ])
    return Table(cols, body, caption=f"{bench['benchmark']}; {bench['data']['images']} GlaS test annotations, "
                                      f"run {bench['started_utc'][:10]} at commit {str(bench['git_commit'])[:7]}")
