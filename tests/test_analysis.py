import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from glandseg import metrics, results, runner
from glandseg.report import analysis

# -- pooling pieces ------------------------------------------------------------------------


def _maps():
    """Two images: the docstring example of metrics (seg splits one gland) and a missed gland."""
    gt1 = np.zeros((5, 5), int)
    gt1[:, :4] = 1
    seg1 = np.zeros((5, 5), int)
    seg1[:, :2] = 1
    seg1[:, 2:] = 2
    gt2 = np.zeros((6, 6), int)
    gt2[1:4, 1:4] = 1
    gt2[4:, 4:] = 2
    seg2 = np.zeros((6, 6), int)
    seg2[1:4, 1:4] = 5
    return [seg1, seg2], [gt1, gt2]


def test_pooling_pieces_by_hand():
    segs, gts = _maps()
    p = analysis.pooling_pieces(segs[0], gts[0])
    # seg objects: 10 px (Dice 2*10/30 = 2/3), 15 px (Dice 2*10/35 = 4/7); gt: 20 px (Dice 2*10/30)
    assert (p["tp"], p["fp"], p["fn"]) == (0, 2, 1)
    assert p["seg_area_px"] == 25 and p["gt_area_px"] == 20
    assert p["seg_dice_x_area"] == pytest.approx(10 * 2 / 3 + 15 * 4 / 7)
    assert p["gt_dice_x_area"] == pytest.approx(20 * 2 / 3)
    # every Hausdorff distance here is 2 (metrics docstring): sums are 2 x area
    assert p["seg_hausdorff_x_area"] == pytest.approx(50.0)
    assert p["gt_hausdorff_x_area"] == pytest.approx(40.0)


def test_pooled_metric_matches_evaluate():
    segs, gts = _maps()
    rows = [analysis.pooling_pieces(s, g) for s, g in zip(segs, gts)]
    ref = metrics.evaluate(segs, gts)
    for m in ("f1", "precision", "recall", "object_dice", "object_hausdorff"):
        assert analysis.pooled_metric(rows, m) == pytest.approx(ref[m], rel=1e-12)


def test_pooled_metric_by_hand():
    rows = [{"tp": 3, "fp": 1, "fn": 0}, {"tp": 1, "fp": 0, "fn": 2}]
    assert analysis.pooled_metric(rows, "f1") == pytest.approx(8 / (8 + 1 + 2))
    assert analysis.pooled_metric(rows, "precision") == pytest.approx(4 / 5)
    assert analysis.pooled_metric(rows, "recall") == pytest.approx(4 / 6)
    assert analysis.pooled_metric([{"tp": 0, "fp": 0, "fn": 0}], "f1") == 1.0  # nothing on either side


def test_pooled_metric_needs_pieces_for_dice():
    with pytest.raises(ValueError, match="add_pooling_pieces"):
        analysis.pooled_metric([{"name": "a", "tp": 1, "fp": 0, "fn": 0}], "object_dice")
    with pytest.raises(ValueError, match="metric must be"):
        analysis.pooled_metric([{"tp": 1, "fp": 0, "fn": 0}], "dice")
    with pytest.raises(ValueError, match="no per-image rows"):
        analysis.pooled_metric([], "f1")


# -- bootstrap -----------------------------------------------------------------------------


def test_identical_images_give_a_zero_width_interval():
    rows = [{"tp": 3, "fp": 1, "fn": 2, "seg_area_px": 10, "gt_area_px": 12, "seg_dice_x_area": 7.0,
             "gt_dice_x_area": 6.0, "seg_hausdorff_x_area": 30.0, "gt_hausdorff_x_area": 24.0}] * 5
    assert analysis.bootstrap_ci(rows, "f1") == (6 / 9, 6 / 9, 6 / 9)
    # Dice 1/2 (7/10 + 6/12) = 0.6, Hausdorff 1/2 (3 + 2) = 2.5, in every resample
    assert analysis.bootstrap_ci(rows, "object_dice") == pytest.approx((0.6, 0.6, 0.6))
    assert analysis.bootstrap_ci(rows, "object_hausdorff") == pytest.approx((2.5, 2.5, 2.5))


def test_two_image_bootstrap_enumerated():
    # Resamples of {A, B}: AA (1/4) F1 = 1, BB (1/4) F1 = 0, AB or BA (1/2) F1 = 2/(2 + 1).
    rows = [{"tp": 1, "fp": 0, "fn": 0}, {"tp": 0, "fp": 0, "fn": 1}]
    ci = analysis.bootstrap_ci(rows, "f1", n_boot=4000)
    assert ci == (2 / 3, 0.0, 1.0)  # 2.5% and 97.5% quantiles fall in the 1/4 tails
    # the 40% interval (quantiles 0.3 and 0.7) lies inside the middle half
    assert analysis.bootstrap_ci(rows, "f1", n_boot=4000, level=0.4) == (2 / 3, 2 / 3, 2 / 3)


def test_infinite_hausdorff_only_where_drawn():
    finite = {"seg_area_px": 4, "gt_area_px": 4, "seg_dice_x_area": 4.0, "gt_dice_x_area": 4.0,
              "seg_hausdorff_x_area": 4.0, "gt_hausdorff_x_area": 4.0}
    missed = {"seg_area_px": 0, "gt_area_px": 4, "seg_dice_x_area": 0.0, "gt_dice_x_area": 0.0,
              "seg_hausdorff_x_area": 0.0, "gt_hausdorff_x_area": math.inf}
    ci = analysis.bootstrap_ci([finite, missed], "object_hausdorff", n_boot=400)
    assert ci.estimate == math.inf and ci.high == math.inf
    assert ci.low == 1.0  # resample {finite, finite}: 1/2 (4/4 + 4/4), no NaN from 0 x inf


