"""Python training loop: the same ``GAN.step`` the exported ``train_step`` signature runs."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from ganhost.config import LATENT_DIM
from ganhost.model import GAN


@dataclass
class StepLog:
    step: int
    d_loss: float
    g_loss: float


class BatchSampler:
    """Shuffled epochs over images (float32 [N, 28, 28, 1] in [-1, 1]) and their labels, seeded."""

    def __init__(self, images: np.ndarray, batch_size: int, seed: int, labels: np.ndarray | None = None):
        if batch_size > len(images):
            raise ValueError(f"batch_size {batch_size} exceeds the dataset size {len(images)}")
        self.images = images
        self.labels = np.zeros(len(images), np.int32) if labels is None else labels.astype(np.int32)
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self._order = np.empty(0, dtype=np.int64)

    def next_with_labels(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._order) < self.batch_size:  # drop the ragged tail: every batch is full
            self._order = self.rng.permutation(len(self.images))
        idx, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        return self.images[idx], self.labels[idx]

    def next(self) -> np.ndarray:
        return self.next_with_labels()[0]

    def noise(self) -> np.ndarray:
        return self.rng.standard_normal((self.batch_size, LATENT_DIM), dtype=np.float32)

    def state(self) -> dict:
        """Where the sampler is: its generator's state and the rest of the current epoch."""
        return {"rng": self.rng.bit_generator.state, "order": self._order.tolist()}

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order = np.array(state["order"], dtype=np.int64)


