"""Full-image inference: fold batch normalisation, pad to a multiple of 32, predict, crop back.

Post-processing into instances is the next stage (``glandseg.postprocess``); this module only
produces probability maps at the network input size.

At inference a BatchNormalization layer is a fixed per-channel affine map, so it can be folded
into the convolution before it (:func:`fold_batch_norm`): the kernel is scaled per output
channel and the convolution gains a bias. Keras does not do this itself; the folded network
computes the same function without its 34 extra passes over the activations (1.6x the
images per second at 832x576 in float32 on an AMX Xeon, measured beside a training run).
"""

from __future__ import annotations

import numpy as np

import keras

__all__ = ["fold_batch_norm", "is_folded", "pad_to_multiple", "predict_proba"]


def is_folded(model) -> bool:
    """Whether ``model`` has no BatchNormalization layer left (e.g. from :func:`fold_batch_norm`)."""
    return not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def _bn_of(model, conv_name):
    """The BatchNormalization layer that follows convolution ``conv_name``, or None.

    LinkNet names them ``{conv}_bn`` (decoder and head blocks) or ``{stem}_bn`` /
    ``{block}_{k}_bn`` for ``{stem}_conv`` / ``{block}_{k}_conv`` (encoder).
    """
    names = {layer.name for layer in model.layers}
    for candidate in (f"{conv_name}_bn", conv_name[: -len("_conv")] + "_bn" if conv_name.endswith("_conv") else None):
        if candidate in names and isinstance(model.get_layer(candidate), keras.layers.BatchNormalization):
            return model.get_layer(candidate)
    return None


def fold_batch_norm(model, *, dtype_policy="float32"):
    """A copy of a LinkNet whose batch normalisations are folded into its convolutions.

    For a convolution with kernel ``W`` followed by batch normalisation with scale ``gamma``,
    offset ``beta``, moving mean ``mu``, moving variance ``var`` and ``epsilon``, the folded
    convolution has kernel ``W * s`` (``s = gamma / sqrt(var + epsilon)``, per output channel)
    and bias ``beta - mu * s``. The result computes the inference-mode function of ``model`` up
    to floating-point rounding, in the dtype policy in force when it is called.

    Parameters
    ----------
    model : keras.Model
        A network of :func:`glandseg.model.build_linknet` (with batch normalisation).
    dtype_policy : str or None
        Keras dtype policy of the folded network (None: the one in force). Prediction uses
        float32 whatever precision trained the network: it is the fastest precision that leaves
        the test figures unchanged (bfloat16 moved a run's pooled F1 by about 0.001,
        ``benchmarks/inference_precision.py``), and it makes every prediction of a network the
        same, in a run, in its learning curve and in ``glandseg segment``.

    Returns
    -------
    keras.Model
        The same inputs and outputs (``final`` and, with deep supervision, ``coarse``), built
        with ``batch_norm=False``.

    Raises
    ------
    ValueError
        If ``model`` is not a LinkNet of this package (a layer of the folded twin has no
        counterpart).
    """
    from glandseg import model as model_lib

    deep = "coarse" in getattr(model, "output_names", []) or any(l.name == "coarse_conv" for l in model.layers)
    scale = 4
    if deep:
        tap = model.get_layer("coarse_conv").input._keras_history.operation.name
        scale = {f"{v}_skip_add": k for k, v in model_lib.COARSE_SOURCES.items()}.get(tap)
        if scale is None:
            raise ValueError(f"the coarse output of {model.name!r} taps {tap!r}, not a LinkNet decoder output")
    previous = keras.config.dtype_policy().name
    if dtype_policy is not None:
        keras.config.set_dtype_policy(dtype_policy)
    try:
        folded = model_lib.build_linknet(tuple(model.input_shape[1:]), deep_supervision=deep, coarse_scale=scale,
                                         name=f"{model.name}_folded", batch_norm=False)
    finally:
        keras.config.set_dtype_policy(previous)
    for layer in folded.layers:
        if not layer.weights:
            continue
        try:
            source = model.get_layer(layer.name)
        except ValueError:
            raise ValueError(f"{model.name!r} has no layer {layer.name!r}: not a glandseg LinkNet") from None
        weights = [keras.ops.convert_to_numpy(w).astype("float64") for w in source.weights]
        bn = _bn_of(model, layer.name)
        if bn is None:
            layer.set_weights([w.astype("float32") for w in weights])
            continue
        gamma, beta, mean, var = (keras.ops.convert_to_numpy(w).astype("float64") for w in
                                  (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
        s = gamma / np.sqrt(var + bn.epsilon)
        kernel = weights[0]
        # Conv2D kernels are (kh, kw, in, out), Conv2DTranspose kernels (kh, kw, out, in).
        axis = 2 if isinstance(layer, keras.layers.Conv2DTranspose) else 3
        shape = [1, 1, 1, 1]
        shape[axis] = -1
        bias = beta - mean * s
        layer.set_weights([(kernel * s.reshape(shape)).astype("float32"), bias.astype("float32")])
    return folded


def pad_to_multiple(x, multiple=32):
    """Pad the two spatial axes of ``x`` at the bottom and right by reflection.

    Parameters
    ----------
    x : (B, H, W, C) ndarray
    multiple : int

    Returns
    -------
    padded : (B, H', W', C) ndarray
        H' and W' are the smallest multiples of ``multiple`` >= H and W.
    (H, W) : tuple of int
        The original size, to crop back with ``padded[:, :H, :W]``.

    Examples
    --------
    >>> padded, size = pad_to_multiple(np.zeros((1, 50, 70, 1)))
    >>> padded.shape, size
    ((1, 64, 96, 1), (50, 70))
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected a (B, H, W, C) batch, got shape {x.shape}")
    h, w = x.shape[1:3]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        # Reflection keeps tissue texture at the border, unlike zeros, which the network never saw.
        mode = "reflect" if ph < h and pw < w else "edge"
        x = np.pad(x, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode)
    return x, (h, w)


def predict_proba(model, x, *, batch_size=4, tta=False, output="final", verbose=0):
    """Probability maps of the model's ``final`` output for full images.

    Parameters
    ----------
    model : keras.Model
        A LinkNet from ``glandseg.model.build_linknet`` (any input size divisible by 32).
    x : (B, H, W, C) or (H, W, C) ndarray
        Network inputs at the preset's size (e.g. from ``preprocessing.to_input``).
    batch_size : int
    tta : bool
        Average over the four flips (none, horizontal, vertical, both), each undone.
    output : str
        Which output to return (``"final"``; ``"coarse"`` for inspection).

    Returns
    -------
    prob : (B, H, W) or (H, W) float32 ndarray in [0, 1]
    """
    x = np.asarray(x, dtype="float32")
    single = x.ndim == 3
    if single:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"expected (B, H, W, C) or (H, W, C) inputs, got shape {x.shape}")
    padded, (h, w) = pad_to_multiple(x)
    flips = [(), (2,), (1,), (1, 2)] if tta else [()]
    total = None
    for axes in flips:
        xi = np.flip(padded, axis=axes) if axes else padded
        out = model.predict(xi, batch_size=batch_size, verbose=verbose)
        prob = out[output] if isinstance(out, dict) else out
        prob = np.asarray(prob, dtype="float32")[..., 0]
        prob = np.flip(prob, axis=axes) if axes else prob
        total = prob if total is None else total + prob
    prob = total / len(flips)
    if output == "final":
        prob = prob[:, :h, :w]
    return prob[0] if single else prob
