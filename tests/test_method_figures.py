"""Tests for glandseg.report.method_figures (book/method.md and the demo's figure)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from glandseg.config import ExperimentConfig, PostprocessConfig, PreprocessConfig, preset_config  # noqa: E402
from glandseg.report import method_figures  # noqa: E402


def test_pipeline_figure_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 48, 3), dtype=np.uint8)
    h = rng.random((32, 48)).astype("float32") * 0.2
    labels = np.zeros((32, 48), np.int32)
    labels[4:10, 4:10] = 1
    method_figures.pipeline_figure(image, h, h, rng.random((32, 48)), labels, path=tmp_path / "f.png")
    with Image.open(tmp_path / "f.png") as im:
        assert im.size[0] > im.size[1] > 100


def test_book_preprocessing_figure_shows_the_network_input():
    from glandseg.preprocessing import to_input

    rng = np.random.default_rng(0)
    rgb = rng.integers(60, 250, (40, 60, 3), dtype=np.uint8)
    config = PreprocessConfig(size=(64, 32), unsharp_radius_px=1.0)
    fig = method_figures.preprocessing_figure(rgb, config)
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
    fig = method_figures.variants_figure(image, mask, crop_size=(48, 32))
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
    fig = method_figures.crops_figure(image, mask, "rot+30", crop_size=(48, 32))
    assert len(fig.axes) == 4
    assert all(ax.images[0].get_array().shape == (32, 48) for ax in fig.axes)
    assert fig.axes[0].get_title() == "crop 1 of rot+30"
    plt.close(fig)


def test_book_model_table_by_hand():
    rows = [
        {"block": "stem", "output_shape": (None, 16, 24, 64), "params": 3392, "layers": 4},
        {"block": "coarse", "output_shape": (None, 16, 24, 1), "params": 65, "layers": 2},
    ]
    table = method_figures.model_table(rows)
    assert table.rows[0][2] == "16 x 24 x 64" and table.rows[0][4] == "3,392"
    assert table.rows[-1] == ["total", "", "", "6", "3,457"]


def test_book_loss_curves_values_by_hand():
    fig = method_figures.loss_curves(bce=0.3, accuracy=0.9, n=3)
    lines = {line.get_label(): line.get_ydata() for line in fig.axes[0].get_lines()}
    np.testing.assert_allclose(lines["L1"], [0.3 - np.e, 0.3 - np.exp(1.5), 0.3 - np.exp(2)])
    np.testing.assert_allclose(lines["L3"], [0.6 - np.e - 0.9, 0.6 - np.exp(1.5) - 0.9, 0.6 - np.exp(2) - 0.9])
    log_lines = {line.get_label(): line.get_ydata() for line in fig.axes[1].get_lines()}
    np.testing.assert_allclose(log_lines["L2"], [0.3 - 0.9, 0.3 - np.log(1.5) - 0.9, 0.3 - np.log(2) - 0.9])
    plt.close(fig)


def test_book_simulated_probability():
    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 5:35] = 1
    p = method_figures.simulated_probability(labels, seed=3)
    assert p.dtype == np.float32 and p.shape == labels.shape and 0 <= p.min() and p.max() <= 1
    np.testing.assert_array_equal(p, method_figures.simulated_probability(labels, seed=3))
    assert not np.array_equal(p, method_figures.simulated_probability(labels, seed=4))
    clean = method_figures.simulated_probability(labels, noise=0, lumen=0.6, blur_px=0.01)
    # the centre is farther from the border than 0.6 x the gland's largest distance: 1 - lumen
    assert clean[20, 20] == pytest.approx(0.4, abs=1e-4)
    assert clean[6, 20] == pytest.approx(1.0, abs=1e-4) and clean[0, 0] == 0


def test_book_postprocess_stages_match_to_instances():
    from glandseg.postprocess import to_instances

    labels = np.zeros((60, 80), np.int32)
    labels[5:25, 5:30] = 1
    labels[35:55, 40:75] = 2
    prob = method_figures.simulated_probability(labels, seed=0, noise=0.15, noise_px=2.0)
    config = PostprocessConfig(min_size_px=30, hole_size_px=50)
    stages = method_figures.postprocess_stages(prob, config)
    np.testing.assert_array_equal(stages["instances"], to_instances(prob, config=config))
    assert stages["mask"].dtype == bool and np.array_equal(stages["mask"], prob > stages["threshold"])
    fig = method_figures.postprocess_figure(prob, config)
    titles = [ax.get_title() for ax in fig.axes]
    assert f"prob > {stages['threshold']:.3f}" in titles[1]
    assert f"{int(stages['instances'].max())} glands" in titles[3]
    plt.close(fig)


def test_book_decisions_table_reads_the_configs():
    table = method_figures.decisions_table(presets=("paper", "workshop"))
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
            assert row[4] == method_figures._show(getattr(getattr(paper, section), name))
            assert row[5] == method_figures._show(getattr(getattr(workshop, section), name))
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
