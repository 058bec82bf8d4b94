"""Tests of glandseg.preprocessing: resize, H channel, unsharp mask, network inputs, cache.

Expectations come from outside the module: hand-made arrays, scikit-image's ``rgb2hed``, a
NumPy/SciPy formula for the unsharp mask, and the file system for the cache.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2hed

from glandseg import data, preprocessing
from glandseg.config import PreprocessConfig
from glandseg.data import Sample
from glandseg.preprocessing import H_SCALE, hematoxylin, prepare, resize, to_input, to_mask, unsharp_mask
from glandseg.synthetic import make_dataset

SMALL = PreprocessConfig(size=(64, 32))


def _corr(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _glas_image(root: Path, name: str) -> np.ndarray:
    """Decode a GlaS image with Pillow directly (PNG copy or official BMP)."""
    for suffix in (".png", ".bmp"):
        path = root / f"{name}{suffix}"
        if path.is_file():
            return np.asarray(Image.open(path).convert("RGB"))
    pytest.skip(f"{name} not found in {root}")


@pytest.fixture(scope="module")
def synthetic():
    return make_dataset(3, shape=(96, 128), seed=1)


# --------------------------------------------------------------------------------------------
# resize
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.uint16, np.bool_])
def test_resize_label_map_is_nearest(dtype):
    labels = np.zeros((6, 9), dtype=np.int64)
    labels[1:4, 1:5] = 3
    labels[3:6, 5:9] = 7
    labels = (labels > 0) if dtype is np.bool_ else labels.astype(dtype)
    out = resize(labels, size=(20, 13))
    assert out.shape == (13, 20)  # size is (width, height)
    assert out.dtype == labels.dtype
    assert set(np.unique(out)) <= set(np.unique(labels))  # no invented labels
    assert set(np.unique(out)) == set(np.unique(labels))  # upsampling keeps every label


def test_resize_nearest_hand_case():
    labels = np.array([[1, 2], [3, 4]], dtype=np.int32)
    expected = np.repeat(np.repeat(labels, 2, axis=0), 3, axis=1)
    np.testing.assert_array_equal(resize(labels, size=(6, 4)), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64, np.float16])
def test_resize_image_keeps_dtype_and_constants(dtype):
    image = np.full((7, 11, 3), 100 if dtype == np.uint8 else 0.25, dtype=dtype)
    out = resize(image, size=(16, 12))
    assert out.shape == (12, 16, 3) and out.dtype == np.dtype(dtype)
    np.testing.assert_allclose(out.astype(np.float64), image[0, 0, 0], rtol=1e-6)


def test_resize_image_is_bilinear():
    # a horizontal ramp stays a ramp away from the border under bilinear interpolation
    ramp = np.tile(np.linspace(0.0, 1.0, 10, dtype=np.float32), (4, 1))
    out = resize(ramp, size=(19, 4))
    inner = np.diff(out[0, 2:-2])
    np.testing.assert_allclose(inner, inner[0], rtol=1e-4)
    assert len(np.unique(out)) > 10  # interpolated, not repeated


def test_resize_uint8_rgb_is_interpolated():
    image = np.zeros((2, 2, 3), np.uint8)
    image[:, 1] = 200
    out = resize(image, size=(8, 2))
    assert out.dtype == np.uint8
    assert len(np.unique(out)) > 2


def test_resize_explicit_order():
    labels = np.array([[0, 10]], dtype=np.int32)
    assert set(np.unique(resize(labels, size=(8, 1), order=1))) - {0, 10}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"size": (576,)}, "width, height"),
        ({"size": (0, 5)}, "width, height"),
        ({"size": (5.0, 5)}, "width, height"),
        ({"order": 7}, "order"),
    ],
)
def test_resize_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resize(np.zeros((4, 4)), **kwargs)


def test_resize_bad_image():
    with pytest.raises(ValueError, match=r"\(4,\)"):
        resize(np.zeros(4))


# --------------------------------------------------------------------------------------------
# hematoxylin
# --------------------------------------------------------------------------------------------
@pytest.mark.glas
@pytest.mark.parametrize("name", ["train_1", "train_40", "testA_7", "testA_33", "testB_5"])
def test_hematoxylin_matches_rgb2hed_on_glas(glas_root, name):
    rgb = _glas_image(glas_root, name)
    h = hematoxylin(rgb)
    reference = rgb2hed(rgb)[..., 0]
    assert h.dtype == np.float32 and h.shape == rgb.shape[:2]
    assert 0.0 <= h.min() and h.max() <= 1.0
    assert _corr(h, reference) >= 0.98
    # the documented formula: rgb2hed's H divided by the fixed constant, clipped at 1
    np.testing.assert_allclose(h, np.minimum(reference / H_SCALE, 1.0), atol=1e-5)
    assert np.mean(h >= 1.0) < 1e-3  # clipping is (nearly) never active


def test_hematoxylin_matches_rgb2hed_on_synthetic(synthetic):
    for s in synthetic:
        assert _corr(hematoxylin(s.image), rgb2hed(s.image)[..., 0]) >= 0.98


def test_hematoxylin_scale_is_the_largest_value_of_8bit_pixels():
    # H_SCALE is reached by (R, G, B) = (1, 255, 255); every pixel without a zero channel stays below
    levels = np.array([1, 2, 30, 64, 128, 200, 254, 255], dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(1, -1, 3)
    h = hematoxylin(cube)
    assert h.max() == pytest.approx(1.0, abs=1e-6)
    assert tuple(cube[0, np.argmax(h)]) == (1, 255, 255)
    assert H_SCALE == pytest.approx(rgb2hed(np.array([[[1, 255, 255]]], np.uint8))[0, 0, 0], rel=1e-9)
    assert hematoxylin(np.full((1, 1, 3), 255, np.uint8))[0, 0] == 0.0  # white: no stain
    assert hematoxylin(np.array([[[0, 255, 255]]], np.uint8))[0, 0] == 1.0  # beyond: clipped


def test_hematoxylin_float_input_and_channel_axis():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(9, 7, 3), dtype=np.uint8)
    h = hematoxylin(rgb)
    np.testing.assert_allclose(hematoxylin(rgb / 255.0), h, atol=1e-6)
    np.testing.assert_allclose(hematoxylin(rgb.astype(np.float32) / 255), h, atol=1e-6)
    np.testing.assert_array_equal(hematoxylin(np.moveaxis(rgb, -1, 0), channel_axis=0), h)


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1), (8, 8, 4), (3, 8, 8, 3)])
def test_hematoxylin_rejects_non_rgb(shape):
    with pytest.raises(ValueError, match=r"\(H, W, 3\)") as info:
        hematoxylin(np.zeros(shape, np.uint8))
    assert str(shape) in str(info.value)  # echoes what it received


@pytest.mark.parametrize(
    "rgb, match",
    [
        (np.full((2, 2, 3), 2.0), "max=2"),
        (np.full((2, 2, 3), -0.5), "min=-0.5"),
        (np.full((2, 2, 3), np.nan), "nan"),
        (np.zeros((2, 2, 3), np.uint16), "uint16"),
    ],
)
def test_hematoxylin_rejects_bad_values(rgb, match):
    with pytest.raises(ValueError, match=match):
        hematoxylin(rgb)


# --------------------------------------------------------------------------------------------
# unsharp mask
# --------------------------------------------------------------------------------------------
def _unsharp_reference(x, radius, amount):
    sigma = (radius, radius) + (0,) * (x.ndim - 2)  # never blur across channels
    x = x.astype(np.float64)
    return np.clip(x + amount * (x - gaussian_filter(x, sigma, mode="reflect", truncate=4.0)), 0, 1)


@pytest.mark.parametrize("shape", [(40, 50), (40, 50, 1), (40, 50, 3)])
@pytest.mark.parametrize("radius, amount", [(0.5, 2.0), (2.0, 1.0), (3.5, 0.3)])
def test_unsharp_mask_matches_formula(shape, radius, amount):
    x = np.random.default_rng(1).random(shape).astype(np.float32) * 0.6 + 0.2
    out = unsharp_mask(x, radius_px=radius, amount=amount)
    assert out.dtype == np.float32 and out.shape == shape
    np.testing.assert_allclose(out, _unsharp_reference(x, radius, amount), atol=1e-5)


def test_unsharp_mask_rgb_is_per_channel():
    # regression: scikit-image 0.26 mishandles channel_axis=-1 (scikit-image issue #7264)
    x = np.random.default_rng(2).random((30, 20, 3)).astype(np.float32)
    out = unsharp_mask(x)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], unsharp_mask(x[..., c]), atol=1e-6)


def test_unsharp_mask_clips_and_accepts_uint8():
    x = np.zeros((9, 9), np.uint8)
    x[4, 4] = 255
    out = unsharp_mask(x, radius_px=1.0, amount=5.0)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out, _unsharp_reference(x / 255.0, 1.0, 5.0), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [({"radius_px": 0}, "radius_px"), ({"amount": np.inf}, "amount")])
def test_unsharp_mask_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unsharp_mask(np.zeros((4, 4), np.float32), **kwargs)


# --------------------------------------------------------------------------------------------
# to_input / to_mask
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config, channels",
    [
        (PreprocessConfig(size=(64, 32)), 1),
        (PreprocessConfig(size=(64, 32), unsharp=True), 1),
        (PreprocessConfig(size=(64, 32), input="rgb"), 3),
        (PreprocessConfig(size=(64, 32), input="rgb", unsharp=True, unsharp_radius_px=1.0), 3),
    ],
)
def test_to_input_shape_dtype_range(synthetic, config, channels):
    x = to_input(synthetic[0].image, config)
    assert x.shape == (32, 64, channels) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_to_input_order_resize_then_channel_then_unsharp(synthetic):
    rgb = synthetic[0].image
    config = PreprocessConfig(size=(160, 96), unsharp=True, unsharp_radius_px=1.5, unsharp_amount=0.7)
    resized = np.clip(resize(rgb.astype(np.float32) / 255, (160, 96)), 0, 1)
    expected = _unsharp_reference(hematoxylin(resized), 1.5, 0.7)
    np.testing.assert_allclose(to_input(rgb, config)[..., 0], expected, atol=1e-5)
    plain = to_input(rgb, config.replace(input="rgb", unsharp=False))
    np.testing.assert_allclose(plain, resized, atol=1e-6)


def test_to_input_bad_arguments(synthetic):
    with pytest.raises(TypeError, match="PreprocessConfig"):
        to_input(synthetic[0].image, {"input": "hematoxylin"})
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        to_input(synthetic[0].labels.astype(np.uint8), SMALL)


def test_to_mask_is_binary_nearest():
    labels = np.array([[0, 3], [7, 0]], dtype=np.int32)
    expected = np.array([[0, 0, 1, 1]] * 2 + [[1, 1, 0, 0]] * 2, dtype=np.uint8)
    np.testing.assert_array_equal(to_mask(labels, size=(4, 4)), expected)
    with pytest.raises(ValueError, match="label map"):
        to_mask(np.zeros((4, 4), np.float32))


# --------------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------------
def _count_to_input(monkeypatch):
    calls = []
    original = preprocessing.to_input

    def counting(rgb, config=None):
        calls.append(1)
        return original(rgb, config)

    monkeypatch.setattr(preprocessing, "to_input", counting)
    return calls


def test_prepare_writes_once_then_reads(tmp_path, synthetic, monkeypatch):
    calls = _count_to_input(monkeypatch)
    first = prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    assert len(calls) == 3
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz" and files[0].name.startswith("toy-hematoxylin-64x32-")
    mtime = files[0].stat().st_mtime_ns

    second = prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    assert len(calls) == 3  # nothing recomputed
    assert files[0].stat().st_mtime_ns == mtime  # nothing rewritten
    assert second["names"] == first["names"] == ["synthetic_0", "synthetic_1", "synthetic_2"]
    assert second["grades"] == first["grades"] == [s.grade for s in synthetic]
    for key in ("x", "mask", "shapes"):
        np.testing.assert_array_equal(second[key], first[key])


def test_prepare_contents(tmp_path, synthetic):
    d = prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    assert set(d) == {"names", "x", "mask", "shapes", "grades"}
    assert d["x"].shape == (3, 32, 64, 1) and d["x"].dtype == np.float16
    assert d["mask"].shape == (3, 32, 64) and d["mask"].dtype == np.uint8
    assert set(np.unique(d["mask"])) <= {0, 1}
    np.testing.assert_array_equal(d["shapes"], [[96, 128]] * 3)
    for i, s in enumerate(synthetic):
        np.testing.assert_allclose(d["x"][i], to_input(s.image, SMALL), atol=3e-4)  # float16 storage
        np.testing.assert_array_equal(d["mask"][i], to_mask(s.labels, SMALL.size))


def test_prepare_key_changes_with_config_and_data(tmp_path, synthetic):
    prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    d = prepare("toy", SMALL.replace(unsharp=True), tmp_path, samples=synthetic, progress=False)
    prepare("toy", SMALL.replace(input="rgb"), tmp_path, samples=synthetic, progress=False)
    assert d["x"].shape[-1] == 1
    changed = list(synthetic)
    image = changed[1].image.copy()
    image[0, 0, 0] ^= 1  # one bit of one pixel
    changed[1] = Sample(changed[1].name, image, changed[1].labels, changed[1].grade)
    prepare("toy", SMALL, tmp_path, samples=changed, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 4, names
    assert not [n for n in names if n.endswith(".tmp")]  # no temporary files left behind


def test_prepare_recomputes_an_unreadable_cache(tmp_path, synthetic):
    first = prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not a zip file")
    with pytest.warns(UserWarning, match="unreadable cache"):
        again = prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)
    np.testing.assert_array_equal(again["x"], first["x"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prepare("toy", SMALL, tmp_path, samples=synthetic, progress=False)  # repaired


def test_prepare_bad_arguments(tmp_path, synthetic):
    with pytest.raises(ValueError, match="split"):
        prepare("validation", SMALL, tmp_path)
    with pytest.raises(ValueError, match="split"):
        prepare("../x", SMALL, tmp_path, samples=synthetic)
    with pytest.raises(TypeError, match="PreprocessConfig"):
        prepare("toy", "hematoxylin", tmp_path, samples=synthetic)
    with pytest.raises(ValueError, match="non-empty"):
        prepare("toy", SMALL, tmp_path, samples=[])
    bad = Sample("bad", np.zeros((10, 12, 3), np.uint8), np.zeros((10, 11), np.int32))
    with pytest.raises(ValueError, match="'bad'"):
        prepare("toy", SMALL, tmp_path, samples=[bad])


@pytest.mark.glas
def test_prepare_glas_split_is_cached_by_file_content(glas_root, tmp_path, monkeypatch):
    config = PreprocessConfig(size=(416, 288))
    d = prepare("testB", config, tmp_path, root=glas_root, progress=False)
    assert d["names"][:2] == ["testB_1", "testB_2"] and len(d["names"]) == 20
    assert d["x"].shape == (20, 288, 416, 1) and d["mask"].shape == (20, 288, 416)
    assert tuple(d["shapes"][0]) == (522, 775)
    assert set(d["grades"]) <= {"benign", "malignant"}

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cache hit must not decode the images")

    monkeypatch.setattr(data, "load_split", no_decoding)
    again = prepare("testB", config, tmp_path, root=glas_root, progress=False)
    np.testing.assert_array_equal(again["x"], d["x"])
    assert len(os.listdir(tmp_path)) == 1
