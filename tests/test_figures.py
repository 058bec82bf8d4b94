import matplotlib

matplotlib.use("Agg")

import numpy as np
from PIL import Image

from glandseg.report import figures


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


# ---------------------------------------------------------------- book: data and method pages
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from glandseg import data as _data  # noqa: E402
from glandseg.config import ExperimentConfig, PostprocessConfig, PreprocessConfig, preset_config  # noqa: E402


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


def test_book_note_renders_code_and_escapes_html():
    note = figures.Note("Run `glandseg download` <now>", title="Data")
    out = note._repr_html_()
    assert '<p class="admonition-title">Data</p>' in out
    assert "<code>glandseg download</code>" in out and "&lt;now&gt;" in out
    assert note._repr_markdown_() == "**Data.** Run `glandseg download` <now>"
    assert "`glandseg download`" in figures.missing_data_note().text


def test_book_glands_per_image_and_split_summary_by_hand():
    samples = _book_samples()
    stats = _data.gland_stats(samples)
    counts = figures.glands_per_image(stats)
    assert {k: v.tolist() for k, v in counts.items()} == {
        ("train", "benign"): [2], ("train", "malignant"): [1], ("testA", "benign"): [3]
    }
    table = figures.split_summary_table(samples, stats)
    # train: 2 images (1 benign, 1 malignant), 3 glands (areas 4, 6, 9: median 6), 2 and 1 per image
    assert table.rows[0] == ["train", 2, 1, 1, 3, "1 (1-2)", 6]
    # testA: one image, 3 glands of 1, 4, 1 px: median 1
    assert table.rows[1] == ["testA", 1, 1, 0, 3, "3 (3-3)", 1]
    # all: 6 glands, areas 4, 6, 9, 1, 4, 1 -> median 4; per image 2, 1, 3 -> median 2
    assert table.rows[2] == ["all", 3, 2, 1, 6, "2 (1-3)", 4]


def test_book_oddity_table_counts_labels_and_images():
    rows = _data.annotation_oddities(_book_samples(), tiny_px=2)
    table = figures.oddity_table(rows, ["train", "testA"])
    assert table.columns == ["oddity", "train: labels (images)", "testA: labels (images)"]
    by_kind = {r[0]: r[1:] for r in table.rows}
    assert by_kind["tiny"] == ["0 (0)", "2 (1)"]  # testA_1 labels 1 and 3 (1 px each)
    # border: train_1 label 1 (corner); testA_1 label 2 (row 4, reaches column 7) and label 3 (row 0)
    assert by_kind["touches_border"] == ["1 (1)", "2 (1)"]
    assert by_kind["missing_label"] == ["0 (0)", "0 (0)"]


def test_book_gland_size_figure_panels():
    fig = figures.gland_size_figure(_data.gland_stats(_book_samples()))
    axes = fig.axes
    assert len(axes) == 3
    assert axes[0].get_xscale() == "log" and "gland area" in axes[0].get_xlabel()
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["train (3 glands)", "testA (3 glands)"]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["benign (5 glands)", "malignant (1 glands)"]
    assert axes[2].get_ylabel() == "glands per image"
    plt.close(fig)


def test_book_annotation_montage_titles_and_outline():
    samples = _book_samples()
    fig = figures.annotation_montage(samples, ncols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["train_1 (benign, 2 glands)", "train_2 (malignant, 1 glands)", "testA_1 (benign, 3 glands)"]
    shown = fig.axes[1].images[0].get_array()
    np.testing.assert_allclose(shown[1, 1], (0.0, 1.0, 0.2))  # inner boundary of train_2's square
    plt.close(fig)


def test_book_pieces_figure_counts_pieces():
    labels = np.zeros((10, 10), np.int32)
    labels[1:3, 1:3] = 4
    labels[6:9, 6:9] = 4
    fig = figures.pieces_figure(_book_sample("testB_1", labels), 4)
    assert "2 connected pieces" in fig.axes[1].get_title()
    assert "1 label value," in fig.axes[0].get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="label 5 does not occur"):
        figures.pieces_figure(_book_sample("testB_1", labels), 5)


