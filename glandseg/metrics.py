"""GlaS challenge metrics: object F1, object Dice and object Hausdorff, per image and pooled.

These are the metrics of the MICCAI 2015 Gland Segmentation challenge [1]_, computed exactly as
its official MATLAB code (``F1score.m``, ``ObjectDice.m``, ``ObjectHausdorff.m``) computes them,
from label maps ``seg`` (the segmentation) and ``gt`` (the ground truth): ``0`` is background and
every object has its own positive integer. NumPy and SciPy only; no deep-learning backend.

Definitions
-----------
- **Objects are labels, used as given.** Nothing is relabelled: a label split into several
  connected pieces is one object, and its area is the number of its pixels.
- **Partner.** The partner of a segmented object is the ground-truth object it overlaps most;
  the partner of a ground-truth object is the segmented object it overlaps most. Ties go to the
  smallest label (MATLAB's ``mode`` and ``max`` return the first). Overlap with the background
  does not count; an object that overlaps no object of the other side has no partner.
- **F1.** A segmented object is a true positive when its overlap with its partner is *more
  than* 50% of the partner's area (``2 * overlap > area``; exactly half is not enough). Every
  other segmented object is a false positive, and ``FN = n_gt - TP`` (some copies of
  ``F1score.m`` count instead the ground-truth objects that are no segmented object's partner;
  ``n_gt - TP`` is the definition of [1]_). Two segmented objects cannot both cover more than
  half of one ground-truth object, so each ground-truth object is matched at most once.
  ``F1 = 2 TP / (2 TP + FP + FN)``.
- **Object Dice** ``= 1/2 [sum_i w_i D(S_i, G(S_i)) + sum_j v_j D(G_j, S(G_j))]`` with
  ``w_i = |S_i| / sum|S|``, ``v_j = |G_j| / sum|G|`` and ``D(A, B) = 2|A & B| / (|A| + |B|)``.
  An object without a partner scores Dice 0.
- **Object Hausdorff**: the same weighted form with the exact Euclidean Hausdorff distance
  between the two objects' pixel sets (pixel centres on the unit grid). An object without a
  partner is compared with the object of the other side nearest to it *in Hausdorff distance*
  (ties again to the smallest label), as ``ObjectHausdorff.m`` does.

Empty cases (decided here; they follow the MATLAB code wherever it defines a value)
--------------------------------------------------------------------------------------
============================ ======= ========== ==================
case                         F1      obj. Dice  obj. Hausdorff
============================ ======= ========== ==================
no seg and no gt object      1       1          0
no seg object, some gt       0       0          inf
some seg, no gt object       0       0          inf
both non-empty, TP = 0       0       (formula)  (formula)
============================ ======= ========== ==================

The last F1 row is where MATLAB divides 0 by 0 and returns NaN; here F1 is 0. Precision is
``TP / (TP + FP)`` and recall ``TP / (TP + FN)``; a 0/0 among them is 1 when the image (or
part) has no object on either side and 0 otherwise. The infinite Hausdorff distance is the
MATLAB value (an object with nothing to be compared with is infinitely far away); it carries
into a pooled or mean Hausdorff, so a segmentation that misses every gland of one image, or
finds glands in an image without any, has an infinite object Hausdorff for the whole part.

Pooled versus per image
-----------------------
``evaluate(..., aggregate="pooled")`` is the challenge's figure for a test part: F1, precision
and recall from TP, FP and FN summed over the part, and object Dice and object Hausdorff with
the weights ``w_i`` and ``v_j`` normalised over *all* objects of the part (each object is still
paired only with objects of its own image). Images with no object on either side add nothing
to the pooled figures. ``aggregate="image"`` is the mean of the per-image values.

Implementation
--------------
Each image's labels are mapped to indices ``1..n`` once; one ``bincount`` over label pairs gives
the whole ``(n_seg + 1, n_gt + 1)`` overlap matrix, and every area, partner, TP flag and Dice
value is read from it. A Hausdorff distance ``H(A, B) = max(h(A, B), h(B, A))`` with
``h(A, B) = max_{a in A} min_{b in B} |a - b|`` is computed exactly with a k-d tree over the
4-boundary pixels of B (the pixel of B nearest to a pixel outside B always has a 4-neighbour
outside B), queried only from the pixels of A outside B (tiny sets are compared pair by pair
instead). Large queries (4096 pixels or more) are cut down by branch
and bound over 8 x 8 tiles: one pixel per tile gives a lower bound of ``h``, each tile's centre
an upper bound for all its pixels, and only tiles that can hold the farthest pixel are searched
pixel by pixel. For an object with no partner, the candidates are visited in order of a lower
bound (``H(A, B) >= max |edge difference of the two bounding boxes|``) and the search stops
once no candidate can be nearer. Every distance is the square root of an integer computed
exactly, so each pair's distance equals that of a brute-force nearest-neighbour search bit for
bit (ties between candidates are therefore exact too), and only the order of the final weighted
sums differs from the MATLAB loops (differences of order 1e-16 relative).

References
----------
.. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
       challenge contest", Medical Image Analysis 35 (2017) 489-502. Official evaluation code:
       https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/evaluation/
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

__all__ = [
    "AGGREGATES",
    "METRIC_KEYS",
    "evaluate",
    "f1_counts",
    "object_dice",
    "object_f1",
    "object_hausdorff",
    "pooling_pieces",
    "POOLING_KEYS",
]

#: Ways ``evaluate`` combines the images of a test part.
AGGREGATES = ("pooled", "image")
#: The figures ``evaluate`` returns for a part, a grade and an image.
METRIC_KEYS = ("f1", "precision", "recall", "object_dice", "object_hausdorff", "tp", "fp", "fn")

# Labels up to this value are indexed with a lookup table (one bincount); larger ones use np.unique.
_LUT_MAX_LABEL = 1 << 16
# From this many points on, a directed distance by k-d tree first bounds square tiles of
# _TILE x _TILE pixels and searches only those that can hold the farthest point.
_PRUNE_MIN_POINTS = 4096
_TILE = 8
# Distances to an object with at most this many boundary pixels, or from at most this many
# points to one with at most this many, are found over all pairs rather than with a k-d tree.
_BRUTE_FORCE_MAX = 32


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _check_label_map(labels, what: str, name: str | None) -> np.ndarray:
    """Return ``labels`` as an (H, W) integer array, or raise ValueError saying what is wrong."""
    where = f"{name}: " if name else ""
    arr = np.asarray(labels)
    if arr.dtype == bool:
        raise ValueError(
            f"{where}{what} is a boolean mask; expected an (H, W) integer label map (0 = background, "
            "one positive integer per object). Label its connected components first, e.g. "
            "skimage.measure.label(mask)."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{where}{what} has dtype {arr.dtype}; expected an (H, W) integer label map (0 = background, "
            "one positive integer per object). Threshold and label a probability map first; cast an "
            "integer-valued array with .astype(np.int32)."
        )
    if arr.ndim != 2:
        hint = " (it looks like an RGB image)" if arr.ndim == 3 and arr.shape[-1] in (3, 4) else ""
        raise ValueError(
            f"{where}{what} has shape {arr.shape}{hint}; expected a single-channel (H, W) label map."
        )
    if arr.size and np.issubdtype(arr.dtype, np.signedinteger) and arr.min() < 0:
        raise ValueError(
            f"{where}{what} has negative labels (min {arr.min()}); expected 0 for background and "
            "positive integers for objects."
        )
    return arr


def _check_pair(seg, gt, name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    seg = _check_label_map(seg, "seg", name)
    gt = _check_label_map(gt, "gt", name)
    if seg.shape != gt.shape:
        where = f"{name}: " if name else ""
        raise ValueError(
            f"{where}seg has shape {seg.shape} but gt has shape {gt.shape}; both label maps must "
            "have the same (H, W)."
        )
    return seg, gt


# --------------------------------------------------------------------------------------------
# One image: overlap matrix, partners, per-object scores
# --------------------------------------------------------------------------------------------


def _compact(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map labels to indices: (H, W) int32 map with 0 = background and 1..n, and the n labels."""
    top = int(labels.max()) if labels.size else 0
    if top <= max(_LUT_MAX_LABEL, labels.size):
        counts = np.bincount(labels.ravel().astype(np.intp, copy=False), minlength=1)
        values = np.flatnonzero(counts[1:]) + 1
        lut = np.zeros(top + 1, dtype=np.int32)
        lut[values] = np.arange(1, values.size + 1, dtype=np.int32)
        return lut[labels], values
    values, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(labels.shape).astype(np.int32)
    if values[0] == 0:
        return inverse, values[1:]
    return inverse + 1, values


