"""A reject threshold with a guarantee (selective classification, Learn-then-Test style).

An image is accepted when its top calibrated probability is at least ``min_prob``. For a target
accuracy ``a`` and a risk level ``delta``, :func:`choose_min_prob` tests, for each candidate threshold
from the strictest down, the null hypothesis "the error rate of accepted images is above ``1 - a``"
with an exact binomial test (Clopper-Pearson upper confidence bound on the error of the ``m``
accepted images). Thresholds are tested in fixed sequences from strict to lax, each stopping at its first failure
(``delta`` split over the few sequences), so the chosen (smallest passing) threshold has accuracy at
least ``a`` on accepted images with probability at least ``1 - delta`` (Angelopoulos et al., Learn
then Test, 2021). Where the sequences start depends on the confidences only, never on the labels.

Example:
    >>> round(binomial_upper_bound(0, 300, 0.1), 4), round(binomial_upper_bound(3, 300, 0.1), 4)
    (0.0076, 0.0221)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs._util.deprecation import moved_names
from yolo_probs.core.checks import check_finite_array, check_number, check_whole, to_numpy
from yolo_probs.decisions._common import (
    CalibratedRule,
    Field,
    calibrator_mapping,
    check_entry,
    check_fields,
    check_fraction,
    fraction,
    number,
    whole,
)
from yolo_probs.decisions.base import DecisionKind
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "RejectChoice",
    "RejectReport",
    "RejectRule",
    "binomial_cdf",
    "binomial_upper_bound",
    "choose_min_prob",
    "evaluate_reject",
    "reject_curve",
    "risk_coverage",
]

# Before 0.2 the risk-coverage plot was drawn here; it moved up to the outputs layer.
__getattr__ = moved_names(__name__, {"plot_risk_coverage": "yolo_probs.outputs.plots"})

#: Most candidate thresholds tested (quantiles of the confidences beyond that).
MAX_CANDIDATES = 2000

#: The keys of a profile's ``decisions.reject`` entry (:meth:`RejectChoice.to_entry`), each with its check.
ENTRY: dict[str, Field] = {
    "min_prob": Field(number(low=0.0, high=1.0)),
    "target_accuracy": Field(fraction, required=False),
    "delta": Field(fraction, required=False),
    "n": Field(whole(1), required=False),
    "coverage": Field(number(low=0.0, high=1.0), required=False),
    "accuracy": Field(number(low=0.0, high=1.0), required=False),
    "error_bound": Field(number(low=0.0, high=1.0), required=False),
    "calibrator": Field(calibrator_mapping),
}


def check_reject_entry(entry: Any) -> dict[str, Any]:
    """A ``decisions.reject`` entry checked key by key (:data:`ENTRY`).

    Example:
        >>> check_reject_entry({"min_prob": float("nan"), "target_accuracy": 0.9,
        ...                     "calibrator": {"method": "temperature", "temperature": 1.0}})
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.reject.min_prob must be a finite number in [0, 1], got nan (float)
    """
    return check_fields(entry, "reject", ENTRY)


def _log_factorials(n: int) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])


def binomial_cdf(k: int, n: int, p: float, _logfact: np.ndarray | None = None) -> float:
    """``P(Binomial(n, p) <= k)``, exact (a log-space sum), for 0 <= k <= n.

    Example:
        >>> round(binomial_cdf(1, 10, 0.2), 6)
        0.37581
    """
    n = check_whole(n, "n", low=0)
    k = check_whole(k, "k", low=0)
    p = check_number(p, "p", low=0.0, high=1.0)
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    lf = _log_factorials(n) if _logfact is None else _logfact
    i = np.arange(k + 1)
    terms = lf[n] - lf[i] - lf[n - i] + i * math.log(p) + (n - i) * math.log1p(-p)
    m = float(terms.max())
    return min(1.0, math.exp(m) * float(np.exp(terms - m).sum()))


def binomial_upper_bound(errors: int, n: int, delta: float) -> float:
    """Clopper-Pearson upper bound: the largest error rate ``e`` with ``P(Binomial(n, e) <= errors) >= delta``."""
    n = check_whole(n, "n", low=0)
    errors = check_whole(errors, "errors", low=0)
    delta = check_fraction(delta, "delta")
    if n == 0 or errors >= n:
        return 1.0
    lf = _log_factorials(n)
    lo, hi = errors / n, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if binomial_cdf(errors, n, mid, lf) >= delta:
            lo = mid
        else:
            hi = mid
    return hi


def risk_coverage(conf: np.ndarray, correct: np.ndarray) -> dict[str, np.ndarray]:
    """For each candidate threshold (strictest first): accepted count, errors, coverage and accuracy.

    Candidates are the distinct confidences (at most :data:`MAX_CANDIDATES` of their quantiles); they
    depend on the confidences only, never on the labels.
    """
    c = check_finite_array(conf, "conf").reshape(-1)
    ok = _flags(correct)
    if ok.size != c.size:
        raise ConfigError(f"need as many confidences as correctness flags (got {c.size} and {ok.size})")
    order = np.argsort(-c, kind="stable")
    c_sorted, wrong_cum = c[order], np.cumsum(~ok[order])
    cand = np.unique(c)[::-1]
    if cand.size > MAX_CANDIDATES:
        cand = np.unique(np.quantile(c, np.linspace(1.0, 0.0, MAX_CANDIDATES), method="lower"))[::-1]
    m = np.searchsorted(-c_sorted, -cand, side="right")  # accepted: conf >= threshold
    errors = np.where(m > 0, wrong_cum[np.maximum(m - 1, 0)], 0)
    acc = np.where(m > 0, 1.0 - errors / np.maximum(m, 1), np.nan)
    return {"threshold": cand, "accepted": m, "errors": errors, "coverage": m / c.size, "accuracy": acc}


def _zero_error_count(eps: float, level: float) -> int:
    """Fewest accepted images that pass with zero errors: ``(1 - eps)^m <= level``."""
    return max(1, math.ceil(math.log(level) / math.log1p(-eps)))


@dataclass(frozen=True)
class RejectChoice:
    """The chosen threshold and what it was tested on."""

    min_prob: float
    target_accuracy: float
    delta: float
    n: int
    coverage: float
    accuracy: float
    error_bound: float

    def to_entry(self, calibrator: dict[str, Any]) -> dict[str, Any]:
        """The profile's ``decisions.reject`` entry."""
        return {**asdict(self), "calibrator": calibrator}


