"""Fit everything from arrays: a calibrator, unknown inputs, conformal sets and a reject threshold.

For logits you already have (cached, from another pipeline, or from :func:`~yolo_probs.api.workflow.collect_logits`),
every fit takes the same arrays and returns a result dataclass:

- :func:`fit_calibration` ``(logits, labels, *, features=None, method=...)`` -> :class:`CalibratorFit`;
- :func:`fit_unknown`, :func:`fit_sets`, :func:`fit_reject`
  ``(logits, labels, *, features=None, calibrator=None, ...options)`` -> :class:`UnknownFit`,
  :class:`SetsFit`, :class:`RejectFit` (each a :class:`DecisionFit`: its profile ``key`` and ``entry``).

``logits`` are ``(N, C)``, ``labels`` ``N`` class indices, ``features`` the ``(N, D)`` inputs of the
final layer (only the ``knn`` unknown-input score uses them). ``calibrator`` is what the decision is
fitted at: a :class:`CalibratorFit`, a calibrator, or None for the raw softmax (T = 1); the profile
refuses a decision made at another calibrator than its own. :func:`profile_from_fits` turns the fits
into a :class:`~yolo_probs.api.profile.Profile` that :func:`~yolo_probs.api.profile.save_profile`
writes and every command reads with ``--profile``: no image folder, no faked result object.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 3, 600)
    >>> logits = 3.0 * (rng.normal(size=(600, 3)) + 2.0 * np.eye(3)[labels])  # over-confident
    >>> cal = fit_calibration(logits, labels)
    >>> sets = fit_sets(logits, labels, calibrator=cal, alpha=0.1)
    >>> reject = fit_reject(logits, labels, calibrator=cal, target_accuracy=0.95)
    >>> unknown = fit_unknown(logits, labels, calibrator=cal, score="energy", tpr=0.95)
    >>> profile = profile_from_fits("model.pt", cal, unknown, sets, reject)
    >>> sorted(profile.decisions), profile.min_prob == reject.min_prob, round(cal.calibrator.temperature, 1)
    (['conformal', 'ood', 'reject'], True, 1.5)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.profile import Profile
from yolo_probs.calibration import CalibrationWarning, Calibrator, TemperatureScaling, fit_calibrator
from yolo_probs.core.checks import check_finite_array, check_logits, check_logits_labels, check_text, describe
from yolo_probs.core.metrics import BINNING, DEFAULT_BINS, CalibrationReport, check_bins, evaluate_logits
from yolo_probs.core.probs import check_probability_map
from yolo_probs.decisions import conformal as _cp
from yolo_probs.decisions import ood as _ood
from yolo_probs.decisions import selective as _sel
from yolo_probs.decisions.conformal import ConformalReport
from yolo_probs.decisions.selective import RejectChoice
from yolo_probs.errors import ConfigError

__all__ = [
    "CalibratorFit",
    "DecisionFit",
    "RejectFit",
    "SetsFit",
    "UnknownFit",
    "fit_calibration",
    "fit_reject",
    "fit_sets",
    "fit_unknown",
    "profile_from_fits",
]


@dataclass(frozen=True)
class CalibratorFit:
    """What :func:`fit_calibration` fitted.

    Attributes:
        calibrator: the fitted calibrator (pass this result, or it, as ``calibrator=`` to the decision fits).
        before: metrics of the raw softmax (T = 1) on the fitting arrays.
        after: metrics with ``calibrator`` on them.
        details: what the method reported (``auto``: the candidates, each with its CV NLL and its standard error).
        warnings: one-line warnings of the fit (few samples, no mistakes, a bound hit...).
        bins: equal-width bins of ECE/MCE in ``before``/``after``.
    """

    calibrator: Calibrator
    before: CalibrationReport
    after: CalibrationReport
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bins: int = DEFAULT_BINS

    @property
    def method(self) -> str:
        """The calibrator's method (``"temperature"``, ``"vector"``...)."""
        return self.calibrator.method

    def record(self, data: str = "arrays") -> dict[str, Any]:
        """The profile's ``calibration`` provenance (``data`` says where the arrays came from)."""
        metrics = {
            name: {k: v for k, v in report.to_dict().items() if k not in ("n_bins", "binning")}
            for name, report in (("before", self.before), ("after", self.after))
        }
        return {
            "data": data,
            "split": None,
            "samples": int(self.after.samples),
            "skipped": 0,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (explicit for readers)
            "bins": self.bins,
            "binning": BINNING,
            "method": self.method,
            **metrics,
        }


