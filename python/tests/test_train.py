"""The Python training loop and optimizer reset."""

import numpy as np
import pytest
from conftest import batch

from ganhost.train import BatchSampler, reset_optimizers, train


def test_train_runs_steps_with_finite_losses(tiny_gan):
    images, _ = batch(32)
    history = train(tiny_gan, images, steps=5, batch_size=8, seed=1, log_every=0)
    assert [h.step for h in history] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(h.d_loss) and np.isfinite(h.g_loss) for h in history)


def test_sampler_covers_each_image_once_per_epoch():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((10, 28, 28, 1), np.float32)
    s = BatchSampler(images, batch_size=5, seed=3)
    seen = np.concatenate([s.next()[:, 0, 0, 0] for _ in range(2)])
    assert sorted(seen) == list(range(10))


def test_sampler_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(np.zeros((3, 28, 28, 1), np.float32), batch_size=4, seed=0)


def test_reset_optimizers_zeroes_moments(tiny_gan):
    images, _ = batch(16)
    train(tiny_gan, images, steps=2, batch_size=8, seed=0, log_every=0)
    assert any(np.any(np.array(v) != 0) for v in tiny_gan.g_optimizer.variables)
    reset_optimizers(tiny_gan)
    for opt in (tiny_gan.d_optimizer, tiny_gan.g_optimizer):
        assert all(not np.any(np.array(v)) for v in opt.variables)


def test_conditional_training_needs_labels():
    from ganhost.config import TINY_CONDITIONAL
    from ganhost.model import GAN

    gan = GAN(TINY_CONDITIONAL)
    images, _ = batch(16)
    with pytest.raises(ValueError, match="labels"):
        train(gan, images, steps=1, batch_size=8, seed=0, log_every=0)
    history = train(gan, images, steps=2, batch_size=8, seed=0, log_every=0, labels=np.arange(16) % 10)
    assert [h.step for h in history] == [1, 2]
