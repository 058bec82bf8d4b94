"""glandseg.report.training: the precision check and the learning curves, on hand-made records."""

import json
import warnings

import matplotlib

matplotlib.use("Agg")
import pytest

from glandseg.report import training


def _record(precision, seed, f1a, f1b, seconds, preset="workshop", cpu="Test CPU"):
    pooled = lambda f1: {"f1": f1, "object_dice": 0.8, "object_hausdorff": 90.0}  # noqa: E731
    return {"preset": preset, "seed": seed, "run_id": f"h-L3-{precision}-s{seed}",
            "config": {"input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": True,
                       "train": {"precision": precision, "epochs": 4}},
            "training": {"seconds": seconds}, "provenance": {"cpu": {"model": cpu}},
            "metrics": {"testA": {"pooled": pooled(f1a)}, "testB": {"pooled": pooled(f1b)}}}


def test_precision_check_pairs_by_seed_and_compares_with_the_seed_spread():
    recs = [_record("float32", 0, 0.70, 0.60, 600), _record("mixed_bfloat16", 0, 0.71, 0.58, 400),
            _record("float32", 1, 0.74, 0.66, 600), _record("mixed_bfloat16", 1, 0.72, 0.66, 300),
            _record("float32", 2, 0.72, 0.62, 600)]  # seed 2 has no bfloat16 twin: left out
    out = training.precision_check(recs)
    assert [p["seed"] for p in out["pairs"]] == [0, 1]
    a = out["summary"]["testA"]["f1"]
    assert a["mean_difference"] == pytest.approx(((0.71 - 0.70) + (0.72 - 0.74)) / 2)
    assert a["seed_sd"] == pytest.approx(0.0282842712, rel=1e-6)  # sd of 0.70 and 0.74
    assert out["speedup"] == [1.5, 2.0] and out["cpus"] == ["Test CPU"]
    table = training.precision_table(out)
    text = table._repr_markdown_() if hasattr(table, "_repr_markdown_") else str(table.rows)
    assert "1.75x faster" in text


def test_precision_check_without_pairs_says_not_run_yet():
    out = training.precision_check([_record("float32", 0, 0.7, 0.6, 100)])
    assert out["pairs"] == [] and out["summary"]["testA"]["f1"]["mean_difference"] is None
    assert training.precision_table(out).rows[0][0] == "not run yet"
    assert training.precision_figure(out) is None


def _curve_run(root, preset, run_id, epochs, planned, finished):
    run = root / preset / run_id
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"preset": preset, "train": {"epochs": planned}}))
    rows = "epoch,seconds,loss\n" + "".join(f"{e},{100 + e},{-e}\n" for e in range(1, epochs + 1))
    (run / "history.csv").write_text(rows)
    pts = [{"epoch": e, "train_seconds": sum(100 + k for k in range(1, e + 1)), "val_loss": -e,
            "testA": {"f1": 0.5 + e / 100, "object_dice": 0.6, "object_hausdorff": 100 - e},
            "testB": {"f1": 0.4 + e / 100, "object_dice": 0.5, "object_hausdorff": 150 - e}} for e in (1, 2, 3) if e <= epochs]
    (run / "curve.json").write_text(json.dumps({"epochs": [1, 2, 3], "points": pts}))
    if finished:
        (run / "record.json").write_text(json.dumps({"provenance": {"cpu": {"model": "Test CPU"}},
                                                     "training": {"precision": "float32"}}))


def test_load_curves_reads_finished_and_running_runs(tmp_path):
    _curve_run(tmp_path, "paper", "h-L3-s0", 2, 100, finished=False)
    _curve_run(tmp_path, "cpu-long", "h-L3-s0", 3, 3, finished=True)
    curves = {c["preset"]: c for c in training.load_curves(tmp_path)}
    assert curves["paper"]["epochs_done"] == 2 and not curves["paper"]["finished"]
    assert [p["epoch"] for p in curves["paper"]["points"]] == [1, 2]
    assert curves["cpu-long"]["finished"] and curves["cpu-long"]["cpu"] == "Test CPU"
    assert curves["paper"]["epoch_seconds"] == [101.0, 102.0]
    assert curves["paper"]["config"] == {"preset": "paper", "train": {"epochs": 100}}


