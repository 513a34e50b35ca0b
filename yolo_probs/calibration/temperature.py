"""Fit a temperature on labelled logits by minimising the negative log-likelihood (NLL).

Pure numpy/torch: nothing here knows about Ultralytics, images or models. The NLL of
``softmax(logits / T)`` is convex in ``beta = 1 / T`` (its second derivative is the mean variance of
the logits under the softmax), so the fit is a safeguarded Newton search for the root of the
derivative inside a bracket ``[1 / t_max, 1 / t_min]``: deterministic, a handful of passes over the
data, and T is always finite and > 0.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration import fit_temperature
    >>> rng = np.random.default_rng(0)
    >>> labels = rng.integers(0, 10, 2000)
    >>> logits = rng.normal(size=(2000, 10)) + 2.0 * np.eye(10)[labels]
    >>> # the Bayes posterior here is softmax(2 * logits), so 3 * logits are over-confident by 3/2
    >>> t = fit_temperature(3.0 * logits, labels)
    >>> 1.35 < t < 1.65
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any, ClassVar

import numpy as np

from yolo_probs.calibration.fold import fold_temperature
from yolo_probs.core.checks import check_logits, check_logits_labels, check_number, check_whole
from yolo_probs.core.probs import check_temperature, log_softmax, softmax
from yolo_probs.errors import ConfigError

__all__ = [
    "MIN_SAMPLES",
    "T_MAX",
    "T_MIN",
    "CalibrationWarning",
    "TemperatureScaling",
    "fit_temperature",
    "laplace_temperature",
    "no_mistakes",
]

T_MIN = 0.01
T_MAX = 100.0
MIN_SAMPLES = 50
_SUBSAMPLE = 4096


class CalibrationWarning(UserWarning):
    """The data allow a fit, but the temperature it gives should not be trusted (too few samples, a bound hit)."""


def _nll_grad_hess(z: Any, zy: Any, beta: float, buf: Any) -> tuple[float, float, float]:
    """NLL of ``softmax(beta * z)`` and its first two derivatives in ``beta``, in one pass over ``z``.

    ``z`` is the row-max-shifted logits (every entry <= 0, float32), ``zy`` the shifted logit of the label
    (float64), ``buf`` a scratch tensor shaped like ``z`` (reused, so no page faults per pass). With
    ``p = softmax(beta * z)``: NLL = mean(lse(beta z) - beta zy), NLL' = mean(E_p[z] - zy),
    NLL'' = mean(Var_p[z]) >= 0. Row sums run in float32 (fast, pairwise; each row has an exact 1 and
    entries <= 1), the means over rows in float64.
    """
    import torch

    torch.mul(z, beta, out=buf)
    buf.exp_()  # <= 1 since z <= 0: no overflow
    s = buf.sum(dim=1).double()
    buf.mul_(z)
    m1 = buf.sum(dim=1).double() / s
    buf.mul_(z)
    m2 = buf.sum(dim=1).double() / s
    nll = float((torch.log(s) - beta * zy).mean())
    grad = float((m1 - zy).mean())
    hess = float((m2 - m1 * m1).clamp_min(0.0).mean())
    return nll, grad, hess


def _newton(z: Any, zy: Any, beta: float, lo: float, hi: float, rtol: float, max_iter: int) -> float:
    """Root of the NLL derivative in ``beta`` inside ``[lo, hi]``.

    Newton steps; a log-space bisection of the bracket whenever a step would leave it.
    """
    import torch

    buf = torch.empty_like(z)
    beta = min(max(beta, lo), hi)
    for _ in range(max_iter):
        _, grad, hess = _nll_grad_hess(z, zy, beta, buf)
        if grad > 0.0:
            hi = beta
        elif grad < 0.0:
            lo = beta
        else:
            break
        step = beta - grad / hess if hess > 0.0 else math.nan
        if not (lo < step < hi):  # Newton left the bracket (or the curvature vanished): bisect in log space
            step = math.sqrt(lo * hi)
        done = abs(step - beta) <= rtol * beta or hi - lo <= rtol * lo
        beta = step
        if done:
            break
    return beta


def fit_temperature(
    logits: Any,
    labels: Any,
    *,
    t_min: float = T_MIN,
    t_max: float = T_MAX,
    min_samples: int = MIN_SAMPLES,
    rtol: float = 1e-7,
    max_iter: int = 100,
) -> float:
    """The temperature T that minimises the mean NLL of ``softmax(logits / T)`` against ``labels``.

    Args:
        logits: ``(N, C)`` raw scores (numpy or torch), finite.
        labels: ``N`` class indices in ``[0, C)``.
        t_min, t_max: the search range; if the best T lies on a bound, a :class:`CalibrationWarning` says so.
        min_samples: below this many samples a :class:`CalibrationWarning` says the T is unreliable.
        rtol: relative step in ``1 / T`` at which the search stops.
        max_iter: cap on the number of passes over the data.

    Raises:
        ConfigError: bad shapes or values (:func:`~yolo_probs.core.checks.check_logits_labels`), or labels of one
            class (a T fitted on one class says nothing about the others).

    Every sample classified correctly: the NLL then keeps falling as T -> 0 and has no finite minimum.
    The answer is then bounded by what the data can support (:func:`laplace_temperature`): the T at
    which the mean top-1 probability equals ``(n + 1) / (n + 2)``, Laplace's estimate of the accuracy
    after ``n`` right and none wrong, with a :class:`CalibrationWarning` that says so.

    Example:
        >>> import math  # 70 of 80 right, every margin 1: best T makes sigmoid(1 / T) = 7/8
        >>> logits, labels = [[0.0, 1.0]] * 60 + [[1.0, 0.0]] * 20, [1] * 60 + [0] * 10 + [1] * 10
        >>> round(fit_temperature(logits, labels), 6) == round(1 / math.log(7), 6)
        True
    """
    t_min = check_number(t_min, "t_min", low=0.0, low_open=True)
    t_max = check_number(t_max, "t_max", low=0.0, low_open=True)
    if t_min >= t_max:
        raise ConfigError(f"t_min must be below t_max, got t_min={t_min!r}, t_max={t_max!r}", option="t_min")
    min_samples = check_whole(min_samples, "min_samples", low=0)
    rtol = check_number(rtol, "rtol", low=0.0, high=1.0, low_open=True)
    max_iter = check_whole(max_iter, "max_iter", low=1)
    x, y = check_logits_labels(logits, labels)
    _check_fit_data(x, y, min_samples)
    if no_mistakes(x, y):
        t = laplace_temperature(x, t_min=t_min, t_max=t_max)
        warnings.warn(
            f"all {y.size} samples are classified correctly, so the NLL has no finite minimum (it keeps falling "
            f"as T -> 0); T = {t:.4g} makes the mean top-1 probability {(y.size + 1) / (y.size + 2):.4g} = "
            "(n+1)/(n+2), Laplace's estimate of the accuracy with no mistakes seen; fit on images that include "
            "some mistakes",
            CalibrationWarning,
            stacklevel=2,
        )
        return t
    beta = _best_beta(x, y, 1.0 / t_max, 1.0 / t_min, rtol, max_iter)
    t = 1.0 / min(max(beta, 1.0 / t_max), 1.0 / t_min)
    for bound, name, why in ((t_min, "t_min", "sharper"), (t_max, "t_max", "flatter")):
        if math.isclose(t, bound, rel_tol=1e-4):
            warnings.warn(
                f"the best temperature lies at or beyond the search bound {name}={bound:g} (the data want ever "
                f"{why} probabilities); the fit is unreliable: check the labels and use more varied data",
                CalibrationWarning,
                stacklevel=2,
            )
    return t


def no_mistakes(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether every row's largest logit is its label's (the NLL of a temperature then has no finite minimum)."""
    return bool(np.array_equal(np.argmax(x, axis=1), y))


