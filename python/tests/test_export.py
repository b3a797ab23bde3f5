"""The SavedModel contract, checked against a real export loaded with tf.saved_model.load."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import batch
from tensorflow.core.protobuf import saved_model_pb2

from ganhost import signatures as sig


def signature_variables(loaded):
    """The variables the loaded signatures use, each once."""
    unique = {}
    for fn in loaded.signatures.values():
        for v in fn.variables:
            unique[id(v)] = v
    return list(unique.values())


@pytest.mark.parametrize("conditional", [False, True])
def test_signatures_match_contract(conditional, tiny_export, tiny_cond_export):
    loaded = tf.saved_model.load(str(tiny_cond_export if conditional else tiny_export))
    contract = sig.contract(conditional)
    assert set(loaded.signatures) == {*contract, "serving_default"}
    for name, spec in contract.items():
        fn = loaded.signatures[name]
        inputs = fn.structured_input_signature[1]
        assert {k: (v.dtype.name, [d if d is not None else -1 for d in v.shape]) for k, v in inputs.items()} == {
            k: (dt, shape) for k, (dt, shape) in spec["inputs"].items()
        }
        outputs = fn.structured_outputs
        assert {k: (v.dtype.name, [d if d is not None else -1 for d in v.shape]) for k, v in outputs.items()} == {
            k: (dt, shape) for k, (dt, shape) in spec["outputs"].items()
        }


def test_serving_default_is_generate(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export))
    _, z = batch(3)
    a = loaded.signatures["serving_default"](z=tf.constant(z))["images"]
    b = loaded.signatures[sig.GENERATE](z=tf.constant(z))["images"]
    np.testing.assert_array_equal(a, b)


def test_generate_is_deterministic_and_in_range(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export))
    _, z = batch(4)
    a = loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    b = loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 28, 28, 1) and a.min() >= -1 and a.max() <= 1


def test_train_step_updates_variables(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export))
    images, z = batch(8)
    variables = signature_variables(loaded)
    before_vars = [v.numpy().copy() for v in variables]
    before_img = loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    for expected_step in (1, 2):
        out = loaded.signatures[sig.TRAIN_STEP](images=tf.constant(images), z=tf.constant(z))
        assert np.isfinite(out[sig.D_LOSS].numpy()) and np.isfinite(out[sig.G_LOSS].numpy())
        assert out[sig.STEP].numpy() == expected_step
    after_img = loaded.signatures[sig.GENERATE](z=tf.constant(z))[sig.IMAGES].numpy()
    assert not np.array_equal(before_img, after_img)
    changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before_vars, variables))
    assert changed > len(before_vars) // 2


def test_saver_def_lets_a_c_api_host_save(tiny_export):
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((tiny_export / "saved_model.pb").read_bytes())
    (mg,) = sm.meta_graphs
    assert sig.SERVE_TAG in mg.meta_info_def.tags
    assert mg.saver_def.filename_tensor_name and mg.saver_def.save_tensor_name and mg.saver_def.restore_op_name


def test_each_variable_is_saved_once(tiny_export):
    # A variable saved under two checkpoint keys would be two variables for a C API host: it
    # would train one copy and Python would restore the other.
    reader = tf.train.load_checkpoint(str(tiny_export / "variables" / "variables"))
    keys = [k for k in reader.get_variable_to_shape_map() if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    loaded = tf.saved_model.load(str(tiny_export))
    assert len(keys) == len(signature_variables(loaded))


def test_conditional_generate_follows_labels(tiny_cond_export):
    loaded = tf.saved_model.load(str(tiny_cond_export))
    _, z = batch(2)
    gen = loaded.signatures[sig.GENERATE]
    a = gen(z=tf.constant(z), labels=tf.constant([3, 3], tf.int32))[sig.IMAGES].numpy()
    b = gen(z=tf.constant(z), labels=tf.constant([3, 3], tf.int32))[sig.IMAGES].numpy()
    c = gen(z=tf.constant(z), labels=tf.constant([7, 7], tf.int32))[sig.IMAGES].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_conditional_train_step(tiny_cond_export):
    loaded = tf.saved_model.load(str(tiny_cond_export))
    images, z = batch(8)
    labels = tf.constant(np.arange(8) % 10, tf.int32)
    before = loaded.signatures[sig.GENERATE](z=tf.constant(z), labels=labels)[sig.IMAGES].numpy()
    out = loaded.signatures[sig.TRAIN_STEP](images=tf.constant(images), z=tf.constant(z), labels=labels)
    assert np.isfinite(out[sig.D_LOSS].numpy()) and out[sig.STEP].numpy() == 1
    after = loaded.signatures[sig.GENERATE](z=tf.constant(z), labels=labels)[sig.IMAGES].numpy()
    assert not np.array_equal(before, after)
    logits = loaded.signatures[sig.DISCRIMINATE](images=tf.constant(images))[sig.LOGITS].numpy()
    assert logits.shape == (8, 1)
