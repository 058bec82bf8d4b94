import json

import matplotlib

matplotlib.use("Agg")

from glandseg import demo
from glandseg.config import AugmentConfig, PreprocessConfig, TrainConfig


def test_demo_config_is_small_and_valid():
    c = demo.demo_config()
    h, w = demo.DEMO_SHAPE
    assert c.data == "synthetic" and c.preprocess.size == (w, h)
    assert c.augment.crop_size[0] <= w and c.augment.crop_size[1] <= h


def test_demo_writes_figure_and_metrics(tmp_path, monkeypatch):
    # The real demo trains for ~2 minutes; the same code path with one tiny epoch here.
    tiny = demo.demo_config().replace(
        preprocess=PreprocessConfig(size=(128, 96)),
        augment=AugmentConfig(mode="random", crop_size=(64, 64), crops_per_variant=1),
        train=TrainConfig(epochs=1, batch_size=8, val_images=2),
    )
    monkeypatch.setattr(demo, "demo_config", lambda seed=0: tiny)
    monkeypatch.setattr(demo, "DEMO_SHAPE", (96, 128))
    summary = demo.run_demo(tmp_path, verbose=0)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["training"]["epochs"] == 1
    assert set(saved["test_metrics"]) >= {"f1", "object_dice", "object_hausdorff", "tp", "fp", "fn"}
    assert 0 <= summary["test_metrics"]["f1"] <= 1
