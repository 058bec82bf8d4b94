"""The whole pipeline on synthetic data in a few minutes, without GlaS.

prepare -> a tiny training -> prediction -> post-processing -> GlaS metrics -> a figure
(input, H channel, unsharp, probability, instances) in ``demo/``. It shows that an installation
works end to end; its numbers say nothing about the paper (the data is synthetic and the
training lasts a minute).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from glandseg.config import AugmentConfig, ExperimentConfig, PostprocessConfig, PreprocessConfig, TrainConfig

__all__ = ["demo_config", "run_demo"]

DEMO_SHAPE = (192, 256)  # (H, W) of the synthetic images


def demo_config(seed: int = 0) -> ExperimentConfig:
    """A configuration small enough to train in about a minute on two CPU cores."""
    h, w = DEMO_SHAPE
    return ExperimentConfig(
        preset="demo",
        data="synthetic",
        seed=seed,
        preprocess=PreprocessConfig(size=(w, h)),
        augment=AugmentConfig(mode="random", crop_size=(128, 128), crops_per_variant=1),
        train=TrainConfig(epochs=5, batch_size=8, learning_rate=2e-3, val_images=2),
        postprocess=PostprocessConfig(min_size_px=60, hole_size_px=400),
    )


def run_demo(out_dir="demo", *, seed: int = 0, verbose="auto") -> dict:
    """Run the demo into ``out_dir`` and return its metrics.

    Writes ``demo.png`` (the figure), ``metrics.json`` and the training run folder ``run/``.
    """
    from glandseg import metrics, postprocess, predict, preprocessing, synthetic, train
    from glandseg.report import method_figures

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    config = demo_config(seed)
    h, w = DEMO_SHAPE
    train_samples = synthetic.make_dataset(16, shape=(h, w), seed=seed)
    test_samples = synthetic.make_dataset(4, shape=(h, w), seed=seed + 1000)

    print(f"[demo] training LinkNet on {len(train_samples)} synthetic images ...")
    result = train.train(config, out_dir / "run", samples=train_samples, cache_dir=out_dir / "cache", verbose=verbose)

    print(f"[demo] predicting {len(test_samples)} test images ...")
    x = np.stack([preprocessing.to_input(s.image, config.preprocess) for s in test_samples])
    prob = predict.predict_proba(result["model"], x, batch_size=4)
    segs = [postprocess.to_instances(p, s.labels.shape, config.postprocess) for p, s in zip(prob, test_samples)]
    scores = metrics.evaluate(segs, [s.labels for s in test_samples])

    sample = test_samples[0]
    h_full = preprocessing.hematoxylin(sample.image)
    sharpened = preprocessing.unsharp_mask(h_full, config.preprocess.unsharp_radius_px, config.preprocess.unsharp_amount)
    prob0 = postprocess.resize_probability(prob[0], sample.labels.shape)
    import matplotlib

    matplotlib.use("Agg")
    method_figures.pipeline_figure(sample.image, h_full, sharpened, prob0, segs[0], path=out_dir / "demo.png")

    summary = {
        "note": "synthetic data and a one-minute training: a smoke test of the pipeline, not a result",
        "config": config.to_dict(),
        "training": {k: result[k] for k in ("epochs", "steps", "images_seen", "seconds")},
        "test_metrics": {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in scores.items() if k in ("f1", "precision", "recall", "object_dice", "object_hausdorff", "tp", "fp", "fn")},
        "seconds_total": round(time.perf_counter() - t0, 1),
    }
    (out_dir / "metrics.json").write_text(json.dumps(summary, indent=2, default=int))
    m = summary["test_metrics"]
    print(
        f"[demo] synthetic test set: F1 {m['f1']:.3f}, object Dice {m['object_dice']:.3f}, "
        f"object Hausdorff {m['object_hausdorff']:.1f} px (TP {m['tp']}, FP {m['fp']}, FN {m['fn']})"
    )
    print(f"[demo] figure: {out_dir / 'demo.png'}; finished in {summary['seconds_total']} s")
    return summary
