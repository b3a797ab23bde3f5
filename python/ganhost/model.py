"""The document's MLP GAN in Keras 3, with its bugs fixed.

Bugs in the source document's code and how this module fixes them:

1. The discriminator ended in ``sigmoid`` while the loss used ``from_logits=True``, so the loss
   saw probabilities as logits. Here the discriminator outputs a raw logit (no activation).
2. ``tf.keras.losses.Lambda`` does not exist and ``make_gan_loss`` used an undefined
   ``cross_entropy``. Here one ``BinaryCrossentropy(from_logits=True)`` is owned by the GAN.
3. ``Adam(lr=...)`` is not a Keras 3 argument (``learning_rate``), and one optimizer was shared by
   both networks, mixing their Adam moments. Each network has its own Adam(2e-4, beta_1=0.5).
4. ``prepare_data`` reshaped all 60,000 images into one batch of ``batch_size`` (a crash) and
   reloaded the dataset (with a download) on every step. Data is loaded once, offline
   (``ganhost.data``), and sampled per batch.
5. One ``GradientTape`` for both losses, with gradients taken with respect to the models instead
   of their variables, and the generator "frozen" through ``trainable = False`` outside the step.
   Here there are two tapes, each differentiated with respect to its own network's
   ``trainable_weights`` and applied by its own optimizer.
6. ``latent_to_image``, ``discriminator_loss_fn``, ``generator_loss_fn``, ``alpha`` and
   ``train_dataset`` were never defined. The generator is called directly, the losses are the
   standard (non-saturating) GAN losses below, ``alpha`` is unused and the dataset is explicit.
7. ``@tf.function`` wrapped Python loops with a ``return`` inside the batch loop, so each "epoch"
   trained one batch. Only the single step is compiled; the loop is plain Python (or the Go host).
8. The generator produced a flat 784-vector while the discriminator expected 28x28 input; the
   generator now reshapes to 28x28x1, the shape of real images.
9. BatchNorm and Dropout never got a ``training`` flag. The step passes ``training=True``;
   generation (``generate`` signature) runs in inference mode, using BatchNorm's moving statistics.
10. Real labels were ``np.zeros`` for the fake branch only and the "real" labels were the digit
    classes; GAN targets are 1 for real and 0 for fake, independent of digit class.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ganhost.config import DCGAN, IMAGE_SHAPE, LATENT_DIM, MLP, NUM_CLASSES, GANConfig


def _label_input() -> keras.KerasTensor:
    return keras.Input((), dtype="int32", name="labels")


def build_generator(cfg: GANConfig) -> keras.Model:
    """Noise z [N, 100] (and, if conditional, labels int32 [N] in 0..9) -> images
    [N, 28, 28, 1] in [-1, 1] (tanh)."""
    z = keras.Input((LATENT_DIM,), name="z")
    inputs, x = [z], z
    if cfg.conditional:
        labels = _label_input()
        inputs.append(labels)
        x = keras.layers.Concatenate()([z, keras.layers.Embedding(NUM_CLASSES, cfg.label_embedding_dim)(labels)])
    if cfg.arch == MLP:
        for i, units in enumerate(cfg.g_units):
            # The document's first layer has no bias: BatchNorm's beta makes it redundant.
            x = keras.layers.Dense(units, use_bias=i > 0)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
        x = keras.layers.Dense(IMAGE_SHAPE[0] * IMAGE_SHAPE[1], activation="tanh")(x)
        x = keras.layers.Reshape(IMAGE_SHAPE)(x)
    elif cfg.arch == DCGAN:
        # TensorFlow's DCGAN tutorial: a 7x7 projection, then transposed convolutions to 28x28.
        depth, *filters = cfg.g_filters
        x = keras.layers.Dense(7 * 7 * depth, use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
        x = keras.layers.Reshape((7, 7, depth))(x)
        for f, stride in zip(filters, (1, 2)):
            x = keras.layers.Conv2DTranspose(f, 5, strides=stride, padding="same", use_bias=False)(x)
            x = keras.layers.BatchNormalization()(x)
            x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
        x = keras.layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh")(x)
    else:
        raise ValueError(f"unknown arch {cfg.arch!r}")
    return keras.Model(inputs, x, name="generator")


def build_discriminator(cfg: GANConfig) -> keras.Model:
    """Images [N, 28, 28, 1] in [-1, 1] (and, if conditional, labels int32 [N]) -> logits
    [N, 1] (positive means "real")."""
    images = keras.Input(IMAGE_SHAPE, name="images")
    inputs, x = [images], images
    if cfg.arch == MLP:
        x = keras.layers.Flatten()(x)
        for units in cfg.d_units:
            x = keras.layers.Dense(units)(x)
            x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
            x = keras.layers.Dropout(cfg.d_dropout, seed=cfg.seed)(x)
    elif cfg.arch == DCGAN:
        for f in cfg.d_filters:
            x = keras.layers.Conv2D(f, 5, strides=2, padding="same")(x)
            x = keras.layers.LeakyReLU(negative_slope=cfg.leaky_slope)(x)
            x = keras.layers.Dropout(cfg.d_dropout, seed=cfg.seed)(x)
        x = keras.layers.Flatten()(x)
    else:
        raise ValueError(f"unknown arch {cfg.arch!r}")
    logits = keras.layers.Dense(1, name="realness")(x)  # a logit: the loss applies the sigmoid
    if cfg.conditional:
        # Projection discriminator: add <embed(label), features>, so the logit also scores how
        # well the image matches its label.
        labels = _label_input()
        inputs.append(labels)
        projection = keras.layers.Dot(axes=1)([keras.layers.Embedding(NUM_CLASSES, x.shape[-1])(labels), x])
        logits = keras.layers.Add()([logits, projection])
    return keras.Model(inputs, logits, name="discriminator")


class GAN(keras.Model):
    """Generator and discriminator trained adversarially, one step at a time.

    ``step`` is what the exported ``train_step`` signature runs; the Python training command
    calls the same method, so Python and Go training are the same computation.
    """

    def __init__(
        self,
        cfg: GANConfig,
        generator: keras.Model | None = None,
        discriminator: keras.Model | None = None,
        **kwargs,
    ):
        """Builds both networks from ``cfg``, or wraps networks a user trained elsewhere
        (their shapes are checked by ``ganhost.export_tools``)."""
        super().__init__(**kwargs)
        self.cfg = cfg
        self.generator = generator if generator is not None else build_generator(cfg)
        self.discriminator = discriminator if discriminator is not None else build_discriminator(cfg)
        self.d_optimizer = keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1, name="d_adam")
        self.g_optimizer = keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1, name="g_adam")
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
        # The global step travels with the weights, so a host reloading a version resumes counting.
        self.global_step = keras.Variable(0, dtype="int64", trainable=False, name="global_step")
        # Optimizer slots must exist before export: a SavedModel cannot create variables later.
        self.d_optimizer.build(self.discriminator.trainable_weights)
        self.g_optimizer.build(self.generator.trainable_weights)
        if cfg.conditional:
            # The label-free part of the projection discriminator, for the `discriminate`
            # signature, which takes images only: it shares every weight with the discriminator.
            # A user's conditional discriminator without such a layer scores against label 0.
            try:
                realness = self.discriminator.get_layer("realness").output
                self.realness = keras.Model(self.discriminator.inputs[0], realness, name="realness")
            except ValueError:
                self.realness = None
        # Both networks are built from their Input layers, so the GAN has all its weights now.
        self.built = True

    def _g(self, z, labels, training):
        return self.generator([z, labels] if self.cfg.conditional else z, training=training)

    def _d(self, images, labels, training):
        return self.discriminator([images, labels] if self.cfg.conditional else images, training=training)

    def call(self, z, labels=None, training=False):
        return self._g(z, labels, training)

    def generate(self, z: tf.Tensor, labels: tf.Tensor | None = None) -> tf.Tensor:
        """Images [N, 28, 28, 1] in [-1, 1] in inference mode (BatchNorm moving statistics)."""
        return self._g(z, labels, False)

    def discriminate(self, images: tf.Tensor) -> tf.Tensor:
        """Logits [N, 1] in inference mode. For a conditional model this is the label-free
        "realness" term of the projection discriminator."""
        if self.cfg.conditional and self.realness is not None:
            return self.realness(images, training=False)
        if self.cfg.conditional:
            return self.discriminator([images, tf.zeros(tf.shape(images)[:1], tf.int32)], training=False)
        return self.discriminator(images, training=False)

    def step(self, images: tf.Tensor, z: tf.Tensor, labels: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
        """One discriminator update, then one generator update, on the same noise.

        images: float32 [N, 28, 28, 1] in [-1, 1]; z: float32 [N, 100]; labels: int32 [N], the
        real images' classes (conditional models only; the fakes are generated for the same
        classes). Returns raw (not averaged) d_loss, g_loss (float32 scalars) and step (int64,
        after the update).
        """
        d_loss = self.d_step(images, z, labels)
        g_loss = self.g_step(z, labels)
        self.global_step.assign_add(1)
        return {"d_loss": d_loss, "g_loss": g_loss, "step": tf.identity(self.global_step.value)}

    def d_step(self, images: tf.Tensor, z: tf.Tensor, labels: tf.Tensor | None = None) -> tf.Tensor:
        """Update the discriminator only: real images towards 1, generated ones towards 0."""
        # Outside the tape: the discriminator's loss must not reach the generator's weights.
        fake = self._g(z, labels, True)
        with tf.GradientTape() as tape:
            real_logits = self._d(images, labels, True)
            fake_logits = self._d(fake, labels, True)
            d_loss = self.loss_fn(tf.ones_like(real_logits), real_logits) + self.loss_fn(
                tf.zeros_like(fake_logits), fake_logits
            )
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))
        return d_loss

    def g_step(self, z: tf.Tensor, labels: tf.Tensor | None = None) -> tf.Tensor:
        """Update the generator only, with the non-saturating loss -log D(G(z))."""
        with tf.GradientTape() as tape:
            fake_logits = self._d(self._g(z, labels, True), labels, True)
            g_loss = self.loss_fn(tf.ones_like(fake_logits), fake_logits)
        # The discriminator takes part in this loss but must not be updated by it: only the
        # generator's weights are differentiated and applied.
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))
        return g_loss
