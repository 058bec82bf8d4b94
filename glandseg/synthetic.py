"""Synthetic H&E-like gland images with instance labels.

The real GlaS data is research-use only and may not be shipped, so tests, the demo and the
``smoke`` preset run on images drawn here. They are not meant to fool a pathologist; they give
every stage of the pipeline something with the right structure to work on:

* glands are irregular ellipses (radius perturbed by a few low-order Fourier terms) with a pale
  lumen, a purple epithelium and a rim of dark, hematoxylin-rich nuclei near the basement
  membrane;
* the background is pink, eosin-rich stroma with fibrous texture and scattered stromal nuclei;
* some glands touch (their masks share a border but carry distinct labels), and some are cut
  by the image border, as in GlaS;
* the annotation is an ``int32`` instance map (0 = background, glands ``1..k`` with no gaps)
  that covers each whole gland, lumen included, as the GlaS annotations do.

Colours are mixed in optical-density space (Beer-Lambert), so colour deconvolution
(:func:`skimage.color.rgb2hed`) sees nuclei with a much higher hematoxylin density than stroma.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import ndimage as ndi

from glandseg.data import Sample

__all__ = [
    "make_dataset",
    "STROMA_RGB",
    "CYTOPLASM_RGB",
    "NUCLEUS_RGB",
    "LUMEN_RGB",
]

#: Reference colours (RGB, 0-255) of the four tissue classes, measured by eye on GlaS images
#: (stroma and nuclei medians of ``train_2`` are about (236, 161, 218) and (118, 42, 144)).
STROMA_RGB = (228, 150, 212)
CYTOPLASM_RGB = (200, 104, 186)
NUCLEUS_RGB = (100, 38, 140)
LUMEN_RGB = (246, 238, 246)

GRADES = ("benign", "malignant")
MIN_SIDE_PX = 32


def _optical_density(rgb):
    """Optical density ``-ln(I / 255)`` of an RGB triple (the Beer-Lambert absorbance)."""
    return -np.log(np.asarray(rgb, dtype=np.float64) / 255.0)


def _check_args(n, shape, seed):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be a positive integer (the number of images). Received: n={n!r}")
    try:
        dims = tuple(shape)
    except TypeError:
        dims = None
    if (
        dims is None
        or len(dims) != 2
        or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in dims)
        or min(dims) < MIN_SIDE_PX
    ):
        raise ValueError(
            f"shape must be two integers (H, W), each >= {MIN_SIDE_PX}, e.g. (288, 416). "
            f"Received: shape={shape!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer. Received: seed={seed!r}")
    return int(n), (int(dims[0]), int(dims[1])), int(seed)


def make_dataset(n, shape=(288, 416), seed=0, *, prefix="synthetic"):
    """Make ``n`` synthetic H&E-like images with gland instance labels.

    Parameters
    ----------
    n : int
        Number of images, at least 1.
    shape : (int, int), optional
        Image size as (H, W), each side at least 32 pixels. The default is one paper crop
        (416x288, width x height). Gland and nucleus sizes scale with ``min(H, W)``.
    seed : int, optional
        Non-negative seed. Image ``i`` is drawn from its own generator seeded with
        ``(seed, i)``, so the same seed gives byte-identical images, and the first ``m``
        images of ``make_dataset(n)`` equal ``make_dataset(m)`` for ``m <= n``.
    prefix : str, optional
        Names are ``f"{prefix}_{i}"``; give each split its own prefix so that files named
        after samples (predictions) never collide across splits.

    Returns
    -------
    samples : list of Sample
        ``Sample(name=f"{prefix}_{i}", image, labels, grade)`` for ``i = 0 .. n-1``, where
        ``image`` is an (H, W, 3) uint8 RGB array, ``labels`` an (H, W) int32 instance map
        (0 = background, glands numbered 1..k without gaps) and ``grade`` alternates
        ``"benign"`` (even ``i``) and ``"malignant"`` (odd ``i``).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer, ``shape`` is not two integers >= 32, or ``seed``
        is not a non-negative integer.

    Notes
    -----
    Each image holds 3 to 8 glands (fewer when they do not fit). A gland with centre ``c``,
    semi-axes ``a >= b`` and orientation ``t`` covers the pixels ``x`` with

        rho(x) = |x - c| / R(phi) < 1,   R(phi) = r_ellipse(phi - t) * (1 + sum_k a_k cos(k phi + p_k)),

    with ``k = 2, 3, 4``; where two glands overlap, a pixel goes to the gland with the smaller
    ``rho``, which gives touching glands a shared border. About half of the glands are placed
    against an existing one, the others anywhere (centres may lie a little outside the image,
    so glands are cut by the border). "Malignant" images have more irregular glands, smaller
    lumens and larger nuclei. Gland pieces smaller than ``0.005 * min(H, W)**2`` pixels
    (slivers at the border) are dropped, and each label is a single 4-connected region.

    Pixel colours are a mixture in optical density ``OD = -ln(I / 255)`` of the module
    constants ``STROMA_RGB``, ``CYTOPLASM_RGB``, ``NUCLEUS_RGB`` and ``LUMEN_RGB``, modulated
    by smoothed noise (fibrous stroma texture, stain intensity) and pixel noise.

    Examples
    --------
    >>> samples = make_dataset(2, shape=(64, 96), seed=0)
    >>> [s.name for s in samples], [s.grade for s in samples]
    (['synthetic_0', 'synthetic_1'], ['benign', 'malignant'])
    >>> samples[0].image.shape, samples[0].image.dtype, samples[0].labels.dtype
    ((64, 96, 3), dtype('uint8'), dtype('int32'))
    """
    n, shape, seed = _check_args(n, shape, seed)
    if not isinstance(prefix, str) or not prefix or "/" in prefix or "\\" in prefix:
        raise ValueError(f"prefix must be a non-empty string usable in a file name. Received: prefix={prefix!r}")
    samples = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        grade = GRADES[i % 2]
        labels, rho, lumen_frac, nuclei_params = _draw_glands(rng, shape, malignant=grade == "malignant")
        image = _render(rng, labels, rho, lumen_frac, nuclei_params)
        samples.append(Sample(name=f"{prefix}_{i}", image=image, labels=labels, grade=grade))
    return samples


# --------------------------------------------------------------------------------------------
# Gland geometry


def _gland_radius(phi, gland):
    """Boundary radius R(phi) of a gland at polar angle ``phi`` (radians, image axes)."""
    t = phi - gland["theta"]
    a, b = gland["a"], gland["b"]
    r = a * b / np.sqrt((b * np.cos(t)) ** 2 + (a * np.sin(t)) ** 2)
    k = np.arange(2, 2 + len(gland["amp"]))
    angle = k[:, None] * np.ravel(phi)[None, :] + gland["phase"][:, None]
    wobble = np.sum(gland["amp"][:, None] * np.cos(angle), axis=0)
    return r * (1.0 + wobble.reshape(np.shape(phi)))


def _new_gland(rng, side, malignant):
    r = side * rng.uniform(0.10, 0.16)
    amp_max = 0.10 if malignant else 0.06
    gland = {
        "a": r * rng.uniform(1.0, 1.35),
        "b": r * rng.uniform(0.65, 1.0),
        "theta": rng.uniform(0, np.pi),
        "amp": rng.uniform(0, amp_max, size=3),
        "phase": rng.uniform(0, 2 * np.pi, size=3),
    }
    gland["rmax"] = gland["a"] * (1.0 + gland["amp"].sum())
    return gland


def _fits(center, gland, placed, gap, skip=None):
    for j, other in enumerate(placed):
        if j == skip:
            continue
        if np.hypot(*(center - other["center"])) < gland["rmax"] + other["rmax"] + gap:
            return False
    return True


def _place_glands(rng, shape, malignant):
    """Choose gland shapes and centres: the first inside the image, then free or touching."""
    height, width = shape
    side = min(shape)
    gap = max(2.0, 0.02 * side)
    target = int(rng.integers(3, 9))
    placed = []
    first = _new_gland(rng, side, malignant)
    lo = np.minimum(first["rmax"], np.array(shape) / 2)
    first["center"] = rng.uniform(lo, np.array(shape) - lo)
    placed.append(first)
    for _ in range(target - 1):
        gland = _new_gland(rng, side, malignant)
        touch = rng.random() < 0.5
        for _attempt in range(25):
            if touch:
                j = int(rng.integers(len(placed)))
                other = placed[j]
                phi = rng.uniform(0, 2 * np.pi)
                direction = np.array([np.sin(phi), np.cos(phi)])
                # overlap the two outlines by ~15% of the new gland's radius along the line of
                # centres; the smaller-rho rule then splits the overlap into a shared border
                reach = _gland_radius(np.array([phi]), other)[0]
                back = _gland_radius(np.array([phi + np.pi]), gland)[0]
                center = other["center"] + direction * (reach + 0.85 * back)
                inside = np.all(center > -0.3 * gland["rmax"]) and np.all(
                    center < np.array(shape) + 0.3 * gland["rmax"]
                )
                if inside and _fits(center, gland, placed, gap, skip=j):
                    break
            else:
                margin = 0.35 * gland["rmax"]
                center = rng.uniform(-margin, np.array([height, width]) + margin)
                if _fits(center, gland, placed, gap):
                    break
        else:
            continue
        gland["center"] = center
        placed.append(gland)
    return placed


def _draw_glands(rng, shape, malignant):
    """Rasterise glands: instance labels, normalised radius rho and per-pixel lumen fraction."""
    height, width = shape
    side = min(shape)
    glands = _place_glands(rng, shape, malignant)
    rho = np.full(shape, np.inf)
    labels = np.zeros(shape, dtype=np.int32)
    for index, gland in enumerate(glands, start=1):
        cy, cx = gland["center"]
        reach = gland["rmax"] + 1
        y0, y1 = max(0, int(cy - reach)), min(height, int(np.ceil(cy + reach)) + 1)
        x0, x1 = max(0, int(cx - reach)), min(width, int(np.ceil(cx + reach)) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        dy, dx = yy - cy, xx - cx
        r = _gland_radius(np.arctan2(dy, dx), gland)
        g_rho = np.hypot(dy, dx) / r
        view = rho[y0:y1, x0:x1]
        closer = (g_rho < 1) & (g_rho < view)
        view[closer] = g_rho[closer]
        labels[y0:y1, x0:x1][closer] = index

    # one 4-connected region per label; drop slivers cut by the border or by a neighbour
    min_area = max(16, int(0.005 * side * side))
    keep = []
    for index, box in enumerate(ndi.find_objects(labels), start=1):
        if box is None:
            continue
        own = labels[box] == index
        parts, count = ndi.label(own)
        if count > 1:
            sizes = np.bincount(parts.ravel())[1:]
            own_main = parts == 1 + int(np.argmax(sizes))
            labels[box][own & ~own_main] = 0
            own = own_main
        if own.sum() < min_area:
            labels[box][own] = 0
        else:
            keep.append(index)
    lookup = np.zeros(len(glands) + 1, dtype=np.int32)
    lookup[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    labels = lookup[labels]
    rho[labels == 0] = np.inf

    lumen_range = (0.15, 0.35) if malignant else (0.35, 0.6)
    fractions = np.concatenate([[0.0], rng.uniform(*lumen_range, size=len(glands))])
    lumen_frac = fractions[np.concatenate([[0], keep]).astype(int)][labels]
    kept = [glands[i - 1] for i in keep]
    nuclei = {"glands": kept, "fractions": fractions[keep], "malignant": malignant}
    return labels, rho, lumen_frac, nuclei


# --------------------------------------------------------------------------------------------
# Rendering


def _smooth_noise(rng, shape, sigma):
    """Gaussian-smoothed white noise with zero mean and unit standard deviation, float32.

    Wide kernels are applied on a coarser grid (one sample per ``sigma / 2`` pixels) and
    interpolated back, which has the same look and costs far less.
    """
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (2,))
    step = np.maximum(1, np.floor(sigma / 2.0)).astype(int)
    coarse = tuple(-(-n // k) + 2 for n, k in zip(shape, step))
    field = rng.standard_normal(coarse, dtype=np.float32)
    field = ndi.gaussian_filter(field, sigma / step, mode="wrap")
    # separable linear interpolation back to full resolution (gathers only: no BLAS threads)
    for axis in (0, 1):
        if step[axis] == 1:
            field = field[: shape[0]] if axis == 0 else field[:, : shape[1]]
            continue
        left, frac = _linear_weights(shape[axis], coarse[axis], step[axis])
        frac = frac[:, None] if axis == 0 else frac
        field = np.take(field, left, axis) * (1 - frac) + np.take(field, left + 1, axis) * frac
    return (field - field.mean()) / (field.std() + 1e-6)


def _linear_weights(n_out, n_in, step):
    """Left neighbour index and weight of linear interpolation from a grid of spacing ``step``."""
    position = np.arange(n_out) / step
    left = np.minimum(np.floor(position).astype(int), n_in - 2)
    return left, (position - left).astype(np.float32)


def _nucleus_centres(rng, shape, params):
    """Centres (row, col) and radii of epithelial nuclei along each gland and stromal nuclei."""
    side = min(shape)
    malignant = params["malignant"]
    r_nuc = max(1.2, (0.016 if malignant else 0.012) * side)
    centres, radii, stromal = [], [], []
    for gland, frac in zip(params["glands"], params["fractions"]):
        # nuclei sit in the outer (basal) part of the epithelium, between lumen and border
        perimeter = 2 * np.pi * 0.5 * (gland["a"] + gland["b"])
        count = max(6, int(perimeter / (2.3 * r_nuc)))
        phi = np.linspace(0, 2 * np.pi, count, endpoint=False) + rng.uniform(0, 2 * np.pi)
        phi = phi + rng.normal(0, 0.25 * 2 * np.pi / count, count)
        depth = 1.0 - (1.0 - frac) * rng.uniform(0.2, 0.45 if not malignant else 0.7, count)
        radius = _gland_radius(phi, gland) * depth
        centres.append(gland["center"] + radius[:, None] * np.stack([np.sin(phi), np.cos(phi)], 1))
        radii.append(r_nuc * rng.uniform(0.8, 1.25, count))
        stromal.append(np.zeros(count, dtype=bool))
    area_scale = shape[0] * shape[1] / (288 * 416)
    n_stroma = int(rng.poisson(70 * area_scale))
    centres.append(rng.uniform((0, 0), shape, size=(n_stroma, 2)))
    radii.append(0.8 * r_nuc * rng.uniform(0.7, 1.1, n_stroma))
    stromal.append(np.ones(n_stroma, dtype=bool))
    return np.concatenate(centres), np.concatenate(radii), np.concatenate(stromal)


def _nuclei_density(rng, labels, params):
    """Soft nuclear density in [0, 1]: disks with a one-pixel soft edge."""
    shape = labels.shape
    centres, radii, stromal = _nucleus_centres(rng, shape, params)
    rows, cols = np.round(centres).astype(int).T
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    rows, cols, radii, stromal = rows[ok], cols[ok], radii[ok], stromal[ok]
    # stromal nuclei only in stroma; epithelial ones were placed inside their own gland
    ok = ~stromal | (labels[rows, cols] == 0)
    rows, cols, radii = rows[ok], cols[ok], radii[ok]
    seeds = np.ones(shape, dtype=bool)
    radius_at = np.zeros(shape)
    seeds[rows, cols] = False
    radius_at[rows, cols] = radii
    if not np.any(~seeds):
        return np.zeros(shape)
    dist, (iy, ix) = ndi.distance_transform_edt(seeds, return_indices=True)
    return np.clip(radius_at[iy, ix] - dist + 0.5, 0.0, 1.0)


def _render(rng, labels, rho, lumen_frac, params):
    shape = labels.shape
    side = min(shape)
    gland = labels > 0

    # tissue class weights, softened over ~1 px so that edges are not aliased
    lumen_wobble = 1.0 + 0.15 * _smooth_noise(rng, shape, 0.03 * side)
    lumen = gland & (rho < lumen_frac * lumen_wobble)
    w_lumen = ndi.gaussian_filter(lumen.astype(np.float32), 0.8)
    w_epi = ndi.gaussian_filter((gland & ~lumen).astype(np.float32), 0.8)
    w_stroma = np.clip(1.0 - w_lumen - w_epi, 0.0, 1.0)

    # textures: fibrous stroma (two orientations of anisotropic noise mixed by a smooth field),
    # pale gaps of loose tissue, mottled cytoplasm and lumen contents
    long, short = 0.015 * side + 1.0, 0.7
    mix = 0.5 + 0.5 * np.tanh(_smooth_noise(rng, shape, 0.08 * side))
    across = _smooth_noise(rng, shape, (short, long))
    fibres = mix * across + (1 - mix) * _smooth_noise(rng, shape, (long, short))
    gaps = np.clip(_smooth_noise(rng, shape, 0.04 * side) - 0.8, 0.0, None)
    stroma_scale = np.clip(0.9 + 0.15 * fibres - 0.3 * gaps, 0.25, 1.5)
    cyto_scale = np.clip(1.0 + 0.15 * _smooth_noise(rng, shape, 1.5), 0.5, 1.5)
    lumen_scale = np.clip(0.6 + 0.4 * _smooth_noise(rng, shape, 2.0), 0.0, 1.5)
    nuclei = _nuclei_density(rng, labels, params).astype(np.float32)
    chromatin = 1.0 + 0.15 * _smooth_noise(rng, shape, 0.7)
    stain = np.float32(rng.uniform(0.9, 1.1)) * (1.0 + 0.04 * rng.standard_normal(shape, dtype=np.float32))

    base = [w_stroma * stroma_scale, w_epi * cyto_scale, w_lumen * lumen_scale]
    colours = np.stack([_optical_density(c) for c in (STROMA_RGB, CYTOPLASM_RGB, LUMEN_RGB)])
    nucleus = _optical_density(NUCLEUS_RGB)
    rgb = np.empty(shape + (3,), dtype=np.uint8)
    for channel in range(3):
        od = sum(np.float32(colours[k, channel]) * base[k] for k in range(3))
        od = (1.0 - nuclei) * od + nuclei * chromatin * np.float32(nucleus[channel])
        value = 255.0 * np.exp(-od * stain) + rng.normal(0.0, 2.0, shape).astype(np.float32)
        rgb[..., channel] = np.clip(np.rint(value), 0, 255)
    return rgb
