"""End-to-end runs of the smoke preset (synthetic data): record, predictions, skip, determinism."""

import json

import numpy as np
import pytest
from PIL import Image

from glandseg import results, runner
from glandseg.config import preset_config


def test_record_has_the_documented_fields(smoke_run):
    config, out, record = smoke_run
    assert set(record) >= {"run_id", "preset", "seed", "config", "metrics", "training", "provenance"}
    assert record["preset"] == "smoke" and record["seed"] == 0
    c = record["config"]
    assert (c["input"], c["unsharp"], c["loss"], c["deep_supervision"]) == ("hematoxylin", False, "L3", True)
    assert c["train"]["epochs"] == config.train.epochs
    for split in runner.TEST_SPLITS:
        pooled = record["metrics"][split]["pooled"]
        assert set(pooled) >= {"f1", "object_dice", "object_hausdorff", "tp", "fp", "fn", "precision", "recall"}
        assert 0 <= pooled["f1"] <= 1 and 0 <= pooled["object_dice"] <= 1
        assert len(record["metrics"][split]["per_image"]) == runner.SYNTHETIC_SIZES[split]
        assert set(record["metrics"][split]["per_grade"]) <= {"benign", "malignant"}
    assert record["training"]["epochs"] == config.train.epochs
    [session] = record["training"]["sessions"]  # one process trained it, from the start, on this CPU
    assert (session["epoch"], session["batch"]) == (0, 0) and session["cpu"]["model"] == results.cpu_model()
    assert {"git_commit", "versions", "backend", "device", "started_utc", "finished_utc"} <= set(record["provenance"])
    assert json.loads((out / "record.json").read_text())["run_id"] == record["run_id"]
    assert (out / "history.csv").exists()


def test_predictions_are_16_bit_label_maps_at_original_size(smoke_run):
    config, out, record = smoke_run
    samples = runner.load_samples(config, "testA")
    for s in samples:
        with Image.open(runner.prediction_path(out, s.name)) as im:
            assert im.mode in ("I;16", "I")
            pred = np.asarray(im)
        assert pred.shape == s.labels.shape


def test_each_split_is_predicted_and_scored_on_its_own_images(smoke_run):
    # Test A and Test B predictions once shared file names, and Test B was scored on Test A's
    config, out, record = smoke_run
    names = {split: [s.name for s in runner.load_samples(config, split)] for split in runner.TEST_SPLITS}
    assert not set(names["testA"]) & set(names["testB"])
    assert sorted(p.name for p in (out / "pred").iterdir()) == sorted(
        runner.prediction_path(out, n).name for split in runner.TEST_SPLITS for n in names[split]
    )
    for split in runner.TEST_SPLITS:
        assert [r["name"] for r in record["metrics"][split]["per_image"]] == names[split]


def test_rerun_skips_finished_stages(smoke_run):
    config, out, record = smoke_run
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = runner.run_experiment(config, out, verbose=0)
    assert again == json.loads((out / "record.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes


def test_deleted_predictions_are_redone_without_training(smoke_run, tmp_path):
    import shutil

    config, out, record = smoke_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "record.json").unlink()
    shutil.rmtree(copy / "pred")
    ckpt = (copy / "checkpoint.npz").stat().st_mtime_ns
    redone = runner.run_experiment(config, copy, verbose=0)
    assert (copy / "checkpoint.npz").stat().st_mtime_ns == ckpt
    for split in runner.TEST_SPLITS:
        assert redone["metrics"][split]["pooled"] == record["metrics"][split]["pooled"]


def test_record_credits_the_code_state_at_the_start(smoke_run, tmp_path, moving_code_state):
    # a commit made while a run is going must not be credited with its result
    import shutil

    config, out, _ = smoke_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / "record.json").unlink()
    moving_code_state(runner, "probabilities")
    prov = runner.run_experiment(config, copy, verbose=0)["provenance"]
    assert (prov["git_commit"], prov["dirty"], prov["dirty_files"]) == ("a" * 40, False, [])
    assert prov["finished_utc"].endswith("Z") and len(prov["load_avg"]) == 3


