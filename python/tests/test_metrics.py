"""Tests for ganhost.metrics: FID, improved precision/recall and classifier diagnostics."""

from __future__ import annotations

import numpy as np
import pytest

from ganhost import metrics


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _random_cov(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.standard_normal((d, d))
    return a @ a.T + 0.1 * np.eye(d)


# --- FID --------------------------------------------------------------------------------


def test_fid_identical_sets_is_zero() -> None:
    x = _rng().standard_normal((500, 16)) @ _rng(1).standard_normal((16, 16)) + 3.0
    scale = np.trace(np.cov(x, rowvar=False))
    assert metrics.fid(x, x) < 1e-6 * scale


def test_frechet_distance_diagonal_closed_form() -> None:
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    got = metrics.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_non_diagonal_matches_2x2_analytic() -> None:
    # For 2x2 A with positive eigenvalues l1, l2: tr(A^{1/2}) = sqrt(l1) + sqrt(l2)
    # = sqrt(tr A + 2 sqrt(det A)), an independent route to the trace term.
    c1 = np.array([[2.0, 0.8], [0.8, 1.0]])
    c2 = np.array([[1.0, -0.5], [-0.5, 3.0]])
    mu1, mu2 = np.array([0.3, -1.0]), np.array([-0.2, 0.5])
    prod = c1 @ c2
    tr_sqrt = np.sqrt(np.trace(prod) + 2 * np.sqrt(np.linalg.det(prod)))
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt
    assert metrics.frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, rel=1e-12)


def test_fid_large_samples_approach_closed_form() -> None:
    rng = _rng(2)
    d = 3
    mu1, mu2 = np.zeros(d), np.array([1.0, -0.5, 0.25])
    c1, c2 = _random_cov(rng, d), _random_cov(rng, d)
    expected = metrics.frechet_distance(mu1, c1, mu2, c2)
    n = 200_000
    a = rng.multivariate_normal(mu1, c1, size=n)
    b = rng.multivariate_normal(mu2, c2, size=n)
    assert metrics.fid(a, b) == pytest.approx(expected, rel=0.02)


def test_fid_is_symmetric() -> None:
    rng = _rng(3)
    a = rng.standard_normal((300, 8)) @ rng.standard_normal((8, 8))
    b = rng.standard_normal((200, 8)) * 2.0 + 1.0
    assert metrics.fid(a, b) == pytest.approx(metrics.fid(b, a), rel=1e-9)


# --- precision / recall -----------------------------------------------------------------


def _brute_precision_recall(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    def dists(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    # Sorted row of own-set distances: index 0 is the self distance 0, index k the k-th neighbour.
    r_real = np.sort(dists(real, real), axis=1)[:, k]
    r_fake = np.sort(dists(fake, fake), axis=1)[:, k]
    precision = np.mean((dists(fake, real) <= r_real[None, :]).any(axis=1))
    recall = np.mean((dists(real, fake) <= r_fake[None, :]).any(axis=1))
    return float(precision), float(recall)


def test_precision_recall_of_set_against_itself_is_one() -> None:
    x = _rng(4).standard_normal((300, 10)) + 50.0
    assert metrics.precision_recall(x, x, k=3) == (1.0, 1.0)


def test_precision_recall_separated_clusters_are_zero() -> None:
    rng = _rng(5)
    real = rng.standard_normal((200, 4))
    fake = rng.standard_normal((200, 4)) + 100.0
    assert metrics.precision_recall(real, fake, k=3) == (0.0, 0.0)


def test_precision_recall_half_the_modes() -> None:
    rng = _rng(6)
    centres = np.array([[0.0, 0.0], [50.0, 0.0], [0.0, 50.0], [50.0, 50.0]])
    real = np.concatenate([c + rng.standard_normal((250, 2)) for c in centres])
    fake = np.concatenate([c + rng.standard_normal((250, 2)) for c in centres[:2]])
    precision, recall = metrics.precision_recall(real, fake, k=3)
    assert precision > 0.95
    # Only the covered half of the real points can be inside a fake ball.
    assert 0.45 < recall <= 0.5


@pytest.mark.parametrize("batch", [1, 3, 7, 16, 50, 64, 1024])
def test_precision_recall_batched_matches_brute_force(batch: int) -> None:
    rng = _rng(7)
    real = rng.standard_normal((50, 5))
    fake = rng.standard_normal((37, 5)) * 1.3 + 0.4
    for k in (1, 3, 5):
        got = metrics.precision_recall(real, fake, k=k, batch=batch)
        assert got == _brute_precision_recall(real, fake, k)


def test_knn_radii_exclude_self_and_count_duplicates() -> None:
    # 1-D points: 0, 0 (duplicate), 3, 10. k=1 -> nearest other point.
    x = np.array([[0.0], [0.0], [3.0], [10.0]])
    np.testing.assert_array_equal(metrics.knn_sq_radii(x, k=1, batch=3), [0.0, 0.0, 9.0, 49.0])
    np.testing.assert_array_equal(metrics.knn_sq_radii(x, k=2, batch=2), [9.0, 9.0, 9.0, 100.0])


def test_knn_radii_require_more_points_than_k() -> None:
    with pytest.raises(ValueError):
        metrics.knn_sq_radii(np.zeros((3, 2)), k=3)


# --- classifier diagnostics -------------------------------------------------------------


def test_class_shares_and_coverage_summary() -> None:
    labels = np.array([0, 1, 1, 3, 3, 3, 3, 9, 9, 9])
    shares = metrics.class_shares(labels, num_classes=10)
    np.testing.assert_allclose(shares, [0.1, 0.2, 0, 0.4, 0, 0, 0, 0, 0, 0.3])
    assert shares.sum() == pytest.approx(1.0)
    assert metrics.coverage_summary(shares) == {"min_share": 0.0, "max_share": 0.4, "argmin": 2, "argmax": 3}


def test_class_shares_rejects_out_of_range_labels() -> None:
    with pytest.raises(ValueError):
        metrics.class_shares(np.array([0, 10]), num_classes=10)


def test_mean_confidence() -> None:
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3], [1 / 3, 1 / 3, 1 / 3]])
    assert metrics.mean_confidence(probs) == pytest.approx((0.9 + 0.5 + 1 / 3) / 3)


def test_conditional_accuracy() -> None:
    assert metrics.conditional_accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    with pytest.raises(ValueError):
        metrics.conditional_accuracy([1, 2], [1, 2, 3])
