"""Export a generator and discriminator that a user trained elsewhere (a notebook, a script) as
the next version of a SavedModel base path, which the Go host serves and keeps training.

How to hand over the networks (one way: Keras models)
-----------------------------------------------------
Each network is a **Keras model**: either the model object itself or the path of a file that
``model.save(...)`` wrote (``.keras``; a legacy full-model ``.h5`` works too). Weights-only files
(``.weights.h5``, TensorFlow checkpoints) carry no architecture and are refused with a hint.

A checkpoint of our own :class:`ganhost.model.GAN` (``gan.save_weights("x.weights.h5")``) is
turned into Keras models by rebuilding the GAN from its preset first::

    gan = GAN(PRESETS["default"]); gan.load_weights("x.weights.h5")
    export_user_models(gan.generator, gan.discriminator, "savedmodel/mymodel")

The contract the networks must meet (``ganhost.signatures``)
------------------------------------------------------------
* generator: noise ``z`` float32 ``[N, 100]`` (and, if conditional, class labels int32 ``[N]``)
  -> images float32 ``[N, 28, 28, 1]``, best in ``[-1, 1]`` (tanh) like the training data.
  A flat ``[N, 784]`` (or ``[N, 28, 28]``) output is accepted: a Reshape layer is appended.
* discriminator: images ``[N, 28, 28, 1]`` (and labels) -> one raw **logit** per image ``[N, 1]``
  (real > 0). A ``[N, 28, 28]`` or ``[N, 784]`` input is accepted: a Reshape is prepended. A final
  sigmoid (or softmax) is refused, because the host's loss is
  ``BinaryCrossentropy(from_logits=True)``; ``strip_sigmoid=True`` removes one that sits in the
  last Dense/Activation layer (those pre-sigmoid values are exactly the logits).
* a labels input may also be ``[N, 1]`` (as in the Keras cGAN examples) and come first; the
  export adapts it. A conditional discriminator whose label-free logit is a layer named
  ``realness`` gets a label-free ``discriminate`` signature; otherwise it scores against label 0.

The exported model trains with fresh Adam optimizers (``learning_rate``, ``beta_1``) and a global
step of 0: the user's optimizer state is not carried over.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np

# Keras and TensorFlow are imported inside the functions, so that `python -m ganhost` can add
# this module's CLI arguments without paying for a TensorFlow import.
from ganhost.config import IMAGE_SHAPE, LATENT_DIM

# Image layouts accepted besides [N, 28, 28, 1]: a Reshape maps between them and the contract's.
IMAGE_LAYOUTS = ((28, 28, 1), (784,), (28, 28), (1, 28, 28))
# Final activations that turn logits into (log-)probabilities, compared without "_" and case.
_PROBABILITY_ACTIVATIONS = {"sigmoid", "softmax", "hardsigmoid", "logsigmoid", "logsoftmax"}
# Layers that pass their input's activation through unchanged (looked through for a sigmoid).
_TRANSPARENT_LAYERS = ("Reshape", "Flatten", "Dropout", "Identity", "Activation", "InputLayer")
_VERSION_NAME = re.compile(r"[0-9]+")


class ExportError(ValueError):
    """A network does not meet the host's contract, or it cannot be loaded or exported."""


@dataclasses.dataclass
class _Prepared:
    model: Any  # keras.Model meeting the contract, possibly a wrapper around the user's
    adaptations: list[str]