class _Objects:
    """The objects of one label map, with what the Hausdorff search needs built on demand."""

    def __init__(self, idx: np.ndarray, area: np.ndarray):
        self.idx = idx  # (H, W) int32: 0 = background, k + 1 = object k
        self.flat = idx.ravel()
        self.area = area  # (n,) int64
        self.n = area.size
        self._box = None
        self._pixels = None
        self._edge = None
        self._boundaries: dict[int, np.ndarray] = {}
        self._coords: dict[int, tuple] = {}
        self._trees: dict[int, cKDTree] = {}
        self._tiles: dict[int, tuple] = {}

    @property
    def box(self) -> np.ndarray:
        """(n, 4) int64: inclusive first and last row, first and last column of each object."""
        if self._box is None:
            boxes = ndi.find_objects(self.idx, max_label=self.n)
            self._box = np.array(
                [(r.start, r.stop - 1, c.start, c.stop - 1) for r, c in boxes], dtype=np.int64
            ).reshape(-1, 4)
        return self._box

    def pixels(self, k: int) -> np.ndarray:
        """Flat indices of the pixels of object k (all objects grouped by one counting sort)."""
        if self._pixels is None:
            fg = np.flatnonzero(self.flat)
            key = self.flat[fg].astype(np.uint8 if self.n < 256 else np.uint16 if self.n < 65536 else np.int32)
            self._pixels = fg[np.argsort(key, kind="stable")]
            self._start = np.concatenate([[0], np.cumsum(self.area)])
        return self._pixels[self._start[k] : self._start[k + 1]]

    def tree(self, k: int) -> cKDTree:
        """k-d tree over the 4-boundary of object k."""
        if k not in self._trees:
            self._trees[k] = cKDTree(self.boundary(k))
        return self._trees[k]

    def boundary(self, k: int) -> np.ndarray:
        """(m, 2) int64 row, column of the 4-boundary pixels of object k: its pixels with a
        4-neighbour (inside the image) that is not part of it."""
        if k not in self._boundaries:
            if self._edge is None:  # one pass over the whole map serves every object
                idx = self.idx
                edge = np.zeros(idx.shape, dtype=bool)
                np.not_equal(idx[1:], idx[:-1], out=edge[1:])
                edge[:-1] |= edge[1:]
                across = idx[:, 1:] != idx[:, :-1]
                edge[:, 1:] |= across
                edge[:, :-1] |= across
                self._edge = edge.ravel()
            rc, p = self.coords(k)
            self._boundaries[k] = rc[self._edge[p]]
        return self._boundaries[k]

    def coords(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Object k's pixels in raster order: (rc (m, 2) int64 row and column, flat (m,) index)."""
        if k not in self._coords:
            p = self.pixels(k)
            self._coords[k] = (np.stack(np.divmod(p, self.idx.shape[1]), axis=1), p)
        return self._coords[k]

    def tiles(self, k: int) -> tuple:
        """Object k's pixels sorted by square tile: (rc (m, 2) int64, flat (m,), starts (t + 1,),
        centres (t, 2) float64): tile q holds pixels ``starts[q]:starts[q + 1]``."""
        if k not in self._tiles:
            rc, p = self.coords(k)
            tile_id = rc[:, 0] // _TILE * (self.idx.shape[1] // _TILE + 1) + rc[:, 1] // _TILE
            order = np.argsort(tile_id.astype(np.uint16 if tile_id.max() < 65536 else np.int64), kind="stable")
            tile_id, rc, p = tile_id[order], rc[order], p[order]
            starts = np.flatnonzero(np.diff(tile_id, prepend=-1, append=-1))  # where a new tile begins
            centres = rc[starts[:-1]] // _TILE * _TILE + (_TILE - 1) / 2
            self._tiles[k] = (rc, p, starts, centres)
        return self._tiles[k]


def _box_lower_bound(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Lower bounds of H(A, B_k) from bounding boxes: max |edge difference| (exact integers)."""
    return np.abs(boxes - box[None, :]).max(axis=1)


def _distances(points: np.ndarray, b: _Objects, j: int) -> np.ndarray:
    """Distance from each (row, column) point outside object j of b to that object (float64)."""
    bnd = b.boundary(j)
    if len(bnd) <= _BRUTE_FORCE_MAX or len(points) * len(bnd) <= _BRUTE_FORCE_MAX**2:
        # a small set on either side: all pairs (exact squares of integers) beat a tree
        diff = points[:, None, :] - bnd[None, :, :]
        return np.sqrt((diff * diff).sum(axis=2).min(axis=1))
    return b.tree(j).query(points)[0]


def _directed(a: _Objects, i: int, b: _Objects, j: int, shared: int) -> float:
    """h(A, B): the largest distance from a pixel of object i of a to object j of b.

    ``shared`` is the number of pixels the two objects have in common (distance 0 there).
    """
    if shared == a.area[i]:
        return 0.0
    if a.area[i] - shared < _PRUNE_MIN_POINTS:
        rc, flat = a.coords(i)
        return float(_distances(rc if shared == 0 else rc[b.flat[flat] != j + 1], b, j).max())
    rc, flat, starts, centres = a.tiles(i)
    outside = None if shared == 0 else b.flat[flat] != j + 1  # None: all of A is outside B
    # Branch and bound over square tiles. The first pixel of each tile (outside B) gives a lower
    # bound of the answer; a tile's centre gives an upper bound for all its pixels (the distance
    # to B is 1-Lipschitz, and the distance to B's boundary bounds it from above). Only tiles
    # whose bound reaches the lower bound are searched pixel by pixel. Distances are square
    # roots of integers, so two different values differ by far more than the 1e-6 margin.
    reps = starts[:-1] if outside is None else starts[:-1][outside[starts[:-1]]]
    low = float(_distances(rc[reps], b, j).max()) if reps.size else 0.0
    high = _distances(centres, b, j) + (_TILE - 1) / math.sqrt(2) + 1e-6
    tiles = np.flatnonzero(high >= low)
    count = starts[tiles + 1] - starts[tiles]
    idx = np.arange(count.sum()) + np.repeat(starts[tiles] - np.cumsum(count) + count, count)
    if outside is not None:
        idx = idx[outside[idx]]
    return max(low, float(_distances(rc[idx], b, j).max())) if idx.size else low


def _hausdorff_pair(s: _Objects, i: int, g: _Objects, j: int, shared: int) -> float:
    """Exact Hausdorff distance between object i of s and object j of g (sharing ``shared`` pixels)."""
    return max(_directed(s, i, g, j, shared), _directed(g, j, s, i, shared))


@dataclass
class _ImageStats:
    """Per-object results of one image, from which every per-image and pooled figure follows."""

    seg_area: np.ndarray  # (n_seg,) int64
    gt_area: np.ndarray  # (n_gt,) int64
    tp: int
    fp: int
    fn: int
    seg_dice: np.ndarray  # (n_seg,) float64
    gt_dice: np.ndarray  # (n_gt,) float64
    seg_hausdorff: np.ndarray | None = None  # (n_seg,) float64
    gt_hausdorff: np.ndarray | None = None  # (n_gt,) float64


def _partners(inter: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Most-overlapping partner index along ``axis`` (first = smallest label on ties) and its overlap."""
    if inter.shape[axis] == 0:
        n = inter.shape[1 - axis]
        return np.zeros(n, dtype=np.intp), np.zeros(n, dtype=np.int64)
    partner = inter.argmax(axis=axis)
    best = np.take_along_axis(inter, np.expand_dims(partner, axis), axis=axis).squeeze(axis)
    return partner, best


def _image_stats(seg: np.ndarray, gt: np.ndarray, *, hausdorff: bool = True) -> _ImageStats:
    """All per-object quantities of one (validated) image pair."""
    s_idx, s_labels = _compact(seg)
    g_idx, g_labels = _compact(gt)
    ns, ng = s_labels.size, g_labels.size
    pair = s_idx.ravel().astype(np.intp) * (ng + 1) + g_idx.ravel()
    overlap = np.bincount(pair, minlength=(ns + 1) * (ng + 1)).reshape(ns + 1, ng + 1)
    seg_area = overlap[1:].sum(axis=1)
    gt_area = overlap[:, 1:].sum(axis=0)
    inter = overlap[1:, 1:]  # (ns, ng) pixels shared by seg object i and gt object j

    s_partner, s_best = _partners(inter, axis=1)
    g_partner, g_best = _partners(inter, axis=0)
    s_has, g_has = s_best > 0, g_best > 0

    # True positive: overlap with the partner is more than half of the partner's area (strict).
    tp = int(np.count_nonzero(s_has & (2 * s_best > gt_area[s_partner]))) if ng else 0
    stats = _ImageStats(
        seg_area=seg_area,
        gt_area=gt_area,
        tp=tp,
        fp=ns - tp,
        fn=ng - tp,
        seg_dice=np.where(s_has, 2.0 * s_best / (seg_area + (gt_area[s_partner] if ng else 0)), 0.0),
        gt_dice=np.where(g_has, 2.0 * g_best / (gt_area + (seg_area[g_partner] if ns else 0)), 0.0),
    )
    if hausdorff:
        stats.seg_hausdorff, stats.gt_hausdorff = _object_distances(
            _Objects(s_idx, seg_area), _Objects(g_idx, gt_area), inter,
            s_partner, s_has, g_partner, g_has,
        )
    return stats


def _object_distances(s: _Objects, g: _Objects, inter, s_partner, s_has, g_partner, g_has):
    """Hausdorff distance of every seg and gt object to its partner (or nearest object)."""
    cache: dict[tuple[int, int], float] = {}

    def dist(i: int, j: int) -> float:
        if (i, j) not in cache:
            cache[(i, j)] = _hausdorff_pair(s, i, g, j, int(inter[i, j]))
        return cache[(i, j)]

    def nearest(box, boxes, pair_dist) -> float:
        """Smallest distance over the candidates (ties: first), by exact branch and bound."""
        bound = _box_lower_bound(box, boxes)
        best, best_k = math.inf, -1
        for k in np.lexsort((np.arange(bound.size), bound)):  # by bound, then by label
            if bound[k] > best or (bound[k] == best and k > best_k):
                break  # no later candidate can be nearer, or as near with a smaller label
            d = pair_dist(int(k))
            if d < best or (d == best and k < best_k):
                best, best_k = d, k
        return best

    seg_h = np.full(s.n, math.inf)  # stays inf where the other side has no object
    gt_h = np.full(g.n, math.inf)
    if s.n == 0 or g.n == 0:
        return seg_h, gt_h
    for i in range(s.n):
        if s_has[i]:
            seg_h[i] = dist(i, int(s_partner[i]))
        else:
            seg_h[i] = nearest(s.box[i], g.box, lambda j, i=i: dist(i, j))
    for j in range(g.n):
        if g_has[j]:
            gt_h[j] = dist(int(g_partner[j]), j)
        else:
            gt_h[j] = nearest(g.box[j], s.box, lambda i, j=j: dist(i, j))
    return seg_h, gt_h


# --------------------------------------------------------------------------------------------
# From per-object results to figures
# --------------------------------------------------------------------------------------------


def _ratio(num: int, den: int, *, all_empty: bool) -> float:
    if den:
        return num / den
    return 1.0 if all_empty else 0.0


def _f1_figures(tp: int, fp: int, fn: int) -> dict:
    empty = tp + fp + fn == 0
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, all_empty=empty),
        "precision": _ratio(tp, tp + fp, all_empty=empty),
        "recall": _ratio(tp, tp + fn, all_empty=empty),
    }


