"""Isotonic regression of box correctness on ``conf``: a non-decreasing step map, linear between knots.

The most flexible monotone map (Kuzucu et al., ECCV 2024 recommend it for detectors). It never reverses
the order of two boxes but can tie boxes that were ordered, so mAP can move slightly; stored as its
knots (``x``: confidences, ``y``: calibrated values).

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.box_base import BoxFeatures
    >>> f = BoxFeatures.from_arrays([0.0, 3.0], [[0.5, 0.5]] * 2, [[0.1, 0.1]] * 2)
    >>> BoxIsotonic([0.0, 1.0], [0.1, 0.9]).conf(f).round(4).tolist()
    [0.5, 0.8621]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from sklearn.isotonic import IsotonicRegression

from yolo_probs.calibration.box_base import BoxFeatures, check_fit_data
from yolo_probs.errors import ConfigError

__all__ = ["BoxIsotonic"]


class BoxIsotonic:
    """Piecewise-linear non-decreasing map of ``conf`` through knots ``(x, y)``, clipped at the ends."""

    method: ClassVar[str] = "isotonic"
    changes_ranking: ClassVar[bool] = False  # never reverses an order (it can tie)
    temperature = None

    def __init__(self, x: Any = (0.0, 1.0), y: Any = (0.0, 1.0)) -> None:
        xs, ys = np.asarray(x, dtype=np.float64).reshape(-1), np.asarray(y, dtype=np.float64).reshape(-1)
        ok = xs.size >= 1 and xs.shape == ys.shape and np.isfinite(xs).all() and np.isfinite(ys).all()
        if not ok or np.any(np.diff(xs) < 0) or np.any(np.diff(ys) < 0) or ys.min() < 0 or ys.max() > 1:
            raise ConfigError(
                "box_calibrator of method 'isotonic' needs knots x and y: equal-length non-decreasing lists, "
                "y in [0, 1]",
                option="box_calibrator",
            )
        self.x, self.y = xs, ys

    def fit(self, features: BoxFeatures, correct: Any) -> BoxIsotonic:
        """Fit the isotonic regression of correctness on ``conf``; returns ``self``."""
        features, y = check_fit_data(features, correct)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(features.conf, y.astype(float))
        self.x, self.y = iso.X_thresholds_.astype(np.float64), iso.y_thresholds_.astype(np.float64)
        return self

    def conf(self, features: BoxFeatures) -> np.ndarray:
        """Calibrated confidences: the knots interpolated at each box's ``conf``."""
        return np.interp(features.conf, self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "isotonic", "x": [...], "y": [...]}``."""
        return {"method": self.method, "x": [float(v) for v in self.x], "y": [float(v) for v in self.y]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxIsotonic:
        """From :meth:`to_dict`'s mapping."""
        if not isinstance(data.get("x"), list) or not isinstance(data.get("y"), list):
            raise ConfigError("box_calibrator of method 'isotonic' needs lists x and y", option="box_calibrator")
        return cls(data["x"], data["y"])

    def __repr__(self) -> str:
        return f"BoxIsotonic({self.x.size} knots)"
