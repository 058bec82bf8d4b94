"""LinkNet with a coarse deep-supervision output (the paper's network).

The network is LinkNet [1]_ as released by its authors [2]_: a ResNet18 encoder [3]_, light
decoder blocks whose outputs are added to the matching encoder features, and a small
full-resolution head. The paper's modification is a second, internal ``coarse`` output taken
from the decoder before full resolution and trained with its own loss (deep supervision).

Shapes are written ``(B, H, W, C)`` (channels last). The encoder downsamples five times, so
``H`` and ``W`` must be multiples of 32; the model is fully convolutional, and
``build_linknet((None, None, C))`` gives a model that runs on any such size with the same
weights (pad whole images before prediction).

References
----------
.. [1] A. Chaurasia and E. Culurciello, "LinkNet: Exploiting encoder representations for
   efficient semantic segmentation", VCIP 2017. arXiv:1707.03718.
.. [2] e-Lab, "LinkNet" reference implementation (Torch; PyTorch port ``e-lab/pytorch-linknet``):
   encoder block 1 and decoder block 1 keep the resolution (stride 1), blocks 2-4 halve/double it.
.. [3] K. He, X. Zhang, S. Ren and J. Sun, "Deep residual learning for image recognition",
   CVPR 2016.
"""

from __future__ import annotations

import numbers

import keras
from keras import layers

__all__ = ["build_linknet", "build_model", "model_summary_table", "COARSE_SOURCES", "OUTPUT_STRIDE"]

#: Total downsampling of the encoder: input sides must be multiples of this.
OUTPUT_STRIDE = 32

#: ResNet18 encoder: (filters, stride of the first block) of stages enc1..enc4; two blocks each.
ENCODER_STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))

#: Decoder block whose output (after its skip addition) feeds the coarse output, by scale.
#: dec{i} works at the scale of the input of enc{i}: dec1 and dec2 at 1/4, dec3 at 1/8, dec4 at
#: 1/16. For scale 4 the last decoder stage before the head (dec1) is used.
COARSE_SOURCES = {4: "dec1", 8: "dec3", 16: "dec4"}

#: Batch-norm moving-average momentum. Keras' default (0.99) needs several hundred steps before
#: the inference statistics match the data; short CPU runs (a few hundred steps) then predict
#: with stale statistics. 0.9 is PyTorch's default (momentum 0.1 there), as in the reference LinkNet.
BN_MOMENTUM = 0.9

_HEAD_FILTERS = 32
_KERNEL_INIT = "he_normal"  # ReLU network (He et al.); the 1-channel output convolutions keep Keras' default


def _conv_bn_relu(x, filters, kernel_size, *, strides=1, transpose=False, name):
    """Conv (or transposed conv) + BN + ReLU, named ``{name}``, ``{name}_bn``, ``{name}_relu``."""
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer=_KERNEL_INIT,
        name=name,
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def stem(x, filters=64, name="stem"):
    """7x7/2 convolution + BN + ReLU and 3x3/2 max-pool: ``(B, H, W, C) -> (B, H/4, W/4, 64)``."""
    x = layers.Conv2D(
        filters,
        7,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=_KERNEL_INIT,
        name=f"{name}_conv",
    )(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)


def basic_block(x, filters, stride=1, name="block"):
    """ResNet basic block: two 3x3 convolutions and an identity (or 1x1 projection) shortcut.

    The shortcut is a 1x1 convolution with stride ``stride`` + BN (``{name}_0_conv``,
    ``{name}_0_bn``) when the block changes resolution or width, the identity otherwise.
    """
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=False, kernel_initializer=_KERNEL_INIT,
            name=f"{name}_0_conv",
        )(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    y = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer=_KERNEL_INIT,
        name=f"{name}_1_conv",
    )(x)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_1_bn")(y)
    y = layers.ReLU(name=f"{name}_1_relu")(y)
    y = layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer=_KERNEL_INIT,
        name=f"{name}_2_conv",
    )(y)
    y = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_2_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def encoder_stage(x, filters, stride, blocks=2, name="enc"):
    """``blocks`` basic blocks; only the first one strides."""
    for j in range(1, blocks + 1):
        x = basic_block(x, filters, stride=stride if j == 1 else 1, name=f"{name}_block{j}")
    return x


