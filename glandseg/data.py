"""GlaS data: loading, validation, checksums and download.

The GlaS (Warwick-QU) data set [1]_ is for research use only, so it is never part of this
package. The package ships only the pixel checksums of the 330 official files
(``glas_manifest.tsv``); :func:`download` fetches or imports the data, and :func:`validate` and
:func:`load_split` check a copy against the checksums before anything else uses it.

Two layouts are read: the official release (``train_1.bmp``, ``train_1_anno.bmp``, ...,
``Grade.csv``, possibly inside a subfolder such as ``Warwick QU Dataset (Released
2016_07_08)/``) and lossless PNG copies of it (``train_1.png``, ``train_1_anno.png``, ...).

References
----------
.. [1] K. Sirinukunwattana et al., "Gland segmentation in colon histology images: The GlaS
       challenge contest", Medical Image Analysis 35 (2017) 489-502. arXiv:1603.00275
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib.resources
import os
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "GLAS_URL",
    "ODDITIES",
    "SPLITS",
    "SPLIT_SIZES",
    "Sample",
    "annotation_oddities",
    "data_root",
    "download",
    "find_data",
    "gland_stats",
    "load_split",
    "pixel_sha256",
    "read_grades",
    "validate",
]

GLAS_ZIP_NAME = "warwick_qu_dataset_released_2016_07_08.zip"
GLAS_URL = "https://warwick.ac.uk/fac/cross_fac/tia/data/glascontest/download/" + GLAS_ZIP_NAME
DATA_ENV = "GLANDSEG_DATA"
SPLITS = ("train", "testA", "testB")
SPLIT_SIZES = {"train": 85, "testA": 60, "testB": 20}
GRADES = ("benign", "malignant")
GRADE_FILE = "Grade.csv"
GRADE_COLUMNS = ("name", "grade (GlaS)")
IMAGE_SUFFIXES = (".png", ".bmp")
MANIFEST_NAME = "glas_manifest.tsv"

# File stems of the release: train_1, train_1_anno, testA_12, ... (no leading zeros).
_STEM_RE = re.compile(r"^(train|testA|testB)_([1-9][0-9]*)(_anno)?$")
# The official zip may nest the files in a folder (and a user may unzip it into the data folder),
# so a data root is searched this many folder levels down; deeper trees are not walked.
_SEARCH_DEPTH = 2
# Long lists of missing files are cut to this many names in an error message.
_MAX_LISTED = 5
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GET_DATA = (
    "Run `glandseg download` to fetch it (or `glandseg download --from PATH` with a GlaS zip or "
    "folder you already have), or set GLANDSEG_DATA to a folder that holds the GlaS release"
)
_GET_FRESH = (
    "Replace it with the file from the official release: run `glandseg download` (or "
    "`glandseg download --from PATH` with an intact copy)"
)


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


@dataclass(frozen=True)
class _Entry:
    """One row of the packaged checksum manifest."""

    name: str
    split: str
    kind: str
    width: int
    height: int
    n_glands: int
    pixel_sha256: str


# ----------------------------------------------------------------------------------------------
# Public helpers


def data_root(root=None) -> Path:
    """Folder that holds (or will hold) the GlaS data.

    Parameters
    ----------
    root : str or path-like, optional
        Explicit folder. When None, the environment variable ``GLANDSEG_DATA`` is used, and
        when that is unset or empty, ``platformdirs.user_data_dir("glandseg") / "glas"``.

    Returns
    -------
    path : Path
        The folder; it need not exist.

    Examples
    --------
    >>> data_root("some/where/glas").name
    'glas'
    """
    return _resolve_root(root)[0]


def pixel_sha256(array) -> str:
    """SHA-256 of an array's dtype, shape and pixel values.

    The same pixels give the same checksum whatever the file format they were stored in (BMP,
    PNG), which is what lets one manifest verify the official release and lossless copies.

    Parameters
    ----------
    array : array_like
        Any array, e.g. an (H, W, 3) uint8 image or an (H, W) uint8 annotation.

    Returns
    -------
    digest : str
        64 lower-case hexadecimal digits.

    Notes
    -----
    ``sha256(f"{a.dtype.str}|{a.shape}|".encode() + a.tobytes(order="C"))``; the dtype string
    includes the byte order (``"|u1"``, ``"<i4"``), so uint8 and int32 labels differ.

    Examples
    --------
    >>> pixel_sha256(np.zeros((2, 2), dtype=np.uint8))[:16]
    '34269f0c6fc4f298'
    """
    a = np.ascontiguousarray(array)
    digest = hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode())
    digest.update(a.tobytes())
    return digest.hexdigest()


def read_grades(path) -> dict[str, str]:
    """Read the GlaS grade of every image from ``Grade.csv``.

    Parameters
    ----------
    path : str or path-like
        The ``Grade.csv`` of the release. Its lines end in CR (old Mac style) and every comma is
        followed by a space; both are handled, as are LF and CRLF line ends.

    Returns
    -------
    grades : dict of str to str
        Image name (e.g. ``"train_1"``) to ``"benign"`` or ``"malignant"`` (column
        ``grade (GlaS)``, lower-cased), in file order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the columns ``name`` and ``grade (GlaS)`` are missing, a grade is neither benign nor
        malignant, a row is short, or a name appears twice.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the GlaS grades file is missing. {_GET_DATA}.")
    # newline="" lets the csv module see the bare CR line ends; fields are stripped because the
    # release puts a space after every comma (" grade (GlaS)", " benign").
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = [[field.strip() for field in row] for row in csv.reader(fh)]
    rows = [(number, row) for number, row in enumerate(rows, start=1) if any(row)]
    if not rows:
        raise ValueError(f"{path} is empty; expected the GlaS Grade.csv with one row per image. {_GET_DATA}.")
    header = rows[0][1]
    lowered = [field.lower() for field in header]
    try:
        i_name, i_grade = (lowered.index(column.lower()) for column in GRADE_COLUMNS)
    except ValueError:
        raise ValueError(
            f"{path} has the columns {header}; expected the GlaS Grade.csv with the columns "
            f"{list(GRADE_COLUMNS)}. {_GET_DATA}."
        ) from None
    grades: dict[str, str] = {}
    for number, row in rows[1:]:
        if len(row) <= max(i_name, i_grade):
            raise ValueError(
                f"{path}, line {number}: {row} has too few fields; expected {list(GRADE_COLUMNS)}."
            )
        name, grade = row[i_name], row[i_grade].lower()
        if grade not in GRADES:
            raise ValueError(
                f"{path}, line {number}: grade {row[i_grade]!r} for {name}; expected one of {list(GRADES)}."
            )
        if name in grades:
            raise ValueError(f"{path}, line {number}: {name} appears twice; expected one row per image.")
        grades[name] = grade
    return grades