# --------------------------------------------------------------------------------------------
# Loading


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load(role: str, model_or_path, custom_objects, safe_mode: bool):
    """-> (keras.Model, source record)."""
    import keras

    if isinstance(model_or_path, keras.Model):
        cls = type(model_or_path)
        return model_or_path, {"kind": "keras_model", "name": model_or_path.name, "class": f"{cls.__module__}.{cls.__qualname__}"}
    if not isinstance(model_or_path, (str, os.PathLike)):
        raise TypeError(f"{role}: expected a keras.Model or the path of a .keras file, got {type(model_or_path).__name__}")
    path = Path(model_or_path)
    if not path.exists():
        raise ExportError(f"{role}: {path} does not exist")
    name = path.name.lower()
    if name.endswith(".weights.h5") or path.is_dir() or not name.endswith((".keras", ".h5", ".hdf5")):
        raise ExportError(
            f"{role}: {path} is not a whole Keras model file (.keras, written by model.save('{role}.keras')). "
            "Weights-only files and checkpoints carry no architecture: build the model in Python, "
            f"call load_weights, and pass the model object (or save it with model.save('{role}.keras'))"
        )
    try:
        model = keras.models.load_model(path, compile=False, custom_objects=custom_objects, safe_mode=safe_mode)
    except Exception as e:  # noqa: BLE001 - any loader failure becomes one clear error
        raise ExportError(f"{role}: cannot load {path}: {type(e).__name__}: {e}") from e
    if not isinstance(model, keras.Model):
        raise ExportError(f"{role}: {path} holds a {type(model).__name__}, not a keras.Model")
    source = {"kind": "keras_file", "path": str(path.resolve()), "sha256": _sha256(path), "bytes": path.stat().st_size}
    return model, source


# --------------------------------------------------------------------------------------------
# Shapes


def _fmt(shape) -> str:
    """(None, 28, 28, 1) -> '[N, 28, 28, 1]'; the batch dimension reads N."""
    dims = ["N" if i == 0 and d is None else ("?" if d is None else str(d)) for i, d in enumerate(shape)]
    return "[" + ", ".join(dims) + "]"


def _matches(shape, expected) -> bool:
    """Whether a static shape (batch dim first) fits ``expected`` (no batch dim); None fits all."""
    shape = tuple(shape)
    return len(shape) == len(expected) + 1 and all(d is None or d == e for d, e in zip(shape[1:], expected))


def _layout(shape):
    """The IMAGE_LAYOUTS entry a static image shape fits, or None."""
    return next((layout for layout in IMAGE_LAYOUTS if _matches(shape, layout)), None)


def _is_label_like(t) -> bool:
    return _matches(t.shape, ()) or _matches(t.shape, (1,))


def _is_float(dtype) -> bool:
    return str(dtype).startswith(("float", "bfloat"))


def _is_int(dtype) -> bool:
    return str(dtype).startswith(("int", "uint"))


def _tname(t) -> str:
    """A tensor's readable name: its Input layer's name, or the layer that produced it."""
    history = getattr(t, "_keras_history", None)
    if history is not None and getattr(history.operation, "name", None):
        return history.operation.name
    return str(getattr(t, "name", "?"))


def _describe_inputs(inputs) -> str:
    return ", ".join(f"'{_tname(t)}' {t.dtype} {_fmt(t.shape)}" for t in inputs)


def _static_io(role: str, model):
    """(inputs, outputs) as KerasTensors of a functional/Sequential model, or (None, None) for a
    subclassed one (checked by running it only)."""
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        return None, None
    if len(outputs) != 1:
        raise ExportError(f"{role} '{model.name}' has {len(outputs)} outputs ({_describe_inputs(outputs)}); expected exactly one")
    return inputs, outputs


def _split_inputs(role: str, model, inputs, conditional: bool | None, main_name: str, main_expected: str, why: str = ""):
    """Pick the main input (z or images) and the labels input. -> (conditional, main, labels, labels_first)."""
    if conditional is None:
        conditional = len(inputs) == 2
    want = 2 if conditional else 1
    if len(inputs) != want:
        kind = f"{main_name} {main_expected} and labels int32 [N]" if conditional else f"{main_name} {main_expected}"
        raise ExportError(
            f"{role} '{model.name}' takes {len(inputs)} input(s) ({_describe_inputs(inputs)}); "
            f"a {'conditional' if conditional else 'unconditional'} {role}{why} takes {want}: {kind}"
        )
    if not conditional:
        return False, inputs[0], None, False
    label_like = [_is_label_like(t) for t in inputs]
    if label_like == [False, True]:
        return True, inputs[0], inputs[1], False
    if label_like == [True, False]:
        return True, inputs[1], inputs[0], True
    raise ExportError(
        f"{role} '{model.name}' inputs ({_describe_inputs(inputs)}): a conditional {role} takes "
        f"{main_name} {main_expected} and one labels input int32 [N] (or [N, 1]); cannot tell which is which"
    )


