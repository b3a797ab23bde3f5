"""Sample-quality evaluation in the feature space of our own MNIST classifier.

Inception-based FID needs downloaded weights, so, as is usual for MNIST, features come from a
small CNN trained on the same data (``ganhost.classifier``). Every table carries two reference
rows: real test images against the real train set (the floor: what a perfect generator would
score with this many samples) and an untrained generator (the ceiling).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from ganhost import metrics
from ganhost import signatures as sig
from ganhost.classifier import Classifier
from ganhost.config import LATENT_DIM, NUM_CLASSES, PRESETS
from ganhost.data import load_dataset, to_model_range
from ganhost.images import grid, to_uint8, write_png

# The targets for the shipped default, relative to the ceiling row where stated.
TARGETS = {"fid_vs_ceiling": 0.1, "precision": 0.7, "recall": 0.5, "min_share": 0.05, "max_share": 0.15, "cond_accuracy": 0.95}


@dataclasses.dataclass
class Row:
    name: str
    description: str
    fid: float
    precision: float
    recall: float
    min_share: float
    max_share: float
    mean_confidence: float
    cond_accuracy: float | None = None
    samples: int = 0
    budget: str = ""
    grid: str = ""
    seconds: float = 0.0


class Generator:
    """Draws samples from a SavedModel's ``generate`` signature (or an untrained Keras GAN)."""

    def __init__(self, fn, conditional: bool):
        self.fn, self.conditional = fn, conditional

    @classmethod
    def from_savedmodel(cls, path: str | os.PathLike) -> "Generator":
        gen = tf.saved_model.load(os.fspath(path)).signatures[sig.GENERATE]
        conditional = sig.LABELS in gen.structured_input_signature[1]
        return cls(lambda z, labels: gen(**{sig.Z: z, **({sig.LABELS: labels} if conditional else {})})[sig.IMAGES], conditional)

    @classmethod
    def untrained(cls, preset: str, seed: int) -> "Generator":
        import keras

        from ganhost.model import GAN

        keras.utils.set_random_seed(seed)
        gan = GAN(PRESETS[preset])
        return cls(lambda z, labels: gan.generate(z, labels if gan.cfg.conditional else None), gan.cfg.conditional)

    def sample(self, n: int, seed: int, labels: np.ndarray | None = None, batch: int = 1000) -> np.ndarray:
        """float32 [n, 28, 28, 1] in [-1, 1]; labels default to uniform draws for conditional models."""
        rng = np.random.default_rng(seed)
        z = rng.standard_normal((n, LATENT_DIM), dtype=np.float32)
        if labels is None:
            labels = rng.integers(0, NUM_CLASSES, n).astype(np.int32)
        out = [
            np.asarray(self.fn(tf.constant(z[i : i + batch]), tf.constant(labels[i : i + batch], tf.int32)))
            for i in range(0, n, batch)
        ]
        return np.concatenate(out)


def score(clf: Classifier, real_feats: np.ndarray, images: np.ndarray) -> dict:
    """Metrics of ``images`` (float32 [N, 28, 28, 1] in [-1, 1]) against real features."""
    probs = clf.probabilities(images)
    feats = clf.features(images)
    precision, recall = metrics.precision_recall(real_feats, feats, k=3)
    coverage = metrics.coverage_summary(metrics.class_shares(np.argmax(probs, axis=1), NUM_CLASSES))
    return {
        "fid": metrics.fid(real_feats, feats),
        "precision": precision,
        "recall": recall,
        "min_share": coverage["min_share"],
        "max_share": coverage["max_share"],
        "mean_confidence": metrics.mean_confidence(probs),
    }


def conditional_accuracy(clf: Classifier, gen: Generator, per_class: int, seed: int) -> float:
    """Share of images generated for digit d that the classifier reads as d."""
    labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int32), per_class)
    images = gen.sample(len(labels), seed, labels)
    return metrics.conditional_accuracy(clf.predict(images), labels)


