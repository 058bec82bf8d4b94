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


# -- results analysis: tables and figures for the book's metrics, results and discussion pages --

__all__ += [
    "comparison_table",
    "claims_table",
    "grade_table_view",
    "grade_bars",
    "training_curves",
    "difference_plot",
    "label_maps_figure",
    "object_table_view",
    "metrics_benchmark_table",
]

_METRIC_NAMES = {"f1": "F1", "object_dice": "object Dice", "object_hausdorff": "object Hausdorff"}


def comparison_table(rows, caption=None) -> Table:
    """The paper's figures beside the measured ones, from :func:`glandseg.analysis.results_table`.

    One column group per metric: the paper's value, ours (mean ± sd over seeds) and the 95%
    bootstrap interval of the pooled metric; then the number of runs and their seeds.
    """
    cols = ["method"]
    for name in _METRIC_NAMES.values():
        cols += [f"{name} (paper)", f"{name} (ours)", f"{name} 95% CI"]
    cols += ["runs", "seeds"]
    body = []
    for r in rows:
        line = [r["method"]]
        for m in _METRIC_NAMES:
            paper = r[f"paper_{m}"]
            line += ["—" if paper is None else f"{paper:g}", r[m], r[f"{m}_ci"]]
        line += [r["runs"], ", ".join(str(s) for s in r["seeds"]) or "—"]
        body.append(line)
    return Table(cols, body, caption=caption)


def grade_table_view(rows, caption=None) -> Table:
    """Per-grade figures from :func:`glandseg.analysis.grade_table` (F1 with its interval)."""
    from glandseg.analysis import format_interval

    cols = ["method", "grade", "images", "runs", "F1", "F1 95% CI", "object Dice", "object Hausdorff"]
    body = [
        [r["method"], r["grade"], r["n_images"], r["runs"], r["f1"], format_interval(r["f1_interval"]),
         r["object_dice"], r["object_hausdorff"]]
        for r in rows
    ]
    return Table(cols, body, caption=caption)


