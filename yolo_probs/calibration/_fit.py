"""Shared machinery of the multi-parameter calibrators: data checks, tensors, one deterministic optimiser.

:class:`AffineCalibrator` is the body vector scaling and Dirichlet calibration share (parameters,
fit, log-probabilities, profile mapping); each of them adds only its loss, its start point, its map
and its fold. :class:`LogProbsCalibrator` is the smaller part ETS shares too.

Every fit here minimises a smooth penalised mean NLL over a few parameters with full-batch L-BFGS
(strong Wolfe line search), from a fixed start (the fitted temperature), so the same data always give
the same parameters. Small problems run in float64 (exact enough to agree with scipy to many digits);
large ones (more than :data:`FLOAT64_MAX_ENTRIES` logits) run their ``(N, C)`` passes in float32 and
accumulate per-row terms in float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, ClassVar, Self

import numpy as np

from yolo_probs.calibration.temperature import MIN_SAMPLES, CalibrationWarning, fit_temperature, no_mistakes
from yolo_probs.core.checks import check_logits, check_logits_labels
from yolo_probs.errors import ConfigError

__all__ = [
    "FLOAT64_MAX_ENTRIES",
    "MAX_ITER",
    "AffineCalibrator",
    "LogProbsCalibrator",
    "as_logits",
    "check_classes",
    "check_matrix",
    "check_reg",
    "compute_dtype",
    "finish",
    "minimize",
    "prepare",
    "probs_from_log",
    "to_torch",
]

FLOAT64_MAX_ENTRIES = 250_000
MAX_ITER = 500


def prepare(logits: Any, labels: Any, method: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate, and fit the temperature every multi-parameter method starts from.

    Everything right is refused here (a per-class shape needs mistakes to learn from); the temperature
    fit raises the other degenerate-data error (one class) and warns
    about small samples; a further :class:`CalibrationWarning` names classes that have no samples
    (their parameters are then set by the regularisation alone).
    """
    x, y = check_logits_labels(logits, labels)
    if no_mistakes(x, y) and np.unique(y).size > 1:
        raise ConfigError(
            f"all {y.size} samples are classified correctly: {method} learns its shape from the mistakes, and "
            "with none its NLL keeps falling without bound; use temperature scaling (which gives a bounded T "
            "here) or fit on images that include some mistakes",
            option="method",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # a bound hit is fine as a start value
        t = fit_temperature(x, y, min_samples=0)
    if x.shape[0] < MIN_SAMPLES:
        warnings.warn(
            f"only {x.shape[0]} labelled samples: the fitted {method} calibrator is unreliable; use at least "
            f"{MIN_SAMPLES} (a few hundred or more is better), or temperature scaling",
            CalibrationWarning,
            stacklevel=3,
        )
    missing = x.shape[1] - np.unique(y).size
    if missing:
        warnings.warn(
            f"{missing} of {x.shape[1]} classes have no calibration samples: {method} sets their parameters "
            "from the regularisation alone; use labelled images of every class",
            CalibrationWarning,
            stacklevel=3,
        )
    return x, y, t


def compute_dtype(x: np.ndarray) -> Any:
    """float64 for small problems, float32 for large ones (see the module docstring)."""
    import torch

    return torch.float64 if x.size <= FLOAT64_MAX_ENTRIES else torch.float32


def to_torch(x: np.ndarray, dtype: Any) -> Any:
    """A contiguous torch copy (never a view the optimiser could write into)."""
    import torch

    return torch.tensor(np.ascontiguousarray(x), dtype=dtype)


def minimize(loss: Callable[[list[Any]], Any], start: list[np.ndarray], max_iter: int = MAX_ITER) -> list[np.ndarray]:
    """Minimise ``loss(params)`` (a float64 scalar tensor) over float64 parameters from ``start``.

    Full-batch L-BFGS with a strong Wolfe line search; a non-finite loss stops the search at the last
    finite point, so the result is always finite.
    """
    import torch

    params = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True) for s in start]
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        max_eval=max_iter * 2,
        tolerance_grad=1e-9,
        tolerance_change=1e-9,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    best: list[Any] = [float("inf"), [p.detach().clone() for p in params]]

    def closure() -> Any:
        opt.zero_grad()
        value = loss(params)
        if torch.isfinite(value):
            value.backward()
            v = float(value.detach())
            if v < best[0]:
                best[0], best[1] = v, [p.detach().clone() for p in params]
        return value

    with torch.enable_grad():
        opt.step(closure)
        final = loss(params)
    if torch.isfinite(final) and float(final.detach()) <= best[0]:
        return [p.detach().numpy().copy() for p in params]
    return [p.numpy().copy() for p in best[1]]


