"""The paper's composite losses (BCE, soft Dice, soft accuracy) in ``keras.ops``.

``G`` is the ground truth and ``O`` the network output (probabilities), both ``(B, H, W, 1)``;
``S`` is the Dice smoothing constant. The paper's losses (Eq. 5-7) are::

    L1 = BCE - exp(1 + Dice)
    L2 = BCE - exp(1 + Dice) - Accuracy
    L3 = 2 BCE - exp(1 + Dice) - Accuracy

and the training loss is ``2 L(coarse output, G at the coarse scale) + L(final output, G)``
(:func:`output_losses` gives the pair for ``model.compile``; :func:`coarse_target` makes
the coarse ground truth in NumPy for the data pipeline).

Every loss casts its inputs to float32 first, so float16/bfloat16 outputs of a
mixed-precision model are fine. Only ``keras.ops`` is used: TensorFlow and JAX give the same
numbers.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

__all__ = [
    "EPSILON",
    "LOSS_NAMES",
    "DICE_TERMS",
    "COARSE_METHODS",
    "bce",
    "soft_dice",
    "soft_accuracy",
    "SegmentationLoss",
    "get",
    "composite_value",
    "coarse_target",
    "output_losses",
]

#: Probabilities are clipped to [EPSILON, 1 - EPSILON] before the logarithms of the BCE, so
#: a saturated output gives a large finite loss (about 16) instead of inf. It is Keras' own
#: default (``keras.config.epsilon()``). In float32, ``1 - 1e-7`` rounds to ``1 - 2**-23``
#: (1 - 1.19e-7), so the upper bound costs at most -log(1.19e-7) = 15.9 per pixel.
EPSILON = 1e-7

#: Valid names for :func:`get`.
LOSS_NAMES = ("L1", "L2", "L3", "bce", "dice")

#: How the Dice enters L1-L3: ``exp(1 + Dice)`` (the paper, as we read it) or ``log(1 + Dice)``.
DICE_TERMS = ("exp", "log")

#: Methods of :func:`coarse_target`.
COARSE_METHODS = ("area", "max", "nearest")

# (weight of BCE, weight of the Dice term, weight of Accuracy) in each composite loss.
_COMPOSITE = {"L1": (1.0, 1.0, 0.0), "L2": (1.0, 1.0, 1.0), "L3": (2.0, 1.0, 1.0)}


def _prepare(y_true, y_pred):
    """Both as float32 tensors of the same rank (at least 1)."""
    y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
    y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
    if len(y_true.shape) != len(y_pred.shape) or any(
        a is not None and b is not None and a != b for a, b in zip(y_true.shape, y_pred.shape)
    ):
        raise ValueError(
            "y_true and y_pred must have the same shape, e.g. (B, H, W, 1). "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )
    if len(y_true.shape) == 0:
        raise ValueError("y_true and y_pred must be arrays, not scalars. Received: shape=()")
    return y_true, y_pred


def _check_smooth(smooth):
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or not smooth >= 0:
        raise ValueError(f"smooth must be a non-negative number. Received: smooth={smooth!r}")
    return float(smooth)


def _check_dice_term(dice_term):
    if dice_term not in DICE_TERMS:
        raise ValueError(
            f"dice_term must be one of {', '.join(map(repr, DICE_TERMS))}. Received: dice_term={dice_term!r}"
        )
    return dice_term


def _sample_axes(x, per_sample):
    """Axes to reduce: all (``None``) or all but the batch axis."""
    return tuple(range(1, len(x.shape))) if per_sample else None


def _bce(y_true, y_pred, axis=None):
    y_pred = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    log_likelihood = y_true * ops.log(y_pred) + (1.0 - y_true) * ops.log(1.0 - y_pred)
    return -ops.mean(log_likelihood, axis=axis)


def _dice(y_true, y_pred, smooth, axis=None):
    intersection = ops.sum(y_true * y_pred, axis=axis)
    total = ops.sum(y_true, axis=axis) + ops.sum(y_pred, axis=axis)
    return (2.0 * intersection + smooth) / (total + smooth)


def _accuracy(y_true, y_pred, axis=None):
    return ops.mean(y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred), axis=axis)


def bce(y_true, y_pred):
    """Mean binary cross-entropy of probabilities.

    Parameters
    ----------
    y_true : (B, H, W, 1) array_like
        Ground truth in [0, 1] (binary masks, or soft coarse targets).
    y_pred : (B, H, W, 1) array_like
        Predicted probabilities (any float dtype; computed in float32).

    Returns
    -------
    loss : float32 scalar tensor

    Raises
    ------
    ValueError
        If the shapes differ.

    Notes
    -----
    ``BCE(G, O) = -mean[G log O + (1 - G) log(1 - O)]`` over every element of the batch, with
    ``O`` clipped to ``[EPSILON, 1 - EPSILON]`` in float32 (``EPSILON = 1e-7``, as in Keras; the
    upper bound rounds to ``1 - 2**-23``). The clipped ends have zero gradient, as in Keras.

    Examples
    --------
    >>> import numpy as np
    >>> round(float(bce(np.array([1.0, 0.0]), np.array([0.5, 0.5]))), 4)  # log 2
    0.6931
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    return _bce(y_true, y_pred)


