"""Tests of glandseg.postprocess: hand-built maps with known answers, the Otsu guard,
hypothesis invariants (idempotent cleaning, labels without gaps) and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.filters import threshold_otsu

from glandseg.config import PostprocessConfig
from glandseg.postprocess import (
    clean_mask,
    mask_to_instances,
    resize_probability,
    threshold,
    threshold_value,
    to_instances,
)


def _disc(shape, center, radius):
    yy, xx = np.indices(shape)
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


# --------------------------------------------------------------------------------------------
# Hand-built probability maps


@pytest.fixture(scope="module")
def scene():
    """Two discs, a disc with a hole (lumen), and speckle on a low background."""
    shape = (100, 130)
    disc_a = _disc(shape, (25, 25), 15)
    disc_b = _disc(shape, (25, 90), 12)
    ring_outer = _disc(shape, (70, 50), 18)
    hole = _disc(shape, (70, 50), 5)
    prob = np.full(shape, 0.1)
    prob[disc_a] = 0.9
    prob[disc_b] = 0.85
    prob[ring_outer] = 0.95
    prob[hole] = 0.05
    prob[80:83, 110:113] = 0.9  # 9 px speckle
    prob[5, 120] = 0.99  # single pixel
    return prob, disc_a, disc_b, ring_outer, hole


def test_scene_default_config(scene):
    prob, disc_a, disc_b, ring_outer, hole = scene
    labels = to_instances(prob)
    assert labels.dtype == np.int32 and labels.shape == prob.shape
    assert labels.max() == 3
    # the speckle is removed, the 81 px lumen filled (<= 2000 px)
    areas = sorted(np.bincount(labels.ravel())[1:].tolist())
    assert areas == sorted([disc_a.sum(), disc_b.sum(), ring_outer.sum()])
    assert hole.sum() == 81
    assert labels[70, 50] > 0
    assert np.array_equal(labels > 0, disc_a | disc_b | ring_outer)


def test_scene_small_hole_limit_keeps_lumen(scene):
    prob, disc_a, disc_b, ring_outer, hole = scene
    config = PostprocessConfig(hole_size_px=80, min_size_px=10)
    labels = to_instances(prob, config=config)
    assert labels.max() == 3
    assert labels[70, 50] == 0
    assert np.array_equal(labels > 0, disc_a | disc_b | (ring_outer & ~hole))


def test_scene_tiny_min_size_keeps_speckle(scene):
    prob, *_ = scene
    labels = to_instances(prob, config=PostprocessConfig(min_size_px=2))
    assert labels.max() == 4  # speckle (9 px) kept, single pixel (1 px) dropped
    assert sorted(np.bincount(labels.ravel())[1:].tolist())[0] == 9


def test_exact_small_case():
    prob = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            [0.9, 0.9, 0.0, 0.0, 0.8, 0.8, 0.8],
            [0.9, 0.9, 0.0, 0.0, 0.8, 0.3, 0.8],
            [0.9, 0.9, 0.6, 0.0, 0.8, 0.8, 0.8],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.7],
        ]
    )
    # fixed 0.5: the 0.6 pixel joins the left gland (4-adjacent); the right ring's 1 px hole
    # is filled; the 0.7 pixel below the ring's corner joins it
    expected = np.array(
        [
            [0, 0, 0, 0, 0, 0, 0],
            [1, 1, 0, 0, 2, 2, 2],
            [1, 1, 0, 0, 2, 2, 2],
            [1, 1, 1, 0, 2, 2, 2],
            [0, 0, 0, 0, 0, 0, 2],
        ],
        dtype=np.int32,
    )
    config = PostprocessConfig(threshold=0.5, min_size_px=3, hole_size_px=1)
    np.testing.assert_array_equal(to_instances(prob, config=config), expected)
    # a pixel touching the left gland only diagonally is its own object with 4-connectivity
    # and part of that gland with 8-connectivity
    prob[0, 2] = 0.9
    four = to_instances(prob, config=config.replace(min_size_px=1))
    eight = to_instances(prob, config=config.replace(min_size_px=1, connectivity=2))
    assert four.max() == 3 and eight.max() == 2
    assert eight[0, 2] == eight[1, 1] != eight[1, 4]


def test_opening_splits_a_thin_bridge():
    shape = (40, 60)
    mask = _disc(shape, (20, 15), 10) | _disc(shape, (20, 45), 10)
    mask[19:21, 15:45] = True  # 2 px bridge
    prob = np.where(mask, 0.9, 0.1)
    config = PostprocessConfig(min_size_px=20)
    assert to_instances(prob, config=config).max() == 1
    assert to_instances(prob, config=config.replace(opening_radius_px=2)).max() == 2


def test_opening_keeps_glands_cut_by_the_border():
    mask = np.zeros((30, 30), bool)
    mask[:, :8] = True  # a gland cut by the left border, 8 px wide
    cleaned = clean_mask(mask, PostprocessConfig(opening_radius_px=3, min_size_px=0))
    np.testing.assert_array_equal(cleaned, mask)


def test_hole_touching_the_border_is_not_filled():
    mask = np.ones((12, 12), bool)
    mask[4:8, 0:3] = False  # a bay open to the border: not a hole
    mask[4:6, 6:8] = False  # an enclosed 4 px hole
    cleaned = clean_mask(mask, PostprocessConfig(min_size_px=0, hole_size_px=100))
    assert not cleaned[4:8, 0:3].any()
    assert cleaned[4:6, 6:8].all()


# --------------------------------------------------------------------------------------------
# Resizing back to the original size


def test_resize_back_to_original_shape():
    prob = np.full((18, 26), 0.1, dtype=np.float32)
    prob[4:12, 6:18] = 0.9
    config = PostprocessConfig(threshold=0.5, min_size_px=0)
    labels = to_instances(prob, original_shape=(72, 104), config=config)
    assert labels.shape == (72, 104) and labels.dtype == np.int32
    assert labels.max() == 1
    # bilinear, pixel centres: input edge at 3.5 (between rows 3 and 4) maps to output
    # (3.5 + 0.5) * 4 - 0.5 = 15.5, so rows 16..47 and columns 24..71 are gland
    rows, cols = np.nonzero(labels)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (16, 47, 24, 71)
    assert labels[15, 40] == 0 and labels[16, 40] == 1
    # the same shape keeps the map unchanged; (h, w, 1) is accepted
    same = to_instances(prob[..., None], original_shape=prob.shape, config=config)
    np.testing.assert_array_equal(same > 0, prob > 0.5)


def test_resize_probability_values():
    out = resize_probability(np.array([[0.0, 1.0]], dtype=np.float32), (2, 4))
    assert out.dtype == np.float32 and out.shape == (2, 4)
    np.testing.assert_allclose(out, [[0.0, 0.25, 0.75, 1.0]] * 2, atol=1e-6)
    # row 16 of the case above: input row 3.625 -> 0.1 + 0.8 * 0.625 = 0.6
    prob = np.full((18, 26), 0.1)
    prob[4:12, 6:18] = 0.9
    assert resize_probability(prob, (72, 104))[16, 40] == pytest.approx(0.6)


# --------------------------------------------------------------------------------------------
# Thresholds and the Otsu guard


def test_otsu_on_a_bimodal_map_is_plain_otsu():
    rng = np.random.default_rng(0)
    gland = rng.random((40, 40)) < 0.4
    prob = np.where(gland, 0.85, 0.15) + rng.uniform(-0.1, 0.1, (40, 40))
    t = threshold_value(prob)
    assert t == threshold_otsu(prob)  # inside (0.2, 0.8): the guard does not act
    np.testing.assert_array_equal(threshold(prob), prob > t)
    # skimage's Otsu picks the centre of the low cluster's top bin when the modes are
    # separated by an empty gap, so a few background pixels may pass
    assert (threshold(prob) == gland).mean() > 0.99


@pytest.mark.parametrize(
    "low, high, expected_t, expected_fraction",
    [
        (0.0, 0.1, 0.2, 0.0),  # no gland: Otsu would split noise; clipped up to 0.2
        (0.9, 1.0, 0.8, 1.0),  # all gland: Otsu would split noise; clipped down to 0.8
    ],
)
def test_otsu_guard_clips_unimodal_maps(low, high, expected_t, expected_fraction):
    prob = np.random.default_rng(1).uniform(low, high, (30, 30))
    assert low < threshold_otsu(prob) < high
    assert threshold_value(prob) == expected_t
    assert threshold(prob).mean() == expected_fraction


@pytest.mark.parametrize("value, expected_fraction", [(0.0, 0.0), (0.3, 0.0), (0.7, 1.0), (1.0, 1.0)])
def test_otsu_guard_constant_map_uses_one_half(value, expected_fraction):
    prob = np.full((8, 9), value)
    assert threshold_value(prob) == 0.5
    assert threshold(prob).mean() == expected_fraction
    labels = to_instances(prob, config=PostprocessConfig(min_size_px=1))
    assert labels.max() == int(expected_fraction)


def test_all_zero_map_gives_no_gland():
    labels = to_instances(np.zeros((16, 16), dtype=np.float32))
    assert labels.dtype == np.int32 and not labels.any()


# --------------------------------------------------------------------------------------------
# Hypothesis invariants

_masks = arrays(bool, st.tuples(st.integers(1, 16), st.integers(1, 16)))
_probs = arrays(
    np.float64,
    st.tuples(st.integers(1, 16), st.integers(1, 16)),
    elements=st.floats(0, 1, allow_nan=False, allow_infinity=False),
)
_configs = st.builds(
    PostprocessConfig,
    threshold=st.one_of(st.just("otsu"), st.floats(0.01, 0.99)),
    min_size_px=st.integers(0, 12),
    hole_size_px=st.integers(0, 12),
    opening_radius_px=st.just(0),
    connectivity=st.sampled_from([1, 2]),
)


@settings(max_examples=50, deadline=None)
@given(mask=_masks, config=_configs)
def test_clean_mask_is_idempotent(mask, config):
    once = clean_mask(mask, config)
    assert once.dtype == bool and once.shape == mask.shape
    np.testing.assert_array_equal(clean_mask(once, config), once)


@settings(max_examples=50, deadline=None, derandomize=True)
@given(mask=_masks, config=_configs, radius=st.integers(1, 2))
def test_clean_mask_with_opening_is_idempotent(mask, config, radius):
    config = config.replace(opening_radius_px=radius)
    once = clean_mask(mask, config)
    np.testing.assert_array_equal(clean_mask(once, config), once)


@settings(max_examples=50, deadline=None)
@given(mask=_masks, config=_configs)
def test_clean_mask_result_obeys_the_sizes(mask, config):
    from skimage.measure import label

    cleaned = clean_mask(mask, config)
    sizes = np.bincount(label(cleaned, connectivity=config.connectivity).ravel())[1:]
    assert (sizes >= config.min_size_px).all()
    # every pixel that survives was foreground or an enclosed hole: nothing new at the border
    border = np.zeros_like(mask)
    border[[0, -1], :] = border[:, [0, -1]] = True
    assert not (cleaned & ~mask & border).any()


@settings(max_examples=50, deadline=None)
@given(prob=_probs, config=_configs, scale=st.sampled_from([None, 0.5, 2.0]))
def test_to_instances_labels_have_no_gaps(prob, config, scale):
    shape = None if scale is None else tuple(max(1, round(n * scale)) for n in prob.shape)
    labels = to_instances(prob, original_shape=shape, config=config)
    assert labels.dtype == np.int32
    assert labels.shape == (prob.shape if shape is None else shape)
    k = int(labels.max())
    assert set(np.unique(labels).tolist()) | {0} == set(range(k + 1))


@settings(max_examples=50, deadline=None)
@given(prob=_probs, config=_configs, radius=st.integers(0, 2), scale=st.sampled_from([None, 0.5, 2.0]))
def test_to_instances_is_the_cleaned_labelled_mask(prob, config, radius, scale):
    # what a sweep relies on: threshold once, then clean and label under each setting
    from skimage.measure import label

    config = config.replace(opening_radius_px=radius)
    shape = prob.shape if scale is None else tuple(max(1, round(n * scale)) for n in prob.shape)
    mask = threshold(resize_probability(prob, shape), config.threshold)
    got = mask_to_instances(mask, config)
    np.testing.assert_array_equal(got, to_instances(prob, shape, config))
    np.testing.assert_array_equal(got, label(clean_mask(mask, config), connectivity=config.connectivity))
    assert got.dtype == np.int32


@settings(max_examples=50, deadline=None)
@given(prob=_probs, t=st.floats(0, 1, exclude_min=True, exclude_max=True))
def test_fixed_threshold_is_numpy_comparison(prob, t):
    np.testing.assert_array_equal(threshold(prob, t), prob > t)
    assert threshold_value(prob, t) == t


# --------------------------------------------------------------------------------------------
# Validation


@pytest.mark.parametrize(
    "prob, match",
    [
        (np.zeros(5), r"\(H, W\) or \(H, W, 1\).*shape=\(5,\)"),
        (np.zeros((4, 4, 3)), r"shape=\(4, 4, 3\)"),
        (np.zeros((0, 4)), r"shape=\(0, 4\)"),
        (np.zeros((4, 4), dtype=np.uint8), r"floating-point.*dtype=uint8"),
        (np.zeros((4, 4), dtype=bool), r"dtype=bool"),
        (np.array([[0.5, np.nan]]), r"finite.*1 NaN/inf"),
        (np.array([[0.5, 1.5]]), r"\[0, 1\].*sigmoid.*\[0\.5, 1\.5\]"),
        (np.array([[-2.0, 0.5]]), r"values in \[-2, 0\.5\]"),
    ],
)
def test_bad_prob_raises(prob, match):
    with pytest.raises(ValueError, match=match):
        to_instances(prob)
    with pytest.raises(ValueError, match=match):
        threshold(prob)


def test_small_rounding_outside_range_is_accepted():
    prob = np.array([[-1e-5, 1.0 + 1e-5]], dtype=np.float64)
    np.testing.assert_array_equal(threshold(prob, 0.5), [[False, True]])
    assert threshold(np.float16([[0.2, 0.9]]), 0.5).tolist() == [[False, True]]


def test_bfloat16_map_is_accepted():
    ml_dtypes = pytest.importorskip("ml_dtypes")  # Keras mixed_bfloat16 predictions
    prob = np.array([[0.1, 0.9]], dtype=ml_dtypes.bfloat16)
    assert threshold(prob, 0.5).tolist() == [[False, True]]
    assert to_instances(prob, (2, 4), PostprocessConfig(min_size_px=1)).dtype == np.int32


@pytest.mark.parametrize("shape", [(0, 5), (5,), (5, 5, 3), "ab", (5.0, 5), None])
def test_bad_original_shape_raises(shape):
    if shape is None:
        return  # None means "keep the size"
    with pytest.raises(ValueError, match=r"original_shape must be two positive integers.*Received"):
        to_instances(np.zeros((4, 4)), original_shape=shape)


@pytest.mark.parametrize("method", ["mean", 0.0, 1.0, 1.5, True, None])
def test_bad_method_raises(method):
    with pytest.raises(ValueError, match=r"'otsu' or a number in \(0, 1\).*Received: method="):
        threshold(np.zeros((4, 4)), method)


def test_bad_config_raises():
    with pytest.raises(TypeError, match=r"PostprocessConfig or None.*Received: dict"):
        to_instances(np.zeros((4, 4)), config={"min_size_px": 3})
    with pytest.raises(TypeError, match="PostprocessConfig"):
        clean_mask(np.zeros((4, 4), bool), config="otsu")


@pytest.mark.parametrize(
    "mask, match",
    [
        (np.zeros((4, 4, 1), bool), r"2-D.*shape=\(4, 4, 1\)"),
        (np.full((3, 3), 0.5), r"boolean.*dtype=float64"),
        (np.full((3, 3), 2), r"dtype=int64, values \[2\]"),
    ],
)
def test_bad_mask_raises(mask, match):
    with pytest.raises(ValueError, match=match):
        clean_mask(mask)
    with pytest.raises(ValueError, match=match):
        mask_to_instances(mask)


def test_integer_01_mask_is_accepted():
    mask = np.zeros((20, 20), dtype=np.uint8)
    mask[2:18, 2:18] = 1
    np.testing.assert_array_equal(clean_mask(mask), mask.astype(bool))


@settings(max_examples=200, deadline=None)
@given(
    mask=st.integers(0, 2**31 - 1).map(
        lambda seed: np.random.default_rng(seed).random((24, 31)) < np.random.default_rng(seed + 1).uniform(0.3, 0.9)),
    radius=st.integers(1, 6),
)
def test_disk_opening_equals_scipys_opening_by_the_disk(mask, radius):
    from scipy import ndimage as ndi
    from skimage.morphology import disk

    from glandseg.postprocess import disk_opening

    pad = 2 * radius + 1  # as clean_mask pads: the disk, twice over, stays inside the array
    padded = np.pad(mask, pad, constant_values=True)
    expected = ndi.binary_opening(padded, structure=disk(radius).astype(bool))[pad:-pad, pad:-pad]
    assert np.array_equal(disk_opening(padded, radius)[pad:-pad, pad:-pad], expected)
    # with no background, or nothing left by the erosion
    assert disk_opening(np.ones((5, 5), bool), radius).all()
    assert not disk_opening(np.eye(5, dtype=bool), radius).any()
