"""A trained network outside its run: export it to one file, segment images of any size with it.

:func:`export_model` writes a run's selected network as a Keras ``.keras`` file (weights in
float16 by default: half the size, about 23 MB for the paper's LinkNet) with the run's
configuration inside it (``glandseg.json`` in the archive: pre-processing, post-processing,
where the network came from and the test figures its record holds) and a ``.sha256`` file
beside it in ``sha256sum`` format. ``keras.saving.load_model`` opens the file as it is;
:func:`load_model_file` also checks the checksum and returns the configuration.

:func:`segment_image` turns an RGB image into gland instances the way a run does: the same
pre-processing (with the input rounded to float16, as the run's cached inputs are), the network
with batch normalisation folded, the same post-processing. Two ways to bring an image to the
network's scale:

* ``fit=True``: resize the whole image to the network's input size, as the training protocol
  does with every GlaS image. On GlaS images this reproduces a run's own predictions.
* ``fit=False`` (the default): keep the image's aspect and apply the pixel scale a standard
  GlaS field gets (775x522 px to the configured size), times ``scale`` for images not taken at
  GlaS's magnification (``scale=0.5`` for an image of twice GlaS's resolution). An image larger
  than ``tile`` pixels at that scale is predicted in overlapping tiles; odd sizes are padded.
  The post-processing sizes, in pixels of the original image, are divided by ``scale**2``.

:func:`read_image` reads PNG, TIFF or JPEG and names the file in every error: a grey image, an
unreadable file or one too small for the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np

__all__ = [
    "GLAS_FIELD",
    "MIN_SIDE_PX",
    "ImageError",
    "export_model",
    "load_model_file",
    "read_image",
    "network_input",
    "segment_image",
    "overlay",
    "SHIPPED_MODELS",
    "shipped_model",
    "read_model_meta",
]

#: (width, height) of a standard GlaS field in pixels: the scale a network's input size refers to.
GLAS_FIELD = (775, 522)

#: Smallest side, in pixels of the network's input, that an image may have (one LinkNet cell).
MIN_SIDE_PX = 32

#: Model files the repository ships in ``models/``, best first: the paper protocol's network
#: (once its run has finished), then a workshop run's.
SHIPPED_MODELS = ("paper-h-L3.keras", "workshop-h-L3.keras")

_META = "glandseg.json"
_FORMAT = 1


class ImageError(ValueError):
    """An image that cannot be segmented; the message starts with the file's name."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _cast_weights(h5_path: Path, dtype: str) -> None:
    """Rewrite a Keras weights file with every floating-point dataset stored in ``dtype``.

    HDF5 does not give back the space of a deleted dataset, so the file is copied anew.
    """
    import h5py

    def copy(src, dst):
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for name, item in src.items():
            if isinstance(item, h5py.Group):
                copy(item, dst.create_group(name))
            else:
                data = item[()]
                if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                    data = data.astype(dtype)
                out = dst.create_dataset(name, data=data)
                for key, value in item.attrs.items():
                    out.attrs[key] = value

    fresh = h5_path.with_name(h5_path.name + ".new")
    with h5py.File(h5_path, "r") as src, h5py.File(fresh, "w") as dst:
        copy(src, dst)
    os.replace(fresh, h5_path)