def test_training_estimate_projects_from_the_epochs_after_the_first():
    # lower quartile of 100, 110, 120 (numpy's linear interpolation): 105
    est = training.training_estimate([500, 100, 120, 110], 10)
    assert est["epoch_seconds"] == 105 and est["epochs_done"] == 4
    assert est["projected_hours"] == pytest.approx((830 + 6 * 105) / 3600)


def test_training_estimate_keeps_the_cpus_own_pace_when_most_epochs_shared_it():
    # Five epochs alone at 300 s, five stretched by other work to 480-500 s: the median would
    # project 390 s an epoch, the pace of neither.
    secs = [330, 300, 480, 300, 490, 300, 500, 300, 495, 300, 485]
    assert training.training_estimate(secs, 100)["epoch_seconds"] == 300
    assert training.slow_epochs(secs)["epochs"] == [3, 5, 7, 9, 11]
    assert training.training_estimate([], 10) is None


def test_slow_epochs_flags_stretched_epochs_but_never_the_first():
    # typical = lower quartile of (100, 100, 400, 110, 90) = 100; 400 > 1.5 x 100, 140 is not; epoch 1 (500) is start-up
    out = training.slow_epochs([500, 100, 100, 400, 110, 90])
    assert out["epochs"] == [4] and out["seconds"] == [400.0]
    assert out["typical_seconds"] == 100 and out["excess_hours"] == pytest.approx(300 / 3600)
    assert training.slow_epochs([500, 100, 100, 140], factor=1.3)["epochs"] == [4]
    steady = training.slow_epochs([100, 100, 100])
    assert steady["epochs"] == [] and steady["excess_hours"] == 0
    assert training.slow_epochs([700]) is None and training.slow_epochs([]) is None
    with pytest.raises(ValueError, match="factor"):
        training.slow_epochs([1, 2, 3], factor=1)


def test_convergence_figure_draws_each_curve_the_points_and_the_paper(tmp_path):
    _curve_run(tmp_path, "paper", "h-L3-s0", 3, 100, finished=False)
    curves = training.load_curves(tmp_path)
    four = [_record("float32", s, 0.78, 0.67, 3600, preset="cpu") for s in (0, 1)]
    for x in ("epoch", "hours"):
        fig = training.convergence_figure(curves, four, x=x)
        axes = fig.axes
        assert len(axes) == 6
        lines = axes[0].get_lines()
        assert lines[0].get_ydata().tolist() == pytest.approx([0.51, 0.52, 0.53])  # the curve, Test A F1
        assert lines[1].get_ydata().tolist() == [0.78, 0.78]  # the two 4-epoch seeds
        assert lines[2].get_ydata()[0] == 0.846  # the paper's H + L3, Test A F1
    assert training.convergence_figure([], []) is None
    with pytest.raises(ValueError, match="x must be"):
        training.convergence_figure(curves, x="minutes")


def _curve(values, hours_per_epoch=0.5, epochs=(1, 2, 3, 5, 8), finished=True, metric="f1", split="testA"):
    pts = [{"epoch": e, "train_seconds": 3600 * hours_per_epoch * e, split: {metric: v}} for e, v in zip(epochs, values)]
    return {"preset": "p", "run_id": "r", "points": pts, "finished": finished,
            "epoch_seconds": [3600 * hours_per_epoch] * (epochs[len(values) - 1] if values else 0),
            "epochs_done": epochs[len(values) - 1] if values else 0, "epochs_planned": epochs[-1]}