def _weighted(seg_area, seg_value, gt_area, gt_value, *, both_empty: float) -> float:
    """1/2 [sum_i w_i x_i + sum_j v_j y_j] with weights normalised over each side's objects."""
    if seg_area.size == 0 and gt_area.size == 0:
        return both_empty
    total = 0.0
    for area, value in ((seg_area, seg_value), (gt_area, gt_value)):
        if area.size:  # an empty side adds 0, as in the MATLAB loops
            total += float(np.dot(area, value)) / float(area.sum())
    return total / 2.0


def _figures(stats: list[_ImageStats], aggregate: str) -> dict:
    """The METRIC_KEYS figures of a group of images."""
    tp = sum(s.tp for s in stats)
    fp = sum(s.fp for s in stats)
    fn = sum(s.fn for s in stats)
    if aggregate == "pooled":
        out = _f1_figures(tp, fp, fn)
        seg_area = np.concatenate([s.seg_area for s in stats])
        gt_area = np.concatenate([s.gt_area for s in stats])
        for key, seg_attr, gt_attr, both_empty in (
            ("object_dice", "seg_dice", "gt_dice", 1.0),
            ("object_hausdorff", "seg_hausdorff", "gt_hausdorff", 0.0),
        ):
            out[key] = _weighted(
                seg_area,
                np.concatenate([getattr(s, seg_attr) for s in stats]),
                gt_area,
                np.concatenate([getattr(s, gt_attr) for s in stats]),
                both_empty=both_empty,
            )
    else:
        rows = [_figures([s], "pooled") for s in stats]  # each image on its own
        out = {k: float(np.mean([r[k] for r in rows])) for k in METRIC_KEYS[:5]}
    out.update(tp=tp, fp=fp, fn=fn)
    return {k: out[k] for k in METRIC_KEYS}


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def f1_counts(seg, gt) -> tuple[int, int, int]:
    """Object-level true positives, false positives and false negatives of one image.

    Parameters
    ----------
    seg : (H, W) array_like of int
        Segmented objects: 0 is background, each object its own positive integer. Labels are
        used as given (a label in several pieces is one object).
    gt : (H, W) array_like of int
        Ground-truth objects, labelled the same way.

    Returns
    -------
    tp, fp, fn : int
        ``tp + fp`` is the number of segmented objects and ``tp + fn`` the number of
        ground-truth objects.

    Raises
    ------
    ValueError
        If ``seg`` or ``gt`` is not a 2-D integer array with non-negative labels (float, boolean
        and RGB arrays are refused), or if their shapes differ.

    Notes
    -----
    A segmented object ``S_i`` is a true positive when ``|S_i & G(S_i)| > |G(S_i)| / 2``, where
    ``G(S_i)`` is the ground-truth object it overlaps most (ties: smallest label). Every other
    segmented object is a false positive; ``fn = n_gt - tp``. See the module docstring for the
    empty cases.

    References
    ----------
    .. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
           challenge contest", Medical Image Analysis 35 (2017) 489-502.

    Examples
    --------
    >>> gt = np.zeros((5, 5), int); gt[:, :4] = 1
    >>> seg = np.zeros((5, 5), int); seg[:, :2] = 1; seg[:, 2:] = 2
    >>> f1_counts(seg, gt)   # label 2 covers 10 of 20 pixels: not more than half
    (0, 2, 1)
    """
    s = _image_stats(*_check_pair(seg, gt), hausdorff=False)
    return s.tp, s.fp, s.fn