def export_model(run_dir, path, *, dtype="float16") -> dict:
    """Write a finished run's selected network and configuration to one ``.keras`` file.

    Parameters
    ----------
    run_dir : path
        A run folder with ``config.json`` and ``best.weights.h5`` (the network its record
        scores).
    path : path
        Output file; must end in ``.keras``. A ``<path>.sha256`` file is written beside it.
    dtype : {"float16", "float32"}
        Storage type of the weights. float16 halves the file; the network still computes in
        float32 (or the policy in force) after loading.

    Returns
    -------
    dict
        The metadata stored in the file (``glandseg.json``) plus ``sha256`` and ``bytes``.

    Raises
    ------
    FileNotFoundError
        If the run has no weights or configuration.
    ValueError
        For a path not ending in ``.keras`` or an unknown ``dtype``.
    """
    import keras

    from glandseg import results, train
    from glandseg.config import ExperimentConfig

    run_dir, path = Path(run_dir), Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"the model file must end in .keras (Keras's format). Received: {path}")
    if dtype not in ("float16", "float32"):
        raise ValueError(f"dtype must be 'float16' or 'float32'. Received: dtype={dtype!r}")
    for needed in ("config.json", train.BEST_WEIGHTS):
        if not (run_dir / needed).exists():
            raise FileNotFoundError(f"{run_dir / needed} not found: export needs a trained run folder")
    config = ExperimentConfig.from_json((run_dir / "config.json").read_text())
    record = json.loads((run_dir / "record.json").read_text()) if (run_dir / "record.json").exists() else {}
    previous = keras.config.dtype_policy().name
    try:
        model = train.load_trained(config, run_dir, precision="float32")  # float32 layers in the file
        meta = {
            "format": _FORMAT,
            "weights_dtype": dtype,
            "config": config.to_dict(),
            "run_id": record.get("run_id", run_dir.name),
            "trained_precision": train.trained_precision(config, run_dir),
            "record_pooled": {s: {k: v for k, v in record["metrics"][s]["pooled"].items()
                                  if k in ("f1", "object_dice", "object_hausdorff")}
                              for s in record.get("metrics", {})},
            "source_provenance": {k: record.get("provenance", {}).get(k) for k in ("git_commit", "dirty", "cpu")},
            "exported_with": results.code_state(),
        }
        with tempfile.TemporaryDirectory() as tmp:
            plain = Path(tmp) / "model.keras"
            model.save(plain)
            unpacked = Path(tmp) / "unpacked"
            with zipfile.ZipFile(plain) as zf:
                zf.extractall(unpacked)
                names = zf.namelist()
            if dtype != "float32":
                _cast_weights(unpacked / "model.weights.h5", dtype)
            (unpacked / _META).write_text(json.dumps(meta, indent=1, default=str))
            out = Path(tmp) / "out.keras"
            with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for name in [*names, _META]:
                    zf.write(unpacked / name, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{path.name}.tmp")
            shutil.copyfile(out, staged)
            os.replace(staged, path)
    finally:
        keras.config.set_dtype_policy(previous)
    digest = _sha256(path)
    Path(f"{path}.sha256").write_text(f"{digest}  {path.name}\n")
    return {**meta, "sha256": digest, "bytes": path.stat().st_size}


def shipped_model(models_dir=None) -> Path:
    """The best model file that the repository ships (see :data:`SHIPPED_MODELS`).

    Parameters
    ----------
    models_dir : path, optional
        Where to look (default: ``models/`` of the checkout glandseg runs from).

    Returns
    -------
    Path

    Raises
    ------
    FileNotFoundError
        If none is there, e.g. for glandseg installed from a wheel (the files stay in the
        repository): name one with ``model_file`` / ``--model``, or ``glandseg export`` a run.
    """
    folder = Path(models_dir) if models_dir is not None else Path(__file__).resolve().parent.parent / "models"
    for name in SHIPPED_MODELS:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(
        f"no shipped model file in {folder} (looked for {', '.join(SHIPPED_MODELS)}): clone the repository, "
        "or export a trained run with `glandseg export RUN -o model.keras` and give its path"
    )


def read_model_meta(path) -> dict:
    """The ``glandseg.json`` of a model file (configuration, run, record figures), without Keras.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or a ``.keras`` file that ``glandseg export`` did not write.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    with zipfile.ZipFile(path) as zf:
        if _META not in zf.namelist():
            raise ValueError(f"{path} has no {_META}: not a model file written by `glandseg export`")
        meta = json.loads(zf.read(_META))
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path}: model file format {meta.get('format')!r}, this glandseg reads {_FORMAT}")
    return meta


def load_model_file(path, *, verify=True):
    """A network exported by :func:`export_model`, with its configuration.

    Parameters
    ----------
    path : path
        The ``.keras`` file.
    verify : bool
        Check the file against ``<path>.sha256`` where that file exists.

    Returns
    -------
    model : keras.Model
        The network with float32 variables (BatchNormalization not yet folded).
    config : glandseg.config.ExperimentConfig
    meta : dict
        The file's ``glandseg.json``.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, a checksum that does not match, or a ``.keras`` file that
        ``glandseg export`` did not write (no ``glandseg.json``).
    """
    import keras

    from glandseg.config import ExperimentConfig

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    sidecar = Path(f"{path}.sha256")
    if verify and sidecar.exists():
        expected = sidecar.read_text().split()[0]
        if _sha256(path) != expected:
            raise ValueError(f"{path}: sha256 does not match {sidecar.name}; the file is damaged or was changed")
    meta = read_model_meta(path)
    previous = keras.config.dtype_policy().name
    try:
        keras.config.set_dtype_policy("float32")
        model = keras.saving.load_model(path, compile=False)
    finally:
        keras.config.set_dtype_policy(previous)
    return model, ExperimentConfig.from_dict(meta["config"]), meta


def read_image(path) -> np.ndarray:
    """An RGB image from a PNG, TIFF or JPEG file, as ``(H, W, 3)`` uint8.

    An alpha channel is dropped; 16-bit images are scaled to 8 bits.

    Raises
    ------
    ImageError
        With the file's name: unreadable or corrupt, grey (one channel), or not an image.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            import tifffile

            arr = np.asarray(tifffile.imread(path))
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.load()
                arr = np.asarray(im.convert("RGBA") if im.mode in ("P", "PA") else im)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Exception as err:  # every decoder has its own error types
        raise ImageError(f"{path}: cannot be read as an image ({type(err).__name__}: {err})") from None
    if arr.size == 0:
        raise ImageError(f"{path}: cannot be read as an image (no pixels decoded: a damaged file)")
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (1, 2)):
        raise ImageError(f"{path}: a grey image ({arr.shape}); gland segmentation needs RGB (H&E colour)")
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4):
        raise ImageError(f"{path}: shape {arr.shape} is not an RGB image")
    arr = arr[..., :3]
    if arr.dtype == np.uint16:
        arr = (arr / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if arr.dtype.kind == "f" and float(arr.min(initial=0)) >= 0 and float(arr.max(initial=0)) <= 1:
            arr = (arr * 255.0 + 0.5).astype(np.uint8)
        else:
            raise ImageError(f"{path}: pixel type {arr.dtype} is not 8-bit, 16-bit or [0, 1] float RGB")
    return np.ascontiguousarray(arr)


def _scaled_size(shape, config, scale, fit):
    """(width, height) of the network input for an image of ``shape`` (H, W)."""
    if fit:
        return tuple(config.preprocess.size)
    h, w = shape[:2]
    sx = config.preprocess.size[0] / GLAS_FIELD[0] * scale
    sy = config.preprocess.size[1] / GLAS_FIELD[1] * scale
    return max(1, int(round(w * sx))), max(1, int(round(h * sy)))


def network_input(rgb, config, *, scale=1.0, fit=False, name="image") -> np.ndarray:
    """The network input of an RGB image: pre-processed at the network's scale.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 ndarray
    config : glandseg.config.ExperimentConfig
        The network's configuration (pre-processing).
    scale : float
        Magnification relative to GlaS (see the module's notes); ignored with ``fit``.
    fit : bool
        Resize the whole image to the configured input size (the GlaS protocol).
    name : str
        The image's name, for error messages.

    Returns
    -------
    x : (h, w, C) float32 ndarray
        Rounded through float16, as the training and evaluation inputs are cached.

    Raises
    ------
    ImageError
        If a side would be under :data:`MIN_SIDE_PX` pixels.
    """
    from glandseg import preprocessing

    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f"scale must be a positive number. Received: scale={scale!r}")
    size = _scaled_size(np.shape(rgb), config, scale, fit)
    if min(size) < MIN_SIDE_PX:
        raise ImageError(f"{name}: too small ({np.shape(rgb)[1]}x{np.shape(rgb)[0]} px gives {size[0]}x{size[1]} at the "
                         f"network's scale; at least {MIN_SIDE_PX} px a side)")
    x = preprocessing.to_input(rgb, config.preprocess, size=size)
    return x.astype(np.float16).astype(np.float32)