def test_read_curve_finds_the_best_point_the_flat_part_and_the_paper():
    # gains after each point: 0.3 (e1), 0.06 (e2), 0.015 (e3), -0.005 (e5): flat from epoch 3 at tolerance 0.02
    r = training.read_curve(_curve([0.55, 0.8, 0.845, 0.86, 0.855]), tolerance=0.02)
    assert (r["first"]["epoch"], r["best"]["epoch"], r["last"]["epoch"], r["n_points"]) == (1, 5, 8, 5)
    assert r["flat_from"]["epoch"] == 3 and r["flat_from"]["gain_after"] == pytest.approx(0.015)
    assert r["best"]["hours"] == pytest.approx(2.5)
    assert r["paper"] == 0.846 and r["reaches_paper"]["epoch"] == 5  # 0.845 is not yet the paper's 0.846
    # A tighter tolerance moves the flat part later; a still rising curve has none.
    assert training.read_curve(_curve([0.55, 0.8, 0.845, 0.86, 0.855]), tolerance=0.01)["flat_from"]["epoch"] == 5
    assert training.read_curve(_curve([0.5, 0.6, 0.7]))["flat_from"] is None
    # Hausdorff is better when lower: the best is the smallest, reaching the paper means at most 55.13.
    h = training.read_curve(_curve([200.0, 90.0, 60.0, 50.0], metric="object_hausdorff"), metric="object_hausdorff",
                            tolerance=12)  # 60 -> 50 is a gain of 10
    assert h["best"]["value"] == 50.0 and h["reaches_paper"]["epoch"] == 5 and h["flat_from"]["epoch"] == 3
    assert training.read_curve(_curve([]), split="testA") is None
    with pytest.raises(ValueError, match="metric"):
        training.read_curve(_curve([0.5]), metric="iou")
    with pytest.raises(ValueError, match="split"):
        training.read_curve(_curve([0.5]), split="val")


def test_curve_sentence_says_so_far_for_a_running_curve_and_how_far_from_the_paper():
    text = training.curve_sentence(_curve([0.4, 0.7, 0.75], finished=False), split="testA")
    assert "best so far 0.750 after epoch 3 (1.5 h)" in text
    assert "it flattens" not in text and "still improving" in text
    peak = training.curve_sentence(_curve([0.4, 0.8, 0.7, 0.75]))  # nothing after epoch 2 is better
    assert "it flattens from epoch 2 (0.800, 1.0 h): no later point is better." in peak
    assert "It has fallen since: 0.750 after epoch 5 (2.5 h), 0.050 worse than its best." in peak
    assert "fallen" not in text  # its last point is its best
    # Hausdorff: lower is better, so a rise is the fall; within the tolerance it is not told.
    worse = training.curve_sentence(_curve([90.0, 60.0, 70.0], metric="object_hausdorff"), metric="object_hausdorff",
                                    tolerance=5.0)
    assert "It has fallen since: 70.0 after epoch 3 (1.5 h), 10.0 worse than its best." in worse
    assert "fallen" not in training.curve_sentence(_curve([90.0, 60.0, 64.0], metric="object_hausdorff"),
                                                   metric="object_hausdorff", tolerance=5.0)
    assert "has not reached the paper's 0.846 so far: its best is 0.096 short" in text
    done = training.curve_sentence(_curve([0.55, 0.8, 0.845, 0.86, 0.855]))
    assert "it flattens from epoch 3 (0.845, 1.5 h): no later point is better by more than 0.015" in done
    assert "It reaches the paper's 0.846 after epoch 5 (2.5 h)." in done and "fallen" not in done  # 0.005: noise
    assert training.curve_sentence(_curve([])).endswith("no curve point yet.")