# ----------------------------------------------------------------------------------------------
# Validation and loading


def validate(root=None, *, splits=SPLITS, checksums=True) -> Path:
    """Check a GlaS copy before any long work and return the folder that holds it.

    Parameters
    ----------
    root : str or path-like, optional
        Data folder (see :func:`data_root`); the files may also sit in a subfolder up to two
        levels down, as in the official zip.
    splits : sequence of str, optional
        Splits to check, from ``"train"`` (85 images), ``"testA"`` (60) and ``"testB"`` (20).
    checksums : bool, optional
        If True (default), decode every file and compare its pixels with the checksums of the
        official release shipped in the package (a few seconds for all 330 files). If False,
        check names, counts, ``Grade.csv`` and the file headers (format, channels, bit depth,
        size) only, without decoding pixels.

    Returns
    -------
    folder : Path
        The folder that holds the files (``root`` or the subfolder found in it).

    Raises
    ------
    FileNotFoundError
        If the folder, ``Grade.csv``, an image or an annotation is missing.
    ValueError
        At the first bad file: unreadable, not 8-bit RGB (images), not single-channel integer
        (annotations), annotation and image of different sizes, pixels that differ from the
        release, unknown or extra files, or a bad ``Grade.csv``. Also for an unknown split.

    Notes
    -----
    The message always names the file, says what was expected and how to get a good copy.
    :func:`load_split` runs the same checks on the arrays it loads, so there is no need to call
    both.
    """
    splits = _check_splits(splits)
    folder, pairs, _ = _survey(root, splits, verify=checksums)
    if checksums:
        manifest = _manifest()
        for _, image_path, anno_path in pairs:
            _decode(image_path, "image", manifest)
            _decode(anno_path, "instance_label", manifest)
    return folder