def object_f1(seg, gt) -> float:
    """Object-level F1 score of one image (GlaS challenge).

    Parameters
    ----------
    seg : (H, W) array_like of int
        Segmented objects (0 = background, one positive integer per object, used as given).
    gt : (H, W) array_like of int
        Ground-truth objects, labelled the same way.

    Returns
    -------
    f1 : float
        In [0, 1]; 1 when neither map has an object.

    Raises
    ------
    ValueError
        If a map is not a 2-D non-negative integer label map, or the shapes differ.

    Notes
    -----
    ``F1 = 2 TP / (2 TP + FP + FN)`` with the counts of :func:`f1_counts`, which equals
    ``2 P R / (P + R)`` for ``P = TP / (TP + FP)`` and ``R = TP / (TP + FN)``; it is 0 when
    ``TP = 0`` (where the MATLAB code returns NaN).

    References
    ----------
    .. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
           challenge contest", Medical Image Analysis 35 (2017) 489-502.

    Examples
    --------
    >>> gt = np.zeros((5, 5), int); gt[:2, :2] = 1; gt[3:, 3:] = 2
    >>> seg = gt.copy(); seg[0, 4] = 7          # both glands found, plus one false positive
    >>> round(object_f1(seg, gt), 4)              # P = 2/3, R = 1
    0.8
    """
    tp, fp, fn = f1_counts(seg, gt)
    return _f1_figures(tp, fp, fn)["f1"]


