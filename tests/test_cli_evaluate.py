"""Tests for ``glandseg evaluate`` (glandseg.cli).

Most tests replace ``glandseg.data.load_split`` by two tiny synthetic parts, so they need no data;
the last one scores the real Test B annotations against themselves.
"""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from glandseg import cli, data
from glandseg.data import Sample


def _labels(h, w, *boxes):
    out = np.zeros((h, w), dtype=np.int32)
    for label, r0, r1, c0, c1 in boxes:
        out[r0:r1, c0:c1] = label
    return out


# testA: two images of different sizes; testB: one image. Glands are 4x4 squares (16 px).
PARTS = {
    "testA": [
        ("testA_1", _labels(12, 16, (1, 1, 5, 1, 5), (2, 6, 10, 8, 12)), "benign"),
        ("testA_2", _labels(10, 11, (1, 2, 6, 2, 6)), "malignant"),
    ],
    "testB": [("testB_1", _labels(12, 16, (1, 2, 6, 2, 6), (300, 7, 11, 9, 13)), "malignant")],
}


@pytest.fixture
def fake_data(monkeypatch, tmp_path):
    calls = []

    def load_split(split, root=None, *, verify=True):
        calls.append((split, root))
        return [Sample(name, np.zeros((*lab.shape, 3), np.uint8), lab, grade) for name, lab, grade in PARTS[split]]

    monkeypatch.setattr(data, "load_split", load_split)
    monkeypatch.setattr(data, "data_root", lambda root=None: tmp_path / "glas" if root is None else root)
    return calls


def _write(folder, name, labels, kind="png8"):
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "png8":
        Image.fromarray(labels.astype(np.uint8)).save(folder / f"{name}.png")
    elif kind == "png16":
        Image.fromarray(labels.astype(np.uint16)).save(folder / f"{name}.png")
    elif kind == "tif":
        tifffile.imwrite(folder / f"{name}.tif", labels.astype(np.uint16))
    else:
        raise AssertionError(kind)


def _perfect(folder, split, kind="png8"):
    for name, labels, _ in PARTS[split]:
        _write(folder, name, labels, kind)


def _one_line_error(capsys, rc):
    out, err = capsys.readouterr()
    assert rc == 2
    assert err.startswith("glandseg evaluate: error: ") and err.count("\n") == 1, err
    return err