def choose_min_prob(
    conf: Any, correct: Any, target_accuracy: float, delta: float = 0.1
) -> tuple[RejectChoice, dict[str, np.ndarray]]:
    """The smallest ``min_prob`` whose accepted images reach ``target_accuracy`` with probability >= 1 - delta.

    Fixed-sequence testing stops at its first failure, so a sequence that starts where only a handful
    of images are accepted (little evidence) would stop at once. ``delta`` is therefore split evenly
    over a few sequences (Bonferroni) that start where ``m0``, ``2 m0``, ``4 m0``, ... images are
    accepted (``m0``: the fewest that can pass at all) and walk down to laxer thresholds; the smallest
    threshold passed by any of them is chosen. Where they start depends on the confidences only.

    Returns the choice and the risk-coverage curve (:func:`risk_coverage`, plus ``error_bound`` at the
    tested level).

    Raises:
        ConfigError: no threshold passes (the message gives the best accuracy any threshold guarantees).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> conf = rng.uniform(0.5, 1.0, 2000)
        >>> correct = rng.uniform(size=2000) < conf  # calibrated: accuracy equals confidence
        >>> choice, _ = choose_min_prob(conf, correct, target_accuracy=0.9, delta=0.1)
        >>> 0.7 < choice.min_prob < 0.9, choice.accuracy >= 0.9
        (True, True)
    """
    target = check_fraction(target_accuracy, "the target accuracy", option="target_accuracy")
    delta = check_fraction(delta, "delta (the risk of missing the target)", option="delta")
    c = check_finite_array(conf, "conf").reshape(-1)
    if c.min() < 0.0 or c.max() > 1.0 + 1e-6:
        raise ConfigError(f"conf must be top probabilities in [0, 1], got values from {c.min():g} to {c.max():g}")
    ok = _flags(correct)
    if c.size == 0 or c.size != ok.size:
        raise ConfigError(f"need as many confidences as correctness flags (got {c.size} and {ok.size})")
    eps = 1.0 - target
    curve = risk_coverage(c, ok)
    level, m0, chosen, tested = _fixed_sequences(curve, c.size, eps, delta)
    bound = _error_bounds(curve, tested, chosen, level)
    curve["error_bound"] = bound
    curve["level"] = np.asarray(level)
    if chosen is None:
        best = 1.0 - float(np.nanmin(bound)) if tested.size else 0.0
        raise ConfigError(
            f"no threshold reaches accuracy {target:.4g} with probability {1 - delta:.4g} on these {c.size} images "
            f"(the best any tested threshold guarantees is {best:.4g}; even with no errors it takes {m0} "
            "accepted images); use more calibration images, a lower target accuracy or a larger delta",
            option="target_accuracy",
        )
    choice = RejectChoice(
        min_prob=float(curve["threshold"][chosen]),
        target_accuracy=target,
        delta=delta,
        n=int(c.size),
        coverage=float(curve["coverage"][chosen]),
        accuracy=float(curve["accuracy"][chosen]),
        error_bound=float(bound[chosen]),
    )
    return choice, curve