def soft_dice(y_true, y_pred, smooth=1.0, *, per_sample=False):
    """Soft Dice coefficient (a similarity in [0, 1], not a loss).

    Parameters
    ----------
    y_true : (B, H, W, 1) array_like
        Ground truth in [0, 1].
    y_pred : (B, H, W, 1) array_like
        Predicted probabilities (any float dtype; computed in float32).
    smooth : float, optional
        Smoothing constant ``S >= 0``. With ``S = 0`` an empty truth and an empty prediction
        give NaN (0/0).
    per_sample : bool, keyword-only
        ``False`` (default): one Dice over the whole batch tensor. ``True``: one Dice per
        sample (reducing all axes but the first), then their mean.

    Returns
    -------
    dice : float32 scalar tensor

    Raises
    ------
    ValueError
        If the shapes differ or ``smooth`` is negative.

    Notes
    -----
    ``Dice(G, O) = (2 sum(G O) + S) / (sum G + sum O + S)``, the paper's formula with soft
    set sizes. The paper does not say how a batch is reduced; the default pools the sums over
    the batch (the formula applied to the batch tensor as it stands), which weights images by
    their gland area and stays well defined for crops without glands. ``per_sample=True``
    averages per-image values instead.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.array([[1.0, 1.0, 1.0, 1.0]])
    >>> round(float(soft_dice(g, np.array([[1.0, 1.0, 0.0, 0.0]]), smooth=0)), 4)  # 4 / 6
    0.6667
    """
    smooth = _check_smooth(smooth)
    y_true, y_pred = _prepare(y_true, y_pred)
    return ops.mean(_dice(y_true, y_pred, smooth, axis=_sample_axes(y_true, per_sample)))


def soft_accuracy(y_true, y_pred):
    """Soft pixel accuracy.

    Parameters
    ----------
    y_true : (B, H, W, 1) array_like
        Ground truth in [0, 1].
    y_pred : (B, H, W, 1) array_like
        Predicted probabilities (any float dtype; computed in float32).

    Returns
    -------
    accuracy : float32 scalar tensor in [0, 1]

    Raises
    ------
    ValueError
        If the shapes differ.

    Notes
    -----
    ``Accuracy = mean[G O + (1 - G)(1 - O)]``, the soft form of (TP + TN) / (TP + TN + FP + FN).

    Examples
    --------
    >>> import numpy as np
    >>> float(soft_accuracy(np.array([1.0, 0.0]), np.array([1.0, 0.0])))
    1.0
    """
    y_true, y_pred = _prepare(y_true, y_pred)
    return _accuracy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="glandseg")
