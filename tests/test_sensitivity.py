"""The post-processing sweep: grids, scoring, the validation choice, records of a finished run."""

import json
import math
import shutil

import numpy as np
import pytest

from glandseg import cli, metrics, postprocess, runner
from glandseg.report import sensitivity
from glandseg.config import PostprocessConfig


def test_sweep_grid_sorts_and_checks_its_axes():
    grid = sensitivity.SweepGrid((8, 0, 8), [1000, 200])
    assert grid.opening_radius_px == (0, 8) and grid.min_size_px == (200, 1000)
    for bad in ((), (-1,), (2.5,), (True,), "4"):
        with pytest.raises(ValueError, match="SweepGrid.opening_radius_px"):
            sensitivity.SweepGrid(opening_radius_px=bad)
    with pytest.raises(ValueError, match="SweepGrid.min_size_px"):
        sensitivity.SweepGrid(min_size_px=(100, -5))


def test_settings_cover_the_grid_and_the_run_own_setting():
    base = PostprocessConfig(min_size_px=700, opening_radius_px=3, hole_size_px=50, connectivity=2)
    got = sensitivity.settings(sensitivity.SweepGrid((0, 4), (200, 1000)), base)
    assert [(s.opening_radius_px, s.min_size_px) for s in got] == [
        (r, m) for r in (0, 3, 4) for m in (200, 700, 1000)
    ]
    # everything else stays the run's
    assert {(s.threshold, s.hole_size_px, s.connectivity) for s in got} == {("otsu", 50, 2)}
    with pytest.raises(TypeError, match="grid must be a SweepGrid"):
        sensitivity.settings((0, 4), base)
    with pytest.raises(TypeError, match="base must be a PostprocessConfig"):
        sensitivity.settings(sensitivity.SweepGrid(), {"min_size_px": 3})


def _blobs(seed):
    """A smooth random probability map (40 x 60) and a label map of its glands at 80 x 120."""
    rng = np.random.default_rng(seed)
    prob = np.zeros((40, 60))
    gt = np.zeros((80, 120), int)
    for k in range(1, 6):
        cy, cx, r = rng.integers(8, 32), rng.integers(8, 52), rng.integers(3, 8)
        yy, xx = np.mgrid[:40, :60]
        prob = np.maximum(prob, np.clip(1.2 - np.hypot(yy - cy, xx - cx) / r, 0, 1))
        yy, xx = np.mgrid[:80, :120]
        gt[(np.hypot(yy - 2 * cy - rng.integers(-2, 3), xx - 2 * cx) < 2 * r) & (gt == 0)] = k
    return prob, gt