class TrainingBackup:
    """Snapshots of a training run every ``every`` steps in ``directory``, so a run that is killed
    resumes from its last snapshot instead of from step 0 (what Keras's ``BackupAndRestore``
    callback does for ``fit``). A snapshot holds every variable of the GAN (weights, optimizer
    moments, dropout seed states, global step), the batch sampler's state and the losses so far,
    so a resumed run takes exactly the steps the uninterrupted run would have taken.

    ``run`` describes the run (config, data, batch size, seed); a snapshot from another run is
    refused rather than silently mixed in. Use it as a context manager around training and
    export, which keeps other runs off the directory.
    """

    def __init__(self, directory: str | os.PathLike, every: int, run: dict):
        if every < 1:
            raise ValueError(f"backup every {every} steps: want at least 1")
        self.directory = Path(directory)
        self.every = every
        self.run = run
        self.resumed_from: int | None = None  # the step restore() resumed from, if it did
        self._lock = None

    def __enter__(self) -> "TrainingBackup":
        """Lock the directory for this run (until exit, or until the process dies): a second run
        started on the same backup would overwrite its snapshots."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.directory / "lock", "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise RuntimeError(f"another training run is using the backup in {self.directory}") from None
        return self

    def __exit__(self, *exc) -> None:
        self._lock.close()

    def _snapshots(self) -> list[Path]:
        """Complete snapshots, oldest first (an interrupted write leaves only a .tmp directory)."""
        found = [p for p in self.directory.glob("step-*") if p.is_dir() and p.name[5:].isdigit()]
        return sorted(found, key=lambda p: int(p.name[5:]))

    def restore(self, gan: GAN, sampler: BatchSampler) -> list[StepLog]:
        """Load the newest snapshot into ``gan`` and ``sampler``; returns the losses logged up to
        it (empty when there is no snapshot: the run starts from step 0)."""
        snapshots = self._snapshots()
        if not snapshots:
            return []
        newest = snapshots[-1]
        state = json.loads((newest / "state.json").read_text())
        if state["run"] != self.run:
            raise ValueError(
                f"the backup in {self.directory} belongs to another run ({state['run']}, this one is {self.run}); "
                "remove it or pass another --backup-dir"
            )
        saved = np.load(newest / "variables.npz")
        values = [saved[f"v{i}"] for i in range(len(saved.files))]
        variables = _training_state(gan)
        if [a.shape for a in values] != [tuple(v.shape) for v in variables]:
            raise ValueError(f"the variables in {newest} do not fit this GAN's")
        for v, value in zip(variables, values):
            v.assign(value)
        sampler.set_state(state["sampler"])
        self.resumed_from = len(state["history"])
        return [StepLog(**h) for h in state["history"]]

    def save(self, gan: GAN, sampler: BatchSampler, history: list[StepLog]) -> None:
        """Write a snapshot, then drop the older ones: written under a temporary name and
        renamed, so a kill mid-write leaves the previous snapshot usable. The lock file stays."""
        step = len(history)
        final = self.directory / f"step-{step}"
        tmp = self.directory / f"step-{step}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        # Every variable by position (layer names get per-process suffixes), rather than with
        # tf.train.Checkpoint, which misses Keras 3's dropout seed-generator states: a run resumed
        # without them draws other dropout masks than the uninterrupted run.
        np.savez(tmp / "variables.npz", **{f"v{i}": np.asarray(v) for i, v in enumerate(_training_state(gan))})
        state = {"run": self.run, "sampler": sampler.state(), "history": [asdict(h) for h in history]}
        (tmp / "state.json").write_text(json.dumps(state))
        os.replace(tmp, final)
        for old in self._snapshots()[:-1]:
            shutil.rmtree(old)

    def remove(self) -> None:
        """Called once the trained model is exported: the snapshots are no longer needed."""
        shutil.rmtree(self.directory, ignore_errors=True)


def train(
    gan: GAN,
    images: np.ndarray,
    steps: int,
    batch_size: int,
    seed: int,
    log_every: int = 100,
    log=print,
    labels: np.ndarray | None = None,
    strategy: tf.distribute.Strategy | None = None,
    backup: TrainingBackup | None = None,
) -> list[StepLog]:
    """Run ``steps`` adversarial steps on ``images`` (float32 [N, 28, 28, 1] in [-1, 1]);
    conditional models also need the images' ``labels`` (int [N], 0..9).

    ``strategy``: a ``tf.distribute`` strategy to train data-parallel with (see
    ``ganhost.distribute.make_strategy``); ``None`` (or the default strategy) trains in this
    process exactly as without one. The caller must have created ``gan`` under
    ``strategy.scope()`` (its variables must be the strategy's), and with
    MultiWorkerMirroredStrategy every worker must call ``train`` with the same arguments.
    ``batch_size`` is then the global batch: each replica takes ``batch_size //
    num_replicas_in_sync`` examples a step from its own shard of ``images`` (see
    ``_distributed_step``), and the update equals one on the global batch. The logged losses are
    the global-batch means.

    ``backup``: resume from its newest snapshot, if any, and snapshot the run as it goes (only
    without a distribution strategy).

    Returns one StepLog per step; raises FloatingPointError if a loss stops being finite.
    """
    if gan.cfg.conditional and labels is None:
        raise ValueError("a conditional GAN trains on labelled images: pass labels")
    history: list[StepLog] = []
    if strategy is None or _is_default_strategy(strategy):
        sampler = BatchSampler(images, batch_size, seed, labels)
        if backup is not None:
            history = backup.restore(gan, sampler)
            if len(history) > steps:
                raise ValueError(f"the backup in {backup.directory} is at step {len(history)}, past the {steps} steps asked for")
            if history:
                log(f"resumed from the backup at step {len(history)} in {backup.directory}")
        plain_step = tf.function(gan.step, jit_compile=False)

        def step_fn():
            batch, batch_labels = sampler.next_with_labels()
            args = [tf.constant(batch), tf.constant(sampler.noise())]
            if gan.cfg.conditional:
                args.append(tf.constant(batch_labels))
            return plain_step(*args)

    else:
        if backup is not None:
            raise ValueError("training backups are only supported without a distribution strategy")
        step_fn = _distributed_step(gan, strategy, images, labels, batch_size, seed)
    start, first = time.perf_counter(), len(history)
    for i in range(first, steps):
        out = step_fn()
        entry = StepLog(int(out["step"]), float(out["d_loss"]), float(out["g_loss"]))
        if not (np.isfinite(entry.d_loss) and np.isfinite(entry.g_loss)):
            raise FloatingPointError(f"training diverged at step {entry.step}: {entry}")
        history.append(entry)
        if backup is not None and (i + 1) % backup.every == 0 and i + 1 < steps:
            backup.save(gan, sampler, history)
        if log_every and ((i + 1) % log_every == 0 or i + 1 == steps):
            rate = (i + 1 - first) / (time.perf_counter() - start)
            log(f"step {entry.step:6d}  d_loss {entry.d_loss:.4f}  g_loss {entry.g_loss:.4f}  ({rate:.1f} steps/s)")
    return history


def reset_optimizers(gan: GAN) -> None:
    """Zero both Adam optimizers' moments and iteration counts.

    The shipped model does this before export so its committed variables compress well; Adam's
    bias correction restarts cleanly from zeroed moments, so training resumes normally.
    """
    for opt in (gan.d_optimizer, gan.g_optimizer):
        for v in opt.variables:
            v.assign(tf.zeros_like(v))


def _training_state(gan: GAN) -> list:
    """Every variable a training step reads or writes: the GAN's own (weights, BatchNorm
    statistics, dropout seed states, global step) and both optimizers' (moments, iteration
    counts), which Keras does not list among the model's variables."""
    return list(gan.variables) + list(gan.d_optimizer.variables) + list(gan.g_optimizer.variables)


def _is_default_strategy(strategy: tf.distribute.Strategy) -> bool:
    """True for TensorFlow's default (no-op, single-replica) strategy outside any scope."""
    return not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy()


