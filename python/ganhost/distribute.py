"""Data-parallel training with ``tf.distribute``: choosing a strategy, the chief, and the export.

``make_strategy("default" | "mirrored" | "multiworker")`` returns the strategy for
``ganhost.train.train(..., strategy=...)``; the GAN must be built under ``strategy.scope()``.

* ``default``: TensorFlow's default strategy, i.e. plain single-process training.
* ``mirrored``: ``MirroredStrategy`` over this machine's devices (all GPUs; on a CPU-only machine
  one replica on the CPU).
* ``multiworker``: ``MultiWorkerMirroredStrategy``, one process per worker, configured by the
  ``TF_CONFIG`` environment variable, e.g. for the second of two workers on one machine::

      TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:20001", "127.0.0.1:20002"]},
                  "task": {"type": "worker", "index": 1}}'

  Every worker runs the same program. Create the strategy first, before any other TensorFlow
  work: collective ops are configured at program start-up.

Exports: after training, every worker calls ``export_from_strategy``. The chief (task type
``chief``, or worker 0 when the cluster has no chief) writes the real version; the others write
to a throwaway directory (``worker_export_path``) that is removed afterwards. With
MultiWorkerMirroredStrategy a save may run collective ops, and a collective that only some
workers enter hangs; so all of them save, as the TensorFlow guide prescribes.

``python -m ganhost.distribute`` trains and exports a GAN under a strategy (what the tests run
once per worker); the same flags as ``python -m ganhost train`` where they overlap.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time

STRATEGIES = ("default", "mirrored", "multiworker")


class StrategyError(ValueError):
    """A strategy cannot be built as asked (unknown name, missing or invalid TF_CONFIG)."""


def tf_config(environ=None) -> dict | None:
    """The parsed and checked ``TF_CONFIG`` (``None`` when unset or empty).

    Raises StrategyError naming the problem when it is not JSON, has no ``cluster`` of
    ``host:port`` lists, or its ``task`` is not one of the cluster's (type, index).
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise StrategyError(f"TF_CONFIG is not valid JSON ({e}): {raw[:200]!r}") from None
    if not isinstance(cfg, dict):
        raise StrategyError(f"TF_CONFIG must be a JSON object, got {type(cfg).__name__}")
    cluster, task = cfg.get("cluster"), cfg.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise StrategyError('TF_CONFIG has no "cluster" (e.g. {"worker": ["host:port", ...]})')
    for job, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise StrategyError(f'TF_CONFIG cluster job {job!r} must be a non-empty list of "host:port" strings')
    if "worker" not in cluster and "chief" not in cluster:
        raise StrategyError('TF_CONFIG cluster needs a "worker" (or "chief") job')
    if len(cluster.get("chief", [])) > 1:
        raise StrategyError("TF_CONFIG cluster can have one chief only")
    if not isinstance(task, dict) or "type" not in task:
        raise StrategyError('TF_CONFIG has no "task" (e.g. {"type": "worker", "index": 0})')
    kind, index = task["type"], task.get("index", 0)
    if kind not in cluster:
        raise StrategyError(f"TF_CONFIG task type {kind!r} is not a job of the cluster {sorted(cluster)}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[kind]):
        raise StrategyError(f"TF_CONFIG task index {index!r} is out of range for job {kind!r} ({len(cluster[kind])} tasks)")
    return cfg


def task(environ=None) -> tuple[str | None, int]:
    """This process's (task type, index) from TF_CONFIG; (None, 0) without one."""
    cfg = tf_config(environ)
    if cfg is None:
        return None, 0
    return cfg["task"]["type"], cfg["task"].get("index", 0)


def is_chief(environ=None) -> bool:
    """Whether this process writes the results: the ``chief`` task, or worker 0 when the cluster
    has no chief, or a process without TF_CONFIG (single-process training)."""
    cfg = tf_config(environ)
    if cfg is None:
        return True
    kind, index = cfg["task"]["type"], cfg["task"].get("index", 0)
    if kind == "chief":
        return True
    return kind == "worker" and index == 0 and "chief" not in cfg["cluster"]


def make_strategy(name: str):
    """The ``tf.distribute`` strategy called ``name`` (see ``STRATEGIES``).

    ``multiworker`` needs a valid TF_CONFIG and must be created before other TensorFlow work.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "multiworker":
        if tf_config() is None:
            raise StrategyError(
                "--strategy multiworker needs the TF_CONFIG environment variable, e.g. "
                '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}'
            )
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def worker_export_path(path: str | os.PathLike, chief: bool | None = None) -> str:
    """Where this worker writes an export meant for ``path``: ``path`` itself on the chief, a
    fresh temporary directory (remove it afterwards) on any other worker."""
    if chief if chief is not None else is_chief():
        return os.fspath(path)
    kind, index = task()
    return os.path.join(tempfile.mkdtemp(prefix=f"ganhost-{kind}{index}-export-"), "discard")


def local_copy(gan):
    """A GAN outside any strategy holding ``gan``'s current values (weights, BatchNorm statistics,
    optimizer slots, dropout seed states, global step): exported, it is an ordinary version,
    whose ``train_step`` runs single-process. Reads each variable's local (first replica) value,
    which train() keeps identical across replicas."""
    import keras
    import tensorflow as tf

    from ganhost.model import GAN

    if tf.distribute.has_strategy():
        raise RuntimeError("call local_copy outside strategy.scope()")
    copy = GAN(gan.cfg, keras.models.clone_model(gan.generator), keras.models.clone_model(gan.discriminator))
    src, dst = all_variables(gan), all_variables(copy)
    if [tuple(v.shape) for v in src] != [tuple(v.shape) for v in dst]:
        raise RuntimeError("the GAN's copy does not have the same variables")
    for s, d in zip(src, dst):
        d.assign(s.value)
    if weights_checksum(copy) != weights_checksum(gan):
        raise RuntimeError("the GAN's copy does not hold the same values")
    return copy


def export_from_strategy(gan, path: str | os.PathLike) -> bool:
    """Export ``gan`` (trained under a strategy) as the SavedModel version ``path``.

    Every worker must call it. The chief writes ``path`` (through a hidden temporary directory
    beside it, renamed when complete, so a host watching the base path never sees half a
    version); the others export to a throwaway directory, then delete it. Returns whether this
    worker wrote ``path``.
    """
    from ganhost.export import export_savedmodel

    chief = is_chief()
    path = os.fspath(path)
    if chief:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        target = os.path.join(tempfile.mkdtemp(prefix=".tmp-export-", dir=parent), "v")
    else:
        target = worker_export_path(path, chief=False)
    try:
        export_savedmodel(local_copy(gan), target)
        if chief:
            os.rename(target, path)
    finally:
        shutil.rmtree(os.path.dirname(target), ignore_errors=True)
    return chief


def all_variables(gan) -> list:
    """Every variable a GAN exports: the model's (weights, BatchNorm statistics, dropout seed
    states, global step), then both optimizers' (iterations, learning rate, Adam moments)."""
    return [*gan.variables, *gan.d_optimizer.variables, *gan.g_optimizer.variables]