def test_bootstrap_is_reproducible_and_checks_arguments():
    rows = [{"tp": k % 3, "fp": k % 2, "fn": 1} for k in range(10)]
    assert analysis.bootstrap_ci(rows, "f1", seed=3) == analysis.bootstrap_ci(rows, "f1", seed=3)
    with pytest.raises(ValueError, match="level"):
        analysis.bootstrap_ci(rows, "f1", level=95)
    with pytest.raises(ValueError, match="n_boot"):
        analysis.bootstrap_ci(rows, "f1", n_boot=0)


_row = st.fixed_dictionaries({"tp": st.integers(0, 20), "fp": st.integers(0, 20), "fn": st.integers(0, 20)})


@settings(max_examples=60, deadline=None)
@given(st.lists(_row, min_size=1, max_size=12), st.integers(0, 10))
def test_interval_contains_the_estimate(rows, seed):
    ci = analysis.bootstrap_ci(rows, "f1", n_boot=300, seed=seed)
    assert ci.low <= ci.estimate <= ci.high
    assert 0.0 <= ci.low <= ci.high <= 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(_row, min_size=1, max_size=12), st.randoms(use_true_random=False))
def test_image_order_changes_nothing(rows, rnd):
    named = [{"name": f"i{k}", **r} for k, r in enumerate(rows)]
    shuffled = named[:]
    rnd.shuffle(shuffled)
    a = analysis.bootstrap_mean_ci([named, shuffled], "f1", n_boot=200)
    b = analysis.bootstrap_ci(named, "f1", n_boot=200)
    assert a == b  # a run twice (in any row order) is the run once


@settings(max_examples=40, deadline=None)
@given(st.lists(_row, min_size=1, max_size=12))
def test_identical_configs_differ_by_an_interval_around_zero(rows):
    named = [{"name": f"i{k}", **r} for k, r in enumerate(rows)]
    d = analysis.bootstrap_difference([named], [list(reversed(named))], "f1", n_boot=200)
    assert d.low <= 0.0 <= d.high and d == (0.0, 0.0, 0.0)


def test_difference_is_paired_by_image():
    # b finds one more gland than a in every image: the pooled F1 difference has the same sign
    # in every resample, so the interval excludes 0.
    a = [{"name": f"i{k}", "tp": 2, "fp": 1, "fn": 2} for k in range(8)]
    b = [{"name": f"i{k}", "tp": 3, "fp": 1, "fn": 1} for k in range(8)]
    d = analysis.bootstrap_difference([b], [a], "f1", n_boot=300)
    assert d.estimate == pytest.approx(6 / 8 - 4 / 7) and d.low == d.high == d.estimate


def test_mean_over_seeds():
    a = [{"name": "x", "tp": 1, "fp": 0, "fn": 0}, {"name": "y", "tp": 1, "fp": 1, "fn": 0}]
    b = [{"name": "y", "tp": 0, "fp": 1, "fn": 1}, {"name": "x", "tp": 1, "fp": 0, "fn": 0}]
    ci = analysis.bootstrap_mean_ci([a, b], "f1")
    assert ci.estimate == pytest.approx((4 / 5 + 2 / 4) / 2)
    with pytest.raises(ValueError, match="different test images"):
        analysis.bootstrap_mean_ci([a, a[:1]], "f1")


# -- tables over records -------------------------------------------------------------------

_AXES = {name: runner.parse_config_name(name) for name in runner.PAPER_GRID + runner.ABLATIONS}


def test_config_order_is_the_paper_grid():
    assert analysis.CONFIG_ORDER[:6] == analysis.PAPER_CONFIGS == tuple(results.PAPER_TABLES["testA"])[:6]
    assert analysis.CONFIG_ORDER == tuple(results.config_label(a) for a in _AXES.values())


def _synthetic_record(name, seed, tps, preset="workshop", n_gt=4):
    """A record whose image k has tps[k] of n_gt glands found and no false positive."""
    axes = _AXES[name]
    per_image = []
    for k, tp in enumerate(tps):
        per_image.append({"name": f"testA_{k}", "grade": "benign" if k % 2 else "malignant",
                          "tp": tp, "fp": 0, "fn": n_gt - tp})
    pooled = {"f1": analysis.pooled_metric(per_image, "f1"), "object_dice": 0.8, "object_hausdorff": 50.0}
    per_grade = {}
    for g in ("benign", "malignant"):
        rows = [r for r in per_image if r["grade"] == g]
        per_grade[g] = {"n_images": len(rows), "f1": analysis.pooled_metric(rows, "f1"),
                        "object_dice": 0.8, "object_hausdorff": 50.0}
    split = {"pooled": pooled, "per_image": per_image, "per_grade": per_grade}
    return {"run_id": f"{name}-s{seed}", "preset": preset, "seed": seed,
            "config": {**axes, "preset": preset, "seed": seed}, "metrics": {"testA": split, "testB": split}}


def test_results_table_without_records_says_not_run_yet():
    rows = analysis.results_table([], "testA")
    assert [r["method"] for r in rows] == list(analysis.CONFIG_ORDER)
    for r in rows:
        assert r["runs"] == 0
        for m in results.METRICS:
            assert r[m] == r[f"{m}_ci"] == "not run yet"
    assert rows[2]["paper_f1"] == 0.846 and rows[0]["paper_object_hausdorff"] == 56.84
    assert rows[6]["paper_f1"] is None  # RGB: not in the paper's table
    assert analysis.results_table([], "testB")[0]["paper_object_hausdorff"] == 109.72


