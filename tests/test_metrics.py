"""Tests for glandseg.metrics.

Expectations come from outside the code under test: tiny cases worked out by hand (the
arithmetic is in the comments), the literal restatement of the challenge's MATLAB code in
``metrics_reference.py``, and invariants checked with hypothesis. On the real GlaS Test A/B
annotations, perturbed eight ways, the fast code must match the literal one to 1e-9 (F1, Dice)
and 1e-6 (Hausdorff) and be at least 5x faster.
"""

from __future__ import annotations

import doctest
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import metrics_reference as ref
from glandseg import metrics
from glandseg.metrics import evaluate, f1_counts, object_dice, object_f1, object_hausdorff

TOL_SCORE = 1e-9  # F1 and Dice
TOL_DIST = 1e-6  # Hausdorff, pixels


def canvas(h, w, *boxes):
    """An (h, w) int32 label map with (label, row slice, column slice) rectangles painted in order."""
    out = np.zeros((h, w), dtype=np.int32)
    for label, rows, cols in boxes:
        out[rows, cols] = label
    return out


def all_metrics(seg, gt):
    return (f1_counts(seg, gt), object_f1(seg, gt), object_dice(seg, gt), object_hausdorff(seg, gt))


# ------------------------------------------------------------------------ hand-worked cases


def test_gland_split_unequally():
    # gt: one 4x6 gland (24 px); seg: its left 2 columns (8 px, label 1), right 4 (16 px, label 2)
    gt = canvas(6, 8, (1, slice(1, 5), slice(1, 7)))
    seg = canvas(6, 8, (1, slice(1, 5), slice(1, 3)), (2, slice(1, 5), slice(3, 7)))
    counts, f1, dice, haus = all_metrics(seg, gt)
    assert counts == (1, 1, 0)  # 16 > 24/2 is a TP, 8 is not; the gland is found
    assert f1 == pytest.approx(2 / 3)  # 2*1 / (2*1 + 1 + 0)
    # seg: D = 2*8/(8+24) = 1/2 and 2*16/(16+24) = 4/5, weights 8/24 and 16/24 -> 7/10
    # gt: partner is label 2 (16 > 8 px) -> 4/5
    assert dice == pytest.approx((7 / 10 + 4 / 5) / 2)  # 3/4
    # seg: H = 4 (gt column 6 to seg column 2) and 2 (gt column 1 to seg column 3) -> 64/24
    assert haus == pytest.approx((64 / 24 + 2) / 2)  # 7/3


def test_exactly_half_is_not_a_true_positive():
    gt = canvas(4, 4, (1, slice(None), slice(None)))  # 16 px
    halves = canvas(4, 4, (1, slice(None), slice(0, 2)), (2, slice(None), slice(2, 4)))  # 8 + 8
    assert f1_counts(halves, gt) == (0, 2, 1)
    assert object_f1(halves, gt) == 0.0
    # both halves: D = 2*8/(8+16) = 2/3; gt: tie 8/8 -> label 1, D = 2/3
    assert object_dice(halves, gt) == pytest.approx(2 / 3)
    unequal = canvas(4, 4, (1, slice(None), slice(0, 3)), (2, slice(None), slice(3, 4)))  # 12 + 4
    assert f1_counts(unequal, gt) == (1, 1, 0)
    small = canvas(2, 2, (1, slice(None), slice(None)))  # 4 px
    assert f1_counts(canvas(2, 2, (1, slice(0, 1), slice(None))), small) == (0, 1, 1)  # 2 of 4
    assert f1_counts(canvas(2, 2, (1, slice(None), slice(None)), (0, 0, 0)), small) == (1, 0, 0)  # 3


def test_unmatched_false_positive():
    gt = canvas(3, 10, (1, slice(0, 3), slice(0, 3)))  # 9 px
    seg = gt.copy()
    seg[0, 9] = 2  # one pixel far from the gland
    counts, f1, dice, haus = all_metrics(seg, gt)
    assert counts == (1, 1, 0)
    assert f1 == pytest.approx(2 / 3)
    assert dice == pytest.approx((9 / 10 * 1 + 1 / 10 * 0 + 1) / 2)  # 0.95
    # the stray pixel meets nothing, so it is compared with the nearest gland (the only one):
    # H = max(7 (to column 2), sqrt(2^2 + 9^2) (from gt pixel (2, 0))) = sqrt(85)
    assert haus == pytest.approx((1 / 10 * math.sqrt(85) + 0) / 2)


