"""Tests for glandseg.report.metrics_figures (book/metrics.md)."""

import matplotlib

matplotlib.use("Agg")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from glandseg.report import metrics_figures  # noqa: E402


def test_label_maps_figure_names_every_object():
    gt = np.zeros((6, 8), int)
    gt[1:4, 1:4] = 1
    seg = np.zeros((6, 8), int)
    seg[1:4, 2:5] = 7
    ax = metrics_figures.label_maps_figure(seg, gt)
    assert sorted(t.get_text() for t in ax.texts) == ["G1", "S7"]


def test_metrics_benchmark_table_reads_the_committed_record():
    path = sorted((Path(__file__).parents[1] / "benchmarks" / "results").glob("metrics-*.json"))[-1]
    table = metrics_figures.metrics_benchmark_table(path)
    assert table.columns[0] == "family" and len(table.rows) >= 1
    assert all(row[5] == 0 for row in table.rows)  # no count mismatch with the reference
