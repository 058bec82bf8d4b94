"""Tests for glandseg.data: GlaS loading, validation, checksums and download.

Expectations come from outside the code under test: the GlaS paper and the shared copy's
SOURCE.md (counts, grades, gland totals, image sizes), hashlib, a direct Pillow decode and an
independent parse of Grade.csv and MANIFEST.tsv. Synthetic folders made in tmp_path exercise
every error without the real data; copies of real GlaS files only ever go to tmp_path.
"""

from __future__ import annotations

import collections
import csv
import functools
import hashlib
import http.server
import importlib.resources
import io
import re
import struct
import threading
import tomllib
import zipfile
import zlib
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from PIL import Image

from glandseg import data
from glandseg.cli import main as cli_main

# Published GlaS numbers (Sirinukunwattana et al. 2017, Table 1; ../shared/data/glas/SOURCE.md).
COUNTS = {"train": 85, "testA": 60, "testB": 20}
GRADE_COUNTS = {
    "train": {"benign": 37, "malignant": 48},
    "testA": {"benign": 33, "malignant": 27},
    "testB": {"benign": 4, "malignant": 16},
}
GLAND_TOTALS = {"train": 769, "testA": 666, "testB": 95}
SIZE_COUNTS = {(522, 775): 151, (453, 589): 8, (442, 581): 2, (433, 578): 1, (433, 574): 2, (430, 567): 1}
RELEASE_FOLDER = "Warwick QU Dataset (Released 2016_07_08)"
GRADE_HEADER = "name,patient ID, grade (GlaS), grade (Sirinukunwattana et al. 2015)"
FIX = "glandseg download"


# ----------------------------------------------------------------------------------------------
# Helpers


def write_grades(path: Path, rows, line_end="\r") -> None:
    """A Grade.csv like the release's: CR line ends and a space after each comma."""
    lines = [GRADE_HEADER] + [f"{name},{i}, {grade}, whatever" for i, (name, grade) in enumerate(rows)]
    path.write_bytes((line_end.join(lines) + line_end).encode())


def synthetic_grade(index: int) -> str:
    return "benign" if index % 2 else "malignant"


def synthetic_pair(index: int, shape=(4, 6)):
    """A tiny RGB image and a label map with two glands whose second label depends on index."""
    rng = np.random.default_rng(index)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    labels = np.zeros(shape, np.uint8)
    labels[1:3, 1:3] = 1
    labels[0, -1] = 2 + index % 3
    return image, labels