def _check_labels(role: str, model, labels) -> None:
    if not (_is_int(labels.dtype) or _is_float(labels.dtype)):
        raise ExportError(f"{role} '{model.name}' labels input '{_tname(labels)}' has dtype {labels.dtype}; expected int32 [N]")


def _labels_need_adapting(labels) -> bool:
    """Whether the user's labels input differs from the contract's int32 [N]."""
    return labels is not None and (len(labels.shape) == 2 or str(labels.dtype) != "int32")


def _wire_labels(main, labels, labels_first: bool, main_name: str, adaptations: list[str]):
    """Add the contract's int32 [N] labels input and map it onto the user's labels input ([N] or
    [N, 1], its dtype). Returns that input and the user model's arguments in its own order."""
    import keras

    labels_in = keras.Input((), dtype="int32", name="labels")
    x = labels_in
    if len(labels.shape) == 2:
        x = keras.ops.expand_dims(x, -1)
    if str(labels.dtype) != "int32":
        x = keras.ops.cast(x, labels.dtype)
    if labels_first:
        adaptations.append(f"reordered inputs to [{main_name}, labels]")
    if _labels_need_adapting(labels):
        adaptations.append(f"labels int32 [N] fed to its labels input {labels.dtype} {_fmt(labels.shape)}")
    return labels_in, ([x, main] if labels_first else [main, x])


# --------------------------------------------------------------------------------------------
# Final activation of the discriminator


def _activation_name(op) -> str | None:
    fn = getattr(op, "activation", None)
    if fn is not None and callable(fn):
        return getattr(fn, "__name__", None)
    return None


def _norm(name: str) -> str:
    return name.lower().replace("_", "")


def _final_activation(tensor, depth: int = 0):
    """(op, name) when the op producing ``tensor`` is a probability activation (sigmoid, softmax,
    ...), looking through reshapes, dropout, linear activations and nested models; else
    (None, None)."""
    import keras

    history = getattr(tensor, "_keras_history", None)
    if history is None or depth > 50:
        return None, None
    op = history.operation
    if isinstance(op, keras.Model):
        try:
            return _final_activation(op.outputs[history.tensor_index], depth + 1)
        except (AttributeError, ValueError, IndexError):
            return None, None
    cls = type(op).__name__
    name = _activation_name(op)
    if name is None and _norm(cls) in _PROBABILITY_ACTIVATIONS:
        name = cls  # a functional-API op such as keras.activations.sigmoid(x)
    if name is not None and _norm(name) in _PROBABILITY_ACTIVATIONS:
        return op, name
    if cls in _TRANSPARENT_LAYERS and name in (None, "linear"):
        try:
            (inp,) = op._inbound_nodes[history.node_index].input_tensors
        except (AttributeError, IndexError, ValueError):
            return None, None
        return _final_activation(inp, depth + 1)
    return None, None


def _strip_activation(op) -> bool:
    """Make the last Dense/Activation layer linear; False where that is not possible."""
    import keras

    if isinstance(op, keras.layers.Layer) and hasattr(op, "activation"):
        op.activation = keras.activations.linear
        return True
    return False


# --------------------------------------------------------------------------------------------
# Per-network preparation


def _ensure_trainable(role: str, model, adaptations: list[str]) -> None:
    if not model.trainable:
        # The classic Keras GAN recipe freezes the discriminator to build the combined model, and
        # model.save keeps that flag: the host could then never train it.
        model.trainable = True
        adaptations.append("set trainable=True (the model was saved frozen)")
        warnings.warn(f"{role} '{model.name}' was frozen (trainable=False); exporting it trainable so the host can train it", stacklevel=3)
    if not model.trainable_weights:
        raise ExportError(f"{role} '{model.name}' has no trainable weights: the host could not train it")


def _check_built(role: str, model) -> None:
    if not model.built:
        raise ExportError(
            f"{role} '{model.name}' has not been built (it has no weights yet): pass the trained model, "
            "or give a Sequential model an Input layer"
        )


