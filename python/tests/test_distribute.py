"""Data-parallel training (ganhost.distribute, train(strategy=...)): strategy selection, the
gradient aggregation, and two MultiWorkerMirroredStrategy workers on loopback whose export the
Python loader and, where bin/ganhost is built, the Go host serve."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from conftest import batch, free_ports

from ganhost import distribute
from ganhost import signatures as sig
from ganhost.config import TINY
from ganhost.model import GAN
from ganhost.train import train

REPO = pathlib.Path(__file__).resolve().parents[2]
GANHOST_BIN = pathlib.Path(os.environ.get("GANHOST_BIN", REPO / "bin" / "ganhost"))
MNIST = REPO / "data" / "mnist"
TIMEOUT_S = 120
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "grpc_proxy", "no_proxy"}


def subprocess_env(**extra):
    """The test's environment for a child Python, without proxies (gRPC honours them, and the
    workers must talk to each other directly on loopback)."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS and k != "TF_CONFIG"}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "python"), os.environ.get("PYTHONPATH")]))
    return env


def tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": index}})


# ---------------------------------------------------------------------------------------------
# Choosing a strategy and the chief (no TensorFlow work).


@pytest.mark.parametrize(
    "raw, match",
    [
        ("{not json", "not valid JSON"),
        ("[1]", "JSON object"),
        ('{"task": {"type": "worker", "index": 0}}', "no \"cluster\""),
        ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "no \"task\""),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}', "not a job"),
        ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}', "out of range"),
    ],
)
def test_invalid_tf_config_is_a_clear_error(monkeypatch, raw, match):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(distribute.StrategyError, match=match):
        distribute.make_strategy("multiworker")


def test_multiworker_needs_tf_config_and_names_are_checked(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.StrategyError, match="TF_CONFIG"):
        distribute.make_strategy("multiworker")
    with pytest.raises(distribute.StrategyError, match="unknown strategy"):
        distribute.make_strategy("tpu")
    assert distribute.make_strategy("default") is tf.distribute.get_strategy()


