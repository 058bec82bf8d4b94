"""Illustrations of the method page (book/method.md), and the demo's figure.

Pre-processing (H channel, unsharp masking), the paper's 13 variants and their crops, the
LinkNet blocks, the composite losses, post-processing on a simulated probability map, and the
decisions the paper leaves open. :func:`pipeline_figure` draws the figure of ``glandseg demo``
(:mod:`glandseg.demo`). Every function takes arrays or package objects and returns a matplotlib
figure or a :class:`~glandseg.report.tables.Table`; nothing here reads files.
"""

from __future__ import annotations

import numpy as np

from glandseg.report.tables import Table

__all__ = [
    "pipeline_figure",
    "preprocessing_figure",
    "variants_figure",
    "crops_figure",
    "augmenter_figure",
    "model_table",
    "loss_curves",
    "simulated_probability",
    "postprocess_stages",
    "postprocess_figure",
    "OPEN_DECISIONS",
    "decisions_table",
]


def pipeline_figure(image, h_channel, sharpened, prob, instances, path=None):
    """Input, H channel, unsharp-masked H, probability and instances side by side."""
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    panels = [
        ("input (RGB)", image, None),
        ("hematoxylin", h_channel, "gray"),
        ("unsharp-masked H", sharpened, "gray"),
        ("probability", prob, "magma"),
        ("instances", label2rgb(instances, image=image, bg_label=0, alpha=0.45), None),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 2.6), constrained_layout=True)
    for ax, (title, img, cmap) in zip(axes, panels):
        # The H channel occupies the low end of its fixed [0, 1] scale (a property of the
        # stain, kept on purpose); stretch the display to its 99.5th percentile to show it.
        vmax = 1 if cmap == "magma" else (max(float(np.percentile(img, 99.5)), 1e-6) if cmap else None)
        ax.imshow(img, cmap=cmap, vmin=0 if cmap else None, vmax=vmax)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


_CROP_COLOURS = ("tab:orange", "tab:cyan", "tab:olive", "tab:pink")


def preprocessing_figure(rgb, config=None, *, zoom=None):
    """The pre-processing steps of one image: RGB, H channel, unsharp-masked H, with a zoom.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
        An H&E image.
    config : glandseg.config.PreprocessConfig, optional
        Size and unsharp parameters; the paper's by default.
    zoom : (y0, x0, height, width), optional
        Window of the resized image shown enlarged in the second row; default a window of a
        quarter of each side around the centre.

    Returns
    -------
    fig : matplotlib Figure
        Two rows of three panels: resized RGB, H channel and unsharp-masked H channel (from
        :func:`glandseg.preprocessing.to_input`, so exactly the network input), then the zoom.
        Both H panels share one grey scale, stretched to the 99.5th percentile of the H channel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from glandseg.config import PreprocessConfig
    from glandseg.preprocessing import resize, to_input

    config = PreprocessConfig() if config is None else config
    h_config = config.replace(input="hematoxylin")
    resized = resize(np.asarray(rgb), config.size)
    h = to_input(rgb, h_config.replace(unsharp=False))[..., 0]
    sharp = to_input(rgb, h_config.replace(unsharp=True))[..., 0]
    height, width = h.shape
    if zoom is None:
        zoom = (3 * height // 8, 3 * width // 8, height // 4, width // 4)
    y0, x0, zh, zw = zoom
    vmax = max(float(np.percentile(h, 99.5)), 1e-6)
    panels = [
        (f"RGB, resized to {width}x{height}", resized, {}),
        ("hematoxylin (H) channel", h, {"cmap": "gray", "vmin": 0, "vmax": vmax}),
        (f"H after unsharp masking (sigma {config.unsharp_radius_px:g} px, amount {config.unsharp_amount:g})",
         sharp, {"cmap": "gray", "vmin": 0, "vmax": vmax}),
    ]
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.2), constrained_layout=True)
    for (title, image, kwargs), top, bottom in zip(panels, axes[0], axes[1]):
        top.imshow(image, **kwargs)
        top.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), zw, zh, fill=False, ec="yellow", lw=1.2))
        top.set_title(title, fontsize=9)
        bottom.imshow(image[y0:y0 + zh, x0:x0 + zw], **kwargs)
        bottom.set_title("zoom on the yellow box", fontsize=9)
        top.set_axis_off()
        bottom.set_axis_off()
    return fig


def _display(image):
    """A variant or crop (float, 0-255 or 0-1, 1 or 3 channels) ready for ``imshow``."""
    a = np.asarray(image, dtype=np.float32)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.max() > 1.0:
        a = a / 255.0
    return np.clip(a, 0.0, 1.0)


def variants_figure(image, mask, crop_size=(416, 288), *, ncols=5):
    """The paper's 13 variants of one image, each with the frames of its four crops.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        The resized image (uint8, or float in [0, 1]).
    mask : (H, W) ndarray of int or bool
        Its gland mask (outlined in white).
    crop_size : (int, int), optional
        Crop (width, height).
    ncols : int, keyword-only
        Columns of the grid.

    Returns
    -------
    fig : matplotlib Figure
        One panel per :data:`glandseg.augment.PAPER_VARIANTS` entry, titled with its name; the
        rectangles are the windows that :func:`glandseg.augment.paper_crops` cuts
        (:func:`glandseg.augment.crop_positions`, in the variant's frame).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    from glandseg.augment import PAPER_VARIANTS, crop_positions, paper_variants

    frames = paper_variants(image, mask)
    cw, ch = crop_size
    nrows = -(-len(frames) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.9 * ncols, 2.6 * nrows), constrained_layout=True,
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, variant, (frame, frame_mask) in zip(axes.ravel(), PAPER_VARIANTS, frames):
        ax.imshow(_display(frame))
        if frame_mask.any():
            ax.contour(frame_mask, levels=[0.5], colors="white", linewidths=0.5)
        yx = crop_positions(frame.shape[:2], crop_size, 4, angle_deg=variant.angle_deg)
        for (y0, x0), colour in zip(yx, _CROP_COLOURS):
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), cw, ch, fill=False, ec=colour, lw=1.4))
        ax.set_title(variant.name, fontsize=9)
    return fig


