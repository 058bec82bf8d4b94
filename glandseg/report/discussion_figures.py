"""Tables and figures of the discussion page (book/discussion.md).

The paper's claims against our intervals, Test A against Test B, our best beside the other
methods, a perfect network's ceiling, what became of the glands, the post-processing sweeps and
the seed effects, from :mod:`glandseg.report.analysis`, :mod:`glandseg.report.ceiling` and
:mod:`glandseg.report.sensitivity`.
"""

from __future__ import annotations

import numpy as np

from glandseg.report._format import _METRIC_NAMES, _fmt
from glandseg.report.tables import Table

__all__ = [
    "error_bars",
    "claims_table",
    "difference_plot",
    "seed_lines",
    "sweep_heatmaps",
    "ceiling_table",
    "split_contrast_table",
    "others_table",
]


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
