"""Hyperparameters of the GANs: the single place they are defined."""

from __future__ import annotations

import dataclasses

# MNIST-shaped images; the signature contract fixes these, so they are not configurable.
IMAGE_SHAPE = (28, 28, 1)
LATENT_DIM = 100
NUM_CLASSES = 10

MLP = "mlp"
DCGAN = "dcgan"


@dataclasses.dataclass(frozen=True)
class GANConfig:
    """Architecture and optimizer settings.

    The defaults are the document's MLP GAN: generator 100 -> 256 -> 512 -> 1024 -> 784,
    discriminator 784 -> 1024 -> 512 -> 256 -> 1 logit, Adam(2e-4, beta_1=0.5) per network.
    ``arch="dcgan"`` selects the architecture of TensorFlow's DCGAN tutorial instead.
    ``conditional=True`` adds a class-label input: an embedding concatenated to the generator's
    noise, and a projection term in the discriminator (Miyato & Koyama 2018).
    """

    arch: str = MLP
    conditional: bool = False
    g_units: tuple[int, ...] = (256, 512, 1024)  # MLP generator hidden layers
    d_units: tuple[int, ...] = (1024, 512, 256)  # MLP discriminator hidden layers
    g_filters: tuple[int, ...] = (256, 128, 64)  # DCGAN: 7x7 projection depth, then two transposed convs
    d_filters: tuple[int, ...] = (64, 128)  # DCGAN: two strided convs
    label_embedding_dim: int = 50
    leaky_slope: float = 0.2
    d_dropout: float = 0.3
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    seed: int = 0


DEFAULT = GANConfig()
# TensorFlow's DCGAN tutorial: its architecture and its optimizer (Adam 1e-4, default beta_1).
DCGAN_TUTORIAL = GANConfig(arch=DCGAN, leaky_slope=0.3, learning_rate=1e-4, beta_1=0.9)
CONDITIONAL_MLP = GANConfig(conditional=True)
CONDITIONAL_DCGAN = dataclasses.replace(DCGAN_TUTORIAL, conditional=True)

# Few-kilobyte models with the same signatures, for the committed Go test fixtures and fast tests.
TINY = GANConfig(g_units=(8, 8, 8), d_units=(8, 8, 8))
TINY_CONDITIONAL = dataclasses.replace(TINY, conditional=True, label_embedding_dim=4)
TINY_DCGAN = GANConfig(arch=DCGAN, g_filters=(8, 4, 4), d_filters=(4, 8))

PRESETS = {
    "default": DEFAULT,
    "dcgan": DCGAN_TUTORIAL,
    "cond-mlp": CONDITIONAL_MLP,
    "cond-dcgan": CONDITIONAL_DCGAN,
    "tiny": TINY,
    "tiny-cond": TINY_CONDITIONAL,
    "tiny-dcgan": TINY_DCGAN,
}
