"""Training LinkNet: data pipeline, compile, a lean training loop, checkpoints and resume.

The paper gives no optimizer, learning rate, batch size or validation split. Our choices are
``TrainConfig`` fields: Adam at 1e-3 with batch 8, and ``val_images`` whole training images held
out (chosen by the seed) for validation; the weights with the lowest validation loss (or, with
``TrainConfig.keep="last"``, the final epoch's) are kept as ``best.weights.h5`` for prediction
(model selection), the latest as the resumable checkpoint.

The loop calls ``model.train_on_batch`` on NumPy batches, which a background thread prepares
while the previous step runs. Keras's ``fit`` feeds a ``PyDataset`` through ``tf.data``'s
generator dataset on TensorFlow, which costs time per step and tunes glibc's malloc into
page-faulting every activation (see :class:`MallocThresholds`); the loop avoids both, logs the
same batch-weighted epoch means as ``fit`` and shows a Keras progress bar.

Resuming: after every epoch, and inside an epoch every ``checkpoint_minutes``, the weights, the
optimizer's variables (with its step counter, so the learning-rate schedule continues) and the
position ``(epoch, batch)`` are written to ``checkpoint.npz`` (to a temporary file, then
``os.replace``, so a kill never leaves a half-written checkpoint). Every random choice of an
epoch (sample order, random crops) is derived from ``(seed, epoch)``, so there is no hidden RNG
state to save: a resumed run sees the same batches as an uninterrupted one, and a stop loses at
most ``checkpoint_minutes`` of training. The dtype policy (``TrainConfig.precision``, ``"auto"``
resolved by :func:`glandseg.hardware.resolve_precision`) is stored in ``train_state.json``; a
resumed run keeps it. ``train_state.json`` also lists the run's ``sessions``: each process that
trained the folder, from which ``(epoch, batch)``, on which CPU (model, family/model, ISA flags)
and accelerator, so the epoch times of a run resumed on other machines can be told apart. A
folder whose checkpoint is gone after it trained (:func:`stale_state`) is refused, not silently
trained again over its history.

Several devices: ``train(..., distribution=data_parallel())`` replicates the model on every
accelerator (or host) that JAX sees and splits each batch between them
(``keras.distribution.DataParallel``). The global batch and the maths are unchanged (batch
normalisation still sees the whole batch), so a run on several devices follows the loss curve
of a run on one; only the wall time differs. It is a property of the machine, not of the
experiment, so it is an argument rather than a ``TrainConfig`` field.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import keras

from glandseg import augment, hardware, losses, model as model_lib, preprocessing, synthetic
from glandseg.config import ExperimentConfig

__all__ = [
    "CropDataset", "MallocThresholds", "split_train_val", "build_and_compile", "data_parallel", "device_count", "train",
    "load_trained", "stale_state", "TrainResult",
]

CHECKPOINT = "checkpoint.npz"
BEST_WEIGHTS = "best.weights.h5"
HISTORY = "history.csv"
STATE = "train_state.json"


class MallocThresholds(keras.callbacks.Callback):
    """Undo TensorFlow's malloc tuning of ``from_generator`` datasets during ``fit``.

    On the TensorFlow backend Keras feeds a ``PyDataset`` through ``tf.data``'s generator
    dataset, whose kernel calls ``mallopt(M_TRIM_THRESHOLD, 128 KB)`` (it logs "Memory patch
    applied"). In glibc that also freezes the mmap threshold at 128 KB, so every activation
    tensor is a fresh ``mmap`` that is page-faulted in and unmapped again. On our 2-core CPU
    this put 40% of the training time in the kernel: 7.5 million page faults and 3.4 s per step
    against 78 thousand and 1.7 s with this callback (LinkNet, batch 8 of 192x128 crops,
    ``model.fit`` over 24 batches, measured while another training ran). At the start of each
    epoch's first batch and after each validation pass it sets the trim threshold to 1 GiB and the mmap threshold to 32 MiB
    (glibc's largest), so freed tensor memory is reused instead. Does nothing where the C
    library is not glibc or the backend is not TensorFlow.
    """

    M_TRIM_THRESHOLD = -1
    M_MMAP_THRESHOLD = -3

    def __init__(self):
        super().__init__()
        self._mallopt = None
        if keras.backend.backend() == "tensorflow":
            import ctypes
            import platform

            if platform.libc_ver()[0] == "glibc":
                self._mallopt = ctypes.CDLL("libc.so.6").mallopt

    @property
    def active(self) -> bool:
        return self._mallopt is not None

    def apply(self):
        """Set the thresholds now (also usable outside ``fit``)."""
        if self._mallopt is not None:
            self._mallopt(self.M_TRIM_THRESHOLD, 1 << 30)
            self._mallopt(self.M_MMAP_THRESHOLD, 32 << 20)

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:  # the epoch's generator dataset has just been created
            self.apply()

    def on_test_end(self, logs=None):
        self.apply()


def _atomic_path(path: Path) -> Path:
    # Keep the full name as the suffix: Keras insists weight files end in ".weights.h5".
    return path.with_name(f".tmp-{path.name}")


class CropDataset(keras.utils.PyDataset):
    """Batches of augmented crops with targets for the ``final`` and ``coarse`` outputs.

    A ``keras.utils.PyDataset`` (not ``tf.data``) so that TensorFlow and JAX train from the same
    pipeline. Sample order is a permutation drawn from ``(seed, epoch)``.

    Parameters
    ----------
    augmenter : sequence of (image, mask) pairs
        ``augmenter[i]`` gives a (h, w, C) float32 crop and its (h, w) uint8 mask.
    batch_size : int
    coarse_scale : int or None
        Side reduction of the coarse output; None when the model has no coarse output.
    shuffle : bool
        Permute the samples every epoch (training) or keep them in order (validation).
    seed : int
    threads : int
        Crops of one batch made in parallel by this many threads. Every crop is a function of
        ``(seed, epoch, index)`` alone, so the batches are the same for any thread count; more
        threads only help when the accelerator waits for the CPU (a GPU: a CPU-only run is
        bound by the model).
    """

    def __init__(self, augmenter, batch_size, *, coarse_scale=4, shuffle=True, seed=0, threads=1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive integer. Received: threads={threads!r}")
        self.augmenter = augmenter
        self.batch_size = int(batch_size)
        self.coarse_scale = coarse_scale
        self.shuffle = shuffle
        self.seed = int(seed)
        self.threads = threads
        # Keras's own ``workers`` would parallelise across batches, but its enqueuer reorders
        # them with Python's global RNG; threads within a batch keep the order exact.
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="glandseg-crops") if threads > 1 else None
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the sample order (and random augmentation) of ``epoch``."""
        self.epoch = int(epoch)
        if hasattr(self.augmenter, "set_epoch"):
            self.augmenter.set_epoch(self.epoch)
        n = len(self.augmenter)
        if self.shuffle:
            self.order = np.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            self.order = np.arange(n)

    def on_epoch_end(self):
        self.set_epoch(self.epoch + 1)

    def __len__(self):
        return math.ceil(len(self.augmenter) / self.batch_size)

    def __getitem__(self, index):
        idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        if self._pool is not None:
            pairs = list(self._pool.map(self.augmenter.__getitem__, [int(i) for i in idx]))
        else:
            pairs = [self.augmenter[int(i)] for i in idx]
        x = np.stack([p[0] for p in pairs]).astype("float32")
        mask = np.stack([p[1] for p in pairs]).astype("float32")
        targets = {"final": mask[..., None]}
        if self.coarse_scale:
            targets["coarse"] = losses.coarse_target(targets["final"], self.coarse_scale)
        return x, targets


def split_train_val(n_images: int, val_images: int, seed: int):
    """Indices of training and validation images: ``val_images`` drawn without replacement.

    Returns
    -------
    train_idx, val_idx : ndarray of int
        Sorted, disjoint, together ``range(n_images)``.
    """
    if val_images >= n_images:
        raise ValueError(
            f"TrainConfig.val_images={val_images} leaves no training images out of {n_images}; "
            f"use at most {n_images - 1}."
        )
    rng = np.random.default_rng([seed, 1])  # stream 1: kept apart from the epoch streams
    val = np.sort(rng.choice(n_images, size=val_images, replace=False)) if val_images else np.array([], int)
    train = np.setdiff1d(np.arange(n_images), val)
    return train, val


def data_parallel(devices=None):
    """A ``keras.distribution.DataParallel`` over ``devices`` (default: every device JAX sees).

    Parameters
    ----------
    devices : int or list of str, optional
        How many of the listed devices to use (the first ``n``), or their names
        (``keras.distribution.list_devices()``).

    Returns
    -------
    keras.distribution.DataParallel

    Raises
    ------
    ValueError
        On a backend other than JAX (Keras distributes training only there), or when fewer
        devices exist than asked for.

    Examples
    --------
    Two virtual CPU devices (set before JAX is imported)::

        XLA_FLAGS=--xla_force_host_platform_device_count=2 KERAS_BACKEND=jax python ...
    """
    if keras.backend.backend() != "jax":
        raise ValueError(
            f"data-parallel training needs the JAX backend (KERAS_BACKEND=jax). Received: backend={keras.backend.backend()!r}"
        )
    available = keras.distribution.list_devices()
    if devices is None:
        devices = available
    elif isinstance(devices, int):
        if not 1 <= devices <= len(available):
            raise ValueError(f"devices={devices} but this machine has {len(available)}: {available}")
        devices = available[:devices]
    return keras.distribution.DataParallel(devices=list(devices))


def device_count(distribution) -> int:
    """Devices a distribution trains on (1 for None)."""
    return 1 if distribution is None else int(np.prod(distribution.device_mesh.shape))


def _check_distribution(distribution, batch_size: int) -> None:
    n = device_count(distribution)
    if batch_size % n:
        raise ValueError(
            f"train.batch_size={batch_size} does not split evenly over the {n} devices of the distribution"
        )


def _optimizer(config, total_steps=None):
    t = config.train
    rate = t.learning_rate
    if t.lr_schedule == "cosine" and total_steps:
        rate = keras.optimizers.schedules.CosineDecay(t.learning_rate, decay_steps=int(total_steps))
    if t.optimizer == "adam":
        return keras.optimizers.Adam(rate)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(rate)
    return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)


def build_and_compile(config: ExperimentConfig, input_shape=None, total_steps=None, *, jit_compile="auto",
                      precision=None) -> keras.Model:
    """LinkNet for ``config``, compiled with the configured loss on each output.

    Loss weights are ``train.coarse_weight`` (paper: 2) for ``coarse`` and ``train.final_weight``
    (paper: 1) for ``final``; without deep supervision only ``final`` is trained.
    ``total_steps`` is the length of a cosine learning-rate schedule (``lr_schedule="cosine"``).
    ``jit_compile`` is Keras's: ``"auto"`` (XLA where Keras picks it: JAX, TensorFlow on a GPU),
    True or False. On a CPU-only TensorFlow XLA's effect depends on the CPU: on an AVX2-only
    AMD EPYC it trained faster at batch 8 (it fuses the batch normalisations, which Keras 3
    computes unfused), on an AMX Xeon it trained at two thirds of the speed of oneDNN's kernels
    and ignores bfloat16 (``benchmarks/bench.py`` measures both). ``precision`` is the Keras
    dtype policy; None resolves ``config.train.precision`` (``"auto"``: see
    :func:`glandseg.hardware.resolve_precision`).
    """
    if not (jit_compile is True or jit_compile is False or jit_compile == "auto"):
        raise ValueError(f"jit_compile must be 'auto', True or False. Received: jit_compile={jit_compile!r}")
    if precision is None:
        precision = hardware.resolve_precision(config.train.precision)["precision"]
    keras.config.set_dtype_policy(precision)
    if input_shape is None:
        # Any size divisible by 32: train on crops, predict on padded full images, same weights.
        input_shape = (None, None, config.preprocess.channels)
    model = model_lib.build_linknet(
        input_shape,
        deep_supervision=config.model.deep_supervision,
        coarse_scale=config.model.coarse_scale,
    )
    loss_dict, weights = losses.output_losses(config.model, config.train)
    model.compile(optimizer=_optimizer(config, total_steps), loss=loss_dict, loss_weights=weights, jit_compile=jit_compile)
    return model


def _save_checkpoint(model, path: Path, epoch: int, *, batch: int = 0, partial: dict | None = None) -> None:
    """Weights, optimizer variables and the position ``(epoch, batch)`` reached, atomically.

    ``batch`` > 0 marks a checkpoint inside ``epoch`` (0-based, ``batch`` steps done);
    ``partial`` then holds that epoch's running loss sums and seconds so far, so the resumed
    epoch logs what an uninterrupted one would.
    """
    arrays = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    for i, v in enumerate(model.optimizer.variables):
        arrays[f"o{i}"] = keras.ops.convert_to_numpy(v)
    arrays["epoch"] = np.array(epoch)
    arrays["batch"] = np.array(batch)
    arrays["partial"] = np.array(json.dumps(partial or {}))
    tmp = _atomic_path(path)
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _load_checkpoint(model, path: Path) -> tuple[int, int, dict]:
    """Restore a checkpoint into ``model``; returns ``(epoch, batch, partial)``."""
    with np.load(path) as data:
        n_w = sum(1 for k in data.files if k.startswith("w"))
        model.set_weights([data[f"w{i}"] for i in range(n_w)])
        model.optimizer.build(model.trainable_variables)
        n_o = sum(1 for k in data.files if k.startswith("o"))
        if n_o != len(model.optimizer.variables):
            raise ValueError(
                f"{path} holds {n_o} optimizer variables, the model's optimizer has "
                f"{len(model.optimizer.variables)}: the checkpoint was made with another config. "
                "Delete the folder or use a new out_dir."
            )
        for i, var in enumerate(model.optimizer.variables):
            var.assign(data[f"o{i}"])
        batch = int(data["batch"]) if "batch" in data.files else 0
        partial = json.loads(str(data["partial"])) if "partial" in data.files else {}
        return int(data["epoch"]), batch, partial


class _RunningMean:
    """Batch-size weighted means of per-batch logs: what ``fit`` reports for an epoch."""

    def __init__(self, state: dict | None = None):
        state = state or {}
        self.sums = dict(state.get("sums", {}))
        self.count = int(state.get("count", 0))

    def add(self, logs: dict, n: int) -> None:
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * n
        self.count += n

    def means(self) -> dict:
        return {k: v / self.count for k, v in self.sums.items()} if self.count else {}

    def state(self) -> dict:
        return {"sums": self.sums, "count": self.count}


def _batch_size(x) -> int:
    return int(np.shape(x)[0])


class _Prefetch:
    """Make batch ``i + 1`` in a background thread while the model trains on batch ``i``.

    Every batch is a function of ``(seed, epoch, index)``, so prefetching changes no result;
    it hides the crops' cost (a few percent of a CPU step, more on a GPU).
    """

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = list(indices)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="glandseg-prefetch")

    def __iter__(self):
        if not self.indices:
            return
        future = self._pool.submit(self.dataset.__getitem__, self.indices[0])
        for j, _ in enumerate(self.indices):
            batch = future.result()
            if j + 1 < len(self.indices):
                future = self._pool.submit(self.dataset.__getitem__, self.indices[j + 1])
            yield self.indices[j], batch

    def close(self):
        self._pool.shutdown(wait=True)