def load_split(split, root=None, *, verify=True) -> list[Sample]:
    """Load one GlaS split with its instance labels and grades.

    Parameters
    ----------
    split : {"train", "testA", "testB"}
        Which split: 85, 60 or 20 images.
    root : str or path-like, optional
        Data folder (see :func:`data_root`).
    verify : bool, optional
        If True (default), compare the pixels of every loaded file with the checksums of the
        official release. Format, size and pairing are checked either way.

    Returns
    -------
    samples : list of Sample
        In numeric order (``train_1``, ``train_2``, ..., ``train_10``, ...). ``image`` is
        (H, W, 3) uint8 RGB, ``labels`` (H, W) int32 with 0 as background and one positive
        integer per gland, ``grade`` ``"benign"`` or ``"malignant"``.

    Raises
    ------
    FileNotFoundError
        If the folder, ``Grade.csv``, an image or an annotation is missing.
    ValueError
        For an unknown split or a bad file (see :func:`validate`).

    Notes
    -----
    Names, counts, grades and file headers of the whole split are checked before the first
    pixel is decoded; each file is then decoded once and checked as it is loaded.
    """
    if split not in SPLIT_SIZES:
        raise ValueError(f"split must be one of {list(SPLITS)}. Received: split={split!r}")
    _, pairs, grades = _survey(root, (split,), verify=verify)
    manifest = _manifest() if verify else None
    samples = []
    for stem, image_path, anno_path in pairs:
        image = _decode(image_path, "image", manifest)
        labels = _decode(anno_path, "instance_label", manifest)
        samples.append(Sample(stem, image, labels.astype(np.int32), grades[stem]))
    return samples


def _check_splits(splits) -> tuple[str, ...]:
    received = splits
    if isinstance(splits, str):
        splits = (splits,)
    splits = tuple(splits)
    if not splits or any(s not in SPLIT_SIZES for s in splits):
        raise ValueError(f"splits must be among {list(SPLITS)}. Received: splits={received!r}")
    return splits


def _resolve_root(root) -> tuple[Path, str]:
    """The data root and where it came from (for error messages)."""
    if root is not None:
        return Path(root).expanduser(), "given as root"
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser(), f"from ${DATA_ENV}"
    import platformdirs  # only needed for the default location

    return Path(platformdirs.user_data_dir("glandseg")) / "glas", "the default data folder"


def _survey(root, splits, *, verify):
    """Cheap checks of a whole copy before pixels are decoded.

    Returns the folder, the (stem, image path, annotation path) of every sample of ``splits`` in
    numeric order, and the grades.
    """
    root, origin = _resolve_root(root)
    folder = _find_data_dir(root, origin)
    files = _index_folder(folder)
    pairs = _check_layout(folder, files, splits)
    grade_path = folder / GRADE_FILE
    if not grade_path.is_file():
        raise FileNotFoundError(
            f"{grade_path} not found: the GlaS grades file is missing beside the images in "
            f"{folder}. {_GET_DATA}."
        )
    grades = read_grades(grade_path)
    for stem, _, _ in pairs:
        if stem not in grades:
            raise ValueError(
                f"{grade_path} has no row for {stem}; expected the official Grade.csv with one row "
                f"per image ({sum(SPLIT_SIZES.values())} rows). {_GET_DATA}."
            )
    manifest = _manifest() if verify else None
    for stem, image_path, anno_path in pairs:
        size = _probe(image_path, "image", manifest)
        anno_size = _probe(anno_path, "instance_label", manifest)
        if anno_size != size:
            raise ValueError(
                f"{anno_path} is {anno_size[0]}x{anno_size[1]} pixels but its image {image_path.name} is "
                f"{size[0]}x{size[1]}; an annotation must have the size of its image. {_GET_FRESH}."
            )
    return folder, pairs, grades


