"""Full-image inference: pad to a multiple of 32, predict in batches, crop back.

Post-processing into instances is the next stage (``glandseg.postprocess``); this module only
produces probability maps at the network input size.
"""

from __future__ import annotations

import numpy as np

import keras

__all__ = ["pad_to_multiple", "predict_proba"]


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
