"""Epoch time of a preset's training, measured with ``glandseg.train.train`` itself.

Where ``bench.py`` times single training steps on random tensors, this runs the real loop
(prepared arrays, augmentation, ``CropDataset`` batches, ``fit`` with validation, the per-epoch
checkpoint) for a few epochs per setting and reports every epoch's seconds, the steady epoch
time (median of the epochs after the first, which includes compilation) and the preset's
estimated training time, ``first + (preset epochs - 1) x steady``.

Data: GlaS when it is found (``--data`` or ``GLANDSEG_DATA``), else synthetic stand-ins with
the GlaS training split's count and size (85 images of 775x522): the epoch has the same
tensor shapes and step count, and a step's time does not depend on the pixel values. The
record says which.

A setting is ``precision:threads``, e.g. ``float32:1`` (the preset as it is) or
``mixed_bfloat16:8`` (bfloat16 compute, eight threads making the crops).

Usage (the paper preset on a GPU, JAX)::

    KERAS_BACKEND=jax python benchmarks/epoch_time.py --preset paper --epochs 3 \\
        --settings float32:1 float32:8 mixed_bfloat16:8

The record goes to ``benchmarks/results/<date>-<machine>-epoch-<preset>.json`` (``--out``)
and is rewritten after every setting, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from glandseg.data import SPLIT_SIZES
from glandseg.results import cpu_model, write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import _git, machine_name  # noqa: E402  (one machine slug and git helper for all records)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
GLAS_TRAIN = {"images": SPLIT_SIZES["train"], "shape": (522, 775)}  # the GlaS training split: count, (H, W) of most images
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def parse_setting(text: str) -> dict:
    """``"float32:8"`` -> ``{"precision": "float32", "loader_threads": 8}`` (threads default 1)."""
    precision, _, threads = text.partition(":")
    if precision not in PRECISIONS:
        raise argparse.ArgumentTypeError(f"precision must be one of {PRECISIONS}, got {precision!r} in {text!r}")
    try:
        n = int(threads or 1)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"threads must be a positive integer, got {threads!r} in {text!r}")
    return {"precision": precision, "loader_threads": n}


def summarize(seconds, preset_epochs: int) -> dict:
    """First and steady epoch time and the estimated training time of ``preset_epochs`` epochs.

    The steady time is the median of the epochs after the first (the first compiles); with a
    single epoch measured, the first is all there is and the estimate uses it throughout.
    """
    if not seconds:
        raise ValueError("no epoch was measured")
    first = float(seconds[0])
    steady = statistics.median(seconds[1:]) if len(seconds) > 1 else first
    total = first + (preset_epochs - 1) * steady
    return {"first_epoch_s": first, "steady_epoch_s": steady, "estimated_training_s": total,
            "estimated_training_h": total / 3600}


def accelerator() -> str | None:
    """The first accelerator Keras's backend sees (e.g. "NVIDIA H200"), or None on a CPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        dev = jax.devices()[0]
        return None if dev.platform == "cpu" else getattr(dev, "device_kind", dev.platform)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return gpus[0].name if gpus else None
    return None


def machine_slug(accel: str | None) -> str:
    """File-name part for the machine: the accelerator's name, else the CPU's (see bench.py)."""
    return machine_name(accel)


def _training_samples(root, force_synthetic=False, n_synthetic=GLAS_TRAIN["images"]):
    """GlaS's training split if it is there, else synthetic stand-ins of its size (and count)."""
    from glandseg import data, synthetic

    if not force_synthetic:
        try:
            data.validate(root, checksums=False)
            return None, "glas"
        except (FileNotFoundError, ValueError):
            pass
    return synthetic.make_dataset(n_synthetic, shape=GLAS_TRAIN["shape"], seed=0), "synthetic"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="paper", help="paper, cpu, workshop or smoke")
    ap.add_argument("--config", default="h-L3", help="grid point, e.g. h-L3 (the paper's best)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs measured per setting (at least 2: one compiles)")
    ap.add_argument("--settings", nargs="+", type=parse_setting, default=[parse_setting("float32:1")],
                    metavar="PRECISION[:THREADS]", help="e.g. float32:1 mixed_bfloat16:8")
    ap.add_argument("--data", type=Path, default=None, help="GlaS folder (default: GLANDSEG_DATA; synthetic if absent)")
    ap.add_argument("--synthetic", action="store_true", help="synthetic stand-ins even where GlaS is found")
    ap.add_argument("--synthetic-images", type=int, default=GLAS_TRAIN["images"], help=argparse.SUPPRESS)  # tests
    ap.add_argument("--out", type=Path, default=None, help="record (default benchmarks/results/<date>-<machine>-epoch-<preset>.json)")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be a positive integer")

    import keras

    from glandseg import runner, train
    from glandseg.config import preset_config

    base = preset_config(args.preset, **runner.parse_config_name(args.config))
    samples, source = _training_samples(None if args.synthetic else args.data, force_synthetic=args.synthetic,
                                        n_synthetic=args.synthetic_images)
    accel = accelerator()
    started = dt.datetime.now(dt.timezone.utc)
    out = args.out or RESULTS / f"{started.date().isoformat()}-{machine_slug(accel)}-epoch-{args.preset}.json"
    record = {
        "benchmark": "training epoch time of a preset with glandseg.train.train",
        "preset": args.preset,
        "config_name": args.config,
        "config": base.to_dict(),
        "data": source,
        "epochs_measured": args.epochs,
        "preset_epochs": base.train.epochs,
        "started_utc": started.isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "glandseg", "benchmarks")),
        "machine": {"accelerator": accel, "cpu_model": cpu_model(), "cpu_count": os.cpu_count(),
                    "platform": platform.platform(), "python": platform.python_version()},
        "versions": {"keras": keras.__version__, "backend": keras.backend.backend()},
        "settings": [],
    }
    try:
        from importlib import metadata

        record["versions"][keras.backend.backend()] = metadata.version(keras.backend.backend())
    except Exception:  # a backend installed under another distribution name (tensorflow-cpu)
        pass
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache"
        for i, setting in enumerate(args.settings, 1):
            config = base.replace(train=base.train.replace(precision=setting["precision"]))
            print(f"[{i}/{len(args.settings)}] {args.preset} {args.config} {setting} on {accel or 'CPU'}, {source} data",
                  flush=True)
            entry = dict(setting)
            t0 = time.perf_counter()
            try:
                result = train.train(config, Path(tmp) / f"run{i}", root=args.data, samples=samples, cache_dir=cache,
                                     epochs=args.epochs, verbose=2, loader_threads=setting["loader_threads"])
                seconds = [row["seconds"] for row in result["history"]]
                entry.update(epoch_seconds=seconds, steps_per_epoch=result["steps"] // result["epochs"],
                             crops_per_epoch=result["images_seen"] // result["epochs"],
                             val_loss=[row.get("val_loss") for row in result["history"]],
                             **summarize(seconds, base.train.epochs))
                print(f"    epochs {seconds} s; estimated {base.train.epochs} epochs: "
                      f"{entry['estimated_training_h']:.2f} h", flush=True)
            except Exception as err:  # one failing setting must not lose the others
                entry["error"] = f"{type(err).__name__}: {err}"[:500]
                print(f"    FAILED: {entry['error']}", flush=True)
            entry["wall_s"] = round(time.perf_counter() - t0, 1)
            record["settings"].append(entry)
            record["finished_utc"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
            write_json_atomic(out, record)
    print(f"record: {out}")
    return 1 if any("error" in s for s in record["settings"]) else 0


if __name__ == "__main__":
    sys.exit(main())