def _prepare_generator(model, conditional: bool | None) -> tuple[_Prepared, bool]:
    import keras

    role = "generator"
    _check_built(role, model)
    adaptations: list[str] = []
    inputs, outputs = _static_io(role, model)
    if inputs is None:
        if conditional is None:
            raise ExportError(f"{role} '{model.name}' is a subclassed model whose inputs cannot be inspected: pass conditional=True or False")
        _ensure_trainable(role, model, adaptations)
        return _Prepared(model, adaptations), conditional

    conditional, z, labels, labels_first = _split_inputs(role, model, inputs, conditional, "z", f"float32 [N, {LATENT_DIM}]")
    if not _matches(z.shape, (LATENT_DIM,)):
        raise ExportError(
            f"{role} '{model.name}' input '{_tname(z)}' (the noise z) has shape {_fmt(z.shape)}; expected float32 [N, {LATENT_DIM}]: "
            f"the host always samples {LATENT_DIM}-dimensional standard normal noise"
        )
    if not _is_float(z.dtype):
        raise ExportError(f"{role} '{model.name}' input '{_tname(z)}' (the noise z) has dtype {z.dtype}; expected float32 [N, {LATENT_DIM}]")
    if labels is not None:
        _check_labels(role, model, labels)
    (out,) = outputs
    layout = _layout(out.shape)
    if layout is None:
        raise ExportError(
            f"{role} '{model.name}' output (layer '{_tname(out)}') has shape {_fmt(out.shape)}; expected images float32 [N, 28, 28, 1] "
            "(or a flat [N, 784], which gets a Reshape)"
        )
    if str(out.dtype) != "float32":
        raise ExportError(f"{role} '{model.name}' output (layer '{_tname(out)}') has dtype {out.dtype}; expected float32 [N, 28, 28, 1]")

    _ensure_trainable(role, model, adaptations)
    needs_wrap = layout != IMAGE_SHAPE or labels_first or _labels_need_adapting(labels)
    if not needs_wrap:
        return _Prepared(model, adaptations), conditional
    z_in = keras.Input((LATENT_DIM,), name="z")
    wrapper_inputs, args = [z_in], [z_in]
    if conditional:
        labels_in, args = _wire_labels(z_in, labels, labels_first, "z", adaptations)
        wrapper_inputs.append(labels_in)
    x = model(args if conditional else z_in)
    if layout != IMAGE_SHAPE:
        x = keras.layers.Reshape(IMAGE_SHAPE, name="to_images")(x)
        adaptations.append(f"appended Reshape {_fmt(out.shape)} -> [N, 28, 28, 1]")
    # A single input is not wrapped in a list, so calling the model with one tensor matches it.
    wrapper = keras.Model(wrapper_inputs if conditional else z_in, x, name="generator")
    return _Prepared(wrapper, adaptations), conditional