def test_budget_table_gives_each_runs_figure_when_the_hours_run_out():
    done = _curve([0.55, 0.8, 0.845, 0.86, 0.855])  # a point every 0.5 h x epoch: 0.5, 1, 1.5, 2.5, 4 h
    running = {**_curve([0.4, 0.7], finished=False), "run_id": "q"}  # trained 1 h so far
    four = [_record("float32", s, f1, 0.6, 1800, preset="cpu") for s, f1 in ((0, 0.7), (1, 0.8))]
    table = training.budget_table([done, running], four, budgets_hours=(0.25, 1, 3, 5))
    assert table.columns == ["run", "trained on", "0.25 h", "1 h", "3 h", "5 h"]
    assert table.rows[0][2:] == ["no point yet", "0.800 (epoch 2)", "0.860 (epoch 5)", "0.855 (epoch 8)"]
    assert table.rows[1][2:] == ["no point yet", "0.700 (epoch 2)", "not reached yet", "not reached yet"]
    assert table.rows[2][0].startswith("cpu preset, 2 seeds (mean 0.50 h)")
    assert table.rows[2][1] == "Test CPU (family ?, model ?); float32"
    assert table.rows[2][2:] == ["not enough", "0.750 (4 epochs)", "0.750 (4 epochs)", "0.750 (4 epochs)"]
    with pytest.raises(ValueError, match="budgets_hours"):
        training.budget_table([done], budgets_hours=(0, 1))


def test_trained_on_names_the_cpu_of_each_stretch_of_epochs():
    xeon = {"model": "Xeon", "family": 6, "model_number": 207}
    epyc = {"model": "EPYC", "family": 25, "model_number": 1}
    s = lambda e, b, cpu: {"epoch": e, "batch": b, "cpu": cpu}  # noqa: E731
    assert training.trained_on({"sessions": [s(0, 0, xeon), s(4, 10, xeon)], "precision": "float32"}) == \
        "Xeon (family 6, model 207); float32"
    assert training.trained_on({"sessions": [s(0, 0, xeon), s(4, 10, epyc), s(9, 0, xeon)]}) == \
        "from epoch 1: Xeon (family 6, model 207); from epoch 5: EPYC (family 25, model 1); from epoch 10: Xeon (family 6, model 207)"
    assert training.trained_on({"sessions": [], "finished": True, "record_cpu": xeon}) == \
        "Xeon (family 6, model 207) (the CPU that finished it)"
    assert training.trained_on({"sessions": []}) == "CPU not recorded"


def test_load_curves_reads_the_sessions_of_running_and_finished_runs(tmp_path):
    _curve_run(tmp_path, "paper", "h-L3-s0", 2, 100, finished=False)
    session = {"epoch": 1, "batch": 5, "cpu": {"model": "Xeon", "family": 6, "model_number": 207}}
    (tmp_path / "paper" / "h-L3-s0" / "train_state.json").write_text(json.dumps(
        {"epoch": 2, "batch": 0, "precision": {"precision": "mixed_bfloat16"}, "sessions": [session]}))
    [c] = training.load_curves(tmp_path)
    assert c["sessions"] == [session] and c["precision"] == "mixed_bfloat16"
    assert training.trained_on(c) == "epochs 1-1: CPU not recorded; from epoch 2: Xeon (family 6, model 207); mixed_bfloat16"


def test_equal_postprocessing_marks_each_protocols_own_size_and_averages_runs():
    from glandseg.report import training

    def sweep(preset, epoch, own, f1s, loss="L3", opening_f1=0.0):
        rows = [{"opening_radius_px": 0, "min_size_px": m, "f1": f} for m, f in zip((200, 1000, 4000), f1s)]
        rows += [{"opening_radius_px": 4, "min_size_px": m, "f1": opening_f1} for m in (200, 1000, 4000)]
        return {"preset": preset, "epoch": epoch, "own": {"opening_radius_px": 0, "min_size_px": own},
                "config": {"input": "hematoxylin", "unsharp": False, "loss": loss}, "scores": {"testA": rows}}

    sweeps = [sweep("paper", 5, 200, (0.58, 0.67, 0.66)), sweep("cpu", None, 1000, (0.70, 0.76, 0.74)),
              sweep("cpu", None, 1000, (0.72, 0.80, 0.78)), sweep("cpu", None, 1000, (0.1, 0.1, 0.1), loss="L1")]
    rows = training.equal_postprocessing_rows(sweeps)
    assert [(r["preset"], r["epoch"], r["runs"], r["own_min_size_px"]) for r in rows] == [("paper", 5, 1, 200), ("cpu", None, 2, 1000)]
    assert rows[1]["f1"][1000] == pytest.approx(0.78) and rows[1]["f1"][200] == pytest.approx(0.71)
    table = training.equal_postprocessing_table(rows)
    assert table.columns[3:] == ["objects from 200 px", "objects from 1000 px", "objects from 4000 px"]
    assert table.rows[0][:4] == ["paper", "after epoch 5", 1, "0.580 *"] and table.rows[0][4] == "0.670"
    assert table.rows[1][1] == "selected network" and table.rows[1][4] == "0.780 *"
    assert training.equal_postprocessing_rows(sweeps, opening_radius_px=4)[0]["f1"] == {200: 0.0, 1000: 0.0, 4000: 0.0}
    assert training.equal_postprocessing_table([]).rows[0][0] == "not run yet"


