"""Training-set augmentation: the paper's 13 variants x 4 crops, and an on-the-fly random mode.

The paper turns each of the 85 resized training images (832x576) into 13 rotation/flip
variants and takes four 416x288 crops of each: 85 x 13 x 4 = 4420 training crops. It lists
neither the variants nor the crop positions; our choices (:data:`PAPER_VARIANTS`,
:func:`crop_positions`) are documented below and in :class:`PaperAugmenter`.

Every crop is computed on demand from the prepared image (:class:`PaperAugmenter`,
:class:`RandomAugmenter`), so the 4420 crops never sit in memory at once; a Keras
``PyDataset`` (``glandseg.train.CropDataset``) batches them. Masks undergo exactly the same
geometric transform as images: exact index permutations for flips and quarter turns, and for
the oblique rotations one coordinate map shared by the bilinear image and the nearest-neighbour
mask. This module never imports Keras.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import rotate as _sk_rotate

from glandseg.config import AugmentConfig

__all__ = [
    "D4",
    "Variant",
    "PAPER_VARIANTS",
    "dihedral",
    "crop_positions",
    "paper_variants",
    "paper_crops",
    "random_sample",
    "PaperAugmenter",
    "RandomAugmenter",
    "make_augmenter",
    "expand_paper",
]

#: The eight exact symmetries of the pixel grid (the dihedral group D4), by name. ``rot90`` is a
#: quarter turn counter-clockwise (:func:`numpy.rot90`), ``transpose`` swaps rows and columns,
#: ``transverse`` mirrors across the anti-diagonal. The last four swap height and width.
D4 = ("identity", "hflip", "vflip", "rot180", "rot90", "rot270", "transpose", "transverse")
_SWAPS = frozenset({"rot90", "rot270", "transpose", "transverse"})
_POSITIONS = ("corners", "random")
_MARGIN_PX = 2.0  # oblique crops keep this distance (source pixels) from the image border


class Variant(NamedTuple):
    """One augmentation variant: an exact D4 transform, then a rotation about the centre.

    Attributes
    ----------
    name : str
    transform : str
        One of :data:`D4`, applied first (exact, no interpolation).
    angle_deg : float
        Counter-clockwise rotation about the frame centre in degrees, applied after
        ``transform`` (0 = none), with :func:`skimage.transform.rotate`'s convention.
    """

    name: str
    transform: str
    angle_deg: float = 0.0


#: The 13 variants of the paper protocol. The eight D4 symmetries are exact (pure index
#: permutations: no interpolation, masks stay exact); the five oblique rotations of the
#: original by +-15, +-30 and 45 degrees fill the orientations between quarter turns, so that
#: together the variants sample every orientation modulo 90 degrees on a regular 15-degree grid
#: (0, 15, 30, 45, 60 = -30 + 90, 75 = -15 + 90). No two variants are the same transform.
PAPER_VARIANTS = (
    Variant("identity", "identity"),
    Variant("hflip", "hflip"),
    Variant("vflip", "vflip"),
    Variant("rot180", "rot180"),
    Variant("rot90", "rot90"),
    Variant("rot270", "rot270"),
    Variant("transpose", "transpose"),
    Variant("transverse", "transverse"),
    Variant("rot+15", "identity", 15.0),
    Variant("rot-15", "identity", -15.0),
    Variant("rot+30", "identity", 30.0),
    Variant("rot-30", "identity", -30.0),
    Variant("rot+45", "identity", 45.0),
)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def _check_crop_size(crop_size):
    if (
        not isinstance(crop_size, (tuple, list))
        or len(crop_size) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in crop_size)
    ):
        raise ValueError(
            f"crop_size must be a (width, height) pair of positive integers, e.g. (416, 288). "
            f"Received: crop_size={crop_size!r}"
        )
    return int(crop_size[1]), int(crop_size[0])  # (ch, cw)


def _check_pair(image, mask):
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim not in (2, 3) or image.dtype.kind not in "fiu":
        raise ValueError(
            f"image must be a numeric (H, W) or (H, W, C) array. Received: shape {image.shape}, dtype {image.dtype}"
        )
    if mask.shape != image.shape[:2] or mask.dtype.kind not in "iub":
        raise ValueError(
            f"mask must be an integer or bool (H, W) array matching the image's {image.shape[:2]}. "
            f"Received: shape {mask.shape}, dtype {mask.dtype}"
        )
    return image, mask


def _check_batch(x, mask):
    x, mask = np.asarray(x), np.asarray(mask)
    if x.ndim != 4 or x.shape[0] < 1 or x.dtype.kind not in "fiu":
        raise ValueError(
            f"x must be a numeric (N, H, W, C) array of N >= 1 images (e.g. prepare(...)['x']). "
            f"Received: shape {x.shape}, dtype {x.dtype}"
        )
    if mask.shape != x.shape[:3] or mask.dtype.kind not in "iub":
        raise ValueError(
            f"mask must be an integer or bool (N, H, W) array matching x's {x.shape[:3]}. "
            f"Received: shape {mask.shape}, dtype {mask.dtype}"
        )
    return x, mask


def _check_fits(shape, crop_hw, what):
    if crop_hw[0] > shape[0] or crop_hw[1] > shape[1]:
        raise ValueError(
            f"crop_size (width, height) = {crop_hw[::-1]} does not fit in the {what} of "
            f"(width, height) = {tuple(shape[:2])[::-1]}; use a smaller crop or a larger preprocess size."
        )


def _check_positions(positions):
    if positions not in _POSITIONS:
        raise ValueError(f"positions must be 'corners' or 'random'. Received: positions={positions!r}")


def _as_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None. Received: {type(rng).__name__}")


def _resolve_variant(variant):
    if isinstance(variant, Variant):
        if variant.transform not in D4:
            raise ValueError(f"Variant.transform must be one of {D4}. Received: {variant.transform!r}")
        if not np.isfinite(variant.angle_deg):
            raise ValueError(f"Variant.angle_deg must be finite. Received: {variant.angle_deg!r}")
        return variant
    if isinstance(variant, numbers.Integral) and not isinstance(variant, bool):
        if not -len(PAPER_VARIANTS) <= variant < len(PAPER_VARIANTS):
            raise ValueError(f"variant index must be in 0..{len(PAPER_VARIANTS) - 1}. Received: {variant}")
        return PAPER_VARIANTS[variant]
    for v in PAPER_VARIANTS:
        if v.name == variant:
            return v
    names = ", ".join(v.name for v in PAPER_VARIANTS)
    raise ValueError(f"variant must be a Variant, an index or one of {names}. Received: {variant!r}")


def _resolve_variants(variants):
    if variants is None:
        return PAPER_VARIANTS
    if isinstance(variants, numbers.Integral) and not isinstance(variants, bool):
        if not 1 <= variants <= len(PAPER_VARIANTS):
            raise ValueError(
                f"variants as a number means the first k paper variants, 1 <= k <= {len(PAPER_VARIANTS)}. "
                f"Received: variants={variants}"
            )
        return PAPER_VARIANTS[:variants]
    out = tuple(_resolve_variant(v) for v in variants)
    if not out:
        raise ValueError("variants must not be empty")
    return out


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
def dihedral(image, transform):
    """Apply one exact symmetry of the pixel grid (flip, quarter turn, transpose).

    Parameters
    ----------
    image : (H, W, ...) array_like
        Image, mask or label map; trailing axes (channels) are carried along.
    transform : str
        One of :data:`D4`: ``"identity"``, ``"hflip"`` (left-right), ``"vflip"`` (up-down),
        ``"rot180"``, ``"rot90"`` (counter-clockwise), ``"rot270"``, ``"transpose"``,
        ``"transverse"`` (mirror across the anti-diagonal).

    Returns
    -------
    out : ndarray
        A view of ``image``: shape ``(H, W, ...)``, or ``(W, H, ...)`` for the four transforms
        that swap the axes. Same dtype; the same multiset of values.

    Raises
    ------
    ValueError
        If ``transform`` is unknown or ``image`` has fewer than 2 dimensions.

    Examples
    --------
    >>> a = np.array([[1, 2, 3], [4, 5, 6]])
    >>> dihedral(a, "hflip")
    array([[3, 2, 1],
           [6, 5, 4]])
    >>> dihedral(a, "rot90")
    array([[3, 6],
           [2, 5],
           [1, 4]])
    """
    a = np.asarray(image)
    if a.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions (H, W, ...). Received: shape {a.shape}")
    if transform == "identity":
        return a
    if transform == "hflip":
        return a[:, ::-1]
    if transform == "vflip":
        return a[::-1]
    if transform == "rot180":
        return a[::-1, ::-1]
    if transform == "rot90":
        return np.rot90(a, 1, axes=(0, 1))
    if transform == "rot270":
        return np.rot90(a, -1, axes=(0, 1))
    if transform == "transpose":
        return np.swapaxes(a, 0, 1)
    if transform == "transverse":
        return np.swapaxes(a[::-1, ::-1], 0, 1)
    raise ValueError(f"transform must be one of {', '.join(D4)}. Received: transform={transform!r}")


def _frame(shape, transform):
    """(H, W) of the frame after a D4 transform (rotations about the centre keep it)."""
    h, w = shape[:2]
    return (w, h) if transform in _SWAPS else (h, w)


def _rotation(angle_deg):
    t = np.deg2rad(angle_deg)
    return np.cos(t), np.sin(t)


def _inverse_map(frame, angle_deg, y0, x0):
    """3x3 matrix mapping crop (x, y) to source (x, y) for the crop at (y0, x0) of the frame.

    skimage.transform.rotate's convention: output pixel ``d`` of the rotated frame samples the
    source at ``c + R(angle) (d - c)`` with ``c`` the centre ``((W-1)/2, (H-1)/2)``.
    """
    h, w = frame
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    cos, sin = _rotation(angle_deg)
    rot = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, x0 - cx], [0.0, 1.0, y0 - cy], [0.0, 0.0, 1.0]])
    back = np.array([[1.0, 0.0, cx], [0.0, 1.0, cy], [0.0, 0.0, 1.0]])
    return back @ rot @ shift


def _centre_box(frame, crop_hw, angle_deg):
    """Source-coordinate box (y_lo, y_hi, x_lo, x_hi) of crop centres whose rotated crop lies
    inside the image with a margin of ``_MARGIN_PX``; None when no such centre exists."""
    h, w = frame
    a, b = (crop_hw[0] - 1) / 2.0, (crop_hw[1] - 1) / 2.0
    cos, sin = (abs(v) for v in _rotation(angle_deg))
    ey, ex = b * sin + a * cos, b * cos + a * sin
    y_lo, y_hi = ey + _MARGIN_PX, h - 1 - ey - _MARGIN_PX
    x_lo, x_hi = ex + _MARGIN_PX, w - 1 - ex - _MARGIN_PX
    if y_hi < y_lo or x_hi < x_lo:
        return None
    return y_lo, y_hi, x_lo, x_hi


def _top_left(frame, crop_hw, angle_deg, sy, sx):
    """Integer top-left (y0, x0) in the rotated frame of the crop centred on source (sy, sx),
    clipped so that the window lies inside the frame."""
    h, w = frame
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    cos, sin = _rotation(angle_deg)
    dx, dy = sx - cx, sy - cy
    # inverse rotation R(-angle) maps the source centre to the frame
    fx, fy = cx + cos * dx + sin * dy, cy - sin * dx + cos * dy
    y0 = int(round(fy - (crop_hw[0] - 1) / 2.0))
    x0 = int(round(fx - (crop_hw[1] - 1) / 2.0))
    # keep the window inside the frame (moves it by a pixel or so at 45 degrees)
    return min(max(y0, 0), max(h - crop_hw[0], 0)), min(max(x0, 0), max(w - crop_hw[1], 0))


def _axis_positions(length, crop):
    return (0, length - crop) if crop <= length else ((length - crop) // 2,) * 2


def _corner(frame, crop_hw, angle_deg, j):
    """Corner position j (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right)."""
    box = _centre_box(frame, crop_hw, angle_deg) if angle_deg else None
    if box is None:
        ys, xs = _axis_positions(frame[0], crop_hw[0]), _axis_positions(frame[1], crop_hw[1])
        return ys[j // 2], xs[j % 2]
    y_lo, y_hi, x_lo, x_hi = box
    return _top_left(frame, crop_hw, angle_deg, (y_lo, y_hi)[j // 2], (x_lo, x_hi)[j % 2])


def _random_position(frame, crop_hw, angle_deg, rng):
    box = _centre_box(frame, crop_hw, angle_deg) if angle_deg else None
    if box is None:
        pos = []
        for length, crop in zip(frame, crop_hw):
            pos.append(int(rng.integers(0, length - crop + 1)) if crop <= length else (length - crop) // 2)
        return tuple(pos)
    y_lo, y_hi, x_lo, x_hi = box
    return _top_left(frame, crop_hw, angle_deg, rng.uniform(y_lo, y_hi), rng.uniform(x_lo, x_hi))


def crop_positions(frame_shape, crop_size=(416, 288), n=4, *, angle_deg=0.0, positions="corners", rng=None):
    """Top-left corners of the crops taken from one variant frame.

    Parameters
    ----------
    frame_shape : (int, int)
        (H, W) of the variant frame (after its D4 transform; a rotation keeps the frame).
    crop_size : (int, int), optional
        Crop size as (width, height).
    n : int, optional
        Number of crops.
    angle_deg : float, optional
        The variant's rotation about the frame centre.
    positions : {"corners", "random"}, optional
        ``"corners"``: the first four crops are the four extreme positions (top-left, top-right,
        bottom-left, bottom-right); crops beyond four are random. ``"random"``: all random.
    rng : numpy Generator or int, optional
        Source of the random positions.

    Returns
    -------
    yx : (n, 2) ndarray of int
        (y0, x0) of each crop in the variant frame; the crop is ``frame[y0:y0+h, x0:x0+w]``.

    Raises
    ------
    ValueError
        If ``crop_size``, ``n`` or ``positions`` is invalid.

    Notes
    -----
    Without rotation the extreme positions are the frame's corners, so for an 832x576 frame the
    four 416x288 crops are its quadrants and tile it exactly; a portrait 576x832 frame (quarter
    turns) gives ``y0 in {0, 544}`` and ``x0 in {0, 160}``. Random positions are uniform over all
    positions that fit.

    With a rotation, a crop is only taken where its whole footprint lies inside the source
    image (2 px from the border), so an oblique crop contains no padding. Its centre, in
    source coordinates, lies in a box shrunk by the rotated crop's half extents
    ``e_y = b |sin t| + a cos t``, ``e_x = b cos t + a |sin t|`` (``a, b`` the crop's half
    height and width); the corners of that box map to the four extreme positions and random
    centres are uniform in it, then rounded to whole frame pixels and clipped into the frame
    (by at most 1 px for the paper's sizes, where every oblique crop lies wholly inside the
    image, so the crop is always a window of the rotated frame). When no centre fits (a crop
    nearly as large as the image) or a frame is smaller than the crop, crops fall back to frame
    corners (centred along a side that is too short) and the missing pixels are reflected.

    Examples
    --------
    >>> crop_positions((576, 832), (416, 288)).tolist()
    [[0, 0], [0, 416], [288, 0], [288, 416]]
    """
    crop_hw = _check_crop_size(crop_size)
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer. Received: n={n!r}")
    _check_positions(positions)
    frame = (int(frame_shape[0]), int(frame_shape[1]))
    generator = None
    out = []
    for j in range(n):
        if positions == "corners" and j < 4:
            out.append(_corner(frame, crop_hw, float(angle_deg), j))
        else:
            generator = generator or _as_rng(rng)
            out.append(_random_position(frame, crop_hw, float(angle_deg), generator))
    return np.array(out, dtype=np.int64).reshape(n, 2)


def _slice(a, y0, x0, ch, cw):
    """a[y0:y0+ch, x0:x0+cw], reflecting where the window leaves the array."""
    h, w = a.shape[:2]
    if 0 <= y0 and y0 + ch <= h and 0 <= x0 and x0 + cw <= w:
        return a[y0 : y0 + ch, x0 : x0 + cw]
    pads = [(max(0, -y0), max(0, y0 + ch - h)), (max(0, -x0), max(0, x0 + cw - w))]
    padded = np.pad(a, pads + [(0, 0)] * (a.ndim - 2), mode="reflect")
    y0, x0 = y0 + pads[0][0], x0 + pads[1][0]
    return padded[y0 : y0 + ch, x0 : x0 + cw]


def _extract(image, mask, variant, y0, x0, crop_hw):
    """Crop (y0, x0) of ``variant`` of (image, mask) as float32 / uint8 (no validation)."""
    a = dihedral(image, variant.transform)
    m = dihedral(mask, variant.transform)
    ch, cw = crop_hw
    if not variant.angle_deg:
        img = np.array(_slice(a, y0, x0, ch, cw), dtype=np.float32)
        return img, np.array(_slice(m, y0, x0, ch, cw), dtype=np.uint8)
    matrix = _inverse_map(a.shape[:2], variant.angle_deg, y0, x0)
    # scipy works in (row, col): swap the roles of x and y in the (x, y) matrix
    linear = np.array([[matrix[1, 1], matrix[1, 0]], [matrix[0, 1], matrix[0, 0]]])
    offset = np.array([matrix[1, 2], matrix[0, 2]])
    corners = np.array([[0, 0], [0, cw - 1], [ch - 1, 0], [ch - 1, cw - 1]], dtype=np.float64)
    src = corners @ linear.T + offset
    lo = np.floor(src.min(axis=0)).astype(int) - 1
    hi = np.ceil(src.max(axis=0)).astype(int) + 2
    if (lo >= 0).all() and hi[0] <= a.shape[0] and hi[1] <= a.shape[1]:
        # the footprint lies inside the image (always so for the paper's sizes)
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]))
        return _sample_inside(a[box], m[box], linear, offset - lo, crop_hw)
    a32 = np.asarray(a, dtype=np.float32)
    planes = [a32] if a32.ndim == 2 else [a32[..., c] for c in range(a32.shape[2])]
    warped = [_affine(plane, linear, offset, (ch, cw), 1) for plane in planes]
    img = warped[0] if a32.ndim == 2 else np.stack(warped, axis=-1)
    msk = _affine(np.asarray(m, dtype=np.uint8), linear, offset, (ch, cw), 0)
    return img, msk


def _sample_inside(a, m, linear, offset, crop_hw):
    """Bilinear image and nearest-neighbour mask at ``linear @ (row, col) + offset``, for
    coordinates at least one pixel inside ``a`` (no border handling needed).

    Plain NumPy gathers on one shared coordinate grid, a little faster than two
    ``scipy.ndimage.affine_transform`` calls; the mask uses exactly the image's coordinates.
    """
    ch, cw = crop_hw
    rows, cols = np.arange(ch, dtype=np.float64), np.arange(cw, dtype=np.float64)
    r = (linear[0, 0] * rows + offset[0])[:, None] + linear[0, 1] * cols[None, :]
    c = (linear[1, 0] * rows + offset[1])[:, None] + linear[1, 1] * cols[None, :]
    r0, c0 = r.astype(np.intp), c.astype(np.intp)  # coordinates are positive: truncation = floor
    fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
    width = a.shape[1]
    top_left = r0 * width + c0
    planes = [a] if a.ndim == 2 else [a[..., k] for k in range(a.shape[2])]
    out = []
    for plane in planes:
        flat = np.ascontiguousarray(plane, dtype=np.float32).ravel()
        top = flat[top_left]
        top += fc * (flat[top_left + 1] - top)
        bottom = flat[top_left + width]
        bottom += fc * (flat[top_left + width + 1] - bottom)
        top += fr * (bottom - top)
        out.append(top)
    img = out[0] if a.ndim == 2 else np.stack(out, axis=-1)
    nearest = np.rint(r).astype(np.intp) * width + np.rint(c).astype(np.intp)
    return img, np.ascontiguousarray(m, dtype=np.uint8).ravel()[nearest]


def _affine(plane, linear, offset, shape, order):
    """Resample ``plane`` at ``linear @ (row, col) + offset``; borders reflect without repeating
    the edge pixel (scikit-image's ``mode="reflect"``, SciPy's ``"mirror"``)."""
    return ndi.affine_transform(
        np.ascontiguousarray(plane), linear, offset, output_shape=shape, order=order, mode="mirror", prefilter=False
    )


# --------------------------------------------------------------------------------------------
# paper mode
# --------------------------------------------------------------------------------------------
def paper_variants(image, mask, variants=None):
    """The full frames of the paper's variants of one image and its mask (for figures and tests).

    Parameters
    ----------
    image : (H, W) or (H, W, C) array_like
    mask : (H, W) array_like of int or bool
    variants : sequence of Variant, names or indices, or int, optional
        Default :data:`PAPER_VARIANTS` (13); an int ``k`` means the first ``k``.

    Returns
    -------
    frames : list of (image, mask)
        One pair per variant: float32 image of shape (H, W[, C]) or (W, H[, C]) and uint8 mask.

    Raises
    ------
    ValueError
        If the image and mask shapes disagree or a variant is unknown.

    Notes
    -----
    D4 variants are exact index permutations. Oblique variants are
    ``skimage.transform.rotate(frame, angle)`` (bilinear for the image, nearest for the mask,
    ``mode="reflect"``, frame size kept), so their corners hold reflected tissue; the crops of
    :func:`paper_crops` avoid those corners and equal the corresponding windows of these frames.

    Examples
    --------
    >>> frames = paper_variants(np.zeros((4, 6)), np.zeros((4, 6), np.uint8))
    >>> len(frames), frames[4][0].shape
    (13, (6, 4))
    """
    image, mask = _check_pair(image, mask)
    out = []
    for v in _resolve_variants(variants):
        a = np.asarray(dihedral(image, v.transform), dtype=np.float32)
        m = np.asarray(dihedral(mask, v.transform), dtype=np.float32)
        if v.angle_deg:
            a = _sk_rotate(a, v.angle_deg, order=1, mode="reflect", preserve_range=True)
            m = _sk_rotate(m, v.angle_deg, order=0, mode="reflect", preserve_range=True)
        out.append((a.astype(np.float32), np.rint(m).astype(np.uint8)))
    return out


def paper_crops(image, mask, variant=0, crop_size=(416, 288), n=4, *, positions="corners", rng=None):
    """Crops of one paper variant of one image, with the matching mask crops.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array_like
        A resized image (e.g. one row of ``prepare(...)["x"]``).
    mask : (H, W) array_like of int or bool
        Its binary mask.
    variant : Variant, str or int, optional
        A :class:`Variant`, the name or index of one of :data:`PAPER_VARIANTS`.
    crop_size : (int, int), optional
        (width, height) of the crops.
    n : int, optional
        Number of crops (the paper: 4).
    positions : {"corners", "random"}, optional
        See :func:`crop_positions`.
    rng : numpy Generator or int, optional
        For random positions.

    Returns
    -------
    crops : list of (image, mask)
        ``n`` pairs: a float32 (h, w[, C]) image crop and a uint8 (h, w) mask crop.

    Raises
    ------
    ValueError
        If shapes disagree, the crop is larger than the image, or an argument is invalid.

    Notes
    -----
    The mask undergoes the image's geometric transform: the same index permutation for D4
    variants, and the same source coordinates (nearest neighbour instead of bilinear) for
    oblique ones.

    Examples
    --------
    >>> image = np.arange(24.0).reshape(4, 6)
    >>> crops = paper_crops(image, image > 11, "vflip", crop_size=(3, 2))
    >>> crops[0][0]
    array([[18., 19., 20.],
           [12., 13., 14.]], dtype=float32)
    >>> crops[0][1]
    array([[1, 1, 1],
           [1, 1, 1]], dtype=uint8)
    """
    image, mask = _check_pair(image, mask)
    v = _resolve_variant(variant)
    crop_hw = _check_crop_size(crop_size)
    _check_fits(image.shape, crop_hw, "image")
    frame = _frame(image.shape, v.transform)
    yx = crop_positions(frame, crop_size, n, angle_deg=v.angle_deg, positions=positions, rng=rng)
    return [_extract(image, mask, v, int(y0), int(x0), crop_hw) for y0, x0 in yx]


class PaperAugmenter:
    """The paper's fixed training set: every image x 13 variants x ``crops_per_variant`` crops.

    A sequence of ``N * len(variants) * crops_per_variant`` (image, mask) crops, each computed
    on demand (well under 1 ms for an exact variant, about 10 ms for an oblique one on one core), so the
    4420 paper crops (2 GB as float32) are never held in memory at once.

    Parameters
    ----------
    x : (N, H, W, C) array_like
        Prepared images (``prepare(...)["x"]``, float16 or float32).
    mask : (N, H, W) array_like of int or bool
        Binary masks (``prepare(...)["mask"]``).
    config : AugmentConfig, optional
        ``crop_size`` and ``crops_per_variant``; the paper's defaults when omitted.
    seed : int, optional
        Seed of the random crop positions (used only for crops beyond the fourth or with
        ``positions="random"``; corner crops do not depend on it).
    variants : sequence of Variant, names or indices, or int, optional
        Default :data:`PAPER_VARIANTS`; an int ``k`` means the first ``k`` (``1``: the
        unaugmented image only, e.g. for validation).
    positions : {"corners", "random"}, optional
        Crop positions, see :func:`crop_positions`.

    Raises
    ------
    ValueError
        If ``x`` and ``mask`` disagree, the crop does not fit, or an argument is invalid.

    Notes
    -----
    Item ``i`` is crop ``j`` of variant ``v`` of image ``n`` with
    ``i = (n * V + v) * K + j`` (``V`` variants, ``K`` crops per variant); :meth:`locate`
    inverts it. The same item is identical on every access and in every process: nothing
    depends on call order. The paper's protocol with our choices:

    * variants: the 8 exact D4 symmetries (identity, left-right and up-down flips, 180-degree
      turn, quarter turns both ways, transpose, anti-transpose) and 5 oblique rotations of the
      original by +15, -15, +30, -30 and +45 degrees (:data:`PAPER_VARIANTS`);
    * crops: the four extreme positions of each variant frame; for the unrotated landscape
      variants these are the 4 quadrants of 832x576, which tile it exactly; for quarter turns
      (576x832 frames) the top and bottom 416x288 corners; for oblique rotations the four
      extreme positions at which the rotated crop lies wholly inside the image, so no crop
      contains padding.

    Examples
    --------
    >>> x = np.zeros((2, 64, 96, 1), np.float16)
    >>> aug = PaperAugmenter(x, np.zeros((2, 64, 96), np.uint8), AugmentConfig(crop_size=(32, 32)))
    >>> len(aug), aug[0][0].shape, aug[0][0].dtype, aug[0][1].dtype
    (104, (32, 32, 1), dtype('float32'), dtype('uint8'))
    """

    def __init__(self, x, mask, config=None, *, seed=0, variants=None, positions="corners"):
        config = AugmentConfig() if config is None else config
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be a glandseg.config.AugmentConfig. Received: {type(config).__name__}")
        self.x, self.mask = _check_batch(x, mask)
        self.crop_size = config.crop_size
        self._crop_hw = _check_crop_size(config.crop_size)
        _check_fits(self.x.shape[1:3], self._crop_hw, "prepared images")
        self.crops_per_variant = config.crops_per_variant
        self.variants = _resolve_variants(variants)
        _check_positions(positions)
        self.positions = positions
        self.seed = int(seed)
        self._corners = {}

    def __len__(self):
        return len(self.x) * len(self.variants) * self.crops_per_variant

    def locate(self, i):
        """(image index, variant index, crop index) of item ``i``."""
        n_items = len(self)
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"index must be an integer. Received: {type(i).__name__}")
        if not -n_items <= i < n_items:
            raise IndexError(f"index {i} out of range for {n_items} crops")
        i = int(i) % n_items
        k, n_var = self.crops_per_variant, len(self.variants)
        return i // (n_var * k), (i // k) % n_var, i % k

    def position(self, n, v, j):
        """(y0, x0) of crop ``j`` of variant ``v`` of image ``n`` in the variant frame."""
        variant = self.variants[v]
        frame = _frame(self.x.shape[1:3], variant.transform)
        if self.positions == "corners" and j < 4:
            key = (v, j)
            if key not in self._corners:
                self._corners[key] = _corner(frame, self._crop_hw, variant.angle_deg, j)
            return self._corners[key]
        rng = np.random.default_rng([self.seed, n, v, j])
        return _random_position(frame, self._crop_hw, variant.angle_deg, rng)

    def __getitem__(self, i):
        n, v, j = self.locate(i)
        y0, x0 = self.position(n, v, j)
        return _extract(self.x[n], self.mask[n], self.variants[v], int(y0), int(x0), self._crop_hw)


def expand_paper(x, mask, config=None, *, seed=0, variants=None, positions="corners", dtype=np.float32):
    """All crops of :class:`PaperAugmenter` as two arrays (small data sets, figures, tests).

    Parameters
    ----------
    x, mask, config, seed, variants, positions
        As for :class:`PaperAugmenter`.
    dtype : dtype, optional
        Dtype of the image array (float16 halves the memory).

    Returns
    -------
    images : (M, h, w, C) ndarray of ``dtype``
    masks : (M, h, w) ndarray of uint8
        ``M = N * len(variants) * crops_per_variant`` in :class:`PaperAugmenter` order. For
        the full paper set (4420 crops of 416x288x1) that is 2.1 GB as float32: prefer the
        lazy :class:`PaperAugmenter` for training.

    Examples
    --------
    >>> x = np.zeros((1, 64, 96, 1), np.float32)
    >>> images, masks = expand_paper(x, np.zeros((1, 64, 96), np.uint8), AugmentConfig(crop_size=(32, 32)))
    >>> images.shape, masks.shape
    ((52, 32, 32, 1), (52, 32, 32))
    """
    aug = PaperAugmenter(x, mask, config, seed=seed, variants=variants, positions=positions)
    ch, cw = aug._crop_hw
    images = np.empty((len(aug), ch, cw) + aug.x.shape[3:], dtype=dtype)
    masks = np.empty((len(aug), ch, cw), dtype=np.uint8)
    for i in range(len(aug)):
        images[i], masks[i] = aug[i]
    return images, masks


# --------------------------------------------------------------------------------------------
# random mode
# --------------------------------------------------------------------------------------------
def _allowed(shape, crop_hw):
    return tuple(t for t in D4 if _frame(shape, t)[0] >= crop_hw[0] and _frame(shape, t)[1] >= crop_hw[1])


def _random_sample(image, mask, crop_hw, rng, allowed):
    transform = allowed[int(rng.integers(len(allowed)))]
    frame = _frame(image.shape, transform)
    y0 = int(rng.integers(0, frame[0] - crop_hw[0] + 1))
    x0 = int(rng.integers(0, frame[1] - crop_hw[1] + 1))
    return _extract(image, mask, Variant(transform, transform), y0, x0, crop_hw)


def random_sample(image, mask, crop_size=(416, 288), rng=None):
    """One random flip/quarter-turn and random crop of an image and its mask.

    Parameters
    ----------
    image : (H, W) or (H, W, C) array_like
    mask : (H, W) array_like of int or bool
    crop_size : (int, int), optional
        (width, height) of the crop.
    rng : numpy Generator or int, optional

    Returns
    -------
    image_crop : (h, w[, C]) ndarray of float32
    mask_crop : (h, w) ndarray of uint8

    Raises
    ------
    ValueError
        If shapes disagree or the crop fits in no orientation of the image.

    Notes
    -----
    The transform is drawn uniformly from the D4 symmetries whose frame contains the crop: the
    four that keep the orientation (identity, flips, 180 degrees) whenever the crop fits the
    image, and the four that swap height and width (quarter turns, transposes) only when the
    crop also fits the swapped frame (``crop_w <= H`` and ``crop_h <= W``). The crop's top-left
    corner is then uniform over all positions in that frame. No interpolation is involved, so
    the mask crop is exactly the transformed mask.

    Examples
    --------
    >>> image = np.arange(12.0).reshape(3, 4)
    >>> crop, m = random_sample(image, image > 5, crop_size=(4, 3), rng=0)
    >>> crop.shape, sorted(crop.ravel().tolist()) == list(range(12)), bool((m == (crop > 5)).all())
    ((3, 4), True, True)
    """
    image, mask = _check_pair(image, mask)
    crop_hw = _check_crop_size(crop_size)
    allowed = _allowed(image.shape, crop_hw)
    if not allowed:
        _check_fits(image.shape, crop_hw, "image")
    return _random_sample(image, mask, crop_hw, _as_rng(rng), allowed)


class RandomAugmenter:
    """An on-the-fly random training set: a fresh flip/quarter-turn and crop for every item.

    Parameters
    ----------
    x : (N, H, W, C) array_like
        Prepared images.
    mask : (N, H, W) array_like of int or bool
        Binary masks.
    config : AugmentConfig, optional
        ``crop_size`` (and ``crops_per_variant`` for the default length).
    seed : int, optional
    length : int, optional
        Items per epoch; default ``N * 13 * crops_per_variant``, the paper set's size.

    Raises
    ------
    ValueError
        If ``x`` and ``mask`` disagree, the crop does not fit, or ``length`` is not positive.

    Notes
    -----
    Item ``i`` of epoch ``e`` draws, from a generator seeded with ``(seed, e, i)``, an image
    uniformly and then :func:`random_sample` of it. Results depend only on
    ``(seed, epoch, i)``, not on access order, so training resumes reproducibly;
    :meth:`set_epoch` (called by ``glandseg.train.CropDataset``) gives each epoch new crops.

    Examples
    --------
    >>> x = np.zeros((2, 64, 96, 1), np.float32)
    >>> aug = RandomAugmenter(x, np.zeros((2, 64, 96), np.uint8), AugmentConfig(mode="random", crop_size=(32, 32)))
    >>> len(aug), aug[3][0].shape
    (104, (32, 32, 1))
    """

    def __init__(self, x, mask, config=None, *, seed=0, length=None):
        config = AugmentConfig(mode="random") if config is None else config
        if not isinstance(config, AugmentConfig):
            raise TypeError(f"config must be a glandseg.config.AugmentConfig. Received: {type(config).__name__}")
        self.x, self.mask = _check_batch(x, mask)
        self.crop_size = config.crop_size
        self._crop_hw = _check_crop_size(config.crop_size)
        _check_fits(self.x.shape[1:3], self._crop_hw, "prepared images")
        self._allowed = _allowed(self.x.shape[1:3], self._crop_hw)
        if length is None:
            length = len(self.x) * len(PAPER_VARIANTS) * config.crops_per_variant
        if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
            raise ValueError(f"length must be a positive integer. Received: length={length!r}")
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch):
        """Use the random draws of ``epoch`` from now on."""
        self.epoch = int(epoch)

    def __len__(self):
        return self.length

    def __getitem__(self, i):
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise TypeError(f"index must be an integer. Received: {type(i).__name__}")
        if not -self.length <= i < self.length:
            raise IndexError(f"index {i} out of range for {self.length} crops")
        rng = np.random.default_rng([self.seed, self.epoch, int(i) % self.length])
        n = int(rng.integers(len(self.x)))
        return _random_sample(self.x[n], self.mask[n], self._crop_hw, rng, self._allowed)


def make_augmenter(x, mask, config=None, *, seed=0, variants=None, length=None):
    """The augmenter that ``config.mode`` names.

    Parameters
    ----------
    x : (N, H, W, C) array_like
    mask : (N, H, W) array_like
    config : AugmentConfig, optional
    seed : int, optional
    variants : optional
        Paper mode only, see :class:`PaperAugmenter`.
    length : int, optional
        Random mode only, see :class:`RandomAugmenter`.

    Returns
    -------
    PaperAugmenter or RandomAugmenter

    Raises
    ------
    ValueError
        If an option of the other mode is given.

    Examples
    --------
    >>> x = np.zeros((1, 64, 96, 1), np.float32)
    >>> type(make_augmenter(x, np.zeros((1, 64, 96), np.uint8), AugmentConfig(crop_size=(32, 32)))).__name__
    'PaperAugmenter'
    """
    config = AugmentConfig() if config is None else config
    if not isinstance(config, AugmentConfig):
        raise TypeError(f"config must be a glandseg.config.AugmentConfig. Received: {type(config).__name__}")
    if config.mode == "paper":
        if length is not None:
            raise ValueError(f"length applies to mode='random' only. Received: length={length!r} with mode='paper'")
        return PaperAugmenter(x, mask, config, seed=seed, variants=variants)
    if variants is not None:
        raise ValueError(f"variants applies to mode='paper' only. Received: variants={variants!r} with mode='random'")
    return RandomAugmenter(x, mask, config, seed=seed, length=length)
