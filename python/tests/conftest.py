"""Shared pytest set-up: the Keras backend, seeds, and tiny models."""

import os
import socket

# Must precede any keras import; the Makefile sets it too, this covers a bare `pytest`.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ganhost.config import TINY, TINY_CONDITIONAL  # noqa: E402
from ganhost.export import export_savedmodel  # noqa: E402
from ganhost.model import GAN  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture
def tiny_gan() -> GAN:
    return GAN(TINY)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """Path of an untrained tiny GAN exported once per test session (read-only for tests)."""
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("export") / "1"
    export_savedmodel(GAN(TINY), path)
    return path


@pytest.fixture(scope="session")
def tiny_cond_export(tmp_path_factory):
    """Path of an untrained tiny conditional GAN exported once per test session."""
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("export_cond") / "1"
    export_savedmodel(GAN(TINY_CONDITIONAL), path)
    return path


def batch(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(n, 28, 28, 1)).astype(np.float32)
    z = rng.standard_normal((n, 100)).astype(np.float32)
    return images, z


def free_ports(n: int) -> list[int]:
    """n distinct loopback ports that were free a moment ago (for servers a test starts)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()