def test_merged_pair():
    gt = canvas(3, 7, (1, slice(None), slice(0, 3)), (2, slice(None), slice(4, 7)))  # 9 + 9 px
    seg = canvas(3, 7, (1, slice(None), slice(None)))  # 21 px over both and the gap
    counts, f1, dice, haus = all_metrics(seg, gt)
    assert counts == (1, 0, 1)  # partner: tie 9/9 -> gt 1; 9 > 4.5
    assert f1 == pytest.approx(2 / 3)
    assert dice == pytest.approx(0.6)  # every D = 2*9/(21+9)
    assert haus == pytest.approx(4.0)  # every H = 4 (the far end of seg to the gland)


def test_ties_go_to_the_smallest_label():
    # seg (columns 1-4, 12 px) overlaps a 9 px gland and a 12 px gland by 6 px each.
    def gt(small, large):
        return canvas(3, 7, (small, slice(None), slice(0, 3)), (large, slice(None), slice(3, 7)))

    seg = canvas(3, 7, (5, slice(None), slice(1, 5)))
    assert f1_counts(seg, gt(1, 2)) == (1, 0, 1)  # partner: the 9 px gland, 6 > 4.5
    assert f1_counts(seg, gt(2, 1)) == (0, 1, 2)  # partner: the 12 px gland, 6 = 12/2
    # gt side either way: (9 * 12/21 + 12 * 12/24) / 21 = 26/49
    assert object_dice(seg, gt(1, 2)) == pytest.approx((4 / 7 + 26 / 49) / 2)
    assert object_dice(seg, gt(2, 1)) == pytest.approx((1 / 2 + 26 / 49) / 2)


def test_unmatched_object_goes_to_the_nearest_in_hausdorff_distance():
    # a seg pixel at (5, 10); gt: a bar on row 6 (1 px below it, 20 px long) and a pixel at (5, 14)
    gt = canvas(7, 20, (1, slice(6, 7), slice(None)), (2, slice(5, 6), slice(14, 15)))
    seg = canvas(7, 20, (1, slice(5, 6), slice(10, 11)))
    # H(seg, bar) = sqrt(1 + 10^2) (bar end (6, 0)), H(seg, pixel) = 4: the pixel is nearest,
    # although the bar is closer in the ordinary sense.
    # gt side: the bar meets nothing either and is compared with seg: sqrt(101); the pixel: 4
    expected = (4 + (20 * math.sqrt(101) + 1 * 4) / 21) / 2
    assert object_hausdorff(seg, gt) == pytest.approx(expected)
    assert f1_counts(seg, gt) == (0, 1, 2)
    assert object_dice(seg, gt) == 0.0


def test_a_label_in_pieces_is_one_object():
    gt = canvas(4, 8, (1, slice(0, 2), slice(0, 2)), (1, slice(0, 2), slice(6, 8)))  # 8 px
    counts, f1, dice, haus = all_metrics(gt, gt)
    assert (counts, f1, dice, haus) == ((1, 0, 0), 1.0, 1.0, 0.0)
    pieces = canvas(4, 8, (1, slice(0, 2), slice(0, 2)), (2, slice(0, 2), slice(6, 8)))
    assert f1_counts(pieces, gt) == (0, 2, 1)  # each piece has 4 of 8 px: not more than half
    assert object_dice(pieces, gt) == pytest.approx(2 / 3)  # 2*4/(4+8) everywhere
    assert object_hausdorff(pieces, gt) == pytest.approx(6.0)  # the other piece is 6 columns away


def test_object_filling_the_image():
    # no pixel of it has a neighbour outside it: it has no boundary, and nothing lies outside it
    gt = canvas(6, 7, (1, slice(1, 3), slice(1, 3)), (2, slice(4, 6), slice(2, 7)))
    full = np.full((6, 7), 3, dtype=np.int32)
    for seg, truth in ((full, gt), (gt, full)):
        assert_agree(all_metrics(seg, truth), reference_figures(seg, truth))
    assert f1_counts(full, gt) == (1, 0, 1)  # partner: gt 2 (10 px > 4 px), all of it covered