def test_results_table_with_two_seeds():
    recs = [_synthetic_record("h-L3", 0, [4, 2, 3, 4]), _synthetic_record("h-L3", 1, [3, 3, 3, 4])]
    rows = {r["method"]: r for r in analysis.results_table(recs, "testA", n_boot=200)}
    row = rows["H + L3"]
    assert row["runs"] == 2 and row["seeds"] == [0, 1] and row["preset"] == "workshop"
    # F1 = 2TP / (2TP + FN): seed 0 TP 13 of 16 -> 26/29, seed 1 TP 13 -> 26/29 as well
    assert row["f1"] == "0.897 ± 0.000"
    assert row["f1_interval"].estimate == pytest.approx(26 / 29)
    assert row["f1_ci"].startswith("[") and row["object_dice_ci"] == "n/a"  # no pieces
    assert rows["H + L1"]["f1"] == "not run yet"


def test_tables_refuse_mixed_presets():
    recs = [_synthetic_record("h-L3", 0, [4, 4]), _synthetic_record("h-L3", 0, [4, 4], preset="cpu")]
    with pytest.raises(ValueError, match="several presets"):
        analysis.results_table(recs, "testA")
    assert analysis.results_table(recs, "testA", preset="cpu")[2]["runs"] == 1
    assert analysis.presets(recs) == ["cpu", "workshop"]


def test_grade_table():
    recs = [_synthetic_record("h-L1", 0, [4, 2, 4, 2])]
    rows = analysis.grade_table(recs, "testA", n_boot=100)
    assert [(r["method"], r["grade"]) for r in rows] == [("H + L1", "benign"), ("H + L1", "malignant")]
    benign, malignant = rows
    assert benign["n_images"] == 2 and benign["f1"] == "0.667"  # TP 4 of 8: 8 / 12
    assert malignant["f1_interval"] == (1.0, 1.0, 1.0)
    assert benign["object_dice_interval"] is None


# -- claims --------------------------------------------------------------------------------


def test_claims_without_records_are_not_run_yet():
    out = analysis.claims([])
    assert [c["verdict"] for c in out] == ["not run yet"] * len(out)
    texts = [c["claim"] for c in out]
    # the paper's Table 1: unsharp masking raises F1 with L1 and L2, lowers it with L3
    assert texts[1:4] == ["Unsharp masking helps with L1", "Unsharp masking helps with L2", "Unsharp masking hurts with L3"]
    l3 = out[3]["comparisons"][0]
    assert l3["paper_difference"] == pytest.approx(0.773 - 0.846)


def test_claims_verdicts():
    good, bad = [4, 4, 3, 4, 4, 3], [2, 1, 2, 2, 1, 2]
    recs = [
        _synthetic_record("h-L3", 0, good),
        _synthetic_record("rgb-L3", 0, bad),  # H clearly better: holds
        _synthetic_record("h-usm-L3", 0, good),  # identical to h-L3: inconclusive
        _synthetic_record("h-usm-L2", 0, good),
        _synthetic_record("h-L2", 0, bad),  # unsharp helps with L2: holds
        _synthetic_record("h-L1", 0, good),
        _synthetic_record("h-usm-L1", 0, bad),  # paper: helps with L1; here it hurts
        _synthetic_record("h-L3-nods", 1, good),  # other seed: unpaired, all runs used
    ]
    out = {c["claim"]: c for c in analysis.claims(recs, n_boot=300)}
    assert out["The hematoxylin channel is a better input than RGB"]["verdict"] == "holds"
    assert out["Unsharp masking hurts with L3"]["verdict"] == "inconclusive"
    assert out["Unsharp masking helps with L2"]["verdict"] == "holds"
    assert out["Unsharp masking helps with L1"]["verdict"] == "does not hold"
    best = out["L3 is the best loss without unsharp masking"]
    assert [c["verdict"] for c in best["comparisons"]] == ["inconclusive", "holds"]
    assert best["verdict"] == "inconclusive"
    ds = out["Deep supervision helps"]["comparisons"][0]
    assert ds["paired_seeds"] is False and ds["seeds"] == [0, 1] and ds["verdict"] == "inconclusive"
    assert set(c["verdict"] for c in out.values()) <= set(analysis.VERDICTS)


def test_claims_with_hausdorff_count_smaller_as_better():
    out = analysis.claims([], metric="object_hausdorff")
    assert out[0]["comparisons"][0]["expected"] == "a < b"


# -- worked example ------------------------------------------------------------------------


def test_object_table_sums_to_the_metrics():
    segs, gts = _maps()
    for seg, gt in zip(segs, gts):
        rows = analysis.object_table(seg, gt)
        for key, fn in (("dice", metrics.object_dice), ("hausdorff", metrics.object_hausdorff)):
            total = sum(r["weight"] * r[key] for r in rows) / 2
            assert total == pytest.approx(fn(seg, gt))
        tp = sum(r.get("tp", False) for r in rows)
        assert tp == metrics.f1_counts(seg, gt)[0]
    rows = analysis.object_table(segs[1], gts[1])
    assert rows[0] == {"side": "seg", "label": 5, "area_px": 9, "partner": 1, "overlap_px": 9, "weight": 1.0,
                       "dice": 1.0, "hausdorff": 0.0, "tp": True}
    assert rows[2]["partner"] is None and rows[2]["dice"] == 0.0  # the missed 2x2 gland


