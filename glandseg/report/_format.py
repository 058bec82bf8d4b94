"""Formatting shared by the figure modules of :mod:`glandseg.report` (private).

Metric display names and number formatting, used by the tables and figures of book/results.md
(:mod:`glandseg.report.results_figures`) and book/discussion.md
(:mod:`glandseg.report.discussion_figures`).
"""

from __future__ import annotations

import numpy as np


def _fmt(value, digits=3):
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if value is None:
        return "-"
    return f"{float(value):.{digits}f}"


_METRIC_NAMES = {"f1": "F1", "object_dice": "object Dice", "object_hausdorff": "object Hausdorff"}