def object_dice(seg, gt) -> float:
    """Object-level Dice index of one image (GlaS challenge).

    Parameters
    ----------
    seg : (H, W) array_like of int
        Segmented objects (0 = background, one positive integer per object, used as given).
    gt : (H, W) array_like of int
        Ground-truth objects, labelled the same way.

    Returns
    -------
    dice : float
        In [0, 1]; 1 when neither map has an object, 0 when only one of them has.
        Symmetric: ``object_dice(seg, gt) == object_dice(gt, seg)``.

    Raises
    ------
    ValueError
        If a map is not a 2-D non-negative integer label map, or the shapes differ.

    Notes
    -----
    ``Dice_obj = 1/2 [sum_i |S_i|/sum|S| D(S_i, G(S_i)) + sum_j |G_j|/sum|G| D(G_j, S(G_j))]``
    with ``D(A, B) = 2|A & B| / (|A| + |B|)``, ``G(S_i)`` the ground-truth object overlapping
    ``S_i`` most and ``S(G_j)`` the segmented object overlapping ``G_j`` most (ties: smallest
    label); ``D = 0`` for an object overlapping nothing.

    References
    ----------
    .. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
           challenge contest", Medical Image Analysis 35 (2017) 489-502.

    Examples
    --------
    >>> gt = np.zeros((5, 5), int); gt[:, :4] = 1
    >>> seg = np.zeros((5, 5), int); seg[:, :2] = 1; seg[:, 2:] = 2
    >>> round(object_dice(seg, gt), 4)   # 1/2 [(10 * 2/3 + 15 * 4/7) / 25 + 2/3]
    0.6381
    """
    s = _image_stats(*_check_pair(seg, gt), hausdorff=False)
    return _weighted(s.seg_area, s.seg_dice, s.gt_area, s.gt_dice, both_empty=1.0)