def test_protocol_steps_counts_what_training_iterates_over():
    import math

    import numpy as np

    from glandseg import augment
    from glandseg.config import preset_config
    from glandseg.report import training

    for name in ("smoke", "paper"):
        config = preset_config(name)
        if name == "paper":  # the paper's crops on tiny stand-in arrays of the paper's size would be slow: shrink
            config = config.replace(preprocess=config.preprocess.replace(size=(128, 96)),
                                    augment=config.augment.replace(crop_size=(64, 64)))
        n = 12
        w, h = config.preprocess.size
        x = np.zeros((n - config.train.val_images, h, w, 1), np.float32)
        aug = augment.make_augmenter(x, np.zeros(x.shape[:3], np.uint8), config.augment)
        p = training.protocol_steps(config.to_dict(), 3, n_images=n)
        assert p["crops_per_epoch"] == len(aug)
        assert p["steps_per_epoch"] == math.ceil(len(aug) / config.train.batch_size) and p["steps"] == 3 * p["steps_per_epoch"]
        assert p["megapixels"] == pytest.approx(3 * len(aug) * 64 * 64 / 1e6)
    # a constant rate stays; a cosine one reaches zero at the last epoch
    assert training.protocol_steps(preset_config("paper").to_dict(), 50)["learning_rate"] == 1e-3
    assert training.protocol_steps(preset_config("cpu").to_dict(), 4)["learning_rate"] == pytest.approx(0.0, abs=1e-12)


def test_a_stopped_run_reads_as_stopped_everywhere(tmp_path):
    # A run whose checkpoint was lost keeps its curve, but never "so far": it will not go on.
    _curve_run(tmp_path, "paper", "h-L3-s0-attempt1", 3, 100, finished=False)
    _curve_run(tmp_path, "paper", "h-L3-s0", 1, 100, finished=False)
    (tmp_path / "paper" / "h-L3-s0-attempt1" / training.STOPPED).write_text(
        json.dumps({"reason": "its checkpoint was lost", "epoch": 3, "batch": 10, "restarted_as": "h-L3-s0"}))
    curves = {c["run_id"]: c for c in training.load_curves(tmp_path)}
    stopped, running = curves["h-L3-s0-attempt1"], curves["h-L3-s0"]
    assert stopped["stopped"]["reason"] == "its checkpoint was lost" and running["stopped"] is None
    assert training.run_status(stopped) == "stopped after 3 of 100 epochs"
    assert training.run_status(running) == "1 of 100 epochs so far"
    text = training.curve_sentence(stopped)
    assert text.startswith("Test A F1 of `paper` h-L3-s0-attempt1 (stopped after 3 of 100 epochs): ")
    assert "best before it stopped 0.530 after epoch 3" in text and "so far" not in text
    # 101 + 102 + 103 s trained: both budgets lie past the stopped run's hours.
    table = training.budget_table([stopped, running], budgets_hours=(0.05, 1))
    assert table.rows[0][0] == "paper h-L3-s0-attempt1, stopped after 3 of 100 epochs"
    assert table.rows[0][2:] == ["0.510 (epoch 1)", "stopped before"]
    assert table.rows[1][2:] == ["not reached yet", "not reached yet"]  # 101 s trained so far
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the book builds with warnings as errors
        fig = training.convergence_figure(list(curves.values()))
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    dashed = lines["paper h-L3-s0-attempt1, stopped after 3 of 100 epochs"]
    assert dashed.get_linestyle() == "--" and lines["paper h-L3-s0, 1 of 100 epochs so far"].get_linestyle() == "-"