def laplace_temperature(logits: Any, *, t_min: float = T_MIN, t_max: float = T_MAX, rtol: float = 1e-6) -> float:
    """The T in ``[t_min, t_max]`` at which the mean top-1 probability is ``(n + 1) / (n + 2)`` (n = rows).

    What :func:`fit_temperature` answers when every sample is right: Laplace's rule of succession
    estimates the accuracy after ``n`` right and none wrong as ``(n + 1) / (n + 2)``, and the mean top-1
    probability falls steadily as T grows, so one T matches it (a bound when none inside does).

    Example:
        >>> x = np.array([[4.0, 0.0], [0.0, 2.0]] * 49)  # 98 rows, all right: target 99/100
        >>> t = laplace_temperature(x)
        >>> round(float(np.mean(np.max(softmax(x, t), axis=1))), 4)
        0.99
    """
    z = check_logits(logits)
    if z.ndim != 2:
        raise ConfigError(f"logits must be (N, C), got shape {z.shape}", option="logits")
    target = (z.shape[0] + 1) / (z.shape[0] + 2)
    shifted = (z - z.max(axis=1, keepdims=True)).astype(np.float32)  # every entry <= 0, one exact 0 per row

    def confidence(t: float) -> float:  # mean of 1 / sum_j exp((z_j - z_max) / t): falls as t grows
        with np.errstate(under="ignore"):
            return float(np.mean(1.0 / np.exp(shifted / np.float32(t)).sum(axis=1, dtype=np.float64)))

    lo, hi = math.log(t_min), math.log(t_max)
    if confidence(t_min) <= target:
        return float(t_min)
    if confidence(t_max) >= target:
        return float(t_max)
    while hi - lo > rtol:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if confidence(math.exp(mid)) > target else (lo, mid)
    return math.exp(0.5 * (lo + hi))


