"""glandseg's LinkNet against segmentation-models-pytorch's Linknet on this machine.

Measures, in one run, on the same CPU with the same thread count and float32:

- training throughput (crops/s) on 416x288 crops at batch 4 and 8: glandseg on the TensorFlow
  and the JAX backend (``train_on_batch`` with the paper's two-output composite loss), and
  ``segmentation_models_pytorch.Linknet(encoder_name="resnet18", encoder_weights=None,
  in_channels=1, classes=1)`` (Adam, BCE-with-logits), plain and channels-last;
- inference throughput (images/s) on full 832x576 images at batch 1 and 4;
- the input pipeline (cached prepare + augmentation + ``CropDataset`` batches) in crops/s,
  to compare with the model's step rate;
- the metrics against the literal MATLAB restatement (``benchmarks/metrics_speed.py``).

Every figure is the median of ``--repeats`` timed repeats after warm-up steps. Each framework
runs in its own subprocess (a Keras backend is fixed at import). The record, with versions, CPU
model, thread counts and the ratios ``train_ratio_vs_smp`` and ``infer_ratio_vs_smp`` (ours /
peer's, each side at its best measured setting, the smaller ratio over the batch sizes; > 1
means faster), goes to ``benchmarks/results/<date>-<machine>.json``.

Usage (``make bench`` installs the ``bench`` extra into ``.venv-bench`` and runs this)::

    .venv-bench/bin/python benchmarks/bench.py [--repeats 5] [--quick] [--out FILE]

Run it on an otherwise idle machine: the record keeps the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from glandseg.results import cpu_model, write_json_atomic  # no Keras: the orchestrator picks no backend

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TRAIN_CROP = (416, 288)  # (W, H): the paper's crops
INFER_SIZE = (832, 576)  # the paper's full image
TRAIN_BATCHES = (4, 8)
INFER_BATCHES = (1, 4)


# -- timing ------------------------------------------------------------------------------------


def timed(step, items_per_call, *, warmup, repeats, calls):
    """Median items/s of ``step()`` over ``repeats`` runs of ``calls`` calls, after ``warmup``."""
    for _ in range(warmup):
        step()
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            step()
        rates.append(items_per_call * calls / (time.perf_counter() - t0))
    return {"median": statistics.median(rates), "repeats": rates}


def _scale(size, quick):
    """``size`` (W, H), or with ``quick`` a small multiple of 32 of the same orientation.

    --quick checks the machinery on small tensors; its figures are not for the record.
    """
    return (max(32, size[0] // 128 * 32), max(32, size[1] // 128 * 32)) if quick else size


# -- workers (run in their own process) --------------------------------------------------------


def worker_keras(args):
    """glandseg's LinkNet on the backend in KERAS_BACKEND; a ``variant`` starting "xla" compiles
    with XLA (``jit_compile=True``: on a CPU-only TensorFlow Keras's "auto" means no XLA)."""
    import numpy as np

    import keras

    from glandseg.config import ExperimentConfig, TrainConfig
    from glandseg.losses import coarse_target
    from glandseg.train import build_and_compile

    out = {"framework": f"glandseg/keras-{keras.backend.backend()}", "variant": args.variant, "train": {}, "infer": {}}
    rng = np.random.default_rng(0)
    for batch in TRAIN_BATCHES:
        model = build_and_compile(ExperimentConfig(train=TrainConfig(batch_size=batch)))
        if args.variant.startswith("xla"):
            model.jit_compile = True
            model.make_train_function(force=True)
        w, h = _scale(TRAIN_CROP, args.quick)
        x = rng.random((batch, h, w, 1), dtype=np.float32)
        m = (rng.random((batch, h, w, 1)) > 0.5).astype("float32")
        y = {"final": m, "coarse": coarse_target(m, 4)}
        out["train"][str(batch)] = timed(lambda: model.train_on_batch(x, y), batch, warmup=args.warmup,
                                         repeats=args.repeats, calls=args.calls)
    model = build_and_compile(ExperimentConfig())
    if args.variant.startswith("xla"):
        model.jit_compile = True
    for batch in INFER_BATCHES:
        w, h = _scale(INFER_SIZE, args.quick)
        x = rng.random((batch, h, w, 1), dtype=np.float32)
        out["infer"][str(batch)] = timed(lambda: model.predict_on_batch(x), batch, warmup=args.warmup,
                                         repeats=args.repeats, calls=args.calls)
    out["versions"] = {"keras": keras.__version__, keras.backend.backend(): _version(keras.backend.backend())}
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        out["threads"] = {"intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
                          "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
                          "env_inter_op": os.environ.get("TF_NUM_INTEROP_THREADS")}
    return out


def worker_smp(args):
    """segmentation-models-pytorch's Linknet; ``variant`` "channels_last" uses that memory format."""
    import numpy as np
    import segmentation_models_pytorch as smp
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if args.variant == "channels_last" else torch.contiguous_format
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # what a user tuning smp on a GPU would set
    # Keras's train_on_batch and predict_on_batch return host values, so every call waits for
    # the device; torch's calls are asynchronous on a GPU and are synchronised to match.
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out = {"framework": "smp/torch", "variant": args.variant, "train": {}, "infer": {}}

    def make():
        model = smp.Linknet(encoder_name="resnet18", encoder_weights=None, in_channels=1, classes=1)
        return model.to(device=device, memory_format=fmt)

    rng = np.random.default_rng(0)
    for batch in TRAIN_BATCHES:
        model = make().train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        w, h = _scale(TRAIN_CROP, args.quick)
        x = torch.from_numpy(rng.random((batch, 1, h, w), dtype=np.float32)).to(device=device, memory_format=fmt)
        y = torch.from_numpy((rng.random((batch, 1, h, w)) > 0.5).astype("float32")).to(device)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sync()

        out["train"][str(batch)] = timed(step, batch, warmup=args.warmup, repeats=args.repeats, calls=args.calls)
    model = make().eval()
    for batch in INFER_BATCHES:
        w, h = _scale(INFER_SIZE, args.quick)
        x = torch.from_numpy(rng.random((batch, 1, h, w), dtype=np.float32)).to(device=device, memory_format=fmt)

        def infer():
            with torch.inference_mode():
                torch.sigmoid(model(x)).cpu()  # to the host, as predict_on_batch returns NumPy

        out["infer"][str(batch)] = timed(infer, batch, warmup=args.warmup, repeats=args.repeats, calls=args.calls)
    out["versions"] = {"torch": torch.__version__, "segmentation_models_pytorch": smp.__version__}
    out["threads"] = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    return out


def worker_pipeline(args):
    """Crops/s of the input pipeline at the paper's protocol: cached prepare, augment, batches."""
    import numpy as np

    from glandseg import augment, data, preprocessing, synthetic
    from glandseg.config import ExperimentConfig
    from glandseg.train import CropDataset

    config = ExperimentConfig()
    size = _scale(config.preprocess.size, args.quick)
    crop = _scale(config.augment.crop_size, args.quick)
    config = config.replace(preprocess=config.preprocess.replace(size=size),
                            augment=config.augment.replace(crop_size=crop))
    cache = Path(args.cache)
    samples, source = None, "glas"
    try:
        data.validate(None, checksums=False)
    except (FileNotFoundError, ValueError):
        samples, source = synthetic.make_dataset(12, shape=(size[1], size[0]), seed=0), "synthetic"
    t0 = time.perf_counter()
    prepared = preprocessing.prepare("train", config.preprocess, cache, samples=samples, progress=False)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    prepared = preprocessing.prepare("train", config.preprocess, cache, samples=samples, progress=False)
    cached = time.perf_counter() - t0
    aug = augment.make_augmenter(prepared["x"], prepared["mask"], config.augment, seed=0)

    def rate(threads):
        ds = CropDataset(aug, 8, coarse_scale=config.model.coarse_scale, shuffle=True, seed=0, threads=threads)
        n = min(len(ds), 6 if args.quick else 40)
        counter = iter(range(10**9))
        return timed(lambda: ds[next(counter) % n], 8, warmup=1, repeats=args.repeats, calls=max(1, n // args.repeats))

    threaded = min(8, args.threads)  # a batch has 8 crops
    return {"framework": "glandseg pipeline", "data": source, "images": len(prepared["names"]),
            "prepare_first_s": first, "prepare_cached_s": cached, "batches_crops_per_s": rate(1),
            "loader_threads": threaded, "batches_crops_per_s_threaded": rate(threaded) if threaded > 1 else None,
            "crop": f"{crop[0]}x{crop[1]}", "size": f"{size[0]}x{size[1]}", "mean_x": float(np.mean(prepared["x"]))}


WORKERS = {"keras": worker_keras, "smp": worker_smp, "pipeline": worker_pipeline}


def _version(name):
    from importlib import metadata

    for dist in (name, f"{name}-cpu", f"{name}lib"):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


# -- the orchestrator --------------------------------------------------------------------------


def _run_worker(name, variant, args, env_extra):
    cmd = [sys.executable, __file__, "--worker", name, "--variant", variant, "--repeats", str(args.repeats),
           "--warmup", str(args.warmup), "--calls", str(args.calls), "--threads", str(args.threads),
           "--cache", str(args.cache), "--device", args.device] + (["--quick"] if args.quick else [])
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **env_extra}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"framework": name, "variant": variant, "error": (proc.stderr or proc.stdout).strip().splitlines()[-5:]}
    result = json.loads(lines[-1][len("RESULT "):])
    result["worker_seconds"] = round(time.perf_counter() - t0, 1)
    return result


def _best(results, part, batch, prefix):
    rows = [(r[part][str(batch)]["median"], f"{r['framework']} {r['variant']}")
            for r in results if r.get("framework", "").startswith(prefix) and part in r]
    return max(rows) if rows else None


def ratios(results) -> dict:
    """Ours / peer's throughput at each batch size, each side at its best variant and backend.

    Returns ``train_ratio_vs_smp`` and ``infer_ratio_vs_smp`` (the smaller ratio over the
    batch sizes, so a claim of "faster" holds at every size measured) and the per-batch detail.
    """
    out = {}
    for part, batches in (("train", TRAIN_BATCHES), ("infer", INFER_BATCHES)):
        detail = {}
        for b in batches:
            ours, peer = _best(results, part, b, "glandseg/"), _best(results, part, b, "smp/")
            if ours and peer:
                detail[str(b)] = {"ours": ours[0], "ours_setting": ours[1], "peer": peer[0], "peer_setting": peer[1],
                                  "ratio": ours[0] / peer[0]}
        out[f"{part}_ratio_vs_smp"] = min((d["ratio"] for d in detail.values()), default=None)
        out[f"{part}_detail"] = detail
    return out


def _cpu_model():
    return cpu_model()


def gpu_name():
    """The first NVIDIA GPU's name from ``nvidia-smi`` (e.g. "NVIDIA H200"), or None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0].strip() if out else None


def machine_name(gpu=None) -> str:
    """A file-name slug for this machine: CPU model and core count, e.g. "amd-epyc-2cpu", or the
    GPU's name when the benchmark ran on one, e.g. "nvidia-h200"."""
    import re

    if gpu:
        return "-".join(re.findall(r"[a-z0-9]+", gpu.lower())[:3])
    words = re.sub(r"\(.*?\)|processor|\d+-core|cpu|@.*", " ", _cpu_model(), flags=re.I).lower()
    slug = "-".join(re.findall(r"[a-z0-9]+", words)[:3]) or "cpu"
    return f"{slug}-{os.cpu_count()}cpu"


def unused_path(path: Path) -> Path:
    """``path``, or ``<stem>-2<suffix>``, ``-3``... when a record of that name exists: a second
    run on the same day must not overwrite the first."""
    n, candidate = 1, path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _git(*cmd):
    try:
        return subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _metrics(args):
    """Key figures of benchmarks/metrics_speed.py on the first ``--metrics-images`` test images."""
    out = Path(args.cache) / "metrics.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "metrics_speed.py"), "--limit", str(args.metrics_images),
           "--repeat", "1", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-3:]}
    return {"images": args.metrics_images, **json.loads(out.read_text())["summary"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per figure; the median is reported")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before timing (compilation, caches)")
    ap.add_argument("--calls", type=int, default=3, help="calls per timed repeat")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every framework (default: all cores)")
    ap.add_argument("--only", nargs="+", choices=("tensorflow", "jax", "smp", "pipeline", "metrics"), default=None)
    ap.add_argument("--quick", action="store_true", help="small tensors, to check the script; not for the record")
    ap.add_argument("--metrics-images", type=int, default=20, help="test images for the metrics comparison")
    ap.add_argument("--cache", default=str(REPO / "results" / ".cache" / "bench"), help="scratch folder")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="where the models run: cpu, or cuda (JAX's and torch's first GPU; no TensorFlow GPU build here)")
    ap.add_argument("--out", type=Path, default=None, help="record (default benchmarks/results/<date>-<machine>.json)")
    ap.add_argument("--worker", choices=tuple(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--variant", default="plain", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print("RESULT " + json.dumps(WORKERS[args.worker](args)), flush=True)
        return 0
    for name in ("repeats", "warmup", "calls", "threads", "metrics_images"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            ap.error(f"--{name.replace('_', '-')} must be a positive integer")
    Path(args.cache).mkdir(parents=True, exist_ok=True)
    only = set(args.only or ("tensorflow", "jax", "smp", "pipeline", "metrics"))
    threads = str(args.threads)
    # The same thread counts everywhere: ``threads`` compute threads (TF's intra-op pool, torch's
    # threads, OpenMP, XLA's CPU client) and ``threads`` inter-op threads, which is both TF's and
    # torch's default. The first record forced TF to one inter-op thread; "plain-interop1" keeps
    # that setting measured beside the default.
    common = {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}
    plan = []
    if "tensorflow" in only:
        plan += [("keras", v, {**common, "KERAS_BACKEND": "tensorflow"}) for v in ("plain", "xla")]
        plan.append(("keras", "plain-interop1", {**common, "KERAS_BACKEND": "tensorflow", "TF_NUM_INTEROP_THREADS": "1"}))
    if "jax" in only:
        plan.append(("keras", "plain", {**common, "KERAS_BACKEND": "jax"}))
    if "smp" in only:
        plan += [("smp", v, common) for v in ("plain", "channels_last")]
    if "pipeline" in only:
        # the pipeline is NumPy and scikit-image; the backend only has to import (no TensorFlow on a GPU box here)
        plan.append(("pipeline", "plain", {**common, "KERAS_BACKEND": "jax" if args.device == "cuda" else "tensorflow"}))
    if args.device == "cuda":
        if "tensorflow" in only:
            ap.error("--device cuda runs JAX and torch on the GPU; leave out tensorflow (--only jax smp pipeline)")
    else:
        for _, _, env in plan:
            env["JAX_PLATFORMS"] = "cpu"  # a CPU benchmark stays on the CPU where a GPU exists
    gpu = gpu_name() if args.device == "cuda" else None
    started = dt.datetime.now(dt.timezone.utc)
    load_before = os.getloadavg()
    results = []
    for i, (name, variant, env) in enumerate(plan, 1):
        label = f"{name} {variant}" + (f" ({env['KERAS_BACKEND']})" if name == "keras" else "")
        print(f"[{i}/{len(plan)}] {label} ...", flush=True)
        r = _run_worker(name, variant, args, env)
        print(f"    {json.dumps({k: v for k, v in r.items() if k in ('train', 'infer', 'error', 'batches_crops_per_s')}, default=str)[:400]}", flush=True)
        results.append(r)
    record = {
        "benchmark": "glandseg LinkNet vs segmentation_models_pytorch.Linknet(resnet18), float32",
        "quick": args.quick,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "glandseg", "benchmarks")),
        "machine": {"cpu_model": _cpu_model(), "cpu_count": os.cpu_count(), "accelerator": gpu, "platform": platform.platform(),
                    "python": platform.python_version(), "load_average_before": load_before},
        "settings": {"threads": args.threads, "repeats": args.repeats, "warmup": args.warmup, "calls": args.calls,
                     "train_crop": "x".join(map(str, _scale(TRAIN_CROP, args.quick))),
                     "infer_size": "x".join(map(str, _scale(INFER_SIZE, args.quick))), "precision": "float32",
                     "device": args.device},
        "results": results,
        **ratios(results),
    }
    if "metrics" in only:
        print("metrics vs the literal reference ...", flush=True)
        record["metrics"] = _metrics(args)
    record["machine"]["load_average_after"] = os.getloadavg()

    out = args.out or unused_path(RESULTS / f"{started.date().isoformat()}-{machine_name(gpu)}{'-quick' if args.quick else ''}.json")
    write_json_atomic(out, record)
    print(f"train_ratio_vs_smp {record['train_ratio_vs_smp']}  infer_ratio_vs_smp {record['infer_ratio_vs_smp']}")
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
