"""Platt scaling of the box's class logit: ``conf_calibrated = sigmoid(a * logit + b)``; keeps the ranking.

A temperature plus a bias: it can lower every confidence of an over-confident detector at once, which
a temperature alone cannot. ``a`` and ``b`` come from an (almost unregularised) logistic regression of
"this box is a correct detection" on the logit; a fit with ``a <= 0`` is refused, since it would
reverse the ranking.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.box_base import BoxFeatures
    >>> f = BoxFeatures.from_arrays([0.0], [[0.5, 0.5]], [[0.1, 0.1]])
    >>> BoxPlatt(1.0, -1.0).conf(f).round(4).tolist()
    [0.2689]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from yolo_probs.calibration.box_base import BoxFeatures, check_fit_data, parameter
from yolo_probs.core.boxes import sigmoid
from yolo_probs.errors import ConfigError

__all__ = ["BoxPlatt"]


class BoxPlatt:
    """``sigmoid(a * logit + b)`` with ``a > 0``."""

    method: ClassVar[str] = "platt"
    changes_ranking: ClassVar[bool] = False

    def __init__(self, a: float = 1.0, b: float = 0.0) -> None:
        if not float(a) > 0:
            raise ConfigError(f"box_calibrator.a of method 'platt' must be > 0, got {a!r}", option="box_calibrator")
        self.a, self.b = float(a), float(b)

    @property
    def temperature(self) -> float | None:
        """``1 / a`` when there is no bias, else None (not a pure temperature)."""
        return 1.0 / self.a if self.b == 0 else None

    def fit(self, features: BoxFeatures, correct: Any) -> BoxPlatt:
        """Logistic regression of correctness on the logit; ConfigError if the slope is not positive."""
        features, y = check_fit_data(features, correct)
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(features.logit[:, None], y)
        a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        if not a > 0:
            raise ConfigError(
                f"platt: confidence does not rise with the box logit on this data (slope {a:.3g}); "
                "use --method isotonic or more labelled images",
                option="method",
            )
        self.a, self.b = a, b
        return self

    def conf(self, features: BoxFeatures) -> np.ndarray:
        """Calibrated confidences ``sigmoid(a * logit + b)``."""
        return sigmoid(self.a * features.logit + self.b).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "platt", "a": a, "b": b}``."""
        return {"method": self.method, "a": self.a, "b": self.b}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxPlatt:
        """From :meth:`to_dict`'s mapping."""
        return cls(parameter(data, "a", cls.method), parameter(data, "b", cls.method))

    def __repr__(self) -> str:
        return f"BoxPlatt(a={self.a:.4g}, b={self.b:.4g})"
