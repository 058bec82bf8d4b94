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

__all__ = ["build_linknet", "build_model", "count_flops", "model_summary_table", "COARSE_SOURCES", "OUTPUT_STRIDE"]

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


def _bn(x, name, batch_norm):
    """BatchNormalization named ``name``; nothing where ``batch_norm`` is False (BN folded)."""
    return layers.BatchNormalization(momentum=BN_MOMENTUM, name=name)(x) if batch_norm else x


def _conv_bn_relu(x, filters, kernel_size, *, strides=1, transpose=False, name, batch_norm=True):
    """Conv (or transposed conv) + BN + ReLU, named ``{name}``, ``{name}_bn``, ``{name}_relu``."""
    conv = layers.Conv2DTranspose if transpose else layers.Conv2D
    x = conv(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=_KERNEL_INIT,
        name=name,
    )(x)
    x = _bn(x, f"{name}_bn", batch_norm)
    return layers.ReLU(name=f"{name}_relu")(x)


def stem(x, filters=64, name="stem", batch_norm=True):
    """7x7/2 convolution + BN + ReLU and 3x3/2 max-pool: ``(B, H, W, C) -> (B, H/4, W/4, 64)``."""
    x = layers.Conv2D(
        filters,
        7,
        strides=2,
        padding="same",
        use_bias=not batch_norm,
        kernel_initializer=_KERNEL_INIT,
        name=f"{name}_conv",
    )(x)
    x = _bn(x, f"{name}_bn", batch_norm)
    x = layers.ReLU(name=f"{name}_relu")(x)
    return layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)


def basic_block(x, filters, stride=1, name="block", batch_norm=True):
    """ResNet basic block: two 3x3 convolutions and an identity (or 1x1 projection) shortcut.

    The shortcut is a 1x1 convolution with stride ``stride`` + BN (``{name}_0_conv``,
    ``{name}_0_bn``) when the block changes resolution or width, the identity otherwise.
    """
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(
            filters, 1, strides=stride, use_bias=not batch_norm, kernel_initializer=_KERNEL_INIT,
            name=f"{name}_0_conv",
        )(x)
        shortcut = _bn(shortcut, f"{name}_0_bn", batch_norm)
    else:
        shortcut = x
    y = layers.Conv2D(
        filters, 3, strides=stride, padding="same", use_bias=not batch_norm, kernel_initializer=_KERNEL_INIT,
        name=f"{name}_1_conv",
    )(x)
    y = _bn(y, f"{name}_1_bn", batch_norm)
    y = layers.ReLU(name=f"{name}_1_relu")(y)
    y = layers.Conv2D(
        filters, 3, padding="same", use_bias=not batch_norm, kernel_initializer=_KERNEL_INIT,
        name=f"{name}_2_conv",
    )(y)
    y = _bn(y, f"{name}_2_bn", batch_norm)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


def encoder_stage(x, filters, stride, blocks=2, name="enc", batch_norm=True):
    """``blocks`` basic blocks; only the first one strides."""
    for j in range(1, blocks + 1):
        x = basic_block(x, filters, stride=stride if j == 1 else 1, name=f"{name}_block{j}", batch_norm=batch_norm)
    return x


def decoder_block(x, filters, stride=2, name="dec", batch_norm=True):
    """LinkNet decoder block: 1x1 conv to m/4, 3x3 transposed conv (``stride``), 1x1 conv to n.

    Each convolution is followed by BN and ReLU; ``m`` is the input width and ``n = filters``.
    """
    mid = x.shape[-1] // 4
    x = _conv_bn_relu(x, mid, 1, name=f"{name}_reduce", batch_norm=batch_norm)
    x = _conv_bn_relu(x, mid, 3, strides=stride, transpose=True, name=f"{name}_up", batch_norm=batch_norm)
    return _conv_bn_relu(x, filters, 1, name=f"{name}_expand", batch_norm=batch_norm)


def head(x, filters=_HEAD_FILTERS, name="head", batch_norm=True):
    """LinkNet final block up to the logits: ``(B, H/4, W/4, 64) -> (B, H, W, 1)``.

    3x3 transposed conv /2 (32) + BN + ReLU, 3x3 conv (32) + BN + ReLU, 2x2 transposed conv /2
    to one channel (with bias, no activation: the sigmoid is the ``final`` layer).
    """
    x = _conv_bn_relu(x, filters, 3, strides=2, transpose=True, name=f"{name}_up1", batch_norm=batch_norm)
    x = _conv_bn_relu(x, filters, 3, name=f"{name}_conv", batch_norm=batch_norm)
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