def _prepare_discriminator(model, conditional: bool, strip_sigmoid: bool) -> _Prepared:
    import keras

    role = "discriminator"
    _check_built(role, model)
    adaptations: list[str] = []
    inputs, outputs = _static_io(role, model)
    if inputs is None:
        _ensure_trainable(role, model, adaptations)
        return _Prepared(model, adaptations)

    why = " (the generator takes labels)" if conditional else " (the generator takes none)"
    _, images, labels, labels_first = _split_inputs(role, model, inputs, conditional, "images", "float32 [N, 28, 28, 1]", why)
    layout = _layout(images.shape)
    if layout is None:
        raise ExportError(
            f"{role} '{model.name}' input '{_tname(images)}' (the images) has shape {_fmt(images.shape)}; expected float32 [N, 28, 28, 1] "
            "(or [N, 28, 28] or a flat [N, 784], which get a Reshape)"
        )
    if not _is_float(images.dtype):
        raise ExportError(f"{role} '{model.name}' input '{_tname(images)}' (the images) has dtype {images.dtype}; expected float32 [N, 28, 28, 1]")
    if labels is not None:
        _check_labels(role, model, labels)
    (out,) = outputs
    if not _matches(out.shape, (1,)):
        raise ExportError(
            f"{role} '{model.name}' output (layer '{_tname(out)}') has shape {_fmt(out.shape)}; expected logits float32 [N, 1] (one per image)"
        )
    if str(out.dtype) != "float32":
        raise ExportError(f"{role} '{model.name}' output (layer '{_tname(out)}') has dtype {out.dtype}; expected logits float32 [N, 1]")
    op, activation = _final_activation(out)
    if activation is not None:
        if strip_sigmoid and _strip_activation(op):
            adaptations.append(f"removed the final {activation} of layer '{op.name}' (its input is the logit)")
            warnings.warn(f"{role} '{model.name}': removed the final {activation} of layer '{op.name}'", stacklevel=3)
        else:
            hint = (
                f"set `{role}.get_layer('{op.name}').activation = keras.activations.linear` before exporting, "
                "or pass strip_sigmoid=True (--strip-sigmoid)"
                if isinstance(op, keras.layers.Layer) and hasattr(op, "activation")
                else "rebuild the model without that op and copy the weights over"
            )
            raise ExportError(
                f"{role} '{model.name}' output {_fmt(out.shape)} ends in a {activation} (layer '{op.name}'): "
                "the host trains with BinaryCrossentropy(from_logits=True), which needs raw logits (real > 0), "
                "so probabilities would be squashed a second time and training would stall. "
                + ("The values before a final sigmoid are exactly those logits: " if _norm(activation) == "sigmoid" else "Output the logit instead: ")
                + hint
            )

    _ensure_trainable(role, model, adaptations)
    needs_wrap = layout != IMAGE_SHAPE or labels_first or _labels_need_adapting(labels)
    if not needs_wrap:
        return _Prepared(model, adaptations)
    images_in = keras.Input(IMAGE_SHAPE, name="images")
    x = images_in
    if layout != IMAGE_SHAPE:
        x = keras.layers.Reshape(layout, name="from_images")(x)
        adaptations.append(f"prepended Reshape [N, 28, 28, 1] -> {_fmt((None, *layout))}")
    wrapper_inputs, args = [images_in], x
    if conditional:
        labels_in, args = _wire_labels(x, labels, labels_first, "images", adaptations)
        wrapper_inputs.append(labels_in)
    wrapper = keras.Model(wrapper_inputs if conditional else images_in, model(args), name="discriminator")
    return _Prepared(wrapper, adaptations)


def _call_quietly(model, inputs):
    # Keras warns when a model built on a one-element input list is called with a bare tensor;
    # the exported signatures call it that way, and it works.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        return model(inputs, training=False)


def _probe(generator, discriminator, conditional: bool, g_name: str, d_name: str) -> None:
    """Run both networks once on a small batch: catches what static shapes cannot (subclassed
    models, dims known only at run time) with an error that names the network and tensor."""
    import tensorflow as tf

    n = 2
    z = tf.constant(np.random.default_rng(0).standard_normal((n, LATENT_DIM)).astype(np.float32))
    labels = tf.constant(np.arange(n, dtype=np.int32))
    what = f"z float32 [{n}, {LATENT_DIM}]" + (f", labels int32 [{n}]" if conditional else "")
    try:
        images = _call_quietly(generator, [z, labels] if conditional else z)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"generator '{g_name}' failed on {what}: {type(e).__name__}: {e}") from e
    if not isinstance(images, tf.Tensor) or tuple(images.shape) != (n, *IMAGE_SHAPE) or images.dtype != tf.float32:
        got = f"{images.dtype.name} {list(images.shape)}" if isinstance(images, tf.Tensor) else type(images).__name__
        raise ExportError(f"generator '{g_name}' output on {what} is {got}; expected float32 [{n}, 28, 28, 1]")
    values = images.numpy()
    if not np.all(np.isfinite(values)):
        raise ExportError(f"generator '{g_name}' output is not finite (NaN or Inf) on {what}")
    if values.min() < -1.001 or values.max() > 1.001:
        warnings.warn(
            f"generator '{g_name}' output spans [{values.min():.3g}, {values.max():.3g}]; the host's images are in [-1, 1] "
            "(a final tanh): outside values are clipped when shown, and the discriminator sees them unclipped",
            stacklevel=3,
        )
    try:
        logits = _call_quietly(discriminator, [images, labels] if conditional else images)
    except Exception as e:  # noqa: BLE001
        raise ExportError(f"discriminator '{d_name}' failed on images float32 [{n}, 28, 28, 1]: {type(e).__name__}: {e}") from e
    if not isinstance(logits, tf.Tensor) or tuple(logits.shape) != (n, 1) or logits.dtype != tf.float32:
        got = f"{logits.dtype.name} {list(logits.shape)}" if isinstance(logits, tf.Tensor) else type(logits).__name__
        raise ExportError(
            f"discriminator '{d_name}' output on images float32 [{n}, 28, 28, 1] is {got}; expected logits float32 [{n}, 1]"
        )
    if not np.all(np.isfinite(logits.numpy())):
        raise ExportError(f"discriminator '{d_name}' output is not finite (NaN or Inf)")