def _write_json(path: Path, obj) -> None:
    tmp = _atomic_path(path)
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


def _write_history(path: Path, rows: list) -> None:
    keys = list(dict.fromkeys(k for row in rows for k in row))
    tmp = _atomic_path(path)
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _read_history(path: Path) -> list:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [{k: (float(v) if k != "epoch" else int(v)) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def trained_precision(config: ExperimentConfig, out_dir) -> str:
    """The dtype policy a run folder's network was trained in.

    ``train_state.json`` records it (``"auto"`` resolved on the machine that trained); records
    from before that field trained in ``config.train.precision``, which was then explicit.
    """
    state_path = Path(out_dir) / STATE
    if state_path.exists():
        resolved = json.loads(state_path.read_text()).get("precision")
        if resolved:
            return resolved["precision"]
    return hardware.resolve_precision(config.train.precision)["precision"]


def load_trained(config: ExperimentConfig, out_dir, *, precision=None, weights=None) -> keras.Model:
    """The selected (best-validation) model of a finished run, for prediction.

    ``precision`` is the dtype policy to predict in (default: the one the run trained in,
    :func:`trained_precision`). ``weights`` loads another weights file of the run instead, e.g.
    an epoch's snapshot (:func:`snapshot_path`).
    """
    path = Path(weights) if weights is not None else Path(out_dir) / BEST_WEIGHTS
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: train this configuration first (glandseg run).")
    keras.config.set_dtype_policy(precision or trained_precision(config, out_dir))
    model = model_lib.build_linknet(
        (None, None, config.preprocess.channels),
        deep_supervision=config.model.deep_supervision,
        coarse_scale=config.model.coarse_scale,
    )
    # Without an optimizer, Keras skips the optimizer state stored beside the weights.
    model.load_weights(path, skip_mismatch=False)
    return model


class TrainResult(dict):
    """Dict with ``model``, ``history`` (list of per-epoch dicts), ``epochs``, ``seconds``, ``best_val``,
    ``jit_compile`` (whether the training steps ran under XLA), ``precision`` (the dtype policy
    trained in), ``precision_reason`` and ``sessions`` (see :func:`_session`; runs begun before
    sessions were recorded list only the later ones)."""


def _session(epoch: int, batch: int) -> dict:
    """One training process of a run folder: where it started and the hardware it ran on."""
    cpu = hardware.cpu_info()
    return {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "epoch": int(epoch),  # epochs finished before it (0-based index of the epoch it starts in)
        "batch": int(batch),  # steps of that epoch already done
        "cpu": {k: cpu.get(k) for k in ("model", "family", "model_number", "flags", "native_bfloat16", "logical_cpus")},
        "accelerator": hardware.accelerator(keras.backend.backend()),
        "backend": keras.backend.backend(),
    }


def _training_samples(config: ExperimentConfig, cache_dir: Path, root=None, samples=None):
    if samples is None and config.data == "synthetic":
        samples = synthetic.make_dataset(12, shape=(config.preprocess.size[1], config.preprocess.size[0]), seed=config.seed)
    return preprocessing.prepare("train", config.preprocess, cache_dir, root=root, samples=samples)


def stale_state(out_dir) -> dict | None:
    """Where a run stood whose checkpoint is gone: ``{"epoch", "batch"}``, or None.

    A folder that has trained (its ``train_state.json`` is past epoch 0, batch 0, or its
    ``history.csv`` has rows) but holds no ``checkpoint.npz`` cannot resume: the weights its
    history and curve describe are gone (a clone of the repository, say, or a lost machine).
    :func:`train` refuses such a folder rather than start it over on its own.

    Parameters
    ----------
    out_dir : path
        A run folder.

    Returns
    -------
    state : dict or None
        ``{"epoch": int, "batch": int}`` of the last resume state (from ``train_state.json``,
        else the last epoch of ``history.csv``), or None where the folder can resume or has
        not trained.
    """
    out_dir = Path(out_dir)
    if (out_dir / CHECKPOINT).exists():
        return None
    state = json.loads((out_dir / STATE).read_text()) if (out_dir / STATE).exists() else {}
    epoch, batch = int(state.get("epoch", 0)), int(state.get("batch", 0))
    if (epoch, batch) == (0, 0):
        epoch = max((row["epoch"] for row in _read_history(out_dir / HISTORY)), default=0)
    return {"epoch": epoch, "batch": batch} if (epoch, batch) != (0, 0) else None


def _refuse_stale(out_dir: Path) -> None:
    """Raise FileNotFoundError, with the ways on, where ``out_dir`` lost its checkpoint."""
    stale = stale_state(out_dir)
    if stale is not None:
        raise FileNotFoundError(
            f"{out_dir} trained to epoch {stale['epoch']} (+{stale['batch']} batches) but its {CHECKPOINT} is missing, "
            f"so it cannot resume. Put {CHECKPOINT} (and {BEST_WEIGHTS}) back from a copy to go on, or pass --restart "
            f"(restart=True) to keep the folder as {out_dir.name}-attemptN and train again from epoch 1."
        )


def train(
    config: ExperimentConfig, out_dir, *, root=None, samples=None, cache_dir=None, epochs=None, verbose="auto",
    distribution=None, loader_threads=1, jit_compile="auto", checkpoint_minutes=5.0, snapshot_epochs=(),
    epoch_hook=None,
):
    """Train (or resume training) one configuration into ``out_dir``.

    Parameters
    ----------
    config : ExperimentConfig
    out_dir : path
        Run folder: ``checkpoint.npz``, ``best.weights.h5``, ``history.csv``, ``train_state.json``.
    root : path, optional
        GlaS folder (see ``glandseg.data.data_root``).
    samples : list of Sample, optional
        Training images to use instead of the ``train`` split (e.g. synthetic ones).
    cache_dir : path, optional
        Prepared-array cache; default ``out_dir/../.cache``.
    epochs : int, optional
        Overrides ``config.train.epochs``.
    verbose : "auto", 0, 1 or 2
        Keras progress output.
    distribution : keras.distribution.Distribution, optional
        E.g. :func:`data_parallel` to split each batch over several devices (JAX only).
    loader_threads : int, optional
        Threads that make each batch's crops (:class:`CropDataset`); the results do not depend
        on it. Raise it on a GPU, where making the crops is a visible share of each step (on a
        CPU the model takes nearly all of it).
    jit_compile : "auto", True or False, optional
        XLA for the training steps (see :func:`build_and_compile`); the returned model predicts
        with Keras's own choice ("auto"). The value used is ``TrainResult["jit_compile"]``.

    Returns
    -------
    TrainResult

    Raises
    ------
    FileNotFoundError
        ``out_dir`` has trained but lost its checkpoint (:func:`stale_state`): restore
        ``checkpoint.npz`` to resume, or move the folder aside to start again
        (``glandseg grid --restart`` keeps it as an earlier attempt).
    """
    out_dir = Path(out_dir)
    _refuse_stale(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir.parent / ".cache"
    total_epochs = int(epochs if epochs is not None else config.train.epochs)
    if total_epochs < 1:
        raise ValueError(f"epochs must be a positive integer. Received: epochs={epochs!r}")
    _check_distribution(distribution, config.train.batch_size)
    if not (isinstance(checkpoint_minutes, (int, float)) and not isinstance(checkpoint_minutes, bool)
            and checkpoint_minutes >= 0):
        raise ValueError(f"checkpoint_minutes must be a non-negative number. Received: {checkpoint_minutes!r}")
    args = (config, out_dir, root, samples, cache_dir, total_epochs, verbose, loader_threads, jit_compile,
            checkpoint_minutes, tuple(snapshot_epochs), epoch_hook)
    if distribution is not None:
        with distribution.scope():
            return _train(*args)
    return _train(*args)


def _evaluate(model, dataset) -> dict:
    """Validation losses over a whole dataset (batch-size weighted, as ``fit`` reports them)."""
    mean = _RunningMean()
    for i in range(len(dataset)):
        x, y = dataset[i]
        mean.add(model.test_on_batch(x, y, return_dict=True), _batch_size(x))
    return {f"val_{k}": v for k, v in mean.means().items()}


def _save_weights(model, path: Path) -> None:
    """The network's weights in a ``.weights.h5`` file, written atomically, without the optimizer.

    ``model.save_weights`` stores Adam's two moments beside the weights: three times the file
    (138 MB instead of 46 MB at the paper's size) for state that only a resume needs, and that
    ``checkpoint.npz`` already holds. Keras has no public switch for it; its saving library
    does, and where that ever moves, the whole state is saved as before.
    """
    tmp = _atomic_path(path)
    try:
        from keras.src.saving.saving_lib import save_weights_only
    except ImportError:  # pragma: no cover - a Keras without it
        model.save_weights(tmp)
    else:
        save_weights_only(model, tmp, objects_to_skip=[model.optimizer] if model.optimizer is not None else None)
    os.replace(tmp, path)


def _load_weights(model, path: Path) -> None:
    """Load :func:`_save_weights`'s file (or an older one with the optimizer) into a compiled model."""
    try:
        from keras.src.saving.saving_lib import load_weights_only
    except ImportError:  # pragma: no cover - a Keras without it
        model.load_weights(path)
    else:  # the optimizer keeps its own state, with no warning that the file has none
        load_weights_only(model, path, objects_to_skip=[model.optimizer] if model.optimizer is not None else None)


def _save_best(model, out_dir: Path) -> None:
    _save_weights(model, out_dir / BEST_WEIGHTS)


def snapshot_path(out_dir, epoch: int) -> Path:
    """Weights saved after ``epoch`` for a learning curve (``snapshots/epoch-005.weights.h5``)."""
    return Path(out_dir) / "snapshots" / f"epoch-{int(epoch):03d}.weights.h5"


def _train(config, out_dir, root, samples, cache_dir, total_epochs, verbose, loader_threads=1, jit_compile="auto",
           checkpoint_minutes=5.0, snapshot_epochs=(), epoch_hook=None):
    keras.utils.set_random_seed(config.seed)
    data = _training_samples(config, cache_dir, root=root, samples=samples)
    train_idx, val_idx = split_train_val(len(data["names"]), config.train.val_images, config.seed)
    x, mask = data["x"], data["mask"]
    coarse = config.model.coarse_scale if config.model.deep_supervision else None
    train_aug = augment.make_augmenter(x[train_idx], mask[train_idx], config.augment, seed=config.seed)
    train_ds = CropDataset(
        train_aug, config.train.batch_size, coarse_scale=coarse, shuffle=True, seed=config.seed, threads=loader_threads
    )
    val_ds = None
    if len(val_idx):
        val_aug = augment.make_augmenter(
            x[val_idx], mask[val_idx], config.augment.replace(mode="paper"), seed=config.seed, variants=1
        )
        val_ds = CropDataset(val_aug, config.train.batch_size, coarse_scale=coarse, shuffle=False, threads=loader_threads)

    # train() has refused a folder that trained without keeping its checkpoint, so a folder
    # without one has not trained: its state, if any, is from before the first checkpoint.
    resuming = (out_dir / CHECKPOINT).exists()
    state = json.loads((out_dir / STATE).read_text()) if resuming and (out_dir / STATE).exists() else {}
    # A resumed run keeps the precision it started with, whatever this machine would pick.
    precision = state.get("precision") or hardware.resolve_precision(config.train.precision)
    model = build_and_compile(config, total_steps=total_epochs * len(train_ds), precision=precision["precision"])
    auto_jit = model.jit_compile  # Keras's choice, kept for prediction
    if jit_compile != "auto":
        model.jit_compile = jit_compile
    used_jit = bool(model.jit_compile)
    start_epoch, start_batch, partial = 0, 0, {}
    history = []
    best = math.inf
    if resuming:
        start_epoch, start_batch, partial = _load_checkpoint(model, out_dir / CHECKPOINT)
        history = [row for row in _read_history(out_dir / HISTORY) if row["epoch"] <= start_epoch]
        best = state.get("best", math.inf)
    sessions = list(state.get("sessions", []))
    if start_epoch < total_epochs:
        sessions.append(_session(start_epoch, start_batch))
    monitor = "val_loss" if val_ds is not None else "loss"
    snapshot_epochs = {int(e) for e in snapshot_epochs}
    every = float(checkpoint_minutes) * 60.0
    malloc = MallocThresholds()
    verbose = 1 if verbose == "auto" else int(verbose)

    def write_state(epoch, batch):
        _write_json(out_dir / STATE, {"epoch": epoch, "batch": batch, "best": best, "monitor": monitor,
                                      "precision": precision, "sessions": sessions})

    t0 = time.perf_counter()
    for epoch in range(start_epoch, total_epochs):
        first = start_batch if epoch == start_epoch else 0
        carried = partial if epoch == start_epoch and first else {}
        train_ds.set_epoch(epoch)
        running = _RunningMean(carried.get("mean"))
        epoch_seconds = float(carried.get("seconds", 0.0))
        if verbose:
            print(f"Epoch {epoch + 1}/{total_epochs}" + (f" (resumed at step {first + 1})" if first else ""), flush=True)
        # The values shown are already running means: stateful, so the bar does not average them again.
        bar = keras.utils.Progbar(len(train_ds), verbose=verbose, unit_name="step")
        malloc.apply()
        t_epoch = time.perf_counter()
        t_saved = t_epoch
        loader = _Prefetch(train_ds, range(first, len(train_ds)))
        try:
            for b, (xb, yb) in loader:
                logs = model.train_on_batch(xb, yb, return_dict=True)
                running.add(logs, _batch_size(xb))
                if verbose:
                    means = running.means()
                    bar.stateful_metrics.update(means)
                    bar.update(b + 1, values=list(means.items()), finalize=False)
                now = time.perf_counter()
                if every and now - t_saved >= every and b + 1 < len(train_ds):
                    seconds = epoch_seconds + now - t_epoch
                    _save_checkpoint(model, out_dir / CHECKPOINT, epoch, batch=b + 1,
                                     partial={"mean": running.state(), "seconds": seconds})
                    write_state(epoch, b + 1)
                    t_saved = time.perf_counter()
        finally:
            loader.close()
        logs = running.means()
        if val_ds is not None:
            logs.update(_evaluate(model, val_ds))
        epoch_seconds += time.perf_counter() - t_epoch
        if verbose:
            bar.stateful_metrics.update(logs)
            bar.update(len(train_ds), values=list(logs.items()), finalize=True)
        row = {"epoch": epoch + 1, "seconds": round(epoch_seconds, 3), **logs}
        value = logs.get(monitor, logs.get("loss"))
        if value is not None and value < best:
            best = value
            if config.train.keep == "best":
                _save_best(model, out_dir)
        if config.train.keep == "last":
            _save_best(model, out_dir)
        if epoch + 1 in snapshot_epochs:
            path = snapshot_path(out_dir, epoch + 1)
            path.parent.mkdir(exist_ok=True)
            _save_weights(model, path)
        history.append(row)
        _write_history(out_dir / HISTORY, history)
        _save_checkpoint(model, out_dir / CHECKPOINT, epoch + 1)
        write_state(epoch + 1, 0)
        if epoch_hook is not None:
            epoch_hook(epoch + 1, model)
    model.jit_compile = auto_jit
    seconds = sum(row.get("seconds", 0.0) for row in history)
    if (out_dir / BEST_WEIGHTS).exists():
        _load_weights(model, out_dir / BEST_WEIGHTS)
    return TrainResult(
        model=model,
        history=history,
        epochs=len(history),
        steps=len(history) * len(train_ds),
        images_seen=len(history) * len(train_aug),
        seconds=seconds,
        wall_seconds=time.perf_counter() - t0,
        best_val=best,
        train_names=[data["names"][i] for i in train_idx],
        val_names=[data["names"][i] for i in val_idx],
        jit_compile=used_jit,
        precision=precision["precision"],
        precision_reason=precision["reason"],
        sessions=sessions,
    )
