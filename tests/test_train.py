"""Training: data pipeline, compile, checkpoints and resume (tiny synthetic runs, both backends)."""

import json
import platform

import numpy as np
import pytest

from glandseg import hardware, synthetic
import keras

from glandseg.config import AugmentConfig, ExperimentConfig, PreprocessConfig, TrainConfig
from glandseg.train import CHECKPOINT, HISTORY, CropDataset, split_train_val, stale_state, train


def tiny_config(**train_kw):
    return ExperimentConfig(
        preset="test",
        data="synthetic",
        seed=0,
        preprocess=PreprocessConfig(size=(128, 96)),
        augment=AugmentConfig(mode="random", crop_size=(64, 64), crops_per_variant=1),
        train=TrainConfig(**{"epochs": 2, "batch_size": 8, "val_images": 1, **train_kw}),
    )


@pytest.fixture(scope="module")
def samples():
    return synthetic.make_dataset(4, shape=(96, 128), seed=5)


def test_split_train_val_is_a_seeded_partition():
    train_idx, val_idx = split_train_val(85, 5, seed=3)
    assert len(val_idx) == 5 and len(train_idx) == 80
    assert sorted(np.concatenate([train_idx, val_idx]).tolist()) == list(range(85))
    again = split_train_val(85, 5, seed=3)
    np.testing.assert_array_equal(again[1], val_idx)
    assert not np.array_equal(split_train_val(85, 5, seed=4)[1], val_idx)
    with pytest.raises(ValueError, match="val_images"):
        split_train_val(3, 3, seed=0)


