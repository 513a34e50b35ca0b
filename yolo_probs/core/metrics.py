"""Calibration metrics: accuracy, NLL, multiclass Brier score, ECE/MCE (equal-width bins), adaptive and classwise ECE.

Probabilities always come from :func:`yolo_probs.core.probs.softmax` (and the NLL from its
``log_softmax``); this module only scores them.

Binning follows torchmetrics' ``multiclass_calibration_error``, so our ECE equals its ``norm="l1"``
and our MCE its ``norm="max"``: confidence = the top probability as float32, edges
``linspace(0, 1, n_bins + 1)`` in float32, bin = ``bucketize(conf, edges, right=True) - 1`` (bins
closed on the left), and a confidence of exactly 1.0 gets an extra bin of its own. The adaptive
(equal-mass) ECE sorts the confidences and splits them into ``n_bins`` groups of (nearly) equal size.

Example:
    >>> import numpy as np
    >>> from yolo_probs.core.metrics import evaluate_logits
    >>> logits = np.array([[3.0, 0.0], [0.0, 3.0], [2.0, 0.0], [0.0, 1.0]])
    >>> report = evaluate_logits(logits, [0, 1, 1, 1], temperature=1.0)
    >>> report.accuracy, report.n_bins
    (0.75, 15)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from yolo_probs.core.checks import check_logits_labels, real_array
from yolo_probs.core.probs import ProbabilityMap, check_probability_map, check_temperature, log_softmax, softmax
from yolo_probs.errors import ConfigError

__all__ = [
    "BINNING",
    "DEFAULT_BINS",
    "BinStats",
    "CalibrationReport",
    "accuracy",
    "adaptive_ece",
    "auroc",
    "bin_stats",
    "brier_score",
    "check_bins",
    "classwise_ece",
    "ece",
    "evaluate_logits",
    "mce",
    "nll",
]

DEFAULT_BINS = 15
BINNING = "equal-width, torchmetrics convention: [lo, hi) bins, confidence 1.0 in an extra bin"


def check_bins(n_bins: Any, name: str = "n_bins") -> int:
    """``n_bins`` as an ``int`` if it is a whole number >= 1, else :class:`ConfigError` naming ``name``.

    Example:
        >>> check_bins(10)
        10
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ConfigError(f"{name}: the number of bins must be a whole number >= 1, got {n_bins!r}; pass e.g. 15")
    return int(n_bins)


def _check_probs(probs: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    p, y = check_logits_labels(probs, labels, "probs")
    if (p < 0).any() or (p > 1).any():
        raise ConfigError("probs must lie in [0, 1]; pass softmax outputs (or use evaluate_logits)")
    return p, y


def auroc(id_scores: Any, ood_scores: Any) -> float:
    """Area under the ROC curve for telling in-distribution scores (positives, higher) from OOD ones; ties count 1/2.

    The Mann-Whitney U statistic over average ranks, which equals ``sklearn.metrics.roc_auc_score``.
    Raises :class:`ConfigError` naming the argument for scores that are not a non-empty 1-D list of
    finite numbers.

    Example:
        >>> auroc([0.9, 0.8, 0.4], [0.1, 0.5])
        0.8333333333333334
    """
    a = _scores(id_scores, "id_scores")
    b = _scores(ood_scores, "ood_scores")
    both = np.concatenate([a, b])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size, dtype=np.float64)
    # average ranks over ties (Mann-Whitney U)
    _, first, counts = np.unique(both[order], return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    u = ranks[: a.size].sum() - a.size * (a.size + 1) / 2.0
    return float(u / (a.size * b.size))


def _scores(scores: Any, name: str) -> np.ndarray:
    s = real_array(scores, name, "[0.9, 0.2, 0.7]").astype(np.float64, copy=False)
    if s.ndim != 1 or s.size == 0:
        raise ConfigError(f"{name} must be a non-empty 1-D list of scores, got shape {s.shape}")
    if not np.isfinite(s).all():
        first = int(np.flatnonzero(~np.isfinite(s))[0])
        raise ConfigError(f"{name} must be finite, got {s[first]} at index {first}; drop those samples")
    return s


def accuracy(probs: Any, labels: Any) -> float:
    """Fraction of samples whose most probable class (ties: the lower index) is the label.

    Example:
        >>> accuracy([[0.9, 0.1], [0.4, 0.6]], [0, 0])
        0.5
    """
    return _accuracy(*_check_probs(probs, labels))


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(p, axis=1) == y))