def test_add_pooling_pieces_from_saved_predictions(tmp_path):
    from glandseg.config import preset_config

    config = preset_config("smoke", seed=0)
    run_dir = tmp_path / "smoke" / "h-L3-s0"
    (run_dir / "pred").mkdir(parents=True)
    split_metrics, original = {}, {}
    for split in runner.TEST_SPLITS:
        samples = runner.load_samples(config, split)
        for k, s in enumerate(samples):
            seg = s.labels if k else np.zeros_like(s.labels)  # the first image: nothing found
            runner._save_label_png(runner.prediction_path(run_dir, s.name), seg)
        segs = [np.zeros_like(s.labels)] + [s.labels for s in samples[1:]]
        split_metrics[split] = runner._evaluate_split(samples, run_dir / "pred")
        expected = metrics.evaluate(segs, [s.labels for s in samples])
        assert split_metrics[split]["pooled"]["object_dice"] == pytest.approx(expected["object_dice"])
        # a record from before evaluate wrote the pooling sums: strip them
        original[split] = split_metrics[split]["per_image"]
        split_metrics[split] = {
            **split_metrics[split],
            "per_image": [{k: v for k, v in row.items() if k not in metrics.POOLING_KEYS} for row in original[split]],
        }
    record = {"run_id": run_dir.name, "preset": "smoke", "seed": 0, "config": {**config.to_dict()},
              "metrics": split_metrics}
    results.write_json_atomic(run_dir / "record.json", record)
    (loaded,) = results.load_records(tmp_path)
    (done,) = analysis.add_pooling_pieces([loaded])
    assert done["_pieces"] is True and "seg_area_px" not in loaded["metrics"]["testA"]["per_image"][0]
    for split in runner.TEST_SPLITS:
        rows, pooled = done["metrics"][split]["per_image"], split_metrics[split]["pooled"]
        assert [
            {k: row[k] for k in metrics.POOLING_KEYS} for row in rows
        ] == [{k: row[k] for k in metrics.POOLING_KEYS} for row in original[split]]
        for m in ("f1", "object_dice", "object_hausdorff"):
            assert analysis.pooled_metric(rows, m) == pytest.approx(pooled[m], rel=1e-12)
    (missing,) = analysis.add_pooling_pieces([{**loaded, "_path": str(tmp_path / "elsewhere" / "record.json")}])
    assert missing["_pieces"].startswith("FileNotFoundError") and missing["metrics"] == loaded["metrics"]


def test_best_run_protocols_and_protocol_differences():
    recs = [_synthetic_record("h-L1", 0, [4, 4, 3]), _synthetic_record("h-L2", 0, [2, 2, 3])]
    assert analysis.best_run(recs)["run_id"] == "h-L1-s0"
    assert analysis.best_run([]) is None
    # an ablation that scores higher is not the best configuration, unless asked for
    ablated = recs + [_synthetic_record("h-L3-nods", 0, [4, 4, 4])]
    assert analysis.best_run(ablated)["run_id"] == "h-L1-s0"
    assert analysis.best_run(ablated, among=analysis.CONFIG_ORDER)["run_id"] == "h-L3-nods-s0"
    assert analysis.best_run(ablated[2:]) is None
    from glandseg.config import preset_config

    rec = {"preset": "workshop", "config": preset_config("workshop").to_dict(), "training": {"seconds": 5.0}}
    p = analysis.protocol(rec)
    assert p["size"] == "288x192" and p["crop"] == "160x128" and p["seconds"] == 5.0
    slow = {**rec, "training": {"seconds": 20.0}}
    two_epochs = preset_config("workshop").to_dict()
    two_epochs["train"]["epochs"] = 2
    changed = {**rec, "config": two_epochs, "training": {"seconds": 8.0}}
    ps = analysis.protocols([rec, slow, changed])
    assert list(ps) == ["paper (as published)", "workshop (ours)"] and ps["paper (as published)"]["size"] == "832x576"
    w = ps["workshop (ours)"]
    assert w["runs"] == 3 and w["seconds"] == 8.0 and w["seconds_range"] == (5.0, 20.0)
    assert w["epochs"] == "varies: 4, 2" and w["size"] == "288x192"
    rows = {r["field"]: r for r in analysis.protocol_differences([rec, changed])}
    assert rows["train.learning_rate"] == {"field": "train.learning_rate", "paper": 1e-3,
                                           "workshop": preset_config("workshop").train.learning_rate}
    assert rows["train.epochs"]["workshop"] == "varies: 4, 2" and rows["preprocess.size"]["workshop"] == (288, 192)
    # settings the workshop shares with the paper, and the grid fields, are not listed
    assert "train.batch_size" not in rows and "train.loss" not in rows and "seed" not in rows
    assert analysis.protocol_differences([]) == []
    # a record made before a field existed ran with its default: no difference to list
    old = preset_config("workshop").to_dict()
    del old["train"]["keep"]
    assert "train.keep" not in {r["field"] for r in analysis.protocol_differences([{**rec, "config": old}])}
    last = preset_config("workshop").to_dict()
    last["train"]["keep"] = "last"
    keep = {r["field"]: r for r in analysis.protocol_differences([{**rec, "config": old}, {**rec, "config": last}])}
    assert keep["train.keep"]["workshop"] == "varies: best, last"


def test_add_pooling_pieces_passes_through_records_that_have_them():
    # a record whose rows carry the sums needs neither its predictions nor the data
    rows = [{"name": "a", "tp": 1, "fp": 0, "fn": 0, **{k: 1.0 for k in metrics.POOLING_KEYS}}]
    rec = {"run_id": "h-L3-s0", "_path": "/nonexistent/record.json", "metrics": {"testA": {"per_image": rows}}}
    (out,) = analysis.add_pooling_pieces([rec])
    assert out["_pieces"] is True and out["metrics"] is rec["metrics"]


