import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glandseg.predict import pad_to_multiple, predict_proba


@settings(max_examples=50, deadline=None)
@given(h=st.integers(1, 90), w=st.integers(1, 90), c=st.integers(1, 3), m=st.sampled_from([8, 32]))
def test_pad_to_multiple_keeps_content(h, w, c, m):
    x = np.random.default_rng(h * w).random((2, h, w, c))
    padded, size = pad_to_multiple(x, m)
    assert size == (h, w)
    assert padded.shape[1] % m == 0 and padded.shape[2] % m == 0
    assert padded.shape[1] - h < m and padded.shape[2] - w < m
    np.testing.assert_array_equal(padded[:, :h, :w], x)


def test_pad_reflects():
    rows = np.arange(30, dtype=float)[None, :, None, None] * np.ones((1, 30, 32, 1))
    padded, _ = pad_to_multiple(rows, 32)
    # numpy "reflect" mirrors about the last row: row 30 repeats row 28, row 31 row 27.
    np.testing.assert_array_equal(padded[0, 30:, 0, 0], [28, 27])


def test_pad_rejects_wrong_rank():
    with pytest.raises(ValueError, match=r"\(B, H, W, C\)"):
        pad_to_multiple(np.zeros((5, 5)))


class _FlipProbe:
    """A stand-in model whose output is a fixed function of position: tests the flip bookkeeping."""

    def predict(self, x, batch_size=None, verbose=0):
        self.seen = getattr(self, "seen", 0) + 1
        return {"final": (x[..., :1] > 0.5).astype("float32")}


def test_tta_undoes_each_flip():
    rng = np.random.default_rng(0)
    x = rng.random((2, 64, 96, 1)).astype("float32")
    probe = _FlipProbe()
    plain = predict_proba(probe, x)
    tta = predict_proba(probe, x, tta=True)
    # A pointwise model is flip-equivariant, so every flipped prediction maps back exactly.
    np.testing.assert_array_equal(plain, tta)
    np.testing.assert_array_equal(plain, (x[..., 0] > 0.5).astype("float32"))
    assert probe.seen == 5


def test_prediction_keeps_size_with_linknet():
    from glandseg.model import build_linknet

    model = build_linknet((None, None, 1))
    x = np.random.default_rng(1).random((1, 50, 70, 1)).astype("float32")
    prob = predict_proba(model, x)
    assert prob.shape == (1, 50, 70)
    assert prob.dtype == np.float32 and 0 <= prob.min() and prob.max() <= 1
    assert predict_proba(model, x[0]).shape == (50, 70)


@pytest.mark.parametrize("deep_supervision, coarse_scale", [(True, 4), (True, 8), (False, 4)])
def test_folding_batch_norm_keeps_the_function(deep_supervision, coarse_scale):
    import keras

    from glandseg.model import build_linknet
    from glandseg.predict import fold_batch_norm

    keras.config.set_dtype_policy("float32")
    model = build_linknet((None, None, 1), deep_supervision=deep_supervision, coarse_scale=coarse_scale)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics far from the identity, as after training
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.2, n), rng.normal(0, 0.3, n), rng.uniform(0.5, 2, n)])
    folded = fold_batch_norm(model)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    n_bn = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    # each BN's 4 x C numbers become the convolution's C biases
    bn_params = sum(layer.count_params() for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert model.count_params() - folded.count_params() == bn_params - bn_params // 4 and n_bn == 34  # stem 1, encoder 16 + 3 shortcuts, decoder 12, head 2
    x = rng.random((2, 64, 96, 1)).astype("float32")
    a, b = model(x, training=False), folded(x, training=False)
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_allclose(np.asarray(b[key]), np.asarray(a[key]), atol=2e-5)


def test_folding_rejects_a_foreign_model():
    import keras

    from glandseg.predict import fold_batch_norm

    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="stem_conv")(inputs)
    with pytest.raises(ValueError):
        fold_batch_norm(keras.Model(inputs, x))