def object_hausdorff(seg, gt) -> float:
    """Object-level Hausdorff distance of one image in pixels (GlaS challenge).

    Parameters
    ----------
    seg : (H, W) array_like of int
        Segmented objects (0 = background, one positive integer per object, used as given).
    gt : (H, W) array_like of int
        Ground-truth objects, labelled the same way.

    Returns
    -------
    distance : float
        Non-negative, in pixels; 0 when neither map has an object and ``inf`` when only one of
        them has. Symmetric in ``seg`` and ``gt``.

    Raises
    ------
    ValueError
        If a map is not a 2-D non-negative integer label map, or the shapes differ.

    Notes
    -----
    ``H_obj = 1/2 [sum_i |S_i|/sum|S| H(S_i, G(S_i)) + sum_j |G_j|/sum|G| H(G_j, S(G_j))]`` with
    ``H(A, B) = max(max_{a in A} min_{b in B} |a - b|, max_{b in B} min_{a in A} |a - b|)``, the
    exact Euclidean Hausdorff distance between pixel sets. Partners are the most-overlapping
    objects; an object that overlaps nothing is paired with the object of the other side that
    is nearest in Hausdorff distance (ties: smallest label).

    References
    ----------
    .. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
           challenge contest", Medical Image Analysis 35 (2017) 489-502.

    Examples
    --------
    >>> gt = np.zeros((5, 5), int); gt[:, :4] = 1
    >>> seg = np.zeros((5, 5), int); seg[:, :2] = 1; seg[:, 2:] = 2
    >>> object_hausdorff(seg, gt)   # 1/2 [(10 * 2 + 15 * 2) / 25 + 2]
    2.0
    """
    s = _image_stats(*_check_pair(seg, gt), hausdorff=True)
    return _weighted(s.seg_area, s.seg_hausdorff, s.gt_area, s.gt_hausdorff, both_empty=0.0)