def _flags(correct: Any) -> np.ndarray:
    """``correct`` as a flat bool array: bools, or 0/1 numbers (a NaN or a 2 is not a flag)."""
    a = to_numpy(correct) if correct is not None else None
    if a is not None and a.dtype == np.bool_:
        return a.reshape(-1)
    a = check_finite_array(correct, "correct", empty=True)
    if not np.isin(a, (0.0, 1.0)).all():
        raise ConfigError("correct must hold true/false (or 0/1) flags, one per confidence")
    return a.astype(bool).reshape(-1)


def _fixed_sequences(
    curve: dict[str, np.ndarray], n: int, eps: float, delta: float
) -> tuple[float, int, int | None, np.ndarray]:
    """The tests of :func:`choose_min_prob` along the curve's thresholds (of ``n`` images), from strict to lax.

    Returns the level of each test (``delta`` split over the sequences), ``m0`` (the fewest accepted
    images that can pass), the index of the smallest threshold passed (None: none) and the indices tested.
    """
    m = curve["accepted"]
    sequences = int(min(8, max(1, math.floor(math.log2(max(n / _zero_error_count(eps, delta), 1.0))) + 1)))
    level = delta / sequences
    m0 = _zero_error_count(eps, level)
    pvalue = np.full(m.size, np.nan)  # P(Binomial(m, eps) <= errors): small = evidence of error below eps

    def passes(j: int) -> bool:  # the same as "Clopper-Pearson bound <= eps", one CDF instead of a bisection
        if np.isnan(pvalue[j]):
            pvalue[j] = binomial_cdf(int(curve["errors"][j]), int(m[j]), eps)
        return bool(pvalue[j] <= level)

    chosen: int | None = None
    starts = sorted({int(np.argmax(m >= m0 * 2**s)) for s in range(sequences) if (m >= m0 * 2**s).any()})
    for start in starts:
        for j in range(start, m.size):
            if not passes(j):
                break
            chosen = j if chosen is None else max(chosen, j)
    return level, m0, chosen, np.flatnonzero(~np.isnan(pvalue))


def _error_bounds(curve: dict[str, np.ndarray], tested: np.ndarray, chosen: int | None, level: float) -> np.ndarray:
    """Clopper-Pearson upper bounds on the error at ``level``, at ``chosen`` and 30 of ``tested`` (NaN elsewhere)."""
    m = curve["accepted"]
    if tested.size > 30:  # the plot and the message need the bounds of a few of them only
        tested = tested[np.linspace(0, tested.size - 1, 30).astype(int)]
    bound = np.full(m.size, np.nan)
    for j in {*tested.tolist(), *([chosen] if chosen is not None else [])}:
        bound[j] = binomial_upper_bound(int(curve["errors"][j]), int(m[j]), level)
    return bound


@dataclass(frozen=True)
class RejectReport:
    """The reject threshold on labelled images: how many are accepted and how accurate they are."""

    min_prob: float
    target_accuracy: float | None
    coverage: float
    accuracy: float | None
    accepted: int
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_reject(entry: dict[str, Any], conf: Any, correct: Any) -> RejectReport:
    """Coverage and accuracy of accepted images at an entry's ``min_prob``.

    Example:
        >>> r = evaluate_reject({"min_prob": 0.8, "target_accuracy": 0.9}, [0.9, 0.7, 0.95], [True, False, False])
        >>> r.coverage, r.accuracy
        (0.6666666666666666, 0.5)
    """
    c = check_finite_array(conf, "conf").reshape(-1)
    ok = _flags(correct)
    if ok.size != c.size:
        raise ConfigError(f"need as many confidences as correctness flags (got {c.size} and {ok.size})")
    if not isinstance(entry, dict):
        raise ConfigError(f"entry must be a decisions.reject mapping, got {entry!r}")
    min_prob = ENTRY["min_prob"].check(entry.get("min_prob"), "decisions.reject.min_prob")
    target = entry.get("target_accuracy")
    accepted = c >= min_prob
    m = int(accepted.sum())
    return RejectReport(
        min_prob=min_prob,
        target_accuracy=None if target is None else fraction(target, "decisions.reject.target_accuracy"),
        coverage=m / c.size,
        accuracy=float(ok[accepted].mean()) if m else None,
        accepted=m,
        n=int(c.size),
    )