class _Pairs:
    """A fixed list of (image, mask) pairs: crop i is filled with the value i."""

    def __init__(self, n, shape=(32, 32)):
        self.items = [
            (np.full(shape + (1,), i, "float32"), (np.arange(shape[0] * shape[1]).reshape(shape) % 2).astype("uint8"))
            for i in range(n)
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_crop_dataset_batches_and_targets():
    ds = CropDataset(_Pairs(10), batch_size=4, coarse_scale=4, shuffle=True, seed=1)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (4, 32, 32, 1) and y["final"].shape == (4, 32, 32, 1)
    assert y["coarse"].shape == (4, 8, 8, 1)
    # Every sample appears exactly once per epoch.
    seen = np.concatenate([ds[i][0][:, 0, 0, 0] for i in range(len(ds))])
    assert sorted(seen.tolist()) == list(range(10))
    # The order depends on (seed, epoch) only, so a resumed run sees the same batches.
    ds.on_epoch_end()
    other = CropDataset(_Pairs(10), batch_size=4, coarse_scale=4, shuffle=True, seed=1)
    other.set_epoch(1)
    np.testing.assert_array_equal(ds[0][0], other[0][0])


def test_crop_dataset_threads_give_the_same_batches_as_one_thread():
    from glandseg.augment import make_augmenter
    from glandseg.config import AugmentConfig

    rng = np.random.default_rng(0)
    x = rng.random((3, 64, 96, 1), dtype=np.float32)
    mask = (rng.random((3, 64, 96)) > 0.5).astype("uint8")
    for mode in ("paper", "random"):
        aug = make_augmenter(x, mask, AugmentConfig(mode=mode, crop_size=(32, 32), crops_per_variant=2), seed=3)
        one = CropDataset(aug, 8, coarse_scale=4, seed=5)
        four = CropDataset(aug, 8, coarse_scale=4, seed=5, threads=4)
        for epoch in (0, 2):
            one.set_epoch(epoch)
            four.set_epoch(epoch)
            for i in range(len(one)):
                (xa, ya), (xb, yb) = one[i], four[i]
                np.testing.assert_array_equal(xa, xb)
                np.testing.assert_array_equal(ya["final"], yb["final"])
                np.testing.assert_array_equal(ya["coarse"], yb["coarse"])


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2"])
def test_crop_dataset_rejects_bad_thread_counts(threads):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        CropDataset(_Pairs(3), batch_size=2, threads=threads)


def test_crop_dataset_without_coarse_output():
    ds = CropDataset(_Pairs(3), batch_size=2, coarse_scale=None, shuffle=False)
    assert set(ds[0][1]) == {"final"}


def test_train_checkpoints_and_resumes(tmp_path, samples):
    config = tiny_config()
    straight = train(config, tmp_path / "straight", samples=samples, epochs=3, verbose=0)
    assert straight["epochs"] == 3

    partial = train(config, tmp_path / "resumed", samples=samples, epochs=2, verbose=0)
    assert partial["epochs"] == 2 and (tmp_path / "resumed" / CHECKPOINT).exists()
    state = json.loads((tmp_path / "resumed" / "train_state.json").read_text())
    assert state["epoch"] == 2
    resumed = train(config, tmp_path / "resumed", samples=samples, epochs=3, verbose=0)
    assert resumed["epochs"] == 3
    # Each process that trained the folder is listed, from where it started, with its CPU.
    assert [(s["epoch"], s["batch"]) for s in resumed["sessions"]] == [(0, 0), (2, 0)]
    assert resumed["sessions"][1]["cpu"]["model"] == hardware.cpu_info()["model"]
    state = json.loads((tmp_path / "resumed" / "train_state.json").read_text())
    assert state["sessions"] == resumed["sessions"]
    rows = (tmp_path / "resumed" / HISTORY).read_text().strip().splitlines()
    assert len(rows) == 1 + 3  # header + one row per epoch, no duplicates after resuming

    # Resuming reproduces the uninterrupted run: same batches, restored optimizer state.
    losses_straight = [r["loss"] for r in straight["history"]]
    losses_resumed = [r["loss"] for r in resumed["history"]]
    np.testing.assert_allclose(losses_resumed, losses_straight, rtol=1e-3)

    # A finished run trains nothing more.
    mtime = (tmp_path / "resumed" / CHECKPOINT).stat().st_mtime_ns
    again = train(config, tmp_path / "resumed", samples=samples, epochs=3, verbose=0)
    assert again["epochs"] == 3 and len(again["sessions"]) == 2  # a process that trains nothing is no session
    assert (tmp_path / "resumed" / CHECKPOINT).stat().st_mtime_ns == mtime


def test_a_folder_that_lost_its_checkpoint_is_refused_not_started_over(tmp_path, samples):
    # e.g. a clone of a partly trained run: the curve of weights that are gone must not be
    # overwritten by a new run that nobody asked for
    config = tiny_config()
    stale = tmp_path / "stale"
    train(config, stale, samples=samples, epochs=1, verbose=0)
    assert stale_state(stale) is None  # resumable
    history = (stale / HISTORY).read_text()
    (stale / CHECKPOINT).unlink()
    assert stale_state(stale) == {"epoch": 1, "batch": 0}
    with pytest.raises(FileNotFoundError, match=r"stale trained to epoch 1 \(\+0 batches\).*checkpoint.npz is missing"):
        train(config, stale, samples=samples, verbose=0)
    assert (stale / HISTORY).read_text() == history and not (stale / CHECKPOINT).exists()
    # Without train_state.json, history.csv still tells that it trained.
    (stale / "train_state.json").unlink()
    assert stale_state(stale) == {"epoch": 1, "batch": 0}
    # A folder that never trained is no stale run.
    (stale / HISTORY).unlink()
    assert stale_state(stale) is None and stale_state(tmp_path / "absent") is None


def test_train_without_deep_supervision(tmp_path, samples):
    config = tiny_config(epochs=1)
    config = config.replace(model=config.model.replace(deep_supervision=False))
    result = train(config, tmp_path / "run", samples=samples, verbose=0)
    assert set(result["model"].output_names if hasattr(result["model"], "output_names") else []) <= {"final"}
    assert np.isfinite(result["history"][-1]["loss"])


def test_bad_epochs_fail_before_training(tmp_path, samples):
    with pytest.raises(ValueError, match="epochs"):
        train(tiny_config(), tmp_path / "run", samples=samples, epochs=0)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow" or platform.libc_ver()[0] != "glibc",
    reason="TensorFlow's generator-dataset malloc tuning exists only on TensorFlow with glibc",
)
def test_malloc_thresholds_stop_the_page_faults_of_generator_datasets():
    # TensorFlow tunes malloc once per process, so measure in a fresh one
    import subprocess
    import sys

    script = """
import resource, numpy as np
from glandseg.config import preset_config
from glandseg.train import CropDataset, MallocThresholds, build_and_compile
config = preset_config("smoke")
rng = np.random.default_rng(0)
x = rng.random((4, 96, 128, 1)).astype("float32")
mask = (rng.random((4, 96, 128)) > 0.5).astype("uint8")
ds = CropDataset([(x[i % 4], mask[i % 4]) for i in range(48)], 8, coarse_scale=config.model.coarse_scale)
model = build_and_compile(config, input_shape=(96, 128, 1), total_steps=100)
def faults(callbacks):
    model.fit(ds, epochs=1, verbose=0, callbacks=callbacks)  # warm-up (tracing)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.fit(ds, epochs=1, verbose=0, callbacks=callbacks)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
guard = MallocThresholds()
print(guard.active, faults([]), faults([guard]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
        env={**__import__("os").environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    active, plain, guarded = out.stdout.split()[-3:]
    assert active == "True"
    # unguarded, every freed activation (MBs each) is unmapped and faulted in again
    assert int(guarded) * 5 < int(plain), (guarded, plain)


def test_jit_compile_is_used_for_training_and_keras_choice_kept_for_prediction(tmp_path, samples):
    from glandseg.train import build_and_compile

    auto = build_and_compile(tiny_config()).jit_compile  # Keras's choice on this backend
    plain = train(tiny_config(), tmp_path / "plain", samples=samples, epochs=1, verbose=0)
    xla = train(tiny_config(), tmp_path / "xla", samples=samples, epochs=1, verbose=0, jit_compile=True)
    assert plain["jit_compile"] is bool(auto) and xla["jit_compile"] is True
    assert xla["model"].jit_compile == auto
    # XLA changes the rounding, not the computation: the same epoch loss to about two digits.
    # An epoch of training amplifies rounding differences (seen: 2.4e-3 relative on an AMD EPYC
    # family 26 with AVX-512); a dropped or reweighted loss term moves the loss by several percent.
    np.testing.assert_allclose(xla["history"][0]["loss"], plain["history"][0]["loss"], rtol=1e-2)


@pytest.mark.parametrize("value", ["on", 1, None])
def test_build_and_compile_rejects_bad_jit_compile(value):
    from glandseg.train import build_and_compile

    with pytest.raises(ValueError, match="jit_compile must be 'auto', True or False"):
        build_and_compile(tiny_config(), jit_compile=value)


def test_train_records_the_precision_it_resolved(tmp_path, samples, monkeypatch):
    from glandseg import hardware

    fake = {"precision": "float32", "requested": "auto", "reason": "faked CPU without bfloat16"}
    monkeypatch.setattr(hardware, "resolve_precision", lambda precision, **kw: fake)
    result = train(tiny_config(epochs=1), tmp_path / "run", samples=samples, verbose=0)
    assert result["precision"] == "float32" and result["precision_reason"] == fake["reason"]
    state = json.loads((tmp_path / "run" / "train_state.json").read_text())
    assert state["precision"] == fake
    # A resumed run keeps the precision it started with, whatever the machine would pick now.
    monkeypatch.setattr(hardware, "resolve_precision", lambda precision, **kw: {**fake, "precision": "mixed_bfloat16"})
    again = train(tiny_config(epochs=2), tmp_path / "run", samples=samples, verbose=0)
    assert again["precision"] == "float32"


def test_a_stop_inside_an_epoch_resumes_where_it_stopped(tmp_path, samples, monkeypatch):
    # batch 2: several steps an epoch, so a checkpoint falls inside one
    config = tiny_config(batch_size=2, epochs=2)
    straight = train(config, tmp_path / "straight", samples=samples, verbose=0, checkpoint_minutes=0)
    steps = straight["steps"] // 2
    assert steps >= 3

    real = CropDataset.__getitem__
    calls = {"n": 0}

    def stop_in_epoch_2(self, index):
        if self.shuffle and self.epoch == 1 and index == 2:
            raise KeyboardInterrupt  # as a kill would, after two steps of the second epoch
        return real(self, index)

    monkeypatch.setattr(CropDataset, "__getitem__", stop_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        # a checkpoint after every step (the interval is a fraction of a millisecond)
        train(config, tmp_path / "stopped", samples=samples, verbose=0, checkpoint_minutes=1e-9)
    state = json.loads((tmp_path / "stopped" / "train_state.json").read_text())
    assert (state["epoch"], state["batch"]) in {(1, 1), (1, 2)}
    monkeypatch.setattr(CropDataset, "__getitem__", real)
    resumed = train(config, tmp_path / "stopped", samples=samples, verbose=0)
    assert [r["epoch"] for r in resumed["history"]] == [1, 2]
    assert [(s["epoch"], s["batch"]) for s in resumed["sessions"]] == [(0, 0), (state["epoch"], state["batch"])]
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose([r[key] for r in resumed["history"]], [r[key] for r in straight["history"]], rtol=1e-3)


def test_snapshots_and_epoch_hook(tmp_path, samples):
    from glandseg.train import snapshot_path

    seen = []
    result = train(tiny_config(epochs=3), tmp_path / "run", samples=samples, verbose=0, snapshot_epochs=(1, 3),
                   epoch_hook=lambda epoch, model: seen.append((epoch, model is not None)))
    assert seen == [(1, True), (2, True), (3, True)]
    assert snapshot_path(tmp_path / "run", 1).exists() and snapshot_path(tmp_path / "run", 3).exists()
    assert not snapshot_path(tmp_path / "run", 2).exists()
    assert result["epochs"] == 3


def test_kept_weights_hold_the_network_without_the_optimizer_state(tmp_path, samples):
    import warnings

    import h5py

    from glandseg.train import BEST_WEIGHTS, load_trained, snapshot_path

    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. Keras's "Skipping variable loading for optimizer"
        result = train(tiny_config(), run, samples=samples, verbose=0, snapshot_epochs=(1,))
    model = result["model"]
    for path in (run / BEST_WEIGHTS, snapshot_path(run, 1)):
        with h5py.File(path) as f:
            assert "optimizer" not in f
            stored = []
            f.visititems(lambda name, obj: stored.append(obj.size) if isinstance(obj, h5py.Dataset) else None)
        # exactly the network's variables (weights and batch-norm statistics), nothing beside them
        assert sum(stored) == sum(int(np.prod(v.shape)) for v in model.weights)
    # The returned model is the kept one, and the file alone rebuilds it.
    loaded = load_trained(tiny_config(), run)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The resume checkpoint still holds the optimizer: a resumed run continues Adam's moments.
    with np.load(run / CHECKPOINT) as ckpt:
        assert sum(ckpt[k].size for k in ckpt.files) > 2 * sum(stored)


def test_weights_kept_by_older_versions_with_the_optimizer_still_load(tmp_path, samples):
    # A run that began before the kept weights dropped the optimizer (the paper run's best epoch)
    # ends by loading such a file into its trained, compiled model: the network must come back
    # exactly, and Adam's state of the last epoch must stay as it is.
    import h5py

    from glandseg.train import _load_weights, load_trained

    run = tmp_path / "run"
    model = train(tiny_config(epochs=1), run, samples=samples, verbose=0)["model"]
    old = tmp_path / "old.weights.h5"
    model.save_weights(old)  # what glandseg wrote before: network and optimizer
    with h5py.File(old) as f:
        assert "optimizer" in f
    kept = [w.copy() for w in model.get_weights()]
    other = train(tiny_config(epochs=2, keep="last"), tmp_path / "other", samples=samples, verbose=0)["model"]
    adam = [np.array(v) for v in other.optimizer.variables]
    assert any(not np.array_equal(a, b) for a, b in zip(other.get_weights(), kept))
    _load_weights(other, old)
    for a, b in zip(other.get_weights(), kept):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(other.optimizer.variables, adam):
        np.testing.assert_array_equal(np.array(a), b)
    # Prediction reads it too (no optimizer there).
    (run / "best.weights.h5").unlink()
    old.rename(run / "best.weights.h5")
    for a, b in zip(load_trained(tiny_config(epochs=1), run).get_weights(), kept):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", [-1, "5", True])
def test_bad_checkpoint_minutes_fail_before_training(tmp_path, samples, value):
    with pytest.raises(ValueError, match="checkpoint_minutes"):
        train(tiny_config(), tmp_path / "run", samples=samples, checkpoint_minutes=value)


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_chooses_the_network_that_predicts(tmp_path, samples, keep):
    from glandseg.train import load_trained, snapshot_path

    run = tmp_path / "run"
    result = train(tiny_config(epochs=3, keep=keep, learning_rate=0.05), run, samples=samples, verbose=0,
                   snapshot_epochs=(1, 2, 3))
    val = [row["val_loss"] for row in result["history"]]
    expected = int(np.argmin(val)) + 1 if keep == "best" else 3
    kept = result["model"].get_weights()
    for epoch in (1, 2, 3):
        snapshot = load_trained(tiny_config(epochs=3, keep=keep), run, weights=snapshot_path(run, epoch))
        same = all(np.array_equal(a, b) for a, b in zip(kept, snapshot.get_weights()))
        assert same == (epoch == expected), (epoch, expected, val)
    # The book names the kept epoch from history.csv alone (glandseg.report.training.load_curves).
    import csv

    from glandseg.report.training import selected_epoch

    with open(run / "history.csv", newline="") as fh:
        assert selected_epoch([float(r["val_loss"]) for r in csv.DictReader(fh)], keep) == expected


def test_keep_rejects_other_values():
    with pytest.raises(ValueError, match="keep"):
        TrainConfig(keep="median")