def test_book_preprocessing_figure_shows_the_network_input():
    from glandseg.preprocessing import to_input

    rng = np.random.default_rng(0)
    rgb = rng.integers(60, 250, (40, 60, 3), dtype=np.uint8)
    config = PreprocessConfig(size=(64, 32), unsharp_radius_px=1.0)
    fig = figures.preprocessing_figure(rgb, config)
    assert len(fig.axes) == 6
    h = fig.axes[1].images[0].get_array()
    sharp = fig.axes[2].images[0].get_array()
    np.testing.assert_array_equal(h, to_input(rgb, config)[..., 0])
    np.testing.assert_array_equal(sharp, to_input(rgb, config.replace(unsharp=True))[..., 0])
    assert fig.axes[0].images[0].get_array().shape == (32, 64, 3)
    # default zoom: a quarter of each side around the centre
    assert fig.axes[4].images[0].get_array().shape == (8, 16)
    plt.close(fig)


def test_book_variants_figure_draws_quadrant_crops():
    image = np.random.default_rng(1).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    mask = np.zeros((64, 96), np.uint8)
    mask[10:30, 20:50] = 1
    fig = figures.variants_figure(image, mask, crop_size=(48, 32))
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled][:3] == ["identity", "hflip", "vflip"] and len(titled) == 13
    corners = sorted((p.get_x(), p.get_y(), p.get_width(), p.get_height()) for p in titled[0].patches)
    # the four quadrants of a 96x64 frame, in pixel-edge coordinates
    assert corners == [(-0.5, -0.5, 48, 32), (-0.5, 31.5, 48, 32), (47.5, -0.5, 48, 32), (47.5, 31.5, 48, 32)]
    portrait = titled[4]  # rot90: a 64x96 (W x H) frame, crops at x0 in {0, 16}, y0 in {0, 64}
    assert sorted((p.get_x(), p.get_y()) for p in portrait.patches) == [(-0.5, -0.5), (-0.5, 63.5), (15.5, -0.5), (15.5, 63.5)]
    plt.close(fig)


def test_book_crops_figure_shows_four_crops():
    image = np.random.default_rng(2).random((64, 96)).astype(np.float32)
    mask = image > 0.5
    fig = figures.crops_figure(image, mask, "rot+30", crop_size=(48, 32))
    assert len(fig.axes) == 4
    assert all(ax.images[0].get_array().shape == (32, 48) for ax in fig.axes)
    assert fig.axes[0].get_title() == "crop 1 of rot+30"
    plt.close(fig)


def test_book_model_table_by_hand():
    rows = [
        {"block": "stem", "output_shape": (None, 16, 24, 64), "params": 3392, "layers": 4},
        {"block": "coarse", "output_shape": (None, 16, 24, 1), "params": 65, "layers": 2},
    ]
    table = figures.model_table(rows)
    assert table.rows[0][2] == "16 x 24 x 64" and table.rows[0][4] == "3,392"
    assert table.rows[-1] == ["total", "", "", "6", "3,457"]


def test_book_loss_curves_values_by_hand():
    fig = figures.loss_curves(bce=0.3, accuracy=0.9, n=3)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["L1"], [0.3 - np.e, 0.3 - np.exp(1.5), 0.3 - np.exp(2)])
    np.testing.assert_allclose(lines["L3"], [0.6 - np.e - 0.9, 0.6 - np.exp(1.5) - 0.9, 0.6 - np.exp(2) - 0.9])
    log_lines = {line.get_label(): line.get_ydata() for line in fig.axes[1].get_lines()}
    np.testing.assert_allclose(log_lines["L2"], [0.3 - 0.9, 0.3 - np.log(1.5) - 0.9, 0.3 - np.log(2) - 0.9])
    plt.close(fig)


def test_book_simulated_probability():
    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 5:35] = 1
    p = figures.simulated_probability(labels, seed=3)
    assert p.dtype == np.float32 and p.shape == labels.shape and 0 <= p.min() and p.max() <= 1
    np.testing.assert_array_equal(p, figures.simulated_probability(labels, seed=3))
    assert not np.array_equal(p, figures.simulated_probability(labels, seed=4))
    clean = figures.simulated_probability(labels, noise=0, lumen=0.6, blur_px=0.01)
    # the centre is farther from the border than 0.6 x the gland's largest distance: 1 - lumen
    assert clean[20, 20] == pytest.approx(0.4, abs=1e-4)
    assert clean[6, 20] == pytest.approx(1.0, abs=1e-4) and clean[0, 0] == 0