def test_run_progress_counts_runs_and_hours():
    def timed(name, seed, start, end, preset="cpu"):
        rec = _synthetic_record(name, seed, [4, 4], preset=preset)
        rec["provenance"] = {"started_utc": start, "finished_utc": end}
        return rec

    recs = [
        timed("h-L3", 0, "2026-11-26T01:00:00Z", "2026-11-26T02:00:00Z"),
        timed("h-L3", 1, "2026-11-26T23:30:00Z", "2026-11-27T00:15:00Z"),  # over midnight: 0.75 h
        timed("rgb-L3", 5, "2026-11-26T03:00:00Z", "2026-11-26T03:30:00Z"),  # a seed outside the plan
        timed("h-L1", 0, "2026-11-26T00:00:00Z", "2026-11-26T09:00:00Z", preset="workshop"),  # other preset
    ]
    # epoch times (which add up over resumes) win over the last invocation's start and finish
    resumed = _synthetic_record("h-usm-L2", 2, [4, 4], preset="cpu")
    resumed["training"] = {"seconds": 3000.0, "predict_seconds": {"testA": 500.0, "testB": 100.0}}
    resumed["provenance"] = {"started_utc": "2026-11-26T01:00:00Z", "finished_utc": "2026-11-26T01:10:00Z"}
    recs.append(resumed)
    untimed = _synthetic_record("h-usm-L3", 0, [4, 4], preset="cpu")
    untimed["provenance"] = {}
    recs.append(untimed)
    out = analysis.run_progress(recs, "cpu")
    assert out["planned"] == 24 and out["done"] == 5 and out["seeds"] == [0, 1, 2, 5]
    assert out["hours"] == pytest.approx(1.0 + 0.75 + 0.5 + 1.0)
    rows = {r["method"]: r for r in out["rows"]}
    assert list(rows) == list(analysis.CONFIG_ORDER)
    assert rows["H + L3"]["hours"] == pytest.approx({0: 1.0, 1: 0.75}) and rows["H + L3"]["missing"] == [2]
    assert rows["RGB + L3"]["missing"] == [0, 1, 2] and rows["RGB + L3"]["hours"] == pytest.approx({5: 0.5})
    assert rows["H + unsharp + L2"]["hours"] == pytest.approx({2: 1.0})
    assert rows["H + unsharp + L3"]["hours"] == {0: None} and rows["H + unsharp + L3"]["missing"] == [1, 2]
    assert rows["H + L1"] == {"method": "H + L1", "hours": {}, "missing": [0, 1, 2]}
    empty = analysis.run_progress([], "cpu", seeds=(0,))
    assert empty["done"] == 0 and empty["planned"] == 8 and empty["hours"] == 0.0
    # A long protocol plans the paper's best configuration once; other runs still show.
    long = [timed("h-L3", 0, "2026-11-26T00:00:00Z", "2026-11-26T09:00:00Z", preset="paper"),
            timed("h-L1", 2, "2026-11-27T00:00:00Z", "2026-11-27T09:00:00Z", preset="paper")]
    out = analysis.run_progress(long, "paper")
    assert (out["planned"], out["done"], out["seeds"]) == (1, 2, [0, 2])
    assert [(r["method"], r["missing"]) for r in out["rows"]] == [("H + L3", []), ("H + L1", [])]
    assert analysis.run_progress([], "paper")["rows"] == [{"method": "H + L3", "hours": {}, "missing": [0]}]
    out = analysis.run_progress(long, "paper", seeds=(0, 1), configs=("H + L1", "H + L3"))
    assert out["planned"] == 4 and [r["missing"] for r in out["rows"]] == [[0, 1], [1]]


def _two_part_record(name, seed, tp_a, tp_b, n_images=(6, 4), n_gt=4, hausdorff=(50.0, 80.0)):
    """Every image of a part alike (so intervals have zero width): tp_a / tp_b of n_gt glands found."""
    def part(prefix, tp, n, h):
        return {"per_image": [{"name": f"{prefix}_{k}", "tp": tp, "fp": 0, "fn": n_gt - tp,
                               "seg_area_px": 100.0, "gt_area_px": 100.0, "seg_dice_x_area": 80.0,
                               "gt_dice_x_area": 80.0, "seg_hausdorff_x_area": 100.0 * h,
                               "gt_hausdorff_x_area": 100.0 * h} for k in range(n)]}
    metrics_ = {"testA": part("testA", tp_a, n_images[0], hausdorff[0]), "testB": part("testB", tp_b, n_images[1], hausdorff[1])}
    for split in metrics_.values():
        split["pooled"] = {m: analysis.pooled_metric(split["per_image"], m) for m in results.METRICS}
    return {"run_id": f"{name}-s{seed}", "preset": "cpu", "seed": seed,
            "config": {**_AXES[name], "preset": "cpu", "seed": seed}, "metrics": metrics_}


def test_split_contrast_by_hand():
    # F1 of an image with tp of 4 found and no false positive: 2tp / (2tp + 4 - tp)
    f1 = {4: 1.0, 3: 6 / 7, 2: 4 / 6}
    recs = [_two_part_record("h-L1", 0, 4, 3), _two_part_record("h-L1", 1, 4, 3),
            _two_part_record("h-L2", 0, 2, 3)]
    out = analysis.split_contrast(recs, n_boot=200)
    harder = {h["method"]: h for h in out["harder"]}
    assert list(harder) == ["H + L1", "H + L2"]
    assert harder["H + L1"]["difference"] == pytest.approx((f1[4] - f1[3],) * 3)
    assert harder["H + L1"]["verdict"] == "holds" and harder["H + L2"]["verdict"] == "does not hold"
    assert harder["H + L1"]["paper_difference"] == pytest.approx(0.812 - 0.73)
    assert out["harder_verdict"] == "does not hold"
    closer = out["closer"]
    assert closer["methods"] == ["H + L1", "H + L2"]
    assert closer["spread_a"] == pytest.approx(f1[4] - f1[2]) and closer["spread_b"] == pytest.approx(0.0)
    assert closer["difference"] == pytest.approx((f1[4] - f1[2],) * 3) and closer["verdict"] == "holds"
    # the paper's six: Test A spans 0.773..0.846, Test B 0.695..0.752
    assert closer["paper_difference"] == pytest.approx((0.846 - 0.773) - (0.752 - 0.695))
    # Hausdorff: larger is worse, so Test A (50 px) being better than Test B (80 px) holds
    haus = analysis.split_contrast(recs, metric="object_hausdorff", n_boot=50)
    assert haus["harder"][0]["difference"] == pytest.approx((-30.0,) * 3) and haus["harder_verdict"] == "holds"