def make_glas(folder: Path, splits=("testB",), *, suffix=".png", shapes=None) -> Path:
    """A complete synthetic copy (all files of ``splits``, Grade.csv for all of them)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for split in splits:
        for i in range(1, COUNTS[split] + 1):
            name = f"{split}_{i}"
            shape = shapes[name] if shapes else (4, 6)
            image, labels = synthetic_pair(i, shape)
            Image.fromarray(image).save(folder / f"{name}{suffix}")
            Image.fromarray(labels).save(folder / f"{name}_anno{suffix}")
            rows.append((name, synthetic_grade(i)))
    write_grades(folder / "Grade.csv", rows)
    return folder


def png_16bit_rgb(array: np.ndarray) -> bytes:
    """A 48-bit RGB PNG written by hand (Pillow cannot write one)."""
    h, w, _ = array.shape
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(h))

    def chunk(tag, payload):
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def sha(array) -> str:
    a = np.ascontiguousarray(array)
    return hashlib.sha256(f"{a.dtype.str}|{a.shape}|".encode() + a.tobytes()).hexdigest()


def packaged_manifest() -> list[dict]:
    text = importlib.resources.files("glandseg").joinpath("glas_manifest.tsv").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter="\t"))


def zip_folder(folder: Path, archive: Path, prefix: str = RELEASE_FOLDER, junk: bool = True) -> Path:
    """Zip a folder's files under ``prefix/`` like the official release (with macOS junk)."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"{prefix}/{path.name}")
        if junk:
            zf.writestr(f"__MACOSX/{prefix}/._train_1.bmp", b"\x00\x05\x16\x07 not an image")
            zf.writestr(f"{prefix}/readme.txt", "not data")
    return archive


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    """Serve tmp_path/served on 127.0.0.1; yields (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never send local requests to a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

    handler = functools.partial(Handler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def testb(tmp_path) -> Path:
    """A synthetic, structurally valid testB folder (no GlaS pixels)."""
    return make_glas(tmp_path / "glas")


# ----------------------------------------------------------------------------------------------
# Small public helpers


def test_pixel_sha256_matches_hand_computed_digest():
    a = np.zeros((2, 2), np.uint8)
    expected = hashlib.sha256(b"|u1|(2, 2)|" + bytes(4)).hexdigest()
    assert data.pixel_sha256(a) == expected


def test_pixel_sha256_depends_on_dtype_shape_and_values():
    a = np.arange(6, dtype=np.uint8).reshape(2, 3)
    digests = {
        data.pixel_sha256(a),
        data.pixel_sha256(a.astype(np.int32)),
        data.pixel_sha256(a.reshape(3, 2)),
        data.pixel_sha256(a + 1),
    }
    assert len(digests) == 4
    # Memory layout must not matter: the C-order bytes are hashed.
    assert data.pixel_sha256(np.asfortranarray(a)) == data.pixel_sha256(a)


@pytest.mark.parametrize("line_end", ["\r", "\n", "\r\n"])
def test_read_grades_handles_cr_line_ends_and_spaces(tmp_path, line_end):
    path = tmp_path / "Grade.csv"
    write_grades(path, [("testA_1", "benign"), ("testA_2", "malignant"), ("train_10", "Benign")], line_end)
    assert data.read_grades(path) == {"testA_1": "benign", "testA_2": "malignant", "train_10": "benign"}


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("name,patient ID, grade\rtrain_1,1, benign\r", "grade \\(GlaS\\)"),
        (GRADE_HEADER + "\rtrain_1,1, adenoma, x\r", "adenoma"),
        (GRADE_HEADER + "\rtrain_1,1\r", "too few fields"),
        (GRADE_HEADER + "\rtrain_1,1, benign, x\rtrain_1,1, benign, x\r", "twice"),
        ("", "empty"),
    ],
)
def test_read_grades_rejects_bad_files(tmp_path, content, match):
    path = tmp_path / "Grade.csv"
    path.write_bytes(content.encode())
    with pytest.raises(ValueError, match=match) as info:
        data.read_grades(path)
    assert str(path) in str(info.value)


def test_data_root_argument_then_env_then_user_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GLANDSEG_DATA", str(tmp_path / "env"))
    assert data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data.data_root() == tmp_path / "env"
    monkeypatch.delenv("GLANDSEG_DATA")
    assert data.data_root() == Path(platformdirs.user_data_dir("glandseg")) / "glas"


def test_packaged_manifest_lists_every_file_once():
    rows = packaged_manifest()
    assert list(rows[0]) == ["name", "split", "kind", "width", "height", "n_glands", "pixel_sha256"]
    names = {row["name"] for row in rows}
    expected = {f"{s}_{i}{tag}" for s, n in COUNTS.items() for i in range(1, n + 1) for tag in ("", "_anno")}
    assert len(rows) == 330 and names == expected
    assert all(re.fullmatch(r"[0-9a-f]{64}", row["pixel_sha256"]) for row in rows)
    assert len({row["pixel_sha256"] for row in rows}) == 330  # SOURCE.md: no two files alike
    for split, total in GLAND_TOTALS.items():
        images = [row for row in rows if row["split"] == split and row["kind"] == "image"]
        assert len(images) == COUNTS[split]
        assert sum(int(row["n_glands"]) for row in images) == total
    sizes = collections.Counter((int(r["height"]), int(r["width"])) for r in rows if r["kind"] == "image")
    assert sizes == SIZE_COUNTS


def test_manifest_is_package_data():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["glandseg"]
    assert any(fnmatch("glas_manifest.tsv", pattern) for pattern in patterns)


# ----------------------------------------------------------------------------------------------
# Synthetic folders: what loads, and every error


def test_load_split_synthetic_png_in_numeric_order(testb):
    samples = data.load_split("testB", testb, verify=False)
    assert [s.name for s in samples] == [f"testB_{i}" for i in range(1, 21)]
    for i, sample in enumerate(samples, start=1):
        image, labels = synthetic_pair(i)
        assert sample.image.dtype == np.uint8 and sample.image.shape == (4, 6, 3)
        assert sample.labels.dtype == np.int32 and sample.labels.shape == (4, 6)
        np.testing.assert_array_equal(sample.image, image)
        np.testing.assert_array_equal(sample.labels, labels)
        assert sample.grade == synthetic_grade(i)


def test_release_layout_bmp_in_subfolder(tmp_path):
    nested = make_glas(tmp_path / "root" / RELEASE_FOLDER, suffix=".bmp")
    assert data.validate(tmp_path / "root", splits=("testB",), checksums=False) == nested
    samples = data.load_split("testB", tmp_path / "root", verify=False)
    image, labels = synthetic_pair(7)
    np.testing.assert_array_equal(samples[6].image, image)
    np.testing.assert_array_equal(samples[6].labels, labels)


def test_root_from_environment(testb, monkeypatch):
    monkeypatch.setenv("GLANDSEG_DATA", str(testb))
    assert len(data.load_split("testB", verify=False)) == 20


def test_missing_data_folder_names_it_and_the_fix(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    monkeypatch.setenv("GLANDSEG_DATA", str(missing))
    with pytest.raises(FileNotFoundError) as info:
        data.load_split("train")
    message = str(info.value)
    assert str(missing) in message and "GLANDSEG_DATA" in message and FIX in message


def test_folder_without_glas_files(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileNotFoundError, match="no GlaS files") as info:
        data.validate(tmp_path)
    assert FIX in str(info.value)


def test_unknown_split():
    with pytest.raises(ValueError, match="split='testC'"):
        data.load_split("testC")
    with pytest.raises(ValueError, match="test"):
        data.validate(splits=("train", "test"))


def _remove(path):
    path.unlink()


def _garbage(path):
    path.write_bytes(b"this is not a PNG file")


def _truncate(path):
    image = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[:-40])  # header intact, pixel data cut short


def _wider(path):
    Image.fromarray(np.zeros((4, 7), np.uint8)).save(path)


def _gray(path):
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(path)


def _sixteen_bit_rgb(path):
    path.write_bytes(png_16bit_rgb(np.full((4, 6, 3), 1000, np.uint16)))


def _sixteen_bit_gray(path):
    Image.fromarray(np.full((4, 6), 1000, np.uint16)).save(path)


def _rgba(path):
    Image.fromarray(np.zeros((4, 6, 4), np.uint8)).save(path)


def _rgb(path):
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(path)


def _binary(path):
    Image.fromarray(np.zeros((4, 6), bool)).save(path)


BAD_FILES = {
    # case: (file to spoil, how, expected error, words the message must hold)
    "missing annotation": ("testB_7_anno.png", _remove, FileNotFoundError, ["testB_7_anno", "missing"]),
    "missing image": ("testB_12.png", _remove, FileNotFoundError, ["testB_12", "missing"]),
    "unreadable png": ("testB_3.png", _garbage, ValueError, ["testB_3.png", "cannot be read"]),
    "truncated png": ("testB_4.png", _truncate, ValueError, ["testB_4.png", "damaged"]),
    "wrong shape": ("testB_5_anno.png", _wider, ValueError, ["testB_5_anno.png", "7x4", "6x4"]),
    "gray image": ("testB_6.png", _gray, ValueError, ["testB_6.png", "gray", "RGB"]),
    "16-bit image": ("testB_8.png", _sixteen_bit_rgb, ValueError, ["testB_8.png", "16-bit", "8-bit RGB"]),
    "16-bit gray image": ("testB_9.png", _sixteen_bit_gray, ValueError, ["testB_9.png", "gray"]),
    "rgba image": ("testB_10.png", _rgba, ValueError, ["testB_10.png", "RGBA"]),
    "rgb annotation": (
        "testB_11_anno.png", _rgb, ValueError, ["testB_11_anno.png", "3 channels", "single-channel"]
    ),
    "binary annotation": ("testB_13_anno.png", _binary, ValueError, ["testB_13_anno.png", "binary"]),
    "missing Grade.csv": ("Grade.csv", _remove, FileNotFoundError, ["Grade.csv"]),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_gives_one_clear_error(testb, case):
    name, spoil, error, words = BAD_FILES[case]
    spoil(testb / name)
    with pytest.raises(error) as info:
        data.load_split("testB", testb, verify=False)
    message = str(info.value)
    assert type(info.value) is error
    for word in words:
        assert word in message
    assert FIX in message


def test_structure_is_checked_before_pixels_are_decoded(testb):
    # A bad header on the last file is reported before the truncated first file is decoded.
    _truncate(testb / "testB_1.png")
    _gray(testb / "testB_20.png")
    with pytest.raises(ValueError, match="testB_20.png"):
        data.load_split("testB", testb, verify=False)
    # validate without checksums reads headers only; with them, every file is decoded.
    _rgb(testb / "testB_20.png")
    _truncate(testb / "testB_1.png")
    assert data.validate(testb, splits=("testB",), checksums=False) == testb


def test_16bit_labels_with_small_values_are_accepted(testb):
    labels = np.zeros((4, 6), np.uint16)
    labels[2, 2] = 3
    Image.fromarray(labels).save(testb / "testB_2_anno.png")
    sample = data.load_split("testB", testb, verify=False)[1]
    np.testing.assert_array_equal(sample.labels, labels.astype(np.int32))


def test_extra_file_is_rejected(testb):
    _rgb(testb / "testB_21.png")
    with pytest.raises(ValueError, match="testB_21.png.*20 images"):
        data.load_split("testB", testb, verify=False)


def test_two_formats_of_one_file_are_rejected(testb):
    _rgb(testb / "testB_2.bmp")
    with pytest.raises(ValueError, match="testB_2.bmp"):
        data.load_split("testB", testb, verify=False)


def test_grade_row_missing(testb):
    write_grades(testb / "Grade.csv", [(f"testB_{i}", "benign") for i in range(1, 20)])
    with pytest.raises(ValueError, match="no row for testB_20") as info:
        data.load_split("testB", testb, verify=False)
    assert FIX in str(info.value)


def test_incomplete_split_lists_what_is_missing(testb):
    with pytest.raises(FileNotFoundError, match="train_1, train_1_anno.*more") as info:
        data.validate(testb, checksums=False)
    assert FIX in str(info.value)


def test_synthetic_pixels_fail_the_checksum_with_size_message(testb):
    with pytest.raises(ValueError, match="does not match the GlaS release") as info:
        data.validate(testb, splits=("testB",))
    message = str(info.value)
    assert "testB_1.png" in message and FIX in message


def test_checksum_mismatch_at_release_sizes(tmp_path):
    # Right names, formats and sizes (from the packaged manifest), wrong pixels.
    shapes = {
        row["name"]: (int(row["height"]), int(row["width"]))
        for row in packaged_manifest()
        if row["split"] == "testB" and row["kind"] == "image"
    }
    folder = make_glas(tmp_path / "glas", shapes=shapes)
    with pytest.raises(ValueError, match="pixel sha256") as info:
        data.load_split("testB", folder)
    message = str(info.value)
    assert "testB_1.png" in message and FIX in message


# ----------------------------------------------------------------------------------------------
# Download and import mechanics (synthetic zip, local HTTP server)


@pytest.fixture
def synthetic_zip(tmp_path) -> Path:
    """The official zip's layout (nested folder, BMP, macOS junk) with synthetic pixels."""
    folder = make_glas(tmp_path / "synthetic", splits=tuple(COUNTS), suffix=".bmp")
    return zip_folder(folder, tmp_path / data.GLAS_ZIP_NAME)