def nll(logits: Any, labels: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the labels under ``softmax(logits / temperature)`` (natural log).

    Example:
        >>> round(nll([[0.0, 0.0]], [1]), 6)  # log 2
        0.693147
    """
    x, y = check_logits_labels(logits, labels)
    lp = log_softmax(x.astype(np.float64, copy=False), temperature=temperature)
    return float(-np.mean(lp[np.arange(y.size), y]))


def brier_score(probs: Any, labels: Any) -> float:
    """Multiclass Brier score: mean over samples of ``sum_k (p_k - [k == label])**2``, in [0, 2].

    Example:
        >>> brier_score([[1.0, 0.0], [0.5, 0.5]], [0, 0])
        0.25
    """
    return _brier(*_check_probs(probs, labels))


def _brier(p: np.ndarray, y: np.ndarray) -> float:
    d = p.astype(np.float64)  # a copy: the caller's array is left alone
    d[np.arange(y.size), y] -= 1.0
    return float(np.mean(np.sum(d * d, axis=1)))


@dataclass(frozen=True)
class BinStats:
    """Per-bin statistics of top-1 confidence: ``n_bins + 1`` entries (the last holds confidence 1.0 exactly).

    ``edges`` are the ``n_bins + 1`` float32 bin edges; empty bins have ``count`` 0 and accuracy and
    confidence 0 (as in torchmetrics).
    """

    edges: np.ndarray
    count: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray

    @property
    def n_bins(self) -> int:
        """The number of equal-width bins (not counting the extra bin for confidence 1.0)."""
        return int(self.edges.size - 1)


def _edges(n_bins: int) -> np.ndarray:
    # torch's own linspace so that the float32 edges are bit-identical to torchmetrics'
    import torch

    return torch.linspace(0, 1, n_bins + 1, dtype=torch.float32).numpy()


def _confidence_correct(p: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.argmax(p, axis=1)
    conf = p[np.arange(y.size), pred].astype(np.float32)
    return conf, (pred == y)


def bin_stats(probs: Any, labels: Any, n_bins: int = DEFAULT_BINS) -> BinStats:
    """Equal-width reliability bins of the top-1 confidence (torchmetrics convention, see the module docstring).

    Example:
        >>> s = bin_stats([[0.95, 0.05], [0.28, 0.72], [0.65, 0.35]], [0, 0, 0], n_bins=10)
        >>> s.count.tolist()[6:], s.accuracy.tolist()[6:]  # bins [0.6, 0.7), [0.7, 0.8), ..., and {1.0}
        ([1.0, 1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 0.0, 1.0, 0.0])
    """
    return _bin_stats(*_check_probs(probs, labels), check_bins(n_bins))


def _bin_stats(p: np.ndarray, y: np.ndarray, n_bins: int) -> BinStats:
    conf, correct = _confidence_correct(p, y)
    edges = _edges(n_bins)
    idx = np.searchsorted(edges, conf, side="right") - 1  # == torch.bucketize(conf, edges, right=True) - 1
    size = n_bins + 1
    count = np.bincount(idx, minlength=size).astype(np.float64)
    conf_sum = np.bincount(idx, weights=conf.astype(np.float64), minlength=size)
    acc_sum = np.bincount(idx, weights=correct.astype(np.float64), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(count > 0, acc_sum / count, 0.0)
        mean_conf = np.where(count > 0, conf_sum / count, 0.0)
    return BinStats(edges=edges, count=count, accuracy=acc, confidence=mean_conf)


def ece(probs: Any, labels: Any, n_bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error: ``sum_b (n_b / N) |accuracy_b - confidence_b|`` over equal-width bins.

    Equals ``torchmetrics.functional.classification.multiclass_calibration_error(probs, labels, C,
    n_bins, norm="l1")``.

    Example:
        >>> round(ece([[0.85, 0.15], [0.75, 0.25]], [0, 1], n_bins=10), 6)  # (|1 - 0.85| + |0 - 0.75|) / 2
        0.45
    """
    return _ece_mce(bin_stats(probs, labels, n_bins))[0]


def mce(probs: Any, labels: Any, n_bins: int = DEFAULT_BINS) -> float:
    """Maximum calibration error: the largest ``|accuracy_b - confidence_b|`` over the bins.

    Equals torchmetrics' ``multiclass_calibration_error(..., norm="max")``.

    Example:
        >>> round(mce([[0.85, 0.15], [0.75, 0.25]], [0, 1], n_bins=10), 6)
        0.75
    """
    return _ece_mce(bin_stats(probs, labels, n_bins))[1]


def _ece_mce(s: BinStats) -> tuple[float, float]:
    """ECE and MCE of the same bins.

    ECE is a weighted mean of the gaps whose largest is MCE, so ECE <= MCE; it is capped at MCE
    because float rounding of the weighted sum can put it an ulp above (one bin holding every sample).
    """
    gap = np.abs(s.accuracy - s.confidence)
    largest = float(np.max(gap))
    return min(float(np.sum(gap * s.count) / np.sum(s.count)), largest), largest


def adaptive_ece(probs: Any, labels: Any, n_bins: int = DEFAULT_BINS) -> float:
    """ECE over equal-mass bins: samples sorted by confidence, split into ``n_bins`` groups of (nearly) equal size.

    Fewer than ``n_bins`` samples give one sample per bin.

    Example:
        >>> round(adaptive_ece([[0.85, 0.15], [0.75, 0.25]], [0, 1], n_bins=2), 6)
        0.45
    """
    return _adaptive_ece(*_check_probs(probs, labels), check_bins(n_bins))


def _adaptive_ece(p: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    conf, correct = _confidence_correct(p, y)
    order = np.argsort(conf, kind="stable")
    total = 0.0
    for chunk in np.array_split(order, min(n_bins, order.size)):
        total += chunk.size * abs(float(np.mean(correct[chunk])) - float(np.mean(conf[chunk], dtype=np.float64)))
    return total / order.size


def classwise_ece(probs: Any, labels: Any, n_bins: int = DEFAULT_BINS) -> float:
    """Classwise ECE (Kull et al. 2019): the mean over classes ``k`` of the ECE of ``p_k`` against ``[label == k]``.

    Every sample's probability of every class is binned (equal-width bins, the same convention as
    :func:`ece`), so it sees miscalibration of the classes a model rarely predicts, which top-1 ECE
    misses. Class ``k``'s term equals torchmetrics' ``binary_calibration_error(p[:, k], labels == k)``.

    Example:
        >>> round(classwise_ece([[0.85, 0.15], [0.75, 0.25]], [0, 1], n_bins=10), 6)  # both classes: 0.45
        0.45
    """
    return _classwise_ece(*_check_probs(probs, labels), check_bins(n_bins))


def _classwise_ece(p: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    n, c = p.shape
    conf = p.astype(np.float32, copy=False)
    idx = np.searchsorted(_edges(n_bins), conf, side="right") - 1  # (N, C) bin per probability
    size = n_bins + 1
    idx += size * np.arange(c)  # one set of bins per class
    sums = np.bincount(idx.ravel(), weights=conf.ravel(), minlength=size * c)
    hits = np.bincount(idx[np.arange(n), y], minlength=size * c)  # one hit per sample: its label's bin
    gap = np.abs(sums - hits)  # per bin: |sum of p - hits| = n_b |confidence_b - accuracy_b|
    return float(gap.sum() / (n * c))


@dataclass(frozen=True)
class CalibrationReport:
    """Metrics of one set of probabilities; ``n_bins`` and ``binning`` say how ECE/MCE were binned.

    ECE, MCE, adaptive and classwise ECE are fractions (0.0123 = 1.23%), like accuracy.
    """

    samples: int
    temperature: float
    accuracy: float
    nll: float
    brier: float
    ece: float
    mce: float
    adaptive_ece: float
    classwise_ece: float
    n_bins: int = DEFAULT_BINS
    binning: str = BINNING
    method: str = "temperature"

    def to_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of every field (JSON/YAML friendly)."""
        return asdict(self)


def _report(p: np.ndarray, y: np.ndarray, nll_value: float, t: float, n_bins: int, method: str) -> CalibrationReport:
    """Every metric from validated arrays (no checks here: the public functions validate once)."""
    ece_value, mce_value = _ece_mce(_bin_stats(p, y, n_bins))
    return CalibrationReport(
        samples=int(y.size),
        temperature=t,
        accuracy=_accuracy(p, y),
        nll=nll_value,
        brier=_brier(p, y),
        ece=ece_value,
        mce=mce_value,
        adaptive_ece=_adaptive_ece(p, y, n_bins),
        classwise_ece=_classwise_ece(p, y, n_bins),
        n_bins=n_bins,
        method=method,
    )


def evaluate_logits(
    logits: Any,
    labels: Any,
    temperature: float = 1.0,
    n_bins: int = DEFAULT_BINS,
    *,
    calibrator: ProbabilityMap | None = None,
) -> CalibrationReport:
    """Every metric of ``softmax(logits / temperature)`` (or of ``calibrator``'s probabilities) against ``labels``.

    The inputs are validated once, then every metric runs on the same arrays.

    Example:
        >>> r = evaluate_logits([[2.0, 0.0], [0.0, 1.0]], [0, 0], temperature=2.0)
        >>> r.accuracy, round(r.nll, 4), r.n_bins  # NLL = (log(1 + e**-1) + log(1 + e**0.5)) / 2
        (0.5, 0.6437, 15)
    """
    n_bins = check_bins(n_bins)
    x, y = check_logits_labels(logits, labels)
    if calibrator is None:
        t = check_temperature(temperature)
        lp = log_softmax(x.astype(np.float64, copy=False), temperature=t)
        p = softmax(x, temperature=t)
        method = "temperature"
    else:
        calibrator = check_probability_map(calibrator)
        lp = np.asarray(calibrator.log_probs(x), dtype=np.float64)
        p = np.asarray(calibrator.probs(x))
        if lp.shape != x.shape or p.shape != x.shape or np.isnan(lp).any() or not np.isfinite(p).all():
            raise ConfigError(
                f"calibrator {calibrator.method!r} gave NaN, inf or misshapen probabilities for logits of shape "
                f"{x.shape}; refit it or check its parameters"
            )
        t = calibrator.temperature if calibrator.temperature is not None else 1.0
        method = calibrator.method
    nll_value = float(-np.mean(lp[np.arange(y.size), y]))
    return _report(p, y, nll_value, t, n_bins, method)
