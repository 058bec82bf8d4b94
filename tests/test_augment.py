"""Tests of glandseg.augment: the paper's 13 x 4 crops and the random mode.

Masks must move exactly with images. Exact transforms are checked on images whose pixel values
are all distinct (so a mask ``image > t`` must equal ``crop > t``); rotations against
``skimage.transform.rotate`` and on smooth images thresholded into masks.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage.transform import rotate

from glandseg.augment import (
    D4,
    PAPER_VARIANTS,
    PaperAugmenter,
    RandomAugmenter,
    Variant,
    crop_positions,
    dihedral,
    expand_paper,
    make_augmenter,
    paper_crops,
    paper_variants,
    random_sample,
)
from glandseg.config import AugmentConfig

H, W = 576, 832  # the paper's resized frame
CROP = (416, 288)  # (width, height)
CH, CW = 288, 416
SMALL = AugmentConfig(crop_size=(32, 32))
EXACT = [v for v in PAPER_VARIANTS if v.angle_deg == 0]
OBLIQUE = [v for v in PAPER_VARIANTS if v.angle_deg != 0]

# plain NumPy versions of the eight symmetries, written independently of the module
NUMPY_D4 = {
    "identity": lambda a: a,
    "hflip": np.fliplr,
    "vflip": np.flipud,
    "rot180": lambda a: np.flipud(np.fliplr(a)),
    "rot90": lambda a: np.rot90(a, 1),
    "rot270": lambda a: np.rot90(a, 3),
    "transpose": lambda a: np.swapaxes(a, 0, 1),
    "transverse": lambda a: np.swapaxes(np.rot90(a, 2), 0, 1),
}
INVERSE = {"rot90": "rot270", "rot270": "rot90"}  # every other element is its own inverse


def _distinct_image(h=H, w=W):
    """(h, w, 1) float32 image whose pixel values are all different."""
    return np.random.default_rng(0).permutation(h * w).reshape(h, w, 1).astype(np.float32) / (h * w)


def _smooth_image(h=H, w=W):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    return (np.sin(xx / 41.0) * np.cos(yy / 29.0) + 0.3 * np.sin((xx + yy) / 67.0)).astype(np.float32)[..., None]


def _iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture(scope="module")
def distinct():
    image = _distinct_image()
    return image, (image[..., 0] > 0.5).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# the 13 variants and their crops
# --------------------------------------------------------------------------------------------
def test_paper_variants_are_13_distinct_transforms():
    assert len(PAPER_VARIANTS) == 13
    assert len({(v.transform, v.angle_deg) for v in PAPER_VARIANTS}) == 13
    assert len({v.name for v in PAPER_VARIANTS}) == 13
    assert {v.transform for v in EXACT} == set(D4) and len(EXACT) == 8


def test_paper_count_is_4420():
    x = np.broadcast_to(np.zeros((1, H, W, 1), np.float16), (85, H, W, 1))  # no memory
    mask = np.broadcast_to(np.zeros((1, H, W), np.uint8), (85, H, W))
    assert len(PaperAugmenter(x, mask, AugmentConfig())) == 85 * 13 * 4 == 4420
    assert len(make_augmenter(x, mask, AugmentConfig(), variants=1)) == 85 * 4


def test_all_52_crops_of_an_image_are_distinct(distinct):
    image, mask = distinct
    aug = PaperAugmenter(image[None], mask[None], AugmentConfig())
    assert len(aug) == 52
    seen = set()
    for i in range(len(aug)):
        crop, crop_mask = aug[i]
        assert crop.shape == (CH, CW, 1) and crop.dtype == np.float32
        assert crop_mask.shape == (CH, CW) and crop_mask.dtype == np.uint8
        seen.add(crop.tobytes())
    assert len(seen) == 52


def test_full_frames_of_the_variants_are_distinct(distinct):
    image, mask = distinct
    frames = paper_variants(image, mask)
    assert len(frames) == 13
    assert len({f.tobytes() for f, _ in frames}) == 13
    for (frame, frame_mask), v in zip(frames, PAPER_VARIANTS):
        expected = (W, H) if v.transform in {"rot90", "rot270", "transpose", "transverse"} else (H, W)
        assert frame.shape[:2] == frame_mask.shape == expected


@pytest.mark.parametrize("variant", EXACT, ids=lambda v: v.name)
def test_exact_variant_crops_are_windows_of_the_numpy_transform(distinct, variant):
    image, mask = distinct
    reference = NUMPY_D4[variant.transform](image)
    reference_mask = NUMPY_D4[variant.transform](mask)
    crops = paper_crops(image, mask, variant, CROP, 4)
    if reference.shape[:2] == (H, W):
        # landscape: the four crops are the quadrants and tile the variant exactly
        tiled = np.block([[crops[0][0][..., 0], crops[1][0][..., 0]], [crops[2][0][..., 0], crops[3][0][..., 0]]])
        np.testing.assert_array_equal(tiled, reference[..., 0])
        windows = [(0, 0), (0, 416), (288, 0), (288, 416)]
    else:
        # portrait 832 x 576 frame: the four corners
        windows = [(0, 0), (0, 160), (544, 0), (544, 160)]
    for (crop, crop_mask), (y0, x0) in zip(crops, windows):
        np.testing.assert_array_equal(crop, reference[y0 : y0 + CH, x0 : x0 + CW])
        np.testing.assert_array_equal(crop_mask, reference_mask[y0 : y0 + CH, x0 : x0 + CW])
        np.testing.assert_array_equal(crop_mask, crop[..., 0] > 0.5)  # the mask moved with the image


@pytest.mark.parametrize("variant", OBLIQUE, ids=lambda v: v.name)
def test_oblique_crops_are_windows_of_skimage_rotate(variant):
    image = _smooth_image()
    mask = (image[..., 0] > 0.2).astype(np.uint8)
    rotated = rotate(image, variant.angle_deg, order=1, mode="reflect", preserve_range=True)
    rotated_mask = rotate(mask.astype(float), variant.angle_deg, order=0, mode="reflect", preserve_range=True)
    positions = crop_positions((H, W), CROP, 4, angle_deg=variant.angle_deg)
    crops = paper_crops(image, mask, variant, CROP, 4)
    for (crop, crop_mask), (y0, x0) in zip(crops, positions):
        assert 0 <= y0 <= H - CH and 0 <= x0 <= W - CW
        np.testing.assert_allclose(crop, rotated[y0 : y0 + CH, x0 : x0 + CW], atol=1e-5)
        # nearest-neighbour ties may round differently in a handful of pixels
        assert np.mean(crop_mask != rotated_mask[y0 : y0 + CH, x0 : x0 + CW]) < 1e-3
        # the mask moved with the image: it matches the rotated image thresholded
        assert _iou(crop_mask, crop[..., 0] > 0.2) > 0.95


@pytest.mark.parametrize("variant", OBLIQUE, ids=lambda v: v.name)
def test_oblique_crops_contain_no_padding(variant):
    # inverse map of skimage.transform.rotate: source = c + R(angle) (output - c), in (x, y)
    t = np.deg2rad(variant.angle_deg)
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    for y0, x0 in crop_positions((H, W), CROP, 4, angle_deg=variant.angle_deg):
        corners = np.array([[x0, y0], [x0 + CW - 1, y0], [x0, y0 + CH - 1], [x0 + CW - 1, y0 + CH - 1]], float)
        source = (corners - c) @ rot.T + c
        assert (source >= 0).all() and (source[:, 0] <= W - 1).all() and (source[:, 1] <= H - 1).all()


def test_oblique_crop_of_a_block_mask_follows_the_image():
    # 0/1 blocks: a mask rotated with nearest neighbour against the image rotated bilinearly
    yy, xx = np.mgrid[0:H, 0:W]
    blocks = (((yy // 48) + (xx // 64)) % 2).astype(np.uint8)
    image = blocks[..., None].astype(np.float32)
    for variant in OBLIQUE:
        for crop, crop_mask in paper_crops(image, blocks, variant, CROP, 4):
            assert _iou(crop_mask, crop[..., 0] > 0.5) > 0.95


def test_uint8_input_and_multichannel_images():
    rgb = (np.random.default_rng(3).random((64, 96, 3)) * 255).astype(np.uint8)
    mask = (rgb[..., 0] > 128).astype(np.uint8)
    for variant in PAPER_VARIANTS:
        for crop, crop_mask in paper_crops(rgb, mask, variant, (32, 32), 4):
            assert crop.shape == (32, 32, 3) and crop.dtype == np.float32 and crop_mask.shape == (32, 32)


def test_dihedral_conventions_match_skimage_rotate():
    a = _distinct_image(5, 7)[..., 0]
    for angle, name in ((90, "rot90"), (180, "rot180"), (270, "rot270")):
        expected = rotate(a, angle, resize=True, order=0, preserve_range=True)
        np.testing.assert_array_equal(dihedral(a, name), expected)
    with pytest.raises(ValueError, match="transform"):
        dihedral(a, "rot45")


@settings(max_examples=60, deadline=None)
@given(
    image=arrays(np.int16, st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 3))),
    name=st.sampled_from(D4),
)
def test_dihedral_is_an_exact_invertible_permutation(image, name):
    out = dihedral(image, name)
    np.testing.assert_array_equal(out, NUMPY_D4[name](image))
    np.testing.assert_array_equal(np.sort(out, axis=None), np.sort(image, axis=None))  # same multiset
    np.testing.assert_array_equal(dihedral(out, INVERSE.get(name, name)), image)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(4, 24),
    w=st.integers(4, 24),
    crop_w=st.integers(1, 24),
    crop_h=st.integers(1, 24),
    seed=st.integers(0, 2**16),
)
def test_random_sample_moves_the_mask_with_the_image(h, w, crop_w, crop_h, seed):
    image = _distinct_image(h, w)
    mask = (image[..., 0] > 0.5).astype(np.uint8)
    fits = (crop_h <= h and crop_w <= w) or (crop_h <= w and crop_w <= h)
    if not fits:
        with pytest.raises(ValueError, match="does not fit"):
            random_sample(image, mask, (crop_w, crop_h), seed)
        return
    crop, crop_mask = random_sample(image, mask, (crop_w, crop_h), seed)
    assert crop.shape == (crop_h, crop_w, 1) and crop_mask.shape == (crop_h, crop_w)
    np.testing.assert_array_equal(crop_mask, crop[..., 0] > 0.5)
    assert set(crop.ravel().tolist()) <= set(image.ravel().tolist())  # values only moved


# --------------------------------------------------------------------------------------------
# determinism
# --------------------------------------------------------------------------------------------
def test_paper_augmenter_is_deterministic():
    x = _smooth_image(64, 96)[None].repeat(2, axis=0)
    x[1] *= -1
    mask = (x[..., 0] > 0).astype(np.uint8)
    config = AugmentConfig(crop_size=(32, 32), crops_per_variant=6)  # crops 5 and 6 are random
    a = PaperAugmenter(x, mask, config, seed=5)
    b = PaperAugmenter(x.copy(), mask.copy(), config, seed=5)
    c = PaperAugmenter(x, mask, config, seed=6)
    order = np.random.default_rng(0).permutation(len(a))
    for i in order[:40]:  # access order does not matter
        np.testing.assert_array_equal(a[i][0], b[i][0])
        np.testing.assert_array_equal(a[i][1], b[i][1])
    assert a.locate(5) == (0, 0, 5)
    random_items = [i for i in range(len(a)) if a.locate(i)[2] >= 4]
    assert any(not np.array_equal(a[i][0], c[i][0]) for i in random_items)
    corner_items = [i for i in range(len(a)) if a.locate(i)[2] < 4]
    assert all(np.array_equal(a[i][0], c[i][0]) for i in corner_items[:20])  # corners ignore the seed


def test_random_positions_mode():
    x = _smooth_image(64, 96)[None]
    mask = (x[..., 0] > 0).astype(np.uint8)
    aug = PaperAugmenter(x, mask, AugmentConfig(crop_size=(32, 32)), seed=1, positions="random")
    again = PaperAugmenter(x, mask, AugmentConfig(crop_size=(32, 32)), seed=1, positions="random")
    for i in range(0, len(aug), 7):
        np.testing.assert_array_equal(aug[i][0], again[i][0])
    yx = crop_positions((64, 96), (32, 32), 50, positions="random", rng=0)
    assert yx.shape == (50, 2) and yx[:, 0].max() <= 32 and yx[:, 1].max() <= 64 and yx.min() >= 0


def test_random_augmenter_is_deterministic_per_seed_and_epoch():
    x = _distinct_image(64, 96)[None].repeat(3, axis=0)
    mask = (x[..., 0] > 0.5).astype(np.uint8)
    config = AugmentConfig(mode="random", crop_size=(32, 32))
    a = RandomAugmenter(x, mask, config, seed=0)
    b = RandomAugmenter(x, mask, config, seed=0)
    assert len(a) == 3 * 13 * 4
    np.testing.assert_array_equal(a[7][0], b[7][0])
    first = a[7][0]
    a.set_epoch(1)
    assert not np.array_equal(a[7][0], first)
    a.set_epoch(0)
    np.testing.assert_array_equal(a[7][0], first)
    assert not np.array_equal(RandomAugmenter(x, mask, config, seed=1)[7][0], first)
    assert len(RandomAugmenter(x, mask, config, length=10)) == 10
    with pytest.raises(IndexError):
        a[len(a)]


# --------------------------------------------------------------------------------------------
# random mode: which rotations are allowed
# --------------------------------------------------------------------------------------------
def _which(crop, image):
    return {name for name, f in NUMPY_D4.items() if f(image).shape == crop.shape and np.array_equal(f(image), crop)}


def test_random_quarter_turns_only_when_the_crop_fits():
    # the crop is the whole landscape image: a quarter turn would not contain it
    image = _distinct_image(32, 48)
    mask = (image[..., 0] > 0.5).astype(np.uint8)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(100):
        crop, crop_mask = random_sample(image, mask, (48, 32), rng)
        assert crop.shape == (32, 48, 1)
        seen |= _which(crop, image)
        np.testing.assert_array_equal(crop_mask, crop[..., 0] > 0.5)
    assert seen == {"identity", "hflip", "vflip", "rot180"}


def test_random_uses_all_eight_symmetries_when_allowed():
    image = _distinct_image(40, 40)
    mask = (image[..., 0] > 0.5).astype(np.uint8)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(200):
        seen |= _which(random_sample(image, mask, (40, 40), rng)[0], image)
    assert seen == set(D4)


def test_random_crop_positions_vary():
    image = _distinct_image(20, 30)
    mask = np.zeros((20, 30), np.uint8)
    rng = np.random.default_rng(2)
    corners = {float(random_sample(image, mask, (10, 10), rng)[0][0, 0, 0]) for _ in range(400)}
    assert len(corners) > 100  # many different positions and orientations


# --------------------------------------------------------------------------------------------
# make_augmenter, expand_paper, errors
# --------------------------------------------------------------------------------------------
def test_make_augmenter_and_expand_paper():
    x = _smooth_image(64, 96)[None]
    mask = (x[..., 0] > 0).astype(np.uint8)
    paper = make_augmenter(x, mask, AugmentConfig(crop_size=(32, 32)), seed=0)
    assert isinstance(paper, PaperAugmenter)
    assert isinstance(make_augmenter(x, mask, AugmentConfig(mode="random", crop_size=(32, 32))), RandomAugmenter)
    images, masks = expand_paper(x, mask, AugmentConfig(crop_size=(32, 32)))
    assert images.shape == (52, 32, 32, 1) and masks.shape == (52, 32, 32)
    for i in (0, 17, 51):
        np.testing.assert_array_equal(images[i], paper[i][0])
        np.testing.assert_array_equal(masks[i], paper[i][1])
    only = make_augmenter(x, mask, AugmentConfig(crop_size=(32, 32)), variants=["identity", "rot+45"])
    assert len(only) == 8 and [v.name for v in only.variants] == ["identity", "rot+45"]
    custom = PaperAugmenter(x, mask, AugmentConfig(crop_size=(32, 32)), variants=[Variant("tilt", "hflip", 7.5)])
    assert custom[0][0].shape == (32, 32, 1)


def test_crop_as_large_as_the_frame_falls_back_to_reflection():
    x = _smooth_image(64, 96)[None]
    mask = (x[..., 0] > 0).astype(np.uint8)
    aug = PaperAugmenter(x, mask, AugmentConfig(crop_size=(96, 64)))
    for i in range(len(aug)):
        crop, crop_mask = aug[i]
        assert crop.shape == (64, 96, 1) and crop_mask.shape == (64, 96)
    np.testing.assert_array_equal(aug[0][0], x[0])


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x, m: PaperAugmenter(x, m[:, :10]), ValueError, "mask"),
        (lambda x, m: PaperAugmenter(x[0], m), ValueError, r"\(N, H, W, C\)"),
        (lambda x, m: PaperAugmenter(x, m, AugmentConfig(crop_size=(128, 32))), ValueError, "does not fit"),
        (lambda x, m: PaperAugmenter(x, m, {"crop_size": (32, 32)}), TypeError, "AugmentConfig"),
        (lambda x, m: PaperAugmenter(x, m, SMALL, variants=14), ValueError, "variants"),
        (lambda x, m: PaperAugmenter(x, m, SMALL, variants=["spin"]), ValueError, "spin"),
        (lambda x, m: PaperAugmenter(x, m, SMALL, positions="grid"), ValueError, "positions"),
        (lambda x, m: RandomAugmenter(x, m, SMALL, length=0), ValueError, "length"),
        (lambda x, m: make_augmenter(x, m, AugmentConfig(mode="random"), variants=1), ValueError, "paper"),
        (lambda x, m: make_augmenter(x, m, AugmentConfig(), length=5), ValueError, "random"),
        (lambda x, m: random_sample(x[0], m[0].astype(float)), ValueError, "mask"),
        (lambda x, m: random_sample(x[0], m[0], (30,)), ValueError, "crop_size"),
        (lambda x, m: random_sample(x[0], m[0], (8, 8), rng="seed"), TypeError, "rng"),
    ],
)
def test_bad_arguments(call, error, match):
    x = np.zeros((1, 64, 96, 1), np.float32)
    m = np.zeros((1, 64, 96), np.uint8)
    with pytest.raises(error, match=match):
        call(x, m)