def grade_bars(rows, metric="f1", ax=None):
    """Grouped bars of a metric per configuration and grade, with 95% bootstrap intervals.

    Parameters
    ----------
    rows : list of dict
        From :func:`glandseg.analysis.grade_table`.
    metric : {"f1", "object_dice", "object_hausdorff"}
    ax : matplotlib Axes, optional
    """
    import matplotlib.pyplot as plt

    methods = list(dict.fromkeys(r["method"] for r in rows))
    grades = sorted({r["grade"] for r in rows})
    if ax is None:
        _, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(methods) + 1.5), 3.2), constrained_layout=True)
    if not rows:
        ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    width = 0.8 / max(len(grades), 1)
    colors = {"benign": "#4C72B0", "malignant": "#DD8452"}
    for g, grade in enumerate(grades):
        xs, ys, err = [], [], [[], []]
        for k, method in enumerate(methods):
            row = next((r for r in rows if r["method"] == method and r["grade"] == grade), None)
            if row is None:
                continue
            y = row[f"{metric}_mean"]
            ci = row.get(f"{metric}_interval")
            xs.append(k + (g - (len(grades) - 1) / 2) * width)
            ys.append(y)
            finite = ci is not None and np.isfinite(ci.low) and np.isfinite(ci.high)
            err[0].append(max(y - ci.low, 0.0) if finite else 0.0)
            err[1].append(max(ci.high - y, 0.0) if finite else 0.0)
        ax.bar(xs, ys, width, yerr=err, capsize=3, label=grade, color=colors.get(grade), alpha=0.9)
    ax.set_xticks(range(len(methods)))
    ax.set_xticklabels(methods, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(_METRIC_NAMES.get(metric, metric) + (" (lower is better)" if "hausdorff" in metric else ""))
    if metric != "object_hausdorff":
        ax.set_ylim(0, 1.15)  # room for the legend above the bars
        ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(fontsize=8, frameon=False, ncols=len(grades), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return ax


def training_curves(records, ncols=4):
    """A grid of :func:`training_curve` panels, one per record that has a ``history.csv``.

    Parameters
    ----------
    records : list of dict
        Results records with ``_path`` (:func:`glandseg.results.load_records`).
    ncols : int, optional

    Returns
    -------
    fig : matplotlib Figure or None
        None when no record has a history.
    """
    import matplotlib.pyplot as plt

    runs = [(r, Path(r["_path"]).parent / "history.csv") for r in records if r.get("_path")]
    runs = [(r, p) for r, p in runs if p.exists()]
    if not runs:
        return None
    ncols = min(ncols, len(runs))
    nrows = -(-len(runs) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.6 * nrows), squeeze=False, constrained_layout=True)
    for ax, (rec, path) in zip(axes.ravel(), runs):
        training_curve(path, ax=ax)
        ax.set_title(f"{rec.get('run_id')} ({rec.get('preset')})", fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        legend = ax.get_legend()
        if legend is not None and ax is not axes.ravel()[0]:
            legend.remove()
    for ax in axes.ravel()[len(runs):]:
        ax.set_axis_off()
    return fig


def claims_table(claim_rows, caption=None) -> Table:
    """One line per comparison of :func:`glandseg.analysis.claims`: difference, interval, verdict."""
    from glandseg.analysis import format_interval

    cols = ["claim", "comparison", "paper a − b", "ours a − b", "95% CI", "seeds", "verdict", "claim verdict"]
    body = []
    for c in claim_rows:
        for k, comp in enumerate(c["comparisons"]):
            d = comp["difference"]
            paper = comp["paper_difference"]
            seeds = comp["seeds"]
            body.append([
                c["claim"] if k == 0 else "",
                f"a = {comp['a']}, b = {comp['b']}",
                "—" if paper is None else f"{paper:+.3f}",
                "not run yet" if d is None else f"{d.estimate:+.3f}",
                "not run yet" if d is None else format_interval(d),
                "—" if not seeds else ", ".join(map(str, seeds)) + ("" if comp["paired_seeds"] else " (unpaired)"),
                comp["verdict"],
                c["verdict"] if k == 0 else "",
            ])
    return Table(cols, body, caption=caption)


def difference_plot(claim_rows, ax=None):
    """Measured differences ``a - b`` with 95% intervals (dots, bars) and the paper's (crosses)."""
    import matplotlib.pyplot as plt

    comps = [comp for c in claim_rows for comp in c["comparisons"]]
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.45 * len(comps) + 1.0), constrained_layout=True)
    ys = np.arange(len(comps))[::-1]
    labelled = set()

    def once(name):
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for y, comp in zip(ys, comps):
        d = comp["difference"]
        if d is not None:
            ax.errorbar(d.estimate, y, xerr=[[d.estimate - d.low], [d.high - d.estimate]], fmt="o", color="#4C72B0",
                        capsize=3, label=once("ours (95% CI)"))
        else:
            ax.text(0.99, y, "not run yet", va="center", ha="right", fontsize=8, color="0.4",
                    transform=ax.get_yaxis_transform())
        if comp["paper_difference"] is not None:
            ax.plot(comp["paper_difference"], y, "x", color="#C44E52", ms=7, label=once("paper"))
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{c['a']}  −  {c['b']}" for c in comps], fontsize=8)
    ax.set_xlabel("difference in pooled F1 (a − b)")
    ax.grid(axis="x", alpha=0.3)
    ax.set_ylim(-0.6, len(comps) - 0.4)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax


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
    """Per-object rows of :func:`glandseg.analysis.object_table` as a table."""
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


__all__ += ["protocol_table"]


def protocol_table(protocols, caption=None) -> Table:
    """Protocols side by side: one column per preset, one row per field of :func:`glandseg.analysis.protocol`."""
    names = list(protocols)
    fields = [("size", "input size (W x H)"), ("crop", "training crops"), ("augment", "augmentation"),
              ("epochs", "epochs"), ("batch_size", "batch size"), ("optimizer", "optimizer"),
              ("min_object_px", "smallest object kept (px)"), ("seconds", "training time (s, one run)"),
              ("device", "device")]
    body = []
    for key, label in fields:
        values = [protocols[n].get(key) for n in names]
        if all(v is None for v in values):
            continue
        body.append([label] + ["—" if v is None else (f"{v:.0f}" if key == "seconds" else v) for v in values])
    return Table(["", *names], body, caption=caption)
