"""One experiment end to end: train, predict Test A and Test B, post-process, evaluate, record.

Each stage leaves a file behind and is skipped when that file exists, so rerunning
``run_experiment`` on the same folder after a kill finishes the work instead of redoing it:

=============  ==========================================  ==================================
stage          output                                      skipped when
=============  ==========================================  ==================================
config         ``config.json``                             (checked: must equal the config)
train          ``checkpoint.npz``, ``best.weights.h5``,    ``training.json`` exists (training
               ``history.csv``, ``training.json``          itself resumes per epoch)
predict        ``pred/<split>_<i>_labels.png`` (16-bit)    every prediction of a split exists
evaluate       ``record.json``                             ``record.json`` exists
=============  ==========================================  ==================================
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from glandseg import data, results
from glandseg.config import ExperimentConfig

__all__ = [
    "TEST_SPLITS", "STOPPED", "archive_attempt", "run_id", "run_experiment", "score_network", "load_samples", "probabilities",
]

TEST_SPLITS = ("testA", "testB")

#: Synthetic stand-ins for the GlaS splits (smoke preset, tests): number of images per split.
SYNTHETIC_SIZES = {"train": 12, "testA": 4, "testB": 3}


#: Folder-name tags of explicitly chosen precisions; ``"auto"`` (the presets' default) has none.
PRECISION_TAGS = {"float32": "f32", "mixed_bfloat16": "bf16", "mixed_float16": "f16"}


def run_id(config: ExperimentConfig, tag: str | None = None) -> str:
    """A short, stable folder name for a configuration and seed, e.g. ``"h-usm-L3-s0"``.

    An explicit precision (not the presets' ``"auto"``) is part of the name, so runs that
    differ only in it (a float32 / bfloat16 comparison) get folders of their own:
    ``"h-L3-bf16-s0"``. ``tag`` names a protocol changed from its preset
    (:meth:`ExperimentConfig.with_overrides`): ``"h-L3-s0-batch4"``.
    """
    if tag is not None and (not tag or not all(c.isalnum() or c in "-_." for c in tag)):
        raise ValueError(f"tag must be a non-empty name of letters, digits, '-', '_' or '.'. Received: tag={tag!r}")
    p, m, t = config.preprocess, config.model, config.train
    parts = ["h" if p.input == "hematoxylin" else "rgb"]
    if p.unsharp:
        parts.append("usm")
    parts.append(t.loss)
    if not m.deep_supervision:
        parts.append("nods")
    if t.precision != "auto":
        parts.append(PRECISION_TAGS[t.precision])
    parts.append(f"s{config.seed}")
    if tag:
        parts.append(tag)
    return "-".join(parts)


def load_samples(config: ExperimentConfig, split: str, root=None) -> list:
    """The images and labels of ``split`` for ``config.data`` (GlaS or synthetic)."""
    if config.data == "synthetic":
        from glandseg import synthetic

        width, height = config.preprocess.size
        offset = {"train": 0, "testA": 1000, "testB": 2000}[split]
        # A slightly different size from the network's, so the resize-back path is exercised.
        return synthetic.make_dataset(
            SYNTHETIC_SIZES[split], shape=(height + 6, width - 10), seed=config.seed + offset, prefix=f"synthetic-{split}"
        )
    return data.load_split(split, root)


def _check_config(config: ExperimentConfig, out_dir: Path) -> None:
    path = out_dir / "config.json"
    if path.exists():
        saved = json.loads(path.read_text())
        try:  # a folder from before a field existed holds that field's default
            saved = json.loads(ExperimentConfig.from_dict(saved).to_json())
        except (TypeError, ValueError):
            pass
        if saved != json.loads(config.to_json()):
            diff = _diff(saved, json.loads(config.to_json()))
            raise ValueError(
                f"{out_dir} holds a run of another configuration ({diff}). "
                "Use a new output folder, or delete this one to start over."
            )
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        results.write_json_atomic(path, config.to_dict())


def _diff(a: dict, b: dict, prefix="") -> str:
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            d = _diff(va, vb, f"{prefix}{key}.")
            if d:
                return d
        elif va != vb:
            return f"{prefix}{key}: saved {va!r}, requested {vb!r}"
    return ""


#: Predicted label maps are saved as ``pred/<name>_labels.png``: the suffix keeps them apart from
#: the GlaS files themselves (``testA_1.png`` is a dataset image, which must never be committed).
PRED_SUFFIX = "_labels"


def prediction_path(run_dir, name: str) -> Path:
    """Path of the predicted label map of test image ``name`` in a run folder.

    Examples
    --------
    >>> prediction_path("results/workshop/h-L3-s0", "testA_1").as_posix()
    'results/workshop/h-L3-s0/pred/testA_1_labels.png'
    """
    return Path(run_dir) / "pred" / f"{name}{PRED_SUFFIX}.png"


def _save_label_png(path: Path, labels: np.ndarray) -> None:
    from PIL import Image

    if labels.max(initial=0) > np.iinfo(np.uint16).max:
        raise ValueError(f"{path.name}: {labels.max()} objects do not fit a 16-bit PNG")
    tmp = path.with_name(f".{path.name}.tmp.png")
    Image.fromarray(labels.astype(np.uint16)).save(tmp)
    tmp.replace(path)


def _read_label_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im).astype(np.int32)


def probabilities(model, config: ExperimentConfig, split: str, samples, cache_dir, root=None, names=None) -> np.ndarray:
    """The network's gland probability maps of a split's images, as a run predicts them.

    Parameters
    ----------
    model : keras.Model
        A trained model (:func:`glandseg.train.load_trained`).
    config : ExperimentConfig
        The run's configuration (pre-processing and batch size).
    split : str
        ``"train"``, ``"testA"`` or ``"testB"``.
    samples : list of glandseg.data.Sample
        The split's images (:func:`load_samples`); used as the images themselves only for
        synthetic data, GlaS inputs come from the pre-processing cache.
    cache_dir, root : path
        Pre-processing cache and GlaS folder (:func:`glandseg.preprocessing.prepare`).
    names : sequence of str, optional
        Predict only these images of the split, in this order (default: all, in split order).

    Returns
    -------
    probs : (N, height, width, 1) ndarray of float
        At the network's input size, from the network with its batch normalisation folded,
        computed in float32 (:func:`glandseg.predict.fold_batch_norm`).
    """
    from glandseg import predict, preprocessing

    prepared = preprocessing.prepare(split, config.preprocess, cache_dir, root=root, samples=samples if config.data == "synthetic" else None)
    x = prepared["x"]
    if names is not None:
        index = {n: i for i, n in enumerate(prepared["names"])}
        missing = [n for n in names if n not in index]
        if missing:
            raise ValueError(f"images not in split {split!r}: {', '.join(missing)}")
        x = x[[index[n] for n in names]]
    # Batch normalisation folded into the convolutions, in float32 whatever the training precision:
    # the same function, about 1.5x faster, and the same figures in every place that predicts.
    # Callers that predict several splits fold once and pass the folded network.
    if not predict.is_folded(model):
        model = predict.fold_batch_norm(model, dtype_policy="float32")
    return predict.predict_proba(model, x, batch_size=config.train.batch_size // 2 or 1)


def _predict_split(model, config, split, samples, out_dir, cache_dir, root):
    from glandseg import postprocess

    pred_dir = out_dir / "pred"
    pred_dir.mkdir(exist_ok=True)
    probs = probabilities(model, config, split, samples, cache_dir, root)
    for sample, prob in zip(samples, probs):
        seg = postprocess.to_instances(prob, sample.labels.shape, config.postprocess)
        _save_label_png(prediction_path(out_dir, sample.name), seg)


def _evaluate_split(samples, pred_dir: Path) -> dict:
    from glandseg import metrics

    segs = [_read_label_png(pred_dir / f"{s.name}{PRED_SUFFIX}.png") for s in samples]
    gts = [s.labels for s in samples]
    names = [s.name for s in samples]
    grades = [s.grade for s in samples] if all(s.grade for s in samples) else None
    pooled = metrics.evaluate(segs, gts, aggregate="pooled", names=names, grades=grades)
    keys = metrics.METRIC_KEYS
    rows = pooled["per_image"]
    # The per-image mean follows from the per-image table (as evaluate(aggregate="image")
    # computes it: mean of each image's figures, counts summed) without a second evaluation.
    image_mean = {k: float(np.mean([r[k] for r in rows])) for k in keys[:5]}
    image_mean.update({k: pooled[k] for k in ("tp", "fp", "fn")})
    out = {
        "pooled": {k: pooled[k] for k in keys},
        "image_mean": image_mean,
        "per_image": rows,
    }
    if grades is not None:
        out["per_grade"] = pooled.get("per_grade", {})
    return out


def _device_count(devices) -> int | None:
    """``devices`` as given to :func:`run_experiment`: None, a positive int or "all"."""
    if devices is None or devices == "all":
        return None
    try:
        n = int(devices)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or str(n) != str(devices).strip():
        raise ValueError(f"devices must be a positive integer or 'all'. Received: devices={devices!r}")
    return n


def _distribution(devices):
    """None for one device, else a data-parallel distribution (checked before any training)."""
    from glandseg import train as train_lib

    if devices is None:
        return None
    n = _device_count(devices)
    if n == 1:
        return None
    return train_lib.data_parallel(n)


#: A learning curve's epochs: roughly log-spaced (a Fibonacci-like run), cut at the run's length.
CURVE_EPOCHS = (1, 2, 3, 5, 8, 13, 20, 32, 50, 75, 100)
CURVE = "curve.json"

#: A run folder's note that its run stopped for good (a lost checkpoint, say) and will never
#: finish: ``{"reason", "epoch", "batch", "restarted_as"}`` (the last optional). Written by
#: :func:`archive_attempt`, or by hand for a run stopped some other way.
STOPPED = "stopped.json"


def archive_attempt(out_dir, reason: str) -> Path:
    """Keep a run that cannot go on as an earlier attempt, so that its folder can start again.

    Renames ``out_dir`` to ``<out_dir>-attempt<N>`` (the first free N from 1) and writes
    :data:`STOPPED` there: ``reason``, where the run stood (``epoch``, ``batch``, from
    ``train_state.json`` or ``history.csv``) and ``restarted_as`` (the folder's name). Its
    history and curve stay readable: the book draws them as a stopped run.

    Parameters
    ----------
    out_dir : path
        The run folder.
    reason : str
        Why it stopped, for the reader of the book.

    Returns
    -------
    path : Path
        The attempt's new folder.
    """
    from glandseg import train as train_lib

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise FileNotFoundError(f"no run folder {out_dir}")
    if not str(reason).strip():
        raise ValueError("reason must say why the run stopped")
    state = train_lib.stale_state(out_dir)
    if state is None:  # resumable or untrained: where the resume state says it stood
        saved = out_dir / train_lib.STATE
        state = json.loads(saved.read_text()) if saved.exists() else {"epoch": 0, "batch": 0}
    n = 1
    while out_dir.with_name(f"{out_dir.name}-attempt{n}").exists():
        n += 1
    attempt = out_dir.with_name(f"{out_dir.name}-attempt{n}")
    out_dir.rename(attempt)
    results.write_json_atomic(attempt / STOPPED, {"reason": str(reason), "epoch": int(state["epoch"]),
                                                  "batch": int(state["batch"]), "restarted_as": out_dir.name})
    return attempt


#: The reason :func:`run_experiment` and :func:`run_grid` give a run they restart.
RESTART_REASON = "its checkpoint was missing, and the run was started again with --restart"


def _lost_checkpoint(out_dir: Path) -> dict | None:
    """Where a run stood that still has to train but lost its checkpoint, else None."""
    from glandseg import train as train_lib

    if (out_dir / "record.json").exists() or (out_dir / "training.json").exists():
        return None  # past training: scoring needs only best.weights.h5
    return train_lib.stale_state(out_dir)


def _check_resumable(out_dir: Path, restart: bool) -> None:
    """Fail at once on a folder that trained but lost its checkpoint, unless it is to restart."""
    from glandseg import train as train_lib

    if not restart and _lost_checkpoint(out_dir) is not None:
        train_lib._refuse_stale(out_dir)


def curve_epochs(total_epochs: int, curve=True) -> tuple:
    """The epochs at which a run's learning curve tests the network.

    Parameters
    ----------
    total_epochs : int
    curve : bool or iterable of int
        True: :data:`CURVE_EPOCHS` up to ``total_epochs``, plus the last epoch; False: none;
        or the epochs themselves.

    Examples
    --------
    >>> curve_epochs(32)
    (1, 2, 3, 5, 8, 13, 20, 32)
    >>> curve_epochs(4)
    (1, 2, 3, 4)
    >>> curve_epochs(10, False)
    ()
    """
    if curve is False or curve is None:
        return ()
    if curve is True:
        chosen = {e for e in CURVE_EPOCHS if e <= total_epochs} | {int(total_epochs)}
    else:
        chosen = {int(e) for e in curve}
        bad = sorted(e for e in chosen if not 1 <= e <= total_epochs)
        if bad:
            raise ValueError(f"curve epochs must lie in 1..{total_epochs}. Received: {bad}")
    return tuple(sorted(chosen))


def _curve_point(model, config, samples, cache_dir, root) -> dict:
    """Pooled Test A / Test B figures of ``model`` as a run would score it (post-processed)."""
    from glandseg import metrics, postprocess, predict

    model = predict.fold_batch_norm(model, dtype_policy="float32")
    point = {}
    for split in TEST_SPLITS:
        probs = probabilities(model, config, split, samples[split], cache_dir, root)
        segs = [postprocess.to_instances(p, s.labels.shape, config.postprocess) for s, p in zip(samples[split], probs)]
        pooled = metrics.evaluate(segs, [s.labels for s in samples[split]], aggregate="pooled")
        point[split] = {k: pooled[k] for k in ("f1", "object_dice", "object_hausdorff", "tp", "fp", "fn")}
    return point


class _Curve:
    """``curve.json`` of a run: one point per curve epoch, written as each one is measured.

    Each point holds the epoch, the training seconds and validation loss up to it (from
    ``history.csv``), and the pooled Test A and Test B figures of the network after that epoch.
    These points only draw the curve: the record's own figures come from the network that
    validation selects. A point missing after a stop is measured from the epoch's weight
    snapshot (:func:`glandseg.train.snapshot_path`).
    """

    def __init__(self, out_dir: Path, config, samples, cache_dir, root, epochs):
        self.path = out_dir / CURVE
        self.out_dir, self.config, self.samples, self.cache_dir, self.root = out_dir, config, samples, cache_dir, root
        self.epochs = set(epochs)
        self.points = json.loads(self.path.read_text())["points"] if self.path.exists() else []

    def done(self) -> set:
        return {p["epoch"] for p in self.points}

    def __call__(self, epoch, model):
        if epoch not in self.epochs or epoch in self.done():
            return
        from glandseg import train as train_lib

        t0 = time.perf_counter()
        point = {"epoch": int(epoch), **_curve_point(model, self.config, self.samples, self.cache_dir, self.root)}
        history = [r for r in train_lib._read_history(self.out_dir / train_lib.HISTORY) if r["epoch"] <= epoch]
        point["train_seconds"] = round(sum(r.get("seconds", 0.0) for r in history), 1)
        last = [r for r in history if r["epoch"] == epoch]
        point["val_loss"] = last[0].get("val_loss") if last else None
        point["eval_seconds"] = round(time.perf_counter() - t0, 1)
        self.points = sorted([*self.points, point], key=lambda p: p["epoch"])
        results.write_json_atomic(self.path, {"epochs": sorted(self.epochs), "points": self.points})
        print(f"curve epoch {epoch}: " + "; ".join(
            f"{s} F1 {point[s]['f1']:.3f} Dice {point[s]['object_dice']:.3f} H {point[s]['object_hausdorff']:.1f}"
            for s in TEST_SPLITS), flush=True)

    def catch_up(self, upto: int) -> None:
        """Measure points of finished epochs that a stop left out, from their snapshots."""
        from glandseg import train as train_lib

        for epoch in sorted(e for e in self.epochs - self.done() if e <= upto):
            snap = train_lib.snapshot_path(self.out_dir, epoch)
            if not snap.exists():
                continue
            model = train_lib.load_trained(self.config, self.out_dir, weights=snap)
            self(epoch, model)


def run_experiment(
    config: ExperimentConfig, out_dir, *, root=None, epochs=None, cache_dir=None, verbose="auto", devices=None,
    loader_threads=1, jit_compile="auto", curve=False, checkpoint_minutes=5.0, tag=None, restart=False,
) -> dict:
    """Run (or finish) one experiment in ``out_dir`` and return its record.

    Parameters
    ----------
    config : ExperimentConfig
    out_dir : path
        The run folder, e.g. ``results/workshop/h-L3-s0``.
    root : path, optional
        GlaS folder (default: ``GLANDSEG_DATA`` or the user data dir).
    epochs : int, optional
        Overrides ``config.train.epochs`` (stored in the record's config).
    cache_dir : path, optional
        Prepared-array cache (default ``<out_dir>/../../.cache``, shared by runs).
    devices : int or "all", optional
        Train data-parallel over this many devices (JAX only, see
        :func:`glandseg.train.data_parallel`); prediction runs on one. The result does not
        depend on it, so it is recorded in the provenance, not the config.
    loader_threads : int, optional
        Threads making each training batch (see :class:`glandseg.train.CropDataset`); the
        result does not depend on it. Raise it on a GPU.
    jit_compile : "auto", True or False, optional
        XLA for the training steps (:func:`glandseg.train.build_and_compile`). Whether it is
        faster depends on the CPU (``make bench`` measures both: slower on the AMX Xeon, within
        the noise on the AMD EPYC), so "auto" leaves the choice to Keras. It changes rounding,
        not the method, and is recorded in the record's ``training.jit_compile``.
    curve : bool or iterable of int, optional
        Test the network on Test A and Test B after these epochs (True: :func:`curve_epochs`)
        and keep the points in ``curve.json`` (a learning curve; the record's figures still
        come from the network selected on validation).
    checkpoint_minutes : float, optional
        Checkpoint inside an epoch this often (:func:`glandseg.train.train`).
    tag : str, optional
        The name of a protocol changed from its preset (``--set ... --tag``), kept in the record:
        :func:`glandseg.results.load_records` leaves such runs out of the preset's tables.
    restart : bool, optional
        Where ``out_dir`` trained but lost its checkpoint (:func:`glandseg.train.stale_state`),
        keep it as an earlier attempt (:func:`archive_attempt`) and train again from epoch 1.
        Without it such a folder is an error: its weights may still be somewhere to put back.

    Returns
    -------
    record : dict
        The content of ``record.json``.

    Raises
    ------
    ValueError, FileNotFoundError
        Before any training: missing or invalid data, a folder holding another config, or one
        that lost its checkpoint (without ``restart``).
    """
    from glandseg import train as train_lib

    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config must be an ExperimentConfig. Received: {type(config).__name__}")
    if epochs is not None:
        config = config.replace(train=config.train.replace(epochs=int(epochs)))
    out_dir = Path(out_dir)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir.parent.parent / ".cache"
    _check_config(config, out_dir)
    record_path = out_dir / "record.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    _check_resumable(out_dir, restart)
    distribution = _distribution(devices)
    train_lib._check_distribution(distribution, config.train.batch_size)  # before the data loads

    # Load (and validate) every split before training, so bad data fails in seconds.
    samples = {split: load_samples(config, split, root) for split in ("train", *TEST_SPLITS)}
    started = results._utc_now()
    # Fix the code state now, before the long work: the record's provenance credits this one,
    # not a commit made meanwhile (a resumed run records the resuming process's state).
    results.code_state()
    if restart and _lost_checkpoint(out_dir) is not None:
        archive_attempt(out_dir, RESTART_REASON)
        _check_config(config, out_dir)  # the new folder's config.json

    model = None
    training_path = out_dir / "training.json"
    points = curve_epochs(config.train.epochs, curve)
    tracker = _Curve(out_dir, config, samples, cache_dir, root, points) if points else None
    if tracker is not None and (out_dir / train_lib.CHECKPOINT).exists():
        state = json.loads((out_dir / train_lib.STATE).read_text()) if (out_dir / train_lib.STATE).exists() else {}
        tracker.catch_up(int(state.get("epoch", 0)))
    if not training_path.exists():
        result = train_lib.train(
            config,
            out_dir,
            root=root,
            samples=samples["train"] if config.data == "synthetic" else None,
            cache_dir=cache_dir,
            verbose=verbose,
            distribution=distribution,
            loader_threads=loader_threads,
            jit_compile=jit_compile,
            checkpoint_minutes=checkpoint_minutes,
            snapshot_epochs=points,
            epoch_hook=tracker,
        )
        model = result["model"]
        summary = {k: result[k] for k in ("epochs", "steps", "images_seen", "seconds", "best_val", "train_names", "val_names",
                                          "jit_compile", "precision", "precision_reason", "sessions")}
        summary["started_utc"] = started
        summary["devices"] = train_lib.device_count(distribution)
        results.write_json_atomic(training_path, summary)
    training = json.loads(training_path.read_text())

    return score_network(model, config, out_dir, root=root, cache_dir=cache_dir, training=training, samples=samples,
                         started_utc=started, loader=lambda: train_lib.load_trained(config, out_dir), tag=tag)


def score_network(model, config: ExperimentConfig, out_dir, *, root=None, cache_dir=None, training=None, samples=None,
                  started_utc=None, loader=None, tag=None) -> dict:
    """Predict Test A and Test B with a trained network, score them and write ``record.json``.

    The second half of :func:`run_experiment`, also used on its own for a network that was
    trained elsewhere (a model file, :func:`glandseg.inference.load_model_file`): label maps go
    to ``<out_dir>/pred`` (images already predicted are kept), the pooled and per-grade GlaS
    figures to the record.

    Parameters
    ----------
    model : keras.Model or None
        The network (folded here if it is not yet); None with ``loader`` to load it only when
        a prediction is missing.
    config : ExperimentConfig
        Pre-processing, post-processing and data of the run.
    out_dir : path
        Folder of the predictions and the record.
    root, cache_dir : path, optional
        GlaS folder and prepared-array cache (default ``<out_dir>/../../.cache``).
    training : dict, optional
        The record's ``training`` entry (what made the network; predict times are added).
    samples : dict of list, optional
        Test samples by split (default: loaded from ``config``).
    started_utc : str, optional
        Start time for the provenance (default: now).
    loader : callable, optional
        Returns the network when ``model`` is None.
    tag : str, optional
        Kept in the record (:func:`run_experiment`).

    Returns
    -------
    record : dict
        The content of ``record.json``.
    """
    from glandseg import predict

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir.parent.parent / ".cache"
    samples = samples if samples is not None else {split: load_samples(config, split, root) for split in TEST_SPLITS}
    started = started_utc or results._utc_now()
    training = dict(training or {})
    for split in TEST_SPLITS:
        names = [s.name for s in samples[split]]
        if all(prediction_path(out_dir, n).exists() for n in names):
            continue
        if model is None:
            if loader is None:
                raise ValueError("score_network needs a model, or a loader to make one")
            model = loader()
        if not predict.is_folded(model):
            model = predict.fold_batch_norm(model, dtype_policy="float32")
        t0 = time.perf_counter()
        _predict_split(model, config, split, samples[split], out_dir, cache_dir, root)
        training.setdefault("predict_seconds", {})[split] = round(time.perf_counter() - t0, 2)

    metrics = {split: _evaluate_split(samples[split], out_dir / "pred") for split in TEST_SPLITS}
    flat = config.to_dict()
    record = {
        "run_id": out_dir.name,
        "preset": config.preset,
        "seed": config.seed,
        "config": {
            "input": config.preprocess.input,
            "unsharp": config.preprocess.unsharp,
            "loss": config.train.loss,
            "deep_supervision": config.model.deep_supervision,
            **flat,
        },
        "metrics": metrics,
        "training": training,
        "provenance": results.provenance(started_utc=training.get("started_utc", started)),
    }
    if (out_dir / CURVE).exists():
        record["curve"] = CURVE
    if tag:
        record["tag"] = tag
    results.write_json_atomic(out_dir / "record.json", record)
    return record


# -- grids of runs through papermill ----------------------------------------------------------

#: The paper's six configurations (Tables 1-2), then the two ablations on the paper's best.
PAPER_GRID = ("h-L1", "h-L2", "h-L3", "h-usm-L1", "h-usm-L2", "h-usm-L3")
ABLATIONS = ("rgb-L3", "h-L3-nods")


def parse_config_name(name: str) -> dict:
    """Grid axes of a configuration name such as ``"h-usm-L3"`` or ``"rgb-L3-nods"``.

    Returns
    -------
    dict
        ``input``, ``unsharp``, ``loss`` and ``deep_supervision``, as taken by
        ``glandseg.config.preset_config``.

    Raises
    ------
    ValueError
        If the name is not ``{h|rgb}[-usm]-{L1|L2|L3}[-nods]``.
    """
    parts = name.split("-")
    ok = len(parts) >= 2 and parts[0] in ("h", "rgb")
    axes = {"input": "hematoxylin" if parts[0] == "h" else "rgb", "unsharp": False, "deep_supervision": True}
    rest = parts[1:]
    if ok and rest and rest[0] == "usm":
        axes["unsharp"] = True
        rest = rest[1:]
    if ok and rest and rest[0] in ("L1", "L2", "L3"):
        axes["loss"] = rest[0]
        rest = rest[1:]
    else:
        ok = False
    if ok and rest == ["nods"]:
        axes["deep_supervision"] = False
        rest = []
    if not ok or rest:
        raise ValueError(
            "configuration names are {h|rgb}[-usm]-{L1|L2|L3}[-nods], e.g. h-usm-L3 or rgb-L3-nods. "
            f"Received: {name!r}"
        )
    return axes


def notebook_path() -> Path:
    """The experiment notebook's jupytext source, ``notebooks/experiment.py`` of the checkout."""
    path = Path(__file__).resolve().parent.parent / "notebooks" / "experiment.py"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: `glandseg grid` runs the notebook of a source checkout "
            "(git clone the project and `pip install -e .`)."
        )
    return path


def run_grid(
    preset, configs=PAPER_GRID, seeds=(0,), *, results_dir="results", root=None, backend=None, epochs=None,
    devices=None, loader_threads=1, jit_compile="auto", precision=None, curve=False, overrides=None, tag=None,
    restart=False, log=print,
):
    """Run each configuration x seed through papermill, skipping finished runs.

    Each run executes ``notebooks/experiment.py`` (converted with jupytext) into
    ``<results_dir>/<preset>/<run_id>/experiment.ipynb`` with the grid point as papermill
    parameters. A failing run is reported and the grid goes on. ``devices``,
    ``loader_threads``, ``jit_compile`` and ``curve`` are passed to :func:`run_experiment`
    (data-parallel training, JAX only; threads making the training batches; XLA for the
    training steps; a learning curve). ``precision`` overrides the preset's
    ``train.precision`` (default ``"auto"``). ``overrides`` (``{"section.field": value}``,
    :meth:`ExperimentConfig.with_overrides`) change the preset's protocol; they need a ``tag``,
    which ends each run's folder name (:func:`run_id`) so that they never mix with the preset's
    own runs.

    A finished run (one with ``record.json``) is skipped as it is, even where the preset has
    changed since it was made (e.g. its precision was explicit then): its record states its
    own configuration. An unfinished one must match the configuration asked for, and must be
    able to resume: one that trained but lost its checkpoint stops the grid before it starts,
    unless ``restart``, which keeps it as an earlier attempt (:func:`archive_attempt`) and
    trains it again from epoch 1.

    Returns
    -------
    summary : list of dict
        One entry per run: ``run_id``, ``status`` ("done", "skipped" or "failed"), ``seconds``,
        ``error``.
    """
    import os
    import tempfile

    import jupytext
    import papermill

    from glandseg.config import preset_config

    # Everything that can be wrong is checked before the first run starts.
    overrides = dict(overrides or {})
    if overrides and not tag:
        raise ValueError("overrides change the preset's protocol: give them a tag (--tag NAME) to name their runs")
    grid = [(name, parse_config_name(name)) for name in configs]
    runs = []
    for name, axes in grid:
        for seed in seeds:
            config = preset_config(preset, seed=int(seed), epochs=epochs, precision=precision, **axes)
            config = config.with_overrides(overrides)
            runs.append((config, Path(results_dir) / preset / run_id(config, tag)))
    if any(c.data == "glas" for c, _ in runs):
        data.validate(root, checksums=False)
    if backend is not None:
        if backend not in ("tensorflow", "jax"):
            raise ValueError(f"backend must be 'tensorflow' or 'jax'. Received: backend={backend!r}")
        os.environ["KERAS_BACKEND"] = backend  # inherited by the papermill kernel
    if devices is not None and _device_count(devices) != 1 and os.environ.get("KERAS_BACKEND", "tensorflow") != "jax":
        raise ValueError(f"devices={devices!r} needs the JAX backend: pass --backend jax (or set KERAS_BACKEND=jax)")
    for config, out in runs:
        if (out / "config.json").exists() and not (out / "record.json").exists():
            _check_config(config, out)
        _check_resumable(out, restart)
    for config, out in runs:
        if restart and _lost_checkpoint(out) is not None:
            log(f"{out}: kept as {archive_attempt(out, RESTART_REASON).name}, training again from epoch 1")

    notebook = jupytext.read(notebook_path())
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "experiment.ipynb"
        jupytext.write(notebook, source)
        for i, (config, out) in enumerate(runs, 1):
            entry = {"run_id": out.name, "status": "skipped", "seconds": 0.0, "error": None}
            if (out / "record.json").exists():
                log(f"[{i}/{len(runs)}] {out}: finished before, skipped")
                summary.append(entry)
                continue
            log(f"[{i}/{len(runs)}] {out}: running")
            out.mkdir(parents=True, exist_ok=True)
            params = dict(
                preset=preset,
                input=config.preprocess.input,
                unsharp=config.preprocess.unsharp,
                loss=config.train.loss,
                deep_supervision=config.model.deep_supervision,
                seed=config.seed,
                epochs=epochs,
                data_root=None if root is None else str(root),
                out_dir=str(out),
            )
            if devices is not None:
                params["devices"] = devices
            if loader_threads != 1:
                params["loader_threads"] = loader_threads
            if jit_compile != "auto":
                params["jit_compile"] = jit_compile
            if precision is not None:
                params["precision"] = precision
            if curve:
                params["curve"] = True
            if tag:
                params["tag"] = tag
            if overrides:  # as the config holds them (typed), JSON-friendly for papermill
                values = {k: getattr(getattr(config, k.split(".")[0]), k.split(".")[1]) for k in overrides}
                params["overrides"] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
            t0 = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(source),
                    str(out / "experiment.ipynb"),
                    parameters=params,
                    kernel_name="python3",
                    language="python",
                    cwd=str(Path.cwd()),
                    progress_bar=False,
                    log_output=True,
                )
                entry["status"] = "done"
            except Exception as err:  # a failed run must not stop the grid
                entry["status"] = "failed"
                entry["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[-1] if str(err).strip() else ''}"
                log(f"[{i}/{len(runs)}] {out}: FAILED ({entry['error']}); see {out / 'experiment.ipynb'}")
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            summary.append(entry)
    done = sum(e["status"] == "done" for e in summary)
    skipped = sum(e["status"] == "skipped" for e in summary)
    failed = [e for e in summary if e["status"] == "failed"]
    log(f"grid {preset}: {done} run, {skipped} skipped, {len(failed)} failed")
    for e in failed:
        log(f"  failed: {e['run_id']}: {e['error']}")
    return summary