def build_linknet(input_shape=(576, 832, 1), *, deep_supervision=True, coarse_scale=4, name="linknet",
                  batch_norm=True):
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
    batch_norm : bool, keyword-only
        False builds the inference twin without BatchNormalization layers, whose convolutions
        carry a bias instead (:func:`fold_batch_norm` fills it); it cannot be trained as the
        paper's network.

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
    if not isinstance(batch_norm, bool):
        raise ValueError(f"batch_norm must be True or False. Received: batch_norm={batch_norm!r}")

    inputs = keras.Input(shape=input_shape, name="image")
    x = stem(inputs, name="stem", batch_norm=batch_norm)

    stage_inputs = []
    for i, (filters, stride) in enumerate(ENCODER_STAGES, start=1):
        stage_inputs.append(x)
        x = encoder_stage(x, filters, stride, name=f"enc{i}", batch_norm=batch_norm)

    decoder_outputs = {}
    for i in range(len(ENCODER_STAGES), 0, -1):
        skip = stage_inputs[i - 1]
        stride = ENCODER_STAGES[i - 1][1]
        y = decoder_block(x, skip.shape[-1], stride=stride, name=f"dec{i}", batch_norm=batch_norm)
        x = layers.Add(name=f"dec{i}_skip_add")([y, skip])
        decoder_outputs[f"dec{i}"] = x

    logits = head(x, name="head", batch_norm=batch_norm)
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


#: Convolution-like layers, by how their multiply-adds are counted (see :func:`count_flops`).
_CONV = (layers.Conv1D, layers.Conv2D, layers.Conv3D)
_CONV_TRANSPOSE = (layers.Conv1DTranspose, layers.Conv2DTranspose, layers.Conv3DTranspose)
_DEPTHWISE = (layers.DepthwiseConv1D, layers.DepthwiseConv2D)
_SEPARABLE = (layers.SeparableConv1D, layers.SeparableConv2D)


def _prod(values):
    out = 1
    for v in values:
        out *= int(v)
    return out


def _layer_shapes(layer):
    """``(input shapes, output shapes)`` of a layer called once, without the batch axis."""
    try:
        inputs, outputs = layer.input, layer.output
    except (AttributeError, ValueError) as err:
        raise ValueError(
            f"count_flops reads each layer's input and output shape; layer {layer.name!r} is used more than "
            f"once or was never called ({err})"
        ) from None
    inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    outputs = list(outputs.values()) if isinstance(outputs, dict) else outputs
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    shapes_in, shapes_out = [tuple(t.shape[1:]) for t in inputs], [tuple(t.shape[1:]) for t in outputs]
    if any(s is None for shape in shapes_in + shapes_out for s in shape):
        raise ValueError(
            f"layer {layer.name!r} has a shape that is not fully defined ({shapes_in} -> {shapes_out}); "
            "pass input_hw, or build the model with a fixed input shape"
        )
    return shapes_in, shapes_out


def _conv_macs(layer, shape_in, shape_out):
    """Multiply-adds of one call of a convolution-like layer on one item (channels last)."""
    kernel = _prod(layer.kernel_size)
    c_in, c_out = int(shape_in[-1]), int(shape_out[-1])
    if isinstance(layer, _SEPARABLE):  # depthwise, then a 1x1 pointwise convolution
        mid = c_in * layer.depth_multiplier
        return _prod(shape_out[:-1]) * (mid * kernel + mid * c_out)
    if isinstance(layer, _DEPTHWISE):
        return _prod(shape_out[:-1]) * c_in * layer.depth_multiplier * kernel
    groups = getattr(layer, "groups", 1) or 1
    if isinstance(layer, _CONV_TRANSPOSE):  # every input position scatters a kernel-sized patch
        return _prod(shape_in[:-1]) * c_in * kernel * c_out // groups
    return _prod(shape_out[:-1]) * c_out * kernel * c_in // groups


def _other_flops(layer, shapes_in, shapes_out):
    """Rough operation count of a non-convolution layer (see :func:`count_flops`), or 0."""
    n_out = _prod(shapes_out[0])
    if isinstance(layer, layers.BatchNormalization):
        return 2 * n_out
    if isinstance(layer, (layers.ReLU, layers.Activation, layers.LeakyReLU, layers.ELU, layers.Softmax, layers.PReLU)):
        return n_out
    if isinstance(layer, (layers.Add, layers.Subtract, layers.Multiply, layers.Average, layers.Maximum, layers.Minimum)):
        return (len(shapes_in) - 1) * n_out
    if isinstance(layer, (layers.MaxPooling1D, layers.MaxPooling2D, layers.MaxPooling3D,
                          layers.AveragePooling1D, layers.AveragePooling2D, layers.AveragePooling3D)):
        return _prod(layer.pool_size) * n_out
    return 0


def _with_input_hw(model, input_hw):
    """``model`` itself, or a clone of it with a fixed ``(height, width)`` input."""
    if input_hw is None:
        return model
    h, w = (int(s) for s in input_hw)
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"input_hw needs a model with one (batch, height, width, channels) input; "
                         f"{model.name!r} has inputs {[tuple(t.shape) for t in model.inputs]}")
    shape = tuple(model.inputs[0].shape[1:])
    if shape[:2] == (h, w):
        return model
    return keras.models.clone_model(model, input_tensors=keras.Input(shape=(h, w, shape[2])))