def test_perfect_predictions(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _perfect(pred, "testA")
    rc = cli.main(
        ["evaluate", str(pred), "--split", "testA", "--data", str(tmp_path / "d"),
         "--per-image", str(tmp_path / "out" / "per_image.csv"), "--json", str(tmp_path / "out" / "all.json")]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert fake_data == [("testA", tmp_path / "d")]
    lines = out.splitlines()
    assert lines[0].startswith("testA: 2 images, pooled")
    assert lines[2].split() == ["all", "2", "1.000", "1.000", "1.000", "1.000", "0.00", "3", "0", "0"]
    assert lines[3].split()[:2] == ["benign", "1"] and lines[4].split()[:2] == ["malignant", "1"]
    with open(tmp_path / "out" / "per_image.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["part"], r["name"], r["grade"], r["tp"]) for r in rows] == [
        ("testA", "testA_1", "benign", "2"),
        ("testA", "testA_2", "malignant", "1"),
    ]
    record = json.loads((tmp_path / "out" / "all.json").read_text())
    assert record["parts"]["testA"]["f1"] == 1.0
    assert record["parts"]["testA"]["per_grade"]["malignant"]["n_images"] == 1


@pytest.mark.parametrize("kind", ["png8", "png16", "tif"])
def test_reads_png_and_tiff(fake_data, tmp_path, capsys, kind):
    pred = tmp_path / "pred"
    # testB_1: the first gland found under label 4000 (needs 16 bits), the second missed
    seg = np.where(PARTS["testB"][0][1] == 1, 4000 if kind != "png8" else 200, 0)
    _write(pred, "testB_1", seg, kind)
    rc = cli.main(["evaluate", str(pred), "--split", "testB", "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    r = json.loads((tmp_path / "r.json").read_text())["parts"]["testB"]
    assert (r["tp"], r["fp"], r["fn"]) == (1, 0, 1)
    assert r["f1"] == pytest.approx(2 / 3)
    assert r["object_dice"] == pytest.approx((1 + (16 * 1 + 16 * 0) / 32) / 2)
    # the missed gland is compared with the nearest seg object: 5 rows and 7 columns further on
    assert r["object_hausdorff"] == pytest.approx((0 + 16 * math.hypot(5, 7) / 32) / 2)


def test_split_all_scores_both_parts(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _perfect(pred, "testA")
    _perfect(pred, "testB", kind="tif")
    assert cli.main(["evaluate", str(pred)]) == 0
    out = capsys.readouterr().out
    assert [c[0] for c in fake_data] == ["testA", "testB"]
    assert "testA: 2 images" in out and "testB: 1 images" in out


def test_missing_prediction(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _write(pred, "testA_1", PARTS["testA"][0][1])
    err = _one_line_error(capsys, cli.main(["evaluate", str(pred), "--split", "testA"]))
    assert "1 of 2 testA predictions are missing" in err and "testA_2.png" in err


def test_missing_folder(fake_data, tmp_path, capsys):
    err = _one_line_error(capsys, cli.main(["evaluate", str(tmp_path / "nowhere")]))
    assert "does not exist" in err


def test_size_mismatch(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _perfect(pred, "testB")
    _write(pred, "testB_1", np.zeros((12, 15), np.int32))
    err = _one_line_error(capsys, cli.main(["evaluate", str(pred), "--split", "testB"]))
    assert "testB_1.png: is 15x12 (width x height) but the ground truth of testB_1 is 16x12" in err


@pytest.mark.parametrize(
    "write, match",
    [
        (lambda p: Image.new("RGB", (16, 12)).save(p / "testB_1.png"), "not a colour image"),
        (lambda p: Image.new("1", (16, 12)).save(p / "testB_1.png"), "1-bit binary mask"),
        (lambda p: tifffile.imwrite(p / "testB_1.tif", np.zeros((12, 16), np.float32)), "float32 pixels"),
        (lambda p: tifffile.imwrite(p / "testB_1.tif", np.full((12, 16), -3, np.int16)), "negative labels"),
        (lambda p: (p / "testB_1.png").write_bytes(b"not a png"), "cannot be read as an image"),
    ],
    ids=["rgb", "1-bit", "float", "negative", "garbage"],
)
def test_not_a_label_map(fake_data, tmp_path, capsys, write, match):
    pred = tmp_path / "pred"
    pred.mkdir()
    write(pred)
    err = _one_line_error(capsys, cli.main(["evaluate", str(pred), "--split", "testB"]))
    assert "testB_1" in err and match in err


def test_two_predictions_for_one_image(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _perfect(pred, "testB")
    _perfect(pred, "testB", kind="tif")
    err = _one_line_error(capsys, cli.main(["evaluate", str(pred), "--split", "testB"]))
    assert "testB_1.png and testB_1.tif" in err


def test_help_lists_evaluate(capsys):
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--help"])
    out = capsys.readouterr().out
    for option in ("PRED_DIR", "--split", "--data", "--per-image", "--json"):
        assert option in out


@pytest.mark.glas
def test_real_test_b_against_itself(glas_root, tmp_path, capsys):
    pred = tmp_path / "pred"
    pred.mkdir()
    for path in sorted(glas_root.glob("testB_*_anno.png")):
        shutil.copy(path, pred / path.name.replace("_anno", ""))
    rc = cli.main(["evaluate", str(pred), "--split", "testB", "--data", str(glas_root), "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    r = json.loads((tmp_path / "r.json").read_text())["parts"]["testB"]
    assert (r["n_images"], r["tp"], r["fp"], r["fn"]) == (20, 95, 0, 0)  # SOURCE.md: 95 Test B glands
    assert (r["f1"], r["object_dice"], r["object_hausdorff"]) == (1.0, 1.0, 0.0)
    assert set(r["per_grade"]) == {"benign", "malignant"}
    assert len(r["per_image"]) == 20


def test_reads_the_runners_labels_suffix(fake_data, tmp_path, capsys):
    # glandseg run writes pred/testA_1_labels.png; evaluate must score such a folder as it is
    pred = tmp_path / "pred"
    for name, labels, _ in PARTS["testA"]:
        _write(pred, f"{name}_labels", labels, "png16")
    rc = cli.main(["evaluate", str(pred), "--split", "testA", "--data", str(tmp_path / "d")])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.splitlines()[2].split()[:4] == ["all", "2", "1.000", "1.000"]


def test_plain_and_labels_names_for_one_image_are_ambiguous(fake_data, tmp_path, capsys):
    pred = tmp_path / "pred"
    _perfect(pred, "testA")
    name, labels, _ = PARTS["testA"][0]
    _write(pred, f"{name}_labels", labels)
    err = _one_line_error(capsys, cli.main(["evaluate", str(pred), "--split", "testA", "--data", str(tmp_path / "d")]))
    assert "testA_1.png and testA_1_labels.png" in err