# --------------------------------------------------------------------------------------------
# Versions


def existing_versions(base_path: str | os.PathLike) -> list[int]:
    """The numeric entries of a base path, ascending (what the next version must exceed)."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return []
    return sorted(int(n) for n in names if _VERSION_NAME.fullmatch(n))


def next_version(base_path: str | os.PathLike) -> int:
    """Highest numeric subdirectory of ``base_path`` + 1 (1 for an empty or missing base)."""
    versions = existing_versions(base_path)
    return versions[-1] + 1 if versions else 1


def _fsync_tree(root: str) -> None:
    for dirpath, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(root)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: str, base: str) -> tuple[int, str]:
    """Rename the finished export ``tmp`` to the next free version under ``base``."""
    for _ in range(100):  # another writer (a Go host saving) may take a number meanwhile
        version = next_version(base)
        final = os.path.join(base, str(version))
        if os.path.lexists(final):
            continue
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                continue
            raise
        _fsync_dir(base)
        return version, final
    raise ExportError(f"cannot publish a new version under {base}: version numbers keep being taken")


def _write_json(path: str, record: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# The export


def export_user_models(
    generator,
    discriminator,
    base_path: str | os.PathLike,
    conditional: bool | None = None,
    learning_rate: float = 2e-4,
    beta_1: float = 0.5,
    *,
    strip_sigmoid: bool = False,
    custom_objects: Mapping[str, Any] | None = None,
    safe_mode: bool = True,
    info: Mapping[str, Any] | None = None,
) -> tuple[int, str]:
    """Validate a user's trained networks and write them as the next version under ``base_path``.

    ``generator``/``discriminator``: Keras models, or paths of ``.keras`` files (see the module
    docstring for the contract and the adaptations made). ``conditional``: None detects it from
    the generator's inputs (two inputs: z and labels). ``learning_rate``/``beta_1``: the Adam
    settings the host trains with. ``strip_sigmoid``: remove a discriminator's final sigmoid
    instead of refusing it. ``custom_objects``/``safe_mode``: passed to ``keras.models.load_model``.
    ``info``: extra JSON-able facts (e.g. how the networks were trained) kept in the record.

    The SavedModel is written to a hidden temporary directory inside ``base_path`` and renamed to
    ``base_path/<highest numeric entry + 1>``, so a partial export never looks like a version.
    ``base_path/<version>.training.json`` records where the networks came from.

    Returns ``(version, path of the version directory)``. Raises :class:`ExportError` (a
    ValueError) naming the network, the tensor and expected vs. actual shape when a network does
    not meet the contract; no version or temporary directory is left under ``base_path`` then.
    """
    import keras
    import tensorflow as tf

    from ganhost.config import DEFAULT
    from ganhost.export import export_savedmodel
    from ganhost.model import GAN

    if not learning_rate > 0:
        raise ExportError(f"learning_rate must be > 0, got {learning_rate}")
    if not 0 <= beta_1 < 1:
        raise ExportError(f"beta_1 must be in [0, 1), got {beta_1}")
    base = os.fspath(base_path)
    if os.path.exists(base) and not os.path.isdir(base):
        raise ExportError(f"base path {base} exists and is not a directory")

    g_model, g_source = _load("generator", generator, custom_objects, safe_mode)
    d_model, d_source = _load("discriminator", discriminator, custom_objects, safe_mode)
    if g_model is d_model:
        raise ExportError("generator and discriminator are the same model")
    g, conditional = _prepare_generator(g_model, conditional)
    d = _prepare_discriminator(d_model, conditional, strip_sigmoid)
    shared = {id(v) for v in g.model.trainable_weights} & {id(v) for v in d.model.trainable_weights}
    if shared:
        raise ExportError(f"generator and discriminator share {len(shared)} trainable weight(s): each network needs its own")
    _probe(g.model, d.model, conditional, g_model.name, d_model.name)

    cfg = dataclasses.replace(DEFAULT, conditional=conditional, learning_rate=float(learning_rate), beta_1=float(beta_1))
    gan = GAN(cfg, generator=g.model, discriminator=d.model)

    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=base)
    try:
        tf_logger = tf.get_logger()
        level = tf_logger.level
        tf_logger.setLevel("WARNING")  # not "INFO: Assets written to <the temporary directory>"
        try:
            export_savedmodel(gan, tmp)
        except Exception as e:  # noqa: BLE001
            raise ExportError(f"exporting the SavedModel failed: {type(e).__name__}: {e}") from e
        finally:
            tf_logger.setLevel(level)
        _fsync_tree(tmp)
        version, final = _publish(tmp, base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    def network(prepared: _Prepared, source: dict, model) -> dict:
        return {
            "source": source,
            "adaptations": prepared.adaptations,
            "parameters": int(model.count_params()),
        }

    record = {
        "exported_by": "ganhost.export_tools.export_user_models",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "version": version,
        "conditional": conditional,
        "generator": network(g, g_source, g_model),
        "discriminator": network(d, d_source, d_model),
        "optimizer": {
            "name": "Adam (one per network)",
            "learning_rate": float(learning_rate),
            "beta_1": float(beta_1),
            "state": "fresh: zero moments, global step 0",
        },
        "info": dict(info) if info else {},
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    # Beside the version, not inside it (like `python -m ganhost train`): a host copying the version
    # must not carry a stale record.
    _write_json(os.path.join(base, f"{version}.training.json"), record)
    return version, final


# --------------------------------------------------------------------------------------------
# Command line (scripts/export_savedmodel.py and `python -m ganhost export-user`)


def add_arguments(parser) -> None:
    """The export CLI's arguments on an argparse parser (imports no TensorFlow)."""
    parser.add_argument("--generator", required=True, metavar="PATH", help="the trained generator, a .keras file (model.save)")
    parser.add_argument("--discriminator", required=True, metavar="PATH", help="the trained discriminator, a .keras file")
    parser.add_argument("--base", required=True, metavar="DIR", help="model base path; the export becomes its next version, e.g. savedmodel/mymodel")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--conditional", dest="conditional", action="store_const", const=True, default=None,
                      help="the networks take class labels (default: detected from the generator's inputs)")
    kind.add_argument("--unconditional", dest="conditional", action="store_const", const=False, help="the networks take no labels")
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="Adam learning rate the host trains with (default 2e-4)")
    parser.add_argument("--beta-1", type=float, default=0.5, help="Adam beta_1 the host trains with (default 0.5)")
    parser.add_argument("--strip-sigmoid", action="store_true", help="remove a final sigmoid of the discriminator instead of refusing it")


def run(args, command: str | None = None) -> int:
    """Run the export for parsed ``args``; prints the result or the error. Returns an exit code."""
    try:
        version, path = export_user_models(
            args.generator,
            args.discriminator,
            args.base,
            conditional=args.conditional,
            learning_rate=args.learning_rate,
            beta_1=args.beta_1,
            strip_sigmoid=args.strip_sigmoid,
            info={"command": command} if command else None,
        )
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"exported version {version}: {path}")
    print(f"  try it:   bin/ganhost generate -model-base {args.base} -n 16 -out grid.png")
    print(f"  serve it: bin/ganhost serve -model-base {args.base} -data data/mnist")
    return 0