def test_same_seed_same_metrics(smoke_run, tmp_path):
    config, out, record = smoke_run
    again = runner.run_experiment(config, tmp_path / "smoke" / "again", verbose=0)
    for split in runner.TEST_SPLITS:
        a, b = again["metrics"][split]["pooled"], record["metrics"][split]["pooled"]
        assert (a["tp"], a["fp"], a["fn"]) == (b["tp"], b["fp"], b["fn"])
        assert a["object_dice"] == pytest.approx(b["object_dice"], abs=1e-9)


def test_folder_of_another_config_fails_before_training(smoke_run):
    config, out, record = smoke_run
    other = config.replace(train=config.train.replace(loss="L1"))
    with pytest.raises(ValueError, match=r"another configuration.*loss"):
        runner.run_experiment(other, out, verbose=0)


def test_missing_glas_data_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("GLANDSEG_DATA", str(tmp_path / "nowhere"))
    config = preset_config("workshop")
    with pytest.raises(FileNotFoundError, match="glandseg download"):
        runner.run_experiment(config, tmp_path / "run", verbose=0)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_run_id_names_the_grid_point():
    assert runner.run_id(preset_config("workshop", loss="L1", seed=2)) == "h-L1-s2"
    assert runner.run_id(preset_config("workshop", unsharp=True, loss="L2")) == "h-usm-L2-s0"
    assert runner.run_id(preset_config("workshop", input="rgb", deep_supervision=False)) == "rgb-L3-nods-s0"


def test_explicit_precision_gets_its_own_folder_name():
    assert runner.run_id(preset_config("workshop", precision="float32", seed=1)) == "h-L3-f32-s1"
    assert runner.run_id(preset_config("workshop", precision="mixed_bfloat16")) == "h-L3-bf16-s0"
    assert runner.run_id(preset_config("workshop")) == "h-L3-s0"  # "auto", the presets' default


def test_curve_epochs_are_log_spaced_and_end_at_the_last_epoch():
    assert runner.curve_epochs(100) == (1, 2, 3, 5, 8, 13, 20, 32, 50, 75, 100)
    assert runner.curve_epochs(12) == (1, 2, 3, 5, 8, 12)
    assert runner.curve_epochs(3, [3, 1]) == (1, 3)
    assert runner.curve_epochs(3, False) == ()
    with pytest.raises(ValueError, match="1..3"):
        runner.curve_epochs(3, [4])


def test_learning_curve_points_match_a_rescore_of_their_snapshots(tmp_path):
    from glandseg import train as train_lib

    config = preset_config("smoke", epochs=2)
    out = tmp_path / "smoke" / "h-L3-s0"
    record = runner.run_experiment(config, out, verbose=0, curve=True)
    curve = json.loads((out / runner.CURVE).read_text())
    assert record["curve"] == runner.CURVE and curve["epochs"] == [1, 2]
    assert [p["epoch"] for p in curve["points"]] == [1, 2]
    for p in curve["points"]:
        assert set(p) >= {"testA", "testB", "train_seconds", "val_loss"}
        assert 0 <= p["testA"]["f1"] <= 1 and p["train_seconds"] > 0
    # A point lost to a stop is measured again from its snapshot, with the same figures.
    first = curve["points"][0]
    (out / runner.CURVE).write_text(json.dumps({"epochs": [1, 2], "points": curve["points"][1:]}))
    samples = {s: runner.load_samples(config, s) for s in ("train", *runner.TEST_SPLITS)}
    tracker = runner._Curve(out, config, samples, tmp_path / ".cache", None, (1, 2))
    tracker.catch_up(2)
    again = json.loads((out / runner.CURVE).read_text())["points"][0]
    assert again["epoch"] == 1
    for split in runner.TEST_SPLITS:
        assert again[split]["tp"] == first[split]["tp"] and again[split]["fp"] == first[split]["fp"]
        assert again[split]["f1"] == pytest.approx(first[split]["f1"])
    assert train_lib.snapshot_path(out, 1).exists()


