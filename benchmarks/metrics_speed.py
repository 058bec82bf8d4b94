"""Speed and agreement of glandseg.metrics against the literal MATLAB restatement.

On the 80 GlaS test annotations (Test A and Test B), each turned into a segmentation by the eight
perturbation families of ``tests/metrics_reference.py`` (eroded, dilated and merged, dropped
objects, split objects, shifted, random false blobs, relabelled, noisy), this script

- runs the literal per-object loops (``F1score``, ``ObjectDice``, ``ObjectHausdorff``) and the
  fast per-image functions (``f1_counts``, ``object_dice``, ``object_hausdorff``) on every
  image, and records the time of each and the largest differences between them;
- times ``glandseg.metrics.evaluate`` pooled over all 80 images for each family and for a mixed
  set (image k under family k mod 8), and checks the mixed set against the literal pooled loops;
- writes everything, with the machine's load average before and after, to
  ``benchmarks/results/metrics-<date>.json``.

Usage::

    .venv/bin/python benchmarks/metrics_speed.py [--data DIR] [--limit N] [--out FILE]

The numbers in the record are only ever produced by running this script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the literal reference lives with the tests, not the package

import metrics_reference as ref  # noqa: E402

from glandseg import metrics  # noqa: E402


class Clock:
    """Wall-clock and CPU seconds of a block, accumulated."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c

    def record(self):
        return {"wall_s": round(self.wall, 4), "cpu_s": round(self.cpu, 4)}


def _diff(a, b):
    if a == b:  # also inf == inf
        return 0.0
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.inf


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _code_state():
    """git status and sha256 of the files measured here: the record names the exact code."""
    import hashlib

    state = {}
    for rel in ("glandseg/metrics.py", "tests/metrics_reference.py", "benchmarks/metrics_speed.py"):
        try:
            out = subprocess.run(["git", "status", "--porcelain", "--", rel], cwd=REPO, capture_output=True, text=True, check=True)
            status = out.stdout[:2].strip() or "clean"  # "??" untracked, "M" modified, "A" added
        except (OSError, subprocess.CalledProcessError):
            status = None
        state[rel] = {"git_status": status, "sha256": hashlib.sha256((REPO / rel).read_bytes()).hexdigest()}
    return state


def _load(data):
    names, gts, grades = [], [], []
    for split in ref.SPLITS:
        n, g, gr = ref.load_annotations(data, split)
        names += n
        gts += g
        grades += gr
    return names, gts, grades


def per_image(names, gts, family):
    """Literal and fast per-image figures, their differences and times, for one family."""
    literal_clock, stage = Clock(), {"f1_counts": Clock(), "object_dice": Clock(), "object_hausdorff": Clock()}
    worst = {"f1": 0.0, "object_dice": 0.0, "object_hausdorff": 0.0}
    count_mismatches = []
    for k, gt in enumerate(gts):
        seg = ref.perturb(gt, family, seed=k)
        with literal_clock:
            f1_lit, _, _, tp, fp, fn = ref.F1score(seg, gt)
            dice_lit = ref.ObjectDice(seg, gt)
            haus_lit = ref.ObjectHausdorff(seg, gt)
        with stage["f1_counts"]:
            counts = metrics.f1_counts(seg, gt)
        with stage["object_dice"]:
            dice = metrics.object_dice(seg, gt)
        with stage["object_hausdorff"]:
            haus = metrics.object_hausdorff(seg, gt)
        f1 = metrics.object_f1(seg, gt)
        if counts != (tp, fp, fn):
            count_mismatches.append(names[k])
        worst["f1"] = max(worst["f1"], _diff(f1, f1_lit))
        worst["object_dice"] = max(worst["object_dice"], _diff(dice, dice_lit))
        worst["object_hausdorff"] = max(worst["object_hausdorff"], _diff(haus, haus_lit))
    fast_wall = sum(c.wall for c in stage.values())
    fast_cpu = sum(c.cpu for c in stage.values())
    return {
        "images": len(gts),
        "max_abs_diff": worst,
        "count_mismatches": count_mismatches,
        "literal": literal_clock.record(),
        "fast": {"wall_s": round(fast_wall, 4), "cpu_s": round(fast_cpu, 4)},
        "fast_stages": {k: c.record() for k, c in stage.items()},
        "speedup_wall": round(literal_clock.wall / fast_wall, 2),
        "speedup_cpu": round(literal_clock.cpu / fast_cpu, 2),
        "literal_per_image_ms": round(1e3 * literal_clock.wall / len(gts), 2),
        "fast_per_image_ms": round(1e3 * fast_wall / len(gts), 2),
    }


