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
    groups : list of (str or None, int), optional
        A header row above ``columns``: each entry labels ``span`` consecutive columns, so a
        wide table can say "F1" once over "paper | ours | 95% CI". A ``None`` label of span 1
        leaves that column's own name spanning both header rows. The spans must add up to the
        number of columns.
    """

    def __init__(self, columns, rows, caption=None, groups=None):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]
        self.caption = caption
        self.groups = None if groups is None else [(label, int(span)) for label, span in groups]
        if self.groups is not None and sum(span for _, span in self.groups) != len(self.columns):
            raise ValueError(f"groups span {sum(s for _, s in self.groups)} columns, the table has {len(self.columns)}")

    def _head_html(self):
        esc = lambda v: html.escape(str(v))  # noqa: E731
        if self.groups is None:
            return "<tr>" + "".join(f"<th>{esc(c)}</th>" for c in self.columns) + "</tr>"
        top, bottom, i = [], [], 0
        for label, span in self.groups:
            names = self.columns[i:i + span]
            if label is None and span == 1:
                top.append(f'<th rowspan="2">{esc(names[0])}</th>')
            else:
                top.append(f'<th colspan="{span}" class="group">{esc(label or "")}</th>')
                bottom += [f"<th>{esc(c)}</th>" for c in names]
            i += span
        return "<tr>" + "".join(top) + "</tr><tr>" + "".join(bottom) + "</tr>"

    def _repr_html_(self):
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in self.rows
        )
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead>{self._head_html()}</thead><tbody>{body}</tbody></table>"

    def flat_columns(self):
        """Column names with their group label in front ("F1 paper"), for one-row headers."""
        if self.groups is None:
            return list(self.columns)
        names, i = [], 0
        for label, span in self.groups:
            names += [c if label is None else f"{label} {c}" for c in self.columns[i:i + span]]
            i += span
        return names

    def to_markdown(self):
        cols = self.flat_columns()
        lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
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
    "seed_lines",
    "sweep_heatmaps",
    "label_maps_figure",
    "object_table_view",
    "metrics_benchmark_table",
]

_METRIC_NAMES = {"f1": "F1", "object_dice": "object Dice", "object_hausdorff": "object Hausdorff"}


def comparison_table(rows, caption=None) -> Table:
    """The paper's figures beside the measured ones, from :func:`glandseg.report.analysis.results_table`.

    One column group per metric: the paper's value, ours (mean ± sd over seeds) and the 95%
    bootstrap interval of the pooled metric; then the number of runs and their seeds.
    """
    cols, groups = ["method"], [(None, 1)]
    for name in _METRIC_NAMES.values():
        cols += ["paper", "ours", "95% CI"]
        groups.append((name, 3))
    cols += ["runs (seeds)"]
    groups.append((None, 1))
    body = []
    for r in rows:
        line = [r["method"]]
        for m in _METRIC_NAMES:
            paper = r[f"paper_{m}"]
            line += ["—" if paper is None else f"{paper:g}", r[m], r[f"{m}_ci"]]
        seeds = ", ".join(str(s) for s in r["seeds"])
        line.append(f"{r['runs']} ({seeds})" if seeds else r["runs"])
        body.append(line)
    return Table(cols, body, caption=caption, groups=groups)


def results_figure(tables, *, axes=None):
    """The paper's tables as dot plots: each seed, our seed mean with its interval, the paper's figure.

    Parameters
    ----------
    tables : dict of str -> list of dict
        A title (``"Test A"``) -> the rows of :func:`glandseg.report.analysis.results_table` for one
        preset; one row of panels per entry.
    axes : array of matplotlib Axes, optional
        Shape ``(len(tables), 3)``: one column per metric (F1, object Dice, object Hausdorff).

    Returns
    -------
    axes : ndarray of matplotlib Axes, shape (len(tables), 3)

    Notes
    -----
    A configuration is one line of each panel: small grey dots for its runs (one per seed), a
    blue dot and bar for the mean over seeds and its 95% bootstrap interval (no bar where the
    interval is unknown or infinite), and a red diamond for the paper's figure. A configuration
    without a record says "not run yet" in its label.
    """
    import matplotlib.pyplot as plt

    names = list(tables)
    if not names:
        raise ValueError("tables is empty; give at least one test part's rows, e.g. {'Test A': rows}.")
    if axes is None:
        n = max(len(rows) for rows in tables.values())
        _, axes = plt.subplots(len(names), 3, figsize=(10.5, (0.32 * n + 1.2) * len(names)), squeeze=False,
                               sharey="row", constrained_layout=True)
    axes = np.asarray(axes).reshape(len(names), 3)
    mean_label = "ours, mean over seeds (95% CI)"
    for axrow, name in zip(axes, names):
        rows = tables[name]
        ys = np.arange(len(rows))[::-1]
        for ax, (m, metric_name) in zip(axrow, _METRIC_NAMES.items()):
            for y, r in zip(ys, rows):
                values = [v for v in r.get(f"{m}_values", []) if np.isfinite(v)]
                if values:
                    ax.plot(values, [y] * len(values), "o", ms=3.5, color="0.55", alpha=0.8, label="ours, each seed")
                    ci = r.get(f"{m}_interval")
                    mean = ci.estimate if ci is not None and np.isfinite(ci.estimate) else float(np.mean(values))
                    if ci is not None and np.isfinite(ci.low) and np.isfinite(ci.high):
                        err = [[max(mean - ci.low, 0.0)], [max(ci.high - mean, 0.0)]]
                        ax.errorbar(mean, y, xerr=err, fmt="o", ms=5, color="#4C72B0", capsize=3, label=mean_label)
                    else:
                        ax.plot(mean, y, "o", ms=5, color="#4C72B0", label=mean_label)
                paper = r.get(f"paper_{m}")
                if paper is not None:
                    ax.plot(paper, y, "D", ms=5, mfc="none", mec="#C44E52", mew=1.4, label="paper")
            ax.set_title(f"{name}: {metric_name}", fontsize=9)
            ax.set_xlabel(metric_name + (" (lower is better)" if "hausdorff" in m else ""), fontsize=8)
            ax.grid(axis="x", alpha=0.3)
            ax.tick_params(labelsize=8)
            ax.set_ylim(-0.6, len(rows) - 0.4)
        axrow[0].set_yticks(ys)
        axrow[0].set_yticklabels([r["method"] + ("" if r.get("runs") else " (not run yet)") for r in rows])
    legend = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    order = [label for label in ("ours, each seed", mean_label, "paper") if label in legend]
    if order:
        axes[0, 0].figure.legend([legend[label] for label in order], order, loc="outside lower center",
                                 ncols=len(order), fontsize=8, frameon=False)
    return axes


_FATE_COLORS = {"found": "#55A868", "merged": "#C44E52", "partly found": "#DD8452", "missed": "#8C8C8C"}
_KIND_COLORS = {"true positive": "#55A868", "off target": "#DD8452", "spurious": "#8172B2"}


def error_bars(rows, *, axes=None):
    """What became of the glands (left) and what the segmented objects are (right), per row.

    Parameters
    ----------
    rows : list of dict
        From :func:`glandseg.report.analysis.error_table`, optionally with further rows of the same
        keys (``method``, ``n_gt``, the fates and kinds), e.g. a perfect network's.
    axes : pair of matplotlib Axes, optional

    Returns
    -------
    axes : ndarray of two matplotlib Axes
        Left: each row's ground-truth glands as shares found / merged / partly found / missed
        (bars of length 1). Right: its segmented objects as counts of true positives, off-target
        and spurious objects, with a tick at the number of glands.
    """
    import matplotlib.pyplot as plt

    from glandseg.report.analysis import GLAND_FATES, OBJECT_KINDS

    rows = [r for r in rows if r.get("n_gt")]
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10.5, 0.38 * max(len(rows), 1) + 1.4), sharey=True,
                               constrained_layout=True)
    axes = np.asarray(axes).ravel()
    if not rows:
        for ax in axes:
            ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
        return axes
    ys = np.arange(len(rows))[::-1]
    for keys, colors, ax, total in ((GLAND_FATES, _FATE_COLORS, axes[0], True), (OBJECT_KINDS, _KIND_COLORS, axes[1], False)):
        left = np.zeros(len(rows))
        for key in keys:
            values = np.array([r[key] / r["n_gt"] if total else r[key] for r in rows], dtype=float)
            ax.barh(ys, values, left=left, color=colors[key], label=key, height=0.7)
            left += values
        ax.legend(fontsize=8, frameon=False, ncols=len(keys), loc="lower left", bbox_to_anchor=(0, 1.0))
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0].set_xlim(0, 1)
    axes[0].set_xlabel("share of the ground-truth glands", fontsize=8)
    axes[1].set_xlabel("segmented objects (count; | = number of glands)", fontsize=8)
    axes[1].plot([r["n_gt"] for r in rows], ys, "|", color="black", ms=14, mew=1.5)
    axes[0].set_yticks(ys)
    axes[0].set_yticklabels([r["method"] for r in rows])
    return axes


def grade_table_view(rows, caption=None) -> Table:
    """Per-grade figures from :func:`glandseg.report.analysis.grade_table` (F1 with its interval)."""
    from glandseg.report.analysis import format_interval

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
        From :func:`glandseg.report.analysis.grade_table`.
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
    """One line per comparison of :func:`glandseg.report.analysis.claims`: difference, interval, verdict."""
    from glandseg.report.analysis import format_interval

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

def _panels(items, axes, name, size):
    """One dict or a list of them, and one Axes per item (a new row of panels of ``size`` inches)."""
    import matplotlib.pyplot as plt

    items = [items] if isinstance(items, dict) else list(items)
    if axes is None:
        _, axes = plt.subplots(1, len(items), figsize=(size[0] * len(items), size[1]), squeeze=False, constrained_layout=True)
    axes = list(np.ravel(axes))
    if len(axes) != len(items):
        raise ValueError(f"give one Axes per entry of {name} ({len(items)}); got {len(axes)}.")
    return items, axes


def seed_lines(effects, *, axes=None, names=("Test A", "Test B")):
    """Each configuration's pooled figure against the seed: one line per configuration.

    Parameters
    ----------
    effects : dict or sequence of dict
        From :func:`glandseg.report.analysis.seed_effects`, one per panel (e.g. Test A and Test B).
    axes : matplotlib Axes or sequence of them, optional
        One per entry of ``effects``.
    names : sequence of str
        Panel titles, in the order of ``effects``.

    Returns
    -------
    axes : list of matplotlib Axes

    Notes
    -----
    Lines that run parallel show a seed effect shared by every configuration; lines that cross
    show the seed and the configuration interacting. The black dashed line is the mean over
    configurations at each seed. A panel without a complete block of runs says so.
    """
    effects, axes = _panels(effects, axes, "effects", (4.2, 3.4))
    for ax, e, name in zip(axes, effects, names):
        metric = _METRIC_NAMES.get(e["metric"], e["metric"])
        ax.set_title(f"{name}: pooled {metric}", fontsize=9)
        if e["values"] is None:
            ax.text(0.5, 0.5, "not run yet: no two configurations\nshare two seeds", ha="center", va="center",
                    fontsize=8, color="0.4", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        xs = np.arange(len(e["seeds"]))
        for label, row in zip(e["methods"], e["values"]):
            ax.plot(xs, row, "o-", ms=4, lw=1.2, alpha=0.85, label=label)
        ax.plot(xs, [e["seed_means"][s] for s in e["seeds"]], "--", color="black", lw=1.6, label="mean of the configurations")
        ax.set_xticks(xs)
        ax.set_xticklabels([f"seed {s}" for s in e["seeds"]], fontsize=8)
        ax.set_ylabel(metric + (" (lower is better)" if "hausdorff" in e["metric"] else ""), fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.set_xlim(-0.3, len(xs) - 0.7)
    handles = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if handles:
        axes[-1].legend(handles.values(), handles.keys(), fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return axes


def sweep_heatmaps(grids, *, names=("Test A", "Test B"), axes=None, metric_name="F1"):
    """Mean pooled figure of the runs at each post-processing setting, one panel per test part.

    Parameters
    ----------
    grids : dict or sequence of dict
        From :func:`glandseg.report.sensitivity.mean_grid`, one per panel.
    names : sequence of str
        Panel titles, in the order of ``grids``.
    axes : matplotlib Axes or sequence of them, optional
        One per entry of ``grids``.
    metric_name : str
        What the values are, for the colour bar.

    Returns
    -------
    axes : list of matplotlib Axes

    Notes
    -----
    Rows are opening radii, columns smallest object sizes (pixels of the original image); each
    cell is written out. The runs' own setting, when they share one, has a black frame. A
    setting that not every run holds is left blank.
    """
    from matplotlib.patches import Rectangle

    grids, axes = _panels(grids, axes, "grids", (4.3, 3.3))
    for ax, g, name in zip(axes, grids, names):
        values = np.asarray(g["values"], float)
        image = ax.imshow(values, cmap="viridis", aspect="auto", origin="lower")
        finite = values[np.isfinite(values)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.3f}", ha="center", va="center", fontsize=7.5, color="black" if v > middle else "white")
        if g.get("own") is not None:
            i, j = g["opening_radius_px"].index(g["own"][0]), g["min_size_px"].index(g["own"][1])
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="black", lw=2))
        ax.set_xticks(range(len(g["min_size_px"])))
        ax.set_xticklabels(g["min_size_px"], fontsize=8)
        ax.set_yticks(range(len(g["opening_radius_px"])))
        ax.set_yticklabels(g["opening_radius_px"], fontsize=8)
        ax.set_xlabel("smallest object kept (px)", fontsize=8)
        ax.set_ylabel("opening radius (px)", fontsize=8)
        runs = g.get("n_runs")
        ax.set_title(f"{name}: mean pooled {metric_name}" + (f" of {runs} run{'s' if runs != 1 else ''}" if runs else ""),
                     fontsize=9)
        ax.figure.colorbar(image, ax=ax, shrink=0.85).ax.tick_params(labelsize=7)
    return axes


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


# ----------------------------------------------------------------------------------------------
# Book: the data and method pages (GlaS statistics, pre-processing, augmentation, model, losses,
# post-processing, open decisions). Every function takes arrays or package objects and returns a
# matplotlib figure or a Table; nothing here reads files.

_SPLIT_ORDER = ("train", "testA", "testB")
_GRADE_ORDER = ("benign", "malignant")
_CROP_COLOURS = ("tab:orange", "tab:cyan", "tab:olive", "tab:pink")


class Note:
    """A boxed note ("admonition") for a page, e.g. to say that the GlaS data is missing.

    Parameters
    ----------
    text : str
        The message; text between backticks is shown as code.
    title : str, optional
        Box title.

    Notes
    -----
    Renders as the HTML of a Sphinx ``note`` admonition (styled by the book's theme) and as
    Markdown elsewhere.

    Examples
    --------
    >>> Note("Run `glandseg download`.")._repr_html_()[:31]
    '<div class="admonition note"><p'
    """

    def __init__(self, text, title="Note"):
        self.text = str(text)
        self.title = str(title)

    def _repr_html_(self):
        import re

        body = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.text))
        return (
            f'<div class="admonition note"><p class="admonition-title">{html.escape(self.title)}</p>'
            f"<p>{body}</p></div>"
        )

    def _repr_markdown_(self):
        return f"**{self.title}.** {self.text}"

    def __str__(self):
        return f"{self.title}: {self.text}"


def missing_data_note(what="the figures below use synthetic images instead"):
    """The note a page shows when the GlaS data is not found (see ``glandseg.data.find_data``).

    Parameters
    ----------
    what : str, optional
        What the page does instead, appended to the message.

    Returns
    -------
    note : Note
    """
    return Note(
        "This page shows GlaS images, which are research-use only and not part of the repository. "
        "Run `glandseg download` to fetch it, or `glandseg download --from PATH` with a copy you "
        "already have, or set the environment variable `GLANDSEG_DATA` to the folder that holds "
        f"it; then rebuild the book. Until then {what}.",
        title="GlaS data not found",
    )


def _by_image(stats):
    """(name, split, grade, glands) per image of a ``gland_stats`` table, in first-seen order."""
    names = list(dict.fromkeys(stats["name"].tolist()))
    first = {name: i for i, name in reversed(list(enumerate(stats["name"].tolist())))}
    counts = {name: 0 for name in names}
    for name in stats["name"].tolist():
        counts[name] += 1
    return [(n, stats["split"][first[n]], stats["grade"][first[n]], counts[n]) for n in names]


def glands_per_image(stats):
    """Number of annotated glands of each image, grouped by split and grade.

    Parameters
    ----------
    stats : dict of ndarray
        Per-gland table from :func:`glandseg.data.gland_stats`.

    Returns
    -------
    counts : dict of (str, str) to ndarray of int
        ``(split, grade)`` to the gland counts of its images, in image order. Images without any
        gland have no row in ``stats`` and so do not appear.

    Examples
    --------
    >>> import numpy as np
    >>> stats = {"name": np.array(["a", "a", "b"], object), "split": np.array(["train"] * 3, object),
    ...          "grade": np.array(["benign", "benign", "malignant"], object)}
    >>> {k: v.tolist() for k, v in glands_per_image(stats).items()}
    {('train', 'benign'): [2], ('train', 'malignant'): [1]}
    """
    out = {}
    for _, split, grade, n in _by_image(stats):
        out.setdefault((split, grade), []).append(n)
    return {key: np.array(value, dtype=np.int64) for key, value in out.items()}


def split_summary_table(samples, stats):
    """Images, grades, glands and gland sizes per split, as a table.

    Parameters
    ----------
    samples : sequence of Sample
        The images (their names give the split, see :func:`glandseg.data.gland_stats`).
    stats : dict of ndarray
        ``gland_stats(samples)``.

    Returns
    -------
    table : Table
        One row per split (train, testA, testB, then any other in order of appearance) and a
        total row: images, benign and malignant images, glands, median (min-max) glands per
        image and median gland area in pixels.
    """
    from glandseg.data import _split_of

    splits = [s for s in _SPLIT_ORDER if any(_split_of(x.name) == s for x in samples)]
    splits += [s for s in dict.fromkeys(_split_of(x.name) for x in samples) if s not in splits]
    per_image = {name: n for name, _, _, n in _by_image(stats)}

    def row(label, chosen):
        names = [x.name for x in chosen]
        counts = np.array([per_image.get(n, 0) for n in names])
        areas = stats["area_px"][np.isin(stats["name"], names)]
        grades = [x.grade for x in chosen]
        spread = f"{int(np.median(counts))} ({counts.min()}-{counts.max()})" if len(counts) else "-"
        return [
            label, len(chosen), grades.count("benign"), grades.count("malignant"), int(counts.sum()),
            spread, int(np.median(areas)) if len(areas) else "-",
        ]

    rows = [row(str(s), [x for x in samples if _split_of(x.name) == s]) for s in splits]
    rows.append(row("all", list(samples)))
    columns = ["split", "images", "benign", "malignant", "glands", "glands per image, median (range)",
               "median gland area (px)"]
    return Table(columns, rows)


def gland_size_figure(stats):
    """Histograms of gland areas by split and by grade, and glands per image.

    Parameters
    ----------
    stats : dict of ndarray
        Per-gland table from :func:`glandseg.data.gland_stats`.

    Returns
    -------
    fig : matplotlib Figure
        Three panels: gland area (log scale) as a fraction of each split's glands; the same by
        grade; glands per image as box plots with every image drawn as a dot, per split and
        grade.
    """
    import matplotlib.pyplot as plt

    area = stats["area_px"]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
    bins = np.logspace(0, np.log10(max(int(area.max()) if len(area) else 1, 10)) + 0.01, 41)
    for ax, column, groups, title in (
        (axes[0], "split", _ordered(stats["split"], _SPLIT_ORDER), "by split"),
        (axes[1], "grade", _ordered(stats["grade"], _GRADE_ORDER), "by grade"),
    ):
        for group in groups:
            values = area[stats[column] == group]
            ax.hist(values, bins=bins, weights=np.full(len(values), 1 / len(values)), histtype="step",
                    lw=1.6, label=f"{group} ({len(values)} glands)")
        ax.set_xscale("log")
        ax.set_xlabel("gland area (pixels, log scale)")
        ax.set_ylabel("fraction of glands")
        ax.set_title(f"Gland area {title}", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    counts = glands_per_image(stats)
    keys = [(s, g) for s in _ordered(stats["split"], _SPLIT_ORDER) for g in _ordered(stats["grade"], _GRADE_ORDER)
            if (s, g) in counts]
    ax = axes[2]
    ax.boxplot([counts[k] for k in keys], positions=range(len(keys)), widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)  # horizontal jitter of the dots only
    for i, key in enumerate(keys):
        ax.plot(i + rng.uniform(-0.15, 0.15, len(counts[key])), counts[key], "o", ms=3, alpha=0.5,
                color="tab:red" if key[1] == "malignant" else "tab:blue")
    ax.set_xticks(range(len(keys)), [f"{s}\n{g}" for s, g in keys], fontsize=8)
    ax.set_ylabel("glands per image")
    ax.set_title("Glands per image", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    return fig


def _ordered(values, preferred):
    present = [v for v in dict.fromkeys(values.tolist()) if v is not None]
    return [v for v in preferred if v in present] + [v for v in present if v not in preferred]


def oddity_table(rows, splits=_SPLIT_ORDER):
    """Counts of annotation oddities per split: labels (and the images they are in).

    Parameters
    ----------
    rows : list of dict
        From :func:`glandseg.data.annotation_oddities`.
    splits : sequence of str, optional
        Column order.

    Returns
    -------
    table : Table
        One row per kind of :data:`glandseg.data.ODDITIES`; each cell is ``"labels (images)"``.

    Examples
    --------
    >>> rows = [{"name": "train_1", "split": "train", "kind": "tiny"},
    ...         {"name": "train_1", "split": "train", "kind": "tiny"}]
    >>> oddity_table(rows, ["train"]).rows[2]
    ['tiny', '2 (1)']
    """
    from glandseg.data import ODDITIES

    table = []
    for kind in ODDITIES:
        cells = [kind]
        for split in splits:
            found = [r for r in rows if r["kind"] == kind and r["split"] == split]
            cells.append(f"{len(found)} ({len({r['name'] for r in found})})")
        table.append(cells)
    return Table(["oddity"] + [f"{s}: labels (images)" for s in splits], table)


def _outline(labels, width=1):
    """Boolean mask of instance outlines, ``width`` pixels thick (inner boundaries)."""
    from scipy import ndimage as ndi
    from skimage.segmentation import find_boundaries

    edges = find_boundaries(labels, mode="inner")
    return ndi.binary_dilation(edges, iterations=width - 1) & (labels > 0) if width > 1 else edges


def _with_outline(image, labels, colour=(0.0, 1.0, 0.2), width=3):
    out = np.asarray(image, dtype=np.float32)
    out = out / 255.0 if np.asarray(image).dtype == np.uint8 else out.copy()
    out[_outline(labels, width)] = colour
    return out


def annotation_montage(samples, *, ncols=3, width_in=4.2):
    """A grid of images with their gland outlines (green) and name, grade and gland count.

    Parameters
    ----------
    samples : sequence of Sample
        Images to show, in order.
    ncols : int, keyword-only
        Columns of the grid.
    width_in : float, keyword-only
        Width of one panel in inches.

    Returns
    -------
    fig : matplotlib Figure
    """
    import matplotlib.pyplot as plt

    n = len(samples)
    nrows = -(-n // ncols)
    aspect = samples[0].image.shape[0] / samples[0].image.shape[1]
    fig, axes = plt.subplots(nrows, ncols, figsize=(width_in * ncols, width_in * aspect * nrows + 0.4 * nrows),
                             constrained_layout=True, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, sample in zip(axes.ravel(), samples):
        ax.imshow(_with_outline(sample.image, sample.labels))
        glands = len(np.unique(sample.labels)) - int((sample.labels == 0).any())
        ax.set_title(f"{sample.name} ({sample.grade}, {glands} glands)", fontsize=9)
    return fig


def pieces_figure(sample, label, *, connectivity=2):
    """One annotated label that falls apart into several connected pieces.

    Parameters
    ----------
    sample : Sample
        The image and its labels.
    label : int
        The label value to show.
    connectivity : {1, 2}, keyword-only
        Connectivity of the pieces (2 = 8-connected).

    Returns
    -------
    fig : matplotlib Figure
        Left: the annotation, one colour per label value, over the image; right: the chosen
        label alone, one colour per connected piece.

    Raises
    ------
    ValueError
        If ``label`` does not occur in the sample.
    """
    import matplotlib.pyplot as plt
    from scipy import ndimage as ndi
    from skimage.color import label2rgb

    region = sample.labels == label
    if not region.any():
        raise ValueError(f"label {label} does not occur in {sample.name}. Received: label={label!r}")
    pieces, n = ndi.label(region, structure=ndi.generate_binary_structure(2, connectivity))
    h, w = region.shape
    fig, axes = plt.subplots(1, 2, figsize=(11, 11 / 2 * h / w + 0.4), constrained_layout=True)
    axes[0].imshow(label2rgb(sample.labels, image=sample.image, bg_label=0, alpha=0.45, image_alpha=1.0))
    labels_present = len(np.unique(sample.labels)) - int((sample.labels == 0).any())
    plural = "s" if labels_present != 1 else ""
    axes[0].set_title(f"{sample.name}: {labels_present} label value{plural}, one colour each", fontsize=9)
    axes[1].imshow(label2rgb(pieces, image=sample.image, bg_label=0, alpha=0.45, image_alpha=1.0))
    axes[1].set_title(f"label {label} alone: {n} connected pieces, one colour each", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    return fig


def preprocessing_figure(rgb, config=None, *, zoom=None):
    """The pre-processing steps of one image: RGB, H channel, unsharp-masked H, with a zoom.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
        An H&E image.
    config : glandseg.config.PreprocessConfig, optional
        Size and unsharp parameters; the paper's by default.
    zoom : (y0, x0, height, width), optional
        Window of the resized image shown enlarged in the second row; default a window of a
        quarter of each side around the centre.

    Returns
    -------
    fig : matplotlib Figure
        Two rows of three panels: resized RGB, H channel and unsharp-masked H channel (from
        :func:`glandseg.preprocessing.to_input`, so exactly the network input), then the zoom.
        Both H panels share one grey scale, stretched to the 99.5th percentile of the H channel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from glandseg.config import PreprocessConfig
    from glandseg.preprocessing import resize, to_input

    config = PreprocessConfig() if config is None else config
    h_config = config.replace(input="hematoxylin")
    resized = resize(np.asarray(rgb), config.size)
    h = to_input(rgb, h_config.replace(unsharp=False))[..., 0]
    sharp = to_input(rgb, h_config.replace(unsharp=True))[..., 0]
    height, width = h.shape
    if zoom is None:
        zoom = (3 * height // 8, 3 * width // 8, height // 4, width // 4)
    y0, x0, zh, zw = zoom
    vmax = max(float(np.percentile(h, 99.5)), 1e-6)
    panels = [
        (f"RGB, resized to {width}x{height}", resized, {}),
        ("hematoxylin (H) channel", h, {"cmap": "gray", "vmin": 0, "vmax": vmax}),
        (f"H after unsharp masking (sigma {config.unsharp_radius_px:g} px, amount {config.unsharp_amount:g})",
         sharp, {"cmap": "gray", "vmin": 0, "vmax": vmax}),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.2), constrained_layout=True)
    for (title, image, kwargs), top, bottom in zip(panels, axes[0], axes[1]):
        top.imshow(image, **kwargs)
        top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), zw, zh, fill=False, ec="yellow", lw=1.2))
        top.set_title(title, fontsize=9)
        bottom.imshow(image[y0:y0 + zh, x0:x0 + zw], **kwargs)
        bottom.set_title("zoom on the yellow box", fontsize=9)
        top.set_axis_off()
        bottom.set_axis_off()
    return fig