def test_pooled_is_not_the_mean_of_images():
    # image 1: two 2x2 glands found exactly; image 2: a 3x3 gland, seg covers 3x2 of it
    gt1 = canvas(5, 5, (1, slice(0, 2), slice(0, 2)), (2, slice(3, 5), slice(3, 5)))
    gt2 = canvas(5, 5, (1, slice(1, 4), slice(1, 4)))
    seg2 = canvas(5, 5, (1, slice(1, 4), slice(1, 3)))  # 6 px: TP, D = 12/15, H = 1
    pooled = evaluate([gt1, seg2], [gt1, gt2])
    assert (pooled["tp"], pooled["fp"], pooled["fn"]) == (3, 0, 0)
    assert pooled["f1"] == 1.0
    seg_side, gt_side = (4 + 4 + 6 * 0.8) / 14, (4 + 4 + 9 * 0.8) / 17
    assert pooled["object_dice"] == pytest.approx((seg_side + gt_side) / 2)
    assert pooled["object_hausdorff"] == pytest.approx((6 / 14 + 9 / 17) / 2)
    mean = evaluate([gt1, seg2], [gt1, gt2], aggregate="image")
    assert mean["object_dice"] == pytest.approx((1 + 0.8) / 2)
    assert mean["object_hausdorff"] == pytest.approx((0 + 1) / 2)
    assert (mean["tp"], mean["fp"], mean["fn"]) == (3, 0, 0)  # counts are always summed


# ------------------------------------------------------------------------------ empty cases

EMPTY = np.zeros((4, 4), dtype=np.int32)
ONE = canvas(4, 4, (1, slice(1, 3), slice(1, 3)))


@pytest.mark.parametrize(
    "seg, gt, counts, f1, dice, haus",
    [
        (EMPTY, EMPTY, (0, 0, 0), 1.0, 1.0, 0.0),  # nothing to find, nothing found
        (EMPTY, ONE, (0, 0, 1), 0.0, 0.0, math.inf),  # a gland missed
        (ONE, EMPTY, (0, 1, 0), 0.0, 0.0, math.inf),  # a gland invented
    ],
    ids=["both-empty", "no-seg", "no-gt"],
)
def test_empty_images(seg, gt, counts, f1, dice, haus):
    assert all_metrics(seg, gt) == (counts, f1, dice, haus)
    r = evaluate([seg], [gt])
    assert (r["tp"], r["fp"], r["fn"], r["f1"], r["object_dice"], r["object_hausdorff"]) == (*counts, f1, dice, haus)
    expected_pr = 1.0 if counts == (0, 0, 0) else 0.0
    assert r["precision"] == r["recall"] == expected_pr
    assert evaluate([seg], [gt], aggregate="image") == {**r, "aggregate": "image"}


def test_empty_cases_agree_with_reference():
    for seg, gt in ((EMPTY, EMPTY), (EMPTY, ONE), (ONE, EMPTY)):
        assert ref.F1score(seg, gt)[0] == object_f1(seg, gt)
        assert ref.ObjectDice(seg, gt) == object_dice(seg, gt)
        assert ref.ObjectHausdorff(seg, gt) == object_hausdorff(seg, gt)


def test_no_true_positive_gives_f1_zero_not_nan():
    gt = canvas(4, 4, (1, slice(0, 2), slice(None)))
    seg = canvas(4, 4, (1, slice(2, 4), slice(None)))  # beside the gland, no overlap
    assert f1_counts(seg, gt) == (0, 1, 1)
    assert object_f1(seg, gt) == 0.0  # MATLAB: 0/0 = NaN
    r = evaluate([seg], [gt])
    assert (r["precision"], r["recall"], r["f1"]) == (0.0, 0.0, 0.0)