def _distributed_step(gan: GAN, strategy: tf.distribute.Strategy, images, labels, batch_size: int, seed: int):
    """A no-argument callable running one data-parallel ``GAN.step`` under ``strategy``.

    Data: replica ``r`` of ``R = num_replicas_in_sync`` (numbered across all workers) samples
    ``batch_size // R`` examples a step from its own shard ``images[r::R]``, with its own
    ``BatchSampler`` seeded ``seed + r`` (which also draws its noise). So workers see disjoint
    data, together they cover the dataset once per epoch, and a run is reproducible for a given
    seed and replica count; with one replica this is exactly the single-process sampler.

    Gradients (Keras 3.15, TensorFlow backend), checked in keras/src:
      * ``BinaryCrossentropy`` (reduction ``sum_over_batch_size``) already divides its mean by
        ``num_replicas_in_sync`` when called in a replica context (``losses/loss.py``:
        ``reduce_values`` -> ``scale_loss_for_distribution``; a no-op for one replica).
      * ``optimizer.apply_gradients`` in a replica context all-reduces the gradients with
        ``ReduceOp.SUM`` before the update (``backend/tensorflow/optimizer.py``:
        ``_backend_update_step`` -> ``_all_reduce_sum_gradients``), then applies the same summed
        gradient on every replica (``extended.update``).
      So each replica's gradient is that of (local mean / R), their sum is the gradient of the
      mean over the global batch, and ``GAN.step`` must NOT scale its loss again (doing so would
      shrink the gradient R-fold; not scaling at all with a custom "sum" loss would multiply it
      R-fold). The update therefore equals single-process training on the global batch, except
      where a layer looks at the batch itself: BatchNormalization normalises with per-replica
      (local-batch) statistics, as Keras does unless a layer is built ``synchronized=True``, and
      each replica's Dropout draws the same mask sequence (the seed state is mirrored).
    Losses: ``GAN.step`` returns the scaled per-replica losses, so they are multiplied back by R
    (Keras's ``unscale_loss_for_distribution``) and averaged over replicas (``ReduceOp.MEAN``):
    the logged value is the loss on the global batch.
    Non-trainable state: Keras 3 creates BatchNormalization's moving statistics with aggregation
    "none", so each replica would keep averaging its own data's statistics and replicas (workers)
    would end with different weights. After each step they are set to their mean over replicas
    (exact for the moving mean, the usual approximation for the moving variance), so every
    replica ends identical and any worker's copy can be exported.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"batch_size {batch_size} is not a multiple of the {replicas} replicas in sync")
    if not strategy.extended.variable_created_in_scope(gan.global_step.value):
        raise ValueError("create the GAN under strategy.scope() before training with that strategy")
    per_replica = batch_size // replicas
    if len(images) // replicas < per_replica:
        raise ValueError(
            f"each of the {replicas} replicas needs {per_replica} images a step; its shard has {len(images) // replicas}"
        )
    all_labels = np.zeros(len(images), np.int32) if labels is None else np.asarray(labels).astype(np.int32)
    samplers: dict[int, BatchSampler] = {}  # the replicas on this worker, by global replica id
    conditional = gan.cfg.conditional
    # Float non-trainable weights: BatchNormalization's moving mean and variance (the dropout
    # seed states and the global step are integers, and identical on every replica anyway).
    moving = [
        v for v in gan.generator.non_trainable_weights + gan.discriminator.non_trainable_weights
        if v.dtype.startswith("float")
    ]

    def replica_inputs(ctx):  # a tf.distribute.experimental.ValueContext
        r = ctx.replica_id_in_sync_group
        if r not in samplers:
            samplers[r] = BatchSampler(images[r::replicas], per_replica, seed + r, all_labels[r::replicas])
        sampler = samplers[r]
        batch, batch_labels = sampler.next_with_labels()
        args = (tf.constant(batch), tf.constant(sampler.noise()))
        return (*args, tf.constant(batch_labels)) if conditional else args

    def replica_step(*args):
        out = gan.step(*args)
        if replicas > 1:
            ctx = tf.distribute.get_replica_context()
            means = ctx.all_reduce(tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in moving]) if moving else []
            for v, mean in zip(moving, means):
                v.assign(mean)
            out = {**out, "d_loss": out["d_loss"] * replicas, "g_loss": out["g_loss"] * replicas}
        return out

    @tf.function(jit_compile=False)
    def distributed_step(args):
        out = strategy.run(replica_step, args=args)
        return {
            "d_loss": strategy.reduce(tf.distribute.ReduceOp.MEAN, out["d_loss"], axis=None),
            "g_loss": strategy.reduce(tf.distribute.ReduceOp.MEAN, out["g_loss"], axis=None),
            "step": strategy.experimental_local_results(out["step"])[0],
        }

    return lambda: distributed_step(strategy.experimental_distribute_values_from_function(replica_inputs))