@dataclass(frozen=True)
class DecisionFit:
    """A fitted decision: its profile ``key`` (``"ood"``, ``"conformal"``, ``"reject"``), its profile
    ``entry`` (which records ``calibrator``) and the calibrator it was fitted at."""

    key: str
    entry: dict[str, Any]
    calibrator: Calibrator

    @property
    def n(self) -> int:
        """How many calibration images it was fitted on."""
        return int(self.entry["n"])


@dataclass(frozen=True)
class UnknownFit(DecisionFit):
    """:func:`fit_unknown`'s threshold; ``scores`` are the calibration images' typicality scores, ``bank``
    the k-NN feature bank (``knn`` only; :func:`~yolo_probs.api.profile.save_profile` writes it beside the profile)."""

    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    bank: np.ndarray | None = None

    @property
    def threshold(self) -> float:
        """Images scoring below it are called unknown."""
        return float(self.entry["threshold"])


@dataclass(frozen=True)
class SetsFit(DecisionFit):
    """:func:`fit_sets`'s q-hat; ``report`` is how its sets behave on the calibration images themselves
    (mean and largest size, coverage: about ``1 - alpha`` by construction, so check coverage on other images)."""

    report: ConformalReport | None = None

    @property
    def qhat(self) -> float | list[float]:
        """The conformal quantile (one per class for class-conditional sets)."""
        return self.entry["qhat"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class RejectFit(DecisionFit):
    """:func:`fit_reject`'s threshold: ``choice`` (what it was tested on); ``conf`` and ``correct`` are the
    calibration images' top probabilities and whether their top class was right."""

    choice: RejectChoice | None = None
    conf: np.ndarray = field(default_factory=lambda: np.zeros(0))
    correct: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def curve(self) -> dict[str, np.ndarray]:
        """The risk-coverage curve behind the choice (:func:`~yolo_probs.decisions.selective.choose_min_prob`;
        ``error_bound`` is NaN where a threshold was not tested), for
        :func:`yolo_probs.outputs.plots.plot_risk_coverage`."""
        entry = self.entry
        return _sel.choose_min_prob(self.conf, self.correct, entry["target_accuracy"], entry["delta"])[1]

    @property
    def min_prob(self) -> float:
        """Accept a prediction when its top calibrated probability is at least this."""
        return float(self.entry["min_prob"])


def _calibrator_of(calibrator: Any) -> Calibrator:
    """A :class:`CalibratorFit`'s calibrator, a calibrator itself, or T = 1 for None."""
    if calibrator is None:
        return TemperatureScaling(1.0)
    if isinstance(calibrator, CalibratorFit):
        return calibrator.calibrator
    checked = check_probability_map(calibrator)
    if not callable(getattr(checked, "to_dict", None)):
        raise ConfigError(
            f"calibrator must be a CalibratorFit (fit_calibration(...)), a fitted calibrator or None, got "
            f"{describe(calibrator)}",
            option="calibrator",
        )
    return checked  # type: ignore[return-value]


def _probs(calibrator: Calibrator, logits: np.ndarray) -> np.ndarray:
    """The calibrator's float64 probabilities of ``logits``; ConfigError naming the calibrator if they are not."""
    with np.errstate(under="ignore"):
        p = np.exp(np.asarray(calibrator.log_probs(np.asarray(logits, dtype=np.float64)), dtype=np.float64))
    if p.shape != logits.shape or not np.isfinite(p).all():
        raise ConfigError(
            f"calibrator {calibrator.method!r} gave NaN, inf or misshapen probabilities for logits of shape "
            f"{logits.shape}; check its parameters",
            option="calibrator",
        )
    return p


def _features(features: Any, rows: int) -> np.ndarray | None:
    """``features`` as ``(N, D)`` finite floats with one row per logit row, or None."""
    if features is None:
        return None
    f = check_finite_array(features, "features", ndim=2)
    if f.shape[0] != rows:
        raise ConfigError(f"features has {f.shape[0]} rows but logits has {rows}: one feature row per image")
    return f


def _arrays(logits: Any, labels: Any, features: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The checked ``(N, C)`` logits, ``N`` labels and optional ``(N, D)`` features every fit starts from."""
    x, y = check_logits_labels(logits, labels)
    return x, y, _features(features, x.shape[0])


def fit_calibration(
    logits: Any, labels: Any, *, features: Any = None, method: str = "temperature", bins: int = DEFAULT_BINS
) -> CalibratorFit:
    """Fit a calibrator on ``(N, C)`` logits and ``N`` labels, and score it before (T = 1) and after.

    Args:
        logits, labels: the calibration arrays.
        features: not used by any calibrator (accepted, and checked, so every fit takes the same arrays).
        method: ``"temperature"`` (default), ``"ets"``, ``"vector"``, ``"dirichlet"`` or ``"auto"``
            (:mod:`yolo_probs.calibration.select`; its candidates are in ``details["candidates"]``,
            each with ``cv_nll`` and its standard error ``cv_se``).
        bins: equal-width bins of the ECE/MCE in ``before``/``after``.

    Every sample right: temperature scaling has no finite best T, so it takes the T at which the mean
    top-1 probability equals ``(n + 1) / (n + 2)`` (Laplace's estimate of the accuracy; see
    :func:`~yolo_probs.calibration.temperature.fit_temperature`) and says so in ``warnings``; the
    per-class methods refuse (ConfigError), ``auto`` keeps temperature scaling.

    Example:
        >>> import numpy as np
        >>> labels = np.arange(300) % 3
        >>> logits = 4.0 * np.eye(3)[labels]  # no mistakes at all
        >>> fit = fit_calibration(logits, labels)
        >>> mean_top1 = fit.calibrator.probs(logits).max(axis=1).mean()  # Laplace: 301/302
        >>> round(float(mean_top1), 4), fit.warnings[0][:40]
        (0.9967, 'all 300 samples are classified correctly')
    """
    x, y, _ = _arrays(logits, labels, features)
    bins = check_bins(bins, "bins")
    check_text(method, "method", "'temperature'")
    calibrator, details, found = fit_quietly(method, x, y)
    return CalibratorFit(
        calibrator=calibrator,
        before=evaluate_logits(x, y, 1.0, bins),
        after=evaluate_logits(x, y, n_bins=bins, calibrator=calibrator),
        details=details,
        warnings=found,
        bins=bins,
    )


def fit_quietly(method: str, logits: Any, labels: Any) -> tuple[Calibrator, dict[str, Any], list[str]]:
    """:func:`~yolo_probs.calibration.fit_calibrator` with its :class:`CalibrationWarning` lines returned, not shown.

    Other warnings go on as warnings.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        calibrator, details = fit_calibrator(method, logits, labels)
    found = []
    for w in caught:
        if issubclass(w.category, CalibrationWarning):
            found.append(str(w.message))
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return calibrator, details, found


def fit_unknown(
    logits: Any,
    labels: Any = None,
    *,
    features: Any = None,
    calibrator: Any = None,
    tpr: float = 0.95,
    score: str = _ood.DEFAULT_SCORE,
    k: int = _ood.DEFAULT_K,
) -> UnknownFit:
    """The unknown-input threshold that accepts at least ``tpr`` of new in-distribution images.

    Args:
        logits: ``(N, C)`` logits of in-distribution calibration images.
        labels: their labels (the threshold does not use them; checked when given, may be None).
        features: ``(N, D)`` features entering the final layer (needed by the ``knn`` score).
        calibrator: what the scores are computed at (see the module docstring).
        tpr, score, k: as in :func:`yolo_probs.decisions.ood.fit_ood` (split-conformal threshold; ``k`` for ``knn``).

    Example:
        >>> import numpy as np
        >>> z = np.random.default_rng(0).normal(size=(200, 4))
        >>> fit = fit_unknown(z, features=z, score="knn", tpr=0.9)
        >>> fit.key, fit.bank.shape, int(np.sum(fit.scores >= fit.threshold))
        ('ood', (200, 4), 181)
    """
    if labels is None:
        x, f = check_logits(logits), None
        if x.ndim != 2:
            raise ConfigError(f"logits must be (N, C): one row per calibration image, got shape {x.shape}")
        f = _features(features, x.shape[0])
    else:
        x, _, f = _arrays(logits, labels, features)
    cal = _calibrator_of(calibrator)
    _probs(cal, x)
    found = _ood.fit_ood(x, cal, score=score, tpr=tpr, features=f, k=k)
    entry = dict(found.entry)
    if found.bank is not None:
        entry["bank"] = found.bank
    return UnknownFit("ood", entry, cal, scores=found.scores, bank=found.bank)


def fit_sets(
    logits: Any,
    labels: Any,
    *,
    features: Any = None,
    calibrator: Any = None,
    alpha: float = 0.1,
    score: str = _cp.DEFAULT_SCORE,
    randomized: bool = False,
    class_conditional: bool = False,
    penalty: float = _cp.DEFAULT_PENALTY,
    k_reg: int = _cp.DEFAULT_K_REG,
    seed: int | None = None,
    names: Any = None,
) -> SetsFit:
    """Conformal prediction sets that hold the true class with probability at least ``1 - alpha``.

    Args:
        logits, labels: the calibration arrays.
        features: not used by sets (accepted, and checked, so every fit takes the same arrays).
        calibrator: the probabilities the sets are built from (see the module docstring).
        alpha, score, randomized, class_conditional, penalty, k_reg, seed: as in
            :func:`yolo_probs.decisions.conformal.fit_conformal` (the probabilities are computed here,
            in float64).
        names: class names, for the messages of class-conditional sets.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 400)
        >>> fit = fit_sets(rng.normal(size=(400, 3)) + 2 * np.eye(3)[y], y, alpha=0.1, score="lac")
        >>> fit.key, fit.n, 0.85 < fit.report.coverage < 0.95
        ('conformal', 400, True)
    """
    x, y, _ = _arrays(logits, labels, features)
    cal = _calibrator_of(calibrator)
    p = _probs(cal, x)  # float64: APS/RAPS add up probabilities next to 1, where float32 saturates
    entry = _cp.fit_conformal(
        p, y, alpha, score, penalty=penalty, k_reg=k_reg, randomized=randomized,
        class_conditional=class_conditional, names=names, seed=seed,
    )  # fmt: skip
    entry["calibrator"] = cal.to_dict()
    labels_of = names if names is not None else [str(c) for c in range(x.shape[1])]
    report = _cp.evaluate_conformal(entry, p, y, labels_of, seed=seed)
    return SetsFit("conformal", entry, cal, report=report)


def fit_reject(
    logits: Any,
    labels: Any,
    *,
    features: Any = None,
    calibrator: Any = None,
    target_accuracy: float = 0.99,
    delta: float = 0.1,
) -> RejectFit:
    """The smallest ``min_prob`` whose accepted images reach ``target_accuracy`` with probability >= ``1 - delta``.

    Args:
        logits, labels: the calibration arrays.
        features: not used (accepted, and checked, so every fit takes the same arrays).
        calibrator: the probabilities thresholded (see the module docstring).
        target_accuracy, delta: as in :func:`yolo_probs.decisions.selective.choose_min_prob` (read its
            docstring for what the guarantee means exactly).

    Raises:
        ConfigError: no threshold passes (the message says what the data can guarantee).

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> y = rng.integers(0, 3, 2000)
        >>> fit = fit_reject(rng.normal(size=(2000, 3)) + 2 * np.eye(3)[y], y, target_accuracy=0.95)
        >>> fit.key, 0.0 < fit.min_prob < 1.0, fit.choice.accuracy >= 0.95
        ('reject', True, True)
    """
    x, y, _ = _arrays(logits, labels, features)
    cal = _calibrator_of(calibrator)
    probs = _probs(cal, x)
    conf, correct = probs.max(axis=1), probs.argmax(axis=1) == y
    choice, _ = _sel.choose_min_prob(conf, correct, target_accuracy, delta)
    return RejectFit("reject", choice.to_entry(cal.to_dict()), cal, choice=choice, conf=conf, correct=correct)


def _same(a: Any, b: Any) -> bool:
    """Whether two calibrator mappings (``to_dict()``) hold the same method and parameters (arrays within 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return bool(a == b)
    try:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return bool(a == b)
    return x.shape == y.shape and bool(np.allclose(x, y, rtol=1e-9, atol=0.0))


def build_profile(
    model: str | os.PathLike[str],
    calibrator: Calibrator,
    decisions: dict[str, Any],
    record: dict[str, Any] | None,
    *,
    name: str = "",
    top_k: int | None = None,
    min_prob: float | None = None,
    imgsz: int | None = None,
    engine: str | None = None,
) -> Profile:
    """The profile of ``model`` with ``calibrator`` and the ``decisions`` entries made at it.

    A ``reject`` entry sets ``min_prob`` to its guaranteed threshold. Shared by
    :meth:`~yolo_probs.api.workflow.CalibrationResult.to_profile` and :func:`profile_from_fits`.
    """
    if not isinstance(model, str | os.PathLike):
        raise ConfigError(f"model must be the path of the model file, got {describe(model)}", option="model")
    check_text(name, "name", "'digits'")
    path = os.fspath(model)
    return Profile(
        model=path,
        temperature=calibrator.temperature if calibrator.temperature is not None else 1.0,
        name=name,
        model_sha256=file_sha256(path) if Path(path).is_file() else None,
        top_k=5 if top_k is None else top_k,
        min_prob=decisions["reject"]["min_prob"] if "reject" in decisions else min_prob,
        imgsz=imgsz,
        engine=engine,
        calibrator=None if calibrator.method == "temperature" else calibrator.to_dict(),
        decisions=dict(decisions) or None,
        calibration=record,
    )


def profile_from_fits(
    model: str | os.PathLike[str],
    calibration: CalibratorFit,
    *decisions: DecisionFit,
    name: str = "",
    top_k: int | None = None,
    min_prob: float | None = None,
    imgsz: int | None = None,
    engine: str | None = None,
    data: str = "arrays",
) -> Profile:
    """A deployment profile for ``model`` from a :class:`CalibratorFit` and the decisions fitted at it.

    Save it with :func:`~yolo_probs.api.profile.save_profile`; ``yolo-probs predict --profile`` (and every
    other command, and :meth:`YoloProbs.from_profile <yolo_probs.api.model.YoloProbs.from_profile>`)
    then applies the calibrator and the decisions. ``data`` is recorded as where the arrays came from.
    A fitted reject threshold sets ``min_prob``.

    Raises:
        ConfigError: a decision fitted at another calibrator, two decisions of one kind, or a bad option.
    """
    if not isinstance(calibration, CalibratorFit):
        raise ConfigError(
            f"calibration must be a CalibratorFit (fit_calibration(logits, labels)), got {describe(calibration)}",
            option="calibration",
        )
    check_text(data, "data", "'cached logits of val/'")
    entries: dict[str, Any] = {}
    own = calibration.calibrator.to_dict()
    for fit in decisions:
        if not isinstance(fit, DecisionFit):
            raise ConfigError(
                f"decisions must be fits (fit_unknown, fit_sets, fit_reject), got {describe(fit)}", option="decisions"
            )
        if fit.key in entries:
            raise ConfigError(f"two {fit.key} decisions given; pass one of each kind", option="decisions")
        if fit.calibrator is not calibration.calibrator and not _same(fit.entry["calibrator"], own):
            raise ConfigError(
                f"the {fit.key} decision was fitted at another calibrator ({fit.entry['calibrator'].get('method')}) "
                f"than the profile's ({calibration.method}); fit it with calibrator=<this CalibratorFit>",
                option="calibrator",
            )
        entries[fit.key] = dict(fit.entry)
    return build_profile(
        model, calibration.calibrator, entries, calibration.record(data),
        name=name, top_k=top_k, min_prob=min_prob, imgsz=imgsz, engine=engine,
    )  # fmt: skip