def assert_flat_release(dest: Path, suffix=".bmp"):
    names = sorted(p.name for p in dest.iterdir())
    expected = sorted(
        [f"{s}_{i}{tag}{suffix}" for s, n in COUNTS.items() for i in range(1, n + 1) for tag in ("", "_anno")]
        + ["Grade.csv"]
    )
    assert names == expected  # no readme, no __MACOSX, no leftover download folder


def test_download_over_http_extracts_and_names_first_wrong_file(tmp_path, http_server, synthetic_zip):
    served, base = http_server
    synthetic_zip.rename(served / synthetic_zip.name)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="does not match the GlaS release") as info:
        data.download(dest, url=f"{base}/{synthetic_zip.name}", progress=False)
    message = str(info.value)
    assert str(dest / "train_1.bmp") in message and FIX in message
    assert_flat_release(dest)


def test_download_succeeds_when_checksums_match(tmp_path, http_server, synthetic_zip, monkeypatch):
    # Mechanics without GlaS: the manifest is replaced by checksums the test computes itself.
    fake = {}
    for split, n in COUNTS.items():
        for i in range(1, n + 1):
            image, labels = synthetic_pair(i)
            for name, array in ((f"{split}_{i}", image), (f"{split}_{i}_anno", labels)):
                fake[name] = data._Entry(name, split, "", 6, 4, 2, sha(array))
    monkeypatch.setattr(data, "_manifest", lambda: fake)
    served, base = http_server
    synthetic_zip.rename(served / synthetic_zip.name)
    dest = tmp_path / "dest"
    assert data.download(dest, url=f"{base}/{synthetic_zip.name}", progress=False) == dest
    assert_flat_release(dest)
    samples = data.load_split("train", dest)
    assert len(samples) == 85 and samples[9].name == "train_10" and samples[9].grade == synthetic_grade(10)
    # A second call finds a verified copy and does not download again (the server is gone).
    (served / synthetic_zip.name).unlink()
    assert data.download(dest, url=f"{base}/{synthetic_zip.name}", progress=False) == dest