def test_split_contrast_with_one_or_no_configuration():
    empty = analysis.split_contrast([])
    assert empty["harder"] == [] and empty["harder_verdict"] == "not run yet" and empty["closer"]["verdict"] == "not run yet"
    one = analysis.split_contrast([_two_part_record("h-L3", 0, 4, 2)], n_boot=50)
    assert one["harder_verdict"] == "holds" and one["closer"]["difference"] is None
    assert one["closer"]["verdict"] == "not run yet"
    with pytest.raises(ValueError, match="metric"):
        analysis.split_contrast([], metric="dice")


def test_split_contrast_resamples_parts_independently():
    # images differ, so intervals have width; the A - B interval must contain its estimate and
    # the same seed must give the same result
    rec = _two_part_record("h-L3", 0, 4, 2)
    for k, row in enumerate(rec["metrics"]["testA"]["per_image"]):
        row["tp"], row["fn"] = k % 5, 4 - k % 5
    a = analysis.split_contrast([rec], n_boot=300, seed=4)
    d = a["harder"][0]["difference"]
    assert d.low <= d.estimate <= d.high and d.low < d.high
    assert analysis.split_contrast([rec], n_boot=300, seed=4) == a


def _valued(name, seed, testa, testb=0.5, metric="f1"):
    """A record whose pooled ``metric`` is ``testa`` on Test A and ``testb`` on Test B."""
    rec = _synthetic_record(name, seed, [4, 4])
    rec["metrics"] = {split: {"pooled": {metric: value}, "per_image": []} for split, value in (("testA", testa), ("testB", testb))}
    return rec


def test_seed_effects_by_hand():
    # configurations 0.1 apart per loss, seeds 0.1 apart, no interaction
    values = {"h-L1": (0.1, 0.2), "h-L2": (0.3, 0.4), "h-L3": (0.5, 0.6)}
    recs = [_valued(name, s, v[s]) for name, v in values.items() for s in (1, 0)]
    e = analysis.seed_effects(recs)
    assert e["methods"] == ["H + L1", "H + L2", "H + L3"] and e["seeds"] == [0, 1]
    np.testing.assert_allclose(e["values"], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    # grand mean 0.35; configuration means 0.15, 0.35, 0.55; seed means 0.3, 0.4
    assert e["grand_mean"] == pytest.approx(0.35)
    assert e["config_means"]["H + L3"] == pytest.approx(0.55) and e["seed_means"][0] == pytest.approx(0.3)
    assert e["ss"]["configuration"] == pytest.approx(2 * (0.2**2 + 0 + 0.2**2))
    assert e["ss"]["seed"] == pytest.approx(3 * (0.05**2 + 0.05**2))
    assert e["ss"]["residual"] == pytest.approx(0, abs=1e-15)
    assert e["df"] == {"configuration": 2, "seed": 1, "residual": 2}
    assert e["share"]["seed"] == pytest.approx(0.015 / 0.175)
    assert e["same_order"] == 3
    # an interaction: seed 1 helps H + L3 less than the others (residual df 2)
    recs[-2] = _valued("h-L3", 1, 0.5)  # seed 1 of h-L3 equals its seed 0: a tie is not the same order
    e = analysis.seed_effects(recs)
    assert e["same_order"] == 2
    x = e["values"]
    resid = x - x.mean(1, keepdims=True) - x.mean(0, keepdims=True) + x.mean()
    ms_seed, ms_res = e["ss"]["seed"] / 1, float(np.sum(resid**2)) / 2
    assert e["f"]["seed"] == pytest.approx(ms_seed / ms_res)
    from scipy import stats

    assert e["p"]["seed"] == pytest.approx(stats.f.sf(ms_seed / ms_res, 1, 2))


def test_seed_effects_block_and_missing():
    recs = ([_valued("h-L1", s, 0.7 + s / 100) for s in (0, 1, 2)] + [_valued("h-L2", s, 0.6) for s in (0, 1)]
            + [_valued("h-L3", 0, 0.8)] + [_valued("h-usm-L1", s, 0.65 + s / 50) for s in (2, 0, 1)])
    # 2 configurations x 3 seeds and 3 x 2 hold 6 runs each: the block with more seeds wins
    e = analysis.seed_effects(recs)
    assert e["methods"] == ["H + L1", "H + unsharp + L1"] and e["seeds"] == [0, 1, 2]
    assert e["values"].shape == (2, 3) and e["values"][1, 2] == pytest.approx(0.69)
    # a non-finite figure leaves its run out, and then 3 configurations x 2 seeds is the block
    haus = [_valued(r["run_id"].rsplit("-s", 1)[0], r["seed"], r["metrics"]["testA"]["pooled"]["f1"], metric="object_hausdorff")
            for r in recs]
    haus[2]["metrics"]["testA"]["pooled"]["object_hausdorff"] = math.inf
    e = analysis.seed_effects(haus, metric="object_hausdorff")
    assert e["methods"] == ["H + L1", "H + L2", "H + unsharp + L1"] and e["seeds"] == [0, 1]
    # no complete block of two configurations x two seeds
    for few in ([], recs[:3], [recs[0], recs[3]]):
        e = analysis.seed_effects(few)
        assert e["methods"] == [] and e["values"] is None and e["share"] is None
    # every Test B figure is 0.5: nothing to share out
    flat = analysis.seed_effects(recs, "testB")
    assert flat["ss"]["seed"] == 0 and flat["same_order"] == 0 and all(math.isnan(v) for v in [*flat["share"].values(), *flat["p"].values()])
    with pytest.raises(ValueError, match="metric must be one of"):
        analysis.seed_effects(recs, metric="accuracy")


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(2, 3), st.randoms(use_true_random=False))
def test_seed_effects_matches_least_squares(n_c, n_s, rnd):
    names = list(_AXES)[:n_c]
    x = np.array([[rnd.uniform(0.4, 0.9) for _ in range(n_s)] for _ in range(n_c)])
    recs = [_valued(name, s, x[i, s]) for i, name in enumerate(names) for s in range(n_s)]
    total = float(np.sum((x - x.mean()) ** 2))
    assume(total > 1e-9)
    e = analysis.seed_effects(recs)
    np.testing.assert_allclose(e["values"], x)
    # the additive model fitted by least squares on dummy columns gives the residual sum of squares
    design = np.hstack([np.kron(np.eye(n_c), np.ones((n_s, 1))), np.kron(np.ones((n_c, 1)), np.eye(n_s))])
    coef, *_ = np.linalg.lstsq(design, x.ravel(), rcond=None)
    rss = float(np.sum((x.ravel() - design @ coef) ** 2))
    assert e["ss"]["residual"] == pytest.approx(rss, abs=1e-12)
    assert sum(e["ss"].values()) == pytest.approx(total, abs=1e-12)
    assert sum(e["share"].values()) == pytest.approx(1.0)
    assert sum(e["df"].values()) == n_c * n_s - 1
    assert 0 <= e["same_order"] <= n_c


