"""The reference Python server of bench/: what a user would write to serve the GAN in Python.

FastAPI on uvicorn (uvloop + httptools, as ``pip install "fastapi[standard]"`` sets up), one
process, serving ``GET /generate?n=16&seed=S`` with the same response as the Go host: a PNG grid
of ceil(sqrt(n)) columns of 28x28 tiles without padding, from noise drawn by a seeded numpy RNG,
through the same SavedModel's ``generate`` signature (a conditional model also gets seeded labels,
as the Go host draws them when no digit is asked for). The endpoint is a plain ``def``, so
Starlette runs it in its thread pool; TensorFlow releases the GIL while the graph runs.

    python bench/pyserver.py --port 8000 --model savedmodel/gan/1

Images come from ganhost.images (to_uint8, grid). The PNG is encoded in memory like
ganhost.images.write_png does on disk (filter 0 per row), but at zlib level 1, the level of the Go
host's png.BestSpeed, so both servers do comparable compression work.
"""

from __future__ import annotations

import argparse
import os
import secrets
import struct
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException, Query  # noqa: E402
from fastapi.responses import Response  # noqa: E402

from ganhost.images import grid, to_uint8  # noqa: E402

LATENT_DIM = 100
MAX_N = 256

app = FastAPI(title="ganhost reference Python server")
_generate = None  # the loaded SavedModel's generate signature, set by load()
_conditional = False  # generate also takes int32 class labels (cond-mlp, cond-dcgan)
_version = "1"


def load(model_dir: str) -> None:
    global _generate, _conditional, _version
    loaded = tf.saved_model.load(model_dir)
    _generate = loaded.signatures["generate"]
    _conditional = "labels" in _generate.structured_input_signature[1]
    _version = os.path.basename(os.path.normpath(model_dir))
    warm = {"z": tf.zeros([16, LATENT_DIM])}
    if _conditional:
        warm["labels"] = tf.zeros([16], tf.int32)
    _generate(**warm)  # warm up: the first call builds the graph


def cols_for(n: int) -> int:
    """Integer ceil(sqrt(n)), as the Go host computes it."""
    cols = 1
    while cols * cols < n:
        cols += 1
    return cols


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 [H, W] grayscale image as PNG bytes (filter 0 per row, zlib level 1)."""
    h, w = image.shape
    raw = np.zeros((h, w + 1), np.uint8)
    raw[:, 1:] = image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw.tobytes(), 1))
        + chunk(b"IEND", b"")
    )


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.get("/generate")
def generate(n: int = Query(16, ge=1, le=MAX_N), seed: int | None = Query(None)) -> Response:
    if _generate is None:
        raise HTTPException(503, "model not loaded")
    if seed is None:
        seed = secrets.randbelow(1 << 53)
    rng = np.random.default_rng(seed)
    feeds = {"z": tf.constant(rng.standard_normal((n, LATENT_DIM), dtype=np.float32))}
    if _conditional:  # like the Go host without ?digit=: each image's digit drawn from the seed
        feeds["labels"] = tf.constant(rng.integers(0, 10, n, dtype=np.int32))
    images = _generate(**feeds)["images"].numpy()
    body = png_bytes(grid(to_uint8(images), cols_for(n)))
    return Response(body, media_type="image/png", headers={"X-Seed": str(seed), "X-Model-Version": _version})


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default="savedmodel/gan/1")
    a = p.parse_args(argv)
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("bench/pyserver.py listens on loopback only")
    load(a.model)
    # Defaults otherwise, as a user would run it: one worker, access log on (the Go host logs
    # every request too).
    uvicorn.run(app, host=a.host, port=a.port)


if __name__ == "__main__":
    main()