#: Per-image sums that pool into object Dice and Hausdorff over any set of images (see
#: :func:`pooling_pieces`); :func:`evaluate` puts them in every per-image row.
POOLING_KEYS = (
    "seg_area_px",
    "gt_area_px",
    "seg_dice_x_area",
    "gt_dice_x_area",
    "seg_hausdorff_x_area",
    "gt_hausdorff_x_area",
)


def pooling_pieces(seg, gt) -> dict:
    """The per-image sums from which pooled object Dice and Hausdorff follow.

    Parameters
    ----------
    seg : (H, W) array_like of int
        Segmented objects (0 = background, one positive integer per object).
    gt : (H, W) array_like of int
        Ground-truth objects, labelled the same way.

    Returns
    -------
    pieces : dict
        The :data:`POOLING_KEYS` (float) plus ``tp``, ``fp``, ``fn`` (int).

    Raises
    ------
    ValueError
        If a map is not a 2-D non-negative integer label map, or the shapes differ.

    Notes
    -----
    With ``a_i = |S_i|``, ``b_j = |G_j|`` and ``D``, ``H`` each object's Dice and Hausdorff
    with its partner (as in :func:`object_dice`), an image gives
    ``seg_area_px = sum a_i``, ``seg_dice_x_area = sum a_i D_i``, and so on; over a part,
    ``Dice_obj = 1/2 [sum seg_dice_x_area / sum seg_area_px + sum gt_dice_x_area / sum gt_area_px]``.
    The pooled figures of :func:`evaluate` follow from these sums to rounding, so a bootstrap
    over images (``glandseg.analysis``) can recompute them without the label maps.

    Examples
    --------
    >>> gt = np.zeros((5, 5), int); gt[:, :4] = 1
    >>> seg = np.zeros((5, 5), int); seg[:, :2] = 1; seg[:, 2:] = 2
    >>> p = pooling_pieces(seg, gt)
    >>> p["seg_area_px"], p["gt_area_px"], round(p["seg_dice_x_area"], 4), round(p["gt_dice_x_area"], 4)
    (25.0, 20.0, 15.2381, 13.3333)
    """
    return _pieces(_image_stats(*_check_pair(seg, gt)))


def _pieces(stats) -> dict:
    return {
        "tp": stats.tp,
        "fp": stats.fp,
        "fn": stats.fn,
        "seg_area_px": float(stats.seg_area.sum()),
        "gt_area_px": float(stats.gt_area.sum()),
        "seg_dice_x_area": float(np.dot(stats.seg_area, stats.seg_dice)),
        "gt_dice_x_area": float(np.dot(stats.gt_area, stats.gt_dice)),
        "seg_hausdorff_x_area": float(np.dot(stats.seg_area, stats.seg_hausdorff)) if stats.seg_area.size else 0.0,
        "gt_hausdorff_x_area": float(np.dot(stats.gt_area, stats.gt_hausdorff)) if stats.gt_area.size else 0.0,
    }