class SegmentationLoss(keras.losses.Loss):
    """One of the paper's losses as a serializable Keras loss.

    Parameters
    ----------
    loss : {"L1", "L2", "L3", "bce", "dice"}
        Which loss (see Notes).
    dice_term : {"exp", "log"}, keyword-only
        ``D(Dice) = exp(1 + Dice)`` (default) or ``log(1 + Dice)``.
    smooth : float, keyword-only
        Dice smoothing constant ``S``.
    per_sample : bool, keyword-only
        Dice per sample instead of over the batch (see :func:`soft_dice`). Also makes the loss
        return one value per sample, so ``sample_weight`` works; with ``False`` the loss is one
        scalar per batch and sample weights cannot be applied.
    name : str, keyword-only
        Loss name; default: ``loss``.
    reduction : str, keyword-only
        Keras reduction of the per-sample values (only used with ``per_sample=True``).

    Notes
    -----
    ``L1 = BCE - D``, ``L2 = BCE - D - Accuracy``, ``L3 = 2 BCE - D - Accuracy`` (paper
    Eq. 5-7, where the PDF's ``e(1+Dice)`` is read as ``exp(1 + Dice)``), ``bce = BCE`` and
    ``dice = 1 - Dice``. L1-L3 are negative and bounded below (exp(2) + 1 at best), which does
    not matter for gradients.
    """

    def __init__(self, loss="L3", *, dice_term="exp", smooth=1.0, per_sample=False, name=None,
                 reduction="sum_over_batch_size", dtype=None):
        if loss not in LOSS_NAMES:
            raise ValueError(
                f"Unknown loss. Expected one of {', '.join(map(repr, LOSS_NAMES))}. Received: name={loss!r}"
            )
        if not isinstance(per_sample, bool):
            raise ValueError(f"per_sample must be True or False. Received: per_sample={per_sample!r}")
        super().__init__(name=name or loss, reduction=reduction, dtype=dtype)
        self.loss = loss
        self.dice_term = _check_dice_term(dice_term)
        self.smooth = _check_smooth(smooth)
        self.per_sample = per_sample

    def call(self, y_true, y_pred):
        y_true, y_pred = _prepare(y_true, y_pred)
        axis = _sample_axes(y_true, self.per_sample)
        if self.loss == "bce":
            return _bce(y_true, y_pred, axis)
        dice = _dice(y_true, y_pred, self.smooth, axis)
        if self.loss == "dice":
            return 1.0 - dice
        w_bce, w_dice, w_acc = _COMPOSITE[self.loss]
        dice_term = ops.exp(1.0 + dice) if self.dice_term == "exp" else ops.log(1.0 + dice)
        value = w_bce * _bce(y_true, y_pred, axis) - w_dice * dice_term
        if w_acc:
            value = value - w_acc * _accuracy(y_true, y_pred, axis)
        return value

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss, dice_term=self.dice_term, smooth=self.smooth, per_sample=self.per_sample)
        return config


def get(name, *, dice_term="exp", smooth=1.0, per_sample=False):
    """A Keras loss ``fn(y_true, y_pred)`` by name.

    Parameters
    ----------
    name : {"L1", "L2", "L3", "bce", "dice"}
        The paper's composite losses L1-L3, or plain BCE / ``1 - Dice`` baselines.
    dice_term : {"exp", "log"}, keyword-only
        ``exp(1 + Dice)`` (default; the paper's ``e(1+Dice)`` read as the exponential) or
        ``log(1 + Dice)`` (natural logarithm), for L1-L3.
    smooth : float, keyword-only
        Dice smoothing constant ``S``.
    per_sample : bool, keyword-only
        Dice per sample instead of over the batch (see :func:`soft_dice`).

    Returns
    -------
    loss : SegmentationLoss
        A serializable ``keras.losses.Loss`` returning a float32 scalar; usable in
        ``model.compile(loss={"final": ..., "coarse": ...})``. Create one per output.

    Raises
    ------
    ValueError
        If ``name``, ``dice_term`` or ``smooth`` is not valid; the message lists the valid
        names and echoes the received one.

    Notes
    -----
    ``L1 = BCE - exp(1 + Dice)``; ``L2 = BCE - exp(1 + Dice) - Accuracy``;
    ``L3 = 2 BCE - exp(1 + Dice) - Accuracy``; ``bce = BCE``; ``dice = 1 - Dice``.

    References
    ----------
    .. [1] The paper, Eq. 5-7 (see ``PAPER.md``).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.ones((1, 2, 2, 1), "float32")
    >>> l1, l2 = get("L1")(g, g), get("L2")(g, g)
    >>> round(float(l1 - l2), 4)  # L2 = L1 - Accuracy, and a perfect prediction has accuracy 1
    1.0
    """
    if not isinstance(name, str) or name not in LOSS_NAMES:
        raise ValueError(
            f"Unknown loss. Expected one of {', '.join(map(repr, LOSS_NAMES))}. Received: name={name!r}"
        )
    return SegmentationLoss(name, dice_term=dice_term, smooth=smooth, per_sample=per_sample)


