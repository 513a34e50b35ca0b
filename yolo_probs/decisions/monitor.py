"""Label-free drift monitoring: what the calibration images looked like, and tests that new images still do.

At calibration time :func:`fit_monitor` records the reference a deployment is checked against (the
profile's ``decisions.monitor``): a random sample of the calibration images' top-1 confidences (and of
their unknown-input scores when the profile has an ``ood`` rule), the predicted-class counts, the
accuracy and two label-free accuracy references:

- ATC (Garg et al. 2022): the confidence threshold ``t`` such that the fraction of calibration images
  with confidence above ``t`` equals the calibration accuracy; on new images the accuracy is estimated
  as the fraction above ``t`` (:func:`atc_estimate`).
- DoC (Guillory et al. 2021): the accuracy moves by the difference of average confidences
  (:func:`doc_estimate`).

:class:`DriftMonitor` is fed one prediction at a time and runs, on what it has seen:

- a two-sample Kolmogorov-Smirnov test of the confidences against the reference (:func:`ks_test`);
- a chi-square test of the predicted-class mix (a 2 x C contingency table, :func:`class_mix_test`);
- a one-sided test of the unknown rate against its expected value (beta-binomial, :func:`unknown_rate_test`);
- for streams, a conformal test martingale (:class:`ConformalMartingale`): online conformal p-values of
  each new image against the reference and the images before it, bet on by Vovk's simple jumper. Under
  no drift it stays below ``1/alpha`` for ever with probability at least ``1 - alpha`` (Ville's
  inequality), so its alarm is not a repeated p-value.

The batch tests share ``alpha`` (Bonferroni), so a report's ``drift`` is a false alarm with probability
at most ``alpha``; the martingale alone decides the stream's alarm (:attr:`DriftMonitor.alarm`).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> conf = rng.uniform(0.3, 1.0, 400)
    >>> entry = fit_monitor(conf, conf > 0.5, rng.integers(0, 3, 400), n_classes=3)
    >>> entry["n"], round(entry["accuracy"], 3) == round(atc_estimate(conf, entry["atc_threshold"]), 3)
    (400, True)
"""

from __future__ import annotations

import bisect
import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.core.checks import check_finite_array, check_number, check_whole
from yolo_probs.decisions import ood as _ood
from yolo_probs.decisions._common import (
    CalibratedRule,
    Field,
    calibrator_mapping,
    check_fields,
    check_fraction,
    made_at,
    number,
    same_calibrator,
    whole,
)
from yolo_probs.decisions.base import DecisionKind
from yolo_probs.decisions.selective import binomial_cdf
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends.base import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "DEFAULT_ALPHA",
    "FRAME_STRIDE",
    "MAX_REFERENCE",
    "MIN_IMAGES",
    "ConformalMartingale",
    "DriftMonitor",
    "DriftTest",
    "MonitorReport",
    "MonitorRule",
    "atc_estimate",
    "atc_threshold",
    "chi2_sf",
    "class_mix_test",
    "doc_estimate",
    "fit_monitor",
    "kolmogorov_sf",
    "ks_test",
    "unknown_rate_test",
]

#: The false-alarm level of a report and of the stream alarm.
DEFAULT_ALPHA = 0.05
#: At most this many calibration images (a seeded random sample) are kept as the reference.
MAX_REFERENCE = 500
#: Of a video's frames, the monitor takes one in this many (about one a second at 30 fps).
FRAME_STRIDE = 30
#: The fewest images a batch test runs on (the class-mix test wants 5 per calibration class).
MIN_IMAGES = 20
_JUMP = 0.01  # the simple jumper's switching rate (Vovk et al. 2021)


def _sorted_sample(value: Any, name: str) -> list[float]:
    a = check_finite_array(value, name, ndim=1)
    if a.size == 0:
        raise ConfigError(f"{name} must hold at least one number; re-run 'yolo-probs calibrate'")
    if np.any(np.diff(a) < 0):
        raise ConfigError(f"{name} must be sorted in increasing order; re-run 'yolo-probs calibrate'")
    return [float(v) for v in a]