def test_pooled_empty_images():
    # an image with no object on either side adds nothing to pooled figures ...
    pooled = evaluate([EMPTY, ONE], [EMPTY, ONE])
    assert (pooled["f1"], pooled["object_dice"], pooled["object_hausdorff"]) == (1.0, 1.0, 0.0)
    # ... and counts as a perfect image in the per-image mean
    assert evaluate([EMPTY, ONE], [EMPTY, ONE], aggregate="image")["f1"] == 1.0
    # a missed image: F1 from the sums, Dice over all objects, Hausdorff infinite
    missed = evaluate([EMPTY, ONE], [ONE, ONE])
    assert (missed["tp"], missed["fp"], missed["fn"]) == (1, 0, 1)
    assert missed["f1"] == pytest.approx(2 / 3)
    assert missed["object_dice"] == pytest.approx((1 + (4 * 0 + 4 * 1) / 8) / 2)
    assert missed["object_hausdorff"] == math.inf
    mean = evaluate([EMPTY, ONE], [ONE, ONE], aggregate="image")
    assert (mean["f1"], mean["object_dice"], mean["object_hausdorff"]) == (0.5, 0.5, math.inf)
    nothing = evaluate([EMPTY, EMPTY], [EMPTY, EMPTY])
    assert (nothing["f1"], nothing["precision"], nothing["recall"]) == (1.0, 1.0, 1.0)
    assert (nothing["object_dice"], nothing["object_hausdorff"]) == (1.0, 0.0)


# ---------------------------------------------------------------------- inputs and errors


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.uint32, np.uint64])
def test_integer_dtypes(dtype):
    gt = canvas(6, 8, (1, slice(1, 5), slice(1, 7))).astype(dtype)
    seg = canvas(6, 8, (1, slice(1, 5), slice(1, 3)), (2, slice(1, 5), slice(3, 7))).astype(dtype)
    assert f1_counts(seg, gt) == (1, 1, 0)
    assert object_hausdorff(seg, gt) == pytest.approx(7 / 3)


def test_large_label_values_are_used_as_given():
    gt = canvas(6, 8, (1, slice(1, 5), slice(1, 7)))
    seg = canvas(6, 8, (1, slice(1, 5), slice(1, 3)), (2, slice(1, 5), slice(3, 7)))
    big = np.where(seg == 1, 2**40, np.where(seg == 2, 2**40 + 7, 0)).astype(np.int64)
    assert all_metrics(big, gt) == all_metrics(seg, gt)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 4), dtype=np.float32), "dtype float32"),
        (np.zeros((4, 4), dtype=bool), "boolean mask"),
        (np.zeros((4, 4, 3), dtype=np.uint8), r"shape \(4, 4, 3\) \(it looks like an RGB image\)"),
        (np.zeros((4,), dtype=np.int32), "shape"),
        (np.full((4, 4), -1, dtype=np.int32), "negative labels"),
        (np.zeros((4, 5), dtype=np.int32), r"seg has shape \(4, 5\) but gt has shape \(4, 4\)"),
    ],
    ids=["float", "bool", "rgb", "1d", "negative", "shape"],
)
def test_bad_inputs_raise(bad, match):
    gt = np.zeros((4, 4), dtype=np.int32)
    for fn in (f1_counts, object_f1, object_dice, object_hausdorff):
        with pytest.raises(ValueError, match=match):
            fn(bad, gt)
    with pytest.raises(ValueError, match="^testA_7: .*" + match):
        evaluate([gt, bad], [gt, gt], names=["testA_1", "testA_7"])
    with pytest.raises(ValueError, match="^image 1: "):
        evaluate([gt, bad], [gt, gt])


def test_bad_gt_is_named():
    with pytest.raises(ValueError, match="gt has dtype float64"):
        object_dice(EMPTY, EMPTY.astype(float))


def test_evaluate_argument_errors():
    with pytest.raises(ValueError, match="aggregate must be one of"):
        evaluate([ONE], [ONE], aggregate="mean")
    with pytest.raises(ValueError, match="1 segmentations but 2 ground truths"):
        evaluate([ONE], [ONE, ONE])
    with pytest.raises(ValueError, match="names has 1 entries for 2 images"):
        evaluate([ONE, ONE], [ONE, ONE], names=["a"])
    with pytest.raises(ValueError, match="grades has 3 entries"):
        evaluate([ONE, ONE], [ONE, ONE], grades=["benign"] * 3)
    with pytest.raises(ValueError, match="no images"):
        evaluate([], [])