def pooled(gts, segs, repeat):
    """Best-of-``repeat`` time of evaluate() pooled over all images, and its figures."""
    best = None
    for _ in range(repeat):
        clock = Clock()
        with clock:
            result = metrics.evaluate(segs, gts)
        best = clock if best is None or clock.wall < best.wall else best
    return best.record(), {k: result[k] for k in metrics.METRIC_KEYS}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="GlaS folder (default: GLANDSEG_DATA or ../shared/data/glas)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images (a quick look; not for the record)")
    parser.add_argument("--repeat", type=int, default=3, help="timings of pooled evaluate: best of N (default 3)")
    parser.add_argument("--out", type=Path, default=None, help="output JSON (default benchmarks/results/metrics-<date>.json)")
    args = parser.parse_args(argv)

    data = args.data or Path(os.environ.get("GLANDSEG_DATA") or REPO.parent / "shared" / "data" / "glas")
    load_before = os.getloadavg()
    started = dt.datetime.now(dt.timezone.utc)

    load_clock = Clock()
    with load_clock:
        names, gts, grades = _load(data)
    if args.limit:
        names, gts, grades = names[: args.limit], gts[: args.limit], grades[: args.limit]
    print(f"{len(gts)} annotations read in {load_clock.wall:.2f} s; load average {load_before}", flush=True)

    families = {}
    for family in ref.PERTURBATIONS:
        perturb_clock = Clock()
        with perturb_clock:
            segs = [ref.perturb(gt, family, seed=k) for k, gt in enumerate(gts)]
        timing, figures = pooled(gts, segs, args.repeat)
        row = per_image(names, gts, family)
        row["perturb"] = perturb_clock.record()
        row["pooled_evaluate"] = timing
        row["pooled_figures"] = figures
        row["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        families[family] = row
        print(
            f"{family:15s} literal {row['literal']['wall_s']:8.2f} s  fast {row['fast']['wall_s']:6.2f} s  "
            f"x{row['speedup_wall']:6.1f}  pooled evaluate {timing['wall_s']:5.2f} s  "
            f"max diff F1 {row['max_abs_diff']['f1']:.1e} Dice {row['max_abs_diff']['object_dice']:.1e} "
            f"Hausdorff {row['max_abs_diff']['object_hausdorff']:.1e}",
            flush=True,
        )

    fams = list(ref.PERTURBATIONS)
    mixed = [ref.perturb(gt, fams[k % len(fams)], seed=k) for k, gt in enumerate(gts)]
    mixed_timing, mixed_figures = pooled(gts, mixed, args.repeat)
    literal_pooled_clock = Clock()
    with literal_pooled_clock:
        literal_pooled = ref.pooled_reference(mixed, gts)
    mixed_diff = {k: _diff(mixed_figures[k], literal_pooled[k]) for k in metrics.METRIC_KEYS}
    print(f"mixed           pooled evaluate {mixed_timing['wall_s']:.2f} s, literal pooled {literal_pooled_clock.wall:.1f} s, "
          f"max diff {max(mixed_diff.values()):.1e}", flush=True)

    literal_wall = sum(r["literal"]["wall_s"] for r in families.values())
    fast_wall = sum(r["fast"]["wall_s"] for r in families.values())
    record = {
        "benchmark": "glandseg.metrics vs literal MATLAB restatement (tests/metrics_reference.py)",
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": started.isoformat(timespec="seconds"),
        "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": _git_commit(),
        "code": _code_state(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__},
        "data": {"root": str(data), "images": len(gts), "splits": list(ref.SPLITS), "read": load_clock.record()},
        "timing_note": "wall_s: time.perf_counter; cpu_s: time.process_time of this process. "
        "literal and fast per-image totals are summed over all images of a family; "
        "fast = f1_counts + object_dice + object_hausdorff (each call validates and builds the overlap "
        "matrix again); pooled_evaluate = one evaluate() over all images, best of --repeat.",
        "families": families,
        "mixed": {
            "description": "image k under family k mod 8",
            "pooled_evaluate": mixed_timing,
            "pooled_figures": mixed_figures,
            "literal_pooled": {"wall_s": round(literal_pooled_clock.wall, 4), "cpu_s": round(literal_pooled_clock.cpu, 4)},
            "max_abs_diff_vs_literal_pooled": mixed_diff,
        },
        "summary": {
            "max_abs_diff": {
                key: max(r["max_abs_diff"][key] for r in families.values())
                for key in ("f1", "object_dice", "object_hausdorff")
            },
            "count_mismatches": sum(len(r["count_mismatches"]) for r in families.values()),
            "literal_wall_s": round(literal_wall, 2),
            "fast_wall_s": round(fast_wall, 2),
            "speedup_wall": round(literal_wall / fast_wall, 2),
            "min_speedup_wall_over_families": min(r["speedup_wall"] for r in families.values()),
            "pooled_evaluate_max_wall_s": max(
                [r["pooled_evaluate"]["wall_s"] for r in families.values()] + [mixed_timing["wall_s"]]
            ),
        },
    }
    out = args.out or REPO / "benchmarks" / "results" / f"metrics-{started.date().isoformat()}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
