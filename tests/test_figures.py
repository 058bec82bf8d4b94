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
