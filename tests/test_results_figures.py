"""Tests for glandseg.report.results_figures (book/results.md and the experiment notebook)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from glandseg.report import analysis, results_figures  # noqa: E402


def _record():
    pooled = {"f1": 0.5, "object_dice": 0.75, "object_hausdorff": 12.345, "tp": 2, "fp": 1, "fn": 3}
    return {
        "run_id": "h-L3-s0",
        "preset": "smoke",
        "seed": 0,
        "metrics": {"testA": {"pooled": pooled, "per_grade": {"benign": pooled}}},
    }


def test_metrics_table_renders_the_numbers():
    table = results_figures.metrics_table(_record())
    md = table.to_markdown()
    assert md.splitlines()[0] == "| part | F1 | object Dice | object Hausdorff | TP | FP | FN |"
    assert "| testA | 0.500 | 0.750 | 12.35 | 2 | 1 | 3 |" in md
    assert "testA benign" in md
    html = table._repr_html_()
    assert html.count("<tr>") == 3 and "h-L3-s0" in html


def test_training_curve_reads_history(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,seconds,loss,val_loss\n1,2.0,-3.0,-2.5\n2,2.0,-4.0,-3.5\n")
    ax = results_figures.training_curve(path)
    lines = {line.get_label(): line.get_ydata().tolist() for line in ax.get_lines()}
    assert lines == {"loss": [-3.0, -4.0], "val loss": [-2.5, -3.5]}


def test_overlay_marks_ground_truth_outline():
    image = np.full((20, 20, 3), 200, np.uint8)
    gt = np.zeros((20, 20), np.int32)
    gt[5:15, 5:15] = 1
    out = results_figures.overlay(image, np.zeros_like(gt), gt)
    assert out.shape == (20, 20, 3)
    np.testing.assert_allclose(out[5, 10], (0.0, 1.0, 0.2))  # boundary pixel is green
    assert not np.allclose(out[10, 10], (0.0, 1.0, 0.2))  # interior is not


def test_comparison_table_shows_paper_figures_and_not_run_yet():
    table = results_figures.comparison_table(analysis.results_table([], "testB"), caption="Table 2")
    md = table.to_markdown()
    assert md.count("\n") == 1 + len(analysis.CONFIG_ORDER)
    assert md.startswith("| method | F1 paper | F1 ours | F1 95% CI | object Dice paper |")
    assert "| H + L1 | 0.73 | not run yet | not run yet | 0.82 | not run yet | not run yet | 109.72 |" in md
    html = table._repr_html_()
    # two header rows (metric names over paper | ours | 95% CI), then one row per configuration
    assert "<caption>Table 2</caption>" in html and html.count("<tr>") == 2 + len(analysis.CONFIG_ORDER)
    assert '<th colspan="3" class="group">object Hausdorff</th>' in html
    assert '<th rowspan="2">method</th>' in html and html.count("<th>95% CI</th>") == 3


def test_grade_bars_draw_one_bar_per_config_and_grade():
    interval = analysis.Interval(0.5, 0.4, 0.6)
    rows = [{"method": m, "grade": g, "f1_mean": 0.5, "f1_interval": interval if g == "benign" else None}
            for m in ("H + L1", "H + L3") for g in ("benign", "malignant")]
    ax = results_figures.grade_bars(rows)
    assert len(ax.patches) == 4 and [t.get_text() for t in ax.get_xticklabels()] == ["H + L1", "H + L3"]
    assert results_figures.grade_bars([]).texts[0].get_text() == "not run yet"


def test_training_curves_and_protocol_table(tmp_path):
    assert results_figures.training_curves([{"_path": str(tmp_path / "r" / "record.json")}]) is None
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "history.csv").write_text("epoch,loss,val_loss\n1,-3.0,-2.5\n2,-4.0,-3.5\n")
    fig = results_figures.training_curves([{"_path": str(tmp_path / "r" / "record.json"), "run_id": "h-L3-s0"}])
    assert fig.axes[0].get_title().startswith("h-L3-s0")
    table = results_figures.protocol_table({"a": {"size": "288x192", "epochs": 5, "seconds": None}})
    assert table.rows == [["input size (W x H)", "288x192"], ["epochs", 5]]
    table = results_figures.protocol_table({"a": {"seconds": 90.0, "seconds_range": (60.0, 600.0), "runs": 3},
                                    "b": {"seconds": 30.0}})
    assert table.rows == [["training time per run (min)", "median 1.5 (1.0–10.0, 3 runs)", "0.5"]]


def test_progress_table_marks_missing_runs():
    progress = {
        "seeds": [0, 1, 7],
        "rows": [{"method": "H + L3", "hours": {0: 0.5, 7: None}, "missing": [1]},
                 {"method": "H + L1", "hours": {}, "missing": [0, 1]}],
    }
    table = results_figures.progress_table(progress, caption="c")
    assert table.columns == ["configuration", "seed 0", "seed 1", "seed 7"]
    assert table.rows == [["H + L3", "done, 30 min", "not run yet", "done (time not recorded)"],
                          ["H + L1", "not run yet", "not run yet", "—"]]
    assert "<caption>c</caption>" in table._repr_html_()


def test_results_figure_draws_seeds_mean_interval_and_paper():
    inf = float("inf")
    rows = [
        {"method": "H + L3", "runs": 2,
         "f1_values": [0.7, 0.8], "f1_interval": analysis.Interval(0.75, 0.6, 0.9), "paper_f1": 0.846,
         "object_dice_values": [0.8, 0.9], "object_dice_interval": None, "paper_object_dice": 0.874,
         # one seed's Hausdorff infinite: its dot is left out and the interval has no finite top
         "object_hausdorff_values": [50.0, inf], "object_hausdorff_interval": analysis.Interval(inf, 40.0, inf),
         "paper_object_hausdorff": 55.13},
        {"method": "RGB + L3", "runs": 0, "f1_values": [], "f1_interval": None, "paper_f1": None,
         "object_dice_values": [], "object_dice_interval": None, "paper_object_dice": None,
         "object_hausdorff_values": [], "object_hausdorff_interval": None, "paper_object_hausdorff": None},
    ]
    axes = results_figures.results_figure({"Test A": rows, "Test B": rows[1:]})
    assert axes.shape == (2, 3)

    def lines(ax, label):
        return [(line.get_xdata().tolist(), line.get_ydata().tolist()) for line in ax.get_lines() if line.get_label() == label]

    f1 = axes[0, 0]
    assert lines(f1, "ours, each seed") == [([0.7, 0.8], [1, 1])]  # first row on top
    assert lines(f1, "paper") == [([0.846], [1])]
    (bar,) = f1.containers
    assert bar.lines[0].get_xdata().tolist() == [0.75]
    assert np.allclose(bar.lines[2][0].get_segments()[0], [[0.6, 1], [0.9, 1]])
    # no interval: the mean of the seeds, without a bar
    assert not axes[0, 1].containers
    ((x, y),) = lines(axes[0, 1], "ours, mean over seeds (95% CI)")
    assert x == pytest.approx([0.85]) and y == [1]
    hd = axes[0, 2]
    assert not hd.containers and lines(hd, "ours, each seed") == [([50.0], [1])]
    assert lines(hd, "ours, mean over seeds (95% CI)") == [([50.0], [1])]
    assert "lower is better" in hd.get_xlabel()
    assert [t.get_text() for t in f1.get_yticklabels()] == ["H + L3", "RGB + L3 (not run yet)"]
    # Test B has only the configuration without a record: nothing drawn
    assert not axes[1, 0].get_lines() and not axes[1, 0].containers
    (legend,) = f1.figure.legends
    assert [t.get_text() for t in legend.get_texts()] == ["ours, each seed", "ours, mean over seeds (95% CI)", "paper"]
    with pytest.raises(ValueError, match="tables is empty"):
        results_figures.results_figure({})