def check_reg(value: Any, name: str) -> float:
    """A regularisation strength: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_matrix(data: dict[str, Any], key: str, shape: tuple[int, ...], method: str) -> np.ndarray:
    """A finite float64 array of ``shape`` from a profile mapping; ConfigError naming the key."""
    if key not in data:
        raise ConfigError(f"calibrator {method!r} needs a {key!r} value")
    try:
        a = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"calibrator {method!r}: {key} must be numbers") from None
    if a.shape != shape or not np.isfinite(a).all():
        raise ConfigError(f"calibrator {method!r}: {key} must be finite numbers of shape {shape}, got shape {a.shape}")
    return a


def _shape(value: Any) -> tuple[int, ...] | None:
    """The array shape of a profile value, or None when it is not an array of numbers."""
    try:
        return np.asarray(value, dtype=np.float64).shape
    except (TypeError, ValueError):
        return None


def as_logits(logits: Any) -> tuple[np.ndarray, bool]:
    """``(N, C)`` float64 numpy logits from ``(C,)`` or ``(N, C)`` numpy/torch input, and whether it was 1-D."""
    x = check_logits(logits)
    return (x[None, :] if x.ndim == 1 else x), x.ndim == 1


def check_classes(x: np.ndarray, classes: int, method: str) -> None:
    """ConfigError when logits have another class count than the calibrator was fitted on."""
    if x.shape[1] != classes:
        raise ConfigError(
            f"the {method} calibrator was fitted on {classes} classes but the logits have {x.shape[1]}; "
            "re-calibrate for this model"
        )


def finish(log_p: np.ndarray, one_d: bool) -> np.ndarray:
    """Drop the batch axis again when the input was 1-D."""
    return log_p[0] if one_d else log_p


def probs_from_log(log_p: np.ndarray) -> np.ndarray:
    """float32 probabilities from float64 log-probabilities, each row renormalised to sum to 1."""
    p = np.exp(log_p)
    p /= p.sum(axis=-1, keepdims=True)
    return p.astype(np.float32)


class LogProbsCalibrator:
    """What every multi-parameter calibrator shares: no single temperature, probabilities from :meth:`log_probs`.

    Subclasses set ``method`` and implement :meth:`log_probs`.
    """

    method: ClassVar[str]

    @property
    def temperature(self) -> float | None:
        """None: no single temperature applies to the raw logits."""
        return None

    def log_probs(self, logits: Any) -> np.ndarray:
        """Calibrated float64 log-probabilities, ``(C,)`` or ``(N, C)`` like ``logits``."""
        raise NotImplementedError

    def probs(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities (float32, rows sum to 1)."""
        return probs_from_log(self.log_probs(logits))

    def not_fitted(self) -> ConfigError:
        """The error for using the calibrator before :meth:`fit`."""
        return ConfigError(f"this {self.method} calibrator is not fitted yet; call fit(logits, labels) first")