def test_download_from_file_url(tmp_path, synthetic_zip):
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="train_1.bmp"):
        data.download(dest, url=synthetic_zip.as_uri(), progress=False)
    assert_flat_release(dest)


def test_download_known_hash_mismatch(tmp_path, http_server, synthetic_zip):
    served, base = http_server
    synthetic_zip.rename(served / synthetic_zip.name)
    with pytest.raises(ValueError, match="hash"):
        data.download(
            tmp_path / "dest",
            url=f"{base}/{synthetic_zip.name}",
            known_hash="sha256:" + "0" * 64,
            progress=False,
        )


def test_download_http_error_is_one_clear_error(tmp_path, http_server):
    _, base = http_server
    url = f"{base}/{data.GLAS_ZIP_NAME}"  # not served: 404
    with pytest.raises(FileNotFoundError) as info:
        data.download(tmp_path / "dest", url=url, progress=False)
    message = str(info.value)
    assert url in message and "--from" in message
    assert not (tmp_path / "dest").exists()  # nothing left behind


def test_import_from_nested_folder_like_kaggle(tmp_path):
    source = make_glas(tmp_path / "kaggle" / "Warwick_QU_Dataset", splits=tuple(COUNTS), suffix=".bmp")
    (source / "notes.txt").write_text("ignored")
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match="train_1.bmp"):
        data.download(dest, source=tmp_path / "kaggle", progress=False)
    assert_flat_release(dest)


