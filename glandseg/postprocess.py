"""Probability map to gland instances (the paper's post-processing unit).

The paper: "resize the probability map back to the original image size, Otsu threshold,
morphological operations to remove noise and fill holes, then connected components as
glands". Each stage is a public function so that the book can draw it::

    to_instances(prob, shape, config)
        == label(clean_mask(threshold(resize_probability(prob, shape), config.threshold), config))

This module uses NumPy, SciPy and scikit-image only (no Keras), so evaluation runs without a
deep-learning backend.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import threshold_otsu
from skimage.measure import label as _label
from skimage.morphology import disk
from skimage.transform import resize

from glandseg.config import PostprocessConfig

__all__ = [
    "disk_opening",
    "to_instances",
    "mask_to_instances",
    "resize_probability",
    "threshold",
    "threshold_value",
    "clean_mask",
    "OTSU_RANGE",
    "FLAT_THRESHOLD",
]

#: Otsu thresholds are clipped into this closed interval. On a map with no gland (all values
#: near 0) Otsu splits the background noise, and on a map that is all gland (values near 1)
#: it splits the foreground; the clip turns both into the sensible answer (nothing / all).
#: On the bimodal maps a trained network gives, Otsu lands near 0.5 and the clip does nothing.
OTSU_RANGE = (0.2, 0.8)

#: Threshold used for a constant map, where Otsu is undefined (no two classes to separate).
FLAT_THRESHOLD = 0.5

#: Probabilities may stray this far outside [0, 1] (float rounding) and are then clipped.
RANGE_TOLERANCE = 1e-3

#: A map whose max - min is below this counts as constant.
_FLAT_RANGE = 1e-6


# --------------------------------------------------------------------------------------------
# Validation (once, at the public boundary)


def _check_prob(prob):
    """Return ``prob`` as a 2-D float array clipped to [0, 1], or raise ValueError."""
    arr = np.asarray(prob)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(
            "prob must be an (H, W) or (H, W, 1) probability map with H, W >= 1. "
            f"Received: shape={np.shape(prob)}"
        )
    if arr.dtype.name == "bfloat16":  # Keras mixed_bfloat16 outputs (an ml_dtypes type)
        arr = arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(
            "prob must be a floating-point probability map in [0, 1] (e.g. the sigmoid output "
            f"of the network). Received: dtype={arr.dtype}; for a 0/1 mask use "
            "prob.astype(np.float32), for an 8-bit image prob / 255."
        )
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)  # scikit-image does not support float16 either
    finite = np.isfinite(arr)
    if not finite.all():
        raise ValueError(
            f"prob must be finite. Received: {arr.size - int(finite.sum())} NaN/inf value(s) "
            f"in an array of shape {arr.shape}"
        )
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ValueError(
            "prob must hold probabilities in [0, 1] (apply a sigmoid to logits first). "
            f"Received: values in [{lo:.6g}, {hi:.6g}], dtype={arr.dtype}, shape={arr.shape}"
        )
    return np.clip(arr, 0.0, 1.0)


def _check_shape(shape, name="original_shape"):
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if (
        dims is None
        or len(dims) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in dims)
    ):
        raise ValueError(
            f"{name} must be two positive integers (H, W), e.g. image.shape[:2]. Received: {name}={shape!r}"
        )
    return int(dims[0]), int(dims[1])


def _check_method(method):
    if isinstance(method, str):
        if method == "otsu":
            return method
    elif isinstance(method, numbers.Real) and not isinstance(method, bool) and 0 < method < 1:
        return float(method)
    raise ValueError(f"method must be 'otsu' or a number in (0, 1). Received: method={method!r}")


def _check_config(config):
    if config is None:
        return PostprocessConfig()
    if not isinstance(config, PostprocessConfig):
        raise TypeError(
            "config must be a glandseg.config.PostprocessConfig or None. "
            f"Received: {type(config).__name__}"
        )
    return config


def _check_mask(mask):
    arr = np.asarray(mask)
    if arr.ndim != 2 or min(arr.shape) < 1:
        raise ValueError(f"mask must be a 2-D (H, W) binary array. Received: shape={arr.shape}")
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    values = np.unique(arr)[:5]
    raise ValueError(
        "mask must be boolean (or integers 0/1); threshold a probability map with "
        f"glandseg.postprocess.threshold first. Received: dtype={arr.dtype}, values {values.tolist()}..."
    )


# --------------------------------------------------------------------------------------------
# Stages


def resize_probability(prob, shape):
    """Resize a probability map with bilinear interpolation.

    Parameters
    ----------
    prob : (h, w) or (h, w, 1) array_like of float
        Probability map with values in [0, 1].
    shape : (int, int)
        Output size (H, W), usually the original image's ``image.shape[:2]``.

    Returns
    -------
    resized : (H, W) ndarray of float
        The map resampled by bilinear interpolation (``skimage.transform.resize`` with
        ``order=1``, no anti-aliasing, edge padding). float32 stays float32, float16 and
        bfloat16 become float32, float64 stays float64. Values stay in [0, 1].

    Raises
    ------
    ValueError
        If ``prob`` is not a finite float map in [0, 1] of shape (h, w) or (h, w, 1), or
        ``shape`` is not two positive integers.

    Examples
    --------
    >>> resize_probability(np.array([[0.0, 1.0]]), (1, 4)).round(2)
    array([[0.  , 0.25, 0.75, 1.  ]])
    """
    arr = _check_prob(prob)
    shape = _check_shape(shape, "shape")
    return _resize(arr, shape)


def _resize(arr, shape):
    if arr.shape == shape:
        return arr
    out = resize(arr, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
    return np.clip(out, 0.0, 1.0).astype(arr.dtype, copy=False)


def threshold_value(prob, method="otsu"):
    """Threshold that :func:`threshold` applies to a probability map.

    Parameters
    ----------
    prob : (H, W) or (H, W, 1) array_like of float
        Probability map with values in [0, 1].
    method : "otsu" or float, optional
        ``"otsu"`` (the paper) or a fixed threshold in (0, 1).

    Returns
    -------
    t : float
        The fixed value, or the guarded Otsu threshold (see Notes).

    Raises
    ------
    ValueError
        If ``prob`` is not a finite float map in [0, 1], or ``method`` is neither ``"otsu"``
        nor a number in (0, 1).

    Notes
    -----
    ``method="otsu"`` gives ``clip(otsu(prob), *OTSU_RANGE)`` with ``OTSU_RANGE = (0.2, 0.8)``
    (``skimage.filters.threshold_otsu``, 256 bins); for a constant map, where Otsu is
    undefined, it gives ``FLAT_THRESHOLD = 0.5``. The paper does not say what Otsu should do
    on a map without two classes; the guard makes "no gland" (all low) give an empty mask and
    "all gland" (all high) a full one, instead of thresholding the noise.

    Examples
    --------
    >>> prob = np.array([[0.1, 0.1, 0.9, 0.9]])
    >>> 0.1 <= threshold_value(prob) < 0.9
    True
    >>> threshold_value(np.full((2, 2), 0.05)), threshold_value(np.full((2, 2), 0.05), 0.3)
    (0.5, 0.3)
    """
    arr = _check_prob(prob)
    return _threshold_value(arr, _check_method(method))


def _threshold_value(arr, method):
    if method != "otsu":
        return method
    if float(arr.max()) - float(arr.min()) < _FLAT_RANGE:
        return FLAT_THRESHOLD
    return float(np.clip(threshold_otsu(arr), *OTSU_RANGE))


def threshold(prob, method="otsu"):
    """Binary gland mask of a probability map.

    Parameters
    ----------
    prob : (H, W) or (H, W, 1) array_like of float
        Probability map with values in [0, 1].
    method : "otsu" or float, optional
        ``"otsu"`` (the paper, with the guard of :func:`threshold_value`) or a fixed
        threshold in (0, 1).

    Returns
    -------
    mask : (H, W) ndarray of bool
        ``prob > t`` with ``t = threshold_value(prob, method)``.

    Raises
    ------
    ValueError
        If ``prob`` is not a finite float map in [0, 1], or ``method`` is invalid.

    Examples
    --------
    >>> threshold(np.array([[0.2, 0.5, 0.7]]), 0.5)
    array([[False, False,  True]])
    """
    arr = _check_prob(prob)
    return arr > _threshold_value(arr, _check_method(method))


def clean_mask(mask, config=None):
    """Remove noise from a binary gland mask: opening, hole filling, small-object removal.

    Parameters
    ----------
    mask : (H, W) array_like of bool (or integers 0/1)
        Binary gland mask, e.g. from :func:`threshold`.
    config : PostprocessConfig, optional
        Uses ``opening_radius_px``, ``hole_size_px``, ``min_size_px`` and ``connectivity``.
        Defaults to ``PostprocessConfig()``.

    Returns
    -------
    cleaned : (H, W) ndarray of bool

    Raises
    ------
    ValueError
        If ``mask`` is not 2-D, or not boolean / 0-1 integers.
    TypeError
        If ``config`` is not a ``PostprocessConfig``.

    Notes
    -----
    In this order:

    1. Opening with a disk of radius ``opening_radius_px`` (default 0: skipped). Outside the
       image counts as foreground, so glands cut by the image border are not eroded from the
       border side (and the opening stays idempotent).
    2. Hole filling: a hole is a connected background region that does not touch the image
       border; holes of at most ``hole_size_px`` pixels (default 2000) are filled. Background
       regions use the connectivity complementary to the foreground (8 when
       ``connectivity=1``, 4 when ``connectivity=2``), so a hole is exactly what a
       foreground object of that connectivity encloses.
    3. Small-object removal: connected objects (``connectivity``, default 1 = 4-connected) of
       fewer than ``min_size_px`` pixels (default 200) are removed.

    Holes are filled before small objects are measured, so a thin ring around a predicted
    lumen counts with its lumen (as glands are annotated in GlaS). The cleaning is
    idempotent, ``clean_mask(clean_mask(m)) == clean_mask(m)``: without opening because
    filling never creates an object and removing an object only merges background into a
    region that was already too large, or touching the border, to be a hole; with an
    opening we found no counterexample in 30 000 random masks (the property is tested).

    Examples
    --------
    >>> from glandseg.config import PostprocessConfig
    >>> ring = np.array([[0, 0, 0, 0, 0, 0],
    ...                  [0, 1, 1, 1, 0, 1],
    ...                  [0, 1, 0, 1, 0, 0],
    ...                  [0, 1, 1, 1, 0, 0]], bool)
    >>> clean_mask(ring, PostprocessConfig(min_size_px=2, hole_size_px=1)).astype(int)
    array([[0, 0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0],
           [0, 1, 1, 1, 0, 0]])
    """
    arr = _check_mask(mask)
    return _clean(arr, _check_config(config))


def disk_opening(mask, radius):
    """Binary opening by ``skimage.morphology.disk(radius)``, at a cost that does not grow with the radius.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
    radius : int
        Disk radius in pixels (the disk holds the offsets with ``dy**2 + dx**2 <= radius**2``).

    Returns
    -------
    opened : (H, W) ndarray of bool
        Equal to ``scipy.ndimage.binary_opening(mask, structure=disk(radius))`` wherever the disk
        around a pixel, twice over, stays inside the array (the caller pads).

    Notes
    -----
    Erosion by the disk keeps a pixel whose nearest background pixel lies farther than the
    radius; dilation of the result adds every pixel within the radius of a kept one. Both are
    read from exact Euclidean distance transforms (squared distances between pixel centres
    are integers, so the comparisons are exact), where a direct erosion and dilation cost
    O(radius**2) a pixel: 0.25 s at radius 16 on a GlaS image against about 0.02 s.

    Examples
    --------
    >>> m = np.zeros((9, 15), bool); m[2:7, 1:6] = True; m[2:7, 9:14] = True; m[4, 6:9] = True
    >>> disk_opening(m, 1)[4].astype(int)  # the bridge between the two squares is cut
    array([0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0])
    >>> bool((disk_opening(m, 1) == ndi.binary_opening(m, structure=disk(1).astype(bool))).all())
    True
    """
    mask = np.asarray(mask, bool)
    r2 = int(radius) ** 2
    if mask.all():
        return mask.copy()
    eroded = np.rint(ndi.distance_transform_edt(mask) ** 2) > r2
    if not eroded.any():
        return eroded
    return np.rint(ndi.distance_transform_edt(~eroded) ** 2) <= r2


def _clean(mask, config):
    mask = mask.copy()
    connectivity = config.connectivity
    radius = config.opening_radius_px
    if radius > 0:
        # outside the image counts as foreground: a gland cut by the border keeps its border
        # side. The pad is wide enough for every disk that reaches into the image.
        pad = 2 * radius + 1
        padded = np.pad(mask, pad, mode="constant", constant_values=True)
        mask = disk_opening(padded, radius)[pad:-pad, pad:-pad]
    if config.hole_size_px > 0:
        background = _label(~mask, connectivity=3 - connectivity)
        sizes = np.bincount(background.ravel())
        border = np.unique(
            np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]])
        )
        fill = sizes <= config.hole_size_px
        fill[0] = False
        fill[border] = False
        mask |= fill[background]
    if config.min_size_px > 0:
        objects = _label(mask, connectivity=connectivity)
        sizes = np.bincount(objects.ravel())
        keep = sizes >= config.min_size_px
        keep[0] = False
        mask = keep[objects]
    return mask


def to_instances(prob, original_shape=None, config=None):
    """Gland instance labels from a network probability map.

    Parameters
    ----------
    prob : (h, w) or (h, w, 1) array_like of float
        Probability map of the network's final output, values in [0, 1].
    original_shape : (int, int), optional
        Size (H, W) of the original image; the map is resized back to it first (bilinear,
        see :func:`resize_probability`). None keeps the map's own size.
    config : PostprocessConfig, optional
        Threshold and morphology settings; ``PostprocessConfig()`` when None.

    Returns
    -------
    labels : (H, W) ndarray of int32
        0 is background; glands are numbered 1..k without gaps.

    Raises
    ------
    ValueError
        If ``prob`` is not a finite float map in [0, 1] of shape (h, w) or (h, w, 1), or
        ``original_shape`` is not two positive integers.
    TypeError
        If ``config`` is not a ``PostprocessConfig``.

    Notes
    -----
    ``labels = label(clean_mask(threshold(resize(prob), t)))`` with the defaults of
    ``PostprocessConfig``:

    * ``threshold="otsu"``: Otsu on the resized map, clipped into ``OTSU_RANGE = (0.2, 0.8)``;
      a constant map uses 0.5 (see :func:`threshold_value`). A number in (0, 1) is used as is.
    * ``opening_radius_px=0`` (no opening), ``hole_size_px=2000`` (fill enclosed holes up to
      2000 px), ``min_size_px=200`` (drop objects under 200 px after hole filling), all in
      pixels of the original image (see :func:`clean_mask`).
    * ``connectivity=1``: 4-connected components (``skimage.measure.label``).

    References
    ----------
    .. [1] N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans.
       Systems, Man, and Cybernetics 9(1), 62-66 (1979).

    Examples
    --------
    >>> from glandseg.config import PostprocessConfig
    >>> prob = np.zeros((5, 7))
    >>> prob[1:4, 0:2] = 0.9
    >>> prob[1:4, 4:7] = 0.8
    >>> to_instances(prob, config=PostprocessConfig(min_size_px=1))
    array([[0, 0, 0, 0, 0, 0, 0],
           [1, 1, 0, 0, 2, 2, 2],
           [1, 1, 0, 0, 2, 2, 2],
           [1, 1, 0, 0, 2, 2, 2],
           [0, 0, 0, 0, 0, 0, 0]], dtype=int32)
    """
    arr = _check_prob(prob)
    config = _check_config(config)
    if original_shape is not None:
        arr = _resize(arr, _check_shape(original_shape))
    mask = arr > _threshold_value(arr, _check_method(config.threshold))
    return _instances(mask, config)


def mask_to_instances(mask, config=None):
    """Gland instance labels from a binary mask: the cleaning and labelling of :func:`to_instances`.

    ``to_instances(prob, shape, config)`` equals
    ``mask_to_instances(threshold(resize_probability(prob, shape), config.threshold), config)``.
    Trying several cleaning settings on one map (a sweep) needs the resize and the threshold
    only once.

    Parameters
    ----------
    mask : (H, W) array_like of bool (or integers 0/1)
        Binary gland mask at the original size.
    config : PostprocessConfig, optional
        Uses ``opening_radius_px``, ``hole_size_px``, ``min_size_px`` and ``connectivity``
        (see :func:`clean_mask`); ``threshold`` is not used. Defaults to ``PostprocessConfig()``.

    Returns
    -------
    labels : (H, W) ndarray of int32
        0 is background; glands are numbered 1..k without gaps.

    Examples
    --------
    >>> from glandseg.config import PostprocessConfig
    >>> mask = np.array([[1, 1, 0, 1], [1, 1, 0, 0]], bool)
    >>> mask_to_instances(mask, PostprocessConfig(min_size_px=2, hole_size_px=0))
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]], dtype=int32)
    """
    return _instances(_check_mask(mask), _check_config(config))


def _instances(mask, config):
    return _label(_clean(mask, config), connectivity=config.connectivity).astype(np.int32)
