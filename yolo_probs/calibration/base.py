"""The calibrator interface: fit on logits and labels, map logits to calibrated probabilities, save, fold.

A calibrator is a small object; :data:`CALIBRATORS` maps each method name (as stored in a profile) to
its class. Front ends never look inside one: they call :meth:`Calibrator.probs` (the math core does the
rest), profiles store :meth:`Calibrator.to_dict`, exports call :meth:`Calibrator.fold`. Adding a method
is one module with one class plus one :func:`register_calibrator` line.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration import calibrator_from_dict
    >>> cal = calibrator_from_dict({"method": "temperature", "temperature": 2.0})
    >>> cal.probs(np.array([[2.0, 0.0]])).round(4).tolist(), cal.to_dict()
    ([[0.7311, 0.2689]], {'method': 'temperature', 'temperature': 2.0})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

__all__ = [
    "CALIBRATORS",
    "SELECTORS",
    "Calibrator",
    "calibrator_from_dict",
    "fit_calibrator",
    "register_calibrator",
    "register_selector",
]


@runtime_checkable
class Calibrator(Protocol):
    """What every calibration method provides.

    ``method`` is its registry name; ``changes_ranking`` says whether it can change the top-1 class;
    ``temperature`` is the single temperature it applies to the raw logits, when it has one (else None).
    """

    method: ClassVar[str]
    changes_ranking: ClassVar[bool]

    @property
    def temperature(self) -> float | None: ...

    def fit(self, logits: Any, labels: Any) -> Calibrator:
        """Fit on ``(N, C)`` logits and ``N`` labels; returns ``self``; ConfigError on degenerate data."""
        ...

    def log_probs(self, logits: Any) -> np.ndarray:
        """Calibrated log-probabilities for ``(C,)`` or ``(N, C)`` logits (float64, never NaN)."""
        ...

    def probs(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities, same shape as ``logits``, rows summing to 1 (float32)."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """``{"method": ..., <parameters>}``: YAML-safe plain values, read back by :meth:`from_dict`."""
        ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Rebuild from :meth:`to_dict`'s mapping; ConfigError naming the bad key."""
        ...

    def fold(self, module: nn.Module, layer: str | None = None) -> tuple[nn.Module, str]:
        """A copy of ``module`` whose logits (before any softmax) give the calibrated probabilities; and the layer name.

        Raises ConfigError when this method cannot be folded into a graph.
        """
        ...


#: Method name -> calibrator class.
CALIBRATORS: dict[str, type[Any]] = {}


def register_calibrator(cls: type[Any]) -> type[Any]:
    """Register a calibrator class under its ``method`` name (usable as a decorator)."""
    CALIBRATORS[cls.method] = cls
    return cls


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    """The calibrator a profile's ``calibrator:`` mapping describes."""
    from yolo_probs.calibration import load_builtin

    load_builtin()
    if not isinstance(data, dict) or "method" not in data:
        raise ConfigError(f"a calibrator must be a mapping with a 'method' key, got {data!r}")
    method = data["method"]
    if method not in CALIBRATORS:
        raise ConfigError(f"unknown calibration method {method!r}; known: {', '.join(sorted(CALIBRATORS))}")
    return CALIBRATORS[method].from_dict(data)  # type: ignore[no-any-return]


#: Method names that choose among calibrators (e.g. by cross-validation) -> ``(logits, labels) -> (calibrator,
#: details)``; ``details`` is a plain mapping the workflow reports (e.g. the candidates tried).
SELECTORS: dict[str, Callable[[Any, Any], tuple[Calibrator, dict[str, Any]]]] = {}


def register_selector(name: str, select: Callable[[Any, Any], tuple[Calibrator, dict[str, Any]]]) -> None:
    """Register a method name that picks and fits a calibrator itself."""
    SELECTORS[name] = select


def fit_calibrator(method: str, logits: Any, labels: Any) -> tuple[Calibrator, dict[str, Any]]:
    """Fit the calibrator ``method`` names (a registered calibrator or selector); returns it and its details.

    Example:
        >>> import numpy as np
        >>> y = np.arange(100) % 2; z = np.where(np.eye(2)[y] > 0, 1.0, 0.0); z[:20] = z[:20, ::-1]
        >>> cal, details = fit_calibrator("temperature", z, y)
        >>> cal.method, round(cal.temperature, 4), details
        ('temperature', 0.7213, {})
    """
    from yolo_probs.calibration import load_builtin

    load_builtin()
    if method in SELECTORS:
        return SELECTORS[method](logits, labels)
    if method not in CALIBRATORS:
        known = ", ".join([*CALIBRATORS, *SELECTORS])
        raise ConfigError(f"unknown calibration method {method!r}; choose one of {known}", option="method")
    return CALIBRATORS[method]().fit(logits, labels), {}
