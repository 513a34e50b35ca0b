"""ViM, the virtual-logit matching score of Wang et al. 2022 ("ViM: out-of-distribution with virtual-logit matching").

With the final layer ``z = W f + b``, features are measured from the origin ``o = -pinv(W) b`` (the point
whose logits are all zero). The principal subspace is spanned by the ``dim`` leading eigenvectors of the
calibration features' (uncentred, about ``o``) covariance; what lies outside it, ``r(f) = |(f - o) - P
P^T (f - o)|``, becomes a virtual logit ``alpha r(f)`` with ``alpha = sum max-logit / sum r`` over the
calibration images. The score is ``logsumexp(z) - alpha r(f)``: large residuals (features unlike the
calibration ones) lower it. The paper's ``dim`` is 1000 for 2048+-d features, 512 for 768+, else half;
here it is also at most half the calibration images, since the subspace is estimated from them.

The paper fits the subspace on the (large) training set. Here it is fitted on the calibration images,
whose own residuals are then far smaller than a new image's (with 300 images and ``dim`` 150 the subspace
nearly holds them): a threshold on them would accept 12-70% of new in-distribution images instead of
95%. So ``alpha`` and the calibration scores are cross-fitted: each image's residual comes from a
subspace fitted on the other ``folds - 1`` folds (as k-NN scores an image leaving itself out).

Stored beside the profile (the entry's ``bank``, float16): the origin and the subspace, ``(dim + 1, D)``.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> w, b, f = rng.normal(size=(3, 6)), rng.normal(size=3), rng.normal(size=(40, 6))
    >>> params, array, cal = fit_vim(f, f @ w.T + b, w, b, dim=2)
    >>> array.shape, params["dim"], cal.shape, vim_scores(f[:2], f[:2] @ w.T + b, array, params["alpha"]).shape
    ((3, 6), 2, (40,), (2,))
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from yolo_probs.core.checks import check_finite_array
from yolo_probs.decisions._common import Field, number, whole
from yolo_probs.decisions.ood_registry import ScoreInputs, ScoreKind, register_score
from yolo_probs.errors import ConfigError

__all__ = ["VIM", "default_dim", "fit_vim", "vim_residual", "vim_scores"]


def default_dim(n_features: int, n_images: int) -> int:
    """The paper's subspace size for ``n_features``-d features, at most half of ``n_images`` (and >= 1).

    Example:
        >>> default_dim(2048, 10_000), default_dim(1280, 10_000), default_dim(256, 10_000), default_dim(1280, 300)
        (1000, 512, 128, 150)
    """
    paper = 1000 if n_features >= 2048 else 512 if n_features >= 768 else n_features // 2
    return max(1, min(paper, n_images // 2, n_features - 1))


def _logsumexp(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=1)
    return np.asarray(m + np.log(np.exp(z - m[:, None]).sum(axis=1)))


def vim_residual(features: np.ndarray, array: np.ndarray) -> np.ndarray:
    """``|(f - o) - P P^T (f - o)|`` per row, with ``array = [o; P^T]`` as :func:`fit_vim` stores it."""
    f = check_finite_array(features, "features", ndim=2).astype(np.float64)
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or f.shape[1] != a.shape[1]:
        raise ConfigError(
            f"features {f.shape} do not match the ViM subspace {a.shape}; re-run 'yolo-probs calibrate'",
            option="ood_score",
        )
    x = f - a[0]
    basis = a[1:]  # (dim, D), orthonormal rows
    return np.asarray(np.linalg.norm(x - (x @ basis.T) @ basis, axis=1))


def vim_scores(features: np.ndarray, logits: np.ndarray, array: np.ndarray, alpha: float) -> np.ndarray:
    """``logsumexp(logits) - alpha * residual`` (float64)."""
    z = check_finite_array(logits, "logits", ndim=2).astype(np.float64)
    return _logsumexp(z) - float(alpha) * vim_residual(features, array)


def _subspace(x: np.ndarray, dim: int) -> np.ndarray:
    """The ``dim`` leading eigenvectors (rows) of the uncentred covariance ``x^T x / n`` of ``x``.

    With fewer images than features (``n < D``, the usual case here) they come from the ``n x n`` Gram
    matrix ``x x^T`` (``x^T u / sqrt(lambda)``), which costs ``n^2 D`` rather than ``D^3``; directions of
    zero variance are dropped. One BLAS thread: on a loaded 2-core machine OpenBLAS's default threads
    made this 30-100 times slower (170 s instead of 2 s for a 359 x 1280 fit).
    """
    if x.shape[0] < x.shape[1]:
        vals, u = np.linalg.eigh(x @ x.T)
        order = np.argsort(vals)[::-1][:dim]
        order = order[vals[order] > vals.max() * 1e-12]
        return np.asarray((x.T @ u[:, order] / np.sqrt(vals[order])).T)
    vals, vectors = np.linalg.eigh(x.T @ x)
    return np.asarray(vectors[:, np.argsort(vals)[::-1][:dim]].T)


def fit_vim(
    features: np.ndarray,
    logits: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    dim: int | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """``({"dim", "alpha"}, [o; P^T], calibration scores)`` from the calibration images and the final layer.

    ``weight`` is ``(C, D)``, ``bias`` ``(C,)``. The array (float16, as the profile stores it) holds the
    subspace of all images; ``alpha`` and the calibration scores are cross-fitted over ``folds`` folds.
    """
    with threadpool_limits(limits=1):
        return _fit_vim(features, logits, weight, bias, dim, folds, seed)


def _fit_vim(
    features: np.ndarray,
    logits: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    dim: int | None,
    folds: int,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    f = check_finite_array(features, "features", ndim=2).astype(np.float64)
    z = check_finite_array(logits, "logits", ndim=2).astype(np.float64)
    w = check_finite_array(weight, "the final layer's weight", ndim=2).astype(np.float64)
    b = check_finite_array(bias, "the final layer's bias", ndim=1).astype(np.float64)
    if w.shape != (z.shape[1], f.shape[1]) or b.shape != (z.shape[1],) or f.shape[0] != z.shape[0]:
        raise ConfigError(f"final layer {w.shape} + {b.shape} does not map features {f.shape} to logits {z.shape}")
    if f.shape[0] < 2 * folds:
        raise ConfigError(f"the vim score needs at least {2 * folds} calibration images, got {f.shape[0]}")
    n_fit = f.shape[0] - -(-f.shape[0] // folds)  # the fewest images a fold's subspace is fitted on
    top = default_dim(f.shape[1], n_fit)
    dim = top if dim is None else max(1, min(int(dim), top))
    origin = -np.linalg.pinv(w) @ b
    x = f - origin
    fold = np.random.default_rng(seed).permutation(np.arange(f.shape[0]) % folds)
    r = np.empty(f.shape[0])
    for i in range(folds):
        held = fold == i
        basis = _subspace(x[~held], dim).astype(np.float16).astype(np.float64)
        r[held] = np.linalg.norm(x[held] - (x[held] @ basis.T) @ basis, axis=1)
    if not np.all(np.isfinite(r)) or r.sum() <= 0:
        raise ConfigError("the ViM residuals of the calibration images are all zero; use more images or a smaller dim")
    alpha = float(z.max(axis=1).sum() / r.sum())
    array = np.vstack([origin[None], _subspace(x, dim)]).astype(np.float16)
    return {"dim": int(array.shape[0] - 1), "alpha": alpha}, array, _logsumexp(z) - alpha * r


def _fit(inputs: ScoreInputs, options: Mapping[str, Any]) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    if inputs.features is None or inputs.layer is None:
        raise ConfigError(
            "the vim score needs the features entering the final layer and its weights (a PyTorch checkpoint "
            "whose last layer is nn.Linear)",
            option="ood_score",
        )
    return fit_vim(inputs.features, inputs.logits, *inputs.layer, dim=options.get("dim"))


def _score(inputs: ScoreInputs, params: Mapping[str, Any], array: np.ndarray | None) -> np.ndarray:
    if inputs.features is None or array is None:
        raise ConfigError("the vim score needs features and its stored subspace", option="ood_score")
    return vim_scores(inputs.features, inputs.logits, array, params["alpha"])


def _check(params: Mapping[str, Any], array: np.ndarray | None) -> None:
    if "alpha" not in params or "dim" not in params:
        raise ConfigError("decisions.ood uses vim but lacks alpha or dim; re-run 'yolo-probs calibrate'")
    if array is not None and (array.ndim != 2 or array.shape[0] != params["dim"] + 1):
        raise ConfigError(
            f"the ViM subspace has shape {array.shape}, expected ({params['dim'] + 1}, D) for dim={params['dim']}; "
            "re-run 'yolo-probs calibrate'"
        )


VIM = register_score(
    ScoreKind(
        "vim",
        fit=_fit,
        score=_score,
        check=_check,
        fields={"dim": Field(whole(1), required=False), "alpha": Field(number(low=0.0, low_open=True), required=False)},
        needs_features=True,
        needs_logits=True,
        needs_layer=True,
        grid=({}, {"dim": 16}, {"dim": 64}),
    )
)
