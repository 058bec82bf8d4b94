"""A literal restatement of the GlaS challenge's MATLAB evaluation code, for tests only.

``F1score``, ``ObjectDice``, ``ObjectHausdorff`` and ``Hausdorff`` follow the official
``F1score.m``, ``ObjectDice.m`` and ``ObjectHausdorff.m`` (K. Sirinukunwattana, Warwick, 2015)
line by line: one full-image mask per object, partners by ``mode`` (the most frequent label,
smallest on ties), ``knnsearch`` (here a k-d tree over *all* pixels of the other mask) for the
Hausdorff distance, and a loop over every object of the other side for an object that overlaps
nothing. It is slow on purpose: it is the yardstick for ``glandseg.metrics``, not a second
implementation to use. Where MATLAB leaves a value undefined (F1 when TP = 0 gives 0/0 = NaN),
the line carries a ``# decided:`` comment with glandseg's choice.

``pooled_reference`` states the challenge's pooled figure for a test part with the same loops:
counts summed over the images, and the Dice/Hausdorff weights divided by the part's total areas.

The second half holds what the tests and ``benchmarks/metrics_speed.py`` share: the GlaS
annotation reader and the perturbation families that turn a ground truth into a test
segmentation.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

# ----------------------------------------------------------------------------------------------
# The MATLAB code, restated
# ----------------------------------------------------------------------------------------------


def _unique_nonzero(X):
    listLabel = np.unique(X)  # unique(X): sorted
    return listLabel[listLabel != 0]  # listLabel(listLabel == 0) = []


def _mode(values):
    """MATLAB mode: the most frequent value; the smallest one on ties."""
    u, N = np.unique(values, return_counts=True)  # listOfIntersect = unique(...); N = histc(...)
    return u[np.argmax(N)]  # [~, maxId] = max(N): the first maximum


def F1score(S, G):
    """F1score.m. Returns (score, precision, recall, TP, FP, FN)."""
    S = np.asarray(S, dtype=np.float64)  # S = single(S): labels stay exact either way
    G = np.asarray(G, dtype=np.float64)
    listS = _unique_nonzero(S)
    numS = len(listS)
    listG = _unique_nonzero(G)
    numG = len(listG)
    if numS == 0 and numG == 0:  # no segmented object & no ground truth objects
        return 1.0, 1.0, 1.0, 0, 0, 0
    elif numS == 0 or numG == 0:
        return 0.0, 0.0, 0.0, 0, numS, numG  # decided: precision and recall 0 here

    tempMat = np.zeros((numS, 3))  # [label S, label of corresponding G, TP flag]
    tempMat[:, 0] = listS
    for iSegmentedObj in range(numS):
        intersectGTObjs = G[S == tempMat[iSegmentedObj, 0]]
        intersectGTObjs = intersectGTObjs[intersectGTObjs != 0]
        if intersectGTObjs.size:
            tempMat[iSegmentedObj, 1] = _mode(intersectGTObjs)

    for iSegmentedObj in range(numS):
        if tempMat[iSegmentedObj, 1] != 0:  # avoid false positives that only meet background
            SegObj = S == tempMat[iSegmentedObj, 0]
            GTObj = G == tempMat[iSegmentedObj, 1]
            overlap = SegObj & GTObj
            areaOverlap = overlap.sum()
            areaGTObj = GTObj.sum()
            if areaOverlap / areaGTObj > 0.5:
                tempMat[iSegmentedObj, 2] = 1  # flag for true positive

    TP = int((tempMat[:, 2] == 1).sum())
    FP = int((tempMat[:, 2] == 0).sum())
    FN = numG - TP
    precision = TP / (TP + FP)
    recall = TP / (TP + FN)
    if precision + recall == 0:
        score = 0.0  # decided: MATLAB returns 0/0 = NaN
    else:
        score = (2 * precision * recall) / (precision + recall)
    return score, precision, recall, TP, FP, FN


def _Dice(A, B):
    temp = A & B
    return 2 * temp.sum() / (A.sum() + B.sum())


def _object_dice_terms(S, G, totalAreaS, totalAreaG):
    """The two loops of ObjectDice.m with the given total areas (image or whole part)."""
    listLabelS = _unique_nonzero(S)
    listLabelG = _unique_nonzero(G)
    temp1 = 0.0  # omega_i * Dice(G_i, S_i)
    for iLabelS in range(len(listLabelS)):
        Si = S == listLabelS[iLabelS]
        intersectlist = G[Si]
        intersectlist = intersectlist[intersectlist != 0]
        if intersectlist.size:
            indexGi = _mode(intersectlist)
            Gi = G == indexGi
        else:
            Gi = np.zeros(G.shape, dtype=bool)
        omegai = Si.sum() / totalAreaS
        temp1 = temp1 + omegai * _Dice(Gi, Si)

    temp2 = 0.0  # tilde_omega_i * Dice(tilde_G_i, tilde_S_i)
    for iLabelG in range(len(listLabelG)):
        tildeGi = G == listLabelG[iLabelG]
        intersectlist = S[tildeGi]
        intersectlist = intersectlist[intersectlist != 0]
        if intersectlist.size:
            indextildeSi = _mode(intersectlist)
            tildeSi = S == indextildeSi
        else:
            tildeSi = np.zeros(S.shape, dtype=bool)
        tildeOmegai = tildeGi.sum() / totalAreaG
        temp2 = temp2 + tildeOmegai * _Dice(tildeGi, tildeSi)
    return temp1, temp2


def ObjectDice(S, G):
    """ObjectDice.m."""
    S = np.asarray(S, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    numS = len(_unique_nonzero(S))
    numG = len(_unique_nonzero(G))
    if numS == 0 and numG == 0:  # no segmented object & no ground truth objects
        return 1.0
    elif numS == 0 or numG == 0:
        return 0.0
    temp1, temp2 = _object_dice_terms(S, G, (S > 0).sum(), (G > 0).sum())
    return (temp1 + temp2) / 2


def Hausdorff(S, G):
    """Hausdorff (in ObjectHausdorff.m): between the masks S > 0 and G > 0, by knnsearch."""
    S = np.asarray(S, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    numS = len(_unique_nonzero(S))
    numG = len(_unique_nonzero(G))
    if numS == 0 and numG == 0:
        return 0.0
    elif numS == 0 or numG == 0:
        return np.inf
    x = np.argwhere(G > 0).astype(np.float64)  # coordinates(maskG, :)
    y = np.argwhere(S > 0).astype(np.float64)
    dist, _ = cKDTree(y).query(x)  # [~, dist] = knnsearch(y, x): sup_{x in G} inf_{y in S}
    dist1 = dist.max()
    dist, _ = cKDTree(x).query(y)  # sup_{y in S} inf_{x in G}
    dist2 = dist.max()
    return float(max(dist1, dist2))


def _object_hausdorff_terms(S, G, totalAreaS, totalAreaG):
    """The two loops of ObjectHausdorff.m with the given total areas (image or whole part)."""
    listLabelS = _unique_nonzero(S)
    listLabelG = _unique_nonzero(G)
    temp1 = 0.0  # omega_i * H(G_i, S_i)
    for iLabelS in range(len(listLabelS)):
        Si = S == listLabelS[iLabelS]
        intersectlist = G[Si]
        intersectlist = intersectlist[intersectlist != 0]
        if intersectlist.size:
            indexGi = _mode(intersectlist)
            Gi = G == indexGi
        else:
            tempDist = np.zeros(len(listLabelG))
            for iLabelG in range(len(listLabelG)):
                Gi = G == listLabelG[iLabelG]
                tempDist[iLabelG] = Hausdorff(Gi, Si)
            if len(listLabelG):
                minIdx = np.argmin(tempDist)  # [~, minIdx] = min(tempDist): the first minimum
                Gi = G == listLabelG[minIdx]
            else:
                Gi = np.zeros(G.shape, dtype=bool)  # min([]) is empty: Hausdorff(empty, Si) = Inf
        omegai = Si.sum() / totalAreaS
        temp1 = temp1 + omegai * Hausdorff(Gi, Si)

    temp2 = 0.0  # tilde_omega_i * H(tilde_G_i, tilde_S_i)
    for iLabelG in range(len(listLabelG)):
        tildeGi = G == listLabelG[iLabelG]
        intersectlist = S[tildeGi]
        intersectlist = intersectlist[intersectlist != 0]
        if intersectlist.size:
            indextildeSi = _mode(intersectlist)
            tildeSi = S == indextildeSi
        else:
            tempDist = np.zeros(len(listLabelS))
            for iLabelS in range(len(listLabelS)):
                tildeSi = S == listLabelS[iLabelS]
                tempDist[iLabelS] = Hausdorff(tildeGi, tildeSi)
            if len(listLabelS):
                minIdx = np.argmin(tempDist)
                tildeSi = S == listLabelS[minIdx]
            else:
                tildeSi = np.zeros(S.shape, dtype=bool)
        tildeOmegai = tildeGi.sum() / totalAreaG
        temp2 = temp2 + tildeOmegai * Hausdorff(tildeGi, tildeSi)
    return temp1, temp2


def ObjectHausdorff(S, G):
    """ObjectHausdorff.m (no early return: both empty gives 0, one side empty gives Inf)."""
    S = np.asarray(S, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    temp1, temp2 = _object_hausdorff_terms(S, G, (S > 0).sum(), (G > 0).sum())
    return (temp1 + temp2) / 2


def pooled_reference(Ss, Gs):
    """The pooled figures of a test part by the same loops: dict like glandseg's evaluate."""
    Ss = [np.asarray(S, dtype=np.float64) for S in Ss]
    Gs = [np.asarray(G, dtype=np.float64) for G in Gs]
    TP = FP = FN = 0
    for S, G in zip(Ss, Gs):
        _, _, _, tp, fp, fn = F1score(S, G)
        TP, FP, FN = TP + tp, FP + fp, FN + fn
    numS, numG = TP + FP, TP + FN
    if numS == 0 and numG == 0:
        f1, precision, recall = 1.0, 1.0, 1.0
    else:
        precision = TP / (TP + FP) if TP + FP else 0.0
        recall = TP / (TP + FN) if TP + FN else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    totalAreaS = sum(int((S > 0).sum()) for S in Ss)
    totalAreaG = sum(int((G > 0).sum()) for G in Gs)
    if numS == 0 and numG == 0:
        dice, hausdorff = 1.0, 0.0
    else:
        d1 = d2 = h1 = h2 = 0.0
        for S, G in zip(Ss, Gs):
            t1, t2 = _object_dice_terms(S, G, totalAreaS, totalAreaG)
            d1, d2 = d1 + t1, d2 + t2
            t1, t2 = _object_hausdorff_terms(S, G, totalAreaS, totalAreaG)
            h1, h2 = h1 + t1, h2 + t2
        dice, hausdorff = (d1 + d2) / 2, (h1 + h2) / 2
    return {
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "object_dice": dice,
        "object_hausdorff": hausdorff,
        "tp": TP,
        "fp": FP,
        "fn": FN,
    }


