"""Figures and tables for notebooks and the book (matplotlib; everything read from run folders).

Notebooks stay thin: each figure they show is one call here.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path

import numpy as np

__all__ = ["Table", "metrics_table", "training_curve", "overlay", "prediction_overlays", "pipeline_figure"]


class Table:
    """A small table that renders as HTML in Jupyter and as Markdown in text.

    Parameters
    ----------
    columns : list of str
    rows : list of list
    caption : str, optional
    """

    def __init__(self, columns, rows, caption=None):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.caption = caption

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in self.rows
        )
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_markdown(self):
        lines = ["| " + " | ".join(map(str, self.columns)) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(map(str, r)) + " |" for r in self.rows]
        return "\n".join(lines)

    _repr_markdown_ = to_markdown

    def __str__(self):
        return self.to_markdown()


def _fmt(value, digits=3):
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if value is None:
        return "-"
    return f"{float(value):.{digits}f}"


def metrics_table(record: dict) -> Table:
    """Pooled metrics of each test part of one record, plus per grade where available."""
    cols = ["part", "F1", "object Dice", "object Hausdorff", "TP", "FP", "FN"]
    rows = []
    for split, m in record["metrics"].items():
        groups = [(split, m["pooled"])] + [(f"{split} {g}", v) for g, v in sorted(m.get("per_grade", {}).items())]
        for name, p in groups:
            rows.append(
                [name, _fmt(p["f1"]), _fmt(p["object_dice"]), _fmt(p["object_hausdorff"], 2), p["tp"], p["fp"], p["fn"]]
            )
    return Table(cols, rows, caption=f"{record.get('run_id', '')} ({record.get('preset', '')}, seed {record.get('seed')})")


def _read_history(path):
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) if r.get(k) not in (None, "") else np.nan for r in rows]) for k in rows[0]} if rows else {}


def training_curve(history_csv, ax=None):
    """Training and validation loss per epoch from a run's ``history.csv``."""
    import matplotlib.pyplot as plt

    hist = _read_history(history_csv)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3), constrained_layout=True)
    if not hist:
        ax.text(0.5, 0.5, "no epochs yet", ha="center", transform=ax.transAxes)
        return ax
    for key, style in (("loss", "-"), ("val_loss", "--")):
        if key in hist:
            ax.plot(hist["epoch"], hist[key], style, marker="o", ms=3, label=key.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (lower is better)")
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def overlay(image, seg, gt=None):
    """RGB image with predicted instances filled and ground-truth outlines (float (H, W, 3))."""
    from skimage.color import label2rgb
    from skimage.segmentation import find_boundaries

    out = label2rgb(seg, image=image, bg_label=0, alpha=0.35, image_alpha=1.0)
    if gt is not None:
        out[find_boundaries(gt, mode="inner")] = (0.0, 1.0, 0.2)
    return out


def prediction_overlays(record: dict, run_dir, *, root=None, n=3, split="testA", which="spread", axes=None):
    """Overlays of ``n`` test images of a run: prediction filled, ground truth outlined in green.

    ``which="spread"`` picks the best, median and worst images by per-image object Dice.
    """
    import matplotlib.pyplot as plt
    from PIL import Image

    from glandseg import runner
    from glandseg.config import ExperimentConfig

    config = ExperimentConfig.from_dict({k: v for k, v in record["config"].items() if k in ExperimentConfig.__dataclass_fields__})
    samples = {s.name: s for s in runner.load_samples(config, split, root)}
    per_image = record["metrics"][split].get("per_image") or [{"name": name} for name in samples]
    scored = sorted(per_image, key=lambda r: r.get("object_dice", 0.0), reverse=True)
    if which == "spread" and len(scored) > n:
        picks = [scored[int(round(i))] for i in np.linspace(0, len(scored) - 1, n)]
    else:
        picks = scored[:n]
    if axes is None:
        _, axes = plt.subplots(1, len(picks), figsize=(4 * len(picks), 3), constrained_layout=True)
    for ax, row in zip(np.atleast_1d(axes), picks):
        sample = samples[row["name"]]
        with Image.open(runner.prediction_path(run_dir, row["name"])) as im:
            seg = np.asarray(im).astype(np.int32)
        ax.imshow(overlay(sample.image, seg, sample.labels))
        title = row["name"]
        if "object_dice" in row:
            title += f"  Dice {row['object_dice']:.2f}  F1 {row.get('f1', float('nan')):.2f}"
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return axes


def pipeline_figure(image, h_channel, sharpened, prob, instances, path=None):
    """Input, H channel, unsharp-masked H, probability and instances side by side."""
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    panels = [
        ("input (RGB)", image, None),
        ("hematoxylin", h_channel, "gray"),
        ("unsharp-masked H", sharpened, "gray"),
        ("probability", prob, "magma"),
        ("instances", label2rgb(instances, image=image, bg_label=0, alpha=0.45), None),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.6), constrained_layout=True)
    for ax, (title, img, cmap) in zip(axes, panels):
        # The H channel occupies the low end of its fixed [0, 1] scale (a property of the
        # stain, kept on purpose); stretch the display to its 99.5th percentile to show it.
        vmax = 1 if cmap == "magma" else (max(float(np.percentile(img, 99.5)), 1e-6) if cmap else None)
        ax.imshow(img, cmap=cmap, vmin=0 if cmap else None, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