def _display(image):
    """A variant or crop (float, 0-255 or 0-1, 1 or 3 channels) ready for ``imshow``."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.max() > 1.0:
        a = a / 255.0
    return np.clip(a, 0.0, 1.0)


def variants_figure(image, mask, crop_size=(416, 288), *, ncols=5):
    """The paper's 13 variants of one image, each with the frames of its four crops.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        The resized image (uint8, or float in [0, 1]).
    mask : (H, W) ndarray of int or bool
        Its gland mask (outlined in white).
    crop_size : (int, int), optional
        Crop (width, height).
    ncols : int, keyword-only
        Columns of the grid.

    Returns
    -------
    fig : matplotlib Figure
        One panel per :data:`glandseg.augment.PAPER_VARIANTS` entry, titled with its name; the
        rectangles are the windows that :func:`glandseg.augment.paper_crops` cuts
        (:func:`glandseg.augment.crop_positions`, in the variant's frame).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from glandseg.augment import PAPER_VARIANTS, crop_positions, paper_variants

    frames = paper_variants(image, mask)
    cw, ch = crop_size
    nrows = -(-len(frames) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.6 * nrows), constrained_layout=True,
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, variant, (frame, frame_mask) in zip(axes.ravel(), PAPER_VARIANTS, frames):
        ax.imshow(_display(frame))
        if frame_mask.any():
            ax.contour(frame_mask, levels=[0.5], colors="white", linewidths=0.5)
        yx = crop_positions(frame.shape[:2], crop_size, 4, angle_deg=variant.angle_deg)
        for (y0, x0), colour in zip(yx, _CROP_COLOURS):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), cw, ch, fill=False, ec=colour, lw=1.4))
        ax.set_title(variant.name, fontsize=9)
    return fig


