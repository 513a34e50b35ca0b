"""Temperature on the box's class logit: ``conf_calibrated = sigmoid(logit / T)``; keeps the ranking.

``T`` minimises the log loss of "this box is a correct detection" on the calibration boxes (bounded
search over ``log T``). T > 1 lowers confidences above 0.5 and raises those below; with no bias term it
cannot move the whole scale down, which a small detector often needs (see ``platt``).

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.box_base import BoxFeatures
    >>> f = BoxFeatures.from_arrays([2.0, -2.0], [[0.5, 0.5]] * 2, [[0.1, 0.1]] * 2)
    >>> BoxTemperature(2.0).conf(f).round(4).tolist()
    [0.7311, 0.2689]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from scipy.optimize import minimize_scalar

from yolo_probs.calibration.box_base import BoxFeatures, check_fit_data, log_loss, parameter
from yolo_probs.core.boxes import sigmoid
from yolo_probs.errors import ConfigError

__all__ = ["BoxTemperature"]


class BoxTemperature:
    """``sigmoid(logit / T)`` of the box's predicted class (T in [0.05, 20])."""

    method: ClassVar[str] = "temperature"
    changes_ranking: ClassVar[bool] = False

    def __init__(self, temperature: float = 1.0) -> None:
        if not 0.05 <= float(temperature) <= 20:
            raise ConfigError(f"box temperature must be in [0.05, 20], got {temperature!r}", option="box_calibrator")
        self._t = float(temperature)

    @property
    def temperature(self) -> float:
        """The fitted temperature."""
        return self._t

    def fit(self, features: BoxFeatures, correct: Any) -> BoxTemperature:
        """Minimise the log loss over ``log T``; returns ``self``."""
        features, y = check_fit_data(features, correct)
        z = features.logit
        best = minimize_scalar(lambda s: log_loss(sigmoid(z / np.exp(s)), y), bounds=(np.log(0.05), np.log(20)),
                               method="bounded", options={"xatol": 1e-6})  # fmt: skip
        self._t = float(np.exp(best.x))
        return self

    def conf(self, features: BoxFeatures) -> np.ndarray:
        """Calibrated confidences ``sigmoid(logit / T)``."""
        return sigmoid(features.logit / self._t).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "temperature", "temperature": T}``."""
        return {"method": self.method, "temperature": self._t}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxTemperature:
        """From :meth:`to_dict`'s mapping."""
        return cls(parameter(data, "temperature", cls.method))

    def __repr__(self) -> str:
        return f"BoxTemperature({self._t:.4g})"
