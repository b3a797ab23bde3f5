"""A small CNN classifier of 28x28 images, the feature space for scoring the GAN.

The classifier takes exactly the GAN's image range: ``float32 [N, 28, 28, 1]`` in ``[-1, 1]``
(:func:`ganhost.data.to_model_range` for real images, the generator's tanh output for fakes), so
generated images are scored without any rescaling. Its penultimate layer, a 128-wide ReLU layer
named ``"features"``, is the embedding for classifier FID and precision/recall; its softmax is
used for the Inception-style score and per-class statistics.

The SavedModel contract (:data:`CONTRACT`):

* ``classify`` (also ``serving_default``): ``images float32 [N, 28, 28, 1]`` ->
  ``logits float32 [N, 10]``, ``probabilities float32 [N, 10]`` (rows sum to 1);
* ``features``: ``images float32 [N, 28, 28, 1]`` -> ``features float32 [N, 128]``.

Only the network's weights are exported (no optimizer state, no dropout seed), so a version is
about half a megabyte. Train and export a version with::

    python -m ganhost.classifier --dataset data/mnist --epochs 12 --max-shift 2 --out savedmodel/mnist_classifier/1

which also writes ``savedmodel/mnist_classifier/1.json`` (test accuracy, counts, command).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Optional, Union

import keras
import numpy as np
import tensorflow as tf

from ganhost.config import IMAGE_SHAPE
from ganhost.data import load_dataset, to_model_range

PathLike = Union[str, os.PathLike]

NUM_CLASSES = 10
FEATURE_DIM = 128

# Signature and tensor names of the exported classifier.
CLASSIFY = "classify"  # also exported as serving_default
FEATURES = "features"  # signature name, output key and the penultimate layer's name
IMAGES = "images"  # float32 [N, 28, 28, 1] in [-1, 1]
LOGITS = "logits"  # float32 [N, 10]
PROBABILITIES = "probabilities"  # float32 [N, 10], softmax of the logits

CONTRACT = {
    CLASSIFY: {
        "inputs": {IMAGES: ("float32", [-1, *IMAGE_SHAPE])},
        "outputs": {LOGITS: ("float32", [-1, NUM_CLASSES]), PROBABILITIES: ("float32", [-1, NUM_CLASSES])},
    },
    FEATURES: {
        "inputs": {IMAGES: ("float32", [-1, *IMAGE_SHAPE])},
        "outputs": {FEATURES: ("float32", [-1, FEATURE_DIM])},
    },
}


_IMAGES_SPEC = tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32, name=IMAGES)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Training settings of :func:`train_classifier` (the architecture is :func:`build_classifier`).

    ``max_shift`` is the optional light augmentation: each training image is shifted by a random
    whole number of pixels in ``[-max_shift, max_shift]`` along each axis per epoch, padding with
    the background value -1. 0 (the default) turns it off. It helps the 8,000 MNIST digits
    (98.7% after 12 epochs with 2) but slows Fashion-MNIST, whose items are all centred
    (5 epochs: 87.8% with 2, 90.0% with 0).
    """

    learning_rate: float = 1e-3
    max_shift: int = 0
    dropout: float = 0.3


DEFAULT = ClassifierConfig()