@pytest.mark.parametrize(
    ("make_source", "error", "match"),
    [
        (lambda tmp: tmp / "absent.zip", FileNotFoundError, "absent.zip does not exist"),
        (lambda tmp: _text_file(tmp / "glas.zip"), ValueError, "neither a folder nor a zip"),
        (lambda tmp: _empty_zip(tmp / "glas.zip"), FileNotFoundError, "no GlaS files in"),
    ],
)
def test_import_bad_sources(tmp_path, make_source, error, match):
    with pytest.raises(error, match=match):
        data.download(tmp_path / "dest", source=make_source(tmp_path), progress=False)


def _text_file(path):
    path.write_text("not a zip")
    return path


def _empty_zip(path):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "nothing here")
    return path


def test_import_refuses_two_copies_and_mixed_formats(tmp_path):
    source = tmp_path / "source"
    make_glas(source / "a")
    make_glas(source / "b")
    with pytest.raises(ValueError, match="two copies of Grade.csv"):
        data.download(tmp_path / "dest", source=source, progress=False)
    dest = make_glas(tmp_path / "dest")  # PNG already there
    bmp = make_glas(tmp_path / "bmp", suffix=".bmp")
    with pytest.raises(ValueError, match="already holds testB_1.png"):
        data.download(dest, source=bmp, progress=False)


