"""Sample-quality metrics for generated digits, computed in a classifier's feature space.

Pure numpy (no TensorFlow): the caller extracts features / class probabilities with our own
small MNIST CNN (Inception weights are unavailable offline) and passes numpy arrays here.

* ``fid`` / ``frechet_distance`` -- Heusel et al. 2017, "GANs Trained by a Two Time-Scale
  Update Rule Converge to a Local Nash Equilibrium" (FID), evaluated in our feature space.
* ``precision_recall`` -- Kynkäänniemi et al. 2019, "Improved Precision and Recall Metric
  for Assessing Generative Models" (k-NN balls).
* ``class_shares`` / ``coverage_summary`` / ``mean_confidence`` / ``conditional_accuracy`` --
  simple mode-coverage and conditioning diagnostics from classifier outputs.
"""

from __future__ import annotations

import numpy as np


def _features(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty [N, D] array, got shape {x.shape}")
    return x


# --- Fréchet distance -------------------------------------------------------------------


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix via ``eigh``."""
    w, u = np.linalg.eigh(cov)
    # Rounding can leave eigenvalues of a PSD matrix slightly negative; they are really 0.
    return (u * np.sqrt(np.clip(w, 0.0, None))) @ u.T


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet (2-Wasserstein squared) distance between N(mu1, cov1) and N(mu2, cov2).

    ``mu*``: [D]; ``cov*``: [D, D] symmetric PSD. Returns a float >= 0:
    ``||mu1 - mu2||^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^{1/2})``
    (Dowson & Landau 1982; used as FID by Heusel et al. 2017).

    The trace term avoids scipy's ``sqrtm``: with ``s = cov1^{1/2}`` (via ``eigh``),
    ``cov1 cov2`` is similar to the symmetric PSD ``s cov2 s``, so
    ``tr((cov1 cov2)^{1/2}) = sum(sqrt(eigvalsh(s cov2 s)))``.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    if mu1.shape != mu2.shape or mu1.ndim != 1:
        raise ValueError(f"means must be [D] arrays of equal shape, got {mu1.shape}, {mu2.shape}")
    d = mu1.shape[0]
    if cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"covariances must be [{d}, {d}], got {cov1.shape}, {cov2.shape}")
    s = _sqrt_psd(cov1)
    m = s @ cov2 @ s
    # eigvalsh reads one triangle only; symmetrise so rounding asymmetry is averaged, not dropped.
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_covmean
    # For (near-)identical distributions rounding can give a tiny negative number; FID >= 0.
    return float(max(value, 0.0))


def fid(feats_a, feats_b) -> float:
    """Fréchet Inception-style Distance between two feature sets (Heusel et al. 2017).

    ``feats_a``: [N_a, D], ``feats_b``: [N_b, D], any real dtype, N >= 2 each. Fits a Gaussian
    to each set (mean, covariance with ddof=1, in float64) and returns
    ``frechet_distance`` between them: a float >= 0, 0 for identical sets, symmetric.
    Note the estimator is biased upward by O(D / N) for finite samples.
    """
    a = _features(feats_a, "feats_a").astype(np.float64)
    b = _features(feats_b, "feats_b").astype(np.float64)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if min(len(a), len(b)) < 2:
        raise ValueError("need at least 2 samples per set to estimate a covariance")
    return frechet_distance(
        a.mean(axis=0), np.cov(a, rowvar=False, ddof=1), b.mean(axis=0), np.cov(b, rowvar=False, ddof=1)
    )


# --- Improved precision and recall ------------------------------------------------------


def _sq_dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances [len(a), len(b)] via ||a||^2 + ||b||^2 - 2 a.b."""
    d = np.einsum("ij,ij->i", a, a)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    # Cancellation can make the expansion slightly negative for (near-)equal points.
    return np.maximum(d, 0.0)


def knn_sq_radii(feats, k: int = 3, batch: int = 1024) -> np.ndarray:
    """Squared distance from each point to its k-th nearest neighbour in the same set.

    ``feats``: [N, D] with N > k; returns float32 [N]. The point itself is excluded by taking
    the (k+1)-th smallest distance of its row *including* its own zero: a duplicate of the point
    then counts as a neighbour at distance 0, as it should. Rows are processed ``batch`` at a
    time, so memory is O(batch * N), never O(N^2).
    """
    x = _features(feats, "feats").astype(np.float32)
    n = len(x)
    if not 1 <= k < n:
        raise ValueError(f"need 1 <= k < N, got k={k}, N={n}")
    x_sq = np.einsum("ij,ij->i", x, x)
    radii = np.empty(n, np.float32)
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        d = _sq_dists(x[start:stop], x, x_sq)
        # The expansion need not give exactly 0 on the diagonal; make the self distance exact so
        # it is always among the k+1 smallest.
        rows = np.arange(stop - start)
        d[rows, start + rows] = 0.0
        radii[start:stop] = np.partition(d, k, axis=1)[:, k]
    return radii


def _fraction_inside(points: np.ndarray, centres: np.ndarray, sq_radii: np.ndarray, batch: int) -> float:
    """Fraction of ``points`` within at least one ball (centre, radius), boundary included."""
    c_sq = np.einsum("ij,ij->i", centres, centres)
    inside = 0
    for start in range(0, len(points), batch):
        d = _sq_dists(points[start : start + batch], centres, c_sq)
        inside += int(np.count_nonzero((d <= sq_radii[None, :]).any(axis=1)))
    return inside / len(points)


def precision_recall(real_feats, fake_feats, k: int = 3, batch: int = 1024) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    ``real_feats``: [N_r, D], ``fake_feats``: [N_f, D], both with N > k. Each point's ball has
    radius = distance to its k-th nearest neighbour within its own set (itself excluded).
    Precision = fraction of fake points inside at least one real ball (quality);
    recall = fraction of real points inside at least one fake ball (coverage). Both in [0, 1].

    Distances are float32 and computed ``batch`` rows at a time (memory O(batch * N)). Squared
    distances are compared with squared radii, which orders the same as distances.
    """
    real = _features(real_feats, "real_feats").astype(np.float64)
    fake = _features(fake_feats, "fake_feats").astype(np.float64)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: {real.shape[1]} vs {fake.shape[1]}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    # Distances are translation invariant; centring before the float32 cast shrinks the norms in
    # ||a||^2 + ||b||^2 - 2ab and hence its cancellation error.
    centre = real.mean(axis=0)
    real = (real - centre).astype(np.float32)
    fake = (fake - centre).astype(np.float32)
    real_r = knn_sq_radii(real, k, batch)
    fake_r = knn_sq_radii(fake, k, batch)
    precision = _fraction_inside(fake, real, real_r, batch)
    recall = _fraction_inside(real, fake, fake_r, batch)
    return precision, recall


# --- Classifier-output diagnostics ------------------------------------------------------


def class_shares(predicted_labels, num_classes: int = 10) -> np.ndarray:
    """Share of each class among predicted labels.

    ``predicted_labels``: [N] integers in [0, num_classes). Returns float64 [num_classes],
    non-negative, summing to 1 (a collapsed generator shows up as zeros).
    """
    labels = np.asarray(predicted_labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("predicted_labels is empty")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"predicted_labels must be integers, got {labels.dtype}")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return np.bincount(labels, minlength=num_classes) / labels.size


def coverage_summary(shares) -> dict:
    """Summary of ``class_shares`` output ([C] floats): ``min_share``, ``max_share`` (floats)
    and ``argmin``, ``argmax`` (class ids, the first on ties)."""
    shares = np.asarray(shares, np.float64)
    return {
        "min_share": float(shares.min()),
        "max_share": float(shares.max()),
        "argmin": int(shares.argmin()),
        "argmax": int(shares.argmax()),
    }


def mean_confidence(probs) -> float:
    """Mean over samples of the classifier's top class probability.

    ``probs``: [N, C], rows are probability vectors (non-negative, summing to 1). Returns a float
    in [1/C, 1]; low values mean the generated digits are ambiguous to the classifier.
    """
    p = _features(probs, "probs")
    return float(p.max(axis=1).mean())


def conditional_accuracy(predicted_labels, requested_labels) -> float:
    """Fraction of samples whose predicted class equals the class the generator was asked for.

    Both arguments: [N] integer labels, same shape. Returns a float in [0, 1].
    """
    pred = np.asarray(predicted_labels).reshape(-1)
    req = np.asarray(requested_labels).reshape(-1)
    if pred.shape != req.shape or pred.size == 0:
        raise ValueError(f"need two non-empty label arrays of equal length, got {pred.shape}, {req.shape}")
    return float(np.mean(pred == req))
