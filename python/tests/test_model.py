"""The GAN's networks and its adversarial step."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import batch

from ganhost.config import DCGAN_TUTORIAL, DEFAULT, TINY_CONDITIONAL, TINY_DCGAN
from ganhost.model import GAN, build_discriminator, build_generator


def snapshot(weights):
    return [np.array(w) for w in weights]


def changed(before, weights):
    return [not np.array_equal(b, np.array(w)) for b, w in zip(before, weights)]


def test_generator_shape_and_range(tiny_gan):
    _, z = batch(5)
    images = np.array(tiny_gan.generator(z, training=False))
    assert images.shape == (5, 28, 28, 1)
    assert images.min() >= -1 and images.max() <= 1


def test_discriminator_outputs_logits(tiny_gan):
    images, _ = batch(5)
    logits = tiny_gan.discriminator(images * 50, training=False)
    assert logits.shape == (5, 1)
    # A sigmoid output (the document's bug) would be confined to [0, 1].
    assert np.any((np.array(logits) < 0) | (np.array(logits) > 1))


def test_default_architecture_matches_document():
    g, d = build_generator(DEFAULT), build_discriminator(DEFAULT)
    dense = [l for l in g.layers if l.__class__.__name__ == "Dense"]
    assert [l.units for l in dense] == [256, 512, 1024, 784]
    assert dense[0].use_bias is False and all(l.use_bias for l in dense[1:])
    assert sum(l.__class__.__name__ == "BatchNormalization" for l in g.layers) == 3
    assert [l.units for l in d.layers if l.__class__.__name__ == "Dense"] == [1024, 512, 256, 1]
    assert sum(l.__class__.__name__ == "Dropout" for l in d.layers) == 3
    assert d.layers[-1].activation.__name__ == "linear"


def test_step_updates_both_networks(tiny_gan):
    images, z = batch(8)
    g0, d0 = snapshot(tiny_gan.generator.trainable_weights), snapshot(tiny_gan.discriminator.trainable_weights)
    out = tf.function(tiny_gan.step)(tf.constant(images), tf.constant(z))
    assert np.isfinite(float(out["d_loss"])) and np.isfinite(float(out["g_loss"]))
    assert int(out["step"]) == 1
    assert all(changed(g0, tiny_gan.generator.trainable_weights))
    assert all(changed(d0, tiny_gan.discriminator.trainable_weights))


def test_generator_phase_leaves_discriminator_alone(tiny_gan):
    _, z = batch(8)
    d0 = snapshot(tiny_gan.discriminator.trainable_weights)
    g0 = snapshot(tiny_gan.generator.trainable_weights)
    tiny_gan.g_step(tf.constant(z))
    assert not any(changed(d0, tiny_gan.discriminator.trainable_weights))
    assert all(changed(g0, tiny_gan.generator.trainable_weights))


def test_discriminator_phase_leaves_generator_weights_alone(tiny_gan):
    images, z = batch(8)
    g0 = snapshot(tiny_gan.generator.trainable_weights)
    tiny_gan.d_step(tf.constant(images), tf.constant(z))
    assert not any(changed(g0, tiny_gan.generator.trainable_weights))


def test_separate_optimizers(tiny_gan):
    assert tiny_gan.d_optimizer is not tiny_gan.g_optimizer
    d_vars = {id(v) for v in tiny_gan.d_optimizer.variables}
    assert not d_vars & {id(v) for v in tiny_gan.g_optimizer.variables}
    assert float(tiny_gan.d_optimizer.learning_rate) == np.float32(2e-4)
    assert float(tiny_gan.d_optimizer.beta_1) == 0.5


def test_dcgan_matches_tensorflow_tutorial():
    g, d = build_generator(DCGAN_TUTORIAL), build_discriminator(DCGAN_TUTORIAL)
    kinds = [l.__class__.__name__ for l in g.layers]
    assert g.layers[1].units == 7 * 7 * 256
    assert [l.filters for l in g.layers if l.__class__.__name__ == "Conv2DTranspose"] == [128, 64, 1]
    assert [l.strides for l in g.layers if l.__class__.__name__ == "Conv2DTranspose"] == [(1, 1), (2, 2), (2, 2)]
    assert kinds.count("BatchNormalization") == 3
    assert [(l.filters, l.strides) for l in d.layers if l.__class__.__name__ == "Conv2D"] == [(64, (2, 2)), (128, (2, 2))]
    assert d.output.shape == (None, 1)


@pytest.mark.parametrize("cfg", [TINY_DCGAN, TINY_CONDITIONAL], ids=["dcgan", "conditional"])
def test_variants_train(cfg):
    gan = GAN(cfg)
    images, z = batch(8)
    labels = tf.constant(np.arange(8) % 10, tf.int32) if cfg.conditional else None
    g0, d0 = snapshot(gan.generator.trainable_weights), snapshot(gan.discriminator.trainable_weights)
    out = tf.function(gan.step)(tf.constant(images), tf.constant(z), labels)
    assert np.isfinite(float(out["d_loss"])) and np.isfinite(float(out["g_loss"]))
    assert all(changed(g0, gan.generator.trainable_weights))
    assert all(changed(d0, gan.discriminator.trainable_weights))
    assert gan.generate(tf.constant(z), labels).shape == (8, 28, 28, 1)


def test_conditional_realness_shares_discriminator_weights():
    gan = GAN(TINY_CONDITIONAL)
    shared = {id(w) for w in gan.realness.weights}
    assert shared and shared <= {id(w) for w in gan.discriminator.weights}
