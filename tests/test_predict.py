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
