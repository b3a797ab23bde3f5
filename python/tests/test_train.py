"""The Python training loop, its backups and optimizer reset."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import batch

from ganhost.train import BatchSampler, reset_optimizers, train


def test_train_runs_steps_with_finite_losses(tiny_gan):
    images, _ = batch(32)
    history = train(tiny_gan, images, steps=5, batch_size=8, seed=1, log_every=0)
    assert [h.step for h in history] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(h.d_loss) and np.isfinite(h.g_loss) for h in history)


def test_sampler_covers_each_image_once_per_epoch():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((10, 28, 28, 1), np.float32)
    s = BatchSampler(images, batch_size=5, seed=3)
    seen = np.concatenate([s.next()[:, 0, 0, 0] for _ in range(2)])
    assert sorted(seen) == list(range(10))


def test_sampler_rejects_batch_larger_than_data():
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(np.zeros((3, 28, 28, 1), np.float32), batch_size=4, seed=0)


def test_reset_optimizers_zeroes_moments(tiny_gan):
    images, _ = batch(16)
    train(tiny_gan, images, steps=2, batch_size=8, seed=0, log_every=0)
    assert any(np.any(np.array(v) != 0) for v in tiny_gan.g_optimizer.variables)
    reset_optimizers(tiny_gan)
    for opt in (tiny_gan.d_optimizer, tiny_gan.g_optimizer):
        assert all(not np.any(np.array(v)) for v in opt.variables)


def test_conditional_training_needs_labels():
    from ganhost.config import TINY_CONDITIONAL
    from ganhost.model import GAN

    gan = GAN(TINY_CONDITIONAL)
    images, _ = batch(16)
    with pytest.raises(ValueError, match="labels"):
        train(gan, images, steps=1, batch_size=8, seed=0, log_every=0)
    history = train(gan, images, steps=2, batch_size=8, seed=0, log_every=0, labels=np.arange(16) % 10)
    assert [h.step for h in history] == [1, 2]


class Interrupted(Exception):
    pass


@pytest.mark.parametrize("preset", ["tiny-cond", "tiny-dcgan"])
def test_backup_resumes_exactly_where_a_killed_run_stopped(tmp_path, preset):
    import keras

    from ganhost.config import PRESETS
    from ganhost.model import GAN
    from ganhost.train import TrainingBackup

    images, _ = batch(40)
    labels = np.arange(40) % 10
    run = {"config": preset, "batch_size": 8, "seed": 2}

    def fresh(seed):
        keras.utils.set_random_seed(seed)
        return GAN(PRESETS[preset])

    whole = fresh(0)
    expected = train(whole, images, steps=7, batch_size=8, seed=2, log_every=0, labels=labels)

    def stop_after_step_5(line):
        if line.startswith("step      5"):
            raise Interrupted

    with pytest.raises(Interrupted), TrainingBackup(tmp_path, 3, run) as backup:
        train(fresh(0), images, 7, 8, 2, log_every=1, log=stop_after_step_5, labels=labels, backup=backup)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "step-3"]
    (tmp_path / "step-6.tmp").mkdir()  # a snapshot whose write was cut short is ignored
    # Restoring must overwrite every variable: start from other initial weights.
    resumed_gan = fresh(1)
    logs = []
    with TrainingBackup(tmp_path, 3, run) as backup:
        resumed = train(resumed_gan, images, 7, 8, 2, log_every=1, log=logs.append, labels=labels, backup=backup)
    assert logs[0] == f"resumed from the backup at step 3 in {tmp_path}"
    assert [line[:11] for line in logs[1:]] == [f"step {i:6d}" for i in range(4, 8)]
    assert resumed == expected
    state = [whole.variables, whole.d_optimizer.variables, whole.g_optimizer.variables]
    resumed_state = [resumed_gan.variables, resumed_gan.d_optimizer.variables, resumed_gan.g_optimizer.variables]
    assert [len(v) for v in state] == [len(v) for v in resumed_state]
    for a, b in zip(sum(state, []), sum(resumed_state, [])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=a.path)


def test_backup_is_used_by_one_run_at_a_time(tmp_path, tiny_gan):
    from ganhost.train import TrainingBackup

    images, _ = batch(16)
    with TrainingBackup(tmp_path, 2, {}):  # a run in progress
        with pytest.raises(RuntimeError, match="another training run is using the backup"):
            with TrainingBackup(tmp_path, 2, {}) as backup:
                train(tiny_gan, images, 4, 8, 0, log_every=0, backup=backup)
    with TrainingBackup(tmp_path, 2, {}) as backup:  # the first run has ended
        assert len(train(tiny_gan, images, 4, 8, 0, log_every=0, backup=backup)) == 4


def test_backup_of_another_run_is_refused(tmp_path, tiny_gan):
    from ganhost.train import TrainingBackup

    images, _ = batch(16)
    train(tiny_gan, images, 4, 8, 0, log_every=0, backup=TrainingBackup(tmp_path, 2, {"seed": 0}))
    with pytest.raises(ValueError, match="belongs to another run"):
        train(tiny_gan, images, 4, 8, 1, log_every=0, backup=TrainingBackup(tmp_path, 2, {"seed": 1}))
    with pytest.raises(ValueError, match="at step 2, past the 1 steps"):
        train(tiny_gan, images, 1, 8, 0, log_every=0, backup=TrainingBackup(tmp_path, 2, {"seed": 0}))


MNIST = Path(__file__).resolve().parents[2] / "data" / "mnist"


@pytest.mark.parametrize("every", ["0", "-5", "x"])
def test_train_command_refuses_a_bad_backup_interval(tmp_path, every):
    args = ["train", "--config", "tiny", "--backup-dir", str(tmp_path / "b"), "--backup-every", every, "--out", str(tmp_path / "1")]
    proc = subprocess.run([sys.executable, "-m", "ganhost", *args], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr
    assert "argument --backup-every: want an integer >= 1, got" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "b").exists()


@pytest.mark.skipif(not (MNIST / "manifest.json").exists(), reason="needs data/mnist (make data)")
def test_train_command_resumes_after_sigkill(tmp_path):
    """`python -m ganhost train --backup-dir` killed mid-run and started again exports the same
    model as a run that was never interrupted, and removes its backup once exported."""
    import tensorflow as tf

    def command(out, *extra):
        args = ["train", "--config", "tiny-cond", "--dataset", str(MNIST), "--steps", "150", "--batch-size", "8"]
        return [sys.executable, "-m", "ganhost", *args, "--log-every", "0", "--out", str(out), *extra]

    subprocess.run(command(tmp_path / "whole" / "1"), check=True, capture_output=True)
    backup = tmp_path / "backup"
    resumable = command(tmp_path / "resumed" / "1", "--backup-dir", str(backup), "--backup-every", "20")
    killed = subprocess.Popen(resumable, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(backup.glob("step-*[0-9]")) and time.monotonic() < deadline and killed.poll() is None:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not (tmp_path / "resumed" / "1").exists()
    resumed = subprocess.run(resumable, check=True, capture_output=True, text=True)
    assert "resumed from the backup at step" in resumed.stdout
    assert not backup.exists()
    z = tf.random.stateless_normal([16, 100], seed=[1, 2])
    labels = tf.range(16, dtype=tf.int32) % 10
    images = [
        tf.saved_model.load(str(tmp_path / run / "1")).signatures["generate"](z=z, labels=labels)["images"].numpy()
        for run in ("whole", "resumed")
    ]
    np.testing.assert_array_equal(images[0], images[1])


def test_train_command_refuses_backups_with_a_strategy(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "ganhost", "train", "--strategy", "mirrored", "--backup-dir", str(tmp_path / "b"), "--out", str(tmp_path / "1")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "--backup-dir works only with --strategy default" in run.stderr
