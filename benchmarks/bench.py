"""glandseg's LinkNet against segmentation-models-pytorch's Linknet on this machine.

Measures, in one run, on the same CPU with the same thread count:

- the CPU's matmul peak (GFLOP/s) in float32 and bfloat16 (``worker_peak``: TensorFlow and
  torch, 2048 and 4096 square matrices, ``2 n^3`` FLOPs each; bfloat16 only where the CPU
  computes it natively, or on a GPU), the yardstick of every row's ``fraction_of_peak``;
- training throughput (crops/s) on 416x288 crops at batch 4 and 8: glandseg on the TensorFlow
  and the JAX backend (``train_on_batch`` with the paper's two-output composite loss), in each
  precision and with or without XLA (:func:`keras_variants`), and
  ``segmentation_models_pytorch.Linknet(encoder_name="resnet18", encoder_weights=None,
  in_channels=1, classes=1)`` (Adam, BCE-with-logits), plain, channels-last, with bfloat16
  autocast and with ``torch.compile`` (:func:`smp_variants`);
- inference throughput (images/s) on full 832x576 images at batch 1 and 4 (glandseg with its
  batch normalisation folded into the convolutions, as ``glandseg.runner`` predicts);
- FLOPs per item from the models' layers (``glandseg.model.count_flops``; smp's Linknet by
  ``torch.utils.flop_counter``, same convention), and from them each figure's GFLOP/s and
  fraction of the peak of its precision (:func:`annotate`). A training step counts as three
  forward passes (the forward products, then one backward product for the input gradients
  and one for the weight gradients); convolutions only (BN, activations and additions are
  memory-bound and left out);
- the input pipeline (cached prepare + augmentation + ``CropDataset`` batches) in crops/s,
  to compare with the model's step rate;
- the metrics against the literal MATLAB restatement (``benchmarks/metrics_speed.py``).

Every figure is the median of ``--repeats`` timed repeats after warm-up steps. Each framework
runs in its own subprocess (a Keras backend is fixed at import). The record, with versions, the
CPU's model, family/model numbers and ISA flags (``glandseg.hardware.cpu_info``), thread counts
and the ratios ``train_ratio_vs_smp`` and ``infer_ratio_vs_smp`` (ours / peer's, each side at
its best measured setting over all variants, the smaller ratio over the batch sizes; > 1 means
faster), goes to ``benchmarks/results/<date>-<machine>.json``.

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

from glandseg import hardware  # no Keras: the orchestrator picks no backend
from glandseg.results import cpu_model, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TRAIN_CROP = (416, 288)  # (W, H): the paper's crops
INFER_SIZE = (832, 576)  # the paper's full image
TRAIN_BATCHES = (4, 8)
INFER_BATCHES = (1, 4)
#: FLOPs of a training step per item, in forward passes: the forward products, then in the
#: backward pass one product for the input gradients and one for the weight gradients.
TRAIN_STEP_FORWARDS = 3
#: Sides of the square matmuls that measure the peak (the larger one usually saturates).
PEAK_SIZES = (2048, 4096)


# -- timing ------------------------------------------------------------------------------------


def timed(step, items_per_call, *, warmup, repeats, calls):
    """Median items/s of ``step()`` over ``repeats`` runs of ``calls`` calls, after ``warmup``
    untimed calls (their seconds are kept as ``warmup_s``: compilation shows there)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    warmup_s = time.perf_counter() - t0
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            step()
        rates.append(items_per_call * calls / (time.perf_counter() - t0))
    return {"median": statistics.median(rates), "repeats": rates, "warmup_s": round(warmup_s, 2)}