def crops_figure(image, mask, variant="identity", crop_size=(416, 288)):
    """The four crops of one variant, as the network sees them, with the mask outlined.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        The resized image.
    mask : (H, W) ndarray of int or bool
        Its gland mask.
    variant : str, int or Variant, optional
        Which of :data:`glandseg.augment.PAPER_VARIANTS`.
    crop_size : (int, int), optional
        Crop (width, height).

    Returns
    -------
    fig : matplotlib Figure
        Four panels from :func:`glandseg.augment.paper_crops`, framed in the colours of
        :func:`variants_figure`.
    """
    import matplotlib.pyplot as plt

    from glandseg.augment import paper_crops

    crops = paper_crops(image, mask, variant, crop_size=crop_size, n=4)
    fig, axes = plt.subplots(1, 4, figsize=(13, 13 / 4 * crop_size[1] / crop_size[0] + 0.5), constrained_layout=True)
    for j, (ax, (crop, crop_mask), colour) in enumerate(zip(axes, crops, _CROP_COLOURS), start=1):
        ax.imshow(_display(crop))
        if crop_mask.any():
            ax.contour(crop_mask, levels=[0.5], colors="white", linewidths=0.6)
        ax.set_title(f"crop {j} of {variant}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(edgecolor=colour, linewidth=3)
    return fig


_BLOCK_ROLES = {
    "stem": "7x7/2 conv + BN + ReLU, 3x3/2 max-pool",
    "enc1": "ResNet18 stage: 2 basic blocks",
    "enc2": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "enc3": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "enc4": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "dec4": "decoder block (1x1, 3x3 transposed /2, 1x1) + skip add of enc4's input",
    "dec3": "decoder block + skip add of enc3's input",
    "dec2": "decoder block + skip add of enc2's input",
    "dec1": "decoder block (stride 1) + skip add of enc1's input",
    "head": "3x3 transposed /2, 3x3 conv, 2x2 transposed /2, sigmoid: final output",
    "coarse": "1x1 conv + sigmoid on a decoder output: coarse output (deep supervision)",
}


def model_table(rows):
    """Blocks of the LinkNet model with output shapes and parameter counts, and a total row.

    Parameters
    ----------
    rows : list of dict
        From :func:`glandseg.model.model_summary_table` (``block``, ``output_shape``,
        ``params``, ``layers``).

    Returns
    -------
    table : Table
        Columns block, what it is, output (H x W x C), layers, parameters (with thousands
        separators); the last row sums layers and parameters.

    Examples
    --------
    >>> rows = [{"block": "stem", "output_shape": (None, 8, 8, 64), "params": 9664, "layers": 4}]
    >>> model_table(rows).rows[-1]
    ['total', '', '', '4', '9,664']
    """
    out = []
    for r in rows:
        shape = " x ".join(str(s) for s in r["output_shape"][1:])
        out.append([r["block"], _BLOCK_ROLES.get(r["block"], ""), shape, str(r["layers"]), f"{r['params']:,}"])
    out.append(["total", "", "", str(sum(r["layers"] for r in rows)), f"{sum(r['params'] for r in rows):,}"])
    return Table(["block", "what it is", "output (H x W x C)", "layers", "parameters"], out)


def loss_curves(bce=0.3, accuracy=0.9, *, dice_terms=("exp", "log"), n=101):
    """L1, L2 and L3 as functions of the soft Dice at fixed BCE and accuracy.

    Parameters
    ----------
    bce, accuracy : float, optional
        The fixed BCE and soft accuracy.
    dice_terms : sequence of {"exp", "log"}, keyword-only
        One panel per Dice term (``exp(1 + Dice)``, the paper as we read it; ``log(1 + Dice)``).
    n : int, keyword-only
        Points on the Dice axis [0, 1].

    Returns
    -------
    fig : matplotlib Figure
        Lines labelled ``L1``, ``L2``, ``L3`` in each panel, values from
        :func:`glandseg.losses.composite_value`.
    """
    import matplotlib.pyplot as plt

    from glandseg.losses import composite_value

    dice = np.linspace(0.0, 1.0, n)
    fig, axes = plt.subplots(1, len(dice_terms), figsize=(5.2 * len(dice_terms), 3.4), constrained_layout=True,
                             squeeze=False)
    for ax, term in zip(axes[0], dice_terms):
        for name, style in (("L1", "-"), ("L2", "--"), ("L3", "-.")):
            ax.plot(dice, composite_value(bce, dice, accuracy, loss=name, dice_term=term), style, lw=1.8, label=name)
        formula = "exp(1 + Dice)" if term == "exp" else "log(1 + Dice)"
        ax.set_title(f"Dice term {formula}; BCE = {bce:g}, accuracy = {accuracy:g}", fontsize=9)
        ax.set_xlabel("soft Dice")
        ax.set_ylabel("loss value (lower is better)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def simulated_probability(labels, *, seed=0, blur_px=3.0, lumen=0.6, noise=0.2, noise_px=6.0):
    """A made-up network probability map for a label map, to illustrate post-processing.

    Not a prediction: a smooth version of the ground truth with the faults the post-processing
    is there to repair (soft borders, low-probability lumens, speckle).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Instance labels (0 = background).
    seed : int, keyword-only
        Seed of the noise.
    blur_px : float, keyword-only
        Gaussian sigma that softens the gland borders.
    lumen : float, keyword-only
        Fraction by which the probability drops in the centre of each gland (the part farther
        than 60% of the gland's largest distance to its border), which leaves holes.
    noise : float, keyword-only
        Amplitude of smooth Gaussian noise (standard deviation of the added field).
    noise_px : float, keyword-only
        Correlation length (Gaussian sigma) of the noise: blobs of about this radius.

    Returns
    -------
    prob : (H, W) ndarray of float32
        Values in [0, 1]; the same arguments give the same map.

    Notes
    -----
    ``p = clip(G_blur * (mask * (1 - lumen * centre)) + noise * n, 0, 1)``, with ``centre`` the
    indicator of the inner part of each gland and ``n`` a Gaussian field smoothed with sigma
    ``noise_px`` and scaled to unit standard deviation.

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[5:15, 5:15] = 1
    >>> p = simulated_probability(labels, noise=0, lumen=0, blur_px=0.01)
    >>> bool(np.allclose(p, labels > 0))
    True
    """
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be an (H, W) integer label map. Received: shape {labels.shape}, dtype {labels.dtype}")
    mask = labels > 0
    distance = ndi.distance_transform_edt(mask)
    if mask.any():
        peak = ndi.maximum(distance, labels, index=np.arange(labels.max() + 1))
        peak = np.asarray(peak)[labels]
        centre = mask & (distance > 0.6 * peak)
    else:
        centre = mask
    p = mask * (1.0 - lumen * centre)
    p = ndi.gaussian_filter(p.astype(np.float64), blur_px)
    if noise:
        field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(mask.shape), noise_px)
        p = p + noise * field / max(field.std(), 1e-12)
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def postprocess_stages(prob, config=None):
    """Intermediate results of :func:`glandseg.postprocess.to_instances` (no resize).

    Parameters
    ----------
    prob : (H, W) ndarray of float
        Probability map in [0, 1].
    config : glandseg.config.PostprocessConfig, optional

    Returns
    -------
    stages : dict
        ``threshold`` (float), ``mask`` (bool, ``prob > threshold``), ``cleaned`` (bool, after
        :func:`glandseg.postprocess.clean_mask`) and ``instances`` (int32 labels, equal to
        ``to_instances(prob, config=config)``).
    """
    from skimage.measure import label

    from glandseg.config import PostprocessConfig
    from glandseg.postprocess import clean_mask, threshold, threshold_value

    config = PostprocessConfig() if config is None else config
    t = threshold_value(prob, config.threshold)
    mask = threshold(prob, config.threshold)
    cleaned = clean_mask(mask, config)
    instances = label(cleaned, connectivity=config.connectivity).astype(np.int32)
    return {"threshold": t, "mask": mask, "cleaned": cleaned, "instances": instances}


def postprocess_figure(prob, config=None, *, image=None):
    """Probability map, Otsu mask, cleaned mask and gland instances side by side.

    Parameters
    ----------
    prob : (H, W) ndarray of float
        Probability map in [0, 1].
    config : glandseg.config.PostprocessConfig, optional
    image : (H, W, 3) ndarray, optional
        Shown under the instances.

    Returns
    -------
    fig : matplotlib Figure
        Four panels. The third colours what the morphology changed: filled holes in blue,
        removed objects in red, kept pixels in white.
    """
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    from glandseg.config import PostprocessConfig

    config = PostprocessConfig() if config is None else config
    s = postprocess_stages(prob, config)
    change = np.zeros(s["mask"].shape + (3,), np.float32)
    change[s["mask"] & s["cleaned"]] = 1.0
    change[s["cleaned"] & ~s["mask"]] = (0.2, 0.45, 1.0)
    change[s["mask"] & ~s["cleaned"]] = (1.0, 0.15, 0.15)
    n = int(s["instances"].max())
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    shown = axes[0].imshow(prob, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[0], shrink=0.8, label="probability")
    axes[0].set_title("probability map", fontsize=9)
    axes[1].imshow(s["mask"], cmap="gray")
    method = "Otsu" if config.threshold == "otsu" else "fixed"
    axes[1].set_title(f"{method} threshold: prob > {s['threshold']:.3f}", fontsize=9)
    axes[2].imshow(change)
    axes[2].set_title(
        f"holes <= {config.hole_size_px} px filled (blue),\nobjects < {config.min_size_px} px removed (red)",
        fontsize=9,
    )
    background = None if image is None else image
    axes[3].imshow(label2rgb(s["instances"], image=background, bg_label=0, alpha=0.45 if image is not None else 1.0))
    axes[3].set_title(f"connected components: {n} glands", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    return fig


#: Every choice the paper leaves open: (decision, what the paper says, what glandseg does, what
#: sets it). "Set by" is a config field (``section.field`` of ``ExperimentConfig``), or a module
#: constant / function argument written ``glandseg.module.NAME``; :func:`decisions_table` reads
#: the current values from them.
OPEN_DECISIONS = (
    ("Order of the pre-processing steps", "resize, H channel, unsharp masking (listed, order implied)",
     "resize the RGB image (bilinear), then colour deconvolution, then unsharp masking of the H channel; "
     "the unsharp sigma is in pixels of the resized image", "fixed in glandseg.preprocessing.to_input"),
    ("Scale of the H channel", "not stated",
     "H density divided by a fixed constant, the largest H any 8-bit pixel without a zero channel can "
     "give, clipped to [0, 1]: comparable across images, no per-image normalisation",
     "glandseg.preprocessing.H_SCALE"),
    ("Network input", "H channel (RGB for comparison)", "H channel; RGB is the ablation", "preprocess.input"),
    ("Unsharp masking", "with and without (ablation)", "off by default, on in the ablation", "preprocess.unsharp"),
    ("Unsharp sigma", "not stated", "a Gaussian of nucleus scale at 832x576, scaled with the image in smaller presets",
     "preprocess.unsharp_radius_px"),
    ("Unsharp amount", "not stated", "scikit-image's default", "preprocess.unsharp_amount"),
    ("The 13 variants", "rotations and flips, 13 per image",
     "the 8 exact symmetries of the pixel grid plus rotations by +-15, +-30 and 45 degrees (every "
     "orientation modulo 90 degrees on a 15-degree grid)", "glandseg.augment.PAPER_VARIANTS"),
    ("Positions of the 4 crops", "four 416x288 crops per variant, positions not stated",
     "the four extreme positions: the quadrants of an upright frame; for oblique rotations, the "
     "extreme windows that lie wholly inside the rotated image",
     "fixed: glandseg.augment.crop_positions(positions='corners')"),
    ("Crop size (preset choice)", "416x288", "416x288 (paper); smaller in the CPU presets", "augment.crop_size"),
    ("Augmentation mode", "the fixed set of 4420 crops", "the fixed set (paper); fresh random "
     "flips, rotations and crops every epoch in the CPU presets", "augment.mode"),
    ("Where the coarse output is taken", "from the decoder before full resolution",
     "1x1 convolution + sigmoid on the output of the last decoder block (1/4 of the input side)",
     "model.coarse_scale"),
    ("Coarse ground truth", "the ground truth downsampled to the coarse scale",
     "area average over each block (a soft target: the gland fraction)", "fixed: glandseg.losses.coarse_target(method='area') in glandseg.train"),
    ("Dice over a batch", "not stated", "one Dice over the whole batch tensor (sums pooled), "
     "defined for crops without glands", "fixed: glandseg.losses.get(per_sample=False)"),
    ("Dice term of L1-L3", "printed as e(1+Dice)", "exp(1 + Dice); log(1 + Dice) as an option",
     "train.dice_term"),
    ("Dice smoothing S", "a constant, value not stated", "1", "train.smooth"),
    ("Loss weights", "2 x internal + 1 x output", "as stated", "train.coarse_weight"),
    ("BCE clipping", "not stated", "probabilities clipped to [eps, 1 - eps] as in Keras", "glandseg.losses.EPSILON"),
    ("Batch-norm momentum", "not stated", "PyTorch's default, as in the reference LinkNet; Keras' 0.99 "
     "leaves stale statistics after short runs", "glandseg.model.BN_MOMENTUM"),
    ("Optimizer", "not stated", "Adam", "train.optimizer"),
    ("Learning rate", "not stated", "constant in the paper preset, cosine decay in the CPU presets",
     "train.learning_rate"),
    ("Learning-rate schedule", "not stated", "see learning rate", "train.lr_schedule"),
    ("Batch size", "not stated", "fits the 416x288 crops in memory", "train.batch_size"),
    ("Validation split", "not stated", "whole training images held out (drawn with the seed); the "
     "weights with the lowest validation loss are used", "train.val_images"),
    ("Otsu on maps without two classes", "Otsu threshold",
     "the Otsu threshold is clipped into a range, so all-background maps give no gland and "
     "all-gland maps one region", "glandseg.postprocess.OTSU_RANGE"),
    ("Resize back to the image", "resize the probability map back", "bilinear, before thresholding",
     "fixed in glandseg.postprocess.to_instances"),
    ("Hole filling", "fill holes (size not stated)", "enclosed background regions up to a size",
     "postprocess.hole_size_px"),
    ("Noise removal", "remove noise (size not stated)", "objects under a size removed after hole filling",
     "postprocess.min_size_px"),
    ("Opening", "morphological operations (not listed)", "none by default", "postprocess.opening_radius_px"),
    ("Connectivity of glands", "connected components", "4-connected", "postprocess.connectivity"),
    ("Input size (preset choice)", "832x576", "832x576 (paper); smaller in the CPU presets", "preprocess.size"),
    ("Epochs (preset choice)", "100", "100 (paper); a few in the CPU presets", "train.epochs"),
    ("Numeric precision", "not stated (Titan X)", "float32", "train.precision"),
)


def _decision_value(setting, config):
    """Current value of a decision's setting, or "" when it is not a value (a fixed step)."""
    import importlib

    if setting.startswith("fixed"):
        return ""
    if setting.startswith("glandseg."):
        module, _, name = setting.rpartition(".")
        return getattr(importlib.import_module(module), name)
    section, _, name = setting.partition(".")
    return getattr(getattr(config, section), name)


def _show(value):
    if isinstance(value, tuple) and value and hasattr(value[0], "angle_deg"):  # PAPER_VARIANTS
        return f"{len(value)} variants"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "x".join(map(str, value)) if all(isinstance(v, int) for v in value) else str(value)
    return str(value)


def decisions_table(presets=("paper", "workshop")):
    """The decisions the paper leaves open, with what sets each and its value in some presets.

    Parameters
    ----------
    presets : sequence of str, optional
        Preset names (``glandseg.config.preset_config``), one value column each.

    Returns
    -------
    table : Table
        Columns decision, the paper, glandseg, set by, and one column per preset; values are read
        from the preset configs and module constants (see :data:`OPEN_DECISIONS`), so the table
        cannot drift from the code. Fixed steps have no value.
    """
    from glandseg.config import preset_config

    configs = [preset_config(name) for name in presets]
    rows = []
    for decision, paper, ours, setting in OPEN_DECISIONS:
        values = [_show(_decision_value(setting, config)) for config in configs]
        rows.append([decision, paper, ours, setting] + values)
    return Table(["decision", "the paper", "glandseg", "set by"] + [f"{p} preset" for p in presets], rows)


__all__ += [
    "Note",
    "missing_data_note",
    "glands_per_image",
    "split_summary_table",
    "gland_size_figure",
    "oddity_table",
    "annotation_montage",
    "pieces_figure",
    "preprocessing_figure",
    "variants_figure",
    "crops_figure",
    "model_table",
    "loss_curves",
    "simulated_probability",
    "postprocess_stages",
    "postprocess_figure",
    "OPEN_DECISIONS",
    "decisions_table",
]


__all__ += ["protocol_table"]


def protocol_table(protocols, caption=None) -> Table:
    """Protocols side by side: one column per preset, one row per field of :func:`glandseg.report.analysis.protocol`.

    Training time is in minutes: the median over the preset's runs, with the range and the
    run count when :func:`glandseg.report.analysis.protocols` supplies them.
    """
    names = list(protocols)
    fields = [("size", "input size (W x H)"), ("crop", "training crops"), ("augment", "augmentation"),
              ("epochs", "epochs"), ("batch_size", "batch size"), ("optimizer", "optimizer"),
              ("min_object_px", "smallest object kept (px)"), ("seconds", "training time per run (min)"),
              ("device", "device")]

    def minutes(p):
        if p.get("seconds") is None:
            return "—"
        text = f"{p['seconds'] / 60:.1f}"
        lo_hi, runs = p.get("seconds_range"), p.get("runs")
        if runs and runs > 1 and lo_hi:
            text = f"median {text} ({lo_hi[0] / 60:.1f}–{lo_hi[1] / 60:.1f}, {runs} runs)"
        return text

    body = []
    for key, label in fields:
        values = [protocols[n].get(key) for n in names]
        if all(v is None for v in values):
            continue
        if key == "seconds":
            body.append([label] + [minutes(protocols[n]) for n in names])
        else:
            body.append([label] + ["—" if v is None else v for v in values])
    return Table(["", *names], body, caption=caption)


def ceiling_table(ceilings, others=(), caption=None) -> Table:
    """A perfect network's scores (:mod:`glandseg.report.ceiling` records) beside other figures.

    Parameters
    ----------
    ceilings : dict of str -> dict
        Ceiling records by preset (:func:`glandseg.report.ceiling.load_ceilings`).
    others : sequence of (str, dict), optional
        Further rows: a label and ``{split: {metric: value}}`` (e.g. the paper's H + L3 and
        our best), drawn after the ceilings.
    caption : str, optional

    Returns
    -------
    Table
        One row per preset at its input size (largest first), then one per distinct
        post-processing at the original size (presets that share one share the row), then
        ``others``; a column group per test part with F1, object Dice and object Hausdorff.
    """
    import json

    splits = (("testA", "Test A"), ("testB", "Test B"))
    cols, groups = [""], [(None, 1)]
    for _, name in splits:
        cols += list(_METRIC_NAMES.values())
        groups.append((name, len(_METRIC_NAMES)))

    def line(label, scores):
        out = [label]
        for split, _ in splits:
            part = scores.get(split) or {}
            out += ["—" if part.get(m) is None else _fmt(part[m], 2 if "hausdorff" in m else 3) for m in _METRIC_NAMES]
        return out

    # largest input first, so the rows descend the way the protocols shrink
    ceilings = dict(sorted(ceilings.items(), key=lambda item: -item[1]["size"][0] * item[1]["size"][1]))
    body = []
    for preset, rec in ceilings.items():
        width, height = rec["size"]
        body.append(line(f"perfect network at {width}x{height} ({preset} preset)",
                         {s: rec["scores"].get(s, {}).get("network_size") for s, _ in splits}))
    shared = {}
    for preset, rec in ceilings.items():
        shared.setdefault(json.dumps(rec["postprocess"], sort_keys=True), []).append(preset)
    for presets in shared.values():
        rec = ceilings[presets[0]]
        body.append(line(f"perfect network at the original size ({', '.join(presets)} post-processing)",
                         {s: rec["scores"].get(s, {}).get("original_size") for s, _ in splits}))
    body += [line(label, scores) for label, scores in others]
    return Table(cols, body, caption=caption, groups=groups)


def progress_table(progress, caption=None) -> Table:
    """The planned grid as a table: one row per configuration, one column per seed.

    A cell holds the run's computing time (training and prediction) in minutes, or "not run
    yet"; a seed recorded outside the plan gets its own column. ``progress`` is
    :func:`glandseg.report.analysis.run_progress`.
    """
    def cell(row, seed):
        if seed not in row["hours"]:
            return "not run yet" if seed in row["missing"] else "—"
        hours = row["hours"][seed]
        return "done (time not recorded)" if hours is None else f"done, {hours * 60:.0f} min"

    seeds = progress["seeds"]
    body = [[row["method"], *[cell(row, s) for s in seeds]] for row in progress["rows"]]
    return Table(["configuration", *[f"seed {s}" for s in seeds]], body, caption=caption)


def split_contrast_table(contrast, caption=None, digits=3) -> Table:
    """Test A minus Test B per configuration, and the spread of the configurations on each part.

    ``contrast`` is :func:`glandseg.report.analysis.split_contrast`.
    """
    from glandseg.report.analysis import format_interval

    def num(v):
        return "—" if v is None else f"{v:+.{digits}f}"

    body = []
    for h in contrast["harder"]:
        d = h["difference"]
        body.append([f"{h['method']}: Test A − Test B", num(h["paper_difference"]), num(d.estimate),
                     format_interval(d, digits), h["verdict"]])
    c = contrast["closer"]
    d = c["difference"]
    body.append(["spread of the configurations: Test A − Test B", num(c["paper_difference"]),
                 num(None if d is None else d.estimate), "not run yet" if d is None else format_interval(d, digits),
                 c["verdict"]])
    return Table(["comparison", "paper", "ours", "95% CI", "verdict"], body, caption=caption)


def others_table(entries, caption=None) -> Table:
    """Our best configuration beside the paper's other methods, one row per (part, metric).

    ``entries`` is a list of ``(part, metric, result)`` with ``result`` from
    :func:`glandseg.report.analysis.against_others`; each other method's figure is followed by where
    it lies against our interval.
    """
    from glandseg.report.analysis import format_interval

    names = [o["method"] for o in entries[0][2]["others"]] if entries else []
    body = []
    for part, metric, res in entries:
        digits = 2 if metric == "object_hausdorff" else 3
        ours = res["ours"]
        body.append([
            part, _METRIC_NAMES.get(metric, metric), res["method"] or "not run yet",
            "not run yet" if ours is None else f"{ours.estimate:.{digits}f}",
            "not run yet" if ours is None else format_interval(ours, digits),
            *[f"{o['value']:.{digits}f} ({o['position']})" for o in res["others"]],
        ])
    return Table(["part", "metric", "our best", "ours", "95% CI", *names], body, caption=caption)