def weights_checksum(gan) -> str:
    """sha256 over ``all_variables(gan)`` (dtype, shape and bytes, in order; not the names,
    which Keras numbers per process): equal on two workers exactly when their models are."""
    import numpy as np

    h = hashlib.sha256()
    for v in all_variables(gan):
        a = np.ascontiguousarray(np.asarray(v.value))
        h.update(f"{a.dtype}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m ganhost.distribute", description="train and export a GAN under a tf.distribute strategy")
    p.add_argument("--strategy", choices=STRATEGIES, default="multiworker")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion, a path to IDX files / mnist.npz, or synthetic")
    p.add_argument("--data-dir", default=None, help="where mnist and fashion live (default: the repo's data/)")
    p.add_argument("--config", default="default")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64, help="global batch, split over all replicas")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--out", required=True, help="version directory the chief creates, e.g. savedmodel/gan/1")
    p.add_argument("--checksum-out", default=None, help="write this worker's weights checksum (JSON) here")
    args = p.parse_args(argv)

    # The strategy first: MultiWorkerMirroredStrategy configures collectives at start-up.
    strategy = make_strategy(args.strategy)
    chief = is_chief()
    if chief and os.path.exists(args.out):
        raise SystemExit(f"--out {args.out} already exists; versions are never overwritten")

    import keras
    import numpy as np

    from ganhost.__main__ import REPO_ROOT, resolve_dataset
    from ganhost.config import PRESETS
    from ganhost.data import load_dataset, to_model_range
    from ganhost.model import GAN
    from ganhost.train import train

    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)  # same initial weights on every worker
    tf.config.experimental.enable_op_determinism()  # as `python -m ganhost train`
    if args.dataset == "synthetic":
        rng = np.random.default_rng(args.seed)
        images = rng.uniform(-1, 1, (max(256, 2 * args.batch_size), 28, 28, 1)).astype(np.float32)
        labels = np.arange(len(images)) % 10
    else:
        raw, labels = load_dataset(resolve_dataset(args.dataset, args.data_dir or str(REPO_ROOT / "data")), split="train")
        images = to_model_range(raw)
    with strategy.scope():
        gan = GAN(PRESETS[args.config])
    kind, index = task()
    name = f"{kind}{index}" if kind else "local"
    start = time.perf_counter()
    history = train(
        gan, images, args.steps, args.batch_size, args.seed, log_every=args.log_every,
        labels=labels, strategy=strategy, log=lambda line: print(f"[{name}] {line}", flush=True),
    )
    checksum = weights_checksum(gan)
    wrote = export_from_strategy(gan, args.out)
    record = {
        "task": name,
        "chief": chief,
        "replicas": strategy.num_replicas_in_sync,
        "steps": len(history),
        "final_step": history[-1].step if history else 0,
        "final_d_loss": history[-1].d_loss if history else None,
        "final_g_loss": history[-1].g_loss if history else None,
        "weights_sha256": checksum,
        "exported": os.path.abspath(args.out) if wrote else None,
        "seconds": round(time.perf_counter() - start, 1),
    }
    if args.checksum_out:
        with open(args.checksum_out, "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
