"""Sample grids as PNG files, without an imaging library (the venv has none)."""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model-range images (float [N, 28, 28, 1] in [-1, 1]) -> uint8 [N, 28, 28]."""
    return np.clip(np.rint((images[..., 0] + 1) * 127.5), 0, 255).astype(np.uint8)


def grid(images: np.ndarray, cols: int) -> np.ndarray:
    """uint8 [N, H, W] -> one uint8 image of ceil(N / cols) rows of ``cols`` tiles, no padding
    (the layout of the Go host's grids)."""
    n, h, w = images.shape
    rows = -(-n // cols)
    out = np.zeros((rows * h, cols * w), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return out


def write_png(path: str | os.PathLike, image: np.ndarray, scale: int = 1) -> None:
    """Write a uint8 [H, W] grayscale image as PNG, each pixel repeated ``scale`` times."""
    image = np.repeat(np.repeat(np.asarray(image, np.uint8), scale, axis=0), scale, axis=1)
    h, w = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)
