"""Does prediction's precision or batch-norm folding change a run's test figures?

Predicts Test A and Test B with a finished run's selected network in three ways: float32 as
Keras builds it (batch normalisation as separate layers), float32 with batch normalisation
folded into the convolutions (``glandseg.predict.fold_batch_norm``) and ``mixed_bfloat16``
folded; post-processes each with the run's configuration and scores it with the GlaS metrics.
Reports, per way, the images per second, the largest probability difference from the first
way, the share of pixels whose instance/background status differs, and the pooled F1, object
Dice and object Hausdorff. The record goes to
``benchmarks/results/<date>-<machine>-inference-precision.json``.

    .venv/bin/python benchmarks/inference_precision.py results/precision/workshop/h-L3-f32-s0

Timings are only comparable on an idle machine; the record keeps the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import machine_name, unused_path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
WAYS = (("float32", False), ("float32", True), ("mixed_bfloat16", True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path, help="a finished run folder with best.weights.h5")
    ap.add_argument("--data", type=Path, default=None, help="GlaS folder (default: GLANDSEG_DATA)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import keras

    from glandseg import hardware, metrics, postprocess, predict, preprocessing, results, runner, train
    from glandseg.config import ExperimentConfig

    if not (args.run_dir / train.BEST_WEIGHTS).exists():
        ap.error(f"{args.run_dir / train.BEST_WEIGHTS} not found: the run's weights are not in this checkout")
    config = ExperimentConfig.from_json((args.run_dir / "config.json").read_text())
    cache = args.run_dir.parent.parent / ".cache"
    samples = {s: runner.load_samples(config, s, args.data) for s in runner.TEST_SPLITS}
    inputs = {s: preprocessing.prepare(s, config.preprocess, cache, root=args.data)["x"] for s in runner.TEST_SPLITS}
    load_before = os.getloadavg()
    rows, reference = [], {}
    for precision, fold in WAYS:
        model = train.load_trained(config, args.run_dir, precision=precision)
        if fold:
            model = predict.fold_batch_norm(model, dtype_policy=precision)
        row = {"precision": precision, "folded": fold, "splits": {}}
        for split in runner.TEST_SPLITS:
            x = inputs[split]
            predict.predict_proba(model, x[:2], batch_size=2)  # warm-up (tracing)
            t0 = time.perf_counter()
            probs = predict.predict_proba(model, x, batch_size=max(1, config.train.batch_size // 2))
            seconds = time.perf_counter() - t0
            segs = [postprocess.to_instances(p, s.labels.shape, config.postprocess) for p, s in zip(probs, samples[split])]
            pooled = metrics.evaluate(segs, [s.labels for s in samples[split]], aggregate="pooled")
            if split not in reference:
                reference[split] = (probs, segs)
            ref_probs, ref_segs = reference[split]
            changed = sum(int(np.count_nonzero((a > 0) != (b > 0))) for a, b in zip(segs, ref_segs))
            pixels = sum(a.size for a in segs)
            row["splits"][split] = {
                "images_per_s": len(x) / seconds,
                "max_probability_difference": float(np.max(np.abs(probs - ref_probs))),
                "pixels_changed_fraction": changed / pixels,
                **{k: pooled[k] for k in ("f1", "object_dice", "object_hausdorff", "tp", "fp", "fn")},
            }
            print(f"{precision:>15} folded={fold!s:5} {split}: {len(x) / seconds:.2f} images/s, "
                  f"F1 {pooled['f1']:.4f}, Dice {pooled['object_dice']:.4f}, H {pooled['object_hausdorff']:.2f}, "
                  f"pixels changed {changed / pixels:.2e}", flush=True)
        rows.append(row)
        keras.config.set_dtype_policy("float32")
    started = dt.datetime.now(dt.timezone.utc)
    record = {
        "benchmark": "prediction precision and batch-norm folding: speed and test figures of one trained network",
        "run": str(args.run_dir),
        "input_size": list(config.preprocess.size),
        "rows": rows,
        "machine": {"cpu": hardware.cpu_info(), "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "provenance": results.provenance(),
    }
    out = args.out or unused_path(REPO / "benchmarks" / "results" /
                                  f"{started.date().isoformat()}-{machine_name()}-inference-precision.json")
    results.write_json_atomic(out, record)
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