def decoder_block(x, filters, stride=2, name="dec"):
    """LinkNet decoder block: 1x1 conv to m/4, 3x3 transposed conv (``stride``), 1x1 conv to n.

    Each convolution is followed by BN and ReLU; ``m`` is the input width and ``n = filters``.
    """
    mid = x.shape[-1] // 4
    x = _conv_bn_relu(x, mid, 1, name=f"{name}_reduce")
    x = _conv_bn_relu(x, mid, 3, strides=stride, transpose=True, name=f"{name}_up")
    return _conv_bn_relu(x, filters, 1, name=f"{name}_expand")


def head(x, filters=_HEAD_FILTERS, name="head"):
    """LinkNet final block up to the logits: ``(B, H/4, W/4, 64) -> (B, H, W, 1)``.

    3x3 transposed conv /2 (32) + BN + ReLU, 3x3 conv (32) + BN + ReLU, 2x2 transposed conv /2
    to one channel (with bias, no activation: the sigmoid is the ``final`` layer).
    """
    x = _conv_bn_relu(x, filters, 3, strides=2, transpose=True, name=f"{name}_up1")
    x = _conv_bn_relu(x, filters, 3, name=f"{name}_conv")
    return layers.Conv2DTranspose(1, 2, strides=2, padding="same", name=f"{name}_up2")(x)


def _is_positive_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0