def test_book_postprocess_stages_match_to_instances():
    from glandseg.postprocess import to_instances

    labels = np.zeros((60, 80), np.int32)
    labels[5:25, 5:30] = 1
    labels[35:55, 40:75] = 2
    prob = figures.simulated_probability(labels, seed=0, noise=0.15, noise_px=2.0)
    config = PostprocessConfig(min_size_px=30, hole_size_px=50)
    stages = figures.postprocess_stages(prob, config)
    np.testing.assert_array_equal(stages["instances"], to_instances(prob, config=config))
    assert stages["mask"].dtype == bool and np.array_equal(stages["mask"], prob > stages["threshold"])
    fig = figures.postprocess_figure(prob, config)
    titles = [ax.get_title() for ax in fig.axes]
    assert f"prob > {stages['threshold']:.3f}" in titles[1]
    assert f"{int(stages['instances'].max())} glands" in titles[3]
    plt.close(fig)


def test_book_decisions_table_reads_the_configs():
    table = figures.decisions_table(presets=("paper", "workshop"))
    assert table.columns[-2:] == ["paper preset", "workshop preset"]
    paper, workshop = preset_config("paper"), preset_config("workshop")
    fields = {f"{section}.{name}" for section in ("preprocess", "augment", "model", "train", "postprocess")
              for name in getattr(ExperimentConfig(), section).to_dict()}
    for row in table.rows:
        setting = row[3]
        if setting.startswith("fixed"):
            assert row[4:] == ["", ""]
        elif not setting.startswith("glandseg."):
            assert setting in fields, setting
            section, name = setting.split(".")
            assert row[4] == figures._show(getattr(getattr(paper, section), name))
            assert row[5] == figures._show(getattr(getattr(workshop, section), name))
    by_setting = {row[3]: row for row in table.rows}
    assert by_setting["preprocess.size"][4:] == ["832x576", "288x192"]
    assert by_setting["train.dice_term"][4] == "exp"
    assert by_setting["glandseg.model.BN_MOMENTUM"][4] == "0.9"
    assert by_setting["glandseg.augment.PAPER_VARIANTS"][4] == "13 variants"
    # every open choice the brief lists has a row
    for needed in ("preprocess.unsharp_radius_px", "glandseg.preprocessing.H_SCALE", "model.coarse_scale",
                   "train.optimizer", "train.val_images", "glandseg.postprocess.OTSU_RANGE",
                   "postprocess.min_size_px", "postprocess.hole_size_px"):
        assert needed in by_setting


# -- analysis tables and figures -----------------------------------------------------------

from pathlib import Path  # noqa: E402

from glandseg.report import analysis  # noqa: E402


def test_comparison_table_shows_paper_figures_and_not_run_yet():
    table = figures.comparison_table(analysis.results_table([], "testB"), caption="Table 2")
    md = table.to_markdown()
    assert md.count("\n") == 1 + len(analysis.CONFIG_ORDER)
    assert md.startswith("| method | F1 paper | F1 ours | F1 95% CI | object Dice paper |")
    assert "| H + L1 | 0.73 | not run yet | not run yet | 0.82 | not run yet | not run yet | 109.72 |" in md
    html = table._repr_html_()
    # two header rows (metric names over paper | ours | 95% CI), then one row per configuration
    assert "<caption>Table 2</caption>" in html and html.count("<tr>") == 2 + len(analysis.CONFIG_ORDER)
    assert '<th colspan="3" class="group">object Hausdorff</th>' in html
    assert '<th rowspan="2">method</th>' in html and html.count("<th>95% CI</th>") == 3


def test_table_groups_must_cover_the_columns():
    with pytest.raises(ValueError, match="groups span 2 columns, the table has 3"):
        figures.Table(["a", "b", "c"], [], groups=[("x", 2)])
    table = figures.Table(["a", "b", "c"], [[1, 2, 3]], groups=[(None, 1), ("x", 2)])
    assert table.flat_columns() == ["a", "x b", "x c"]
    assert table._repr_html_().count("</th>") == 4


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
    table = figures.protocol_table({"a": {"seconds": 90.0, "seconds_range": (60.0, 600.0), "runs": 3},
                                    "b": {"seconds": 30.0}})
    assert table.rows == [["training time per run (min)", "median 1.5 (1.0–10.0, 3 runs)", "0.5"]]