def evaluate(segs, gts, *, aggregate: str = "pooled", names=None, grades=None) -> dict:
    """GlaS metrics of a test part: object F1, object Dice and object Hausdorff.

    Parameters
    ----------
    segs : sequence of (H, W) array_like of int
        Segmentations, one label map per image (0 = background, one integer per object).
    gts : sequence of (H, W) array_like of int
        Ground truths in the same order; each with the shape of its segmentation (images of
        a part may differ in size).
    aggregate : {"pooled", "image"}, optional
        ``"pooled"`` (default, the challenge's figure for a test part): F1 from TP, FP and FN
        summed over all images; object Dice and Hausdorff with the area weights normalised over
        all objects of the part. ``"image"``: the mean of the per-image values.
    names : sequence of str, optional
        Image names, used in error messages; adds the per-image table ``"per_image"``.
    grades : sequence of str, optional
        One label per image (GlaS: ``"benign"``/``"malignant"``); adds ``"per_grade"``, the same
        figures for the images of each grade.

    Returns
    -------
    result : dict
        ``f1``, ``precision``, ``recall``, ``object_dice``, ``object_hausdorff`` (float) and
        ``tp``, ``fp``, ``fn`` (int, always summed), plus ``aggregate`` and ``n_images``.
        With ``names``: ``per_image``, a list of dicts (``name``, ``grade`` when given, the
        eight figures of that image and its :data:`POOLING_KEYS`). With ``grades``: ``per_grade``, a dict from grade (sorted)
        to a dict with ``n_images`` and the eight figures.

    Raises
    ------
    ValueError
        If ``aggregate`` is unknown, the sequences differ in length, or a map is not a 2-D
        non-negative integer label map of its partner's shape (the message names the image).

    Notes
    -----
    Pooled over the objects ``S_i`` and ``G_j`` of all images of the part,
    ``F1 = 2 sum TP / (2 sum TP + sum FP + sum FN)`` and
    ``Dice_obj = 1/2 [sum_i |S_i|/sum|S| D(S_i, G(S_i)) + sum_j |G_j|/sum|G| D(G_j, S(G_j))]``
    (Hausdorff alike), each object paired within its own image. Empty cases as in the module
    docstring; an image with no object on either side adds nothing to the pooled figures and
    counts as F1 = Dice = 1, Hausdorff = 0 in the per-image mean.

    References
    ----------
    .. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
           challenge contest", Medical Image Analysis 35 (2017) 489-502.

    Examples
    --------
    >>> gt1 = np.zeros((5, 5), int); gt1[:2, :2] = 1; gt1[3:, 3:] = 2
    >>> gt2 = np.zeros((5, 5), int); gt2[1:4, 1:4] = 1
    >>> seg2 = np.zeros((5, 5), int)             # the second gland is missed
    >>> r = evaluate([gt1, seg2], [gt1, gt2])
    >>> (r["tp"], r["fp"], r["fn"]), round(r["f1"], 4), round(r["object_dice"], 4)
    ((2, 0, 1), 0.8, 0.7353)
    >>> round(evaluate([gt1, seg2], [gt1, gt2], aggregate="image")["object_dice"], 4)
    0.5
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}. Received: aggregate={aggregate!r}")
    segs, gts = list(segs), list(gts)
    if not gts:
        raise ValueError("got no images; give at least one (seg, gt) pair.")
    if len(segs) != len(gts):
        raise ValueError(f"got {len(segs)} segmentations but {len(gts)} ground truths; give one of each per image.")
    for what, seq in (("names", names), ("grades", grades)):
        if seq is not None and len(seq) != len(gts):
            raise ValueError(f"{what} has {len(seq)} entries for {len(gts)} images; give one per image.")
    labels = [str(n) for n in names] if names is not None else [f"image {k}" for k in range(len(gts))]
    stats = [_image_stats(*_check_pair(s, g, name)) for s, g, name in zip(segs, gts, labels)]

    result = {"aggregate": aggregate, "n_images": len(stats), **_figures(stats, aggregate)}
    if names is not None:
        rows = []
        for k, st in enumerate(stats):
            row = {"name": labels[k]}
            if grades is not None:
                row["grade"] = grades[k]
            row.update(_figures([st], "pooled"))
            row.update(_pieces(st))
            rows.append(row)
        result["per_image"] = rows
    if grades is not None:
        result["per_grade"] = {
            grade: {
                "n_images": sum(1 for g in grades if g == grade),
                **_figures([st for st, g in zip(stats, grades) if g == grade], aggregate),
            }
            for grade in sorted(set(grades), key=str)
        }
    return result