def _tiles(length, tile, overlap):
    """Start offsets of tiles of ``tile`` covering ``length`` with at least ``overlap`` shared."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def _predict_tiled(model, x, tile, overlap, batch_size=1):
    """Probabilities of one (h, w, C) input, in overlapping tiles where it exceeds ``tile``."""
    from glandseg import predict

    h, w = x.shape[:2]
    if h <= tile and w <= tile:
        return predict.predict_proba(model, x[None], batch_size=batch_size)[0]
    prob = np.zeros((h, w), np.float32)
    half = overlap // 2
    ys, xs = _tiles(h, tile, overlap), _tiles(w, tile, overlap)
    for y0 in ys:
        for x0 in xs:
            p = predict.predict_proba(model, x[None, y0:y0 + tile, x0:x0 + tile], batch_size=1)[0]
            # Keep each tile's interior: borders see less context. The outer edges keep theirs.
            top = 0 if y0 == 0 else half
            left = 0 if x0 == 0 else half
            bottom = p.shape[0] if y0 + tile >= h else p.shape[0] - half
            right = p.shape[1] if x0 + tile >= w else p.shape[1] - half
            prob[y0 + top:y0 + bottom, x0 + left:x0 + right] = p[top:bottom, left:right]
    return prob


def segment_image(model, rgb, config, *, scale=1.0, fit=False, tile=2048, overlap=128, name="image"):
    """Gland instances of one RGB image with a trained network.

    Parameters
    ----------
    model : keras.Model
        A LinkNet, preferably with its batch normalisation folded
        (:func:`glandseg.predict.fold_batch_norm`).
    rgb : (H, W, 3) uint8 ndarray
    config : glandseg.config.ExperimentConfig
        The network's configuration (pre- and post-processing).
    scale, fit
        How the image is brought to the network's scale (see the module's notes).
    tile : int
        Largest side, in network pixels, predicted at once (a multiple of 32); larger inputs
        are cut into tiles overlapping by ``overlap`` pixels.
    name : str
        For error messages.

    Returns
    -------
    labels : (H, W) int32 ndarray
        0 is background, glands 1..k, at the image's own size.
    prob : (h, w) float32 ndarray
        The probability map at the network's scale.
    """
    from glandseg import postprocess

    if tile % 32 or tile < 64:
        raise ValueError(f"tile must be a multiple of 32 and at least 64. Received: tile={tile!r}")
    if not 0 <= overlap < tile // 2:
        raise ValueError(f"overlap must lie in [0, tile / 2). Received: overlap={overlap!r}")
    x = network_input(rgb, config, scale=scale, fit=fit, name=name)
    prob = _predict_tiled(model, x, tile, overlap, batch_size=max(1, config.train.batch_size // 2))
    post = config.postprocess
    if not fit and scale != 1.0:
        # sizes are in original pixels at GlaS's magnification: an object covers 1/scale^2 as many here
        post = post.replace(min_size_px=int(round(post.min_size_px / scale**2)),
                            hole_size_px=int(round(post.hole_size_px / scale**2)),
                            opening_radius_px=int(round(post.opening_radius_px / scale)))
    labels = postprocess.to_instances(prob, np.shape(rgb)[:2], post)
    return labels, prob


def overlay(rgb, labels, color=(0, 255, 0)) -> np.ndarray:
    """The image with each gland's outline drawn in ``color`` (uint8 RGB)."""
    from skimage.segmentation import find_boundaries

    out = np.array(rgb, dtype=np.uint8, copy=True)
    edges = find_boundaries(labels, mode="inner")
    out[edges] = color
    return out
