"""Tables and figures of the results page (book/results.md) and of the experiment notebook.

The paper's Tables 1 and 2 beside the measured figures (as tables and dot plots), per-grade
results, training curves, prediction overlays, the training protocols and the progress of the
planned runs, all read from run records (:mod:`glandseg.results`, :mod:`glandseg.report.analysis`).
:func:`metrics_table`, :func:`training_curve` and :func:`prediction_overlays` also serve each
run's executed notebook (``notebooks/experiment.py``); book/discussion.md shows
:func:`protocol_table` too, and book/intro.md opens with :func:`verdict_markdown`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from glandseg.report._format import _METRIC_NAMES, _fmt
from glandseg.report.tables import Table

__all__ = [
    "metrics_table",
    "training_curve",
    "overlay",
    "prediction_overlays",
    "comparison_table",
    "results_figure",
    "grade_table_view",
    "grade_bars",
    "training_curves",
    "protocol_table",
    "progress_table",
    "verdict_markdown",
]


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


def verdict_markdown(summary: dict, training=()) -> str:
    """The first page's answer box as Markdown, from :func:`glandseg.report.analysis.verdict`.

    A table of the paper's best figures and each preset's best configuration (per test part:
    pooled F1 / object Dice / object Hausdorff in one cell, so that it fits a narrow box), then
    each claim's verdict on the main preset.

    ``training`` lists runs still training, as ``{"preset", "method", "status"}`` (``status``
    e.g. "33 of 100 epochs so far", :func:`glandseg.report.training.run_status`): a preset
    with no record yet gets a row that says so, "not run yet" in its figures' cells, so that a
    protocol under way is not missing from the answer.

    Examples
    --------
    >>> from glandseg.report import analysis
    >>> text = verdict_markdown(analysis.verdict([]), [{"preset": "paper", "method": "H + L3",
    ...                                                 "status": "33 of 100 epochs so far"}])
    >>> print(text.splitlines()[3])
    | paper (training: 33 of 100 epochs so far) | H + L3 | not run yet | not run yet |
    """
    rows = []  # (preset, line); the printed row first
    for row in summary["rows"]:
        prec = f", {', '.join(p for p in row['precision'] if p)}" if row.get("precision") else ""
        runs = "" if row["runs"] is None else f" ({row['runs']} run{'s' if row['runs'] != 1 else ''}{prec})"
        cells = [f"{row['preset']}{runs}", row["method"]]
        for split in ("testA", "testB"):
            f = row[split]
            cells.append(f"{f['f1']:.3f} / {f['object_dice']:.3f} / {f['object_hausdorff']:.1f}")
        rows.append((row["preset"], "| " + " | ".join(cells) + " |"))
    recorded = {preset for preset, _ in rows}
    for run in training:
        if run["preset"] not in recorded:
            rows.append((run["preset"],
                         f"| {run['preset']} (training: {run['status']}) | {run['method']} | not run yet | not run yet |"))
    if len(rows) == 1:
        rows.append(("", "| ours | not run yet | | |"))
    # Our run of the paper's own protocol goes next to the paper's printed figures.
    rows[1:] = sorted(rows[1:], key=lambda r: r[0] != "paper")
    lines = ["| protocol | configuration | Test A: F1 / Dice / Hausdorff | Test B: F1 / Dice / Hausdorff |",
             "|---|---|---|---|", *(line for _, line in rows)]
    text = "\n".join(lines)
    if summary["claims"]:
        text += (f"\n\nThe paper's claims on Test A, tested on the `{summary['main_preset']}` runs "
                 "(paired bootstrap over images and seeds, 95%):\n\n")
        text += "\n".join(f"- {claim}: **{verdict}**" for claim, verdict in summary["claims"])
    else:
        text += "\n\nThe paper's claims: not run yet."
    return text
