"""Tests for glandseg.report.data_figures (book/data.md)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from glandseg import data as _data  # noqa: E402
from glandseg.report import data_figures  # noqa: E402


def _book_sample(name, labels, grade="benign"):
    image = np.full(labels.shape + (3,), 180, np.uint8)
    return _data.Sample(name, image, labels.astype(np.int32), grade)


def _book_samples():
    a = np.zeros((6, 8), np.int32)
    a[0:2, 0:2] = 1  # 4 px
    a[3:5, 3:6] = 2  # 6 px
    b = np.zeros((6, 8), np.int32)
    b[1:4, 1:4] = 1  # 9 px
    c = np.zeros((6, 8), np.int32)
    c[2, 2] = 1  # 1 px
    c[4, 4:8] = 2  # 4 px
    c[0, 7] = 3  # 1 px
    return [_book_sample("train_1", a), _book_sample("train_2", b, "malignant"), _book_sample("testA_1", c)]


def test_book_glands_per_image_and_split_summary_by_hand():
    samples = _book_samples()
    stats = _data.gland_stats(samples)
    counts = data_figures.glands_per_image(stats)
    assert {k: v.tolist() for k, v in counts.items()} == {
        ("train", "benign"): [2], ("train", "malignant"): [1], ("testA", "benign"): [3]
    }
    table = data_figures.split_summary_table(samples, stats)
    # train: 2 images (1 benign, 1 malignant), 3 glands (areas 4, 6, 9: median 6), 2 and 1 per image
    assert table.rows[0] == ["train", 2, 1, 1, 3, "1 (1-2)", 6]
    # testA: one image, 3 glands of 1, 4, 1 px: median 1
    assert table.rows[1] == ["testA", 1, 1, 0, 3, "3 (3-3)", 1]
    # all: 6 glands, areas 4, 6, 9, 1, 4, 1 -> median 4; per image 2, 1, 3 -> median 2
    assert table.rows[2] == ["all", 3, 2, 1, 6, "2 (1-3)", 4]


def test_book_oddity_table_counts_labels_and_images():
    rows = _data.annotation_oddities(_book_samples(), tiny_px=2)
    table = data_figures.oddity_table(rows, ["train", "testA"])
    assert table.columns == ["oddity", "train: labels (images)", "testA: labels (images)"]
    by_kind = {r[0]: r[1:] for r in table.rows}
    assert by_kind["tiny"] == ["0 (0)", "2 (1)"]  # testA_1 labels 1 and 3 (1 px each)
    # border: train_1 label 1 (corner); testA_1 label 2 (row 4, reaches column 7) and label 3 (row 0)
    assert by_kind["touches_border"] == ["1 (1)", "2 (1)"]
    assert by_kind["missing_label"] == ["0 (0)", "0 (0)"]


def test_book_gland_size_figure_panels():
    fig = data_figures.gland_size_figure(_data.gland_stats(_book_samples()))
    axes = fig.axes
    assert len(axes) == 3
    assert axes[0].get_xscale() == "log" and "gland area" in axes[0].get_xlabel()
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["train (3 glands)", "testA (3 glands)"]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["benign (5 glands)", "malignant (1 glands)"]
    assert axes[2].get_ylabel() == "glands per image"
    plt.close(fig)


def test_book_annotation_montage_titles_and_outline():
    samples = _book_samples()
    fig = data_figures.annotation_montage(samples, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["train_1 (benign, 2 glands)", "train_2 (malignant, 1 glands)", "testA_1 (benign, 3 glands)"]
    shown = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(shown[1, 1], (0.0, 1.0, 0.2))  # inner boundary of train_2's square
    plt.close(fig)


def test_book_pieces_figure_counts_pieces():
    labels = np.zeros((10, 10), np.int32)
    labels[1:3, 1:3] = 4
    labels[6:9, 6:9] = 4
    fig = data_figures.pieces_figure(_book_sample("testB_1", labels), 4)
    assert "2 connected pieces" in fig.axes[1].get_title()
    assert "1 label value," in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="label 5 does not occur"):
        data_figures.pieces_figure(_book_sample("testB_1", labels), 5)
