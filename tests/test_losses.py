"""Tests for glandseg.losses (run once per backend: KERAS_BACKEND=tensorflow and =jax).

Expectations come from a float64 NumPy transcription of the paper's formulas and from tiny
hand-worked cases, never from the code under test.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from glandseg import losses
from glandseg.config import ModelConfig, TrainConfig
from glandseg.losses import bce, coarse_target, get, output_losses, soft_accuracy, soft_dice

EPS = 1e-7
# the clip bounds as float32 holds them: 1 - 1e-7 rounds to 1 - 2**-23
LO, HI = float(np.float32(EPS)), float(np.float32(1) - np.float32(EPS))
TOL = {"rtol": 1e-5, "atol": 1e-5}


def to_np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


# ---------------------------------------------------------------- NumPy reference (paper Eq.)
def np_bce(g, o, axis=None):
    o = np.clip(o, LO, HI)
    return -np.mean(g * np.log(o) + (1 - g) * np.log(1 - o), axis=axis)


def np_dice(g, o, s=1.0, axis=None):
    return (2 * np.sum(g * o, axis=axis) + s) / (np.sum(g, axis=axis) + np.sum(o, axis=axis) + s)


def np_acc(g, o, axis=None):
    return np.mean(g * o + (1 - g) * (1 - o), axis=axis)


def np_loss(name, g, o, s=1.0, dice_term="exp", per_sample=False):
    axis = tuple(range(1, g.ndim)) if per_sample else None
    b, d, a = np_bce(g, o, axis), np_dice(g, o, s, axis), np_acc(g, o, axis)
    dt = np.exp(1 + d) if dice_term == "exp" else np.log(1 + d)
    value = {"bce": b, "dice": 1 - d, "L1": b - dt, "L2": b - dt - a, "L3": 2 * b - dt - a}[name]
    return np.mean(value)


def random_pair(shape, seed, soft_truth=False):
    rng = np.random.default_rng(seed)
    g = rng.random(shape) if soft_truth else (rng.random(shape) > 0.6).astype(np.float64)
    o = rng.random(shape)
    return g.astype(np.float32).astype(np.float64), o.astype(np.float32).astype(np.float64)


SHAPES = [(2, 8, 8, 1), (1, 16, 12, 1), (3, 5, 7, 1), (4, 10)]
SEEDS = [0, 1, 2]


# ---------------------------------------------------------------- against NumPy
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", SEEDS)
def test_components_match_numpy(shape, seed):
    g, o = random_pair(shape, seed)
    g32, o32 = g.astype(np.float32), o.astype(np.float32)
    np.testing.assert_allclose(to_np(bce(g32, o32)), np_bce(g, o), **TOL)
    np.testing.assert_allclose(to_np(soft_accuracy(g32, o32)), np_acc(g, o), **TOL)
    for s in (0.0, 1.0, 5.0):
        np.testing.assert_allclose(to_np(soft_dice(g32, o32, smooth=s)), np_dice(g, o, s), **TOL)
        per_sample = np.mean(np_dice(g, o, s, axis=tuple(range(1, g.ndim))))
        np.testing.assert_allclose(to_np(soft_dice(g32, o32, smooth=s, per_sample=True)), per_sample, **TOL)


@pytest.mark.parametrize("name", losses.LOSS_NAMES)
@pytest.mark.parametrize("dice_term", ["exp", "log"])
@pytest.mark.parametrize("shape, seed", [(SHAPES[0], 0), (SHAPES[1], 1), (SHAPES[2], 2)])
def test_named_losses_match_numpy(name, dice_term, shape, seed):
    g, o = random_pair(shape, seed, soft_truth=seed == 2)
    fn = get(name, dice_term=dice_term, smooth=1.0)
    got = fn(g.astype(np.float32), o.astype(np.float32))
    assert tuple(got.shape) == ()
    np.testing.assert_allclose(to_np(got), np_loss(name, g, o, 1.0, dice_term), **TOL)


@pytest.mark.parametrize("name", ["L1", "L3", "dice"])
def test_per_sample_losses_match_numpy(name):
    g, o = random_pair((3, 6, 6, 1), 4)
    fn = get(name, smooth=0.5, per_sample=True)
    np.testing.assert_allclose(
        to_np(fn(g.astype(np.float32), o.astype(np.float32))),
        np_loss(name, g, o, 0.5, per_sample=True), **TOL,
    )
    # per-sample values make sample weights meaningful: weight 0 drops a sample
    weights = np.array([1.0, 0.0, 1.0], np.float32)
    kept = np_loss(name, g[[0, 2]], o[[0, 2]], 0.5, per_sample=True) * 2 / 3  # sum / batch size
    np.testing.assert_allclose(
        to_np(fn(g.astype(np.float32), o.astype(np.float32), sample_weight=weights)), kept, **TOL
    )


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_predictions_are_computed_in_float32(dtype):
    g, o = random_pair((2, 8, 8, 1), 3)
    o_low = keras.ops.cast(o.astype(np.float32), dtype)
    o_rounded = to_np(o_low)  # the values the loss actually sees
    for name in ("L3", "bce"):
        got = get(name)(g.astype(np.float32), o_low)
        assert keras.backend.standardize_dtype(got.dtype) == "float32"
        np.testing.assert_allclose(to_np(got), np_loss(name, g, o_rounded), **TOL)
    got = soft_dice(g.astype(np.float32), o_low)
    assert keras.backend.standardize_dtype(got.dtype) == "float32"
    np.testing.assert_allclose(to_np(got), np_dice(g, o_rounded), **TOL)


# ---------------------------------------------------------------- hand-worked cases
@pytest.mark.parametrize("smooth", [0.0, 1e-3, 1.0, 10.0])
def test_identical_masks_give_dice_one(smooth):
    g = np.array([[0, 1, 1, 0], [1, 1, 0, 0]], np.float32)
    assert to_np(soft_dice(g, g, smooth=smooth)) == pytest.approx(1.0, abs=1e-6)


def test_half_the_positives_gives_dice_two_thirds():
    g = np.array([1, 1, 1, 1], np.float32)
    o = np.array([1, 1, 0, 0], np.float32)
    assert to_np(soft_dice(g, o, smooth=0)) == pytest.approx(2 / 3, abs=1e-6)  # 2*2 / (4+2)
    assert to_np(soft_dice(g, o, smooth=1e-6)) == pytest.approx(2 / 3, abs=1e-6)
    assert to_np(soft_dice(g, o, smooth=1.0)) == pytest.approx(5 / 7, abs=1e-6)  # (4+1) / (6+1)
    assert to_np(soft_accuracy(g, o)) == pytest.approx(0.5, abs=1e-6)


def test_dice_per_sample_versus_pooled_by_hand():
    g = np.array([[1, 1, 1, 1], [1, 0, 0, 0]], np.float32)
    o = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], np.float32)
    # pooled: 2*3 / (5+3) = 0.75; per sample: mean(2/3, 1) = 5/6
    assert to_np(soft_dice(g, o, smooth=0)) == pytest.approx(0.75, abs=1e-6)
    assert to_np(soft_dice(g, o, smooth=0, per_sample=True)) == pytest.approx(5 / 6, abs=1e-6)


def test_empty_truth_and_prediction_give_dice_one_with_smoothing():
    z = np.zeros((1, 4, 4, 1), np.float32)
    assert to_np(soft_dice(z, z, smooth=1.0)) == pytest.approx(1.0)


def test_accuracy_and_bce_by_hand():
    g = np.array([0, 1, 1, 0], np.float32)
    assert to_np(soft_accuracy(g, g)) == pytest.approx(1.0)
    assert to_np(soft_accuracy(g, 1 - g)) == pytest.approx(0.0)
    assert to_np(bce(g, np.full(4, 0.5, np.float32))) == pytest.approx(np.log(2), rel=1e-6)
    # a saturated wrong prediction is clipped at 1e-7: -log(1e-7) = 16.118
    assert to_np(bce(np.ones(1, np.float32), np.zeros(1, np.float32))) == pytest.approx(-np.log(1e-7), rel=1e-4)
    # ... and at 1 - 2**-23 on the other side (1 - 1e-7 in float32): -log(2**-23) = 15.942
    assert to_np(bce(np.zeros(1, np.float32), np.ones(1, np.float32))) == pytest.approx(23 * np.log(2), rel=1e-4)


@pytest.mark.parametrize("dice_term, dice_value", [("exp", np.exp(2.0)), ("log", np.log(2.0))])
def test_perfect_prediction_values(dice_term, dice_value):
    g = np.array([[0, 1], [1, 1]], np.float32)
    value = {name: to_np(get(name, dice_term=dice_term)(g, g)) for name in ("L1", "L2", "L3")}
    # BCE of a perfect (clipped) prediction is ~1e-7, Dice = 1, accuracy = 1
    assert value["L1"] == pytest.approx(-dice_value, abs=1e-5)
    assert value["L2"] == pytest.approx(-dice_value - 1, abs=1e-5)
    assert value["L3"] == pytest.approx(-dice_value - 1, abs=1e-5)


@pytest.mark.parametrize("dice_term", ["exp", "log"])
@pytest.mark.parametrize("seed", SEEDS)
def test_relations_between_l1_l2_l3(dice_term, seed):
    g, o = (a.astype(np.float32) for a in random_pair((2, 6, 5, 1), seed))
    l1, l2, l3 = (to_np(get(n, dice_term=dice_term)(g, o)) for n in ("L1", "L2", "L3"))
    np.testing.assert_allclose(l3 - l2, to_np(bce(g, o)), **TOL)
    np.testing.assert_allclose(l2 - l1, -to_np(soft_accuracy(g, o)), **TOL)
    d = to_np(soft_dice(g, o))
    dt = np.exp(1 + d) if dice_term == "exp" else np.log(1 + d)
    np.testing.assert_allclose(l1, to_np(bce(g, o)) - dt, **TOL)


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float32, (2, 4, 4, 1), elements=st.floats(0, 1, width=32)),
    arrays(np.float32, (2, 4, 4, 1), elements=st.floats(0, 1, width=32)),
)
def test_dice_symmetric_and_bounded(a, b):
    ab, ba = to_np(soft_dice(a, b)), to_np(soft_dice(b, a))
    assert ab == pytest.approx(ba, abs=1e-6)
    assert -1e-6 <= ab <= 1 + 1e-6
    assert -1e-6 <= to_np(soft_accuracy(a, b)) <= 1 + 1e-6


# ---------------------------------------------------------------- get() and errors
def test_get_returns_named_serializable_losses():
    for name in losses.LOSS_NAMES:
        fn = get(name, dice_term="log", smooth=2.0)
        assert isinstance(fn, keras.losses.Loss)
        assert fn.name == name
        clone = keras.losses.deserialize(keras.losses.serialize(fn))
        assert type(clone) is type(fn)
        assert clone.get_config() == fn.get_config()
        assert (clone.dice_term, clone.smooth, clone.per_sample) == ("log", 2.0, False)


@pytest.mark.parametrize("name", ["L4", "l3", "", None, 3])
def test_get_unknown_name(name):
    with pytest.raises(ValueError, match=r"'L1', 'L2', 'L3', 'bce', 'dice'. Received: name=") as info:
        get(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"dice_term": "exp2"}, "Received: dice_term='exp2'"), ({"smooth": -1.0}, "Received: smooth=-1.0"),
     ({"smooth": "1"}, "Received: smooth='1'"), ({"per_sample": 1}, "Received: per_sample=1")],
)
def test_get_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        get("L3", **kwargs)


def test_shape_mismatch_and_bad_smooth():
    with pytest.raises(ValueError, match=r"Received: y_true.shape=\(2, 4\), y_pred.shape=\(2, 5\)"):
        bce(np.zeros((2, 4), np.float32), np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="Received: smooth=-0.5"):
        soft_dice(np.zeros(3, np.float32), np.zeros(3, np.float32), smooth=-0.5)


# ---------------------------------------------------------------- coarse target
def test_coarse_target_by_hand():
    m = np.zeros((4, 8), np.uint8)
    m[0, 0] = 1
    m[0:2, 2:4] = 3  # an instance label: foreground is > 0
    m[3, 7] = 1
    area = coarse_target(m, 2)
    assert area.dtype == np.float32
    np.testing.assert_array_equal(area, [[0.25, 1, 0, 0], [0, 0, 0, 0.25]])
    np.testing.assert_array_equal(coarse_target(m, 2, method="max"), [[1, 1, 0, 0], [0, 0, 0, 1]])
    # nearest takes pixel (1, 1) of each 2x2 block
    np.testing.assert_array_equal(coarse_target(m, 2, method="nearest"), [[0, 1, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(coarse_target(m, 1), (m > 0).astype(np.float32))


@pytest.mark.parametrize("shape, out", [((16, 8), (4, 2)), ((16, 8, 1), (4, 2, 1)), ((3, 16, 8, 1), (3, 4, 2, 1))])
@pytest.mark.parametrize("method", losses.COARSE_METHODS)
def test_coarse_target_shapes(shape, out, method):
    mask = np.random.default_rng(0).random(shape) > 0.5
    target = coarse_target(mask, 4, method=method)
    assert target.shape == out
    assert target.dtype == np.float32
    assert target.min() >= 0 and target.max() <= 1
    if method == "area":  # area averaging keeps the gland fraction
        assert target.mean() == pytest.approx(mask.mean())


def test_coarse_target_float_mask_kept_soft():
    m = np.array([[0.0, 0.5], [1.0, 0.5]], np.float64)
    np.testing.assert_allclose(coarse_target(m, 2), [[0.5]])


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.zeros((6, 8)), 4), {}, "mask is 6x8; sides must be multiples of scale=4. Pad to 8x8"),
        ((np.zeros((8, 8)), 0), {}, "Received: scale=0"),
        ((np.zeros((8, 8)), 2.0), {}, "Received: scale=2.0"),
        ((np.zeros((8, 8)), 2), {"method": "bilinear"}, "Received: method='bilinear'"),
        ((np.zeros((8, 8, 3)), 2), {}, r"Received: mask.shape=\(8, 8, 3\)"),
        ((np.zeros(8), 2), {}, r"Received: mask.shape=\(8,\)"),
        ((np.full((8, 8), 2.0), 2), {}, "values in \\[0, 1\\]"),
    ],
)
def test_coarse_target_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        coarse_target(*args, **kwargs)


# ---------------------------------------------------------------- configs
def test_output_losses_from_configs():
    loss, weights = output_losses()
    assert sorted(loss) == ["coarse", "final"]
    assert weights == {"final": 1.0, "coarse": 2.0}
    assert loss["final"] is not loss["coarse"]
    assert loss["final"].loss == "L3" and loss["final"].dice_term == "exp"
    loss, weights = output_losses(ModelConfig(deep_supervision=False), TrainConfig(loss="L1", dice_term="log", smooth=0.5))
    assert list(loss) == ["final"] and weights == {"final": 1.0}
    assert (loss["final"].loss, loss["final"].dice_term, loss["final"].smooth) == ("L1", "log", 0.5)
    with pytest.raises(TypeError, match="Received: TrainConfig"):
        output_losses(TrainConfig())


# ---------------------------------------------------------------- composite_value (NumPy, for plots)
@pytest.mark.parametrize("name", ["L1", "L2", "L3"])
@pytest.mark.parametrize("dice_term", ["exp", "log"])
def test_composite_value_matches_keras_loss(name, dice_term):
    g = np.array([1.0, 1.0, 0.0, 0.0, 1.0, 0.0]).reshape(1, 2, 3, 1)
    o = np.array([0.9, 0.6, 0.2, 0.1, 0.3, 0.5]).reshape(1, 2, 3, 1)
    value = losses.composite_value(np_bce(g, o), np_dice(g, o), np_acc(g, o), loss=name, dice_term=dice_term)
    keras_value = to_np(get(name, dice_term=dice_term)(g.astype("float32"), o.astype("float32")))
    np.testing.assert_allclose(value, keras_value, **TOL)


def test_composite_value_hand_worked():
    e2 = np.exp(2.0)
    # perfect prediction: BCE 0, Dice 1, accuracy 1
    np.testing.assert_allclose(losses.composite_value(0.0, 1.0, 1.0, loss="L1"), -e2)
    np.testing.assert_allclose(losses.composite_value(0.0, 1.0, 1.0, loss="L2"), -e2 - 1)
    np.testing.assert_allclose(losses.composite_value(0.5, 1.0, 1.0, loss="L3"), 1.0 - e2 - 1)
    # Dice 0: exp(1) = e; log(1) = 0
    np.testing.assert_allclose(losses.composite_value(0.3, 0.0, loss="L1"), 0.3 - np.e)
    np.testing.assert_allclose(losses.composite_value(0.3, 0.0, 0.5, loss="L2", dice_term="log"), 0.3 - 0.5)
    # broadcasting over a Dice grid
    out = losses.composite_value(0.2, np.array([0.0, 0.5, 1.0]), 0.9, loss="L3")
    np.testing.assert_allclose(out, 0.4 - np.exp([1.0, 1.5, 2.0]) - 0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"loss": "bce"}, "Received: loss='bce'"),
        ({"loss": "L2"}, "L2 needs accuracy"),
        ({"loss": "L1", "dice_term": "sqrt"}, "Received: dice_term='sqrt'"),
    ],
)
def test_composite_value_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        losses.composite_value(0.1, 0.5, **kwargs)
