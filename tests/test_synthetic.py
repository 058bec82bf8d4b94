"""Tests of glandseg.synthetic: structure, determinism and stain realism of the synthetic set."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.color import rgb2hed

from glandseg.data import Sample
from glandseg.synthetic import (
    CYTOPLASM_RGB,
    LUMEN_RGB,
    NUCLEUS_RGB,
    STROMA_RGB,
    make_dataset,
)


@pytest.fixture(scope="module")
def default_set():
    return make_dataset(4)


@pytest.fixture(scope="module")
def small_set():
    return make_dataset(4, shape=(64, 96))


def _touching(labels):
    """True when two different glands are 4-adjacent (share a border)."""
    pairs = [
        (labels[:, 1:], labels[:, :-1]),
        (labels[1:, :], labels[:-1, :]),
    ]
    return any(np.any((a > 0) & (b > 0) & (a != b)) for a, b in pairs)


@pytest.mark.parametrize("shape", [(288, 416), (64, 96), (32, 32), (100, 37)])
def test_types_shapes_names_grades(shape):
    samples = make_dataset(3, shape=shape, seed=1)
    assert [s.name for s in samples] == ["synthetic_0", "synthetic_1", "synthetic_2"]
    assert [s.grade for s in samples] == ["benign", "malignant", "benign"]
    for s in samples:
        assert isinstance(s, Sample)
        assert s.image.shape == shape + (3,) and s.image.dtype == np.uint8
        assert s.labels.shape == shape and s.labels.dtype == np.int32


@pytest.mark.parametrize("fixture", ["default_set", "small_set"])
def test_labels_are_1_to_k_without_gaps_and_connected(fixture, request):
    for s in request.getfixturevalue(fixture):
        values = np.unique(s.labels)
        k = int(values.max())
        assert k >= 1, f"{s.name} has no gland"
        assert values.tolist() == list(range(k + 1))
        for index in range(1, k + 1):
            _, parts = ndi.label(s.labels == index)
            assert parts == 1, f"{s.name}: gland {index} is in {parts} pieces"


def test_gland_count_is_moderate(default_set, small_set):
    for s in default_set + small_set:
        assert 1 <= s.labels.max() <= 8


def test_some_glands_touch(default_set, small_set):
    assert any(_touching(s.labels) for s in default_set)
    assert any(_touching(s.labels) for s in small_set)


def test_some_glands_are_cut_by_the_border(default_set):
    def on_border(labels):
        return np.any(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))

    assert any(on_border(s.labels) for s in default_set)


def test_same_seed_is_byte_identical_and_prefix_stable():
    a = make_dataset(3, shape=(64, 96), seed=7)
    b = make_dataset(3, shape=(64, 96), seed=7)
    c = make_dataset(2, shape=(64, 96), seed=7)
    for x, y in zip(a, b):
        assert x.image.tobytes() == y.image.tobytes()
        assert x.labels.tobytes() == y.labels.tobytes()
    for x, y in zip(a, c):
        assert x.image.tobytes() == y.image.tobytes()


def test_different_seed_differs():
    a = make_dataset(2, shape=(64, 96), seed=0)
    b = make_dataset(2, shape=(64, 96), seed=1)
    for x, y in zip(a, b):
        assert not np.array_equal(x.image, y.image)
        assert not np.array_equal(x.labels, y.labels)
    # images within one set differ too
    assert not np.array_equal(a[0].image, a[1].image)


def test_palette_hematoxylin_order():
    # colour deconvolution of the reference colours: nuclei carry the most hematoxylin,
    # stroma the most eosin relative to its hematoxylin, the lumen almost no stain
    hed = rgb2hed(np.array([[STROMA_RGB, CYTOPLASM_RGB, NUCLEUS_RGB, LUMEN_RGB]], dtype=np.uint8))[0]
    stroma, cytoplasm, nucleus, lumen = hed
    assert nucleus[0] > 3 * cytoplasm[0] > 3 * stroma[0]
    assert stroma[1] > 3 * stroma[0]
    assert lumen[:2].max() < stroma[:2].max()


@pytest.mark.parametrize("fixture", ["default_set", "small_set"])
def test_nuclei_have_more_hematoxylin_than_stroma(fixture, request):
    for s in request.getfixturevalue(fixture):
        h = rgb2hed(s.image)[..., 0]
        gland = s.labels > 0
        stroma = ~ndi.binary_dilation(gland, iterations=2)
        # the darkest tenth of gland pixels are nuclei; compare with typical stroma
        assert np.percentile(h[gland], 90) > 5 * np.median(h[stroma])
        # and the most hematoxylin-rich pixels of the image lie mostly in glands (the rims)
        rich = h > np.percentile(h, 98)
        assert gland[rich].mean() > 0.6


def test_fast_enough():
    start = time.perf_counter()
    make_dataset(8)
    # ~0.5 s on a loaded 2-core machine; generous bound to stay robust
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, r"n must be a positive integer.*n=0"),
        ({"n": 2.0}, r"n must be a positive integer.*n=2\.0"),
        ({"n": True}, r"n=True"),
        ({"n": 1, "shape": (31, 64)}, r"shape must be two integers.*>= 32.*\(31, 64\)"),
        ({"n": 1, "shape": (64,)}, r"shape=\(64,\)"),
        ({"n": 1, "shape": (64, 64, 3)}, r"shape=\(64, 64, 3\)"),
        ({"n": 1, "shape": (64.0, 64)}, r"shape=\(64\.0, 64\)"),
        ({"n": 1, "shape": 64}, r"shape=64"),
        ({"n": 1, "seed": -1}, r"seed must be a non-negative integer.*seed=-1"),
        ({"n": 1, "seed": "a"}, r"seed='a'"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_dataset(**kwargs)


def test_numpy_integers_are_accepted():
    (s,) = make_dataset(np.int64(1), shape=(np.int64(40), 48), seed=np.uint8(3))
    assert s.image.shape == (40, 48, 3)
