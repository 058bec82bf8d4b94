"""Training step time of glandseg's LinkNet on this machine, for choosing the CPU presets.

Times ``model.train_on_batch`` on random crops after warm-up and prints the median step time
and crops/s for each (crop size, batch, precision) asked for; ``--out`` writes a JSON record.

    .venv/bin/python benchmarks/train_step.py --crop 256x192 --batch 8 --precision mixed_bfloat16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np


def measure(crop, batch, precision, steps=8, warmup=2):
    import keras

    from glandseg.config import ExperimentConfig, TrainConfig
    from glandseg.losses import coarse_target
    from glandseg.train import build_and_compile

    config = ExperimentConfig(train=TrainConfig(precision=precision, batch_size=batch))
    model = build_and_compile(config)
    w, h = crop
    rng = np.random.default_rng(0)
    x = rng.random((batch, h, w, 1), dtype=np.float32)
    m = (rng.random((batch, h, w, 1)) > 0.5).astype("float32")
    y = {"final": m, "coarse": coarse_target(m, 4)}
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    keras.config.set_dtype_policy("float32")
    med = statistics.median(times)
    return {"crop": f"{w}x{h}", "batch": batch, "precision": precision, "step_s": med, "crops_per_s": batch / med}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--crop", nargs="+", default=["256x192"])
    ap.add_argument("--batch", nargs="+", type=int, default=[8])
    ap.add_argument("--precision", nargs="+", default=["mixed_bfloat16"])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    rows = []
    for c in args.crop:
        w, h = map(int, c.split("x"))
        for b in args.batch:
            for p in args.precision:
                row = measure((w, h), b, p, steps=args.steps)
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.out:
        import keras

        from glandseg.results import provenance, write_json_atomic

        write_json_atomic(args.out, {"rows": rows, "load_avg": os.getloadavg(), "provenance": provenance()})


if __name__ == "__main__":
    main()
