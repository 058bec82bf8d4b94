import matplotlib

matplotlib.use("Agg")

import numpy as np
from PIL import Image

from glandseg import figures


def _record():
    pooled = {"f1": 0.5, "object_dice": 0.75, "object_hausdorff": 12.345, "tp": 2, "fp": 1, "fn": 3}
    return {
        "run_id": "h-L3-s0",
        "preset": "smoke",
        "seed": 0,
        "metrics": {"testA": {"pooled": pooled, "per_grade": {"benign": pooled}}},
    }


def test_metrics_table_renders_the_numbers():
    table = figures.metrics_table(_record())
    md = table.to_markdown()
    assert md.splitlines()[0] == "| part | F1 | object Dice | object Hausdorff | TP | FP | FN |"
    assert "| testA | 0.500 | 0.750 | 12.35 | 2 | 1 | 3 |" in md
    assert "testA benign" in md
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "h-L3-s0" in html


def test_training_curve_reads_history(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,seconds,loss,val_loss\n1,2.0,-3.0,-2.5\n2,2.0,-4.0,-3.5\n")
    ax = figures.training_curve(path)
    lines = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()}
    assert lines == {"loss": [-3.0, -4.0], "val loss": [-2.5, -3.5]}


def test_overlay_marks_ground_truth_outline():
    image = np.full((20, 20, 3), 200, np.uint8)
    gt = np.zeros((20, 20), np.int32)
    gt[5:15, 5:15] = 1
    out = figures.overlay(image, np.zeros_like(gt), gt)
    assert out.shape == (20, 20, 3)
    np.testing.assert_allclose(out[5, 10], (0.0, 1.0, 0.2))  # boundary pixel is green
    assert not np.allclose(out[10, 10], (0.0, 1.0, 0.2))  # interior is not


def test_pipeline_figure_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    h = rng.random((32, 48)).astype("float32") * 0.2
    labels = np.zeros((32, 48), np.int32)
    labels[4:10, 4:10] = 1
    figures.pipeline_figure(image, h, h, rng.random((32, 48)), labels, path=tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        assert im.size[0] > im.size[1] > 100


# -- analysis tables and figures -----------------------------------------------------------

from pathlib import Path  # noqa: E402

from glandseg import analysis  # noqa: E402


def test_comparison_table_shows_paper_figures_and_not_run_yet():
    table = figures.comparison_table(analysis.results_table([], "testB"), caption="Table 2")
    md = table.to_markdown()
    assert md.count("\n") == 1 + len(analysis.CONFIG_ORDER)
    assert "| H + L1 | 0.73 | not run yet | not run yet | 0.82 | not run yet | not run yet | 109.72 |" in md
    html = table._repr_html_()
    assert "<caption>Table 2</caption>" in html and html.count("<tr>") == 1 + len(analysis.CONFIG_ORDER)


def test_claims_table_and_difference_plot_without_records():
    rows = analysis.claims([])
    table = figures.claims_table(rows)
    assert len(table.rows) == sum(len(c["comparisons"]) for c in rows)
    assert table.rows[3][2] == "-0.073" and table.rows[3][-1] == "not run yet"
    ax = figures.difference_plot(rows)
    assert [t.get_text() for t in ax.texts].count("not run yet") == len(table.rows)


def test_grade_bars_draw_one_bar_per_config_and_grade():
    interval = analysis.Interval(0.5, 0.4, 0.6)
    rows = [{"method": m, "grade": g, "f1_mean": 0.5, "f1_interval": interval if g == "benign" else None}
            for m in ("H + L1", "H + L3") for g in ("benign", "malignant")]
    ax = figures.grade_bars(rows)
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["H + L1", "H + L3"]
    assert figures.grade_bars([]).texts[0].get_text() == "not run yet"


def test_label_maps_figure_names_every_object():
    gt = np.zeros((6, 8), int)
    gt[1:4, 1:4] = 1
    seg = np.zeros((6, 8), int)
    seg[1:4, 2:5] = 7
    ax = figures.label_maps_figure(seg, gt)
    assert sorted(t.get_text() for t in ax.texts) == ["G1", "S7"]


def test_metrics_benchmark_table_reads_the_committed_record():
    path = sorted((Path(__file__).parents[1] / "benchmarks" / "results").glob("metrics-*.json"))[-1]
    table = figures.metrics_benchmark_table(path)
    assert table.columns[0] == "family" and len(table.rows) >= 1
    assert all(row[5] == 0 for row in table.rows)  # no count mismatch with the reference


def test_training_curves_and_protocol_table(tmp_path):
    assert figures.training_curves([{"_path": str(tmp_path / "r" / "record.json")}]) is None
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "history.csv").write_text("epoch,loss,val_loss\n1,-3.0,-2.5\n2,-4.0,-3.5\n")
    fig = figures.training_curves([{"_path": str(tmp_path / "r" / "record.json"), "run_id": "h-L3-s0"}])
    assert fig.axes[0].get_title().startswith("h-L3-s0")
    table = figures.protocol_table({"a": {"size": "288x192", "epochs": 5, "seconds": None}})
    assert table.rows == [["input size (W x H)", "288x192"], ["epochs", 5]]