def test_a_finished_run_ignores_a_stale_stopped_note(tmp_path):
    _curve_run(tmp_path, "paper", "h-L3-s0", 3, 3, finished=True)
    (tmp_path / "paper" / "h-L3-s0" / training.STOPPED).write_text(json.dumps({"reason": "x"}))
    (curve,) = training.load_curves(tmp_path)
    assert curve["stopped"] is None and training.run_status(curve) == "finished"


def test_curve_sentence_of_a_single_point_claims_no_trend():
    text = training.curve_sentence(_curve([0.3], finished=False))
    assert text == ("Test A F1 of `p` r: 0.300 after epoch 1 (0.5 h), its only point. "
                    "It has not reached the paper's 0.846 so far: its best is 0.546 short.")


def _val_run(root, preset, run_id, val, planned, finished=False, keep=None, seconds=360.0):
    """A run folder whose history has a validation loss (``val``: one per finished epoch)."""
    _curve_run(root, preset, run_id, min(len(val), 3), planned, finished)
    run = root / preset / run_id
    rows = "epoch,seconds,loss,val_loss\n" + "".join(
        f"{e},{seconds},{-10 - e},{'' if v is None else v}\n" for e, v in enumerate(val, 1))
    (run / "history.csv").write_text(rows)
    if keep is not None:
        (run / "config.json").write_text(json.dumps({"preset": preset, "train": {"epochs": planned, "keep": keep}}))
    return run


def test_selected_epoch_is_the_first_lowest_loss_as_training_keeps_it():
    assert training.selected_epoch([-1.0, -3.0, -2.0, -3.0, -2.5]) == 2  # a tie does not replace it
    assert training.selected_epoch([float("nan"), -1.0, float("nan")]) == 2  # NaN never selects
    assert training.selected_epoch([-1.0, -3.0, -2.0], keep="last") == 3
    assert training.selected_epoch([]) is None and training.selected_epoch([], keep="last") is None
    assert training.selected_epoch([float("nan")]) is None
    with pytest.raises(ValueError, match="keep"):
        training.selected_epoch([1.0], keep="first")