def test_progress_table_marks_missing_runs():
    progress = {
        "seeds": [0, 1, 7],
        "rows": [{"method": "H + L3", "hours": {0: 0.5, 7: None}, "missing": [1]},
                 {"method": "H + L1", "hours": {}, "missing": [0, 1]}],
    }
    table = figures.progress_table(progress, caption="c")
    assert table.columns == ["configuration", "seed 0", "seed 1", "seed 7"]
    assert table.rows == [["H + L3", "done, 30 min", "not run yet", "done (time not recorded)"],
                          ["H + L1", "not run yet", "not run yet", "—"]]
    assert "<caption>c</caption>" in table._repr_html_()


def test_split_contrast_and_others_tables():
    from glandseg.report.analysis import Interval

    contrast = {
        "harder": [{"method": "H + L1", "difference": Interval(0.1, 0.05, 0.15), "paper_difference": 0.082,
                    "verdict": "holds"}],
        "closer": {"difference": None, "paper_difference": 0.016, "verdict": "not run yet"},
    }
    table = figures.split_contrast_table(contrast)
    assert table.rows == [["H + L1: Test A − Test B", "+0.082", "+0.100", "[0.050, 0.150]", "holds"],
                          ["spread of the configurations: Test A − Test B", "+0.016", "—", "not run yet", "not run yet"]]
    res = {"method": "H + L3", "ours": Interval(60.0, 50.0, 70.0),
           "others": [{"method": "X", "value": 45.4, "position": "better than ours"}]}
    others = figures.others_table([("Test A", "object_hausdorff", res)])
    assert others.columns[-1] == "X"
    assert others.rows == [["Test A", "object Hausdorff", "H + L3", "60.00", "[50.00, 70.00]", "45.40 (better than ours)"]]
    assert figures.others_table([]).rows == []


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
    axes = figures.results_figure({"Test A": rows, "Test B": rows[1:]})
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
        figures.results_figure({})


def test_ceiling_table_rows_and_shared_postprocessing():
    def rec(size, pp, f1_net, f1_orig):
        part = lambda f1: {"f1": f1, "object_dice": 0.9, "object_hausdorff": 12.345}  # noqa: E731
        return {"size": size, "postprocess": pp,
                "scores": {"testA": {"network_size": part(f1_net), "original_size": part(f1_orig)}}}

    ceilings = {"cpu": rec([416, 288], {"min_size_px": 1000}, 0.98, 0.99),
                "paper": rec([832, 576], {"min_size_px": 200}, 0.995, 0.996),
                "workshop": rec([288, 192], {"min_size_px": 1000}, 0.97, 0.99)}
    others = [("paper, H + L3", {"testA": {"f1": 0.846, "object_dice": 0.874, "object_hausdorff": 55.13}})]
    table = figures.ceiling_table(ceilings, others)
    md = table.to_markdown().splitlines()
    assert md[0] == ("|  | Test A F1 | Test A object Dice | Test A object Hausdorff | Test B F1 | Test B object Dice "
                     "| Test B object Hausdorff |")
    assert [line.split(" |")[0] for line in md[2:5]] == [
        "| perfect network at 832x576 (paper preset)", "| perfect network at 416x288 (cpu preset)",
        "| perfect network at 288x192 (workshop preset)"]  # largest input first
    assert md[3] == "| perfect network at 416x288 (cpu preset) | 0.980 | 0.900 | 12.35 | — | — | — |"
    # paper comes first now; cpu and workshop share their post-processing, so they share a row
    assert md[5].startswith("| perfect network at the original size (paper post-processing) | 0.996 |")
    assert md[6] == "| perfect network at the original size (cpu, workshop post-processing) | 0.990 | 0.900 | 12.35 | — | — | — |"
    assert md[7] == "| paper, H + L3 | 0.846 | 0.874 | 55.13 | — | — | — |"
    assert len(md) == 8