def _counts(value: Any, name: str) -> list[int]:
    if not isinstance(value, list | tuple | np.ndarray) or not all(
        isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise ConfigError(f"{name} must be a list of whole numbers >= 0 (one per class), got {value!r}")
    return [int(v) for v in value]


ENTRY: dict[str, Field] = {
    "n": Field(whole(1)),
    "accuracy": Field(number(low=0.0, high=1.0)),
    "mean_confidence": Field(number(low=0.0, high=1.0)),
    "atc_threshold": Field(number(low=0.0, high=1.0)),
    "confidence": Field(_sorted_sample),
    "class_counts": Field(_counts),
    "unknown_scores": Field(_sorted_sample, required=False),
    "unknown_threshold": Field(number(), required=False),
    "expected_unknown_rate": Field(number(low=0.0, high=1.0), required=False),
    "calibrator": Field(calibrator_mapping),
}
_UNKNOWN_KEYS = ("unknown_scores", "unknown_threshold", "expected_unknown_rate")


def check_monitor_entry(entry: Any) -> dict[str, Any]:
    """``decisions.monitor`` checked key by key, and its parts against each other.

    Example:
        >>> check_monitor_entry({"n": 3})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.monitor lacks accuracy, ..., calibrator; re-run 'yolo-probs calibrate'
    """
    out = check_fields(entry, "monitor", ENTRY)
    given = [k for k in _UNKNOWN_KEYS if k in out]
    if given and len(given) != len(_UNKNOWN_KEYS):
        lacking = ", ".join(k for k in _UNKNOWN_KEYS if k not in out)
        raise ConfigError(f"decisions.monitor has {given[0]} but lacks {lacking}; re-run 'yolo-probs calibrate'")
    if sum(out["class_counts"]) != out["n"]:
        raise ConfigError(
            f"decisions.monitor.class_counts add up to {sum(out['class_counts'])}, not n = {out['n']}; "
            "re-run 'yolo-probs calibrate'"
        )
    return out


def atc_threshold(conf: Any, correct: Any) -> float:
    """ATC's threshold: the fraction of ``conf`` strictly above it equals the accuracy (up to ties).

    Example:
        >>> atc_threshold([0.2, 0.4, 0.6, 0.8], [False, True, True, True])  # 3 of 4 right: 3 above 0.2
        0.2
    """
    c = np.sort(check_finite_array(conf, "conf", ndim=1))
    right = int(np.count_nonzero(np.asarray(correct, dtype=bool)))
    below = c.size - right  # this many at or under the threshold
    return 0.0 if below == 0 else float(c[below - 1])


def atc_estimate(conf: Any, threshold: float) -> float:
    """ATC's accuracy estimate: the fraction of ``conf`` above the calibration threshold.

    Example:
        >>> atc_estimate([0.1, 0.5, 0.9, 0.95], 0.5)
        0.5
    """
    return float(np.mean(check_finite_array(conf, "conf", ndim=1) > threshold))


def doc_estimate(conf: Any, accuracy: float, mean_confidence: float) -> float:
    """DoC's accuracy estimate: calibration accuracy moved by the change in average confidence, in [0, 1].

    Example:
        >>> doc_estimate([0.7, 0.8], accuracy=0.9, mean_confidence=0.9)
        0.75
    """
    shift = float(np.mean(check_finite_array(conf, "conf", ndim=1))) - mean_confidence
    return float(min(1.0, max(0.0, accuracy + shift)))


def _sample(values: np.ndarray, rng: np.random.Generator, rows: np.ndarray | None) -> list[float]:
    chosen = values if rows is None else values[rows]
    return [float(v) for v in np.sort(chosen)]


def fit_monitor(
    conf: Any,
    correct: Any,
    predicted: Any,
    *,
    n_classes: int,
    unknown_scores: Any = None,
    unknown_threshold: float | None = None,
    max_reference: int = MAX_REFERENCE,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``decisions.monitor`` entry (without its calibrator) from the calibration images.

    Args:
        conf: top-1 calibrated confidence of each calibration image.
        correct: whether each top-1 class is right.
        predicted: the top-1 class index of each image.
        n_classes: the number of classes.
        unknown_scores, unknown_threshold: the unknown-input scores (higher = more typical) and the
            threshold of the profile's ``ood`` rule, if it has one.
        max_reference: at most this many images are kept as the reference (a seeded random sample, so
            they stay exchangeable with new images).
    """
    c = check_finite_array(conf, "conf", ndim=1)
    ok = np.asarray(correct, dtype=bool)
    pred = np.asarray(predicted, dtype=np.int64)
    if c.size == 0 or ok.shape != c.shape or pred.shape != c.shape:
        raise ConfigError(
            f"conf, correct and predicted must be 1-D of one length >= 1, got {c.size}, {ok.size}, {pred.size}"
        )
    rng = np.random.default_rng(seed)
    rows = None if c.size <= max_reference else np.sort(rng.choice(c.size, max_reference, replace=False))
    entry: dict[str, Any] = {
        "n": int(c.size),
        "accuracy": float(ok.mean()),
        "mean_confidence": float(c.mean()),
        "atc_threshold": atc_threshold(c, ok),
        "confidence": _sample(c, rng, rows),
        "class_counts": np.bincount(pred, minlength=n_classes).astype(int).tolist(),
    }
    if unknown_scores is not None and unknown_threshold is not None:
        s = check_finite_array(unknown_scores, "unknown_scores", ndim=1)
        below = int(np.count_nonzero(s < unknown_threshold))  # a new image is below with probability (below+1)/(n+1)
        entry.update(
            unknown_scores=_sample(s, rng, rows),
            unknown_threshold=float(unknown_threshold),
            expected_unknown_rate=min(1.0, (below + 1) / (s.size + 1)),
        )
    return entry


def kolmogorov_sf(x: float) -> float:
    """``P(K > x)`` for Kolmogorov's limit distribution, ``2 sum (-1)^(k-1) exp(-2 k^2 x^2)``.

    Example:
        >>> round(kolmogorov_sf(1.358), 3)  # the 5% point
        0.05
    """
    if x <= 0.0:
        return 1.0
    if x < 0.2:  # the alternating series converges slowly here, and the value is 1 to 1e-20
        return 1.0
    k = np.arange(1, 101)
    return float(min(1.0, max(0.0, 2.0 * np.sum((-1.0) ** (k - 1) * np.exp(-2.0 * k * k * x * x)))))


def _ks_exact_sf(n1: int, n2: int, d: float) -> float:
    """``P(D >= d)`` for the two-sample statistic of samples of sizes n1 and n2 without ties, exactly.

    Counts the lattice paths from (0, 0) to (n1, n2) that stay strictly inside ``|i/n1 - j/n2| < d`` (one
    cumulative sum per row, rescaled to stay in range), over all ``C(n1 + n2, n1)`` paths.
    """
    m, n = sorted((n1, n2))
    bound = round(d * m * n)  # D is a multiple of 1 / (m n): compare integers
    if bound <= 0:
        return 1.0
    row = np.zeros(n + 1)
    hi0 = min(n, math.ceil(bound / m) - 1)
    row[: hi0 + 1] = 1.0
    log_scale = 0.0
    for i in range(1, m + 1):
        lo = max(0, (i * n - bound) // m + 1)
        hi = min(n, -((-(i * n + bound)) // m) - 1)
        new = np.zeros(n + 1)
        if lo <= hi:
            new[lo : hi + 1] = np.cumsum(row[lo : hi + 1])
        top = new.max()
        if top <= 0.0:
            return 1.0
        row, log_scale = new / top, log_scale + math.log(top)
    if row[n] <= 0.0:
        return 1.0
    log_total = math.lgamma(m + n + 1) - math.lgamma(m + 1) - math.lgamma(n + 1)
    return float(min(1.0, max(0.0, -math.expm1(math.log(row[n]) + log_scale - log_total))))


#: Up to this many cells (n1 * n2), :func:`ks_test` gives the exact p-value; above, Kolmogorov's limit.
KS_EXACT_CELLS = 2_000_000


def ks_test(reference: Any, sample: Any) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test: the statistic D and its two-sided p-value.

    The p-value is exact (lattice paths, as scipy's ``ks_2samp(method="exact")``) up to
    :data:`KS_EXACT_CELLS`, else Kolmogorov's limit with Stephens' correction
    ``Q((sqrt(m) + 0.12 + 0.11 / sqrt(m)) * D)``, ``m = n1 n2 / (n1 + n2)``.

    Example:
        >>> d, p = ks_test([0.1, 0.2, 0.3, 0.4], [0.35, 0.45, 0.5, 0.6])
        >>> d, round(p, 4)
        (0.75, 0.2286)
    """
    a = np.sort(check_finite_array(reference, "reference", ndim=1))
    b = np.sort(check_finite_array(sample, "sample", ndim=1))
    both = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, both, "right") / a.size - np.searchsorted(b, both, "right") / b.size)))
    if a.size * b.size <= KS_EXACT_CELLS:
        return d, _ks_exact_sf(a.size, b.size, d)
    m = a.size * b.size / (a.size + b.size)
    return d, kolmogorov_sf((math.sqrt(m) + 0.12 + 0.11 / math.sqrt(m)) * d)