def test_score_settings_equals_scoring_each_setting_on_its_own():
    probs, gts = zip(*(_blobs(s) for s in range(3)))
    setting_list = [PostprocessConfig(min_size_px=m, opening_radius_px=r, threshold=t)
                    for t, r in (("otsu", 0), ("otsu", 3), (0.6, 3)) for m in (20, 150)]
    rows = sensitivity.score_settings(probs, gts, setting_list)
    assert len(rows) == 6
    for row, setting in zip(rows, setting_list):
        segs = [postprocess.to_instances(p, g.shape, setting) for p, g in zip(probs, gts)]
        tp, fp, fn = np.sum([metrics.f1_counts(s, g) for s, g in zip(segs, gts)], axis=0)
        assert (row["tp"], row["fp"], row["fn"]) == (tp, fp, fn)
        assert row["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
        assert row["object_dice"] == pytest.approx(metrics.evaluate(segs, gts)["object_dice"])
        assert (row["opening_radius_px"], row["min_size_px"]) == (setting.opening_radius_px, setting.min_size_px)
    # a larger smallest size can only drop objects
    assert rows[1]["tp"] + rows[1]["fp"] <= rows[0]["tp"] + rows[0]["fp"]
    with pytest.raises(ValueError, match="2 probability maps and 3 ground truths"):
        sensitivity.score_settings(probs[:2], gts, setting_list)
    with pytest.raises(ValueError, match="no images"):
        sensitivity.score_settings([], [], setting_list)


def test_choose_prefers_the_run_own_setting_in_a_tie_and_small_hausdorff():
    rows = [
        {"opening_radius_px": 0, "min_size_px": 200, "f1": 0.7, "object_hausdorff": 90.0},
        {"opening_radius_px": 0, "min_size_px": 1000, "f1": 0.8, "object_hausdorff": 80.0},
        {"opening_radius_px": 4, "min_size_px": 200, "f1": 0.8, "object_hausdorff": math.inf},
    ]
    assert sensitivity.choose(rows, rows[2]) == 2  # tied on F1 with row 1: the run's own wins
    assert sensitivity.choose(rows, rows[0]) == 1  # not tied with the own: the first of the best
    assert sensitivity.choose(rows, rows[0], metric="object_hausdorff") == 1
    with pytest.raises(ValueError, match="rows is empty"):
        sensitivity.choose([], rows[0])


@pytest.fixture(scope="module")
def swept(smoke_run, tmp_path_factory):
    config, out, record = smoke_run
    run = tmp_path_factory.mktemp("sweep") / "smoke" / out.name
    shutil.copytree(out, run)
    grid = sensitivity.SweepGrid((0, 2), (5, 20))
    path = sensitivity.write_sweep(run, grid=grid)
    return run, record, grid, json.loads(path.read_text())


def test_sweep_reproduces_the_run_record_at_its_own_setting(swept):
    run, record, grid, sweep = swept
    assert sweep["run_id"] == record["run_id"] and sweep["preset"] == "smoke" and sweep["kind"] == "postprocess sweep"
    assert sweep["own"] == {"opening_radius_px": 0, "min_size_px": 20}  # the smoke preset's
    # the grid's four settings; the own setting is among them
    assert [(r["opening_radius_px"], r["min_size_px"]) for r in sweep["scores"]["testA"]] == [(0, 5), (0, 20), (2, 5), (2, 20)]
    own = sweep["chosen"]["own"]
    assert own == 1
    for split in ("testA", "testB"):
        pooled = record["metrics"][split]["pooled"]
        row = sweep["scores"][split][own]
        assert (row["tp"], row["fp"], row["fn"]) == (pooled["tp"], pooled["fp"], pooled["fn"])
        assert row["f1"] == pytest.approx(pooled["f1"], abs=1e-12)
        assert row["object_dice"] == pytest.approx(pooled["object_dice"], abs=1e-12)
    # the validation images are those training held out, and they chose the best of their rows
    training = json.loads((run / "training.json").read_text())
    assert sweep["val_names"] == training["val_names"] and len(sweep["scores"]["val"]) == 4
    val_f1 = [r["f1"] for r in sweep["scores"]["val"]]
    assert val_f1[sweep["chosen"]["by_val"]] == max(val_f1)
    assert sweep["grid"] == {"opening_radius_px": [0, 2], "min_size_px": [5, 20]}
    assert sweep["provenance"]["git_commit"]


def test_write_sweep_skips_a_swept_run_and_checks_the_folder(swept, tmp_path):
    run, _, grid, sweep = swept
    path = run / sensitivity.FILENAME
    before = path.stat().st_mtime_ns
    assert sensitivity.write_sweep(run, grid=grid) == path and path.stat().st_mtime_ns == before
    (loaded,) = sensitivity.load_sweeps(run.parent.parent, "smoke")
    assert loaded["scores"] == sweep["scores"] and loaded["_path"] == str(path)
    assert sensitivity.load_sweeps(run.parent.parent, "cpu") == []
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        sensitivity.sweep_run(tmp_path)
    with pytest.raises(ValueError, match="metric must be one of"):
        sensitivity.sweep_run(run, metric="tp")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    shutil.copy(run / "config.json", unfinished / "config.json")
    with pytest.raises(FileNotFoundError, match="record.json not found: finish the run first"):
        sensitivity.sweep_run(unfinished)
    no_val = tmp_path / "smoke" / "no-val"
    shutil.copytree(run, no_val)
    training = json.loads((no_val / "training.json").read_text())
    (no_val / "training.json").write_text(json.dumps({**training, "val_names": []}))
    with pytest.raises(ValueError, match="kept no validation images"):
        sensitivity.sweep_run(no_val)


def test_sweep_credits_the_code_state_at_the_start(swept, tmp_path, moving_code_state):
    # a commit made while a sweep is going must not be credited with its result
    run, _, _, _ = swept
    copy = tmp_path / "smoke" / run.name
    shutil.copytree(run, copy)
    moving_code_state(runner, "probabilities")
    prov = sensitivity.sweep_run(copy, grid=sensitivity.SweepGrid((0,), (20,)))["provenance"]
    assert (prov["git_commit"], prov["dirty"], prov["dirty_files"]) == ("a" * 40, False, [])
    assert prov["finished_utc"].endswith("Z")


def _sweep(own, chosen, f1s):
    """A sweep record over openings (0, 4) x sizes (200, 1000) with these Test A F1 values."""
    rows = [{"opening_radius_px": r, "min_size_px": m, "f1": f} for (r, m), f in zip([(0, 200), (0, 1000), (4, 200), (4, 1000)], f1s)]
    return {"own": {"opening_radius_px": 0, "min_size_px": own}, "chosen": {"own": 0 if own == 200 else 1, "by_val": chosen},
            "scores": {"testA": rows}}


def test_mean_grid_averages_runs_setting_by_setting():
    sweeps = [_sweep(1000, 3, [0.6, 0.7, 0.65, 0.8]), _sweep(1000, 2, [0.5, 0.6, 0.7, 0.7])]
    g = sensitivity.mean_grid(sweeps, "testA")
    assert g["opening_radius_px"] == [0, 4] and g["min_size_px"] == [200, 1000] and g["n_runs"] == 2
    np.testing.assert_allclose(g["values"], [[0.55, 0.65], [0.675, 0.75]])
    assert g["own"] == (0, 1000)
    assert g["own_value"] == pytest.approx(0.65) and g["chosen_value"] == pytest.approx((0.8 + 0.7) / 2)
    # a setting that one sweep lacks is NaN; runs with different own settings have no common one
    sweeps[1]["scores"]["testA"] = sweeps[1]["scores"]["testA"][:3]
    mixed = sensitivity.mean_grid(sweeps + [_sweep(200, 0, [0.5, 0.5, 0.5, 0.5])], "testA")
    assert np.isnan(mixed["values"][1, 1]) and mixed["values"][0, 0] == pytest.approx((0.6 + 0.5 + 0.5) / 3)
    assert mixed["own"] is None
    for kwargs, match in (({"split": "train"}, "split must be one of"), ({"split": "testA", "metric": "dice"}, "metric must be")):
        with pytest.raises(ValueError, match=match):
            sensitivity.mean_grid(sweeps, **kwargs)
    with pytest.raises(ValueError, match="no sweep records"):
        sensitivity.mean_grid([], "testA")


def test_choice_rows_put_the_chosen_setting_beside_the_own(swept):
    _, record, _, sweep = swept
    (row,) = sensitivity.choice_rows([sweep])
    chosen = sweep["scores"]["val"][sweep["chosen"]["by_val"]]
    assert row["run_id"] == record["run_id"] and row["method"] == "H + L3"
    assert (row["opening_radius_px"], row["min_size_px"]) == (chosen["opening_radius_px"], chosen["min_size_px"])
    assert row["testA_own"] == record["metrics"]["testA"]["pooled"]["f1"]
    assert row["testB_chosen"] == sweep["scores"]["testB"][sweep["chosen"]["by_val"]]["f1"]
    assert row["val_chosen"] == chosen["f1"] >= row["val_own"]
    (fp,) = sensitivity.choice_rows([sweep], metric="fp")
    assert fp["testA_own"] == record["metrics"]["testA"]["pooled"]["fp"]
    with pytest.raises(ValueError, match="metric must be one of"):
        sensitivity.choice_rows([sweep], metric="dice")


def test_cli_sweeps_finished_runs_and_names_what_is_missing(smoke_run, tmp_path, capsys):
    _, out, record = smoke_run
    results_dir = tmp_path / "results"
    shutil.copytree(out, results_dir / "smoke" / out.name)
    code = cli.main(["sensitivity", "smoke", "--results", str(results_dir), "--opening", "0", "--min-size", "20"])
    assert code == 0
    text = capsys.readouterr().out
    f1 = record["metrics"]["testA"]["pooled"]["f1"]
    assert f"{out.name}: validation chose opening 0 px, smallest object 20 px; testA F1 {f1:.3f} -> {f1:.3f}" in text
    assert (results_dir / "smoke" / out.name / sensitivity.FILENAME).is_file()
    assert cli.main(["sensitivity", "smoke", "--results", str(results_dir), "--runs", "h-L1-s0"]) == 2
    assert "no finished run in" in capsys.readouterr().err
    assert cli.main(["sensitivity", "cpu", "--results", str(results_dir)]) == 2
    assert "no finished run under" in capsys.readouterr().err
    assert cli.main(["sensitivity", "smoke", "--results", str(results_dir), "--opening", "-2"]) == 2
    assert "SweepGrid.opening_radius_px" in capsys.readouterr().err


def test_a_validation_only_sweep_scores_the_same_validation_rows(swept, tmp_path, capsys):
    run, _, grid, sweep = swept
    copy = tmp_path / "smoke" / run.name
    shutil.copytree(run, copy)
    (copy / sensitivity.FILENAME).unlink()
    val_only = sensitivity.sweep_run(copy, grid=grid, splits=("val",))
    assert list(val_only["scores"]) == ["val"] and val_only["scores"]["val"] == sweep["scores"]["val"]
    assert val_only["chosen"] == sweep["chosen"]
    with pytest.raises(ValueError, match="splits"):
        sensitivity.sweep_run(copy, grid=grid, splits=("test",))
    assert cli.main(["sensitivity", "smoke", "--results", str(tmp_path), "--opening", "0", "2", "--min-size", "5", "20",
                     "--splits", "val"]) == 0
    assert "; val F1 " in capsys.readouterr().out
    assert list(json.loads((copy / sensitivity.FILENAME).read_text())["scores"]) == ["val"]


def test_an_epoch_snapshot_of_an_unfinished_run_sweeps_like_the_finished_network(swept, tmp_path, capsys):
    run, _, grid, sweep = swept
    # An unfinished run: config and the epoch-1 snapshot only (for a 1-epoch run, the kept network).
    unfinished = tmp_path / "results" / "smoke" / run.name
    (unfinished / "snapshots").mkdir(parents=True)
    shutil.copy(run / "config.json", unfinished / "config.json")
    shutil.copy(run / "best.weights.h5", unfinished / "snapshots" / "epoch-001.weights.h5")
    with pytest.raises(FileNotFoundError, match="epoch-002.weights.h5 not found"):
        sensitivity.sweep_run(unfinished, grid=grid, epoch=2)
    path = sensitivity.write_sweep(unfinished, grid=grid, epoch=1)
    assert path.name == "postprocess_sweep-epoch-001.json"
    at_epoch = json.loads(path.read_text())
    # the validation images are redrawn as training drew them
    assert at_epoch["val_names"] == json.loads((run / "training.json").read_text())["val_names"]
    assert at_epoch["scores"] == sweep["scores"] and at_epoch["epoch"] == 1 and sweep["epoch"] is None
    assert sensitivity.load_sweeps(tmp_path / "results", "smoke") == []  # not the finished run's sweep
    assert [s["epoch"] for s in sensitivity.load_sweeps(tmp_path / "results", "smoke", epoch=1)] == [1]
    path.unlink()
    assert cli.main(["sensitivity", "smoke", "--results", str(tmp_path / "results"), "--epoch", "1",
                     "--opening", "0", "--min-size", "20"]) == 0
    assert path.is_file()
    assert cli.main(["sensitivity", "smoke", "--results", str(tmp_path / "results"), "--epoch", "3"]) == 2
    assert "no run with snapshots/epoch-003.weights.h5" in capsys.readouterr().err