def test_chief_and_worker_export_paths(tmp_path):
    two = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    env = lambda cluster, kind, i: {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": kind, "index": i}})}  # noqa: E731
    assert distribute.is_chief({})  # no TF_CONFIG: single process
    assert distribute.is_chief(env(two, "worker", 0))
    assert not distribute.is_chief(env(two, "worker", 1))
    with_chief = {"chief": ["127.0.0.1:3"], **two}
    assert distribute.is_chief(env(with_chief, "chief", 0))
    assert not distribute.is_chief(env(with_chief, "worker", 0))
    assert distribute.task(env(two, "worker", 1)) == ("worker", 1)

    out = tmp_path / "gan" / "1"
    assert distribute.worker_export_path(out, chief=True) == str(out)
    throwaway = pathlib.Path(distribute.worker_export_path(out, chief=False))
    try:
        assert throwaway.parent.is_dir() and not throwaway.exists() and tmp_path not in throwaway.parents
    finally:
        throwaway.parent.rmdir()


# ---------------------------------------------------------------------------------------------
# In-process MirroredStrategy (one replica on this CPU).


def test_mirrored_trains_like_single_process():
    images, _ = batch(32)
    strategy = tf.distribute.MirroredStrategy()
    tf.keras.utils.set_random_seed(0)
    plain = GAN(TINY)
    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
        gan = GAN(TINY)
    before = [np.array(v.value) for v in gan.trainable_variables]
    history = train(gan, images, steps=3, batch_size=8, seed=1, log_every=0, strategy=strategy)
    assert [h.step for h in history] == [1, 2, 3]
    assert all(np.isfinite(h.d_loss) and np.isfinite(h.g_loss) for h in history)
    assert any(not np.array_equal(b, np.array(v.value)) for b, v in zip(before, gan.trainable_variables))
    # One replica: the same data, noise and update as training without a strategy.
    reference = train(plain, images, steps=3, batch_size=8, seed=1, log_every=0)
    np.testing.assert_allclose([(h.d_loss, h.g_loss) for h in history], [(h.d_loss, h.g_loss) for h in reference], rtol=1e-5)
    for a, b in zip(distribute.all_variables(plain), distribute.all_variables(gan)):
        np.testing.assert_allclose(np.array(a.value), np.array(b.value), atol=1e-6, err_msg=a.path)
    # The exported copy is an ordinary GAN holding the same values.
    copy = distribute.local_copy(gan)
    assert distribute.weights_checksum(copy) == distribute.weights_checksum(gan)
    assert not isinstance(copy.global_step.value, tf.distribute.DistributedValues)


def test_strategy_needs_the_gan_built_in_its_scope():
    images, _ = batch(16)
    with pytest.raises(ValueError, match="scope"):
        train(GAN(TINY), images, steps=1, batch_size=8, seed=0, log_every=0, strategy=tf.distribute.MirroredStrategy())


# ---------------------------------------------------------------------------------------------
# Two replicas in one process (the CPU split into two logical devices, in a child process since
# that must happen before TensorFlow starts): the update is the global batch's, counted once.

_TWO_REPLICAS = textwrap.dedent(
    """
    import dataclasses, json
    import keras, numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from ganhost import train as train_mod
    from ganhost.config import TINY
    from ganhost.distribute import all_variables
    from ganhost.model import GAN

    # No per-example randomness besides the data: no dropout, and the same noise row for every
    # example (so the generator's BatchNorm sees identical rows on each replica and globally).
    # Then one replica per half of the data must give exactly the single-process update on all
    # of it. SGD, unlike Adam, is not scale-invariant: a gradient counted twice (or halved)
    # would move the weights twice as far (or half as far).
    train_mod.BatchSampler.noise = lambda self: np.zeros((self.batch_size, 100), np.float32)
    cfg = dataclasses.replace(TINY, d_dropout=0.0)

    def with_sgd(gan):
        gan.d_optimizer = keras.optimizers.SGD(0.5)
        gan.d_optimizer.build(gan.discriminator.trainable_weights)
        gan.g_optimizer = keras.optimizers.SGD(0.5)
        gan.g_optimizer.build(gan.generator.trainable_weights)
        return gan

    images = np.random.default_rng(0).uniform(-1, 1, (16, 28, 28, 1)).astype(np.float32)
    keras.utils.set_random_seed(0)
    single = with_sgd(GAN(cfg))
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        dist = with_sgd(GAN(cfg))
    for a, b in zip(single.variables, dist.variables):
        b.assign(a.value)
    initial = [np.array(v.value) for v in single.trainable_variables]
    # Global batch = the whole dataset: each replica takes its whole 8-image shard.
    h_single = train_mod.train(single, images, 3, 16, 0, log_every=0)
    h_dist = train_mod.train(dist, images, 3, 16, 0, log_every=0, strategy=strategy)
    moving = [v for v in dist.generator.non_trainable_weights if v.dtype.startswith("float")]
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "losses_single": [[h.d_loss, h.g_loss] for h in h_single],
        "losses_dist": [[h.d_loss, h.g_loss] for h in h_dist],
        "max_diff": max(float(np.max(np.abs(np.array(a.value) - np.array(b.value))))
                        for a, b in zip(all_variables(single), all_variables(dist))),
        "max_change": max(float(np.max(np.abs(np.array(v.value) - w)))
                          for v, w in zip(single.trainable_variables, initial)),
        "bn_replicas_equal": all(
            np.array_equal(*[np.array(x) for x in strategy.experimental_local_results(v.value)]) for v in moving),
    }))
    """
)


def test_two_replicas_update_equals_single_process_on_global_batch():
    proc = subprocess.run(
        [sys.executable, "-c", _TWO_REPLICAS], env=subprocess_env(), capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"two-replica run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
    r = json.loads(lines[-1][len("RESULT ") :])
    assert r["replicas"] == 2
    assert r["max_change"] > 1e-3  # SGD moved the weights visibly...
    assert r["max_diff"] < 1e-5, r  # ...and both runs moved them the same way
    np.testing.assert_allclose(r["losses_dist"], r["losses_single"], rtol=1e-5)  # logged = global-batch loss
    assert r["bn_replicas_equal"]


# ---------------------------------------------------------------------------------------------
# MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1.


def test_two_workers_train_export_and_serve(tmp_path):
    ports = free_ports(2)
    base = tmp_path / "savedmodel" / "gan"
    dataset = "mnist" if (MNIST / "manifest.json").is_file() else "synthetic"
    procs, logs = [], []
    try:
        for i in range(2):
            log = open(tmp_path / f"worker{i}.log", "w")
            logs.append(log)
            cmd = [
                sys.executable, "-m", "ganhost.distribute", "--strategy", "multiworker",
                "--config", "tiny", "--steps", "3", "--batch-size", "8", "--log-every", "1",
                "--dataset", dataset, "--out", str(base / "1"), "--checksum-out", str(tmp_path / f"worker{i}.json"),
            ]  # fmt: skip
            env = subprocess_env(TF_CONFIG=tf_config(ports, i))
            procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO))
        for p in procs:
            try:
                p.wait(timeout=TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pass
    finally:
        for p in procs:  # a worker whose peer died waits in a collective forever: always end both
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
        for log in logs:
            log.close()
    out = "\n".join(f"--- worker{i} (exit {p.returncode}) ---\n" + (tmp_path / f"worker{i}.log").read_text()[-3000:] for i, p in enumerate(procs))
    assert all(p.returncode == 0 for p in procs), out

    records = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    assert [r["chief"] for r in records] == [True, False]
    assert all(r["replicas"] == 2 and r["final_step"] == 3 for r in records), records
    assert records[0]["weights_sha256"] == records[1]["weights_sha256"], records  # in sync, BatchNorm included
    assert records[0]["exported"] == str(base / "1") and records[1]["exported"] is None
    assert sorted(p.name for p in base.iterdir()) == ["1"]  # one version, no temporary leftovers

    loaded = tf.saved_model.load(str(base / "1"))
    assert {sig.GENERATE, sig.TRAIN_STEP, sig.DISCRIMINATE} <= set(loaded.signatures)
    images = loaded.signatures[sig.GENERATE](z=tf.constant(batch(4)[1]))[sig.IMAGES].numpy()
    assert images.shape == (4, 28, 28, 1) and np.all(np.abs(images) <= 1)
    step = loaded.signatures[sig.TRAIN_STEP](images=tf.constant(batch(8)[0]), z=tf.constant(batch(8)[1]))
    assert int(step[sig.STEP]) == 4 and np.isfinite(float(step[sig.D_LOSS]))  # resumes the count, single-process

    if GANHOST_BIN.is_file():
        png = tmp_path / "x.png"
        proc = subprocess.run(
            [str(GANHOST_BIN), "generate", "-model-base", str(base), "-n", "4", "-out", str(png)],
            capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO,
        )  # fmt: skip
        assert proc.returncode == 0, f"bin/ganhost generate failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        assert png.stat().st_size > 0
