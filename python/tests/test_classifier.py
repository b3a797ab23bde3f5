"""The scoring classifier: its SavedModel contract, the numpy wrapper, training, and the shipped
versions' accuracy (checked only where they and the data exist)."""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from ganhost import classifier as clf
from ganhost.data import load_dataset, to_model_range, write_idx

REPO_ROOT = Path(__file__).resolve().parents[2]


def images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(n, 28, 28, 1)).astype(np.float32)


def bars(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two clearly different classes: a horizontal bar (0) or a vertical bar (1) at a random
    position on a noisy background; ``float32 [n, 28, 28, 1]`` in [-1, 1], labels ``[n]``."""
    rng = np.random.default_rng(seed)
    x = np.clip(rng.normal(-0.9, 0.1, size=(n, 28, 28)), -1, 1).astype(np.float32)
    y = rng.integers(0, 2, size=n).astype(np.uint8)
    for i in range(n):
        at, lo = rng.integers(4, 24), rng.integers(2, 8)
        if y[i] == 0:
            x[i, at : at + 2, lo : lo + 18] = 1.0
        else:
            x[i, lo : lo + 18, at : at + 2] = 1.0
    return x[..., np.newaxis], y


@pytest.fixture(scope="module")
def untrained():
    return clf.build_classifier()


@pytest.fixture(scope="module")
def exported(untrained, tmp_path_factory):
    """An untrained classifier exported once for this module (read-only for tests)."""
    path = tmp_path_factory.mktemp("classifier") / "1"
    clf.export_classifier(untrained, path)
    return path


def _spec(tensors) -> dict:
    return {k: (v.dtype.name, [d if d is not None else -1 for d in v.shape]) for k, v in tensors.items()}


def test_architecture(untrained):
    assert untrained.input_shape == (None, 28, 28, 1)
    assert untrained.output_shape == (None, 10)
    assert untrained.get_layer("features").output.shape == (None, 128)
    assert untrained.count_params() == 130_890


def test_signatures_match_contract(exported):
    loaded = tf.saved_model.load(str(exported))
    assert set(loaded.signatures) == {clf.CLASSIFY, clf.FEATURES, "serving_default"}
    for name, spec in clf.CONTRACT.items():
        fn = loaded.signatures[name]
        assert _spec(fn.structured_input_signature[1]) == {k: (d, s) for k, (d, s) in spec["inputs"].items()}
        assert _spec(fn.structured_outputs) == {k: (d, s) for k, (d, s) in spec["outputs"].items()}
    assert clf.CONTRACT[clf.CLASSIFY]["outputs"]["logits"] == ("float32", [-1, 10])
    assert clf.CONTRACT[clf.FEATURES]["outputs"]["features"] == ("float32", [-1, 128])
    # serving_default is classify.
    default = loaded.signatures["serving_default"]
    assert _spec(default.structured_outputs) == _spec(loaded.signatures[clf.CLASSIFY].structured_outputs)


def test_exported_outputs_match_keras(untrained, exported):
    loaded = tf.saved_model.load(str(exported))
    x = images(5)
    out = loaded.signatures[clf.CLASSIFY](images=tf.constant(x))
    default = loaded.signatures["serving_default"](images=tf.constant(x))
    expected = untrained(x, training=False).numpy()
    np.testing.assert_allclose(out["logits"].numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(default["logits"].numpy(), out["logits"].numpy())
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), rtol=1e-5, atol=1e-6)
    feats = loaded.signatures[clf.FEATURES](images=tf.constant(x))["features"].numpy()
    np.testing.assert_allclose(feats, clf.feature_model(untrained)(x, training=False).numpy(), rtol=1e-5, atol=1e-5)


def test_only_the_weights_are_saved_once(untrained, exported):
    # No optimizer state, no dropout seed, no variable under two checkpoint keys.
    reader = tf.train.load_checkpoint(str(exported / "variables" / "variables"))
    shapes = {k: s for k, s in reader.get_variable_to_shape_map().items() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    assert len(shapes) == len(untrained.weights) == 10
    assert sum(int(np.prod(s)) for s in shapes.values()) == untrained.count_params()


def test_wrapper_probabilities_and_features(exported):
    model = clf.load_classifier(exported)
    x = images(7, seed=1)
    probs = model.probabilities(x)
    assert probs.shape == (7, 10) and probs.dtype == np.float32
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    feats = model.features(x)
    assert feats.shape == (7, 128) and feats.dtype == np.float32
    assert np.all(feats >= 0)  # ReLU layer
    # Batching does not change the answer; [N, 28, 28] is accepted too.
    np.testing.assert_allclose(model.probabilities(x, batch=3), probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.features(x[..., 0], batch=2), feats, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(model.predict(x), np.argmax(model.logits(x), axis=1))
    assert model.probabilities(np.zeros((0, 28, 28, 1), np.float32)).shape == (0, 10)
    assert model.features(np.zeros((0, 28, 28, 1), np.float32)).shape == (0, 128)


def test_wrapper_rejects_unscaled_images(exported):
    model = clf.load_classifier(exported)
    raw = np.full((2, 28, 28), 255, np.uint8)
    with pytest.raises(ValueError, match="to_model_range"):
        model.probabilities(raw)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        model.features(raw.astype(np.float32))
    with pytest.raises(ValueError, match="28, 28, 1"):
        model.probabilities(np.zeros((2, 32, 32, 1), np.float32))


def test_shift_moves_content_and_pads_with_background():
    x = np.full((50, 28, 28, 1), -1.0, np.float32)
    x[:, 14, 14, 0] = 1.0
    shifted = clf._shift(x, np.random.default_rng(0), 2)
    assert shifted.shape == x.shape and shifted.dtype == x.dtype
    ink = np.argwhere(shifted[..., 0] == 1.0)
    assert len(ink) == 50  # one ink pixel per image, none lost
    assert np.all(np.abs(ink[:, 1:] - 14) <= 2)
    assert len({tuple(p) for p in ink[:, 1:]}) > 1  # not all the same shift
    assert np.all(shifted[shifted != 1.0] == -1.0)
    assert clf._shift(x, np.random.default_rng(0), 0) is x


def test_training_separates_two_classes():
    x, y = bars(256, seed=0)
    test_x, test_y = bars(200, seed=1)
    model = clf.train_classifier(x, y, epochs=3, batch_size=32, seed=0, num_classes=2)
    assert clf.accuracy(model, test_x, test_y) >= 0.95


def test_training_is_seeded():
    x, y = bars(64, seed=2)
    a = clf.train_classifier(x, y, epochs=1, batch_size=16, seed=3, num_classes=2)
    b = clf.train_classifier(x, y, epochs=1, batch_size=16, seed=3, num_classes=2)
    c = clf.train_classifier(x, y, epochs=1, batch_size=16, seed=4, num_classes=2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))


def test_training_rejects_bad_labels():
    x, _ = bars(8, seed=0)
    with pytest.raises(ValueError, match="labels"):
        clf.train_classifier(x, np.full(8, 2), epochs=1, num_classes=2)
    with pytest.raises(ValueError, match="labels"):
        clf.train_classifier(x, np.zeros(7), epochs=1, num_classes=2)


def test_train_and_export_writes_version_and_record(tmp_path):
    data = tmp_path / "bars"
    data.mkdir()
    for (name_x, name_y), seed in ((("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"), 0),
                                   (("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"), 1)):  # fmt: skip
        x, y = bars(64, seed)
        write_idx(data / name_x, np.rint((x[..., 0] + 1) * 127.5).astype(np.uint8))
        write_idx(data / name_y, y)
    out = tmp_path / "models" / "1"
    record = clf.train_and_export(data, out, epochs=1, batch_size=32, seed=0, verbose=0)

    record_path = tmp_path / "models" / "1.json"
    assert record_path.is_file() and not (out / "1.json").exists()
    assert json.loads(record_path.read_text()) == record
    assert record["train_images"] == 64 and record["test_images"] == 64
    assert record["epochs"] == 1 and record["seed"] == 0 and record["dataset"] == str(data)
    assert record["command"].startswith("python -m ganhost.classifier --dataset ")
    assert 0.0 <= record["test_accuracy"] <= 1.0
    # The record's accuracy is the exported model's accuracy on the test split.
    test_x, test_y = load_dataset(data, "test")
    measured = float(np.mean(clf.load_classifier(out).predict(to_model_range(test_x)) == test_y))
    assert measured == pytest.approx(record["test_accuracy"], abs=1e-9)
    with pytest.raises(FileExistsError):
        clf.train_and_export(data, out, epochs=1, verbose=0)


@pytest.mark.parametrize("name,minimum", [("mnist", 0.97), ("fashion", 0.89)])
def test_shipped_classifier_accuracy(name, minimum):
    version = REPO_ROOT / "savedmodel" / f"{name}_classifier" / "1"
    record_path = version.with_name("1.json")
    data = REPO_ROOT / "data" / name
    if not record_path.is_file() or not version.is_dir():
        pytest.skip(f"{version.relative_to(REPO_ROOT)} (+ 1.json) not built; run python -m ganhost.classifier")
    if not (data / "manifest.json").is_file():
        pytest.skip(f"data/{name} absent; run make data")
    test_x, test_y = load_dataset(data, "test")
    predicted = clf.load_classifier(version).predict(to_model_range(test_x))
    measured = float(np.mean(predicted == test_y))
    assert measured >= minimum
    record = json.loads(record_path.read_text())
    assert record["test_images"] == len(test_y)
    # Same model, same data: only float differences between machines can move the record.
    assert measured == pytest.approx(record["test_accuracy"], abs=0.002)