def _check_fit_data(x: np.ndarray, y: np.ndarray, min_samples: int) -> None:
    """ConfigError for data without any best T (one class); a warning for few samples."""
    n = x.shape[0]
    classes = np.unique(y)
    if classes.size == 1:
        raise ConfigError(
            f"all {n} labels are class {int(classes[0])}: a temperature fitted on one class says nothing about "
            "the others; use labelled images of several classes"
        )
    if n < min_samples:
        warnings.warn(
            f"only {n} labelled samples: the fitted temperature is unreliable; use at least {min_samples} "
            "(a few hundred or more is better)",
            CalibrationWarning,
            stacklevel=3,
        )


def _best_beta(x: np.ndarray, y: np.ndarray, lo: float, hi: float, rtol: float, max_iter: int) -> float:
    """The ``beta = 1 / T`` in ``[lo, hi]`` where the NLL's derivative vanishes (see :func:`_newton`)."""
    import torch

    # float32 keeps the passes fast (the NLL and its derivatives are accumulated in float64 per row).
    zt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    z = zt - zt.amax(dim=1, keepdim=True)
    zy = z.gather(1, torch.from_numpy(y).view(-1, 1)).squeeze(1).double()
    beta = 1.0  # the derivative is increasing in beta, so [lo, hi] brackets its root
    n = x.shape[0]
    if n > 4 * _SUBSAMPLE:  # a cheap start from a fixed, evenly strided subsample, then polish on all rows
        stride = n // _SUBSAMPLE
        beta = _newton(z[::stride].contiguous(), zy[::stride].contiguous(), beta, lo, hi, 1e-4, max_iter)
    return _newton(z, zy, beta, lo, hi, rtol, max_iter)


class TemperatureScaling:
    """One temperature for all classes (Guo et al. 2017): ``softmax(logits / T)``; never changes the ranking.

    Example:
        >>> import numpy as np
        >>> cal = TemperatureScaling(0.5)
        >>> cal.probs(np.array([1.0, 0.0])).round(4).tolist(), cal.temperature
        ([0.8808, 0.1192], 0.5)
    """

    method: ClassVar[str] = "temperature"
    changes_ranking: ClassVar[bool] = False

    def __init__(self, temperature: float = 1.0) -> None:
        self._t = check_temperature(temperature)

    def __repr__(self) -> str:
        return f"TemperatureScaling({self._t!r})"

    @property
    def temperature(self) -> float:
        """The temperature."""
        return self._t

    def fit(self, logits: Any, labels: Any, **options: Any) -> TemperatureScaling:
        """Fit T by :func:`fit_temperature`; returns ``self``."""
        self._t = fit_temperature(logits, labels, **options)
        return self

    def log_probs(self, logits: Any) -> np.ndarray:
        """``log_softmax(logits / T)`` in float64; ConfigError unless ``(C,)``/``(N, C)`` logits without NaN."""
        return log_softmax(check_logits(logits), self._t)

    def probs(self, logits: Any) -> np.ndarray:
        """``softmax(logits / T)`` (float32 for float32 logits, a tensor for a tensor); ConfigError for NaN logits."""
        check_logits(logits)
        return softmax(logits, self._t)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "temperature", "temperature": T}``."""
        return {"method": self.method, "temperature": float(self._t)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemperatureScaling:
        """From ``{"method": "temperature", "temperature": T}``."""
        if "temperature" not in data:
            raise ConfigError("calibrator 'temperature' needs a 'temperature' value")
        return cls(data["temperature"])

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Divide the final layer's weight and bias by T (:func:`~yolo_probs.calibration.fold.fold_temperature`)."""
        return fold_temperature(module, self._t, layer)
