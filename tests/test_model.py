"""Tests for glandseg.model (run once per backend: KERAS_BACKEND=tensorflow and =jax).

Forward passes use small inputs (64x96, 96x128); the paper-size model (576x832) is only built,
never run. Expected parameter counts are worked out from the LinkNet/ResNet18 layout below,
not read from the code.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from glandseg.config import ModelConfig, PreprocessConfig
from glandseg.losses import coarse_target, output_losses
from glandseg.model import build_linknet, build_model, count_flops, model_summary_table

SMALL = (64, 96)

# Keras' own get_weights() on JAX arrays; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


# ---------------------------------------------------------------- expected counts by hand
def _conv(k, cin, cout, bias=False):
    return k * k * cin * cout + (cout if bias else 0)


def _bn(c):
    return 4 * c  # gamma, beta, moving mean, moving variance


def _basic_block(cin, cout, stride):
    n = _conv(3, cin, cout) + _bn(cout) + _conv(3, cout, cout) + _bn(cout)
    if stride != 1 or cin != cout:
        n += _conv(1, cin, cout) + _bn(cout)
    return n


def _decoder(m, n):
    q = m // 4
    return _conv(1, m, q) + _bn(q) + _conv(3, q, q) + _bn(q) + _conv(1, q, n) + _bn(n)


def _expected_params(channels, deep_supervision=True):
    total = _conv(7, channels, 64) + _bn(64)
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        total += _basic_block(cin, cout, stride) + _basic_block(cout, cout, 1)
        cin = cout
    total += _decoder(512, 256) + _decoder(256, 128) + _decoder(128, 64) + _decoder(64, 64)
    total += _conv(3, 64, 32) + _bn(32) + _conv(3, 32, 32) + _bn(32) + _conv(2, 32, 1, bias=True)
    if deep_supervision:
        total += _conv(1, 64, 1, bias=True)
    return total


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def small_model():
    return build_linknet((*SMALL, 1))


@pytest.fixture(scope="module")
def batch():
    return np.random.default_rng(0).random((2, *SMALL, 1)).astype("float32")


@pytest.fixture(scope="module")
def small_outputs(small_model, batch):
    out = small_model(batch, training=False)
    return {key: keras.ops.convert_to_numpy(value) for key, value in out.items()}


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize("channels", [1, 3])
def test_parameter_count_matches_linknet(channels):
    model = build_linknet((576, 832, channels))
    assert model.count_params() == _expected_params(channels)
    assert 10.5e6 <= model.count_params() <= 12.5e6


def test_parameter_count_paper_model_is_about_11_5m():
    n = build_linknet().count_params()  # the default is the paper's (576, 832, 1)
    assert 10.5e6 <= n <= 12.5e6
    assert abs(n - 11.5e6) < 0.1e6


def test_no_coarse_output_without_deep_supervision():
    model = build_linknet((*SMALL, 1), deep_supervision=False)
    assert list(model.output.keys()) == ["final"]
    assert "coarse" not in [layer.name for layer in model.layers]
    assert model.count_params() == _expected_params(1, deep_supervision=False)


@pytest.mark.parametrize("scale", [4, 8, 16])
def test_coarse_scale(scale):
    model = build_linknet((*SMALL, 1), coarse_scale=scale)
    assert tuple(model.output["coarse"].shape) == (None, SMALL[0] // scale, SMALL[1] // scale, 1)
    assert tuple(model.output["final"].shape) == (None, *SMALL, 1)


def test_layer_names(small_model):
    names = {layer.name for layer in small_model.layers}
    expected = {"stem_conv", "stem_bn", "stem_relu", "stem_pool", "final", "coarse", "coarse_conv"}
    for i in range(1, 5):
        for j in (1, 2):
            for part in ("1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "add", "out"):
                expected.add(f"enc{i}_block{j}_{part}")
        for part in ("reduce", "reduce_bn", "reduce_relu", "up", "up_bn", "up_relu",
                     "expand", "expand_bn", "expand_relu", "skip_add"):
            expected.add(f"dec{i}_{part}")
    for i in (2, 3, 4):  # projection shortcuts where the stage halves the resolution
        expected |= {f"enc{i}_block1_0_conv", f"enc{i}_block1_0_bn"}
    assert expected <= names
    assert "enc1_block1_0_conv" not in names  # identity shortcut: same width, stride 1
    prefixes = ("stem_", "enc", "dec", "head_", "coarse", "final", "image")
    assert all(name.startswith(prefixes) for name in names), sorted(names)


def test_decoder_scales_and_skips(small_model):
    h, w = SMALL
    expected = {"stem_pool": 4, "enc1_block2_out": 4, "enc2_block2_out": 8, "enc3_block2_out": 16,
                "enc4_block2_out": 32, "dec4_skip_add": 16, "dec3_skip_add": 8, "dec2_skip_add": 4,
                "dec1_skip_add": 4, "head_up1": 2}
    for name, stride in expected.items():
        shape = small_model.get_layer(name).output.shape
        assert tuple(shape[1:3]) == (h // stride, w // stride), name
    widths = {"dec4_skip_add": 256, "dec3_skip_add": 128, "dec2_skip_add": 64, "dec1_skip_add": 64,
              "dec4_reduce": 128, "dec1_reduce": 16}
    for name, width in widths.items():
        assert small_model.get_layer(name).output.shape[-1] == width, name


def test_numpy_integer_sides_accepted():
    model = build_linknet((np.int64(64), np.int64(96), np.int64(1)), deep_supervision=False)
    assert tuple(model.input.shape) == (None, 64, 96, 1)


def test_rgb_input_builds():
    model = build_linknet((*SMALL, 3))
    assert tuple(model.input.shape) == (None, *SMALL, 3)
    assert model.count_params() - build_linknet((*SMALL, 1)).count_params() == 7 * 7 * 2 * 64


# ---------------------------------------------------------------- forward passes
def test_outputs_shapes_dtype_range(small_outputs):
    assert sorted(small_outputs) == ["coarse", "final"]
    assert small_outputs["final"].shape == (2, 64, 96, 1)
    assert small_outputs["coarse"].shape == (2, 16, 24, 1)
    for value in small_outputs.values():
        assert value.dtype == np.float32
        assert np.all((value >= 0) & (value <= 1))
        assert np.isfinite(value).all()


def test_any_size_model_shares_weights(small_model, batch, small_outputs):
    model = build_linknet((None, None, 1))
    assert model.count_params() == small_model.count_params()
    model.set_weights(small_model.get_weights())
    out = model(batch, training=False)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["final"]), small_outputs["final"], atol=1e-5)
    other = model(np.zeros((1, 96, 128, 1), "float32"), training=False)
    assert tuple(other["final"].shape) == (1, 96, 128, 1)
    assert tuple(other["coarse"].shape) == (1, 24, 32, 1)


@pytest.mark.slow
def test_one_training_step_on_both_outputs():
    model = build_linknet((32, 32, 1))
    losses, weights = output_losses()
    # Cheapest path per backend on a 2-core CPU (this checks the loss plumbing, not graph
    # compilation): one jitted step on JAX (~20 s) and one eager step on TensorFlow (~4 s,
    # against ~30 s for tracing a tf.function).
    jax = keras.backend.backend() == "jax"
    model.compile(optimizer="adam", loss=losses, loss_weights=weights, jit_compile=jax, run_eagerly=not jax)
    rng = np.random.default_rng(1)
    x = rng.random((2, 32, 32, 1)).astype("float32")
    y = (rng.random((2, 32, 32, 1)) > 0.5).astype("float32")
    history = model.fit(x, {"final": y, "coarse": coarse_target(y, 4)}, epochs=1, batch_size=2, verbose=0)
    logs = {key: value[-1] for key, value in history.history.items()}
    assert np.isfinite(list(logs.values())).all()
    assert logs["loss"] == pytest.approx(logs["final_loss"] + 2.0 * logs["coarse_loss"], rel=1e-4)


# ---------------------------------------------------------------- mixed precision
def test_outputs_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_linknet((64, 64, 1))
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer("stem_conv").compute_dtype == "bfloat16"
    assert model.output["final"].dtype == "float32"
    assert model.output["coarse"].dtype == "float32"


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "shape, padded",
    [((575, 832, 1), "576x832"), ((576, 830, 1), "576x832"), ((522, 775, 3), "544x800"),
     ((None, 100, 1), "anyx128")],
)
def test_side_not_multiple_of_32_gives_padded_size(shape, padded):
    with pytest.raises(ValueError, match=f"divisible by 32. Pad to {padded}"):
        build_linknet(shape)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (576, 832)}, "Received: input_shape="),
        ({"input_shape": (576, 832, 0)}, "Received: input_shape="),
        ({"input_shape": (576.0, 832, 1)}, "Received: input_shape="),
        ({"input_shape": "576x832"}, "Received: input_shape="),
        ({"coarse_scale": 2}, "Received: coarse_scale=2"),
        ({"coarse_scale": True}, "Received: coarse_scale=True"),
        ({"deep_supervision": "yes"}, "Received: deep_supervision='yes'"),
        ({"name": ""}, "Received: name="),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs.setdefault("input_shape", (64, 64, 1))
    with pytest.raises(ValueError, match=match):
        build_linknet(**kwargs)


def test_channels_first_is_rejected():
    previous = keras.config.image_data_format()
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="channels_last only.*Received: image_data_format='channels_first'"):
            build_linknet((64, 64, 1))
    finally:
        keras.config.set_image_data_format(previous)


# ---------------------------------------------------------------- config builder and summary
def test_build_model_from_configs():
    model = build_model(PreprocessConfig(size=(96, 64)))
    assert tuple(model.input.shape) == (None, 64, 96, 1)
    assert sorted(model.output) == ["coarse", "final"]
    rgb = build_model(PreprocessConfig(input="rgb", size=(96, 64)), ModelConfig(deep_supervision=False))
    assert tuple(rgb.input.shape) == (None, 64, 96, 3)
    assert list(rgb.output) == ["final"]
    assert tuple(build_model(None, ModelConfig(coarse_scale=8), any_size=True).input.shape) == (None, None, None, 1)


def test_build_model_type_errors():
    with pytest.raises(TypeError, match="Received: ModelConfig"):
        build_model(ModelConfig())
    with pytest.raises(TypeError, match="Received: dict"):
        build_model(None, {"deep_supervision": True})


def test_model_summary_table(small_model):
    rows = model_summary_table(small_model)
    blocks = [row["block"] for row in rows]
    assert blocks == ["stem", "enc1", "enc2", "enc3", "enc4", "dec4", "dec3", "dec2", "dec1", "head", "coarse"]
    assert sum(row["params"] for row in rows) == small_model.count_params()
    by_block = {row["block"]: row for row in rows}
    assert by_block["stem"]["params"] == _conv(7, 1, 64) + _bn(64)
    assert by_block["dec1"]["params"] == _decoder(64, 64)
    assert by_block["coarse"]["params"] == 65
    assert by_block["stem"]["output_shape"] == (None, 16, 24, 64)
    assert by_block["enc4"]["output_shape"] == (None, 2, 3, 512)
    assert by_block["head"]["output_shape"] == (None, 64, 96, 1)
    assert by_block["coarse"]["output_shape"] == (None, 16, 24, 1)
    with pytest.raises(TypeError, match="Received: str"):
        model_summary_table("linknet")


# ---------------------------------------------------------------- FLOPs (count_flops)
def _one_layer(layer, shape=(8, 8, 2)):
    inp = keras.Input(shape)
    return keras.Model(inp, layer(inp))


@pytest.mark.parametrize(
    "layer, macs",
    [
        # 3x3, 2 -> 4 channels, 'same' on 8x8: every output position is a 3x3x2 dot product per filter
        (keras.layers.Conv2D(4, 3, padding="same", use_bias=False), 8 * 8 * 4 * 3 * 3 * 2),
        # 'valid': a 6x6 output
        (keras.layers.Conv2D(4, 3, use_bias=False), 6 * 6 * 4 * 3 * 3 * 2),
        # stride 2, 'same': a 4x4 output
        (keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False), 4 * 4 * 4 * 3 * 3 * 2),
        # 1x1 stride 2 (the projection shortcut of a ResNet block)
        (keras.layers.Conv2D(4, 1, strides=2, use_bias=False), 4 * 4 * 4 * 2),
        # transposed 3x3 stride 2: every one of the 8x8x2 inputs scatters a 3x3x4 patch (16x16 output)
        (keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", use_bias=False), 8 * 8 * 2 * 3 * 3 * 4),
        # two groups: each output channel sees one of the two input channels
        (keras.layers.Conv2D(4, 3, padding="same", groups=2, use_bias=False), 8 * 8 * 4 * 3 * 3 * 1),
        # depthwise, depth multiplier 3: one 3x3 filter per (input channel, multiplier)
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=3, padding="same", use_bias=False), 8 * 8 * 2 * 3 * 3 * 3),
        # separable: that depthwise part (multiplier 1) plus a 1x1 from 2 to 4 channels
        (keras.layers.SeparableConv2D(4, 3, padding="same", use_bias=False), 8 * 8 * (2 * 9 + 2 * 4)),
    ],
    ids=["same", "valid", "strided", "1x1-strided", "transposed", "grouped", "depthwise", "separable"],
)
def test_count_flops_by_hand(layer, macs):
    flops = count_flops(_one_layer(layer))
    assert flops["conv_macs"] == macs
    assert flops["conv_flops"] == 2 * macs
    assert flops["by_layer_type"] == {type(layer).__name__: 2 * macs}
    assert flops["other_flops"] == 0 and flops["input_hw"] == (8, 8)


def test_count_flops_counts_dense_and_the_rest_apart():
    inp = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)  # with bias: 8x8x4 additions
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.MaxPooling2D(2)(x)  # 4x4x4 outputs of 4 inputs each
    x = keras.layers.Add()([x, x, x])
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3, use_bias=False)(x)
    flops = count_flops(keras.Model(inp, out))
    assert flops["conv_macs"] == 8 * 8 * 4 * 9 * 2 + 64 * 3
    assert flops["by_layer_type"]["Dense"] == 2 * 64 * 3
    other = {"bias": 256, "BatchNormalization": 2 * 256, "ReLU": 256, "MaxPooling2D": 4 * 64, "Add": 2 * 64}
    assert {k: v for k, v in flops["by_layer_type"].items() if k in other} == other
    assert flops["other_flops"] == sum(other.values())


def _expected_linknet_macs(h, w):
    """Multiply-adds of the convolutions of LinkNet (1 channel, coarse output) on one h x w image,
    written from the layout in build_linknet's Notes."""

    def conv(side, k, cin, cout):  # at output resolution h/side x w/side
        return (h // side) * (w // side) * k * k * cin * cout

    total = conv(2, 7, 1, 64)  # stem
    cin, side = 64, 4
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        side *= stride
        total += conv(side, 3, cin, cout) + 3 * conv(side, 3, cout, cout)
        if stride != 1 or cin != cout:
            total += conv(side, 1, cin, cout)
        cin = cout
    for m, n, side_in, stride in ((512, 256, 32, 2), (256, 128, 16, 2), (128, 64, 8, 2), (64, 64, 4, 1)):
        q = m // 4
        # 1x1 reduce at the input resolution; the transposed conv costs its input positions x 3x3 x q x q
        total += conv(side_in, 1, m, q) + conv(side_in, 3, q, q) + conv(side_in // stride, 1, q, n)
    total += conv(4, 3, 64, 32) + conv(2, 3, 32, 32) + conv(2, 2, 32, 1)  # head (transposed at input res)
    return total + conv(4, 1, 64, 1)  # coarse output


def test_count_flops_of_linknet_matches_its_layout_and_scales_with_pixels():
    any_size = build_linknet((None, None, 1))
    small = count_flops(any_size, SMALL)
    assert small["conv_macs"] == _expected_linknet_macs(*SMALL)
    assert count_flops(build_linknet((*SMALL, 1)))["conv_macs"] == small["conv_macs"]  # fixed shape, no clone
    # fully convolutional: twice the pixels, twice the FLOPs (sides are multiples of 32)
    assert count_flops(any_size, (2 * SMALL[0], SMALL[1]))["conv_flops"] == 2 * small["conv_flops"]
    assert count_flops(any_size, (SMALL[0], 2 * SMALL[1]))["conv_flops"] == 2 * small["conv_flops"]
    # issue 23's figure: 1.93 G multiply-adds for a 256x192 crop
    crop = count_flops(any_size, (192, 256))
    assert crop["conv_macs"] == _expected_linknet_macs(192, 256)
    assert crop["conv_macs"] / 1e9 == pytest.approx(1.93, abs=0.005)
    assert crop["conv_flops"] == crop["by_layer_type"]["Conv2D"] + crop["by_layer_type"]["Conv2DTranspose"]


def test_count_flops_errors():
    with pytest.raises(TypeError, match="Received: str"):
        count_flops("linknet")
    with pytest.raises(ValueError, match="not fully defined"):
        count_flops(build_linknet((None, None, 1)))
    inp = keras.Input((8,))
    with pytest.raises(ValueError, match="input_hw"):
        count_flops(keras.Model(inp, keras.layers.Dense(2)(inp)), (8, 8))