def _find_data_dir(root: Path, origin: str) -> Path:
    """``root`` or the one folder below it (up to two levels) that holds GlaS files."""
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"GlaS data folder {root} ({origin}) {what}. {_GET_DATA}.")
    level = [root]
    for _ in range(_SEARCH_DEPTH + 1):
        found = [folder for folder in level if _holds_glas(folder)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = ", ".join(str(f) for f in found)
            raise ValueError(
                f"{root} ({origin}) holds GlaS files in several folders: {listed}. Keep one copy, "
                f"or pass the one to use as root or GLANDSEG_DATA."
            )
        level = [sub for folder in level for sub in _subfolders(folder)]
    raise FileNotFoundError(
        f"no GlaS files in {root} ({origin}): expected {GRADE_FILE} with train_1.bmp or "
        f"train_1.png, ... there or in a subfolder. {_GET_DATA}."
    )


def _subfolders(folder: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:  # unreadable folders are not where the data is
        return []
    return [Path(e.path) for e in entries if e.is_dir() and not _skipped(e.name)]


def _skipped(name: str) -> bool:
    # macOS zips carry "__MACOSX/._train_1.bmp" resource forks that are not images.
    return name.startswith(".") or name == "__MACOSX"


def _is_glas_name(name: str) -> bool:
    stem, suffix = os.path.splitext(name)
    return name == GRADE_FILE or (suffix.lower() in IMAGE_SUFFIXES and _STEM_RE.match(stem) is not None)


def _holds_glas(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(e.is_file() and not _skipped(e.name) and _is_glas_name(e.name) for e in entries)
    except OSError:
        return False


def _index_folder(folder: Path) -> dict[str, Path]:
    """Stem (``train_1``, ``train_1_anno``) to file, for the GlaS images of a flat folder."""
    files: dict[str, Path] = {}
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file() or _skipped(entry.name) or entry.name == GRADE_FILE:
            continue
        if _is_glas_name(entry.name):
            stem = os.path.splitext(entry.name)[0]
            if stem in files:
                raise ValueError(
                    f"{folder} holds both {files[stem].name} and {entry.name}; expected one copy of "
                    f"each file. Keep one format (all .bmp or all .png) and delete the other."
                )
            files[stem] = Path(entry.path)
    return files


def _check_layout(folder: Path, files: dict[str, Path], splits) -> list[tuple[str, Path, Path]]:
    """Every split complete (N images, each with its annotation), nothing extra."""
    pairs = []
    for split in splits:
        n = SPLIT_SIZES[split]
        stems = [f"{split}_{i}" for i in range(1, n + 1)]
        expected = {s for stem in stems for s in (stem, stem + "_anno")}
        missing = [s for stem in stems for s in (stem, stem + "_anno") if s not in files]
        if missing:
            listed = ", ".join(missing[:_MAX_LISTED])
            if len(missing) > _MAX_LISTED:
                listed += f" and {len(missing) - _MAX_LISTED} more"
            raise FileNotFoundError(
                f"GlaS {split} in {folder} is incomplete: missing {listed} (as .bmp or .png). "
                f"Expected {n} images {split}_1..{split}_{n}, each with its _anno annotation. {_GET_DATA}."
            )
        extra = sorted(
            (s for s in files if _STEM_RE.match(s).group(1) == split and s not in expected),
            key=_numeric_key,
        )
        if extra:
            raise ValueError(
                f"{files[extra[0]]} is not part of GlaS {split}, which has {n} images "
                f"{split}_1..{split}_{n}. Remove it (and any other extra file) from {folder}."
            )
        pairs += [(stem, files[stem], files[stem + "_anno"]) for stem in stems]
    return pairs


def _numeric_key(stem: str):
    split, index, anno = _STEM_RE.match(stem).groups()
    return split, int(index), bool(anno)


# ----------------------------------------------------------------------------------------------
# Files


@contextlib.contextmanager
def _open_image(path: Path):
    """Open ``path`` with Pillow (header only) and yield the image and its PNG bit depth."""
    from PIL import Image

    with open(path, "rb") as fh:
        head = fh.read(26)
        fh.seek(0)
        try:
            image = Image.open(fh, formats=("PNG", "BMP"))
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(
                f"{path} cannot be read as a PNG or BMP image ({err}); the file is damaged or not "
                f"an image. {_GET_FRESH}."
            ) from None
        # Pillow silently drops the low byte of 16-bit RGB PNGs, so the bit depth is read from
        # the PNG header (IHDR: byte 24) to catch them. BMP files have no 16-bit channels.
        depth = head[24] if head.startswith(_PNG_SIGNATURE) and len(head) > 24 else 8
        with image:
            yield image, depth


def _check_format(path: Path, image, depth: int, kind: str) -> None:
    mode = image.mode
    if kind == "image":
        if mode == "RGB" and depth == 8:
            return
        if mode == "RGB":
            got = f"a {depth}-bit RGB image"
        elif mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
            got = f"a gray image (Pillow mode {mode!r}, bit depth {depth})"
        else:
            got = f"Pillow mode {mode!r}"
        raise ValueError(
            f"{path} is {got}; expected an 8-bit RGB image, (H, W, 3) uint8, as in the GlaS "
            f"release. {_GET_FRESH}."
        )
    # Annotations: one channel of integers. Palette ("P") images count, as their indices are the
    # labels; the official 8-bit BMPs have an identity grey palette that Pillow reads as "L".
    if mode in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        return
    if mode in ("RGB", "RGBA", "LA", "PA", "CMYK", "YCbCr"):
        got = f"has {len(image.getbands())} channels (Pillow mode {mode!r})"
    elif mode == "F":
        got = "holds floating-point values (Pillow mode 'F')"
    elif mode == "1":
        got = "is a 1-bit (binary) image"
    else:
        got = f"has Pillow mode {mode!r}"
    raise ValueError(
        f"{path} {got}; expected a single-channel integer label image, (H, W) with 0 as background "
        f"and one positive integer per gland, as in the GlaS release. {_GET_FRESH}."
    )


def _probe(path: Path, kind: str, manifest) -> tuple[int, int]:
    """Check a file's header (no pixel decoding) and return its (width, height)."""
    with _open_image(path) as (image, depth):
        _check_format(path, image, depth, kind)
        size = image.size
    if manifest is not None:
        entry = manifest[_stem(path)]
        if size != (entry.width, entry.height):
            raise ValueError(
                f"{path} is {size[0]}x{size[1]} pixels but the GlaS release has {entry.width}x"
                f"{entry.height} for {entry.name}; the file does not match the GlaS release "
                f"(resized, or from another data set). {_GET_FRESH}."
            )
    return size


def _decode(path: Path, kind: str, manifest) -> np.ndarray:
    """Decode one file, check its format and (with a manifest) its pixel checksum."""
    with _open_image(path) as (image, depth):
        _check_format(path, image, depth, kind)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as err:
            raise ValueError(
                f"{path} is damaged: its pixels cannot be decoded ({err}). {_GET_FRESH}."
            ) from None
        array = np.array(image)
    if kind == "instance_label":
        if array.min() < 0:
            raise ValueError(
                f"{path} has negative labels (minimum {array.min()}); expected 0 for background and "
                f"positive integers for glands. {_GET_FRESH}."
            )
        # The manifest hashes uint8 label maps (the largest GlaS label is 32); a 16- or 32-bit
        # copy with the same values must verify too.
        if array.dtype != np.uint8 and array.max() <= 255:
            array = array.astype(np.uint8)
    if manifest is not None:
        entry = manifest[_stem(path)]
        digest = pixel_sha256(array)
        if digest != entry.pixel_sha256:
            raise ValueError(
                f"{path}: pixels do not match the GlaS release (pixel sha256 {digest[:12]}..., "
                f"expected {entry.pixel_sha256[:12]}...); the file is damaged, edited or from "
                f"another data set. {_GET_FRESH}."
            )
    return array


def _stem(path: Path) -> str:
    return os.path.splitext(path.name)[0]


@lru_cache(maxsize=1)
def _manifest() -> dict[str, _Entry]:
    """The packaged checksums: stem (``train_1``, ``train_1_anno``) to its manifest row."""
    text = importlib.resources.files("glandseg").joinpath(MANIFEST_NAME).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    rows = csv.DictReader(lines, delimiter="\t")
    return {
        row["name"]: _Entry(
            row["name"], row["split"], row["kind"], int(row["width"]), int(row["height"]),
            int(row["n_glands"]), row["pixel_sha256"],
        )
        for row in rows
    }


# ----------------------------------------------------------------------------------------------
# Download


def download(dest=None, source=None, *, url=GLAS_URL, known_hash=None, progress=True) -> Path:
    """Fetch or import the GlaS data, verify every file and return the folder.

    Parameters
    ----------
    dest : str or path-like, optional
        Where the files go, flat (``train_1.bmp``, ..., ``Grade.csv``); created if needed.
        Default: :func:`data_root` (``$GLANDSEG_DATA`` or the user data folder).
    source : str or path-like, optional
        A GlaS zip or folder you already have (the official zip, or the Kaggle mirror
        ``sani84/glasmiccai2015-gland-segmentation``; files may be nested in subfolders, BMP or
        PNG). When None, the zip is downloaded from ``url``.
    url : str, optional
        Where to download the zip from (``http(s)``, ``ftp`` or ``file://``). Default
        :data:`GLAS_URL`, the Warwick TIA GlaS contest page.
    known_hash : str, optional
        Checksum of the zip for pooch (e.g. ``"sha256:..."``). The organisers publish none, so
        the default skips it; every extracted file is verified against the packaged pixel
        checksums anyway.
    progress : bool, optional
        Show progress bars (tqdm) for the download and the extraction.

    Returns
    -------
    folder : Path
        ``dest``, now holding the verified 330 images and annotations and ``Grade.csv``.

    Raises
    ------
    FileNotFoundError
        If ``source`` does not exist or holds no GlaS files, the download fails (no internet,
        wrong URL), or files are missing after extraction.
    ValueError
        If ``source`` is neither a zip nor a folder, holds two copies of a file, ``dest`` holds
        the files in the other format, the zip does not match ``known_hash``, or a file does not
        match the release (see :func:`validate`).

    Notes
    -----
    Only the images, annotations and ``Grade.csv`` are taken; everything else in the zip or
    folder (``__MACOSX`` entries, readme files) is left out. Without ``source``, a ``dest``
    that already holds a verified copy is returned as is.
    """
    dest = data_root(dest)
    if source is None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme == "file":
            # pooch has no file:// downloader; a local file is imported like --from.
            source = urllib.request.url2pathname(parsed.path)
        else:
            if (dest / GRADE_FILE).is_file():
                with contextlib.suppress(ValueError, FileNotFoundError):
                    return validate(dest)
            created = not dest.exists()
            dest.mkdir(parents=True, exist_ok=True)
            try:
                with tempfile.TemporaryDirectory(prefix=".download-", dir=dest) as tmp:
                    archive = _fetch(url, known_hash, Path(tmp), progress)
                    _import(archive, dest, progress)
            except BaseException:
                if created and not any(dest.iterdir()):
                    dest.rmdir()  # leave no empty folder behind a failed download
                raise
            return _verify_imported(dest, url)
    source = Path(source).expanduser()
    if known_hash is not None and source.is_file():
        _check_hash(source, known_hash)
    _import(source, dest, progress)
    return _verify_imported(dest, source)


def _fetch(url: str, known_hash, folder: Path, progress: bool) -> Path:
    import pooch

    fname = Path(urllib.parse.urlparse(url).path).name or GLAS_ZIP_NAME
    try:
        path = pooch.retrieve(url, known_hash=known_hash, fname=fname, path=folder, progressbar=progress)
    except OSError as err:  # requests and ftplib errors: no network, 404, refused connection
        raise FileNotFoundError(
            f"could not download the GlaS data from {url} ({type(err).__name__}: {err}). Check the "
            f"internet connection, or download {GLAS_ZIP_NAME} yourself (GlaS contest page, or the "
            f"Kaggle mirror sani84/glasmiccai2015-gland-segmentation) and run "
            f"`glandseg download --from PATH`."
        ) from None
    except ValueError as err:  # pooch: known_hash mismatch, unsupported URL scheme
        raise ValueError(f"download of {url} failed: {err}") from None
    return Path(path)


def _check_hash(path: Path, known_hash: str) -> None:
    import pooch

    algorithm, _, expected = known_hash.rpartition(":")
    digest = pooch.file_hash(str(path), alg=(algorithm or "sha256").lower())
    if digest != expected.lower():
        raise ValueError(
            f"{path} does not match known_hash={known_hash!r} (got {digest}); the zip is damaged "
            f"or another file. Download it again."
        )


def _import(source: Path, dest: Path, progress: bool) -> None:
    """Copy the GlaS files of a zip or folder (at any depth) flat into ``dest``."""
    if not source.exists():
        raise FileNotFoundError(
            f"{source} does not exist; pass the GlaS zip ({GLAS_ZIP_NAME}) or the folder it was "
            f"unpacked to, e.g. `glandseg download --from ~/Downloads/{GLAS_ZIP_NAME}`."
        )
    if source.is_dir():
        if not _same_folder(source, dest):  # else already in place: only verify
            _copy_members(_folder_members(source), lambda path: open(path, "rb"), source, dest, progress)
        return
    if not zipfile.is_zipfile(source):
        raise ValueError(
            f"{source} is neither a folder nor a zip archive; expected the GlaS zip "
            f"({GLAS_ZIP_NAME}) or a folder holding its files."
        )
    try:
        with zipfile.ZipFile(source) as archive:
            _copy_members(_zip_members(archive, source), archive.open, source, dest, progress)
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise ValueError(f"{source} is a damaged zip ({err}). Download it again.") from None


def _folder_members(source: Path) -> dict:
    members: dict = {}
    for folder, subfolders, names in os.walk(source):
        subfolders[:] = sorted(s for s in subfolders if not _skipped(s))
        for name in sorted(names):
            if not _skipped(name) and _is_glas_name(name):
                _add_member(members, name, Path(folder) / name, source)
    return members


def _zip_members(archive: zipfile.ZipFile, source: Path) -> dict:
    members: dict = {}
    for info in archive.infolist():
        parts = info.filename.replace("\\", "/").split("/")
        # Only the base name is used, so member paths with ".." cannot write outside dest.
        if info.is_dir() or any(_skipped(part) for part in parts) or not _is_glas_name(parts[-1]):
            continue
        _add_member(members, parts[-1], info, source)
    return members


def _add_member(members: dict, name: str, member, source: Path) -> None:
    if name in members:
        first = getattr(members[name], "filename", members[name])
        second = getattr(member, "filename", member)
        raise ValueError(
            f"{source} holds two copies of {name}: {first} and {second}. Point --from (source=) "
            f"at the folder of one copy."
        )
    members[name] = member


def _copy_members(members: dict, opener, source: Path, dest: Path, progress: bool) -> None:
    if not members:
        raise FileNotFoundError(
            f"no GlaS files in {source}: expected {GRADE_FILE}, train_1.bmp (or .png), "
            f"train_1_anno.bmp, ... at any depth. Is it the GlaS release?"
        )
    dest.mkdir(parents=True, exist_ok=True)
    _check_conflicts(members, dest)
    items = sorted(members.items())
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, desc=f"copying GlaS files to {dest}", unit="file")
    for name, member in items:
        with opener(member) as src, open(dest / name, "wb") as dst:
            shutil.copyfileobj(src, dst)


def _check_conflicts(members: dict, dest: Path) -> None:
    """Refuse to mix formats: ``train_1.png`` beside an incoming ``train_1.bmp``."""
    for name in members:
        stem, suffix = os.path.splitext(name)
        for other in IMAGE_SUFFIXES:
            if other != suffix.lower() and (dest / (stem + other)).exists():
                raise ValueError(
                    f"{dest} already holds {stem + other} and would also get {name}; expected one "
                    f"format. Use an empty folder as --dest (dest=), or delete the old copy first."
                )


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.resolve() == b.resolve()
    except OSError:
        return False


def _verify_imported(dest: Path, origin) -> Path:
    try:
        return validate(dest)
    except (ValueError, FileNotFoundError) as err:
        raise type(err)(f"{err} (The files were taken from {origin} into {dest}.)") from None


# ----------------------------------------------------------------------------------------------
# Finding the data and describing the annotations (for the book)


def find_data(root=None):
    """The GlaS folder if a usable copy is there, else None (never raises for missing data).

    Parameters
    ----------
    root : str or path-like, optional
        Data folder (see :func:`data_root`): ``root``, else ``$GLANDSEG_DATA``, else the user
        data folder.

    Returns
    -------
    folder : Path or None
        The folder that holds the files (as :func:`validate` returns it) when names, counts,
        ``Grade.csv`` and file headers of all three splits check out; None when the data is
        missing or incomplete. Pixels are not decoded here (:func:`load_split` verifies them).

    Notes
    -----
    For pages and notebooks that show GlaS images when they can and say how to get the data
    (``glandseg download``) when they cannot. Code that needs the data should call
    :func:`validate` or :func:`load_split`, whose errors say what is wrong.

    Examples
    --------
    >>> find_data("/no/such/folder") is None
    True
    """
    try:
        return validate(root, checksums=False)
    except (FileNotFoundError, ValueError):
        return None


def _split_of(name: str):
    """``train`` for ``train_3``; the prefix before the last ``_`` for other names, else None."""
    match = _STEM_RE.match(name)
    if match:
        return match.group(1)
    prefix, sep, _ = name.rpartition("_")
    return prefix if sep and prefix else None


def _label_table(labels: np.ndarray, connectivity: int):
    """Per-label area, number of connected pieces and border contact of one label map.

    Returns ``(values, area, pieces, border)``: the non-zero label values present, in
    increasing order, and three arrays aligned with them.
    """
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be an (H, W) integer label map (0 = background). "
            f"Received: shape {labels.shape}, dtype {labels.dtype}"
        )
    if labels.size and labels.min() < 0:
        raise ValueError(f"labels must be non-negative. Received: minimum {labels.min()}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 (4-connected) or 2 (8-connected). Received: {connectivity!r}")
    flat = labels.ravel().astype(np.int64)
    counts = np.bincount(flat)
    values = np.flatnonzero(counts)
    values = values[values > 0]
    area = counts[values]
    edge = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    border = np.isin(values, edge)
    structure = ndi.generate_binary_structure(2, connectivity)
    boxes = ndi.find_objects(flat.reshape(labels.shape))
    pieces = np.array(
        [ndi.label(labels[boxes[v - 1]] == v, structure=structure)[1] for v in values], dtype=np.int64
    )
    return values, area, pieces, border


def gland_stats(samples, *, connectivity=2):
    """One row per annotated gland: image, split, grade, area and shape oddities.

    Parameters
    ----------
    samples : iterable of Sample
        E.g. ``load_split("train")``; the split is read from the name (``train_3`` ->
        ``"train"``; ``synthetic_0`` -> ``"synthetic"``; None for a name without ``_``).
    connectivity : {1, 2}, keyword-only
        Pixel connectivity used to count the pieces of a gland (2 = 8-connected, default).

    Returns
    -------
    stats : dict of str to ndarray
        Equal-length columns, one entry per (image, label): ``name`` (str), ``split`` (str or
        None, object), ``grade`` (str or None, object), ``label`` (int64, the label value),
        ``area_px`` (int64, pixels carrying the label), ``pieces`` (int64, connected components
        of the label) and ``touches_border`` (bool, some pixel on the image's outer rows or
        columns). Rows follow the samples, then increasing label value.

    Raises
    ------
    ValueError
        If a sample's labels are not a non-negative (H, W) integer map, or ``connectivity``
        is not 1 or 2.

    Examples
    --------
    >>> labels = np.array([[1, 1, 0, 0],
    ...                    [0, 0, 0, 3],
    ...                    [3, 0, 0, 0]], dtype=np.int32)
    >>> rows = gland_stats([Sample("train_7", np.zeros((3, 4, 3), np.uint8), labels, "benign")])
    >>> rows["label"].tolist(), rows["area_px"].tolist(), rows["pieces"].tolist()
    ([1, 3], [2, 2], [1, 2])
    >>> rows["split"].tolist(), rows["touches_border"].tolist()
    (['train', 'train'], [True, True])
    """
    columns = {key: [] for key in ("name", "split", "grade", "label", "area_px", "pieces", "touches_border")}
    for sample in samples:
        values, area, pieces, border = _label_table(sample.labels, connectivity)
        n = len(values)
        columns["name"] += [sample.name] * n
        columns["split"] += [_split_of(sample.name)] * n
        columns["grade"] += [sample.grade] * n
        columns["label"] += values.tolist()
        columns["area_px"] += area.tolist()
        columns["pieces"] += pieces.tolist()
        columns["touches_border"] += border.tolist()
    return {
        "name": np.array(columns["name"], dtype=object),
        "split": np.array(columns["split"], dtype=object),
        "grade": np.array(columns["grade"], dtype=object),
        "label": np.array(columns["label"], dtype=np.int64),
        "area_px": np.array(columns["area_px"], dtype=np.int64),
        "pieces": np.array(columns["pieces"], dtype=np.int64),
        "touches_border": np.array(columns["touches_border"], dtype=bool),
    }


#: Kinds of annotation oddity that :func:`annotation_oddities` reports.
ODDITIES = ("missing_label", "several_pieces", "tiny", "touches_border")


def annotation_oddities(samples, *, tiny_px=50, connectivity=2):
    """Find the irregularities of instance annotations that matter for object-level metrics.

    Parameters
    ----------
    samples : iterable of Sample
        Images with their instance label maps.
    tiny_px : int, keyword-only
        A label covering fewer pixels than this is reported as ``"tiny"`` (default 50; GlaS
        glands are hundreds to tens of thousands of pixels).
    connectivity : {1, 2}, keyword-only
        Connectivity for counting pieces (2 = 8-connected, default).

    Returns
    -------
    rows : list of dict
        One dict per finding, ``{"name", "split", "grade", "label", "kind", "value"}``, in
        sample order, where ``kind`` is one of :data:`ODDITIES`:

        * ``"missing_label"``: the label values are not ``1..max`` without gaps; ``label`` is
          the missing value, ``value`` the largest label of the image;
        * ``"several_pieces"``: the label is split into ``value`` > 1 connected pieces;
        * ``"tiny"``: the label covers ``value`` < ``tiny_px`` pixels;
        * ``"touches_border"``: the gland reaches the image border (it is cut by the field of
          view), ``value`` its area in pixels.

    Raises
    ------
    ValueError
        If a label map is not a non-negative (H, W) integer map, ``tiny_px`` is not a
        non-negative integer, or ``connectivity`` is not 1 or 2.

    Notes
    -----
    A gland in several pieces is one ground-truth object for the GlaS metrics but several
    objects for a segmentation that labels connected components, so it can cost an F1 match;
    a tiny label is a ground-truth object that no reasonable post-processing keeps.

    Examples
    --------
    >>> labels = np.array([[1, 0, 4, 4],
    ...                    [0, 0, 0, 0],
    ...                    [1, 0, 0, 0]], dtype=np.int32)
    >>> rows = annotation_oddities([Sample("testB_2", np.zeros((3, 4, 3), np.uint8), labels)], tiny_px=2)
    >>> sorted((r["kind"], r["label"], r["value"]) for r in rows if r["kind"] != "touches_border")
    [('missing_label', 2, 4), ('missing_label', 3, 4), ('several_pieces', 1, 2)]
    """
    if isinstance(tiny_px, bool) or not isinstance(tiny_px, (int, np.integer)) or tiny_px < 0:
        raise ValueError(f"tiny_px must be a non-negative integer. Received: tiny_px={tiny_px!r}")
    rows = []
    for sample in samples:
        values, area, pieces, border = _label_table(sample.labels, connectivity)
        base = {"name": sample.name, "split": _split_of(sample.name), "grade": sample.grade}
        top = int(values[-1]) if len(values) else 0
        for missing in np.setdiff1d(np.arange(1, top + 1), values):
            rows.append({**base, "label": int(missing), "kind": "missing_label", "value": top})
        for v, a, p, b in zip(values.tolist(), area.tolist(), pieces.tolist(), border.tolist()):
            if p > 1:
                rows.append({**base, "label": v, "kind": "several_pieces", "value": p})
            if a < tiny_px:
                rows.append({**base, "label": v, "kind": "tiny", "value": a})
            if b:
                rows.append({**base, "label": v, "kind": "touches_border", "value": a})
    return rows
