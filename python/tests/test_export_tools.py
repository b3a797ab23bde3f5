"""Exporting networks a user trained elsewhere (ganhost.export_tools, scripts/export_savedmodel.py),
checked with tf.saved_model.load and, where bin/ganhost and data/mnist exist, with the Go host."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import batch

from ganhost import signatures as sig
from ganhost.export_tools import ExportError, export_user_models, next_version

REPO = pathlib.Path(__file__).resolve().parents[2]
GANHOST_BIN = pathlib.Path(os.environ.get("GANHOST_BIN", REPO / "bin" / "ganhost"))
MNIST = REPO / "data" / "mnist"


# ---------------------------------------------------------------------------------------------
# Small user networks, built the way a user would (functional and Sequential, no ganhost code).


def user_generator(latent=100, out_shape=(28, 28, 1), name="user_gen", conditional=False, labels_shape=(), labels_dtype="int32"):
    z = keras.Input((latent,), name="noise")
    inputs, x = [z], z
    if conditional:
        labels = keras.Input(labels_shape, dtype=labels_dtype, name="digit")
        inputs.append(labels)
        emb = keras.layers.Flatten()(keras.layers.Embedding(10, 4)(labels))
        x = keras.layers.Concatenate()([z, emb])
    x = keras.layers.Dense(16, use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dense(int(np.prod(out_shape)), activation="tanh")(x)
    if out_shape != (int(np.prod(out_shape)),):
        x = keras.layers.Reshape(out_shape)(x)
    return keras.Model(inputs, x, name=name)


def user_discriminator(in_shape=(28, 28, 1), activation=None, name="user_disc", units=1):
    return keras.Sequential(
        [
            keras.Input(in_shape, name="picture"),
            keras.layers.Flatten(),
            keras.layers.Dense(16),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(units, activation=activation, name="score"),
        ],
        name=name,
    )


def user_cond_discriminator(labels_first=False, labels_shape=(1,), labels_dtype="float32"):
    """A cGAN-tutorial-style discriminator: labels [N, 1] float32, here optionally first."""
    images = keras.Input((28, 28, 1), name="picture")
    labels = keras.Input(labels_shape, dtype=labels_dtype, name="digit")
    feats = keras.layers.Dense(16)(keras.layers.Flatten()(images))
    feats = keras.layers.LeakyReLU(0.2)(feats)
    emb = keras.layers.Flatten()(keras.layers.Embedding(10, 16)(labels))
    x = keras.layers.Concatenate()([feats, emb])
    logit = keras.layers.Dense(1)(x)
    return keras.Model([labels, images] if labels_first else [images, labels], logit, name="user_cond_disc")


def env_for_subprocess():
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python"), env.get("PYTHONPATH")]))
    return env


def io_spec(tensors):
    return {k: (v.dtype.name, [d if d is not None else -1 for d in v.shape]) for k, v in tensors.items()}


def assert_full_contract(path, conditional):
    """The SavedModel at ``path`` has every signature of the contract and they run."""
    loaded = tf.saved_model.load(str(path))
    contract = sig.contract(conditional)
    assert set(loaded.signatures) == {*contract, "serving_default"}
    for name, spec in contract.items():
        fn = loaded.signatures[name]
        assert io_spec(fn.structured_input_signature[1]) == {k: (dt, s) for k, (dt, s) in spec["inputs"].items()}
        assert io_spec(fn.structured_outputs) == {k: (dt, s) for k, (dt, s) in spec["outputs"].items()}
    images, z = batch(8)
    extra = {sig.LABELS: tf.constant(np.arange(8) % 10, tf.int32)} if conditional else {}
    gen = loaded.signatures[sig.GENERATE]
    before = gen(z=tf.constant(z), **extra)[sig.IMAGES].numpy()
    assert before.shape == (8, 28, 28, 1) and before.min() >= -1 and before.max() <= 1
    np.testing.assert_array_equal(before, gen(z=tf.constant(z), **extra)[sig.IMAGES].numpy())  # inference mode
    for step in (1, 2):
        out = loaded.signatures[sig.TRAIN_STEP](images=tf.constant(images), z=tf.constant(z), **extra)
        assert np.isfinite(out[sig.D_LOSS].numpy()) and np.isfinite(out[sig.G_LOSS].numpy())
        assert out[sig.STEP].numpy() == step
    assert not np.array_equal(before, gen(z=tf.constant(z), **extra)[sig.IMAGES].numpy())
    logits = loaded.signatures[sig.DISCRIMINATE](images=tf.constant(images))[sig.LOGITS].numpy()
    assert logits.shape == (8, 1) and np.all(np.isfinite(logits))
    return loaded


def versions(base):
    return sorted(int(p.name) for p in pathlib.Path(base).iterdir() if p.name.isdigit())


def no_leftovers(base):
    return [p.name for p in pathlib.Path(base).iterdir() if p.name.startswith(".tmp-export-")]


def run_ganhost(*args, timeout=300):
    proc = subprocess.run([str(GANHOST_BIN), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert proc.returncode == 0, f"bin/ganhost {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def needs_go_host(data=False):
    if not GANHOST_BIN.is_file():
        pytest.skip(f"{GANHOST_BIN} not built (make build)")
    if data and not (MNIST / "manifest.json").is_file():
        pytest.skip(f"{MNIST} missing (make data)")


# ---------------------------------------------------------------------------------------------
# The command line over .keras files: the user's way in from a notebook.


@pytest.fixture(scope="module")
def cli_export(tmp_path_factory):
    """User networks saved as .keras files, exported with scripts/export_savedmodel.py."""
    work = tmp_path_factory.mktemp("cli")
    keras.utils.set_random_seed(1)
    user_generator().save(work / "gen.keras")
    user_discriminator().save(work / "disc.keras")
    base = work / "savedmodel" / "mymodel"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "export_savedmodel.py"), "--generator", str(work / "gen.keras"),
         "--discriminator", str(work / "disc.keras"), "--base", str(base)],
        capture_output=True, text=True, timeout=300, env=env_for_subprocess(), cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"exported version 1: {base / '1'}" in proc.stdout
    return work, base


def test_cli_export_has_the_full_contract(cli_export):
    work, base = cli_export
    assert versions(base) == [1] and not no_leftovers(base)
    assert_full_contract(base / "1", conditional=False)
    record = json.loads((base / "1.training.json").read_text())
    assert record["version"] == 1 and record["conditional"] is False
    for role, file in (("generator", "gen.keras"), ("discriminator", "disc.keras")):
        source = record[role]["source"]
        assert source["kind"] == "keras_file" and source["path"] == str((work / file).resolve())
        assert len(source["sha256"]) == 64
        assert record[role]["adaptations"] == []
    assert record["optimizer"]["learning_rate"] == 2e-4 and record["optimizer"]["beta_1"] == 0.5
    assert "scripts/export_savedmodel.py --generator" in record["info"]["command"]


def test_cli_refuses_a_sigmoid_discriminator_with_a_clear_error(tmp_path):
    user_generator().save(tmp_path / "gen.keras")
    user_discriminator(activation="sigmoid").save(tmp_path / "disc.keras")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "export_savedmodel.py"), "--generator", str(tmp_path / "gen.keras"),
         "--discriminator", str(tmp_path / "disc.keras"), "--base", str(tmp_path / "base")],
        capture_output=True, text=True, timeout=300, env=env_for_subprocess(), cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: discriminator 'user_disc'" in proc.stderr and "sigmoid" in proc.stderr and "logits" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "base").exists() or versions(tmp_path / "base") == []


def test_go_host_generates_and_trains_the_export(cli_export, tmp_path):
    needs_go_host(data=True)
    base = tmp_path / "mymodel"
    shutil.copytree(cli_export[1], base)
    png = tmp_path / "grid.png"
    out = run_ganhost("generate", "-model-base", base, "-n", 4, "-out", png)
    assert "version 1" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = run_ganhost("train", "-model-base", base, "-data", MNIST, "-steps", 3, "-batch", 8, "-seed", 1, "-save")
    assert re.search(r"saved version 2\b", out), out
    assert versions(base) == [1, 2]
    # The Go-trained version is still a full SavedModel, for Python and for Go.
    loaded = tf.saved_model.load(str(base / "2"))
    _, z = batch(2)
    assert loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].shape == (2, 28, 28, 1)
    assert "version 2" in run_ganhost("generate", "-model-base", base, "-n", 4, "-out", png)


# ---------------------------------------------------------------------------------------------
# Adaptations and numbering


def test_flat_generator_output_and_flat_discriminator_input_are_accepted(tmp_path):
    gen = user_generator(out_shape=(784,))
    disc = user_discriminator(in_shape=(784,))
    disc.trainable = False  # as the classic Keras GAN recipe leaves it
    with pytest.warns(UserWarning, match="frozen"):
        version, path = export_user_models(gen, disc, tmp_path)
    assert (version, path) == (1, str(tmp_path / "1"))
    record = json.loads((tmp_path / "1.training.json").read_text())
    assert record["generator"]["adaptations"] == ["appended Reshape [N, 784] -> [N, 28, 28, 1]"]
    assert "prepended Reshape [N, 28, 28, 1] -> [N, 784]" in record["discriminator"]["adaptations"]
    assert record["generator"]["source"] == {"kind": "keras_model", "name": "user_gen", "class": "keras.src.models.functional.Functional"}
    loaded = tf.saved_model.load(path)
    _, z = batch(3)
    images = loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    # The exported generator is the user's, reshaped: same numbers.
    np.testing.assert_allclose(images, gen([z], training=False).numpy().reshape(3, 28, 28, 1), atol=1e-6)
    logits = loaded.signatures[sig.DISCRIMINATE](images=tf.constant(images))[sig.LOGITS].numpy()
    np.testing.assert_allclose(logits, disc(images.reshape(3, 784), training=False).numpy(), atol=1e-5)


def test_versions_are_numbered_after_existing_ones(tmp_path):
    for name in ("1", "3"):
        (tmp_path / name).mkdir()
    (tmp_path / "2.training.json").write_text("{}")
    (tmp_path / "notes").mkdir()
    (tmp_path / ".tmp-version-123").mkdir()  # an interrupted Go save: not a version
    assert next_version(tmp_path) == 4
    gen, disc = user_generator(), user_discriminator()
    assert export_user_models(gen, disc, tmp_path, info={"run": "first"}) == (4, str(tmp_path / "4"))
    assert export_user_models(gen, disc, tmp_path) == (5, str(tmp_path / "5"))
    assert versions(tmp_path) == [1, 3, 4, 5] and not no_leftovers(tmp_path)
    assert json.loads((tmp_path / "4.training.json").read_text())["info"] == {"run": "first"}
    assert json.loads((tmp_path / "5.training.json").read_text())["version"] == 5
    assert (tmp_path / "5" / "saved_model.pb").is_file() and (tmp_path / "5" / "variables" / "variables.index").is_file()


def test_conditional_export(tmp_path):
    # cGAN-tutorial style: labels [N, 1] float32, and the discriminator takes them first.
    gen = user_generator(conditional=True, labels_shape=(1,), labels_dtype="float32")
    disc = user_cond_discriminator(labels_first=True)
    version, path = export_user_models(gen, disc, tmp_path)  # conditional detected from the inputs
    assert version == 1
    record = json.loads((tmp_path / "1.training.json").read_text())
    assert record["conditional"] is True
    assert "reordered inputs to [images, labels]" in record["discriminator"]["adaptations"]
    loaded = assert_full_contract(path, conditional=True)
    _, z = batch(2)
    gen_sig = loaded.signatures[sig.GENERATE]
    a = gen_sig(z=tf.constant(z), labels=tf.constant([3, 3], tf.int32))[sig.IMAGES].numpy()
    b = gen_sig(z=tf.constant(z), labels=tf.constant([7, 7], tf.int32))[sig.IMAGES].numpy()
    assert not np.array_equal(a, b)
    if GANHOST_BIN.is_file():
        out = run_ganhost("generate", "-model-base", tmp_path, "-n", 4, "-digit", 3, "-out", tmp_path / "grid.png")
        assert "version 1" in out


def test_conditional_export_with_contract_shaped_networks(tmp_path):
    gen = user_generator(conditional=True)
    disc = user_cond_discriminator(labels_shape=(), labels_dtype="int32")
    version, path = export_user_models(gen, disc, tmp_path, conditional=True, learning_rate=1e-4, beta_1=0.9)
    record = json.loads((tmp_path / f"{version}.training.json").read_text())
    assert record["generator"]["adaptations"] == record["discriminator"]["adaptations"] == []
    assert record["optimizer"]["learning_rate"] == 1e-4 and record["optimizer"]["beta_1"] == 0.9
    assert set(tf.saved_model.load(path).signatures[sig.GENERATE].structured_input_signature[1]) == {sig.Z, sig.LABELS}


def test_strip_sigmoid_exports_the_logits(tmp_path):
    disc = user_discriminator(activation="sigmoid")
    images, _ = batch(4)
    probabilities = disc(images, training=False).numpy()
    with pytest.warns(UserWarning, match="removed the final sigmoid"):
        _, path = export_user_models(user_generator(), disc, tmp_path, strip_sigmoid=True)
    logits = tf.saved_model.load(path).signatures[sig.DISCRIMINATE](images=tf.constant(images))[sig.LOGITS].numpy()
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), probabilities, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Validation: clear errors naming the network, the tensor and expected vs actual shape; nothing
# is written under the base path.


def _sigmoid_activation_then_reshape():
    x = inp = keras.Input((28, 28, 1), name="picture")
    x = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    x = keras.layers.Activation("sigmoid", name="squash")(x)
    return keras.Model(inp, keras.layers.Reshape((1,))(x), name="user_disc")


def _sigmoid_op():
    inp = keras.Input((28, 28, 1), name="picture")
    x = keras.layers.Dense(1)(keras.layers.Flatten()(inp))
    return keras.Model(inp, keras.activations.sigmoid(x), name="user_disc")


INVALID = {
    "wrong latent size": (
        lambda: (user_generator(latent=64), user_discriminator()),
        ["generator 'user_gen'", "'noise'", "[N, 64]", "[N, 100]"],
    ),
    "wrong generator image shape": (
        lambda: (user_generator(out_shape=(32, 32, 1)), user_discriminator()),
        ["generator 'user_gen'", "output", "[N, 32, 32, 1]", "[N, 28, 28, 1]"],
    ),
    "wrong discriminator image shape": (
        lambda: (user_generator(), user_discriminator(in_shape=(32, 32, 3))),
        ["discriminator 'user_disc'", "'picture'", "[N, 32, 32, 3]", "[N, 28, 28, 1]"],
    ),
    "sigmoid discriminator": (
        lambda: (user_generator(), user_discriminator(activation="sigmoid")),
        ["discriminator 'user_disc'", "sigmoid", "layer 'score'", "from_logits=True", "logits"],
    ),
    "sigmoid activation layer under a reshape": (
        lambda: (user_generator(), _sigmoid_activation_then_reshape()),
        ["discriminator 'user_disc'", "sigmoid", "layer 'squash'", "logits"],
    ),
    "sigmoid op": (
        lambda: (user_generator(), _sigmoid_op()),
        ["discriminator 'user_disc'", "sigmoid", "logits"],
    ),
    "discriminator output not one logit": (
        lambda: (user_generator(), user_discriminator(units=10)),
        ["discriminator 'user_disc'", "layer 'score'", "[N, 10]", "[N, 1]"],
    ),
    "conditional without labels": (
        lambda: (user_generator(), user_discriminator()),
        ["generator 'user_gen'", "takes 1 input", "conditional generator takes 2", "labels int32 [N]"],
        {"conditional": True},
    ),
    "discriminator without labels for a conditional generator": (
        lambda: (user_generator(conditional=True), user_discriminator()),
        ["discriminator 'user_disc'", "takes 1 input", "conditional discriminator (the generator takes labels) takes 2"],
    ),
    "unbuilt model": (
        lambda: (user_generator(), keras.Sequential([keras.layers.Dense(1)], name="user_disc")),
        ["discriminator 'user_disc'", "not been built"],
    ),
    "same model twice": (
        lambda: (lambda m: (m, m))(user_generator()),
        ["same model"],
    ),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_networks_are_refused_clearly(case, tmp_path):
    make, fragments, *kwargs = INVALID[case]
    gen, disc = make()
    base = tmp_path / "base"
    with pytest.raises(ExportError) as err:
        export_user_models(gen, disc, base, **(kwargs[0] if kwargs else {}))
    for fragment in fragments:
        assert fragment in str(err.value), f"{fragment!r} missing from: {err.value}"
    assert not base.exists() or not any(base.iterdir())


def test_file_errors_are_clear(tmp_path):
    gen = user_generator()
    with pytest.raises(ExportError, match=r"generator: .*missing\.keras does not exist"):
        export_user_models(tmp_path / "missing.keras", user_discriminator(), tmp_path / "base")
    gen.save_weights(tmp_path / "gen.weights.h5")
    with pytest.raises(ExportError, match=r"generator: .*gen\.weights\.h5 is not a whole Keras model file .*load_weights"):
        export_user_models(tmp_path / "gen.weights.h5", user_discriminator(), tmp_path / "base")
    (tmp_path / "base").write_text("not a directory")
    with pytest.raises(ExportError, match="not a directory"):
        export_user_models(gen, user_discriminator(), tmp_path / "base")


def test_a_checkpoint_of_our_gan_exports_through_its_networks(tmp_path):
    # The documented recipe for a GAN.save_weights checkpoint: rebuild from the preset, load, pass
    # the networks.
    from ganhost.config import TINY
    from ganhost.model import GAN

    GAN(TINY).save_weights(tmp_path / "gan.weights.h5")
    gan = GAN(TINY)
    gan.load_weights(tmp_path / "gan.weights.h5")
    _, path = export_user_models(gan.generator, gan.discriminator, tmp_path / "base")
    _, z = batch(2)
    exported = tf.saved_model.load(path).signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    np.testing.assert_allclose(exported, gan.generate(tf.constant(z)).numpy(), atol=1e-6)


def test_importing_the_module_does_not_import_tensorflow():
    # `python -m ganhost` adds the export-user arguments at start-up; `data` must stay fast.
    code = "import sys, ganhost.export_tools; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, env=env_for_subprocess(), timeout=60)