def build_classifier(
    num_classes: int = NUM_CLASSES, feature_dim: int = FEATURE_DIM, dropout: float = DEFAULT.dropout
) -> keras.Model:
    """images ``float32 [N, 28, 28, 1]`` in ``[-1, 1]`` -> logits ``float32 [N, num_classes]``.

    Conv 32 3x3 ReLU -> MaxPool 2 -> Conv 64 3x3 ReLU -> MaxPool 2 -> Conv 64 3x3 ReLU
    (28 -> 26 -> 13 -> 11 -> 5 -> 3, all ``valid``) -> Flatten [N, 576] -> Dense(feature_dim,
    ReLU) named ``"features"`` -> Dropout -> Dense(num_classes) logits. With the defaults it has
    130,890 parameters (~0.5 MB of float32); the third conv keeps the Flatten at 576 wide, which
    makes it 58% the size of the two-conv network (225,034 parameters, [N, 1600] Flatten).
    """
    inputs = keras.Input(shape=IMAGE_SHAPE, name=IMAGES)
    x = keras.layers.Conv2D(32, 3, activation="relu", name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu", name="conv3")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(feature_dim, activation="relu", name=FEATURES)(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, name=LOGITS)(x)
    return keras.Model(inputs, logits, name="classifier")


def feature_model(model: keras.Model) -> keras.Model:
    """The sub-network of ``model`` up to its ``"features"`` layer: images -> ``[N, feature_dim]``.

    Shares ``model``'s weights (no copy).
    """
    return keras.Model(model.input, model.get_layer(FEATURES).output, name="classifier_features")


def _shift(images: np.ndarray, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift each image of ``float32 [N, 28, 28, 1]`` by whole pixels in ``[-max_shift, max_shift]``
    per axis, filling with the background value -1."""
    if max_shift <= 0:
        return images
    n, h, w = images.shape[:3]
    m = max_shift
    padded = np.full((n, h + 2 * m, w + 2 * m, images.shape[3]), -1.0, dtype=images.dtype)
    padded[:, m : m + h, m : m + w] = images
    dy = rng.integers(0, 2 * m + 1, size=n)
    dx = rng.integers(0, 2 * m + 1, size=n)
    rows = dy[:, None] + np.arange(h)[None, :]  # [N, h]
    cols = dx[:, None] + np.arange(w)[None, :]  # [N, w]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def _check_images(images) -> np.ndarray:
    """Validate model-range images: ``[N, 28, 28, 1]`` (or ``[N, 28, 28]``) floats in ``[-1, 1]``."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        raise ValueError("images are uint8; scale them with ganhost.data.to_model_range first")
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images [N, 28, 28, 1], got {images.shape}")
    images = images.astype(np.float32, copy=False)
    # A little slack for float error; catches 0..255 floats and other unscaled inputs.
    if images.size and (images.min() < -1.01 or images.max() > 1.01):
        raise ValueError(
            f"images must be in [-1, 1] (the GAN's range), got [{images.min():.3g}, {images.max():.3g}]"
        )
    return images


def train_classifier(
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
    config: ClassifierConfig = DEFAULT,
    num_classes: int = NUM_CLASSES,
    verbose: int = 0,
) -> keras.Model:
    """Train a fresh :func:`build_classifier` on ``images float32 [N, 28, 28, 1]`` in ``[-1, 1]``
    and ``labels`` int ``[N]`` in ``0..num_classes-1``; returns the trained model (logits out).

    Adam(``config.learning_rate``) on sparse softmax cross-entropy, ``epochs`` shuffled passes
    of ``batch_size`` (the last batch of an epoch may be smaller), each epoch on freshly shifted
    copies (``config.max_shift``). ``verbose`` prints one line per epoch. Seeded with
    ``keras.utils.set_random_seed(seed)`` and op determinism on, so the same inputs and seed on
    the same machine type give the same weights.
    """
    images = _check_images(images)
    labels = np.asarray(labels).astype(np.int32)
    if labels.shape != (len(images),):
        raise ValueError(f"labels must be [{len(images)}], got {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be in 0..{num_classes - 1}")
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(seed)

    model = build_classifier(num_classes=num_classes, dropout=config.dropout)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(
        input_signature=[_IMAGES_SPEC, tf.TensorSpec([None], tf.int32)],
        jit_compile=False,
    )
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y), tf.int32))
        return loss, correct

    n = len(images)
    for epoch in range(epochs):
        start = time.perf_counter()
        shifted = _shift(images, rng, config.max_shift)  # a new augmentation per epoch
        order = rng.permutation(n)
        total_loss, total_correct = 0.0, 0
        for i in range(0, n, batch_size):  # the last batch may be smaller
            idx = order[i : i + batch_size]
            loss, correct = step(tf.constant(shifted[idx]), tf.constant(labels[idx]))
            total_loss += float(loss) * len(idx)
            total_correct += int(correct)
        if not np.isfinite(total_loss):
            raise FloatingPointError(f"training diverged in epoch {epoch + 1}")
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs}  loss {total_loss / n:.4f}  train accuracy "
                f"{total_correct / n:.4f} (training mode)  {time.perf_counter() - start:.1f} s",
                flush=True,
            )
    return model


