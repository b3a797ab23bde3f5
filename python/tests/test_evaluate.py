"""The evaluation harness end to end on small samples (metric maths is in test_metrics.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from ganhost.evaluate import Generator, Row, check_targets, compare_with_table, evaluate, write_results
from ganhost.images import grid, to_uint8, write_png

REPO_ROOT = Path(__file__).resolve().parents[2]
CLASSIFIER = REPO_ROOT / "savedmodel" / "mnist_classifier" / "1"
MNIST = REPO_ROOT / "data" / "mnist"
needs_real = pytest.mark.skipif(
    not (CLASSIFIER / "saved_model.pb").exists() or not (MNIST / "manifest.json").exists(),
    reason="needs savedmodel/mnist_classifier/1 and data/mnist (make data)",
)


def test_generator_from_savedmodel(tiny_export, tiny_cond_export):
    plain = Generator.from_savedmodel(tiny_export)
    cond = Generator.from_savedmodel(tiny_cond_export)
    assert not plain.conditional and cond.conditional
    a = plain.sample(5, seed=1)
    assert a.shape == (5, 28, 28, 1) and np.array_equal(a, plain.sample(5, seed=1))
    threes = cond.sample(4, seed=1, labels=np.full(4, 3, np.int32))
    sevens = cond.sample(4, seed=1, labels=np.full(4, 7, np.int32))
    assert not np.array_equal(threes, sevens)


@needs_real
def test_evaluate_orders_floor_model_ceiling(tmp_path, tiny_export):
    rows = evaluate([("tiny", str(tiny_export))], str(MNIST), str(CLASSIFIER), str(tmp_path), samples=300, log=lambda *_: None)
    by = {r.name: r for r in rows}
    assert list(by) == ["floor", "ceiling", "tiny"]
    # Real test images are far closer to the train set than an untrained generator's output.
    assert by["floor"].fid < by["ceiling"].fid / 10
    assert by["floor"].recall > 0.5 and by["ceiling"].recall < 0.1
    assert by["tiny"].cond_accuracy is None
    for r in rows:
        assert (tmp_path / r.grid).read_bytes().startswith(b"\x89PNG")
    write_results(rows, str(tmp_path), "q", "tiny", "cmd", str(CLASSIFIER))
    record = json.loads((tmp_path / "q.json").read_text())
    assert [r["name"] for r in record["rows"]] == ["floor", "ceiling", "tiny"]
    assert "| floor |" in (tmp_path / "q.md").read_text()


def test_check_targets():
    ceiling = Row("ceiling", "", fid=200, precision=0, recall=0, min_share=0, max_share=1, mean_confidence=0.5)
    good = Row("good", "", fid=10, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9, cond_accuracy=0.97)
    assert all(check_targets(good, ceiling).values())
    bad = Row("bad", "", fid=30, precision=0.6, recall=0.4, min_share=0.01, max_share=0.3, mean_confidence=0.9, cond_accuracy=0.5)
    assert not any(check_targets(bad, ceiling).values())


def test_png_grid(tmp_path):
    images = np.linspace(-1, 1, 3 * 28 * 28, dtype=np.float32).reshape(3, 28, 28, 1)
    g = grid(to_uint8(images), cols=2)
    assert g.shape == (56, 56) and g[28:, 28:].max() == 0  # the fourth cell is empty
    write_png(tmp_path / "g.png", g, scale=2)
    raw = (tmp_path / "g.png").read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(raw[16:20], "big") == 112


def test_targets_compare_with_baselines_at_the_same_budget_only():
    ceiling = Row("ceiling", "", fid=200, precision=0, recall=0, min_share=0, max_share=1, mean_confidence=0.5)
    shipped = Row("shipped", "", fid=10, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9, budget="15000 x 64")
    mlp = Row("mlp", "", fid=12, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9, budget="15000 x 64")
    dcgan = Row("dcgan", "", fid=9, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9, budget="15000 x 64")
    cheap = Row("dcgan", "", fid=50, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9, budget="5000 x 64")
    checks = check_targets(shipped, ceiling, [mlp, dcgan])
    assert checks["FID lower than mlp at the same budget (15000 x 64: 12.00)"] is True
    assert checks["FID lower than dcgan at the same budget (15000 x 64: 9.00)"] is False
    assert not any("dcgan" in name for name in check_targets(shipped, ceiling, [cheap]))


def test_compare_with_table(tmp_path):
    def row(name, description, fid):
        return Row(name, description, fid=fid, precision=0.8, recall=0.6, min_share=0.07, max_share=0.13, mean_confidence=0.9)

    table = [row("floor", "real", 0.77), row("ceiling", "untrained", 246.9), row("mlp", "build/mlp/1", 10.4), row("shipped", "savedmodel/gan/1", 3.734)]
    write_results(table, str(tmp_path), "quality", "shipped", "cmd", str(CLASSIFIER))
    reference = tmp_path / "quality.json"
    # Same figures as printed (3.7341 prints as 3.73), the model row named differently: reproduced.
    matched, differences = compare_with_table([row("floor", "real", 0.7701), row("default", "savedmodel/gan/1", 3.7341)], reference)
    assert matched == ["floor", "shipped"] and differences == []
    matched, differences = compare_with_table([row("ceiling", "untrained", 246.9), row("default", "savedmodel/gan/1", 3.80)], reference)
    assert matched == ["ceiling"] and len(differences) == 1 and "3.80" in differences[0] and "3.73" in differences[0]
    _, differences = compare_with_table([row("mine", "savedmodel/mine/1", 3.73)], reference)
    assert differences == [f"mine: no row for savedmodel/mine/1 in {reference}"]
