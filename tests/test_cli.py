"""The `glandseg run` and `glandseg grid` commands (smoke preset; papermill; kill and resume)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from glandseg import cli, runner


def test_grid_runs_the_notebook_with_injected_parameters(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = cli.main(["grid", "--preset", "smoke", "--configs", "h-L1", "--seeds", "3", "--results", str(tmp_path / "res"),
                     "--loader-threads", "2", "--jit-compile", "on"])
    assert code == 0
    run_dir = tmp_path / "res" / "smoke" / "h-L1-s3"
    record = json.loads((run_dir / "record.json").read_text())
    assert record["seed"] == 3 and record["config"]["loss"] == "L1"
    nb = nbformat.read(run_dir / "experiment.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    src = injected[0].source
    assert 'preset = "smoke"' in src and "seed = 3" in src and 'loss = "L1"' in src
    assert "loader_threads = 2" in src and "jit_compile = True" in src
    assert record["training"]["jit_compile"] is True
    assert all(
        not any(o.get("output_type") == "error" for o in c.get("outputs", [])) for c in nb.cells if c.cell_type == "code"
    )

    # A second grid over the same point skips it.
    lines = []
    summary = runner.run_grid("smoke", ["h-L1"], [3], results_dir=tmp_path / "res", log=lines.append)
    assert summary[0]["status"] == "skipped"
    assert any("skipped" in line for line in lines)


def test_grid_rejects_bad_parameters_at_once(tmp_path, capsys):
    assert cli.main(["grid", "--preset", "fast", "--results", str(tmp_path)]) == 2
    assert "Unknown preset" in capsys.readouterr().err
    assert cli.main(["grid", "--preset", "smoke", "--configs", "h-L7", "--results", str(tmp_path)]) == 2
    assert "Received: 'h-L7'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["grid", "--preset", "smoke", "--loader-threads", "0", "--results", str(tmp_path)])
    assert "--loader-threads: must be a positive integer, got '0'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    # A run that lost its checkpoint is named, with the way on, and nothing is touched.
    stale = tmp_path / "smoke" / "h-L3-s0"
    stale.mkdir(parents=True)
    (stale / "history.csv").write_text("epoch,loss\n1,0.5\n")
    assert cli.main(["grid", "--preset", "smoke", "--configs", "h-L3", "--results", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{stale} trained to epoch 1" in err and "--restart" in err
    assert sorted(p.name for p in stale.iterdir()) == ["history.csv"]


def test_grid_continues_past_a_failed_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A corrupt training summary in the first run's folder makes that notebook fail inside the
    # papermill kernel; the grid must report it and still run the second point.
    bad = tmp_path / "res" / "smoke" / "h-L2-s0"
    bad.mkdir(parents=True)
    (bad / "training.json").write_text("{not json")
    lines = []
    summary = runner.run_grid("smoke", ["h-L2", "h-L3"], [0], results_dir=tmp_path / "res", log=lines.append)
    status = {e["run_id"]: e["status"] for e in summary}
    assert status == {"h-L2-s0": "failed", "h-L3-s0": "done"}
    assert "JSONDecodeError" in summary[0]["error"] or "Error" in summary[0]["error"]
    assert any("1 failed" in line for line in lines)
    assert (tmp_path / "res" / "smoke" / "h-L3-s0" / "record.json").exists()


def test_run_resumes_after_a_kill(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "glandseg.cli", "run", "--preset", "smoke", "--epochs", "3", "--out", str(out)]
    env = {**os.environ, "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "tensorflow")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    try:
        while not (out / "checkpoint.npz").exists():
            assert proc.poll() is None, "the run ended before its first checkpoint"
            assert time.time() < deadline, "no checkpoint after 300 s"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state = json.loads((out / "train_state.json").read_text())
    assert 1 <= state["epoch"] < 3
    assert not (out / "record.json").exists()

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    with open(out / "history.csv", newline="") as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    assert epochs == [1, 2, 3]
    record = json.loads((out / "record.json").read_text())
    assert record["training"]["epochs"] == 3
    assert "testA: F1" in done.stdout


def test_set_without_a_tag_is_refused_before_any_work(tmp_path, capsys):
    from glandseg import cli

    args = ["--preset", "smoke", "--results", str(tmp_path), "--set", "train.batch_size=4"]
    assert cli.main(["run", "--config", "h-L3", *args]) == 2
    assert "--tag NAME" in capsys.readouterr().err
    assert cli.main(["grid", "--configs", "h-L3", *args[:-2], "--set", "train.batchsize=4", "--tag", "b4"]) == 2
    assert "TrainConfig has no field 'batchsize'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing was started