def count_flops(model, input_hw=None):
    """Floating-point operations of one forward pass of ``model`` on one item, from its layers.

    Parameters
    ----------
    model : keras.Model
        A functional model, e.g. from :func:`build_linknet`. Its layers must have fully defined
        shapes: build it with a fixed input shape, or pass ``input_hw``.
    input_hw : (int, int), optional
        ``(height, width)`` of the one image: a model with another (or a ``None``) input size
        is cloned with a fixed ``(height, width, channels)`` input (its weights are not used).

    Returns
    -------
    dict
        ``conv_macs`` (int): multiply-adds of the convolution-like and dense layers for one
        image (batch of 1); ``conv_flops`` (int): ``2 * conv_macs``, FLOPs (a multiply and an
        add each), the headline figure; ``other_flops`` (int): a rough count of everything
        else (see Notes); ``by_layer_type`` (dict): FLOPs per layer class name (``"bias"``:
        the bias additions); ``input_hw`` (tuple) the image size counted.

    Raises
    ------
    TypeError
        If ``model`` is not a Keras model.
    ValueError
        If a layer's shape is not fully defined, a layer is called more than once (shared
        layers are not counted), or ``input_hw`` is given for a model without one image input.

    Notes
    -----
    Multiply-adds per item, from each layer's own input (``H_in x W_in x C_in``) and output
    (``H_out x W_out x C_out``) shapes, kernel ``k_h x k_w`` and ``groups`` ``g``:

    * ``Conv*``: ``H_out W_out C_out k_h k_w C_in / g`` (strides and padding enter through
      the output size);
    * ``Conv*Transpose``: ``H_in W_in C_in k_h k_w C_out`` (every input position scatters a
      kernel-sized patch, cropped or not), which is the cost of the convolution it transposes;
    * ``DepthwiseConv*``: ``H_out W_out C_in m k_h k_w`` with depth multiplier ``m``;
      ``SeparableConv*``: that plus the ``1x1`` pointwise convolution;
    * ``Dense``: input elements x ``units``.

    ``other_flops`` counts, per output element, 2 for BatchNormalization (a scale and a shift,
    as at inference), 1 for an activation (whatever the function), ``n - 1`` for a merge of
    ``n`` tensors, the pool size for pooling, and 1 for each bias. These memory-bound
    operations are left out of ``conv_flops`` on purpose: arithmetic throughput (GFLOP/s
    against a matmul peak) is measured on the convolutions, as is usual.

    Training costs about three forward passes (the forward products, and in the backward
    pass one product for the input gradients and one for the weight gradients); the
    benchmarks (``benchmarks/bench.py``) take a training step per item as ``3 * conv_flops``.

    Examples
    --------
    >>> inp = keras.Input((8, 8, 2))
    >>> tiny = keras.Model(inp, layers.Conv2D(4, 3, padding="same", use_bias=False)(inp))
    >>> count_flops(tiny)["conv_flops"] == 2 * 8 * 8 * 3 * 3 * 2 * 4
    True
    >>> flops = count_flops(build_linknet((None, None, 1)), (192, 256))
    >>> round(flops["conv_macs"] / 1e9, 2)  # multiply-adds of one 256x192 crop
    1.93
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model. Received: {type(model).__name__}")
    model = _with_input_hw(model, input_hw)
    by_type, macs, other = {}, 0, 0

    def visit(m):
        nonlocal macs, other
        for layer in m.layers:
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, keras.Model):
                visit(layer)
                continue
            kind = type(layer).__name__
            conv_like = isinstance(layer, _CONV + _CONV_TRANSPOSE + _DEPTHWISE + _SEPARABLE + (layers.Dense,))
            if not conv_like:
                flops = _other_flops(layer, *_layer_shapes(layer))
                if flops:
                    by_type[kind] = by_type.get(kind, 0) + flops
                    other += flops
                continue
            (shape_in, *_), (shape_out, *_) = _layer_shapes(layer)
            if isinstance(layer, layers.Dense):
                n = _prod(shape_in) * layer.units
            else:
                n = _conv_macs(layer, shape_in, shape_out)
            macs += n
            by_type[kind] = by_type.get(kind, 0) + 2 * n
            if getattr(layer, "use_bias", False):
                by_type["bias"] = by_type.get("bias", 0) + _prod(shape_out)
                other += _prod(shape_out)

    visit(model)
    shape = tuple(model.inputs[0].shape[1:3]) if model.inputs else None
    return {"input_hw": shape, "conv_macs": macs, "conv_flops": 2 * macs, "other_flops": other,
            "by_layer_type": by_type}