def test_a_grid_skips_finished_runs_of_an_older_preset_but_checks_unfinished_ones(tmp_path, monkeypatch):
    import papermill

    ran = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: ran.append(k["parameters"]["out_dir"]))
    old = preset_config("smoke", precision="float32").to_dict()
    old["train"]["precision"] = "float32"
    finished = tmp_path / "smoke" / "h-L3-s0"
    finished.mkdir(parents=True)
    (finished / "config.json").write_text(json.dumps(old))
    (finished / "record.json").write_text("{}")
    summary = runner.run_grid("smoke", ["h-L3"], [0], results_dir=tmp_path, log=lambda *a: None)
    assert summary[0]["status"] == "skipped" and ran == []
    (finished / "record.json").unlink()  # unfinished: resuming it as "auto" would mix precisions
    with pytest.raises(ValueError, match="train.precision"):
        runner.run_grid("smoke", ["h-L3"], [0], results_dir=tmp_path, log=lambda *a: None)


def test_a_grid_with_overrides_runs_the_changed_protocol_in_tagged_folders(tmp_path, monkeypatch):
    import papermill

    ran = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: ran.append(k["parameters"]))
    with pytest.raises(ValueError, match="give them a tag"):
        runner.run_grid("smoke", ["h-L3"], [0], results_dir=tmp_path, overrides={"train.batch_size": 4}, log=lambda *a: None)
    with pytest.raises(ValueError, match="TrainConfig has no field 'batch'"):
        runner.run_grid("smoke", ["h-L3"], [0], results_dir=tmp_path, overrides={"train.batch": 4}, tag="b4",
                        log=lambda *a: None)
    summary = runner.run_grid("smoke", ["h-L3", "h-L1"], [1], results_dir=tmp_path, tag="b4-352",
                              overrides={"train.batch_size": "4", "preprocess.size": "160x96"}, log=lambda *a: None)
    assert [e["run_id"] for e in summary] == ["h-L3-s1-b4-352", "h-L1-s1-b4-352"]
    assert ran[0]["out_dir"] == str(tmp_path / "smoke" / "h-L3-s1-b4-352")
    assert ran[0]["overrides"] == {"train.batch_size": 4, "preprocess.size": [160, 96]}
    # The notebook applies them the same way: the run's config is the preset's with these changes.
    config = preset_config("smoke", seed=1).with_overrides(ran[0]["overrides"])
    assert (config.train.batch_size, config.preprocess.size) == (4, (160, 96))
    assert runner.run_id(config, "b4-352") == "h-L3-s1-b4-352"
    with pytest.raises(ValueError, match="tag must be"):
        runner.run_id(config, "a/b")


def test_score_network_keeps_a_tag_and_reuses_existing_predictions(smoke_run, tmp_path):
    import shutil

    config, out, record = smoke_run
    copy = tmp_path / "smoke" / out.name
    shutil.copytree(out, copy)
    (copy / "record.json").unlink()
    again = runner.score_network(None, config, copy, tag="b4", training=record["training"],
                                 loader=lambda: pytest.fail("every prediction exists: nothing to load"))
    assert again["tag"] == "b4" and "tag" not in record
    assert again["metrics"] == record["metrics"]
    with pytest.raises(ValueError, match="needs a model"):
        (copy / "pred" / next(iter(sorted(p.name for p in (copy / "pred").iterdir())))).unlink()
        runner.score_network(None, config, copy)


def test_a_folder_from_before_a_new_field_still_matches_its_config(tmp_path):
    """A run folder written before ``TrainConfig.keep`` existed resumes under the field's default."""
    config = preset_config("smoke")
    old = config.to_dict()
    del old["train"]["keep"]
    (tmp_path / "config.json").write_text(json.dumps(old))
    runner._check_config(config, tmp_path)  # the default: same configuration
    with pytest.raises(ValueError, match=r"another configuration.*keep"):
        runner._check_config(config.replace(train=config.train.replace(keep="last")), tmp_path)