def _gamma_q(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function ``Q(a, x)`` (series below a + 1, continued fraction above)."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300
    b, c, d = x + 1.0 - a, 1.0 / tiny, 1.0 / (x + 1.0 - a)
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-16:
            break
    return math.exp(log_front) * h


def chi2_sf(x: float, df: int) -> float:
    """``P(X > x)`` for a chi-square variable with ``df`` degrees of freedom.

    Example:
        >>> round(chi2_sf(3.841, 1), 4)
        0.05
    """
    return _gamma_q(df / 2.0, x / 2.0)


def class_mix_test(reference_counts: Any, counts: Any) -> tuple[float, float, int]:
    """Chi-square test that two class mixes are the same (a 2 x C table without continuity correction).

    Classes no image of either mix fell in are left out; classes expected fewer than 5 times in either
    row are pooled into one column. Returns the statistic, the p-value and the degrees of freedom.

    Example:
        >>> stat, p, df = class_mix_test([50, 50], [30, 70])
        >>> round(stat, 3), round(p, 4), df
        (8.333, 0.0039, 1)
    """
    table = np.stack([np.asarray(reference_counts, dtype=np.float64), np.asarray(counts, dtype=np.float64)])
    table = table[:, table.sum(axis=0) > 0]
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    small = expected.min(axis=0) < 5.0
    if small.any() and not small.all():
        table = np.concatenate([table[:, ~small], table[:, small].sum(axis=1, keepdims=True)], axis=1)
        expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    df = table.shape[1] - 1
    if df < 1:
        return 0.0, 1.0, 0
    stat = float(np.sum((table - expected) ** 2 / expected))
    return stat, chi2_sf(stat, df), df


def _log_beta(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    lg = np.vectorize(math.lgamma, otypes=[float])
    return np.asarray(lg(a) + lg(b) - lg(np.asarray(a) + np.asarray(b)))


def unknown_rate_test(unknowns: int, n: int, expected_rate: float, calibration_images: int | None = None) -> float:
    """One-sided p-value of ``unknowns`` of ``n`` new images being unknown: ``P(X >= unknowns)``.

    With ``calibration_images`` (the n_c images the threshold was fitted on, ``expected_rate`` being
    ``(below + 1) / (n_c + 1)``) ``X`` is beta-binomial ``(n, r (n_c + 1), (1 - r) (n_c + 1))``: the share of
    new images a split-conformal threshold rejects is itself ``Beta(below + 1, n_c - below)``, so a plain
    binomial test would raise false alarms on long streams. Without it, ``X ~ Binomial(n, expected_rate)``.

    Example:
        >>> round(unknown_rate_test(5, 20, 0.05), 4), round(unknown_rate_test(5, 20, 0.05, calibration_images=359), 4)
        (0.0026, 0.0036)
    """
    if unknowns <= 0:
        return 1.0
    if calibration_images is None:
        return float(min(1.0, max(0.0, 1.0 - binomial_cdf(unknowns - 1, n, expected_rate))))
    a = expected_rate * (calibration_images + 1)
    b = (calibration_images + 1) - a
    k = np.arange(unknowns, n + 1, dtype=np.float64)
    lg = np.vectorize(math.lgamma, otypes=[float])
    log_choose = math.lgamma(n + 1) - lg(k + 1) - lg(n - k + 1)
    log_pmf = log_choose + _log_beta(k + a, n - k + b) - _log_beta(a, b)
    return float(min(1.0, np.exp(log_pmf).sum()))


class ConformalMartingale:
    """A conformal test martingale: online conformal p-values bet on by Vovk's simple jumper.

    Each new value's strangeness is ranked among the reference and every value seen before it (a
    smoothed p-value: ties broken at random), so under exchangeability the p-values are independent and
    uniform. The simple jumper (Vovk et al. 2021, "Retrain or not retrain") bets with ``1 + e (p - 1/2)``,
    ``e`` in {-1, 0, 1}, switching at rate 0.01 so it recovers after a long quiet stretch. ``value`` is the
    capital (started at 1); by Ville's inequality ``P(sup value >= 1/alpha) <= alpha`` without drift.

    Example:
        >>> m = ConformalMartingale(np.linspace(0, 1, 200))  # strangeness of the reference images
        >>> for _ in range(40):
        ...     _ = m.update(5.0)  # stranger than everything in the reference
        >>> m.value > 20
        True
    """

    def __init__(self, reference: Any, seed: int | None = 0) -> None:
        self._bag = sorted(float(v) for v in check_finite_array(reference, "reference", ndim=1))
        self._rng = np.random.default_rng(seed)
        self._caps = np.full(3, 1.0 / 3.0)
        self._bets = np.array([-1.0, 0.0, 1.0])
        self.log_value = 0.0
        self.log_max = 0.0
        self.seen = 0

    @property
    def value(self) -> float:
        """The current capital."""
        return math.exp(min(self.log_value, 700.0))

    @property
    def max_value(self) -> float:
        """The largest capital so far (1 before any update)."""
        return math.exp(min(self.log_max, 700.0))

    def p_value(self, strangeness: float) -> float:
        """The smoothed conformal p-value of ``strangeness``, which then joins the bag."""
        a = float(strangeness)
        lo, hi = bisect.bisect_left(self._bag, a), bisect.bisect_right(self._bag, a)
        greater, equal = len(self._bag) - hi, hi - lo
        p = (greater + float(self._rng.uniform()) * (equal + 1)) / (len(self._bag) + 1)
        self._bag.insert(hi, a)
        return p

    def update(self, strangeness: float) -> float:
        """Bet on the next value; returns the capital."""
        p = self.p_value(strangeness)
        caps = (1.0 - _JUMP) * self._caps + _JUMP / 3.0
        caps = caps * (1.0 + self._bets * (p - 0.5))
        total = float(caps.sum())
        self._caps = caps / total
        self.log_value += math.log(total)
        self.log_max = max(self.log_max, self.log_value)
        self.seen += 1
        return self.value


@dataclass(frozen=True)
class DriftTest:
    """One test of a :class:`MonitorReport`.

    Attributes:
        name: ``confidence`` (KS), ``class_mix`` (chi-square), ``unknown_rate`` (binomial) or
            ``martingale`` (the stream test; statistic: the largest capital, p-value ``1 / statistic``).
        statistic, p_value: None when the test had too few images (``needed`` says how many).
        drift: whether the p-value is at most the test's share of alpha.
        needed: the images the test needs.
    """

    name: str
    statistic: float | None
    p_value: float | None
    drift: bool
    needed: int


@dataclass(frozen=True)
class MonitorReport:
    """What a :class:`DriftMonitor` concludes from the images it has seen.

    ``estimated_accuracy`` is ATC's label-free estimate (``estimated_accuracy_doc`` DoC's),
    ``expected_accuracy`` the calibration accuracy; ``accuracy`` is the true accuracy when labels were
    given. ``drift`` is true when a test found drift; ``alarm_at`` is the image (1-based) at which the
    stream martingale first crossed ``1/alpha`` (None: never).
    """

    images: int
    estimated_accuracy: float | None
    estimated_accuracy_doc: float | None
    expected_accuracy: float
    mean_confidence: float | None
    expected_mean_confidence: float
    unknown_rate: float | None
    expected_unknown_rate: float | None
    drift: bool
    alarm_at: int | None
    alpha: float
    tests: list[DriftTest] = field(default_factory=list)
    accuracy: float | None = None
    labelled: int = 0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (the document of ``yolo-probs monitor -f json``)."""
        return asdict(self)

    @property
    def short_of(self) -> list[DriftTest]:
        """The tests that had too few images."""
        return [t for t in self.tests if t.p_value is None]


class DriftMonitor:
    """Label-free drift monitoring of one deployment, fed one prediction at a time.

    Args:
        entry: the profile's ``decisions.monitor`` (:func:`fit_monitor`).
        alpha: the false-alarm level of the report's ``drift`` and of the stream :attr:`alarm`.
        seed: the seed of the martingale's tie-breaking (a fixed one makes reports reproducible; any
            seed keeps the guarantee).
        frame_stride: of a video's or stream's frames, only every ``frame_stride``-th one is fed
            (:meth:`update`; default :data:`FRAME_STRIDE`, about one a second at 30 fps): neighbouring
            frames are near copies, not independent draws, and would make a steady scene look like drift.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> conf = rng.beta(8, 1, 1000)
        >>> entry = {**fit_monitor(conf, conf > 0.7, rng.integers(0, 2, 1000), n_classes=2),
        ...          "calibrator": {"method": "temperature", "temperature": 1.0}}
        >>> monitor = DriftMonitor(entry)
        >>> for c in rng.beta(2, 1, 200):  # far less confident than at calibration
        ...     _ = monitor.add(float(c), 0)
        >>> monitor.alarm, monitor.report().drift
        (True, True)
    """

    def __init__(
        self, entry: dict[str, Any], *, alpha: float = DEFAULT_ALPHA, seed: int | None = 0,
        frame_stride: int = FRAME_STRIDE,
    ) -> None:  # fmt: skip
        self.entry = check_monitor_entry(entry)
        self.frame_stride = check_whole(frame_stride, "frame_stride", low=1)
        self.alpha = check_fraction(alpha, "alpha (the false-alarm level)", option="alpha")
        self.calibrator: dict[str, Any] = self.entry["calibrator"]
        self.has_unknown = "unknown_scores" in self.entry
        self._conf: list[float] = []
        self._classes: list[int] = []
        self._scores: list[float] = []
        self._right: list[bool] = []
        conf_ref = -np.asarray(self.entry["confidence"])  # strangeness: low confidence is strange
        self._martingales = [ConformalMartingale(conf_ref, seed)]
        if self.has_unknown:
            self._martingales.append(ConformalMartingale(-np.asarray(self.entry["unknown_scores"]), seed))
        self.alarm_at: int | None = None

    @property
    def images(self) -> int:
        """How many predictions the monitor has seen."""
        return len(self._conf)

    @property
    def alarm(self) -> bool:
        """Whether the stream alarm has rung: a martingale reached ``m / alpha`` (m martingales)."""
        return self.alarm_at is not None

    def update(self, prediction: Prediction, label: int | None = None) -> bool:
        """Add one prediction (``label``: its true class index, if known); returns :attr:`alarm`.

        A video or stream frame (``prediction.frame`` set) is skipped unless its index is a multiple of
        :attr:`frame_stride`.

        Raises:
            ConfigError: the prediction was made at another calibration than the reference.
        """
        if not made_at(prediction, self.calibrator):
            raise ConfigError(
                f"this prediction was made with {prediction.calibration} calibration at T={prediction.temperature:g}, "
                "but the monitor's reference at the profile's own; use the profile's classifier unchanged"
            )
        if self.has_unknown and prediction.ood_score is None:
            raise ConfigError("the monitor checks unknown-input scores, but this prediction has none; "
                              "use the classifier built from the same profile (YoloProbs.from_profile)")  # fmt: skip
        if prediction.frame is not None and prediction.frame % self.frame_stride:
            return self.alarm
        return self.add(prediction.top1conf, prediction.top1, prediction.ood_score, label)

    def add(self, conf: float, predicted: int, score: float | None = None, label: int | None = None) -> bool:
        """Add one image by its top-1 confidence, class index, unknown score and (optional) true class."""
        conf = check_number(conf, "conf", low=0.0, high=1.0)
        self._conf.append(conf)
        self._classes.append(int(predicted))
        if label is not None:
            self._right.append(int(predicted) == int(label))
        values = [-conf]
        if self.has_unknown:
            if score is None:
                raise ConfigError("the monitor checks unknown-input scores: pass score=")
            self._scores.append(check_number(score, "score"))
            values.append(-self._scores[-1])
        for martingale, value in zip(self._martingales, values, strict=True):
            martingale.update(value)
        if self.alarm_at is None and self._martingale_p() <= self.alpha:
            self.alarm_at = self.images
        return self.alarm

    def _martingale_p(self) -> float:
        """The stream test's anytime-valid p-value: ``m / max capital`` over the ``m`` martingales."""
        return min(1.0, len(self._martingales) / max(m.max_value for m in self._martingales))

    def _class_needed(self) -> int:
        return max(MIN_IMAGES, 5 * sum(1 for c in self.entry["class_counts"] if c > 0))

    def _tests(self) -> list[tuple[str, float | None, float | None, int]]:
        n, e = self.images, self.entry
        found: list[tuple[str, float | None, float | None, int]] = []
        d, p = ks_test(e["confidence"], self._conf) if n >= MIN_IMAGES else (None, None)
        found.append(("confidence", d, p, MIN_IMAGES))
        need = self._class_needed()
        if n >= need:
            counts = np.bincount(self._classes, minlength=len(e["class_counts"]))
            stat, p, _ = class_mix_test(e["class_counts"], counts)
            found.append(("class_mix", stat, p, need))
        else:
            found.append(("class_mix", None, None, need))
        if self.has_unknown:
            unknowns = int(np.count_nonzero(np.asarray(self._scores) < e["unknown_threshold"]))
            ran = n >= MIN_IMAGES
            rate_p = unknown_rate_test(unknowns, n, e["expected_unknown_rate"], e["n"]) if ran else None
            found.append(("unknown_rate", unknowns / n if ran else None, rate_p, MIN_IMAGES))
        best = max(m.max_value for m in self._martingales)
        found.append(("martingale", best, self._martingale_p() if n else None, 1))
        return found

    def report(self) -> MonitorReport:
        """The tests on every image seen so far, the accuracy estimates and the rates."""
        e, n = self.entry, self.images
        found = self._tests()
        level = self.alpha / max(1, sum(1 for _, _, p, _ in found if p is not None))  # Bonferroni
        tests = [DriftTest(name, s, p, p is not None and p <= level, need) for name, s, p, need in found]
        conf = np.asarray(self._conf)
        unknown_rate = None
        if self.has_unknown and n:
            unknown_rate = float(np.mean(np.asarray(self._scores) < e["unknown_threshold"]))
        return MonitorReport(
            images=n,
            estimated_accuracy=atc_estimate(conf, e["atc_threshold"]) if n else None,
            estimated_accuracy_doc=doc_estimate(conf, e["accuracy"], e["mean_confidence"]) if n else None,
            expected_accuracy=e["accuracy"],
            mean_confidence=float(conf.mean()) if n else None,
            expected_mean_confidence=e["mean_confidence"],
            unknown_rate=unknown_rate,
            expected_unknown_rate=e.get("expected_unknown_rate"),
            drift=any(t.drift for t in tests),
            alarm_at=self.alarm_at,
            alpha=self.alpha,
            tests=tests,
            accuracy=float(np.mean(self._right)) if self._right else None,
            labelled=len(self._right),
        )

    def status(self) -> str:
        """A short line for a display: ``drift: none in 120 images`` or ``DRIFT since image 57``."""
        if self.alarm_at is not None:
            return f"DRIFT since image {self.alarm_at}"
        return f"drift: none in {self.images} images"


class MonitorRule(CalibratedRule):
    """A profile's monitor as a decision rule: it feeds each prediction made at its calibration to
    :attr:`monitor` and changes nothing (it runs after the ``ood`` rule, so it sees the unknown scores).

    With ``active=False`` (a classifier whose calibrator overrides the profile's: the references do not
    apply) it watches nothing, rather than refusing the override as the deciding rules do.
    """

    needs_features = False

    def __init__(self, entry: dict[str, Any], alpha: float = DEFAULT_ALPHA, *, active: bool = True) -> None:
        self.monitor = DriftMonitor(entry, alpha=alpha)
        self.calibrator = self.monitor.calibrator
        self.active = active

    def decide(self, predictions: list[Prediction], rows: list[int], output: BackendOutput) -> list[dict[str, Any]]:
        """Feed ``predictions`` to the monitor; no field changes."""
        for p in predictions if self.active else []:
            if not self.monitor.has_unknown or p.ood_score is not None:
                self.monitor.update(p)
        return [{} for _ in predictions]


def _unknown_reference(result: Any, classifier: Any, probs: np.ndarray) -> tuple[np.ndarray | None, float | None]:
    """The calibration images' unknown scores and the threshold, when ``calibrate`` fitted an ``ood`` rule."""
    ood = result.decisions.get("ood")
    if not ood:
        return None, None
    scores = getattr(result, "scores", {}).get("ood")  # exactly those the threshold was set from
    if scores is None:
        c = result.collected
        if ood.get("score") == "knn":  # each bank image scored leaving itself out, as the threshold was
            _, scores = _ood.knn_bank(c.features, int(ood.get("k") or _ood.DEFAULT_K))
        else:
            bank = ood.get("bank")
            rule = _ood.OODRule(ood, None if bank is None else np.asarray(bank))
            scores = rule.scores(c.logits, probs, c.features)
    return np.asarray(scores, dtype=np.float64), float(ood["threshold"])


def fit(options: dict[str, Any], result: Any, classifier: Any) -> dict[str, Any]:
    """The ``decisions.monitor`` entry for :func:`yolo_probs.api.workflow.calibrate` (fitted after ``ood``)."""
    c = result.collected
    probs = np.asarray(result.calibrator.probs(c.logits), dtype=np.float64)
    predicted = probs.argmax(axis=1)
    scores, threshold = _unknown_reference(result, classifier, probs)
    entry = fit_monitor(
        probs.max(axis=1), predicted == c.labels, predicted, n_classes=probs.shape[1],
        unknown_scores=scores, unknown_threshold=threshold,
    )  # fmt: skip
    return {**entry, "calibrator": result.calibrator.to_dict()}


def build(entry: dict[str, Any], profile: Any, classifier: Any) -> MonitorRule:
    """The rule a profile's ``decisions.monitor`` entry describes (registered under ``"monitor"``); inactive
    when the classifier's calibrator overrides the profile's (``--temperature``)."""
    entry = check_monitor_entry(entry)
    return MonitorRule(entry, active=same_calibrator(entry["calibrator"], classifier.calibrator.to_dict()))


KIND = DecisionKind(key="monitor", build=build, fit=fit, check=check_monitor_entry)