def composite_value(bce, dice, accuracy=None, *, loss="L3", dice_term="exp"):
    """Value of L1, L2 or L3 from given BCE, Dice and accuracy values (NumPy, for plots).

    Parameters
    ----------
    bce : float or array_like
        Binary cross-entropy value(s), >= 0.
    dice : float or array_like
        Soft Dice value(s) in [0, 1].
    accuracy : float or array_like, optional
        Soft accuracy value(s) in [0, 1]; needed for L2 and L3, ignored by L1.
    loss : {"L1", "L2", "L3"}, keyword-only
        Which composite loss.
    dice_term : {"exp", "log"}, keyword-only
        ``D = exp(1 + Dice)`` (default) or ``log(1 + Dice)``.

    Returns
    -------
    value : float64 ndarray
        The inputs broadcast against each other; a 0-d array for scalar inputs.

    Raises
    ------
    ValueError
        If ``loss`` or ``dice_term`` is unknown, or ``accuracy`` is missing for L2/L3.

    Notes
    -----
    ``L = w_bce BCE - D(Dice) - w_acc Accuracy`` with ``(w_bce, w_acc) = (1, 0)``, ``(1, 1)``
    and ``(2, 1)`` for L1, L2 and L3: the same weights that :class:`SegmentationLoss` applies
    to tensors, so the two agree whenever BCE, Dice and accuracy agree.

    Examples
    --------
    >>> float(composite_value(0.0, 1.0, 1.0, loss="L2"))  # -(e**2) - 1
    -8.38905609893065
    >>> float(composite_value(1.0, 0.0, loss="L1", dice_term="log"))  # 1 - log 1
    1.0
    """
    if loss not in _COMPOSITE:
        raise ValueError(
            f"loss must be one of {', '.join(map(repr, _COMPOSITE))}. Received: loss={loss!r}"
        )
    _check_dice_term(dice_term)
    w_bce, w_dice, w_acc = _COMPOSITE[loss]
    if w_acc and accuracy is None:
        raise ValueError(f"{loss} needs accuracy. Received: accuracy=None")
    bce = np.asarray(bce, dtype=np.float64)
    dice = np.asarray(dice, dtype=np.float64)
    term = np.exp(1.0 + dice) if dice_term == "exp" else np.log1p(dice)
    value = w_bce * bce - w_dice * term
    if w_acc:
        value = value - w_acc * np.asarray(accuracy, dtype=np.float64)
    return value


