"""Python training loop: the same ``GAN.step`` the exported ``train_step`` signature runs."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from ganhost.config import LATENT_DIM
from ganhost.model import GAN


@dataclass
class StepLog:
    step: int
    d_loss: float
    g_loss: float


class BatchSampler:
    """Shuffled epochs over images (float32 [N, 28, 28, 1] in [-1, 1]) and their labels, seeded."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, labels: np.ndarray | None = None):
        if batch_size > len(images):
            raise ValueError(f"batch_size {batch_size} exceeds the dataset size {len(images)}")
        self.images = images
        self.labels = np.zeros(len(images), np.int32) if labels is None else labels.astype(np.int32)
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)

    def next_with_labels(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._order) < self.batch_size:  # drop the ragged tail: every batch is full
            self._order = self.rng.permutation(len(self.images))
        idx, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return self.images[idx], self.labels[idx]

    def next(self) -> np.ndarray:
        return self.next_with_labels()[0]

    def noise(self) -> np.ndarray:
        return self.rng.standard_normal((self.batch_size, LATENT_DIM), dtype=np.float32)


def train(
    gan: GAN,
    images: np.ndarray,
    steps: int,
    batch_size: int,
    seed: int,
    log_every: int = 100,
    log=print,
    labels: np.ndarray | None = None,
) -> list[StepLog]:
    """Run ``steps`` adversarial steps on ``images`` (float32 [N, 28, 28, 1] in [-1, 1]);
    conditional models also need the images' ``labels`` (int [N], 0..9).

    Returns one StepLog per step; raises FloatingPointError if a loss stops being finite.
    """
    if gan.cfg.conditional and labels is None:
        raise ValueError("a conditional GAN trains on labelled images: pass labels")
    sampler = BatchSampler(images, batch_size, seed, labels)
    step_fn = tf.function(gan.step, jit_compile=False)
    history: list[StepLog] = []
    start = time.perf_counter()
    for i in range(steps):
        batch, batch_labels = sampler.next_with_labels()
        args = [tf.constant(batch), tf.constant(sampler.noise())]
        if gan.cfg.conditional:
            args.append(tf.constant(batch_labels))
        out = step_fn(*args)
        entry = StepLog(int(out["step"]), float(out["d_loss"]), float(out["g_loss"]))
        if not (np.isfinite(entry.d_loss) and np.isfinite(entry.g_loss)):
            raise FloatingPointError(f"training diverged at step {entry.step}: {entry}")
        history.append(entry)
        if log_every and ((i + 1) % log_every == 0 or i + 1 == steps):
            rate = (i + 1) / (time.perf_counter() - start)
            log(f"step {entry.step:6d}  d_loss {entry.d_loss:.4f}  g_loss {entry.g_loss:.4f}  ({rate:.1f} steps/s)")
    return history


def reset_optimizers(gan: GAN) -> None:
    """Zero both Adam optimizers' moments and iteration counts.

    The shipped model does this before export so its committed variables compress well; Adam's
    bias correction restarts cleanly from zeroed moments, so training resumes normally.
    """
    for opt in (gan.d_optimizer, gan.g_optimizer):
        for v in opt.variables:
            v.assign(tf.zeros_like(v))