def _stale_run(out, config, epoch=3, batch=7):
    """A run folder as a clone or a lost machine leaves it: trained, with no checkpoint."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(config.to_json())
    (out / "train_state.json").write_text(json.dumps({"epoch": epoch, "batch": batch, "best": -1.0}))
    (out / "history.csv").write_text("epoch,loss\n" + "".join(f"{e},{-e}.5\n" for e in range(1, epoch + 1)))
    (out / runner.CURVE).write_text(json.dumps({"epochs": [1, 2], "points": [{"epoch": 1}, {"epoch": 2}]}))
    return out


def test_a_grid_stops_on_a_lost_checkpoint_or_keeps_it_as_an_attempt_with_restart(tmp_path, monkeypatch):
    import papermill

    ran = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: ran.append(k["parameters"]["out_dir"]))
    config = preset_config("smoke", seed=0)
    out = _stale_run(tmp_path / "smoke" / "h-L3-s0", config)
    fresh = tmp_path / "smoke" / "h-L1-s0"  # a grid point that has not started: no error, no attempt
    with pytest.raises(FileNotFoundError, match=r"h-L3-s0 trained to epoch 3 \(\+7 batches\).*--restart"):
        runner.run_grid("smoke", ["h-L1", "h-L3"], [0], results_dir=tmp_path, log=lambda *a: None)
    assert ran == [] and (out / "history.csv").exists()  # nothing ran, nothing moved

    lines = []
    summary = runner.run_grid("smoke", ["h-L1", "h-L3"], [0], results_dir=tmp_path, restart=True, log=lines.append)
    assert [e["run_id"] for e in summary] == ["h-L1-s0", "h-L3-s0"] and ran == [str(fresh), str(out)]
    attempt = tmp_path / "smoke" / "h-L3-s0-attempt1"
    assert any("kept as h-L3-s0-attempt1" in line for line in lines)
    assert json.loads((attempt / runner.STOPPED).read_text()) == {
        "reason": runner.RESTART_REASON, "epoch": 3, "batch": 7, "restarted_as": "h-L3-s0"}
    assert json.loads((attempt / runner.CURVE).read_text())["points"] == [{"epoch": 1}, {"epoch": 2}]
    assert not (tmp_path / "smoke" / "h-L1-s0-attempt1").exists()
    # A second loss makes a second attempt; its position comes from history.csv alone if need be.
    _stale_run(out, config, epoch=2)
    (out / "train_state.json").unlink()
    runner.run_grid("smoke", ["h-L3"], [0], results_dir=tmp_path, restart=True, log=lambda *a: None)
    stopped = json.loads((tmp_path / "smoke" / "h-L3-s0-attempt2" / runner.STOPPED).read_text())
    assert (stopped["epoch"], stopped["batch"]) == (2, 0)


def test_a_restarted_run_trains_from_the_start_as_a_new_run_would(smoke_run, tmp_path):
    config, _, record = smoke_run
    out = _stale_run(tmp_path / "smoke" / "h-L3-s0", config, epoch=1, batch=0)
    with pytest.raises(FileNotFoundError, match="checkpoint.npz is missing"):
        runner.run_experiment(config, out, verbose=0)
    again = runner.run_experiment(config, out, verbose=0, restart=True)
    assert json.loads((out / "config.json").read_text()) == json.loads(config.to_json())
    assert (tmp_path / "smoke" / "h-L3-s0-attempt1" / runner.STOPPED).exists()
    for split in runner.TEST_SPLITS:
        a, b = again["metrics"][split]["pooled"], record["metrics"][split]["pooled"]
        assert (a["tp"], a["fp"], a["fn"]) == (b["tp"], b["fp"], b["fn"])
        assert a["object_dice"] == pytest.approx(b["object_dice"], abs=1e-9)


def test_archive_attempt_checks_its_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run folder"):
        runner.archive_attempt(tmp_path / "absent", "lost")
    (tmp_path / "run").mkdir()
    with pytest.raises(ValueError, match="reason"):
        runner.archive_attempt(tmp_path / "run", " ")
    # A folder that never trained stood at (0, 0).
    assert json.loads((runner.archive_attempt(tmp_path / "run", "moved") / runner.STOPPED).read_text())["epoch"] == 0