class AffineCalibrator(LogProbsCalibrator):
    """``log_softmax(map(logits, coef) + bias)``: the body of vector scaling and Dirichlet calibration.

    Both hold ``coef`` (``C`` scales, or a ``C x C`` matrix) and ``bias`` (``C`` numbers) in float64,
    fit them with :func:`minimize` from temperature scaling at the fitted T, and store them under
    ``coef_key`` and ``"bias"`` in a profile. A subclass gives only what differs: ``coef_key`` and
    ``title`` (for messages), :meth:`coef_shape`, :meth:`start` (its start point), :meth:`loss_input`
    and :meth:`loss` (its objective), :meth:`apply` (its map) and ``fold``.

    Args:
        coef, bias: the parameters; both None until :meth:`fit`.
        reg: strength of the method's penalty (a number >= 0).

    Example:
        >>> from yolo_probs.calibration.vector import VectorScaling
        >>> cal = VectorScaling([1.0, 2.0], [0.0, 0.5])
        >>> cal.to_dict(), cal.log_probs([0.0, 0.0]).round(4).tolist()
        ({'method': 'vector', 'scale': [1.0, 2.0], 'bias': [0.0, 0.5]}, [-0.9741, -0.4741])
    """

    changes_ranking: ClassVar[bool] = True
    #: The profile key of ``coef`` (``"scale"``, ``"weights"``).
    coef_key: ClassVar[str]
    #: The method's name in messages (``"vector scaling"``).
    title: ClassVar[str]

    def __init__(self, coef: Any, bias: Any, *, reg: float) -> None:
        self.reg = check_reg(reg, "reg")
        self.coef: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        if (coef is None) != (bias is None):
            raise ConfigError(f"{self.title} needs both {self.coef_key} and bias (or neither, before fit)")
        if coef is not None:
            done = self.from_dict({"method": self.method, self.coef_key: coef, "bias": bias})
            self.coef, self.bias = done.coef, done.bias

    def __repr__(self) -> str:
        k = "unfitted" if self.bias is None else f"{self.bias.size} classes"
        return f"{type(self).__name__}({k}, reg={self.reg:g})"

    # -- what each method gives --
    @staticmethod
    def coef_shape(classes: int) -> tuple[int, ...]:
        """The shape of ``coef`` for ``classes`` classes."""
        raise NotImplementedError

    @staticmethod
    def start(t: float, classes: int) -> np.ndarray:
        """``coef`` of temperature scaling at ``t`` (the fit starts there, with zero biases)."""
        raise NotImplementedError

    @staticmethod
    def loss_input(x: np.ndarray) -> np.ndarray:
        """What the loss reads, computed once per fit from the logits (default: the logits)."""
        return x

    def loss(self, data: Any, labels: Any, coef: Any, bias: Any) -> Any:
        """The penalised mean NLL as a float64 torch scalar (``data`` from :meth:`loss_input`, maybe float32)."""
        raise NotImplementedError

    @staticmethod
    def apply(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """The calibrated float64 log-probabilities of ``(N, C)`` logits."""
        raise NotImplementedError

    # -- shared --
    def params(self) -> tuple[np.ndarray, np.ndarray]:
        """``(coef, bias)``; ConfigError before :meth:`fit`."""
        if self.coef is None or self.bias is None:
            raise self.not_fitted()
        return self.coef, self.bias

    def fit(self, logits: Any, labels: Any, *, warm_start: bool = False, max_iter: int = MAX_ITER) -> Self:
        """Minimise the penalised NLL; returns ``self``; ConfigError on degenerate data (as temperature).

        With ``warm_start`` a fitted calibrator starts from its current parameters (cross-validation
        over ``reg`` uses it); else from the fitted temperature.
        """
        import torch

        x, y, t = prepare(logits, labels, self.method)
        c = x.shape[1]
        data = to_torch(self.loss_input(x), compute_dtype(x))
        start = [self.start(t, c), np.zeros(c)]
        if warm_start and self.coef is not None and self.bias is not None and self.bias.size == c:
            start = [self.coef, self.bias]
        yt = torch.from_numpy(y)
        self.coef, self.bias = minimize(lambda p: self.loss(data, yt, p[0], p[1]), start, max_iter)
        return self

    def log_probs(self, logits: Any) -> np.ndarray:
        """The calibrated log-probabilities (:meth:`apply`) in float64, ``(C,)`` or ``(N, C)`` like ``logits``."""
        coef, bias = self.params()
        x, one_d = as_logits(logits)
        check_classes(x, bias.size, self.method)
        return finish(self.apply(x, coef, bias), one_d)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": ..., coef_key: [...], "bias": [...]}``."""
        coef, bias = self.params()
        return {"method": self.method, self.coef_key: coef.tolist(), "bias": bias.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """From :meth:`to_dict`'s mapping: ``bias`` gives the class count (>= 2), ``coef`` must match it.

        ``bias`` is checked first, then ``coef``, then the class count. A ``coef`` that is whole for
        another count of 2 or more classes (a vector profile's ``scale`` of 3 numbers beside a ``bias``
        of 2) gives the count instead: it is then ``bias`` whose shape is off, and the message says so.
        """
        bias = data.get("bias")
        bias_shape, coef_shape = _shape(bias), _shape(data.get(cls.coef_key))
        n = bias_shape[0] if bias_shape else -1
        if coef_shape and coef_shape[0] >= 2 and cls.coef_shape(n) != coef_shape == cls.coef_shape(coef_shape[0]):
            n = coef_shape[0]  # the coefficient is whole for another class count: it is the bias that is off
        b = check_matrix(data, "bias", (n,), cls.method)
        coef = check_matrix(data, cls.coef_key, cls.coef_shape(n), cls.method)
        if n < 2:
            raise ConfigError(f"calibrator {cls.method!r}: bias must list one number per class (>= 2), got {bias!r}")
        cal = cls.__new__(cls)
        cal.reg, cal.coef, cal.bias = 0.0, coef, b
        return cal