def test_load_curves_says_which_epoch_the_record_scores(tmp_path):
    _val_run(tmp_path, "paper", "h-L3-s0", [-18.0, -21.3, -20.0, None, -19.5], 100)
    _val_run(tmp_path, "cpu-long", "h-L3-s0", [-5.0, -6.0, -7.0], 3, finished=True)
    _val_run(tmp_path, "workshop", "h-L3-s0", [-5.0, -6.0, -4.0], 3, finished=True, keep="last")
    curves = {c["preset"]: c for c in training.load_curves(tmp_path)}
    paper = curves["paper"]
    assert paper["monitor"] == "val_loss" and paper["keep"] == "best"
    assert paper["loss"] == [-11.0, -12.0, -13.0, -14.0, -15.0]
    assert paper["selected"] == {"epoch": 2, "value": -21.3, "hours": pytest.approx(0.2)}  # 2 x 360 s
    assert curves["cpu-long"]["selected"]["epoch"] == 3 and curves["workshop"]["selected"]["epoch"] == 3
    # without validation images training monitors the training loss
    _curve_run(tmp_path, "cpu", "h-L3-s0", 3, 3, finished=True)
    (cpu,) = [c for c in training.load_curves(tmp_path) if c["preset"] == "cpu"]
    assert cpu["monitor"] == "loss" and cpu["selected"]["epoch"] == 3 and cpu["selected"]["value"] == -3.0

    text = training.selection_sentence(paper)
    assert text == ("`paper` h-L3-s0 (5 of 100 epochs so far): the validation loss is lowest after epoch 2 "
                    "(-21.300, 0.2 h of training); after epoch 5 it is -19.500, 1.800 higher. Unless a later "
                    "epoch beats epoch 2, the record will score the network after it.")
    done = training.selection_sentence(curves["cpu-long"])
    assert done == ("`cpu-long` h-L3-s0 (finished): the validation loss is lowest after epoch 3 (-7.000, 0.3 h of "
                    "training). The record scores that network.")
    # A record that kept an earlier epoch than the last is set beside the last epoch's curve point.
    run = _val_run(tmp_path, "cpu-long", "h-L3-s1", [-5.0, -8.0, -7.0], 3, finished=True)
    rec = json.loads((run / "record.json").read_text())
    rec["metrics"] = {"testA": {"pooled": {"f1": 0.8125}}, "testB": {"pooled": {"f1": 0.7}}}
    (run / "record.json").write_text(json.dumps(rec))
    (s1,) = [c for c in training.load_curves(tmp_path) if c["run_id"] == "h-L3-s1"]
    assert s1["record_pooled"]["testA"]["f1"] == 0.8125
    assert training.selection_sentence(s1).endswith(  # the curve point after epoch 3: 0.53 and 0.43
        "after epoch 2 (-8.000, 0.2 h of training); after epoch 3 it is -7.000, 1.000 higher. The record scores "
        "that network (pooled F1 Test A 0.812, Test B 0.700); the last epoch's network, on the curve, scored "
        "Test A 0.530, Test B 0.430.")
    last = training.selection_sentence(curves["workshop"])
    assert "keeps the network after its last epoch (`keep='last'`), epoch 3. The record scores" in last
    (tmp_path / "paper" / "h-L3-s0" / training.STOPPED).write_text(json.dumps({"reason": "lost"}))
    (stopped,) = [c for c in training.load_curves(tmp_path) if c["preset"] == "paper"]
    assert training.selection_sentence(stopped).endswith("The run stopped for good and has no record.")


def test_a_run_without_a_finished_epoch_has_no_selection(tmp_path):
    run = _val_run(tmp_path, "paper", "h-L3-s0", [], 100)
    (run / "history.csv").write_text("")
    (curve,) = training.load_curves(tmp_path)
    assert curve["selected"] is None and curve["monitored"] == []
    assert training.selection_sentence(curve) == "`paper` h-L3-s0 (0 of 100 epochs so far): no epoch finished yet."
    assert training.validation_figure([curve]) is None


def test_validation_figure_marks_the_kept_epoch_and_the_convergence_figure_too(tmp_path):
    _val_run(tmp_path, "paper", "h-L3-s0", [-18.0, -21.3, -20.0, -19.5], 100)
    _val_run(tmp_path, "paper", "h-L3-s0-attempt1", [-17.0, -19.0, -20.0], 100)
    (tmp_path / "paper" / "h-L3-s0-attempt1" / training.STOPPED).write_text(json.dumps({"reason": "lost"}))
    curves = {c["run_id"]: c for c in training.load_curves(tmp_path)}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = training.validation_figure(list(curves.values()))
    ax = fig.axes[0]
    stars = [ln for ln in ax.get_lines() if ln.get_marker() == "*" and len(ln.get_xdata())]
    assert [(ln.get_xdata()[0], ln.get_ydata()[0]) for ln in stars] == [(2, -21.3)]  # not the stopped run's
    solid = [ln for ln in ax.get_lines() if ln.get_label().startswith("paper h-L3-s0,")]
    assert solid[0].get_ydata().tolist() == [-18.0, -21.3, -20.0, -19.5] and solid[0].get_linestyle() == "-"
    for x, where in (("epoch", 2), ("hours", 0.2)):
        fig = training.convergence_figure([curves["h-L3-s0"], curves["h-L3-s0-attempt1"]], x=x)
        for ax in fig.axes:
            vertical = [ln for ln in ax.get_lines() if ln.get_linestyle() == ":"]
            # only the running run's kept epoch: the stopped one will never be scored
            assert len(vertical) == 1 and vertical[0].get_xdata()[0] == pytest.approx(where)
