import json

import numpy as np
import pytest

from glandseg import cli
from glandseg.report import ceiling
from glandseg.config import PostprocessConfig
from glandseg.data import Sample

KEEP_ALL = PostprocessConfig(min_size_px=1, hole_size_px=0)


def _sample(labels, name="x", grade=None):
    labels = np.asarray(labels, np.int32)
    return Sample(name, np.zeros((*labels.shape, 3), np.uint8), labels, grade)


def test_separate_glands_score_perfectly():
    labels = np.zeros((12, 20), int)
    labels[2:6, 2:8] = 1
    labels[7:11, 10:18] = 2
    r = ceiling.perfect_map_scores([_sample(labels)], config=KEEP_ALL)
    assert (r["tp"], r["fp"], r["fn"]) == (2, 0, 0)
    assert r["f1"] == 1.0 and r["object_dice"] == 1.0 and r["object_hausdorff"] == 0.0


def test_touching_glands_merge_by_hand():
    # glands of 12 and 4 px sharing an edge: one component of 16 px, a TP for the larger
    labels = np.zeros((6, 8), int)
    labels[1:5, 1:4] = 1
    labels[1:5, 4:5] = 2
    r = ceiling.perfect_map_scores([_sample(labels)], config=KEEP_ALL)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 1)
    assert r["f1"] == pytest.approx(2 / 3)
    # object Dice: segmented side 2*12/(16+12) = 6/7 (weight 16/16); ground-truth side
    # (12 * 6/7 + 4 * 2*4/(4+16)) / 16, each gland with the object that overlaps it most
    seg_side = 6 / 7
    gt_side = (12 * 6 / 7 + 4 * 0.4) / 16
    assert r["object_dice"] == pytest.approx((seg_side + gt_side) / 2)


def test_gland_in_two_pieces_gives_a_false_positive():
    # one label in two separate pieces of 6 and 3 px: the larger covers 2/3 of it (a TP),
    # the smaller is an object of its own that matches nothing
    labels = np.zeros((5, 10), int)
    labels[1:3, 1:4] = 1
    labels[1:4, 7:8] = 1
    r = ceiling.perfect_map_scores([_sample(labels)], config=KEEP_ALL)
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 0)
    assert r["f1"] == pytest.approx(2 / 3)


def test_a_gap_lost_at_the_network_size_merges_two_glands():
    # 30x12 image shrunk 3x by nearest neighbour samples columns 1, 4, 7, ...: the one-pixel
    # gap at column 5 is never sampled, so the two glands are one at 10x4
    labels = np.zeros((12, 30), int)
    labels[3:9, 0:5] = 1
    labels[3:9, 6:15] = 2
    sample = _sample(labels)
    full = ceiling.perfect_map_scores([sample], None, KEEP_ALL)
    small = ceiling.perfect_map_scores([sample], (10, 4), KEEP_ALL)
    assert (full["tp"], full["fp"], full["fn"]) == (2, 0, 0)
    row = small["per_image"][0]
    assert row["tp"] + row["fp"] == 1  # one segmented object
    assert row["tp"] + row["fn"] == 2  # still two glands in the ground truth
    # a gap on a sampled column survives
    moved = labels.copy()
    moved[3:9, 4] = 0
    moved[3:9, 5] = 1
    assert ceiling.perfect_map_scores([_sample(moved)], (10, 4), KEEP_ALL)["tp"] == 2


def test_grades_and_empty_input():
    labels = np.zeros((8, 8), int)
    labels[2:6, 2:6] = 1
    r = ceiling.perfect_map_scores([_sample(labels, "a", "benign"), _sample(labels, "b", "malignant")], config=KEEP_ALL)
    assert set(r["per_grade"]) == {"benign", "malignant"}
    assert [row["name"] for row in r["per_image"]] == ["a", "b"]
    with pytest.raises(ValueError, match="samples is empty"):
        ceiling.perfect_map_scores([])


def test_ceiling_record_refuses_synthetic_presets_and_unknown_splits(tmp_path):
    with pytest.raises(ValueError, match="preset 'smoke' trains on synthetic data"):
        ceiling.ceiling_record("smoke", tmp_path)
    with pytest.raises(ValueError, match="splits must be among"):
        ceiling.ceiling_record("cpu", tmp_path, splits=("train",))
    with pytest.raises(ValueError, match="Unknown preset"):
        ceiling.ceiling_record("nope", tmp_path)


def test_cli_ceiling_reports_missing_data(tmp_path, capsys):
    assert cli.main(["ceiling", "cpu", "--data", str(tmp_path / "none"), "--results", str(tmp_path)]) == 2
    assert "glandseg ceiling: error:" in capsys.readouterr().err
    assert not list(tmp_path.glob("*/ceiling.json"))
    with pytest.raises(SystemExit):
        cli.main(["ceiling", "smoke"])


def test_ceiling_on_glas(glas_root, tmp_path, capsys):
    assert cli.main(["ceiling", "cpu", "--data", str(glas_root), "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cpu testA perfect map at 416x288: F1" in out and "record:" in out
    path = tmp_path / "cpu" / "ceiling.json"
    rec = json.loads(path.read_text())
    assert not list(path.parent.glob(".*tmp"))
    assert rec["preset"] == "cpu" and rec["size"] == [416, 288] and rec["postprocess"]["min_size_px"] == 1000
    assert {"git_commit", "versions", "device", "started_utc"} <= set(rec["provenance"])
    from glandseg import data

    for split, n in (("testA", 60), ("testB", 20)):
        gts = {s.name: len(np.unique(s.labels)) - 1 for s in data.load_split(split, glas_root)}
        for where in ("network_size", "original_size"):
            scores = rec["scores"][split][where]
            assert scores["n_images"] == n
            # every ground-truth gland is either found or missed
            assert {r["name"]: r["tp"] + r["fn"] for r in scores["per_image"]} == gts
            assert 0 < scores["f1"] <= 1
            errors = scores["errors"]
            assert errors["found"] == errors["true positive"] == scores["tp"]
            assert errors["merged"] + errors["partly found"] + errors["missed"] == scores["fn"]
            assert errors["off target"] + errors["spurious"] == scores["fp"]
    assert ceiling.load_ceilings(tmp_path)["cpu"]["scores"] == rec["scores"]