def test_evaluate_tables():
    gt1 = canvas(5, 5, (1, slice(0, 2), slice(0, 2)), (2, slice(3, 5), slice(3, 5)))
    gt2 = canvas(6, 7, (1, slice(1, 4), slice(1, 4)))  # images may differ in size
    seg2 = canvas(6, 7, (1, slice(1, 4), slice(1, 3)))
    r = evaluate([gt1, seg2, gt1], [gt1, gt2, gt1], names=["a", "b", "c"], grades=["benign", "malignant", "benign"])
    assert r["n_images"] == 3 and r["aggregate"] == "pooled"
    assert [row["name"] for row in r["per_image"]] == ["a", "b", "c"]
    assert [row["grade"] for row in r["per_image"]] == ["benign", "malignant", "benign"]
    b = r["per_image"][1]
    assert set(b) == {"name", "grade", *metrics.METRIC_KEYS, *metrics.POOLING_KEYS}
    assert (b["tp"], b["fp"], b["fn"], b["object_dice"], b["object_hausdorff"]) == (1, 0, 0, pytest.approx(0.8), 1.0)
    # a 3x2 object inside a 3x3 gland: areas 6 and 9, Dice 12/15 = 0.8, Hausdorff 1 px
    assert [b[k] for k in metrics.POOLING_KEYS] == pytest.approx([6, 9, 6 * 0.8, 9 * 0.8, 6 * 1.0, 9 * 1.0])
    # the pooled figures follow from the per-image sums
    tot = {k: sum(row[k] for row in r["per_image"]) for k in metrics.POOLING_KEYS}
    assert r["object_dice"] == pytest.approx(
        (tot["seg_dice_x_area"] / tot["seg_area_px"] + tot["gt_dice_x_area"] / tot["gt_area_px"]) / 2
    )
    assert r["object_hausdorff"] == pytest.approx(
        (tot["seg_hausdorff_x_area"] / tot["seg_area_px"] + tot["gt_hausdorff_x_area"] / tot["gt_area_px"]) / 2
    )
    assert list(r["per_grade"]) == ["benign", "malignant"]
    assert r["per_grade"]["benign"]["n_images"] == 2
    assert r["per_grade"]["benign"]["object_dice"] == 1.0
    assert r["per_grade"]["malignant"] == {"n_images": 1, **{k: b[k] for k in metrics.METRIC_KEYS}}
    assert "per_image" not in evaluate([gt1], [gt1]) and "per_grade" not in evaluate([gt1], [gt1])
    assert "grade" not in evaluate([gt1], [gt1], names=["a"])["per_image"][0]


