"""The calibrator interface: fit on logits and labels, map logits to calibrated probabilities, save, fold.

A calibrator is a small object; :data:`CALIBRATORS` maps each method name (as stored in a profile) to
its class. Front ends never look inside one: they call :meth:`Calibrator.probs` (the math core does the
rest), profiles store :meth:`Calibrator.to_dict`, exports call :meth:`Calibrator.fold`. Adding a method
is one module with one class plus one line in the :data:`CALIBRATORS` table.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.base import calibrator_from_dict
    >>> cal = calibrator_from_dict({"method": "temperature", "temperature": 2.0})
    >>> cal.probs(np.array([[2.0, 0.0]])).round(4).tolist(), cal.to_dict()
    ([[0.7311, 0.2689]], {'method': 'temperature', 'temperature': 2.0})
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from yolo_probs._util.registry import Registry
from yolo_probs._util.threads import fit_threads, torch_threads
from yolo_probs.core.checks import check_choice
from yolo_probs.core.probs import ProbabilityMap
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
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
class Calibrator(ProbabilityMap, Protocol):
    """What every calibration method provides: the core's :class:`~yolo_probs.core.probs.ProbabilityMap`
    (``method``, ``temperature``, ``log_probs``, ``probs``) plus fitting, saving and folding.

    ``method`` is its registry name; ``changes_ranking`` says whether it can change the top-1 class;
    ``temperature`` is the single temperature it applies to the raw logits, when it has one (else None).
    """

    changes_ranking: ClassVar[bool]

    def fit(self, logits: Any, labels: Any) -> Calibrator:
        """Fit on ``(N, C)`` logits and ``N`` labels; returns ``self``; ConfigError on degenerate data."""
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


#: Method name (as stored in a profile) -> calibrator class; the simplest first.
CALIBRATORS: Registry[type[Any]] = Registry(
    "calibration method",
    {
        "temperature": "yolo_probs.calibration.temperature:TemperatureScaling",
        "ets": "yolo_probs.calibration.ets:EnsembleTemperatureScaling",
        "vector": "yolo_probs.calibration.vector:VectorScaling",
        "dirichlet": "yolo_probs.calibration.dirichlet:DirichletCalibration",
    },
    option="method",
)

#: Method names that choose and fit a calibrator themselves (e.g. by cross-validation) ->
#: ``(logits, labels) -> (calibrator, details)``; ``details`` is a plain mapping the workflow reports
#: (e.g. the candidates tried). ``vector`` and ``dirichlet`` choose their regularisation so.
SELECTORS: Registry[Callable[[Any, Any], tuple[Calibrator, dict[str, Any]]]] = Registry(
    "calibration method",
    {
        "auto": "yolo_probs.calibration.select:select_auto",
        "vector": "yolo_probs.calibration.select:select_vector",
        "dirichlet": "yolo_probs.calibration.select:select_dirichlet",
    },
    option="method",
)


def register_calibrator(cls: type[Any]) -> type[Any]:
    """Register a calibrator class under its ``method`` name (usable as a decorator).

    Raises ConfigError unless ``cls`` is a class with a string ``method`` and the calibrator methods
    (``fit``, ``probs``, ``log_probs``, ``to_dict``, ``from_dict``, ``fold``).

    Example:
        >>> register_calibrator(5)
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: register_calibrator(cls) takes a calibrator class with a 'method', got 5 (int)
    """
    if not isinstance(cls, type) or not isinstance(getattr(cls, "method", None), str) or not cls.method:
        raise ConfigError(
            f"register_calibrator(cls) takes a calibrator class with a 'method', got {cls!r} ({type(cls).__name__})",
            option="cls",
        )
    lacking = [
        m for m in ("fit", "probs", "log_probs", "to_dict", "from_dict", "fold") if not callable(getattr(cls, m, None))
    ]
    if lacking:
        raise ConfigError(
            f"register_calibrator(cls): {cls.__name__} lacks {', '.join(lacking)} (see calibration.Calibrator)",
            option="cls",
        )
    return CALIBRATORS.register(cls.method, cls)


def register_selector(name: str, select: Callable[[Any, Any], tuple[Calibrator, dict[str, Any]]]) -> None:
    """Register a method name that picks and fits a calibrator itself; ConfigError for a bad name or function."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"register_selector(name, ...) takes a method name, got {name!r}", option="name")
    if not callable(select):
        raise ConfigError(f"register_selector(..., select) takes a function (logits, labels), got {select!r}",
                          option="select")  # fmt: skip
    SELECTORS.register(name, select)


def calibrator_from_dict(data: dict[str, Any], *, name: str = "calibrator") -> Calibrator:
    """The calibrator a profile's ``calibrator:`` mapping describes; ``name`` is the key messages name.

    Example:
        >>> calibrator_from_dict({"method": ["vector"]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: calibrator.method must be one of temperature, ets, ..., got ['vector'] (list)
    """
    if not isinstance(data, dict) or "method" not in data:
        raise ConfigError(f"{name} must be a mapping with a 'method' key, got {data!r}", option="calibrator")
    method = check_choice(data["method"], f"{name}.method", CALIBRATORS, option="calibrator")
    try:
        return CALIBRATORS[method].from_dict(data)  # type: ignore[no-any-return]
    except ConfigError as exc:
        if name == "calibrator":  # the methods' own messages name "calibrator"
            raise
        raise ConfigError(f"{name}: {exc}", option=exc.option) from None


def fit_calibrator(method: str, logits: Any, labels: Any) -> tuple[Calibrator, dict[str, Any]]:
    """Fit the calibrator ``method`` names (a registered calibrator or selector); returns it and its details.

    Example:
        >>> import numpy as np
        >>> y = np.arange(100) % 2; z = np.where(np.eye(2)[y] > 0, 1.0, 0.0); z[:20] = z[:20, ::-1]
        >>> cal, details = fit_calibrator("temperature", z, y)
        >>> cal.method, round(cal.temperature, 4), details
        ('temperature', 0.7213, {})
    """
    if not isinstance(method, str) or (method not in SELECTORS and method not in CALIBRATORS):
        known = ", ".join(dict.fromkeys([*CALIBRATORS, *SELECTORS]))
        raise ConfigError(f"unknown calibration method {method!r}; choose one of {known}", option="method")
    with torch_threads(fit_threads(_entries(logits))):  # small fits: one thread (see fit_threads)
        if method in SELECTORS:
            return SELECTORS[method](logits, labels)
        return CALIBRATORS[method]().fit(logits, labels), {}


def _entries(logits: Any) -> int:
    """How many numbers ``logits`` holds; 0 when it has no regular shape (the fit then says what is wrong)."""
    try:
        return math.prod(np.shape(logits))
    except ValueError:
        return 0
