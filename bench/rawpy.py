"""The Python side's compute floor and training loop, for bench/run (prints one JSON object).

    python bench/rawpy.py generate --model savedmodel/gan/1 --batches 1,16,256 --reps 5 --seconds 2
    python bench/rawpy.py train --model savedmodel/gan/1 --data data/mnist --train-batches 64,256 --train-reps 3 --steps 100
    python bench/rawpy.py generate,train ...   # both in one process (one TensorFlow start-up)

generate: ``tf.saved_model.load(model).signatures["generate"](z=...)`` on fixed noise, the way a
Python user calls the signature. train: ``tf.function`` around the loaded SavedModel's
``train_step`` (the very graph the Go host runs), fed a fresh sampled batch and fresh noise every
step from ganhost.train.BatchSampler, as ``python -m ganhost train`` does. Each repetition is
bounded by count and by time; warm-up calls come first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

LATENT_DIM = 100


def timed_reps(fn, batch: int, reps: int, limit: int, seconds: float, warmup: int) -> dict:
    for _ in range(warmup):
        fn()
    rows = []
    for _ in range(reps):
        start = time.perf_counter()
        deadline = start + seconds
        n = 0
        while n < limit and (n == 0 or time.perf_counter() < deadline):
            fn()
            n += 1
        secs = time.perf_counter() - start
        rows.append({"calls": n, "seconds": secs, "calls_per_s": n / secs, "images_per_s": n * batch / secs})
    med = statistics.median(r["calls_per_s"] for r in rows)
    return {
        "batch": batch,
        "reps": rows,
        "median_calls_per_s": med,
        "median_images_per_s": med * batch,
        "median_ms_per_call": 1000 / med,
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("modes", help="generate, train, or generate,train")
    p.add_argument("--model", default="savedmodel/gan/1", help="SavedModel version directory")
    p.add_argument("--data", default="data/mnist")
    p.add_argument("--batches", default="1,16,256", help="generate batch sizes")
    p.add_argument("--train-batches", default="64,256")
    p.add_argument("--reps", type=int, default=5, help="generate repetitions per batch size")
    p.add_argument("--seconds", type=float, default=2.0, help="time bound of one generate repetition")
    p.add_argument("--iters", type=int, default=100000, help="generate calls per repetition at most")
    p.add_argument("--train-reps", type=int, default=3)
    p.add_argument("--train-seconds", type=float, default=5.0, help="time bound of one train repetition")
    p.add_argument("--steps", type=int, default=100, help="train steps per repetition at most")
    p.add_argument("--warmup", type=int, default=5, help="untimed calls per batch size")
    a = p.parse_args(argv)
    modes = a.modes.split(",")
    if not set(modes) <= {"generate", "train"}:
        sys.exit(f"modes must be generate, train or generate,train, got {a.modes!r}")
    for reps, secs in ((a.reps, a.seconds), (a.train_reps, a.train_seconds)):
        if not (1 <= reps <= 100 and 0 < secs <= 120):
            sys.exit("bounds: reps 1..100, seconds (0, 120]")
    if a.iters < 1 or a.steps < 1 or not 0 <= a.warmup <= 1000:
        sys.exit("bounds: --iters/--steps >= 1, --warmup 0..1000")

    t0 = time.perf_counter()
    loaded = tf.saved_model.load(a.model)
    out = {
        "model": a.model,
        "tensorflow": tf.__version__,
        "load_seconds": time.perf_counter() - t0,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    }

    gen = loaded.signatures["generate"]
    # A conditional model (cond-mlp, cond-dcgan) also takes int32 class labels on generate and
    # train_step.
    conditional = "labels" in gen.structured_input_signature[1]
    out["conditional"] = conditional

    if "generate" in modes:
        rows = []
        for b in (int(x) for x in a.batches.split(",")):
            rng = np.random.default_rng(1)
            feeds = {"z": tf.constant(rng.standard_normal((b, LATENT_DIM), dtype=np.float32))}
            if conditional:
                feeds["labels"] = tf.constant(rng.integers(0, 10, b, dtype=np.int32))

            def call(feeds=feeds):
                return gen(**feeds)["images"].numpy()

            row = timed_reps(call, b, a.reps, a.iters, a.seconds, a.warmup)
            rows.append(row)
            print(f"rawpy generate batch {b}: {row['median_calls_per_s']:.1f} calls/s, "
                  f"{row['median_images_per_s']:.0f} images/s", file=sys.stderr)
        out["generate"] = {"rows": rows}

    if "train" in modes:
        from ganhost.data import load_dataset, to_model_range
        from ganhost.train import BatchSampler

        images, labels = load_dataset(a.data, split="train")
        images = to_model_range(images)
        step = tf.function(loaded.train_step)
        rows = []
        for b in (int(x) for x in a.train_batches.split(",")):
            sampler = BatchSampler(images, b, seed=1, labels=labels)

            def call(sampler=sampler):
                batch, labels = sampler.next_with_labels()
                feeds = {"images": tf.constant(batch), "z": tf.constant(sampler.noise())}
                if conditional:
                    feeds["labels"] = tf.constant(labels)
                res = step(**feeds)
                d, g = float(res["d_loss"]), float(res["g_loss"])  # read the losses, as the Go loop does
                if not (np.isfinite(d) and np.isfinite(g)):
                    raise FloatingPointError(f"training diverged: d_loss={d} g_loss={g}")

            row = timed_reps(call, b, a.train_reps, a.steps, a.train_seconds, a.warmup)
            rows.append(row)
            print(f"rawpy train batch {b}: {row['median_calls_per_s']:.1f} steps/s, "
                  f"{row['median_images_per_s']:.0f} images/s", file=sys.stderr)
        out["train"] = {"rows": rows}

    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