def test_docstring_examples():
    result = doctest.testmod(metrics, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_no_keras_import():
    import subprocess
    import sys

    code = "import sys, glandseg.metrics; sys.exit(int(any(m in sys.modules for m in ('keras', 'tensorflow', 'jax'))))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --------------------------------------------------------------------- properties (hypothesis)


@st.composite
def label_pairs(draw, max_side=9, max_label=4):
    """Two same-shape label maps of small random labels: many ties, pieces and strays."""
    shape = (draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    labels = st.integers(0, max_label)
    return draw(arrays(np.int32, shape, elements=labels)), draw(arrays(np.int32, shape, elements=labels))


@st.composite
def blob_pairs(draw, max_side=40):
    """Two same-shape maps of overlapping random rectangles (gland-like objects)."""
    h, w = draw(st.integers(4, max_side)), draw(st.integers(4, max_side))

    def one():
        out = np.zeros((h, w), dtype=np.int32)
        for label in range(1, draw(st.integers(0, 5)) + 1):
            r0, c0 = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
            r1, c1 = draw(st.integers(r0 + 1, h)), draw(st.integers(c0 + 1, w))
            out[r0:r1, c0:c1] = draw(st.integers(1, 6))
        return out

    return one(), one()


def reference_figures(seg, gt):
    score, _, _, tp, fp, fn = ref.F1score(seg, gt)
    return (tp, fp, fn), score, ref.ObjectDice(seg, gt), ref.ObjectHausdorff(seg, gt)


def assert_agree(fast, literal):
    (counts, f1, dice, haus), (rcounts, rf1, rdice, rhaus) = fast, literal
    assert counts == rcounts
    assert abs(f1 - rf1) <= TOL_SCORE
    assert abs(dice - rdice) <= TOL_SCORE
    assert haus == rhaus or abs(haus - rhaus) <= TOL_DIST


@settings(max_examples=200, deadline=None)
@given(label_pairs())
def test_agrees_with_reference_on_random_maps(pair):
    seg, gt = pair
    assert_agree(all_metrics(seg, gt), reference_figures(seg, gt))


@settings(max_examples=100, deadline=None)
@given(blob_pairs())
def test_agrees_with_reference_on_random_blobs(pair):
    seg, gt = pair
    assert_agree(all_metrics(seg, gt), reference_figures(seg, gt))


@settings(max_examples=100, deadline=None)
@given(blob_pairs())
def test_tile_search_is_exact(pair):
    # force the tile branch and bound on every directed distance, however small
    seg, gt = pair
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "_PRUNE_MIN_POINTS", 0)
        fast = all_metrics(seg, gt)
    assert_agree(fast, reference_figures(seg, gt))


@settings(max_examples=50, deadline=None)
@given(st.lists(label_pairs(max_side=6), min_size=1, max_size=4))
def test_pooled_agrees_with_reference(pairs):
    segs, gts = [p[0] for p in pairs], [p[1] for p in pairs]
    fast, literal = evaluate(segs, gts), ref.pooled_reference(segs, gts)
    assert (fast["tp"], fast["fp"], fast["fn"]) == (literal["tp"], literal["fp"], literal["fn"])
    for key in ("f1", "precision", "recall", "object_dice"):
        assert abs(fast[key] - literal[key]) <= TOL_SCORE, key
    h, rh = fast["object_hausdorff"], literal["object_hausdorff"]
    assert h == rh or abs(h - rh) <= TOL_DIST


@settings(max_examples=100, deadline=None)
@given(label_pairs())
def test_identical_maps_score_perfectly(pair):
    labels = pair[0]
    n = np.unique(labels[labels > 0]).size
    assert f1_counts(labels, labels) == (n, 0, 0)
    assert (object_f1(labels, labels), object_dice(labels, labels), object_hausdorff(labels, labels)) == (1.0, 1.0, 0.0)


@settings(max_examples=100, deadline=None)
@given(label_pairs(), st.integers(1, 1000), st.integers(1, 50))
def test_order_keeping_relabelling_changes_nothing(pair, offset, step):
    # a new label for every object (ties keep their order, so they still go the same way)
    seg, gt = pair
    relabel = lambda x: np.where(x > 0, offset + step * x, 0).astype(np.int64)  # noqa: E731
    assert all_metrics(relabel(seg), relabel(gt)) == all_metrics(seg, gt)


@settings(max_examples=100, deadline=None)
@given(label_pairs())
def test_ranges_and_symmetry(pair):
    seg, gt = pair
    (tp, fp, fn), f1, dice, haus = all_metrics(seg, gt)
    assert tp + fp == np.unique(seg[seg > 0]).size and tp + fn == np.unique(gt[gt > 0]).size
    assert 0.0 <= f1 <= 1.0 and 0.0 <= dice <= 1.0 and haus >= 0.0
    assert object_dice(gt, seg) == dice  # swapping seg and gt swaps the two halves
    assert object_hausdorff(gt, seg) == haus


# ------------------------------------------------------------------- the real GlaS annotations

FAMILIES = list(ref.PERTURBATIONS)
# Few-gland images keep the literal reference quick (a few seconds for all eight families):
# testA_2 (two glands) and testB_3 (one gland in 7 pieces, a label used as given).
SUBSET = {"testA": [1], "testB": [2]}


@pytest.fixture(scope="module")
def annotations(glas_root):
    return {split: ref.load_annotations(glas_root, split) for split in ref.SPLITS}


def _literal_and_fast(seg, gt):
    t0 = time.process_time()
    literal = reference_figures(seg, gt)
    t1 = time.process_time()
    fast = all_metrics(seg, gt)
    t2 = time.process_time()
    return literal, fast, t1 - t0, t2 - t1


@pytest.mark.glas
@pytest.mark.parametrize("family", FAMILIES)
def test_agrees_with_reference_on_glas(annotations, family):
    for split, picks in SUBSET.items():
        names, gts, _ = annotations[split]
        for k in picks:
            seg = ref.perturb(gts[k], family, seed=k)
            literal, fast, _, _ = _literal_and_fast(seg, gts[k])
            assert_agree(fast, literal)


@pytest.mark.glas
@pytest.mark.slow
def test_agrees_with_reference_on_all_80_glas_images(annotations):
    # every test image under one of the eight families in turn (each family sees 10 images);
    # benchmarks/metrics_speed.py runs all 80 x 8 and records the largest differences
    gts = annotations["testA"][1] + annotations["testB"][1]
    for k, gt in enumerate(gts):
        literal, fast, _, _ = _literal_and_fast(ref.perturb(gt, FAMILIES[k % 8], seed=k), gt)
        assert_agree(fast, literal)


@pytest.mark.glas
def test_pooled_agrees_with_reference_on_glas(annotations):
    # testA_2, testA_3 and testB_3 as one part (images of different sizes)
    gts = [annotations["testA"][1][1], annotations["testA"][1][2], annotations["testB"][1][2]]
    segs = [ref.perturb(gt, f, seed=k) for k, (gt, f) in enumerate(zip(gts, ("split", "false_blobs", "dropped")))]
    fast, literal = evaluate(segs, gts), ref.pooled_reference(segs, gts)
    assert (fast["tp"], fast["fp"], fast["fn"]) == (literal["tp"], literal["fp"], literal["fn"])
    for key in ("f1", "precision", "recall", "object_dice"):
        assert fast[key] == pytest.approx(literal[key], abs=TOL_SCORE)
    assert fast["object_hausdorff"] == pytest.approx(literal["object_hausdorff"], abs=TOL_DIST)


@pytest.mark.glas
def test_at_least_5x_faster_than_reference(annotations):
    names, gts, _ = annotations["testA"]
    literal_s = fast_s = 0.0
    for k in (1, 2):  # testA_2, testA_3 (benchmarks/metrics_speed.py times all 80 x 8)
        for family in ("false_blobs", "dilated_merged"):
            _, _, t_literal, t_fast = _literal_and_fast(ref.perturb(gts[k], family, seed=k), gts[k])
            literal_s, fast_s = literal_s + t_literal, fast_s + t_fast
    assert literal_s >= 5 * fast_s, f"literal {literal_s:.3f} s, fast {fast_s:.3f} s (CPU time)"


@pytest.mark.glas
@pytest.mark.parametrize("family", ["relabelled", "split", "false_blobs"])
def test_any_relabelling_changes_nothing_on_glas(annotations, family):
    # real glands have no ties in overlap, so even a shuffled relabelling keeps every figure
    names, gts, _ = annotations["testB"]
    for k in (0, 5):
        gt = gts[k]
        seg = ref.perturb(gt, family, seed=k)
        shuffled_gt, shuffled_seg = ref.perturb(gt, "relabelled", seed=k + 100), ref.perturb(seg, "relabelled", seed=k + 200)
        before, after = all_metrics(seg, gt), all_metrics(shuffled_seg, shuffled_gt)
        assert before[0] == after[0]
        assert after[1:] == pytest.approx(before[1:], rel=1e-12)


@pytest.mark.glas
@pytest.mark.slow
def test_pooled_80_images_under_10_s(annotations):
    gts = annotations["testA"][1] + annotations["testB"][1]
    segs = [ref.perturb(gt, FAMILIES[k % 8], seed=k) for k, gt in enumerate(gts)]
    t0 = time.perf_counter()
    result = evaluate(segs, gts)
    elapsed = time.perf_counter() - t0
    assert result["n_images"] == 80
    assert elapsed < 10.0, f"pooled evaluation of 80 images took {elapsed:.1f} s"