def predict_logits(model: keras.Model, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Logits ``float32 [N, num_classes]`` of a Keras classifier, in inference mode, batched."""
    images = _check_images(images)
    out = [model(images[i : i + batch], training=False).numpy() for i in range(0, len(images), batch)]
    return np.concatenate(out) if out else np.zeros((0, model.output_shape[-1]), np.float32)


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray, batch: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on model-range ``images`` and ``labels [N]``."""
    return float(np.mean(np.argmax(predict_logits(model, images, batch), axis=1) == np.asarray(labels)))


def export_classifier(model: keras.Model, path: PathLike) -> None:
    """Write ``model`` to ``path`` as a SavedModel with the ``classify`` (also
    ``serving_default``) and ``features`` signatures of :data:`CONTRACT`.

    Only the weights the two signatures use are saved: no optimizer state, no dropout seed.
    """
    features = feature_model(model)
    # No archive.track(model): the endpoints track every variable they use, and tracking the
    # model as well would save each variable a second time under another checkpoint key.
    archive = keras.export.ExportArchive()

    def classify(images):
        logits = model(images, training=False)
        return {LOGITS: logits, PROBABILITIES: tf.nn.softmax(logits, axis=-1)}

    # classify first: ExportArchive makes the first endpoint serving_default.
    archive.add_endpoint(CLASSIFY, classify, input_signature=[_IMAGES_SPEC])
    archive.add_endpoint(
        FEATURES, lambda images: {FEATURES: features(images, training=False)}, input_signature=[_IMAGES_SPEC]
    )
    archive.write_out(os.fspath(path), verbose=False)


class Classifier:
    """An exported classifier loaded with ``tf.saved_model.load``: numpy in, numpy out, batched.

    ``images`` are model-range ``float32 [N, 28, 28, 1]`` (or ``[N, 28, 28]``) in ``[-1, 1]``.
    """

    def __init__(self, path: PathLike):
        self.path = Path(path)
        self._loaded = tf.saved_model.load(os.fspath(path))
        self._classify = self._loaded.signatures[CLASSIFY]
        self._features = self._loaded.signatures[FEATURES]
        self.num_classes = int(self._classify.structured_outputs[LOGITS].shape[-1])
        self.feature_dim = int(self._features.structured_outputs[FEATURES].shape[-1])

    def _run(self, fn, key: str, width: int, images, batch: int) -> np.ndarray:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        images = _check_images(images)
        out = [fn(**{IMAGES: tf.constant(images[i : i + batch])})[key].numpy() for i in range(0, len(images), batch)]
        return np.concatenate(out) if out else np.zeros((0, width), np.float32)

    def logits(self, images, batch: int = 1000) -> np.ndarray:
        """``float32 [N, num_classes]`` logits."""
        return self._run(self._classify, LOGITS, self.num_classes, images, batch)

    def probabilities(self, images, batch: int = 1000) -> np.ndarray:
        """``float32 [N, num_classes]`` class probabilities (softmax; rows sum to 1)."""
        return self._run(self._classify, PROBABILITIES, self.num_classes, images, batch)

    def features(self, images, batch: int = 1000) -> np.ndarray:
        """``float32 [N, feature_dim]`` penultimate-layer (ReLU) features."""
        return self._run(self._features, FEATURES, self.feature_dim, images, batch)

    def predict(self, images, batch: int = 1000) -> np.ndarray:
        """``int64 [N]`` most probable class."""
        return np.argmax(self.logits(images, batch), axis=1)


def load_classifier(path: PathLike) -> Classifier:
    """Load a SavedModel written by :func:`export_classifier` (e.g. ``savedmodel/mnist_classifier/1``)."""
    return Classifier(path)


def _record_path(out_dir: PathLike) -> Path:
    # Beside the version, not inside it: copying the version must not carry a stale record.
    return Path(os.path.normpath(out_dir) + ".json")


def train_and_export(
    dataset_path: PathLike,
    out_dir: PathLike,
    epochs: int,
    batch_size: int = 128,
    seed: int = 0,
    config: ClassifierConfig = DEFAULT,
    command: Optional[str] = None,
    verbose: int = 1,
) -> dict:
    """Train on ``dataset_path``'s train split, measure accuracy on its test split, export to
    ``out_dir`` (a new version directory, e.g. ``savedmodel/mnist_classifier/1``, which must not
    exist) and write the record ``out_dir + ".json"`` beside it. Returns the record.

    ``command`` is what the record says made it; by default the equivalent
    ``python -m ganhost.classifier`` command line. ``verbose`` prints progress.
    """
    if os.path.exists(out_dir):
        raise FileExistsError(f"{out_dir} already exists; versions are never overwritten")
    train_images, train_labels = load_dataset(dataset_path, "train")
    test_images, test_labels = load_dataset(dataset_path, "test")
    start = time.perf_counter()
    model = train_classifier(
        to_model_range(train_images), train_labels, epochs, batch_size, seed, config, verbose=verbose
    )
    train_seconds = time.perf_counter() - start
    test_logits = predict_logits(model, to_model_range(test_images))
    predicted = np.argmax(test_logits, axis=1)
    test_accuracy = float(np.mean(predicted == test_labels))
    train_accuracy = accuracy(model, to_model_range(train_images), train_labels)
    per_class = {
        str(c): float(np.mean(predicted[test_labels == c] == c)) for c in range(NUM_CLASSES) if np.any(test_labels == c)
    }
    if verbose:
        print(f"{dataset_path}: test accuracy {test_accuracy:.4f} after {epochs} epochs ({train_seconds:.0f} s)")
    export_classifier(model, out_dir)

    if command is None:
        command = "python -m ganhost.classifier " + shlex.join(
            [
                "--dataset", os.fspath(dataset_path), "--out", os.fspath(out_dir), "--epochs", str(epochs),
                "--batch-size", str(batch_size), "--seed", str(seed), "--max-shift", str(config.max_shift),
            ]
        )  # fmt: skip
    manifest = Path(dataset_path) / "manifest.json"
    record = {
        "command": command,
        "dataset": os.fspath(dataset_path),
        "dataset_source": json.loads(manifest.read_text()).get("source") if manifest.is_file() else None,
        "train_images": int(len(train_labels)),
        "test_images": int(len(test_labels)),
        "test_accuracy": test_accuracy,
        "test_accuracy_per_class": per_class,
        "train_accuracy": train_accuracy,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "config": dataclasses.asdict(config),
        "parameters": int(model.count_params()),
        "signatures": {name: sorted(spec["outputs"]) for name, spec in CONTRACT.items()},
        "input_range": "float32 [N, 28, 28, 1] in [-1, 1] (ganhost.data.to_model_range)",
        "train_seconds": round(train_seconds, 1),
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    with open(_record_path(out_dir), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    return record


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ganhost.classifier",
        description="Train the scoring classifier on a dataset and export it as a SavedModel.",
    )
    parser.add_argument("--dataset", required=True, help="IDX directory or mnist.npz, e.g. data/mnist")
    parser.add_argument("--out", required=True, help="version directory to create, e.g. savedmodel/mnist_classifier/1")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shift", type=int, default=DEFAULT.max_shift, help="augmentation: random shift in pixels")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    record = train_and_export(
        args.dataset, args.out, args.epochs, args.batch_size, args.seed,
        config=dataclasses.replace(DEFAULT, max_shift=args.max_shift),
        command="python -m ganhost.classifier " + shlex.join(argv),
    )  # fmt: skip
    print(json.dumps({k: record[k] for k in ("test_accuracy", "train_seconds", "parameters")}))


if __name__ == "__main__":
    main()