def test_cli_download_error_is_one_line(tmp_path, synthetic_zip, capsys):
    status = cli_main(["download", "--dest", str(tmp_path / "dest"), "--from", str(synthetic_zip)])
    assert status == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("glandseg download: error:") and "train_1.bmp" in last and FIX in last


# ----------------------------------------------------------------------------------------------
# The real GlaS data (skipped when absent)


@pytest.fixture(scope="module")
def glas_samples(glas_root):
    return {split: data.load_split(split, glas_root) for split in COUNTS}


def independent_grades(path: Path) -> dict[str, str]:
    text = path.read_bytes().decode()
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
    header = [field.strip() for field in lines[0].split(",")]
    column = header.index("grade (GlaS)")
    return {
        fields[0].strip(): fields[column].strip().lower()
        for fields in (line.split(",") for line in lines[1:])
    }


@pytest.mark.glas
def test_real_counts_dtypes_and_shapes(glas_samples):
    sizes = collections.Counter()
    for split, samples in glas_samples.items():
        assert [s.name for s in samples] == [f"{split}_{i}" for i in range(1, COUNTS[split] + 1)]
        for s in samples:
            assert s.image.dtype == np.uint8 and s.image.ndim == 3 and s.image.shape[2] == 3
            assert s.labels.dtype == np.int32 and s.labels.shape == s.image.shape[:2]
            assert s.labels.min() == 0
            sizes[s.labels.shape] += 1
    assert sizes == SIZE_COUNTS


@pytest.mark.glas
def test_real_grades_match_grade_csv(glas_samples, glas_root):
    expected = independent_grades(glas_root / "Grade.csv")
    for split, samples in glas_samples.items():
        in_split = {name: grade for name, grade in expected.items() if name.startswith(split + "_")}
        assert {s.name: s.grade for s in samples} == in_split
        assert collections.Counter(s.grade for s in samples) == GRADE_COUNTS[split]


@pytest.mark.glas
def test_real_gland_counts(glas_samples, glas_root):
    shared = glas_root / "MANIFEST.tsv"
    listed = {}
    if shared.is_file():
        with open(shared, newline="") as fh:
            listed = {row["name"]: int(row["n_glands"]) for row in csv.DictReader(fh, delimiter="\t")}
    for split, samples in glas_samples.items():
        counts = {s.name: len(np.unique(s.labels[s.labels > 0])) for s in samples}
        assert sum(counts.values()) == GLAND_TOTALS[split]
        if listed:
            assert all(counts[name] == listed[f"{name}.png"] for name in counts)


@pytest.mark.glas
def test_real_pixels_equal_a_direct_decode(glas_samples, glas_root):
    sample = glas_samples["train"][9]
    suffix = ".png" if (glas_root / "train_10.png").exists() else ".bmp"
    np.testing.assert_array_equal(sample.image, np.asarray(Image.open(glas_root / f"train_10{suffix}")))
    np.testing.assert_array_equal(sample.labels, np.asarray(Image.open(glas_root / f"train_10_anno{suffix}")))


@pytest.mark.glas
def test_packaged_manifest_equals_shared_manifest(glas_root):
    shared = glas_root / "MANIFEST.tsv"
    if not shared.is_file():
        pytest.skip("no MANIFEST.tsv beside the GlaS data")
    columns = ("split", "kind", "width", "height", "n_glands", "pixel_sha256")
    with open(shared, newline="") as fh:
        expected = {
            row["name"].removesuffix(".png"): tuple(row[c] for c in columns)
            for row in csv.DictReader(fh, delimiter="\t")
        }
    got = {row["name"]: tuple(row[c] for c in columns) for row in packaged_manifest()}
    assert got == expected


@pytest.mark.glas
def test_real_validate_passes(glas_root):
    assert data.validate(glas_root) == glas_root