def test_against_others_places_the_paper_methods_around_our_interval():
    # our best (H + L1, Test A F1 6/7 = 0.857 on every image) against Rezaei 0.83, CUMedVision1 0.868, DCAN 0.912
    recs = [_two_part_record("h-L1", 0, 3, 3), _two_part_record("h-L2", 0, 2, 2)]
    out = analysis.against_others(recs, "testA", n_boot=100)
    assert out["method"] == "H + L1" and out["paper_ours"] == 0.812
    assert out["ours"] == pytest.approx((6 / 7,) * 3)
    pos = {o["method"]: o["position"] for o in out["others"]}
    assert pos == {"Rezaei et al.": "worse than ours", "CUMedVision1": "better than ours",
                   "CUMedVision2 (DCAN)": "better than ours"}
    # Hausdorff on Test B: ours 80 px on every image; 108.2, 153.6 and 160.3 px are all worse
    haus = analysis.against_others(recs, "testB", metric="object_hausdorff", n_boot=100)
    assert {o["position"] for o in haus["others"]} == {"worse than ours"}
    # on Test A ours is 50 px: DCAN's 45.4 is better, Rezaei's 56.6 and CUMedVision1's 74.6 worse
    haus_a = {o["method"]: o["position"] for o in analysis.against_others(recs, "testA", metric="object_hausdorff", n_boot=100)["others"]}
    assert haus_a == {"Rezaei et al.": "worse than ours", "CUMedVision1": "worse than ours",
                      "CUMedVision2 (DCAN)": "better than ours"}
    none = analysis.against_others([], "testA")
    assert none["method"] is None and {o["position"] for o in none["others"]} == {"not run yet"}
    with pytest.raises(ValueError, match="split"):
        analysis.against_others([], "train")


# -- what became of the glands ---------------------------------------------------------------


def test_object_errors_by_hand():
    gt = np.zeros((10, 20), int)
    gt[0:4, 0:4] = 1     # found by one object
    gt[0:4, 6:10] = 2    # cut in two halves of 8 px: neither covers more than half
    gt[6:10, 0:4] = 3    # never touched
    gt[6:10, 6:12] = 4   # 24 px, and 5 (8 px) beside it: one object covers both
    gt[6:10, 12:14] = 5
    seg = np.zeros_like(gt)
    seg[0:4, 0:4] = 1
    seg[0:4, 6:8], seg[0:4, 8:10] = 2, 3
    seg[6:10, 6:14] = 4
    seg[0:2, 16:18] = 5  # on background only
    out = analysis.object_errors(seg, gt)
    assert out == {"found": 2, "merged": 1, "partly found": 1, "missed": 1,
                   "true positive": 2, "off target": 2, "spurious": 1}
    assert analysis.object_errors(np.zeros((3, 3), int), np.zeros((3, 3), int)) == dict.fromkeys(out, 0)


@st.composite
def _label_pairs(draw, max_side=12, max_label=5):
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    cells = st.lists(st.integers(0, max_label), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])
    return (np.array(draw(cells)).reshape(shape), np.array(draw(cells)).reshape(shape))


@settings(max_examples=150, deadline=None)
@given(_label_pairs())
def test_object_errors_add_up_to_the_challenge_counts(pair):
    seg, gt = pair
    out = analysis.object_errors(seg, gt)
    counts = metrics.evaluate([seg], [gt])
    assert out["found"] == out["true positive"] == counts["tp"]
    assert out["merged"] + out["partly found"] + out["missed"] == counts["fn"]
    assert out["off target"] + out["spurious"] == counts["fp"]
    assert sum(out[k] for k in analysis.GLAND_FATES) == len(np.unique(gt[gt > 0]))
    # a gland is missed exactly when no segmented pixel lies on it
    assert out["missed"] == sum(not seg[gt == g].any() for g in np.unique(gt[gt > 0]))
    assert out["spurious"] == sum(not gt[seg == s].any() for s in np.unique(seg[seg > 0]))


