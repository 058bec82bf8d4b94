"""The ``glandseg`` command line.

Errors raised by glandseg for bad input (ValueError, FileNotFoundError, TypeError) are printed
as one line on stderr with exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_download(args) -> int:
    from glandseg import data

    path = data.download(dest=args.dest, source=args.source)
    print(f"GlaS data is ready in {path}")
    print(f"Use it with --data {path} or export GLANDSEG_DATA={path}")
    return 0


def _cmd_demo(args) -> int:
    from glandseg import demo

    demo.run_demo(args.out)
    return 0


_TEST_PARTS = ("testA", "testB")
_PREDICTION_SUFFIXES = (".png", ".tif", ".tiff")


def _find_prediction(pred_dir: Path, name: str) -> Path | None:
    """``PRED_DIR/<name>.png`` or ``<name>_labels.png`` (as ``glandseg run`` writes them), or
    .tif/.tiff; None when there is none."""
    from glandseg.runner import PRED_SUFFIX

    stems = (name, f"{name}{PRED_SUFFIX}")
    found = [pred_dir / f"{stem}{ext}" for stem in stems for ext in _PREDICTION_SUFFIXES if (pred_dir / f"{stem}{ext}").is_file()]
    if len(found) > 1:
        raise ValueError(f"{pred_dir}: both {found[0].name} and {found[1].name} exist; keep one prediction per image.")
    return found[0] if found else None


def _read_label_map(path: Path):
    """Read a label-map prediction (8/16-bit PNG or TIFF) as an (H, W) integer array.

    Refuses, with one line naming the file, what is not a single-channel integer label map:
    colour images, binary (1-bit) masks, float images and negative labels. Palette PNGs are read
    as their indices.
    """
    import numpy as np

    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = np.asarray(tifffile.imread(path))
            mode = f"TIFF {arr.dtype}"
        else:
            from PIL import Image

            with Image.open(path) as im:
                mode = f"mode {im.mode}"
                arr = np.asarray(im)
    except Exception as err:  # Pillow and tifffile raise OSError, ValueError, ... for unreadable files
        reason = " ".join(str(err).split())  # keep the message on one line
        raise ValueError(f"{path}: cannot be read as an image ({type(err).__name__}: {reason}).") from None
    if mode == "mode 1":
        raise ValueError(
            f"{path}: is a 1-bit binary mask, not a label map; save each gland with its own integer "
            "(e.g. skimage.measure.label) as an 8- or 16-bit grey image."
        )
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ValueError(
            f"{path}: has shape {arr.shape} ({mode}); expected a single-channel label map "
            "(8- or 16-bit grey, 0 = background, one integer per gland), not a colour image or a stack."
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"{path}: has {arr.dtype} pixels ({mode}); expected integer labels (0 = background, one "
            "integer per gland). Threshold and label a probability map before saving it."
        )
    if np.issubdtype(arr.dtype, np.signedinteger) and arr.size and arr.min() < 0:
        raise ValueError(f"{path}: has negative labels (min {arr.min()}); expected 0 and positive integers.")
    return arr


def _format_part(part: str, result: dict) -> str:
    """The table printed for one test part: all images, then each grade."""
    head = (
        f"{'':<10} {'images':>6} {'F1':>7} {'precision':>9} {'recall':>7} "
        f"{'obj. Dice':>9} {'obj. Hausdorff':>14} {'TP':>5} {'FP':>5} {'FN':>5}"
    )

    def row(label, r, n):
        return (
            f"{label:<10} {n:>6} {r['f1']:>7.3f} {r['precision']:>9.3f} {r['recall']:>7.3f} "
            f"{r['object_dice']:>9.3f} {r['object_hausdorff']:>14.2f} {r['tp']:>5} {r['fp']:>5} {r['fn']:>5}"
        )

    lines = [f"{part}: {result['n_images']} images, {result['aggregate']} over all glands of the part", head]
    lines.append(row("all", result, result["n_images"]))
    for grade, r in result.get("per_grade", {}).items():
        lines.append(row(str(grade), r, r["n_images"]))
    return "\n".join(lines)


def _cmd_evaluate(args) -> int:
    import csv
    import json

    from glandseg import data, metrics

    pred_dir = Path(args.pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"prediction folder {pred_dir} does not exist.")
    root = data.data_root(args.data)
    parts = _TEST_PARTS if args.split == "all" else (args.split,)
    results = {}
    for part in parts:
        samples = data.load_split(part, root)
        paths = {s.name: _find_prediction(pred_dir, s.name) for s in samples}
        missing = [name for name, path in paths.items() if path is None]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} of {len(samples)} {part} predictions are missing in {pred_dir}, first "
                f"{missing[0]}.png (expected one label map per image, named like {samples[0].name}.png, "
                ".tif or .tiff)."
            )
        segs = []
        for s in samples:
            seg = _read_label_map(paths[s.name])
            if seg.shape != s.labels.shape:
                raise ValueError(
                    f"{paths[s.name]}: is {seg.shape[1]}x{seg.shape[0]} (width x height) but the ground "
                    f"truth of {s.name} is {s.labels.shape[1]}x{s.labels.shape[0]}; predictions must have "
                    "the size of the original image."
                )
            segs.append(seg)
        results[part] = metrics.evaluate(
            segs, [s.labels for s in samples], names=[s.name for s in samples], grades=[s.grade for s in samples]
        )
        print(_format_part(part, results[part]))
        print()
    if args.per_image is not None:
        args.per_image.parent.mkdir(parents=True, exist_ok=True)
        with open(args.per_image, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["part", "name", "grade", *metrics.METRIC_KEYS])
            for part, result in results.items():
                for r in result["per_image"]:
                    writer.writerow([part, r["name"], r["grade"], *(r[k] for k in metrics.METRIC_KEYS)])
        print(f"per-image figures: {args.per_image}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"pred_dir": str(pred_dir), "data": str(root), "parts": results}
        args.json.write_text(json.dumps(record, indent=2) + "\n")  # an infinite Hausdorff is Infinity
        print(f"all figures: {args.json}")
    return 0


def _grid_axes_args(p):
    p.add_argument("--preset", required=True, help="paper, cpu, cpu-long, workshop or smoke")
    p.add_argument("--data", type=Path, default=None, help="GlaS folder (default: GLANDSEG_DATA or the user data dir)")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epoch count")
    _backend_arg(p)
    p.add_argument(
        "--devices", default=None, metavar="N|all",
        help="train data-parallel over N devices, or all of them (JAX backend only; default: one)",
    )
    p.add_argument(
        "--loader-threads", type=_positive_int, default=1, metavar="N",
        help="threads making the training crops; raise it on a GPU (results do not change; default: 1)",
    )
    p.add_argument(
        "--jit-compile", choices=("auto", "on", "off"), default="auto",
        help="XLA for the training steps: faster or slower depending on the CPU, see `make bench` (default: Keras's choice)",
    )
    p.add_argument(
        "--precision", choices=("auto", "float32", "mixed_bfloat16", "mixed_float16"), default=None,
        help="dtype policy (default: the preset's 'auto': bfloat16 where the CPU or GPU computes it natively)",
    )
    p.add_argument("--curve", action="store_true",
                   help="also test the network at log-spaced epochs on Test A and B (RUN/curve.json)")
    p.add_argument("--set", action="append", default=None, metavar="SECTION.FIELD=VALUE",
                   help="change a setting of the preset, e.g. --set train.batch_size=4 --set preprocess.size=352x240 "
                   "(repeatable; needs --tag)")
    p.add_argument("--tag", default=None, metavar="NAME",
                   help="ends the run folders' names when --set changes the protocol (RUN = h-L3-s0-NAME)")
    p.add_argument("--restart", action="store_true",
                   help="a run folder that trained but lost its checkpoint.npz is kept as RUN-attemptN "
                   "(with stopped.json) and trains again from epoch 1 (default: stop with an error)")


def _backend_arg(p):
    p.add_argument("--backend", choices=("tensorflow", "jax"), default=None, help="Keras backend (default: KERAS_BACKEND or tensorflow)")


def _jit(text):
    return {"auto": "auto", "on": True, "off": False}[text]


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or str(value) != text.strip():
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _set_backend(backend):
    import os

    if backend:
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != backend:
            raise ValueError(f"Keras was already imported with another backend; set KERAS_BACKEND={backend} instead")
        os.environ["KERAS_BACKEND"] = backend


def _cmd_run(args) -> int:
    _set_backend(args.backend)
    from glandseg import runner
    from glandseg.config import preset_config

    axes = runner.parse_config_name(args.config)
    overrides = _overrides(args)
    config = preset_config(args.preset, seed=args.seed, epochs=args.epochs, precision=args.precision, **axes)
    config = config.with_overrides(overrides)
    out = args.out or Path(args.results) / args.preset / runner.run_id(config, args.tag)
    record = runner.run_experiment(config, out, root=args.data, devices=args.devices, loader_threads=args.loader_threads,
                                   jit_compile=_jit(args.jit_compile), curve=args.curve, tag=args.tag,
                                   restart=args.restart)
    for split in runner.TEST_SPLITS:
        p = record["metrics"][split]["pooled"]
        print(
            f"{split}: F1 {p['f1']:.3f}  object Dice {p['object_dice']:.3f}  "
            f"object Hausdorff {p['object_hausdorff']:.2f}  (TP {p['tp']}, FP {p['fp']}, FN {p['fn']})"
        )
    print(f"record: {Path(out) / 'record.json'}")
    return 0


def _cmd_grid(args) -> int:
    _set_backend(args.backend)
    from glandseg import runner

    configs = args.configs or list(runner.PAPER_GRID)
    summary = runner.run_grid(
        args.preset, configs, args.seeds, results_dir=args.results, root=args.data, backend=args.backend, epochs=args.epochs,
        devices=args.devices, loader_threads=args.loader_threads, jit_compile=_jit(args.jit_compile),
        precision=args.precision, curve=args.curve, overrides=_overrides(args), tag=args.tag,
        restart=args.restart,
    )
    return 1 if any(e["status"] == "failed" for e in summary) else 0


def _overrides(args) -> dict:
    from glandseg.config import parse_override

    overrides = dict(parse_override(text) for text in args.set or ())
    if overrides and not args.tag:
        raise ValueError("--set changes the preset's protocol: name its runs with --tag NAME")
    return overrides


def _cmd_export(args) -> int:
    _set_backend(args.backend)
    from glandseg import inference

    meta = inference.export_model(args.run_dir, args.output, dtype=args.dtype)
    a = meta["record_pooled"].get("testA", {})
    score = f", its record: Test A F1 {a['f1']:.3f}" if a else ""
    print(f"{args.output}: {meta['bytes'] / 1e6:.1f} MB, weights {meta['weights_dtype']}, sha256 {meta['sha256'][:16]}... "
          f"(run {meta['run_id']}{score})")
    return 0


def _cmd_segment(args) -> int:
    _set_backend(args.backend)
    import numpy as np
    from PIL import Image
    from tqdm.auto import tqdm

    from glandseg import inference, predict

    model, config, meta = inference.load_model_file(args.model)
    model = predict.fold_batch_norm(model)
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for path in tqdm(args.images, desc="segment", unit="image"):
        try:
            rgb = inference.read_image(path)
            labels, _ = inference.segment_image(model, rgb, config, scale=args.scale, fit=args.fit, tile=args.tile,
                                                name=str(path))
        except inference.ImageError as err:
            tqdm.write(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        if labels.max(initial=0) > np.iinfo(np.uint16).max:
            tqdm.write(f"error: {path}: {labels.max()} glands do not fit a 16-bit label map", file=sys.stderr)
            failed += 1
            continue
        stem = Path(path).stem
        Image.fromarray(labels.astype(np.uint16)).save(args.out / f"{stem}_labels.png")
        Image.fromarray(inference.overlay(rgb, labels)).save(args.out / f"{stem}_overlay.png")
    done = len(args.images) - failed
    print(f"{done} of {len(args.images)} images segmented into {args.out} (label maps *_labels.png, outlines *_overlay.png)"
          + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _cmd_ceiling(args) -> int:
    from glandseg.report import ceiling

    for preset in args.presets:
        path = ceiling.write_ceiling(preset, args.results, args.data)
        rec = ceiling.load_ceilings(args.results)[preset]
        width, height = rec["size"]
        for split, scores in rec["scores"].items():
            for where, label in (("network_size", f"at {width}x{height}"), ("original_size", "at the original size")):
                p = scores[where]
                print(
                    f"{preset} {split} perfect map {label}: F1 {p['f1']:.3f}  object Dice {p['object_dice']:.3f}  "
                    f"object Hausdorff {p['object_hausdorff']:.2f}  (TP {p['tp']}, FP {p['fp']}, FN {p['fn']})"
                )
        print(f"record: {path}")
    return 0


def _cmd_sensitivity(args) -> int:
    _set_backend(args.backend)
    import json

    from tqdm.auto import tqdm

    from glandseg.report import sensitivity

    grid = sensitivity.SweepGrid(tuple(args.opening), tuple(args.min_size))
    folder = Path(args.results) / args.preset
    # A finished run has its record; an epoch's sweep needs only that epoch's weight snapshot.
    needed = "record.json" if args.epoch is None else f"snapshots/epoch-{args.epoch:03d}.weights.h5"
    runs = [folder / r for r in args.runs] if args.runs else sorted(p.parents[0 if args.epoch is None else 1]
                                                                    for p in folder.glob(f"*/{needed}"))
    missing = [str(r) for r in runs if not (r / needed).is_file()]
    if missing:
        raise FileNotFoundError(f"no {'finished run' if args.epoch is None else f'snapshot of epoch {args.epoch}'} "
                                f"in {', '.join(missing)} ({needed} missing)")
    if not runs:
        what = "finished run" if args.epoch is None else f"run with {needed}"
        raise FileNotFoundError(f"no {what} under {folder}: run `glandseg grid --preset {args.preset}` first")
    for run_dir in tqdm(runs, desc="sweeping runs", unit="run"):
        path = sensitivity.write_sweep(run_dir, root=args.data, grid=grid, overwrite=args.overwrite, epoch=args.epoch,
                                       splits=args.splits)
        rec = json.loads(path.read_text())
        own, chosen = rec["chosen"]["own"], rec["chosen"]["by_val"]
        row = rec["scores"]["val"][chosen]
        parts = [f"{split} F1 {rec['scores'][split][own]['f1']:.3f} -> {rec['scores'][split][chosen]['f1']:.3f}"
                 for split in ("testA", "testB") if split in rec["scores"]]
        if not parts:  # a validation-only sweep
            parts = [f"val F1 {rec['scores']['val'][own]['f1']:.3f} -> {row['f1']:.3f}"]
        tqdm.write(f"{run_dir.name}: validation chose opening {row['opening_radius_px']} px, smallest object "
                   f"{row['min_size_px']} px; {'; '.join(parts)}  ({path})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glandseg", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("download", help="fetch or import the GlaS data and verify every file")
    p.add_argument("--dest", type=Path, default=None, help="where to put the data (default: user data dir)")
    p.add_argument(
        "--from",
        dest="source",
        default=None,
        help="a GlaS zip or folder you already have (e.g. the Kaggle mirror) instead of downloading",
    )
    p.set_defaults(func=_cmd_download)

    p = sub.add_parser("demo", help="the whole pipeline on synthetic data in a few minutes")
    p.add_argument("--out", type=Path, default=Path("demo"), help="output folder (default: demo)")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser(
        "evaluate",
        help="GlaS object F1, object Dice and object Hausdorff of label-map predictions",
        description="Score label-map predictions (PNG or TIFF, 8 or 16 bit, 0 = background, one integer "
        "per gland, named like the ground truth: testA_1.png) with the GlaS challenge metrics, pooled "
        "over each test part and per grade.",
    )
    p.add_argument("pred_dir", type=Path, metavar="PRED_DIR", help="folder of predicted label maps")
    p.add_argument("--split", choices=(*_TEST_PARTS, "all"), default="all", help="test part(s) to score (default: all)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR", help="GlaS data folder (default: GLANDSEG_DATA or user data dir)")
    p.add_argument("--per-image", type=Path, default=None, metavar="FILE.csv", help="write one CSV row per image")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="write all figures as JSON")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("run", help="train and evaluate one configuration (no papermill)")
    _grid_axes_args(p)
    p.add_argument("--config", default="h-L3", help="grid point, {h|rgb}[-usm]-{L1|L2|L3}[-nods] (default h-L3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: RESULTS/PRESET/RUN_ID)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("grid", help="run configurations x seeds through the experiment notebook (papermill)")
    _grid_axes_args(p)
    p.add_argument("--configs", nargs="+", default=None, help="grid points (default: the paper's six)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(func=_cmd_grid)

    p = sub.add_parser("export", help="write a run's trained network and its configuration to one .keras file")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a finished run folder (with best.weights.h5)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FILE.keras", help="the model file to write")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16",
                   help="storage type of the weights (default float16: half the size)")
    _backend_arg(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "segment",
        help="segment the glands of your own RGB images with an exported network",
        description="Write a 16-bit label map (OUT/<name>_labels.png) and an outline overlay "
        "(OUT/<name>_overlay.png) for each RGB PNG, TIFF or JPEG. Images of any size: large ones "
        "are predicted in tiles. A file that cannot be used is reported and skipped.",
    )
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="RGB images (PNG, TIFF, JPEG)")
    p.add_argument("--model", type=Path, required=True, metavar="FILE.keras", help="a file written by `glandseg export`")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--scale", type=float, default=1.0,
                   help="magnification relative to GlaS (0.5 for images of twice GlaS's resolution; default 1)")
    p.add_argument("--fit", action="store_true",
                   help="resize each whole image to the network's input size, as the GlaS protocol does")
    p.add_argument("--tile", type=int, default=2048, help="largest side predicted at once, in network pixels (default 2048)")
    _backend_arg(p)
    p.set_defaults(func=_cmd_segment)

    p = sub.add_parser(
        "ceiling",
        help="scores of a perfect network after the post-processing, per preset (results/PRESET/ceiling.json)",
        description="Put each test image's ground-truth gland mask, at the preset's input size and at the "
        "original size, through the post-processing and score it: the best any network trained with this "
        "target and post-processing can reach.",
    )
    p.add_argument("presets", nargs="+", choices=("paper", "cpu", "workshop"), metavar="PRESET",
                   help="paper, cpu or workshop (one or more)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR", help="GlaS data folder (default: GLANDSEG_DATA or user data dir)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(func=_cmd_ceiling)

    from glandseg.config import PRESETS
    from glandseg.report.sensitivity import SweepGrid  # no Keras import: the backend can still be chosen

    sweep_defaults = SweepGrid()
    p = sub.add_parser(
        "sensitivity",
        help="sweep the post-processing sizes the paper leaves open on finished runs (RUN/postprocess_sweep.json)",
        description="Predict each finished run's probability maps once and score them under every opening radius "
        "and smallest object size of a grid, on Test A, Test B and the run's validation images; the validation "
        "images choose a setting. Runs that have a sweep are skipped.",
    )
    p.add_argument("preset", choices=PRESETS, metavar="PRESET", help=", ".join(PRESETS))
    p.add_argument("--runs", nargs="+", default=None, metavar="RUN", help="run folders of the preset (default: every finished run)")
    p.add_argument("--epoch", type=int, default=None, metavar="N",
                   help="sweep the network after epoch N (its learning-curve snapshot; the run need not be finished) "
                   "instead of the selected one: RUN/postprocess_sweep-epoch-00N.json")
    p.add_argument("--opening", nargs="+", type=int, default=list(sweep_defaults.opening_radius_px), metavar="PX",
                   help=f"opening radii in original pixels (default: {' '.join(map(str, sweep_defaults.opening_radius_px))})")
    p.add_argument("--min-size", nargs="+", type=int, default=list(sweep_defaults.min_size_px), metavar="PX",
                   help=f"smallest object sizes in original pixels (default: {' '.join(map(str, sweep_defaults.min_size_px))})")
    p.add_argument("--overwrite", action="store_true", help="sweep runs again that already have a sweep")
    p.add_argument("--splits", nargs="+", choices=("val", "testA", "testB"), default=["val", "testA", "testB"],
                   metavar="PART", help="parts to score: val, testA, testB (default: all; `--splits val` is enough to "
                   "choose between candidate protocols, and much faster)")
    _backend_arg(p)
    p.add_argument("--data", type=Path, default=None, metavar="DIR", help="GlaS data folder (default: GLANDSEG_DATA or user data dir)")
    p.add_argument("--results", default="results", help="results folder (default: results)")
    p.set_defaults(func=_cmd_sensitivity)

    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"glandseg {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"glandseg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