# ----------------------------------------------------------------------------------------------
# Shared with benchmarks/metrics_speed.py: GlaS annotations and perturbation families
# ----------------------------------------------------------------------------------------------

SPLITS = ("testA", "testB")


def load_annotations(root, split):
    """(names, label maps, grades) of a GlaS test part, read straight from ``<name>_anno.png``.

    The metrics tests and benchmark need only the annotations, so they skip the RGB images and
    checksums that ``glandseg.data.load_split`` reads and verifies.
    """
    from PIL import Image

    root = Path(root)
    with open(root / "Grade.csv", newline="") as fh:
        rows = list(csv.reader(fh.read().replace("\r\n", "\n").replace("\r", "\n").splitlines()))
    grade = {r[0].strip(): r[2].strip() for r in rows[1:] if r}
    names = sorted((n for n in grade if n.startswith(split + "_")), key=lambda n: int(n.split("_")[1]))
    gts = []
    for name in names:
        with Image.open(root / f"{name}_anno.png") as im:
            gts.append(np.asarray(im).astype(np.int32))
    return names, gts, [grade[n] for n in names]


def _disk(radius):
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return yy * yy + xx * xx <= radius * radius


def _eroded(gt, rng):
    """Each object eroded by a disk of radius 4 (a pixel stays if its whole disk has its label)."""
    fp = _disk(4)
    keep = (ndi.grey_erosion(gt, footprint=fp) == gt) & (ndi.grey_dilation(gt, footprint=fp) == gt)
    return np.where(keep, gt, 0)