def test_error_bars_stack_shares_and_counts():
    rows = [
        {"method": "H + L3", "n_gt": 10, "found": 6, "merged": 2, "partly found": 1, "missed": 1,
         "true positive": 6, "off target": 3, "spurious": 1},
        {"method": "perfect network", "n_gt": 10, "found": 9, "merged": 1, "partly found": 0, "missed": 0,
         "true positive": 9, "off target": 0, "spurious": 0},
        {"method": "H + L1", "n_gt": None},  # no predictions: left out
    ]
    left, right = figures.error_bars(rows)
    # left: shares of the glands; the first row on top (y = 1)
    widths = {(round(p.get_y() + p.get_height() / 2), round(p.get_x(), 6)): round(p.get_width(), 6) for p in left.patches}
    assert widths[(1, 0.0)] == 0.6 and widths[(1, 0.6)] == 0.2 and widths[(1, 0.8)] == 0.1 and widths[(1, 0.9)] == 0.1
    assert widths[(0, 0.0)] == 0.9 and widths[(0, 0.9)] == 0.1
    # right: counts, stacked to 10 objects for H + L3
    ends = {}
    for p in right.patches:
        y = round(p.get_y() + p.get_height() / 2)
        ends[y] = max(ends.get(y, 0), p.get_x() + p.get_width())
    assert ends == {1: 10, 0: 9}
    assert [t.get_text() for t in left.get_yticklabels()] == ["H + L3", "perfect network"]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["found", "merged", "partly found", "missed"]
    empty = figures.error_bars([{"method": "x", "n_gt": None}])
    assert empty[0].texts[0].get_text() == "not run yet"


def test_seed_lines_draws_each_configuration_and_the_seed_mean():
    from glandseg.report import analysis

    def rec(loss, seed, f1):
        return {"preset": "cpu", "seed": seed, "config": {"input": "hematoxylin", "loss": loss},
                "metrics": {"testA": {"pooled": {"f1": f1}, "per_image": []}}}

    runs = [rec("L1", 0, 0.70), rec("L1", 1, 0.80), rec("L2", 0, 0.60), rec("L2", 1, 0.74), rec("L3", 0, 0.9)]
    full, empty = analysis.seed_effects(runs), analysis.seed_effects(runs[:1])
    left, right = figures.seed_lines([full, empty])
    lines = {line.get_label(): line.get_ydata() for line in left.get_lines()}
    assert list(lines) == ["H + L1", "H + L2", "mean of the configurations"]  # H + L3 has one seed: left out
    np.testing.assert_allclose(lines["H + L2"], [0.60, 0.74])
    np.testing.assert_allclose(lines["mean of the configurations"], [0.65, 0.77])
    assert [t.get_text() for t in left.get_xticklabels()] == ["seed 0", "seed 1"]
    assert left.get_title() == "Test A: pooled F1" and right.get_lines() == []
    assert right.texts[0].get_text().startswith("not run yet")
    with pytest.raises(ValueError, match="one Axes per entry"):
        figures.seed_lines([full, empty], axes=[left])
    plt.close("all")


def test_sweep_heatmaps_write_each_cell_and_frame_the_own_setting():
    grid = {"opening_radius_px": [0, 4], "min_size_px": [200, 1000, 2000], "n_runs": 2, "own": (0, 1000),
            "values": np.array([[0.70, 0.76, 0.77], [0.72, np.nan, 0.78]])}
    (ax,) = figures.sweep_heatmaps(grid, names=["Test A"])
    assert sorted(t.get_text() for t in ax.texts) == ["0.700", "0.720", "0.760", "0.770", "0.780"]  # NaN left blank
    (frame,) = [p for p in ax.patches if not p.get_fill()]
    assert frame.get_xy() == (0.5, -0.5)  # column 1 (1000 px), row 0 (no opening)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["200", "1000", "2000"]
    assert ax.get_title() == "Test A: mean pooled F1 of 2 runs"
    (unframed,) = figures.sweep_heatmaps({**grid, "own": None})
    assert [p for p in unframed.patches if not p.get_fill()] == []
    with pytest.raises(ValueError, match="one Axes per entry"):
        figures.sweep_heatmaps([grid, grid], axes=[ax])
    plt.close("all")
