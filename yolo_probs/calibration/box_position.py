"""Box calibration by confidence, position and size (Küppers et al., CVPR-W 2020, logistic form).

``conf_calibrated = sigmoid(w . [logit, cx, cy, w, h, 1])`` where the centre and size are relative to
the image: a detector that is over-confident for small boxes or near the border gets a different
correction there. It can change the ranking of boxes (and so mAP). Fitted by L2-regularised logistic
regression (C = 1) on standardised features.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.box_base import BoxFeatures
    >>> f = BoxFeatures.from_arrays([0.0], [[0.5, 0.5]], [[0.1, 0.1]])
    >>> BoxPosition([1.0, 0, 0, 0, 0], 0.0).conf(f).round(4).tolist()
    [0.5]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.linear_model import LogisticRegression

from yolo_probs.calibration.box_base import BoxFeatures, check_fit_data, parameter
from yolo_probs.core.boxes import sigmoid
from yolo_probs.errors import ConfigError

__all__ = ["BoxPosition"]

FEATURES = ("logit", "cx", "cy", "w", "h")


def _design(features: BoxFeatures) -> np.ndarray:
    return np.column_stack([features.logit, features.centre, features.size])


class BoxPosition:
    """Logistic regression on the logit, the box centre and the box size (all relative to the image)."""

    method: ClassVar[str] = "position"
    changes_ranking: ClassVar[bool] = True
    temperature = None

    def __init__(self, weights: Any = (1.0, 0.0, 0.0, 0.0, 0.0), bias: float = 0.0) -> None:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != (len(FEATURES),) or not np.isfinite(w).all():
            raise ConfigError(f"box_calibrator.weights of method 'position' must be {len(FEATURES)} finite numbers "
                              f"({', '.join(FEATURES)})", option="box_calibrator")  # fmt: skip
        self.weights, self.bias = w, float(bias)

    def fit(self, features: BoxFeatures, correct: Any) -> BoxPosition:
        """Fit on standardised features and fold the standardisation into the weights; returns ``self``."""
        features, y = check_fit_data(features, correct)
        x = _design(features)
        mean, std = x.mean(axis=0), x.std(axis=0)
        std[std < 1e-9] = 1.0
        lr = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / std, y)
        self.weights = lr.coef_[0] / std
        self.bias = float(lr.intercept_[0] - (lr.coef_[0] * mean / std).sum())
        return self

    def conf(self, features: BoxFeatures) -> np.ndarray:
        """Calibrated confidences."""
        return sigmoid(_design(features) @ self.weights + self.bias).astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "position", "weights": [logit, cx, cy, w, h], "bias": b}``."""
        return {"method": self.method, "weights": [float(v) for v in self.weights], "bias": self.bias}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxPosition:
        """From :meth:`to_dict`'s mapping."""
        if not isinstance(data.get("weights"), list):
            raise ConfigError("box_calibrator.weights of method 'position' must be a list", option="box_calibrator")
        return cls(data["weights"], parameter(data, "bias", cls.method))

    def __repr__(self) -> str:
        return f"BoxPosition(weights={np.round(self.weights, 3).tolist()}, bias={self.bias:.3g})"
