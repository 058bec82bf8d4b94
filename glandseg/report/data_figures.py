"""Figures and tables of the data page (book/data.md): GlaS images, grades and annotations.

Gland counts and sizes per split and grade, the annotation oddities, outlined annotations and
labels that fall apart into pieces. Every function takes samples or the tables of
:mod:`glandseg.data` and returns a matplotlib figure or a :class:`~glandseg.report.tables.Table`;
nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from glandseg.report.tables import Table

__all__ = [
    "glands_per_image",
    "split_summary_table",
    "gland_size_figure",
    "oddity_table",
    "annotation_montage",
    "pieces_figure",
]


_SPLIT_ORDER = ("train", "testA", "testB")


_GRADE_ORDER = ("benign", "malignant")


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