def coarse_target(mask, scale, *, method="area"):
    """Ground truth at the coarse output's scale (NumPy; for the data pipeline).

    Parameters
    ----------
    mask : (H, W), (H, W, 1) or (B, H, W, 1) array_like
        Binary mask or instance label map (bool or integer: foreground is ``> 0``), or a float
        mask with values in [0, 1].
    scale : int
        Downsampling factor (the model's ``coarse_scale``); ``H`` and ``W`` must be multiples.
    method : {"area", "max", "nearest"}, keyword-only
        ``"area"`` (default): mean over each ``scale x scale`` block, i.e. the fraction of gland
        pixels (a soft target). ``"max"``: 1 where any pixel of the block is gland.
        ``"nearest"``: the pixel at the block centre (offset ``scale // 2``).

    Returns
    -------
    target : float32 ndarray
        Shape of ``mask`` with ``H`` and ``W`` divided by ``scale``.

    Raises
    ------
    ValueError
        If ``mask`` has another number of dimensions, a float mask leaves [0, 1], a side is
        not a multiple of ``scale``, or ``scale``/``method`` is not valid.

    Notes
    -----
    The paper only says the internal output is compared with "the ground truth downsampled to
    its scale". Area averaging is what resizing with anti-aliasing does to a mask; the soft
    target keeps thin gland borders instead of deleting (nearest) or thickening (max) them,
    and BCE, soft Dice and soft accuracy all accept targets in [0, 1].

    Examples
    --------
    >>> m = np.zeros((4, 4), "uint8"); m[:2, :1] = 1
    >>> coarse_target(m, 2)
    array([[0.5, 0. ],
           [0. , 0. ]], dtype=float32)
    >>> coarse_target(m, 2, method="max")
    array([[1., 0.],
           [0., 0.]], dtype=float32)
    """
    if isinstance(scale, bool) or not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"scale must be a positive integer. Received: scale={scale!r}")
    if method not in COARSE_METHODS:
        raise ValueError(
            f"method must be one of {', '.join(map(repr, COARSE_METHODS))}. Received: method={method!r}"
        )
    mask = np.asarray(mask)
    if mask.ndim not in (2, 3, 4) or (mask.ndim >= 3 and mask.shape[-1] != 1):
        raise ValueError(
            f"mask must be (H, W), (H, W, 1) or (B, H, W, 1). Received: mask.shape={mask.shape}"
        )
    if mask.dtype == bool or np.issubdtype(mask.dtype, np.integer):
        mask = (mask > 0).astype(np.float32)
    elif np.issubdtype(mask.dtype, np.floating):
        mask = mask.astype(np.float32)
        if mask.size and (not np.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1):
            raise ValueError(
                "a float mask must have values in [0, 1]. "
                f"Received: values in [{mask.min()}, {mask.max()}]"
            )
    else:
        raise ValueError(f"mask must be bool, integer or float. Received: mask.dtype={mask.dtype}")
    axis = 1 if mask.ndim == 4 else 0
    h, w = mask.shape[axis], mask.shape[axis + 1]
    if h % scale or w % scale:
        raise ValueError(
            f"mask is {h}x{w}; sides must be multiples of scale={scale}. "
            f"Pad to {-(-h // scale) * scale}x{-(-w // scale) * scale}. Received: mask.shape={mask.shape}"
        )
    if method == "nearest":
        index = [slice(None)] * mask.ndim
        index[axis] = slice(scale // 2, None, scale)
        index[axis + 1] = slice(scale // 2, None, scale)
        return np.ascontiguousarray(mask[tuple(index)])
    blocks = mask.reshape(mask.shape[:axis] + (h // scale, scale, w // scale, scale) + mask.shape[axis + 2:])
    reduce = np.mean if method == "area" else np.max
    return reduce(blocks, axis=(axis + 1, axis + 3)).astype(np.float32)


def output_losses(model_config=None, train_config=None):
    """Losses and loss weights for ``model.compile`` from the experiment configs.

    Parameters
    ----------
    model_config : glandseg.config.ModelConfig, optional
        ``deep_supervision`` decides whether a ``coarse`` loss is included.
    train_config : glandseg.config.TrainConfig, optional
        ``loss``, ``dice_term``, ``smooth``, ``final_weight`` and ``coarse_weight``.

    Returns
    -------
    losses : dict
        ``{"final": SegmentationLoss, "coarse": SegmentationLoss}`` (no ``"coarse"`` without
        deep supervision); one instance per output.
    loss_weights : dict
        ``{"final": final_weight, "coarse": coarse_weight}`` (the paper: 1 and 2).

    Raises
    ------
    TypeError
        If a config has the wrong type.

    Examples
    --------
    >>> losses, weights = output_losses()
    >>> weights
    {'final': 1.0, 'coarse': 2.0}
    """
    from glandseg.config import ModelConfig, TrainConfig

    model_config = ModelConfig() if model_config is None else model_config
    train_config = TrainConfig() if train_config is None else train_config
    if not isinstance(model_config, ModelConfig):
        raise TypeError(f"model_config must be a ModelConfig. Received: {type(model_config).__name__}")
    if not isinstance(train_config, TrainConfig):
        raise TypeError(f"train_config must be a TrainConfig. Received: {type(train_config).__name__}")
    outputs = ("final", "coarse") if model_config.deep_supervision else ("final",)
    weights = {"final": float(train_config.final_weight), "coarse": float(train_config.coarse_weight)}
    losses = {
        key: get(train_config.loss, dice_term=train_config.dice_term, smooth=train_config.smooth)
        for key in outputs
    }
    return losses, {key: weights[key] for key in outputs}