def copy_as_bmp(glas_root: Path, folder: Path, splits) -> Path:
    """Re-save real GlaS files as BMP (24-bit images, 8-bit grey annotations), like the release."""
    folder.mkdir(parents=True)
    for split in splits:
        for i in range(1, COUNTS[split] + 1):
            for stem in (f"{split}_{i}", f"{split}_{i}_anno"):
                with Image.open(glas_root / f"{stem}.png") as image:
                    image.save(folder / f"{stem}.bmp")
    (folder / "Grade.csv").write_bytes((glas_root / "Grade.csv").read_bytes())
    return folder


@pytest.mark.glas
def test_real_bmp_release_layout(glas_root, glas_samples, tmp_path):
    if not (glas_root / "testB_1.png").exists():
        pytest.skip("needs the PNG copy of GlaS")
    nested = copy_as_bmp(glas_root, tmp_path / "root" / RELEASE_FOLDER, ["testB"])
    assert data.validate(tmp_path / "root", splits=("testB",)) == nested
    for bmp, png in zip(data.load_split("testB", tmp_path / "root"), glas_samples["testB"]):
        assert bmp.name == png.name and bmp.grade == png.grade
        np.testing.assert_array_equal(bmp.image, png.image)
        np.testing.assert_array_equal(bmp.labels, png.labels)


@pytest.mark.glas
def test_real_checksum_catches_one_changed_label(glas_root, tmp_path):
    if not (glas_root / "testB_1.png").exists():
        pytest.skip("needs the PNG copy of GlaS")
    folder = tmp_path / "glas"
    folder.mkdir()
    for path in glas_root.glob("testB_*.png"):
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "Grade.csv").write_bytes((glas_root / "Grade.csv").read_bytes())
    labels = np.array(Image.open(folder / "testB_5_anno.png"))
    labels[0, 0] = labels.max() + 1
    Image.fromarray(labels).save(folder / "testB_5_anno.png")
    with pytest.raises(ValueError, match="pixel sha256") as info:
        data.load_split("testB", folder)
    assert str(folder / "testB_5_anno.png") in str(info.value)
    assert len(data.load_split("testB", folder, verify=False)) == 20


@pytest.mark.glas
def test_real_download_of_release_zip_over_http(glas_root, tmp_path, http_server):
    if not (glas_root / "train_1.png").exists():
        pytest.skip("needs the PNG copy of GlaS")
    served, base = http_server
    release = copy_as_bmp(glas_root, tmp_path / "release", COUNTS)
    zip_folder(release, served / data.GLAS_ZIP_NAME)
    dest = tmp_path / "dest"
    assert data.download(dest, url=f"{base}/{data.GLAS_ZIP_NAME}", progress=False) == dest
    assert_flat_release(dest)
    assert [s.name for s in data.load_split("testB", dest)][-1] == "testB_20"


@pytest.mark.glas
def test_real_cli_import_from_folder(glas_root, tmp_path, capsys):
    dest = tmp_path / "dest"
    assert cli_main(["download", "--dest", str(dest), "--from", str(glas_root)]) == 0
    assert str(dest) in capsys.readouterr().out
    assert data.validate(dest, checksums=False) == dest


# ----------------------------------------------------------------------------------------------
# find_data, gland_stats, annotation_oddities (book helpers)


def _odd_labels():
    """A 6x8 label map worked out by hand.

    label 1: 4 px in the top-left corner (touches the border), one piece;
    label 2: 6 px in two pieces (rows 2-3 of column 3, and rows 2-3 of columns 5-6), no border;
    label 5: 1 px inside the image (tiny); labels 3 and 4 are missing.
    """
    labels = np.zeros((6, 8), np.int32)
    labels[0:2, 0:2] = 1  # 4 px, border
    labels[2:4, 3] = 2  # 2 px
    labels[2:4, 5:7] = 2  # 4 px, not touching the first piece (col 4 is empty)
    labels[4, 2] = 5  # 1 px, interior (row 4 of 0..5, col 2 of 0..7)
    return labels


def _sample(name, labels, grade="benign"):
    return data.Sample(name, np.zeros(labels.shape + (3,), np.uint8), labels, grade)