def _check_input_shape(input_shape):
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
    if ok:
        h, w, c = input_shape
        ok = all(s is None or _is_positive_int(s) for s in (h, w)) and _is_positive_int(c)
    if not ok:
        raise ValueError(
            "input_shape must be (height, width, channels) with positive integer sides (or None "
            f"for any size) and a positive integer channel count. Received: input_shape={input_shape!r}"
        )
    h, w, c = (None if s is None else int(s) for s in input_shape)
    if (h is not None and h % OUTPUT_STRIDE) or (w is not None and w % OUTPUT_STRIDE):
        ph = "any" if h is None else -(-h // OUTPUT_STRIDE) * OUTPUT_STRIDE
        pw = "any" if w is None else -(-w // OUTPUT_STRIDE) * OUTPUT_STRIDE
        h_text, w_text = ("any" if s is None else s for s in (h, w))
        raise ValueError(
            f"image is {h_text}x{w_text}; LinkNet needs sides divisible by {OUTPUT_STRIDE}. Pad to {ph}x{pw} "
            f"(glandseg.predict.pad_to_multiple). Received: input_shape={(h, w, c)!r}"
        )
    return h, w, c


def build_linknet(input_shape=(576, 832, 1), *, deep_supervision=True, coarse_scale=4, name="linknet"):
    """Build the paper's LinkNet with an optional coarse (deep-supervision) output.

    Parameters
    ----------
    input_shape : (int or None, int or None, int)
        ``(H, W, C)``, channels last. ``H`` and ``W`` must be multiples of 32, or ``None`` for a
        fully convolutional model that accepts any such size. The paper: ``(576, 832, 1)``
        (the hematoxylin channel of an 832x576 image).
    deep_supervision : bool, keyword-only
        Add the ``coarse`` output (the paper's modification of LinkNet).
    coarse_scale : {4, 8, 16}, keyword-only
        Downsampling factor of the coarse output relative to the input (see Notes).
    name : str, keyword-only
        Model name.

    Returns
    -------
    model : keras.Model
        Input ``(B, H, W, C)``; outputs a dict ``{"final": (B, H, W, 1), "coarse": (B, H/s,
        W/s, 1)}`` of sigmoid probabilities in float32 (also under a mixed-precision policy),
        with ``s = coarse_scale``; only ``{"final": ...}`` without deep supervision.

    Raises
    ------
    ValueError
        If ``input_shape`` is malformed, a side is not a multiple of 32 (the message gives the
        padded size), ``coarse_scale`` is not 4, 8 or 16, ``deep_supervision`` is not a bool, or
        Keras is set to ``channels_first``.

    Notes
    -----
    Layout (scales relative to the input side)::

        stem     7x7/2 conv 64 + BN + ReLU, 3x3/2 max-pool                      1/4
        enc1..4  ResNet18 stages (64, 128, 256, 512), two basic blocks each,  1/4 .. 1/32
                 stride 2 in the first block of enc2..enc4 (1x1/2 projection shortcut)
        dec4..1  1x1 conv m/4, 3x3 transposed conv, 1x1 conv n (each + BN + ReLU);
                 dec{i} undoes enc{i}: (m, n) = (512, 256), (256, 128), (128, 64), (64, 64),
                 stride 2 except dec1 (stride 1), and its output is added to the input of
                 enc{i} (``dec{i}_skip_add``)                                   1/16 .. 1/4
        head     3x3/2 transposed conv 32 + BN + ReLU, 3x3 conv 32 + BN + ReLU,
                 2x2/2 transposed conv to 1 channel, sigmoid (``final``)        1/1
        coarse   1x1 conv to 1 channel on a decoder output, sigmoid (``coarse``)

    This follows the authors' implementation [2]_ (encoder block 1 and decoder block 1 keep the
    resolution), which gives an output stride of 32 and a full-resolution output.

    The coarse output taps the decoder output at ``coarse_scale``: 4 -> ``dec1`` (the last
    decoder stage, just before the head: the default and our reading of "taken from the
    decoder before full resolution"), 8 -> ``dec3``, 16 -> ``dec4``. It is a 1x1 convolution
    with bias (``coarse_conv``) and a sigmoid; it adds 65 parameters.

    Convolutions followed by BN have no bias and He-normal initialisation; no pre-trained
    weights are used (as in the paper). With one input channel the model has 11,538,818
    parameters, 11,527,106 of them trainable (LinkNet is reported at 11.5M); 11,545,090 with
    three input channels.

    References
    ----------
    .. [1] Chaurasia & Culurciello (2017), LinkNet, arXiv:1707.03718.
    .. [2] e-Lab LinkNet reference implementation (Torch / PyTorch).

    Examples
    --------
    >>> import numpy as np
    >>> model = build_linknet((64, 96, 1))
    >>> out = model(np.zeros((2, 64, 96, 1), "float32"))
    >>> sorted((key, tuple(value.shape)) for key, value in out.items())
    [('coarse', (2, 16, 24, 1)), ('final', (2, 64, 96, 1))]
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "build_linknet supports channels_last only; call "
            "keras.config.set_image_data_format('channels_last'). "
            f"Received: image_data_format={keras.config.image_data_format()!r}"
        )
    input_shape = _check_input_shape(input_shape)
    if not isinstance(deep_supervision, bool):
        raise ValueError(
            f"deep_supervision must be True or False. Received: deep_supervision={deep_supervision!r}"
        )
    if not (_is_positive_int(coarse_scale) and coarse_scale in COARSE_SOURCES):
        raise ValueError(
            f"coarse_scale must be one of {sorted(COARSE_SOURCES)}. Received: coarse_scale={coarse_scale!r}"
        )
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string. Received: name={name!r}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = stem(inputs, name="stem")

    stage_inputs = []
    for i, (filters, stride) in enumerate(ENCODER_STAGES, start=1):
        stage_inputs.append(x)
        x = encoder_stage(x, filters, stride, name=f"enc{i}")

    decoder_outputs = {}
    for i in range(len(ENCODER_STAGES), 0, -1):
        skip = stage_inputs[i - 1]
        stride = ENCODER_STAGES[i - 1][1]
        y = decoder_block(x, skip.shape[-1], stride=stride, name=f"dec{i}")
        x = layers.Add(name=f"dec{i}_skip_add")([y, skip])
        decoder_outputs[f"dec{i}"] = x

    logits = head(x, name="head")
    outputs = {"final": layers.Activation("sigmoid", dtype="float32", name="final")(logits)}
    if deep_supervision:
        tap = decoder_outputs[COARSE_SOURCES[coarse_scale]]
        coarse = layers.Conv2D(1, 1, name="coarse_conv")(tap)
        outputs["coarse"] = layers.Activation("sigmoid", dtype="float32", name="coarse")(coarse)
    return keras.Model(inputs, outputs, name=name)


def build_model(preprocess_config=None, model_config=None, *, any_size=False, name="linknet"):
    """Build LinkNet from the experiment configs.

    Parameters
    ----------
    preprocess_config : glandseg.config.PreprocessConfig, optional
        Gives the input channels (1 for the H channel, 3 for RGB) and ``size`` as
        ``(width, height)``; the default config is the paper's (832x576, H channel).
    model_config : glandseg.config.ModelConfig, optional
        Gives ``deep_supervision`` and ``coarse_scale``; default: the paper's.
    any_size : bool, keyword-only
        Build with ``(None, None, C)`` input (prediction on padded whole images) instead of
        ``(height, width, C)``. Weights are interchangeable between the two.
    name : str, keyword-only
        Model name.

    Returns
    -------
    model : keras.Model
        See :func:`build_linknet`.

    Raises
    ------
    TypeError
        If a config has the wrong type.

    Examples
    --------
    >>> from glandseg.config import PreprocessConfig
    >>> build_model(PreprocessConfig(size=(96, 64))).input_shape
    (None, 64, 96, 1)
    """
    from glandseg.config import ModelConfig, PreprocessConfig

    preprocess_config = PreprocessConfig() if preprocess_config is None else preprocess_config
    model_config = ModelConfig() if model_config is None else model_config
    if not isinstance(preprocess_config, PreprocessConfig):
        raise TypeError(
            f"preprocess_config must be a PreprocessConfig. Received: {type(preprocess_config).__name__}"
        )
    if not isinstance(model_config, ModelConfig):
        raise TypeError(f"model_config must be a ModelConfig. Received: {type(model_config).__name__}")
    width, height = preprocess_config.size
    shape = (None, None) if any_size else (height, width)
    return build_linknet(
        (*shape, preprocess_config.channels),
        deep_supervision=model_config.deep_supervision,
        coarse_scale=model_config.coarse_scale,
        name=name,
    )


def _group_of(layer_name):
    if layer_name == "final":
        return "head"
    return layer_name.split("_", 1)[0]


def model_summary_table(model):
    """Parameters and output shape per block group, for the book.

    Parameters
    ----------
    model : keras.Model
        A model from :func:`build_linknet` (any functional model works; layers are grouped by
        the prefix of their name before the first ``_``).

    Returns
    -------
    rows : list of dict
        One row per group in graph order (``stem``, ``enc1``..``enc4``, ``dec4``..``dec1``,
        ``head``, ``coarse``): ``{"block": str, "output_shape": tuple, "params": int,
        "layers": int}``. ``output_shape`` is the output of the group's last layer with the
        batch axis as ``None``; ``final`` belongs to ``head``. The input layer is left out, so
        the params sum to ``model.count_params()``.

    Raises
    ------
    TypeError
        If ``model`` is not a Keras model.

    Examples
    --------
    >>> rows = model_summary_table(build_linknet((64, 64, 1)))
    >>> [r["block"] for r in rows][:3]
    ['stem', 'enc1', 'enc2']
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model. Received: {type(model).__name__}")
    rows = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        group = _group_of(layer.name)
        row = rows.setdefault(group, {"block": group, "output_shape": None, "params": 0, "layers": 0})
        row["params"] += int(layer.count_params())
        row["layers"] += 1
        row["output_shape"] = tuple(layer.output.shape)
    return list(rows.values())