def test_error_table_from_saved_predictions(tmp_path):
    from glandseg.config import preset_config

    # synthetic test images depend on the seed; both runs use seed 0's, as GlaS runs share theirs
    config = preset_config("smoke", seed=0)
    grid = {"input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": True}
    for seed in (0, 1):
        run_dir = tmp_path / "smoke" / f"h-L3-s{seed}"
        (run_dir / "pred").mkdir(parents=True)
        samples = runner.load_samples(config, "testA")
        for k, s in enumerate(samples):
            # seed 0 finds every gland; seed 1 misses every gland of its first image
            seg = np.zeros_like(s.labels) if (seed and k == 0) else s.labels
            runner._save_label_png(runner.prediction_path(run_dir, s.name), seg)
        rows = [{"name": s.name} for s in samples]
        record = {"run_id": run_dir.name, "preset": "smoke", "seed": seed, "config": {**grid, **config.to_dict()},
                  "metrics": {"testA": {"pooled": {}, "per_image": rows}}}
        results.write_json_atomic(run_dir / "record.json", record)
    samples = runner.load_samples(config, "testA")
    n_gt = sum(len(np.unique(s.labels[s.labels > 0])) for s in samples)
    first = len(np.unique(samples[0].labels[samples[0].labels > 0]))
    assert first > 0
    (row,) = analysis.error_table(results.load_records(tmp_path), "testA")
    assert row["method"] == "H + L3" and row["runs"] == 2 and row["n_gt"] == n_gt and row["missing"] == []
    assert row["found"] == pytest.approx(n_gt - first / 2) and row["missed"] == pytest.approx(first / 2)
    assert row["spurious"] == row["off target"] == 0
    # a run without its predictions is named and left out
    (tmp_path / "smoke" / "h-L3-s1" / "pred" / f"{samples[0].name}_labels.png").unlink()
    (row,) = analysis.error_table(results.load_records(tmp_path), "testA")
    assert row["runs"] == 1 and row["missing"] == ["h-L3-s1"] and row["found"] == n_gt


def test_error_table_needs_the_ground_truth(tmp_path):
    from glandseg.config import preset_config

    config = preset_config("cpu", seed=0)
    grid = {"input": "hematoxylin", "unsharp": False, "loss": "L3", "deep_supervision": True}
    record = {"run_id": "h-L3-s0", "preset": "cpu", "seed": 0, "config": {**grid, **config.to_dict()},
              "metrics": {"testA": {"pooled": {}, "per_image": [{"name": "testA_1"}]}}}
    results.write_json_atomic(tmp_path / "cpu" / "h-L3-s0" / "record.json", record)
    # missing data is not a missing prediction: it stops the table instead of emptying it
    with pytest.raises(FileNotFoundError):
        analysis.error_table(results.load_records(tmp_path), "testA", root=tmp_path / "no-glas")


def test_verdict_gives_each_presets_best_and_the_claims_of_the_main_preset():
    from glandseg.report import results_figures

    recs = [_synthetic_record("h-L3", 0, [4, 2, 3, 4]), _synthetic_record("h-L3", 1, [3, 3, 3, 4]),
            _synthetic_record("h-L1", 0, [1, 1, 1, 1]),
            _synthetic_record("h-L3", 0, [4, 4, 4, 4], preset="paper")]
    for r in recs:
        r["training"] = {"precision": "mixed_bfloat16"}
    out = analysis.verdict(recs, n_boot=200)
    assert out["main_preset"] == "workshop"  # the preset with the most runs
    rows = {r["preset"]: r for r in out["rows"]}
    assert rows["paper (printed)"]["testA"]["f1"] == 0.846 and rows["paper (printed)"]["runs"] is None
    assert rows["workshop"]["method"] == "H + L3" and rows["workshop"]["runs"] == 2
    assert rows["workshop"]["testA"]["f1"] == pytest.approx(26 / 29)  # both seeds: TP 13, FN 3
    assert rows["paper"]["runs"] == 1 and rows["paper"]["testA"]["f1"] == 1.0
    assert rows["paper"]["precision"] == ["mixed_bfloat16"]
    claims = dict(out["claims"])
    assert claims["L3 is the best loss without unsharp masking"] == analysis.NOT_RUN  # no H + L2 run
    text = results_figures.verdict_markdown(out)
    assert "| workshop (2 runs, mixed_bfloat16) | H + L3 | 0.897 / 0.800 / 50.0 |" in text
    assert "not run yet" in text
    # A run still training gets a row only where its preset has no record yet.
    under_way = [{"preset": "paper", "method": "H + L3", "status": "3 of 100 epochs so far"},
                 {"preset": "cpu-long", "method": "H + L1", "status": "5 of 32 epochs so far"}]
    lines = results_figures.verdict_markdown(out, under_way).splitlines()
    assert "| cpu-long (training: 5 of 32 epochs so far) | H + L1 | not run yet | not run yet |" in lines
    assert not any(line.startswith("| paper (training") for line in lines)
    assert lines.index("| cpu-long (training: 5 of 32 epochs so far) | H + L1 | not run yet | not run yet |") == 5
    # The paper's protocol comes first after the printed row, whether recorded or under way.
    assert lines[3].startswith("| paper (1 run") and lines[4].startswith("| workshop")
    recs_without_paper = [r for r in recs if r["preset"] != "paper"]
    lines = results_figures.verdict_markdown(analysis.verdict(recs_without_paper, n_boot=50), under_way).splitlines()
    assert lines[3] == "| paper (training: 3 of 100 epochs so far) | H + L3 | not run yet | not run yet |"
    assert lines[4].startswith("| workshop") and lines[5].startswith("| cpu-long (training")


def test_verdict_without_records():
    from glandseg.report import results_figures

    out = analysis.verdict([])
    assert len(out["rows"]) == 1 and out["claims"] == [] and out["main_preset"] is None
    text = results_figures.verdict_markdown(out)
    assert "| ours | not run yet |" in text and "claims: not run yet" in text
    text = results_figures.verdict_markdown(out, [{"preset": "paper", "method": "H + L3", "status": "1 of 100 epochs so far"}])
    assert "| ours |" not in text and "| paper (training: 1 of 100 epochs so far) | H + L3 | not run yet |" in text
    assert "| paper (printed) | H + L3 | 0.846 / 0.874 / 55.1 | 0.739 / 0.816 / 119.0 |" in text
