"""Hyperparameters of the GAN: the single place they are defined."""

from __future__ import annotations

import dataclasses

# MNIST-shaped images; the signature contract fixes these, so they are not configurable.
IMAGE_SHAPE = (28, 28, 1)
LATENT_DIM = 100


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Architecture and optimizer settings.

    The defaults are the document's MLP GAN: generator 100 -> 256 -> 512 -> 1024 -> 784,
    discriminator 784 -> 1024 -> 512 -> 256 -> 1 logit, Adam(2e-4, beta_1=0.5) per network.
    """

    g_units: tuple[int, ...] = (256, 512, 1024)
    d_units: tuple[int, ...] = (1024, 512, 256)
    leaky_slope: float = 0.2
    d_dropout: float = 0.3
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    seed: int = 0


DEFAULT = GANConfig()

# A few-kilobyte model with the same signatures, for the committed Go test fixture and fast tests.
TINY = GANConfig(g_units=(8, 8, 8), d_units=(8, 8, 8))
