"""Export a GAN as a SavedModel carrying the signature contract of ``ganhost.signatures``."""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from ganhost import signatures as sig
from ganhost.config import IMAGE_SHAPE, LATENT_DIM
from ganhost.model import GAN

_Z_SPEC = tf.TensorSpec([None, LATENT_DIM], tf.float32, name=sig.Z)
_IMAGES_SPEC = tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32, name=sig.IMAGES)
_LABELS_SPEC = tf.TensorSpec([None], tf.int32, name=sig.LABELS)


def export_savedmodel(gan: GAN, path: str | os.PathLike) -> None:
    """Write ``gan`` to ``path`` with the ``generate``, ``train_step`` and ``discriminate``
    signatures (``generate`` is also ``serving_default``). Conditional models take an extra
    ``labels`` input (int32 [N]) on ``generate`` and ``train_step``.

    ``train_step`` updates the exported variables in place, so a host that loads the SavedModel
    keeps training it; the MetaGraphDef's ``saver_def`` lets such a host write its variables
    back out as a new version.
    """
    # No archive.track(gan): the archive already tracks every variable its endpoints use
    # (weights, BatchNorm statistics, optimizer slots, the global step, dropout seeds), and
    # tracking the model as well would save each Keras variable a second time as a separate
    # checkpoint entry, which a C API host updating one copy would leave stale in the other.
    archive = keras.export.ExportArchive()

    # generate first: ExportArchive makes the first endpoint serving_default.
    if gan.cfg.conditional:
        archive.add_endpoint(
            sig.GENERATE,
            lambda z, labels: {sig.IMAGES: gan.generate(z, labels)},
            input_signature=[_Z_SPEC, _LABELS_SPEC],
        )
        archive.add_endpoint(
            sig.TRAIN_STEP,
            lambda images, z, labels: gan.step(images, z, labels),
            input_signature=[_IMAGES_SPEC, _Z_SPEC, _LABELS_SPEC],
        )
    else:
        archive.add_endpoint(
            sig.GENERATE, lambda z: {sig.IMAGES: gan.generate(z)}, input_signature=[_Z_SPEC]
        )
        archive.add_endpoint(
            sig.TRAIN_STEP, lambda images, z: gan.step(images, z), input_signature=[_IMAGES_SPEC, _Z_SPEC]
        )
    archive.add_endpoint(
        sig.DISCRIMINATE,
        lambda images: {sig.LOGITS: gan.discriminate(images)},
        input_signature=[_IMAGES_SPEC],
    )
    archive.write_out(os.fspath(path), verbose=False)