class RejectRule(CalibratedRule):
    """Keeps the guaranteed threshold: a prediction whose top probability is below it gets an empty ``top``.

    The profile's ``min_prob`` already does this; the rule also holds when ``min_prob`` is overridden
    by a lower value, and it leaves predictions made at another temperature alone.

    Example:
        >>> import numpy as np
        >>> from yolo_probs.backends import BackendOutput
        >>> from yolo_probs.core.prediction import Prediction
        >>> rule = RejectRule({"min_prob": 0.9, "calibrator": {"method": "temperature", "temperature": 1.0}})
        >>> p = Prediction.from_logits(np.array([1.0, 0.5]), ("a", "b"))
        >>> rule.apply([p], BackendOutput(p.logits[None], "hook"))[0].top
        []
    """

    def __init__(self, entry: dict[str, Any]) -> None:
        entry = check_reject_entry(entry)
        self.min_prob: float = entry["min_prob"]
        self.target_accuracy: float | None = entry.get("target_accuracy")
        self.calibrator: dict[str, Any] = entry["calibrator"]

    def decide(self, predictions: list[Prediction], rows: list[int], output: BackendOutput) -> list[dict[str, Any]]:
        """An empty ``top`` for each prediction below ``min_prob``."""
        return [{"top": []} if p.top1conf < self.min_prob else {} for p in predictions]


def _conf_correct(result: Any) -> tuple[np.ndarray, np.ndarray]:
    c = result.collected
    probs = np.asarray(result.calibrator.probs(c.logits), dtype=np.float64)
    return probs.max(axis=1), probs.argmax(axis=1) == c.labels


def fit(options: dict[str, Any], result: Any, classifier: Any) -> dict[str, Any]:
    """The ``decisions.reject`` entry for :func:`yolo_probs.api.workflow.calibrate`.

    ``options``: ``target_accuracy`` (required), ``delta`` (default 0.1). The profile's ``min_prob``
    becomes the entry's ``min_prob``; :func:`reject_curve` gives the risk-coverage curve behind it. A
    ``plot`` option (before 0.2, a PNG path this wrote) is refused rather than ignored.
    """
    if options.get("plot"):
        raise ConfigError(
            "the reject threshold no longer writes a plot (options['plot']): call reject_curve(result) on the "
            "calibration result, then yolo_probs.outputs.plots.plot_risk_coverage(path, curve, choice)",
            option="plot",
        )
    if "target_accuracy" not in options:
        raise ConfigError("a reject threshold needs a target accuracy (e.g. 0.99)", option="target_accuracy")
    conf, correct = _conf_correct(result)
    choice, _ = choose_min_prob(conf, correct, options["target_accuracy"], options.get("delta", 0.1))
    return choice.to_entry(result.calibrator.to_dict())


def reject_curve(result: Any) -> tuple[RejectChoice, dict[str, np.ndarray]]:
    """The fitted threshold of a calibration result and its risk-coverage curve (see :func:`choose_min_prob`).

    Raises ConfigError when ``result`` fitted no reject threshold.
    """
    entry = result.decisions.get("reject")
    if entry is None:
        raise ConfigError("no reject threshold was fitted; calibrate with a target accuracy", option="target_accuracy")
    conf, correct = _conf_correct(result)
    return choose_min_prob(conf, correct, entry["target_accuracy"], entry["delta"])


def evaluate(entry: dict[str, Any], result: Any, classifier: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The ``reject`` section of :func:`yolo_probs.api.workflow.evaluate`: coverage and accuracy when accepted."""
    conf, correct = _conf_correct(result)
    return evaluate_reject(entry, conf, correct).to_dict()


def build(entry: dict[str, Any], profile: Any, classifier: Any) -> RejectRule:
    """The rule a profile's ``decisions.reject`` entry describes (registered under ``"reject"``)."""
    return RejectRule(check_entry(entry, "reject", classifier, profile))


KIND = DecisionKind(key="reject", build=build, fit=fit, evaluate=evaluate, check=check_reject_entry)