def crops_figure(image, mask, variant="identity", crop_size=(416, 288)):
    """The four crops of one variant, as the network sees them, with the mask outlined.

    Parameters
    ----------
    image : (H, W, 3) or (H, W) ndarray
        The resized image.
    mask : (H, W) ndarray of int or bool
        Its gland mask.
    variant : str, int or Variant, optional
        Which of :data:`glandseg.augment.PAPER_VARIANTS`.
    crop_size : (int, int), optional
        Crop (width, height).

    Returns
    -------
    fig : matplotlib Figure
        Four panels from :func:`glandseg.augment.paper_crops`, framed in the colours of
        :func:`variants_figure`.
    """
    import matplotlib.pyplot as plt

    from glandseg.augment import paper_crops

    crops = paper_crops(image, mask, variant, crop_size=crop_size, n=4)
    fig, axes = plt.subplots(1, 4, figsize=(13, 13 / 4 * crop_size[1] / crop_size[0] + 0.5), constrained_layout=True)
    for j, (ax, (crop, crop_mask), colour) in enumerate(zip(axes, crops, _CROP_COLOURS), start=1):
        ax.imshow(_display(crop))
        if crop_mask.any():
            ax.contour(crop_mask, levels=[0.5], colors="white", linewidths=0.6)
        ax.set_title(f"crop {j} of {variant}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set(edgecolor=colour, linewidth=3)
    return fig


def augmenter_figure(augmenter, n=8, *, ncols=4, start=0):
    """Training items ``start .. start + n - 1`` of an augmenter, as the network gets them.

    Parameters
    ----------
    augmenter : glandseg.augment.PaperAugmenter or RandomAugmenter
        Any object whose items are ``(crop, mask)`` pairs
        (:func:`glandseg.augment.make_augmenter`).
    n : int, optional
        Items shown.
    ncols : int, keyword-only
        Columns of the grid.
    start : int, keyword-only
        First item.

    Returns
    -------
    fig : matplotlib Figure
        One panel per item (mask outlined in white), titled with its index.

    Raises
    ------
    ValueError
        If ``n`` is not positive or the items run past the augmenter's end.
    """
    import matplotlib.pyplot as plt

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer. Received: n={n!r}")
    if start < 0 or start + n > len(augmenter):
        raise ValueError(f"items {start}..{start + n - 1} do not exist: the augmenter has {len(augmenter)}")
    nrows = -(-n // ncols)
    first, _ = augmenter[start]
    h, w = first.shape[:2]
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 3.0 * nrows * h / w + 0.3), constrained_layout=True,
                             squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, i in zip(axes.ravel(), range(start, start + n)):
        crop, crop_mask = augmenter[i]
        ax.imshow(_display(crop), cmap="gray")
        if np.asarray(crop_mask).any():
            ax.contour(np.asarray(crop_mask) > 0, levels=[0.5], colors="white", linewidths=0.6)
        ax.set_title(f"item {i}", fontsize=9)
    return fig


_BLOCK_ROLES = {
    "stem": "7x7/2 conv + BN + ReLU, 3x3/2 max-pool",
    "enc1": "ResNet18 stage: 2 basic blocks",
    "enc2": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "enc3": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "enc4": "ResNet18 stage: 2 basic blocks, first with stride 2",
    "dec4": "decoder block (1x1, 3x3 transposed /2, 1x1) + skip add of enc4's input",
    "dec3": "decoder block + skip add of enc3's input",
    "dec2": "decoder block + skip add of enc2's input",
    "dec1": "decoder block (stride 1) + skip add of enc1's input",
    "head": "3x3 transposed /2, 3x3 conv, 2x2 transposed /2, sigmoid: final output",
    "coarse": "1x1 conv + sigmoid on a decoder output: coarse output (deep supervision)",
}


def model_table(rows):
    """Blocks of the LinkNet model with output shapes and parameter counts, and a total row.

    Parameters
    ----------
    rows : list of dict
        From :func:`glandseg.model.model_summary_table` (``block``, ``output_shape``,
        ``params``, ``layers``).

    Returns
    -------
    table : Table
        Columns block, what it is, output (H x W x C), layers, parameters (with thousands
        separators); the last row sums layers and parameters.

    Examples
    --------
    >>> rows = [{"block": "stem", "output_shape": (None, 8, 8, 64), "params": 9664, "layers": 4}]
    >>> model_table(rows).rows[-1]
    ['total', '', '', '4', '9,664']
    """
    out = []
    for r in rows:
        shape = " x ".join(str(s) for s in r["output_shape"][1:])
        out.append([r["block"], _BLOCK_ROLES.get(r["block"], ""), shape, str(r["layers"]), f"{r['params']:,}"])
    out.append(["total", "", "", str(sum(r["layers"] for r in rows)), f"{sum(r['params'] for r in rows):,}"])
    return Table(["block", "what it is", "output (H x W x C)", "layers", "parameters"], out)


def loss_curves(bce=0.3, accuracy=0.9, *, dice_terms=("exp", "log"), n=101):
    """L1, L2 and L3 as functions of the soft Dice at fixed BCE and accuracy.

    Parameters
    ----------
    bce, accuracy : float, optional
        The fixed BCE and soft accuracy.
    dice_terms : sequence of {"exp", "log"}, keyword-only
        One panel per Dice term (``exp(1 + Dice)``, the paper as we read it; ``log(1 + Dice)``).
    n : int, keyword-only
        Points on the Dice axis [0, 1].

    Returns
    -------
    fig : matplotlib Figure
        Lines labelled ``L1``, ``L2``, ``L3`` in each panel, values from
        :func:`glandseg.losses.composite_value`.
    """
    import matplotlib.pyplot as plt

    from glandseg.losses import composite_value

    dice = np.linspace(0.0, 1.0, n)
    fig, axes = plt.subplots(1, len(dice_terms), figsize=(5.2 * len(dice_terms), 3.4), constrained_layout=True,
                             squeeze=False)
    for ax, term in zip(axes[0], dice_terms):
        for name, style in (("L1", "-"), ("L2", "--"), ("L3", "-.")):
            ax.plot(dice, composite_value(bce, dice, accuracy, loss=name, dice_term=term), style, lw=1.8, label=name)
        formula = "exp(1 + Dice)" if term == "exp" else "log(1 + Dice)"
        ax.set_title(f"Dice term {formula}; BCE = {bce:g}, accuracy = {accuracy:g}", fontsize=9)
        ax.set_xlabel("soft Dice")
        ax.set_ylabel("loss value (lower is better)")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def simulated_probability(labels, *, seed=0, blur_px=3.0, lumen=0.6, noise=0.2, noise_px=6.0):
    """A made-up network probability map for a label map, to illustrate post-processing.

    Not a prediction: a smooth version of the ground truth with the faults the post-processing
    is there to repair (soft borders, low-probability lumens, speckle).

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Instance labels (0 = background).
    seed : int, keyword-only
        Seed of the noise.
    blur_px : float, keyword-only
        Gaussian sigma that softens the gland borders.
    lumen : float, keyword-only
        Fraction by which the probability drops in the centre of each gland (the part farther
        than 60% of the gland's largest distance to its border), which leaves holes.
    noise : float, keyword-only
        Amplitude of smooth Gaussian noise (standard deviation of the added field).
    noise_px : float, keyword-only
        Correlation length (Gaussian sigma) of the noise: blobs of about this radius.

    Returns
    -------
    prob : (H, W) ndarray of float32
        Values in [0, 1]; the same arguments give the same map.

    Notes
    -----
    ``p = clip(G_blur * (mask * (1 - lumen * centre)) + noise * n, 0, 1)``, with ``centre`` the
    indicator of the inner part of each gland and ``n`` a Gaussian field smoothed with sigma
    ``noise_px`` and scaled to unit standard deviation.

    Examples
    --------
    >>> labels = np.zeros((20, 20), int); labels[5:15, 5:15] = 1
    >>> p = simulated_probability(labels, noise=0, lumen=0, blur_px=0.01)
    >>> bool(np.allclose(p, labels > 0))
    True
    """
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be an (H, W) integer label map. Received: shape {labels.shape}, dtype {labels.dtype}")
    mask = labels > 0
    distance = ndi.distance_transform_edt(mask)
    if mask.any():
        peak = ndi.maximum(distance, labels, index=np.arange(labels.max() + 1))
        peak = np.asarray(peak)[labels]
        centre = mask & (distance > 0.6 * peak)
    else:
        centre = mask
    p = mask * (1.0 - lumen * centre)
    p = ndi.gaussian_filter(p.astype(np.float64), blur_px)
    if noise:
        field = ndi.gaussian_filter(np.random.default_rng(seed).standard_normal(mask.shape), noise_px)
        p = p + noise * field / max(field.std(), 1e-12)
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def postprocess_stages(prob, config=None):
    """Intermediate results of :func:`glandseg.postprocess.to_instances` (no resize).

    Parameters
    ----------
    prob : (H, W) ndarray of float
        Probability map in [0, 1].
    config : glandseg.config.PostprocessConfig, optional

    Returns
    -------
    stages : dict
        ``threshold`` (float), ``mask`` (bool, ``prob > threshold``), ``cleaned`` (bool, after
        :func:`glandseg.postprocess.clean_mask`) and ``instances`` (int32 labels, equal to
        ``to_instances(prob, config=config)``).
    """
    from skimage.measure import label

    from glandseg.config import PostprocessConfig
    from glandseg.postprocess import clean_mask, threshold, threshold_value

    config = PostprocessConfig() if config is None else config
    t = threshold_value(prob, config.threshold)
    mask = threshold(prob, config.threshold)
    cleaned = clean_mask(mask, config)
    instances = label(cleaned, connectivity=config.connectivity).astype(np.int32)
    return {"threshold": t, "mask": mask, "cleaned": cleaned, "instances": instances}


def postprocess_figure(prob, config=None, *, image=None):
    """Probability map, Otsu mask, cleaned mask and gland instances side by side.

    Parameters
    ----------
    prob : (H, W) ndarray of float
        Probability map in [0, 1].
    config : glandseg.config.PostprocessConfig, optional
    image : (H, W, 3) ndarray, optional
        Shown under the instances.

    Returns
    -------
    fig : matplotlib Figure
        Four panels. The third colours what the morphology changed: filled holes in blue,
        removed objects in red, kept pixels in white.
    """
    import matplotlib.pyplot as plt
    from skimage.color import label2rgb

    from glandseg.config import PostprocessConfig

    config = PostprocessConfig() if config is None else config
    s = postprocess_stages(prob, config)
    change = np.zeros(s["mask"].shape + (3,), np.float32)
    change[s["mask"] & s["cleaned"]] = 1.0
    change[s["cleaned"] & ~s["mask"]] = (0.2, 0.45, 1.0)
    change[s["mask"] & ~s["cleaned"]] = (1.0, 0.15, 0.15)
    n = int(s["instances"].max())
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), constrained_layout=True)
    shown = axes[0].imshow(prob, cmap="magma", vmin=0, vmax=1)
    fig.colorbar(shown, ax=axes[0], shrink=0.8, label="probability")
    axes[0].set_title("probability map", fontsize=9)
    axes[1].imshow(s["mask"], cmap="gray")
    method = "Otsu" if config.threshold == "otsu" else "fixed"
    axes[1].set_title(f"{method} threshold: prob > {s['threshold']:.3f}", fontsize=9)
    axes[2].imshow(change)
    axes[2].set_title(
        f"holes <= {config.hole_size_px} px filled (blue),\nobjects < {config.min_size_px} px removed (red)",
        fontsize=9,
    )
    background = None if image is None else image
    axes[3].imshow(label2rgb(s["instances"], image=background, bg_label=0, alpha=0.45 if image is not None else 1.0))
    axes[3].set_title(f"connected components: {n} glands", fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    return fig


#: Every choice the paper leaves open: (decision, what the paper says, what glandseg does, what
#: sets it). "Set by" is a config field (``section.field`` of ``ExperimentConfig``), or a module
#: constant / function argument written ``glandseg.module.NAME``; :func:`decisions_table` reads
#: the current values from them.
OPEN_DECISIONS = (
    ("Order of the pre-processing steps", "resize, H channel, unsharp masking (listed, order implied)",
     "resize the RGB image (bilinear), then colour deconvolution, then unsharp masking of the H channel; "
     "the unsharp sigma is in pixels of the resized image", "fixed in glandseg.preprocessing.to_input"),
    ("Scale of the H channel", "not stated",
     "H density divided by a fixed constant, the largest H any 8-bit pixel without a zero channel can "
     "give, clipped to [0, 1]: comparable across images, no per-image normalisation",
     "glandseg.preprocessing.H_SCALE"),
    ("Network input", "H channel (RGB for comparison)", "H channel; RGB is the ablation", "preprocess.input"),
    ("Unsharp masking", "with and without (ablation)", "off by default, on in the ablation", "preprocess.unsharp"),
    ("Unsharp sigma", "not stated", "a Gaussian of nucleus scale at 832x576, scaled with the image in smaller presets",
     "preprocess.unsharp_radius_px"),
    ("Unsharp amount", "not stated", "scikit-image's default", "preprocess.unsharp_amount"),
    ("The 13 variants", "rotations and flips, 13 per image",
     "the 8 exact symmetries of the pixel grid plus rotations by +-15, +-30 and 45 degrees (every "
     "orientation modulo 90 degrees on a 15-degree grid)", "glandseg.augment.PAPER_VARIANTS"),
    ("Positions of the 4 crops", "four 416x288 crops per variant, positions not stated",
     "the four extreme positions: the quadrants of an upright frame; for oblique rotations, the "
     "extreme windows that lie wholly inside the rotated image",
     "fixed: glandseg.augment.crop_positions(positions='corners')"),
    ("Crop size (preset choice)", "416x288", "416x288 (paper); smaller in the CPU presets", "augment.crop_size"),
    ("Augmentation mode", "the fixed set of 4420 crops", "the fixed set (paper); fresh random "
     "flips, rotations and crops every epoch in the CPU presets", "augment.mode"),
    ("Where the coarse output is taken", "from the decoder before full resolution",
     "1x1 convolution + sigmoid on the output of the last decoder block (1/4 of the input side)",
     "model.coarse_scale"),
    ("Coarse ground truth", "the ground truth downsampled to the coarse scale",
     "area average over each block (a soft target: the gland fraction)", "fixed: glandseg.losses.coarse_target(method='area') in glandseg.train"),
    ("Dice over a batch", "not stated", "one Dice over the whole batch tensor (sums pooled), "
     "defined for crops without glands", "fixed: glandseg.losses.get(per_sample=False)"),
    ("Dice term of L1-L3", "printed as e(1+Dice)", "exp(1 + Dice); log(1 + Dice) as an option",
     "train.dice_term"),
    ("Dice smoothing S", "a constant, value not stated", "1", "train.smooth"),
    ("Loss weights", "2 x internal + 1 x output", "as stated", "train.coarse_weight"),
    ("BCE clipping", "not stated", "probabilities clipped to [eps, 1 - eps] as in Keras", "glandseg.losses.EPSILON"),
    ("Batch-norm momentum", "not stated", "PyTorch's default, as in the reference LinkNet; Keras' 0.99 "
     "leaves stale statistics after short runs", "glandseg.model.BN_MOMENTUM"),
    ("Optimizer", "not stated", "Adam", "train.optimizer"),
    ("Learning rate", "not stated", "constant in the paper preset, cosine decay in the CPU presets",
     "train.learning_rate"),
    ("Learning-rate schedule", "not stated", "see learning rate", "train.lr_schedule"),
    ("Batch size", "not stated", "fits the 416x288 crops in memory", "train.batch_size"),
    ("Validation split", "not stated", "whole training images held out (drawn with the seed)", "train.val_images"),
    ("Which network predicts", "not stated", "the epoch with the lowest validation loss; the last epoch "
     "as an option", "train.keep"),
    ("Otsu on maps without two classes", "Otsu threshold",
     "the Otsu threshold is clipped into a range, so all-background maps give no gland and "
     "all-gland maps one region", "glandseg.postprocess.OTSU_RANGE"),
    ("Resize back to the image", "resize the probability map back", "bilinear, before thresholding",
     "fixed in glandseg.postprocess.to_instances"),
    ("Hole filling", "fill holes (size not stated)", "enclosed background regions up to a size",
     "postprocess.hole_size_px"),
    ("Noise removal", "remove noise (size not stated)", "objects under a size removed after hole filling",
     "postprocess.min_size_px"),
    ("Opening", "morphological operations (not listed)", "none by default; the workshop preset's was "
     "chosen on the validation images", "postprocess.opening_radius_px"),
    ("Connectivity of glands", "connected components", "4-connected", "postprocess.connectivity"),
    ("Input size (preset choice)", "832x576", "832x576 (paper); smaller in the CPU presets", "preprocess.size"),
    ("Epochs (preset choice)", "100", "100 (paper); a few in the CPU presets", "train.epochs"),
    ("Numeric precision", "not stated (Titan X)", "auto: bfloat16 where the hardware computes it natively, else float32", "train.precision"),
)


def _decision_value(setting, config):
    """Current value of a decision's setting, or "" when it is not a value (a fixed step)."""
    import importlib

    if setting.startswith("fixed"):
        return ""
    if setting.startswith("glandseg."):
        module, _, name = setting.rpartition(".")
        return getattr(importlib.import_module(module), name)
    section, _, name = setting.partition(".")
    return getattr(getattr(config, section), name)


def _show(value):
    if isinstance(value, tuple) and value and hasattr(value[0], "angle_deg"):  # PAPER_VARIANTS
        return f"{len(value)} variants"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "x".join(map(str, value)) if all(isinstance(v, int) for v in value) else str(value)
    return str(value)


def decisions_table(presets=("paper", "workshop")):
    """The decisions the paper leaves open, with what sets each and its value in some presets.

    Parameters
    ----------
    presets : sequence of str, optional
        Preset names (``glandseg.config.preset_config``), one value column each.

    Returns
    -------
    table : Table
        Columns decision, the paper, glandseg, set by, and one column per preset; values are read
        from the preset configs and module constants (see :data:`OPEN_DECISIONS`), so the table
        cannot drift from the code. Fixed steps have no value.
    """
    from glandseg.config import preset_config

    configs = [preset_config(name) for name in presets]
    rows = []
    for decision, paper, ours, setting in OPEN_DECISIONS:
        values = [_show(_decision_value(setting, config)) for config in configs]
        rows.append([decision, paper, ours, setting] + values)
    return Table(["decision", "the paper", "glandseg", "set by"] + [f"{p} preset" for p in presets], rows)