def _dilated_merged(gt, rng):
    """Foreground dilated by a disk of radius 6, then relabelled: close glands merge."""
    return ndi.label(ndi.binary_dilation(gt > 0, structure=_disk(6)))[0].astype(np.int32)


def _dropped(gt, rng):
    """About a third of the objects removed (at least one when there are two or more)."""
    labels = np.unique(gt[gt > 0])
    n_drop = max(1 if labels.size > 1 else 0, labels.size // 3)
    drop = rng.choice(labels, size=n_drop, replace=False)
    return np.where(np.isin(gt, drop), 0, gt)


def _split(gt, rng):
    """Every object split in two at a random column between its 25th and 75th percentile."""
    out = gt.copy()
    nxt = int(gt.max()) + 1
    for label in np.unique(gt[gt > 0]):
        rows, cols = np.nonzero(gt == label)
        cut = np.percentile(cols, rng.uniform(25, 75))
        part = cols > cut
        out[rows[part], cols[part]] = nxt
        nxt += 1
    return out


def _shifted(gt, rng):
    """The whole map moved by (9, -6) pixels, zero fill."""
    out = np.zeros_like(gt)
    out[9:, : gt.shape[1] - 6] = gt[:-9, 6:]
    return out


def _false_blobs(gt, rng):
    """Six random disks (radius 3-15) with new labels painted over the map."""
    out = gt.copy()
    nxt = int(gt.max()) + 1
    h, w = gt.shape
    yy, xx = np.mgrid[:h, :w]
    for k in range(6):
        r = int(rng.integers(3, 16))
        cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
        out[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = nxt + k
    return out


def _relabelled(gt, rng):
    """Labels replaced by distinct random values up to 65535 (uint16), order not kept."""
    labels = np.unique(gt[gt > 0])
    new = rng.choice(np.arange(1, 65536), size=labels.size, replace=False)
    lut = np.zeros(int(gt.max()) + 1, dtype=np.uint16)
    lut[labels] = new
    return lut[gt]


def _noisy(gt, rng):
    """2% of pixels set to 0 or to a random existing label: objects get scattered pieces."""
    out = gt.copy()
    labels = np.concatenate([[0], np.unique(gt[gt > 0])])
    hit = rng.random(gt.shape) < 0.02
    out[hit] = rng.choice(labels, size=int(hit.sum()))
    return out


PERTURBATIONS = {
    "eroded": _eroded,
    "dilated_merged": _dilated_merged,
    "dropped": _dropped,
    "split": _split,
    "shifted": _shifted,
    "false_blobs": _false_blobs,
    "relabelled": _relabelled,
    "noisy": _noisy,
}


def perturb(gt, family, seed=0):
    """A test segmentation made from the ground truth ``gt`` by one perturbation family."""
    rng = np.random.default_rng(seed)
    return PERTURBATIONS[family](np.asarray(gt), rng)