def test_gland_stats_hand_worked_label_map():
    rows = data.gland_stats([_sample("testA_3", _odd_labels(), "malignant")])
    assert rows["label"].tolist() == [1, 2, 5]
    assert rows["area_px"].tolist() == [4, 6, 1]
    assert rows["pieces"].tolist() == [1, 2, 1]
    assert rows["touches_border"].tolist() == [True, False, False]
    assert rows["name"].tolist() == ["testA_3"] * 3
    assert rows["split"].tolist() == ["testA"] * 3 and rows["grade"].tolist() == ["malignant"] * 3


def test_gland_stats_connectivity_decides_diagonal_pieces():
    labels = np.zeros((4, 4), np.int32)
    labels[1, 1] = labels[2, 2] = 7  # diagonal neighbours: one piece 8-connected, two 4-connected
    sample = _sample("synthetic_0", labels, None)
    assert data.gland_stats([sample])["pieces"].tolist() == [1]
    assert data.gland_stats([sample], connectivity=1)["pieces"].tolist() == [2]
    assert data.gland_stats([sample])["split"].tolist() == ["synthetic"]
    assert data.gland_stats([_sample("noprefix", labels)])["split"].tolist() == [None]


def test_gland_stats_concatenates_samples_and_handles_empty_maps():
    empty = _sample("train_1", np.zeros((3, 3), np.int32))
    rows = data.gland_stats([empty, _sample("train_2", _odd_labels())])
    assert rows["name"].tolist() == ["train_2"] * 3
    assert all(len(col) == 3 for col in rows.values())
    assert all(len(col) == 0 for col in data.gland_stats([]).values())


def test_gland_stats_rejects_float_labels():
    with pytest.raises(ValueError, match="integer label map"):
        data.gland_stats([_sample("train_1", np.zeros((3, 3), np.float32))])


def test_annotation_oddities_hand_worked_label_map():
    rows = data.annotation_oddities([_sample("testB_4", _odd_labels())], tiny_px=2)
    found = sorted((r["kind"], r["label"], r["value"]) for r in rows)
    assert found == [
        ("missing_label", 3, 5),
        ("missing_label", 4, 5),
        ("several_pieces", 2, 2),
        ("tiny", 5, 1),
        ("touches_border", 1, 4),
    ]
    assert {r["name"] for r in rows} == {"testB_4"} and {r["split"] for r in rows} == {"testB"}
    assert {kind for kind, _, _ in found} <= set(data.ODDITIES)


def test_annotation_oddities_threshold_and_clean_map():
    # tiny means strictly fewer pixels than tiny_px
    rows = data.annotation_oddities([_sample("train_1", _odd_labels())], tiny_px=5)
    assert sorted((r["label"], r["value"]) for r in rows if r["kind"] == "tiny") == [(1, 4), (5, 1)]
    clean = np.zeros((5, 5), np.int32)
    clean[1:3, 1:3] = 1
    clean[3, 3] = 2  # 8-adjacent to label 1 but its own label: not an oddity
    assert data.annotation_oddities([_sample("train_2", clean)], tiny_px=1) == []
    with pytest.raises(ValueError, match="tiny_px"):
        data.annotation_oddities([], tiny_px=-1)


def test_find_data_returns_none_without_data(tmp_path, monkeypatch):
    monkeypatch.delenv("GLANDSEG_DATA", raising=False)
    assert data.find_data(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert data.find_data(tmp_path / "empty") is None


@pytest.mark.glas
def test_find_data_and_oddities_on_real_glas(glas_root, monkeypatch):
    monkeypatch.setenv("GLANDSEG_DATA", str(glas_root))
    assert data.find_data() == glas_root
    samples = data.load_split("testB", glas_root)
    pieces = {r["name"]: r["value"] for r in data.annotation_oddities(samples) if r["kind"] == "several_pieces"}
    # SOURCE.md of the shared copy: label 1 split into 8-connected pieces in four testB images
    assert pieces == {"testB_3": 7, "testB_11": 5, "testB_18": 8, "testB_19": 7}
    rows = data.gland_stats(samples)
    assert len(rows["label"]) == 95 and rows["area_px"].sum() == sum(int((s.labels > 0).sum()) for s in samples)
