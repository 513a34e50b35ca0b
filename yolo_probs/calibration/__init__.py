"""Calibration methods behind one interface (:mod:`yolo_probs.calibration.base`).

Pure numpy/torch: nothing here knows about Ultralytics, images or models. Temperature scaling
(:mod:`yolo_probs.calibration.temperature`) is the default method; each further method is one module
registered in :func:`load_builtin`.

Example:
    >>> from yolo_probs.calibration import CALIBRATORS, load_builtin
    >>> load_builtin()
    >>> sorted(CALIBRATORS)[:1]
    ['temperature']
"""

from __future__ import annotations

from yolo_probs.calibration.base import (
    CALIBRATORS,
    SELECTORS,
    Calibrator,
    calibrator_from_dict,
    fit_calibrator,
    register_calibrator,
    register_selector,
)
from yolo_probs.calibration.temperature import (
    MIN_SAMPLES,
    T_MAX,
    T_MIN,
    CalibrationWarning,
    TemperatureScaling,
    check_logits_labels,
    fit_temperature,
)

__all__ = [
    "CALIBRATORS",
    "MIN_SAMPLES",
    "SELECTORS",
    "T_MAX",
    "T_MIN",
    "CalibrationWarning",
    "Calibrator",
    "TemperatureScaling",
    "calibrator_from_dict",
    "check_logits_labels",
    "fit_calibrator",
    "fit_temperature",
    "load_builtin",
    "register_calibrator",
    "register_selector",
]


def load_builtin() -> None:
    """Register the built-in methods (idempotent)."""
    for cls in (TemperatureScaling,):
        register_calibrator(cls)
