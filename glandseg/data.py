"""GlaS data: loading, validation, checksums and download."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One image with its annotation.

    Attributes
    ----------
    name : str
        File stem, e.g. ``"train_1"``.
    image : (H, W, 3) uint8 ndarray
        RGB image.
    labels : (H, W) int32 ndarray
        Instance labels: 0 is background, each gland has its own positive integer.
    grade : str or None
        ``"benign"`` or ``"malignant"`` (GlaS grade from Grade.csv); None for synthetic data.
    """

    name: str
    image: np.ndarray
    labels: np.ndarray
    grade: str | None = None