def budget_of(path: str | os.PathLike) -> str:
    """"steps x batch" from the training record beside a version, if there is one."""
    record = Path(os.path.normpath(path) + ".training.json")
    if not record.exists():
        return ""
    r = json.loads(record.read_text())
    return f"{r['steps']} x {r['batch_size']}"


def evaluate(
    models: list[tuple[str, str]],
    dataset: str,
    classifier: str,
    out_dir: str,
    samples: int = 10000,
    seed: int = 0,
    untrained: str = "default",
    log=print,
    grid_prefix: str = "quality",
) -> list[Row]:
    """Score each (name, SavedModel path) plus the floor and ceiling rows; write the grids as
    ``<grid_prefix>_<row>.png`` in out_dir."""
    clf = Classifier(classifier)
    train_images, _ = load_dataset(dataset, "train")
    test_images, _ = load_dataset(dataset, "test")
    real_feats = clf.features(to_model_range(train_images))
    os.makedirs(out_dir, exist_ok=True)

    def row(name, description, images, gen=None, budget=""):
        start = time.perf_counter()
        r = Row(name=name, description=description, samples=len(images), budget=budget, **score(clf, real_feats, images))
        if gen is not None and gen.conditional:
            r.cond_accuracy = conditional_accuracy(clf, gen, samples // NUM_CLASSES, seed + 1)
        r.grid = f"{grid_prefix}_{name}.png"
        write_png(Path(out_dir) / r.grid, grid(to_uint8(images[:100]), 10), scale=2)
        r.seconds = time.perf_counter() - start
        log(f"{name}: FID {r.fid:.2f}  P {r.precision:.3f}  R {r.recall:.3f}  shares {r.min_share:.3f}..{r.max_share:.3f}"
            + (f"  cond acc {r.cond_accuracy:.3f}" if r.cond_accuracy is not None else "") + f"  ({r.seconds:.1f}s)")
        return r

    rows = [row("floor", "real test split vs real train split", to_model_range(test_images))]
    gen = Generator.untrained(untrained, seed)
    rows.append(row("ceiling", f"untrained generator ({untrained})", gen.sample(samples, seed), gen))
    for name, path in models:
        gen = Generator.from_savedmodel(path)
        rows.append(row(name, path, gen.sample(samples, seed), gen, budget_of(path)))
    return rows


# The rows 1 and 2: the shipped default must beat both at the same training budget.
BASELINE_ROWS = ("mlp", "dcgan")


def check_targets(r: Row, ceiling: Row, baselines: list[Row] = ()) -> dict[str, bool]:
    """The issue's targets for the shipped default, each pass/fail. ``baselines``: rows whose
    FID it must beat; only those trained with the same budget count."""
    checks = {
        f"FID <= {TARGETS['fid_vs_ceiling']} x ceiling ({ceiling.fid * TARGETS['fid_vs_ceiling']:.1f})": r.fid <= ceiling.fid * TARGETS["fid_vs_ceiling"],
        f"precision >= {TARGETS['precision']}": r.precision >= TARGETS["precision"],
        f"recall >= {TARGETS['recall']}": r.recall >= TARGETS["recall"],
        f"every digit {TARGETS['min_share']:.0%}..{TARGETS['max_share']:.0%} of samples": r.min_share >= TARGETS["min_share"] and r.max_share <= TARGETS["max_share"],
    }
    if r.cond_accuracy is not None:
        checks[f"conditional accuracy >= {TARGETS['cond_accuracy']:.0%}"] = r.cond_accuracy >= TARGETS["cond_accuracy"]
    for b in baselines:
        if b.budget and b.budget == r.budget:
            checks[f"FID lower than {b.name} at the same budget ({b.budget}: {b.fid:.2f})"] = r.fid < b.fid
    return checks


def _cells(r: Row) -> list[str]:
    """The table cells that carry results (not the row's name or grid file)."""
    cond = f"{r.cond_accuracy:.3f}" if r.cond_accuracy is not None else "n/a"
    return [
        r.description, r.budget or "-", f"{r.fid:.2f}", f"{r.precision:.3f}", f"{r.recall:.3f}",
        f"{r.min_share:.1%}..{r.max_share:.1%}", f"{r.mean_confidence:.3f}", cond,
    ]


def compare_with_table(rows: list[Row], reference_json: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Check that every row in ``rows`` appears, as printed, in a table written earlier (e.g.
    docs/quality.json), so ``make eval`` shows that it reproduces ``make quality``'s table.

    The floor and ceiling rows pair by name, model rows by SavedModel path (``make eval`` names
    the shipped row differently from ``make quality``). Returns (rows that match, differences).
    """
    reference = [Row(**d) for d in json.loads(Path(reference_json).read_text())["rows"]]

    def key(r: Row) -> str:
        return r.name if r.name in ("floor", "ceiling") else r.description

    by_key = {key(r): r for r in reference}
    matched, differences = [], []
    for r in rows:
        ref = by_key.get(key(r))
        if ref is None:
            differences.append(f"{r.name}: no row for {key(r)} in {reference_json}")
        elif _cells(r) == _cells(ref):
            matched.append(ref.name)
        else:
            differences.append(f"{r.name}: {' | '.join(_cells(r))}\n  {ref.name} in {reference_json}: {' | '.join(_cells(ref))}")
    return matched, differences


def markdown_table(rows: list[Row]) -> str:
    lines = [
        "| row | model | steps x batch | classifier FID ↓ | precision ↑ | recall ↑ | digit share min..max | mean confidence | conditional accuracy | samples |",
        "| --- | --- | --- | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.name} | " + " | ".join(_cells(r)) + f" | [grid]({r.grid}) |")
    return "\n".join(lines) + "\n"


def write_results(rows: list[Row], out_dir: str, stem: str, default: str | None, command: str, classifier: str) -> None:
    """``<stem>.json`` and ``<stem>.md`` in out_dir, with the target checks for ``default``."""
    by_name = {r.name: r for r in rows}
    baselines = [by_name[n] for n in BASELINE_ROWS if n in by_name and n != default]
    checks = check_targets(by_name[default], by_name["ceiling"], baselines) if default in by_name else {}
    record = {"command": command, "classifier": classifier, "rows": [dataclasses.asdict(r) for r in rows], "targets": checks}
    Path(out_dir, stem + ".json").write_text(json.dumps(record, indent=1) + "\n")
    md = [
        f"# Sample quality: {Path(classifier).parent.name.replace('_classifier', '')}",
        "",
        "Generated by the command below; do not edit by hand. Every row is scored by the same "
        f"harness (`python -m ganhost eval`) in the feature space of `{classifier}` (a small CNN "
        "trained on the same data; Inception weights cannot be downloaded here):",
        "",
        "- **classifier FID**: Fréchet distance between Gaussians fitted to the classifier's 128-d "
        "penultimate features of the train split and of the samples (lower is better);",
        "- **precision / recall**: Kynkäänniemi et al. 2019 with k=3 in the same space (how many "
        "samples look real; how much of the real data the samples cover);",
        "- **digit share**: the classifier's labels of the unconditional samples, smallest and largest "
        "class share (10% each is perfectly balanced; mode collapse shows as 0%);",
        "- **mean confidence**: mean top-class probability; **conditional accuracy**: share of images "
        "generated for digit d that are classified as d (conditional models).",
        "",
        "The floor row scores the real test split against the real train split (what a perfect "
        "generator scores with that many samples); the ceiling row scores an untrained generator. "
        "Generated rows use the same 10,000 noise vectors (seed 0).",
        "",
        f"Command: `{command}`",
        "",
        markdown_table(rows),
    ]
    if checks:
        md += [f"Targets for `{default}`:", ""] + [f"- {'pass' if ok else 'FAIL'}: {name}" for name, ok in checks.items()] + [""]
    Path(out_dir, stem + ".md").write_text("\n".join(md))