def _scale(size, quick):
    """``size`` (W, H), or with ``quick`` a small multiple of 32 of the same orientation.

    --quick checks the machinery on small tensors; its figures are not for the record.
    """
    return (max(32, size[0] // 128 * 32), max(32, size[1] // 128 * 32)) if quick else size


# -- variants ----------------------------------------------------------------------------------


def bfloat16_native(device, cpu=None) -> bool:
    """Whether bfloat16 variants are worth measuring: on a GPU, or a CPU with avx512_bf16 or
    amx_bf16 (elsewhere bfloat16 is emulated, about five times slower, and wastes the run)."""
    return device == "cuda" or hardware.native_bfloat16(hardware.cpu_info() if cpu is None else cpu)


def keras_variants(backend, device="cpu", cpu=None) -> list:
    """The Keras worker's variants: ``<precision>[-xla]``, the precision explicit (never "auto").

    TensorFlow: ``float32`` and ``float32-xla`` (``jit_compile`` False and True), and the same in
    ``bfloat16`` (the ``mixed_bfloat16`` policy) where :func:`bfloat16_native`. JAX always
    compiles with XLA: ``float32``, plus ``bfloat16`` on a GPU only (XLA's CPU backend does not
    use the CPU's bfloat16 units: 5.1 against 5.3 crops/s in float32, measured on an
    avx512_bf16 EPYC).
    """
    if backend == "tensorflow":
        precisions = ("float32", "bfloat16") if bfloat16_native(device, cpu) else ("float32",)
        return [p + x for p in precisions for x in ("", "-xla")]
    return ["float32", "bfloat16"] if device == "cuda" else ["float32"]


def smp_variants(device="cpu", cpu=None) -> list:
    """The smp worker's variants: ``plain``, ``channels_last``, ``channels_last-bf16``
    (``torch.autocast`` to bfloat16 around forward and loss, where :func:`bfloat16_native`),
    ``channels_last-compile`` (``torch.compile``) and ``channels_last-bf16-compile``."""
    bf16 = bfloat16_native(device, cpu)
    return ["plain", "channels_last"] + (["channels_last-bf16"] if bf16 else []) + ["channels_last-compile"] + (
        ["channels_last-bf16-compile"] if bf16 else [])


def variant_precision(variant) -> str:
    """"bfloat16" for a variant that computes in bfloat16 (Keras ``bfloat16*``, smp ``*-bf16*``),
    else "float32": the peak its ``fraction_of_peak`` is taken against."""
    return "bfloat16" if variant.startswith("bfloat16") or "bf16" in variant.split("-") else "float32"


# -- workers (run in their own process) --------------------------------------------------------


def worker_keras(args):
    """glandseg's LinkNet on the backend in KERAS_BACKEND, in the variant's precision (``float32``
    or ``bfloat16``: the ``mixed_bfloat16`` policy) and, on TensorFlow, with XLA where the variant
    ends in "-xla" (``jit_compile=True``; otherwise False: oneDNN's kernels). JAX always uses XLA.
    Inference runs the network with its batch normalisation folded into the convolutions
    (``glandseg.predict.fold_batch_norm``), as ``glandseg.runner`` predicts."""
    import numpy as np

    import keras

    from glandseg.config import ExperimentConfig, TrainConfig
    from glandseg.losses import coarse_target
    from glandseg.predict import fold_batch_norm
    from glandseg.train import build_and_compile

    backend = keras.backend.backend()
    precision = variant_precision(args.variant)
    policy = "mixed_bfloat16" if precision == "bfloat16" else "float32"
    jit = True if args.variant.endswith("-xla") else (False if backend == "tensorflow" else "auto")
    out = {"framework": f"glandseg/keras-{backend}", "variant": args.variant, "precision": precision,
           "dtype_policy": policy, "jit_compile": jit, "infer_batch_norm": "folded", "train": {}, "infer": {}}
    rng = np.random.default_rng(0)
    for batch in TRAIN_BATCHES:
        model = build_and_compile(ExperimentConfig(train=TrainConfig(batch_size=batch)), precision=policy, jit_compile=jit)
        w, h = _scale(TRAIN_CROP, args.quick)
        x = rng.random((batch, h, w, 1), dtype=np.float32)
        m = (rng.random((batch, h, w, 1)) > 0.5).astype("float32")
        y = {"final": m, "coarse": coarse_target(m, 4)}
        out["train"][str(batch)] = timed(lambda: model.train_on_batch(x, y), batch, warmup=args.warmup,
                                         repeats=args.repeats, calls=args.calls)
    out["dtype_policy_used"] = model.dtype_policy.name
    # the folded inference network computes in the variant's policy (glandseg's own prediction
    # uses float32: that is the float32 row)
    model = fold_batch_norm(build_and_compile(ExperimentConfig(), precision=policy, jit_compile=jit), dtype_policy=policy)
    model.compile(jit_compile=jit)
    out["infer_dtype_policy"] = model.dtype_policy.name
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
    """segmentation-models-pytorch's Linknet; the ``variant`` (:func:`smp_variants`) is "plain"
    or "channels_last" (that memory format), with "-bf16" (``torch.autocast`` to bfloat16 around
    forward and loss in training, around the forward pass in inference) and "-compile"
    (``torch.compile(model, dynamic=False)``, at least three warm-up calls per shape). A failed
    compilation (on a CPU inductor needs a C++ compiler) is returned as an error row."""
    import contextlib

    import numpy as np
    import segmentation_models_pytorch as smp
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    parts = args.variant.split("-")
    fmt = torch.channels_last if parts[0] == "channels_last" else torch.contiguous_format
    bf16, compiled = "bf16" in parts, "compile" in parts
    warmup = max(args.warmup, 3) if compiled else args.warmup
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True  # what a user tuning smp on a GPU would set
    # Keras's train_on_batch and predict_on_batch return host values, so every call waits for
    # the device; torch's calls are asynchronous on a GPU and are synchronised to match.
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    out = {"framework": "smp/torch", "variant": args.variant, "precision": variant_precision(args.variant),
           "autocast": "bfloat16" if bf16 else None, "compiled": compiled, "train": {}, "infer": {}}

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def make():
        model = smp.Linknet(encoder_name="resnet18", encoder_weights=None, in_channels=1, classes=1)
        model = model.to(device=device, memory_format=fmt)
        return model, (torch.compile(model, dynamic=False) if compiled else model)

    rng = np.random.default_rng(0)
    try:
        for batch in TRAIN_BATCHES:
            eager, model = make()
            eager.train()
            opt = torch.optim.Adam(eager.parameters(), lr=1e-3)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            w, h = _scale(TRAIN_CROP, args.quick)
            x = torch.from_numpy(rng.random((batch, 1, h, w), dtype=np.float32)).to(device=device, memory_format=fmt)
            y = torch.from_numpy((rng.random((batch, 1, h, w)) > 0.5).astype("float32")).to(device)

            def step():
                opt.zero_grad(set_to_none=True)
                with autocast():
                    loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                sync()

            out["train"][str(batch)] = timed(step, batch, warmup=warmup, repeats=args.repeats, calls=args.calls)
        eager, model = make()
        eager.eval()
        for batch in INFER_BATCHES:
            w, h = _scale(INFER_SIZE, args.quick)
            x = torch.from_numpy(rng.random((batch, 1, h, w), dtype=np.float32)).to(device=device, memory_format=fmt)

            def infer():
                with torch.inference_mode(), autocast():
                    torch.sigmoid(model(x)).float().cpu()  # to the host, as predict_on_batch returns NumPy

            out["infer"][str(batch)] = timed(infer, batch, warmup=warmup, repeats=args.repeats, calls=args.calls)
    except Exception as err:  # noqa: BLE001 - torch.compile fails in many ways (no C++ compiler, an unsupported op)
        if not compiled:
            raise
        lines = [ln for ln in str(err).strip().splitlines() if ln.strip()]
        return {"framework": "smp/torch", "variant": args.variant, "precision": out["precision"],
                "error": [f"torch.compile failed: {type(err).__name__}"] + lines[:4]}
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


def worker_peak(args):
    """The matmul peak in GFLOP/s of one framework (``variant`` "tensorflow" or "torch"):
    ``n x n`` by ``n x n`` (``2 n^3`` FLOPs), ``n`` in :data:`PEAK_SIZES`, float32 and, where
    :func:`bfloat16_native`, bfloat16; the median of the repeats, with the thread settings of
    every worker (TensorFlow and torch in one process crash, hence one process each)."""
    import numpy as np

    dtypes = ("float32", "bfloat16") if bfloat16_native(args.device) else ("float32",)
    sizes = (256, 512) if args.quick else PEAK_SIZES
    out = {"framework": "matmul peak", "variant": args.variant, "sizes": list(sizes), "dtypes": list(dtypes),
           "measured": {}}
    rng = np.random.default_rng(0)
    if args.variant == "tensorflow":
        import tensorflow as tf

        def make_step(dtype, a, b):
            a, b = (tf.cast(tf.constant(m), getattr(tf, dtype)) for m in (a, b))
            return lambda: tf.linalg.matmul(a, b)[0, 0].numpy()  # eager on a CPU: synchronous

        out["version"] = tf.__version__
    else:
        import torch

        torch.set_num_threads(args.threads)
        device = torch.device(args.device)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

        def make_step(dtype, a, b):
            a, b = (torch.from_numpy(m).to(device=device, dtype=getattr(torch, dtype)) for m in (a, b))

            def step():
                torch.mm(a, b)
                sync()

            return step

        out["version"] = torch.__version__
    for dtype in dtypes:
        for n in sizes:
            step = make_step(dtype, rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32))
            out["measured"].setdefault(dtype, {})[str(n)] = timed(step, 2 * n**3 / 1e9, warmup=max(args.warmup, 1),
                                                                  repeats=args.repeats, calls=args.calls)
    return out


def peak_summary(rows) -> dict:
    """The record's ``peak``: the best median GFLOP/s per precision over the peak workers' rows
    (frameworks and sizes) as ``peak_gflops``, where it came from, and the rows themselves.
    A precision nobody measured (bfloat16 without native support) is None."""
    peak, source = {}, {}
    for dtype in ("float32", "bfloat16"):
        best = max(((fig["median"], f"{r['variant']} {n}x{n}") for r in rows if "error" not in r
                    for n, fig in r.get("measured", {}).get(dtype, {}).items()), default=None)
        peak[dtype] = best[0] if best else None
        source[dtype] = best[1] if best else "not measured"
    return {"peak_gflops": peak, "peak_source": source, "by_framework": {r["variant"]: r for r in rows}}


def worker_flops(args):
    """FLOPs of one forward pass per item at the benchmark's sizes: variant "glandseg" counts
    glandseg's LinkNet from its layers (``glandseg.model.count_flops``), variant "smp" counts
    smp's Linknet with ``torch.utils.flop_counter`` (the same convention: ``2 x`` the
    multiply-adds of the convolutions, a transposed one over its input positions). Two
    processes: TensorFlow and torch in one process crash."""
    sizes = {"train_crop": _scale(TRAIN_CROP, args.quick), "infer_image": _scale(INFER_SIZE, args.quick)}
    out = {"framework": "flops", "variant": args.variant}
    if args.variant == "glandseg":
        from glandseg.model import build_linknet, count_flops

        model = build_linknet((None, None, 1))
        for key, (w, h) in sizes.items():
            f = count_flops(model, (h, w))
            out[key] = {"size": f"{w}x{h}", "forward_flops": f["conv_flops"], "conv_macs": f["conv_macs"],
                        "other_flops": f["other_flops"], "by_layer_type": f["by_layer_type"]}
        return out
    import segmentation_models_pytorch as smp
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(args.threads)
    peer = smp.Linknet(encoder_name="resnet18", encoder_weights=None, in_channels=1, classes=1).eval()
    for key, (w, h) in sizes.items():
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            peer(torch.zeros(1, 1, h, w))
        out[key] = {"size": f"{w}x{h}", "forward_flops": int(counter.get_total_flops()),
                    "by_op": {str(k): int(v) for k, v in counter.get_flop_counts()["Global"].items()}}
    return out


WORKERS = {"keras": worker_keras, "smp": worker_smp, "pipeline": worker_pipeline, "peak": worker_peak,
           "flops": worker_flops}


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


def flops_per_item(flops, framework) -> dict | None:
    """FLOPs per item of a result row of ``framework``: ``{"train": per crop of a training step
    (``TRAIN_STEP_FORWARDS`` forward passes), "infer": per image}``, or None without counts.

    smp's rows use smp's own count where the flops worker measured it (its Linknet has 4x4
    transposed convolutions, five decoder blocks and no coarse output: about 3% fewer FLOPs than
    glandseg's at 416x288), glandseg's count otherwise (the same resnet18 LinkNet, nearly).
    """
    usable = {side: row for side, row in (flops or {}).items() if row and "error" not in row}
    counts = usable.get("smp") if framework.startswith("smp/") and "smp" in usable else usable.get("glandseg")
    if not counts:
        return None
    return {"train": TRAIN_STEP_FORWARDS * counts["train_crop"]["forward_flops"],
            "infer": counts["infer_image"]["forward_flops"]}


def annotate(results, flops, peak_gflops) -> None:
    """Add ``gflops`` (items/s x FLOPs per item / 1e9) and ``fraction_of_peak`` (against the
    peak of the row's precision, None where that peak was not measured) to every timed batch of
    glandseg's and smp's rows, in place."""
    for r in results:
        framework = r.get("framework", "")
        if "error" in r or not framework.startswith(("glandseg/", "smp/")):
            continue
        per_item = flops_per_item(flops, framework)
        if per_item is None:
            continue
        peak = (peak_gflops or {}).get(r.get("precision", "float32"))
        for part in ("train", "infer"):
            for figure in r.get(part, {}).values():
                figure["gflops"] = figure["median"] * per_item[part] / 1e9
                figure["fraction_of_peak"] = figure["gflops"] / peak if peak else None


def flops_record(flops) -> dict | None:
    """The record's ``flops`` entry: the flops workers' counts (``{"glandseg": ..., "smp": ...}``,
    each the worker's row or its error) with their convention and the FLOPs per item that
    :func:`annotate` used; None where no model was measured."""
    if not flops:
        return None
    smp_counted = "error" not in (flops.get("smp") or {"error": None})
    return {
        "convention": "FLOPs = 2 x multiply-adds of the convolutions (a transposed one over its input positions) "
                      "for one item; batch normalisation, activations and additions are left out",
        "train_step_forwards": TRAIN_STEP_FORWARDS,
        "train_step_note": "a training step counts as 3 forward passes: the forward products, then one backward "
                           "product for the input gradients and one for the weight gradients",
        "glandseg_source": "glandseg.model.count_flops(build_linknet((None, None, 1)), (H, W))",
        "smp_source": ("torch.utils.flop_counter.FlopCounterMode on one forward pass of smp.Linknet(resnet18, "
                       "in_channels=1, classes=1): its own architecture's count" if smp_counted else
                       "not counted: smp's rows use glandseg's count, assuming the same resnet18 LinkNet"),
        "per_item": {side: flops_per_item(flops, f"{side}/") for side in ("glandseg", "smp")},
        **{side: {k: v for k, v in row.items() if k not in ("framework", "variant")} for side, row in flops.items()},
    }


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
    ap.add_argument("--only", nargs="+", choices=("tensorflow", "jax", "smp", "pipeline", "metrics", "peak"), default=None,
                    help="parts to run (default: all); the matmul peak and the FLOPs come with any model")
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
    only = set(args.only or ("tensorflow", "jax", "smp", "pipeline", "metrics", "peak"))
    threads = str(args.threads)
    cpu = hardware.cpu_info()
    # The same thread counts everywhere: ``threads`` compute threads (TF's intra-op pool, torch's
    # threads, OpenMP, XLA's CPU client) and ``threads`` inter-op threads, which is both TF's and
    # torch's default (the first record's one inter-op thread for TF measured slower).
    common = {"OMP_NUM_THREADS": threads, "TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads}
    models = bool(only & {"tensorflow", "jax", "smp"})
    plan = []
    if models or "peak" in only:
        plan += [("peak", fw, dict(common)) for fw in (("tensorflow", "torch") if args.device == "cpu" else ("torch",))]
    if models:
        plan.append(("flops", "glandseg", {**common, "KERAS_BACKEND": "jax" if args.device == "cuda" else "tensorflow"}))
    if "smp" in only:
        plan.append(("flops", "smp", dict(common)))
    if "tensorflow" in only:
        plan += [("keras", v, {**common, "KERAS_BACKEND": "tensorflow"})
                 for v in keras_variants("tensorflow", args.device, cpu)]
    if "jax" in only:
        plan += [("keras", v, {**common, "KERAS_BACKEND": "jax"}) for v in keras_variants("jax", args.device, cpu)]
    if "smp" in only:
        plan += [("smp", v, common) for v in smp_variants(args.device, cpu)]
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
    results, peaks, flops = [], [], {}
    for i, (name, variant, env) in enumerate(plan, 1):
        label = f"{name} {variant}" + (f" ({env['KERAS_BACKEND']})" if name == "keras" else "")
        print(f"[{i}/{len(plan)}] {label} ...", flush=True)
        r = _run_worker(name, variant, args, env)
        shown = ("train", "infer", "error", "batches_crops_per_s", "measured", "train_crop")
        print(f"    {json.dumps({k: v for k, v in r.items() if k in shown}, default=str)[:400]}", flush=True)
        if name == "peak":
            peaks.append(r)
        elif name == "flops":
            flops[variant] = r
        else:
            results.append(r)
    peak = peak_summary(peaks)
    peak_gflops = peak["peak_gflops"]
    annotate(results, flops, peak_gflops)
    precisions = sorted({r["precision"] for r in results if "precision" in r}, key=("float32", "bfloat16").index)
    record = {
        "benchmark": "glandseg LinkNet vs segmentation_models_pytorch.Linknet(resnet18), float32 and bfloat16",
        "quick": args.quick,
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--", "glandseg", "benchmarks")),
        "machine": {"cpu_model": _cpu_model(), "cpu": cpu, "cpu_count": os.cpu_count(), "accelerator": gpu,
                    "platform": platform.platform(), "python": platform.python_version(),
                    "load_average_before": load_before},
        "settings": {"threads": args.threads, "repeats": args.repeats, "warmup": args.warmup, "calls": args.calls,
                     "train_crop": "x".join(map(str, _scale(TRAIN_CROP, args.quick))),
                     "infer_size": "x".join(map(str, _scale(INFER_SIZE, args.quick))),
                     "precision": " and ".join(precisions) + " (per row)" if precisions else None,
                     "device": args.device},
        "peak_gflops": peak_gflops,
        "peak": peak,
        "flops": flops_record(flops),
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
