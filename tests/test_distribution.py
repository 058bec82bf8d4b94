"""Data-parallel training (keras.distribution.DataParallel on JAX) and its argument checks.

The equivalence test runs in a subprocess: two virtual CPU devices must be requested through
XLA_FLAGS before JAX is imported, and the TensorFlow pass of the suite has Keras loaded already.
"""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import keras

from glandseg import cli, runner
from glandseg import train as train_lib


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the error on a non-JAX backend")
def test_data_parallel_needs_the_jax_backend():
    with pytest.raises(ValueError, match="needs the JAX backend"):
        train_lib.data_parallel(2)


def test_batch_must_split_evenly_over_the_devices():
    three = types.SimpleNamespace(device_mesh=types.SimpleNamespace(shape=(3,)))
    with pytest.raises(ValueError, match="batch_size=8 does not split evenly over the 3 devices"):
        train_lib._check_distribution(three, 8)
    train_lib._check_distribution(types.SimpleNamespace(device_mesh=types.SimpleNamespace(shape=(4,))), 8)
    train_lib._check_distribution(None, 7)


@pytest.mark.parametrize("bad", ["0", "-1", "two", "2.5", 0, 1.5])
def test_devices_argument_is_checked(bad):
    with pytest.raises(ValueError, match="devices must be a positive integer or 'all'"):
        runner._device_count(bad)


def test_devices_argument_values():
    assert runner._device_count(None) is None and runner._device_count("all") is None
    assert runner._device_count("2") == 2 and runner._device_count(4) == 4
    # one device is plain training, on any backend
    assert runner._distribution(1) is None and runner._distribution("1") is None


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the error on a non-JAX backend")
def test_grid_with_devices_on_tensorflow_fails_before_running(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    code = cli.main(["grid", "--preset", "smoke", "--configs", "h-L3", "--devices", "2", "--results", str(tmp_path)])
    assert code == 2
    assert "devices='2' needs the JAX backend" in capsys.readouterr().err
    assert not any(tmp_path.rglob("*"))  # nothing was started


_SCRIPT = r"""
import json, sys
from pathlib import Path
import keras
from glandseg import runner, train as train_lib
from glandseg.config import preset_config

out = Path(sys.argv[1])
assert keras.distribution.list_devices() == ["cpu:0", "cpu:1"], keras.distribution.list_devices()
config = preset_config("smoke")
result = {}
for name, devices in (("one", None), ("two", 2)):
    run = out / name / "smoke" / "h-L3-s0"
    record = runner.run_experiment(config, run, verbose=0, devices=devices, cache_dir=out / "cache")
    result[name] = [[r["loss"], r["val_loss"]] for r in train_lib._read_history(run / "history.csv")]
    result[name + "_devices"] = record["training"]["devices"]
    result[name + "_f1"] = record["metrics"]["testA"]["pooled"]["f1"]
print("RESULT " + json.dumps(result))
"""


@pytest.mark.slow
def test_two_devices_follow_the_loss_curve_of_one(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    assert result["one_devices"] == 1 and result["two_devices"] == 2
    # Same global batch, same data order, batch norm over the whole batch: only the order of
    # floating-point reductions differs between one and two devices.
    np.testing.assert_allclose(result["two"], result["one"], rtol=1e-2)
    assert 0.0 <= result["two_f1"] <= 1.0  # predicted and scored after distributed training
