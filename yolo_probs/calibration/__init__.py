"""Calibration methods behind one interface (:mod:`yolo_probs.calibration.base`).

Pure numpy/torch: nothing here knows about Ultralytics, images or models. Temperature scaling
(:mod:`yolo_probs.calibration.temperature`) is the default method; vector scaling
(:mod:`~yolo_probs.calibration.vector`), Dirichlet calibration (:mod:`~yolo_probs.calibration.dirichlet`)
and ensemble temperature scaling (:mod:`~yolo_probs.calibration.ets`) are one module each, listed in
:data:`~yolo_probs.calibration.base.CALIBRATORS`; :mod:`~yolo_probs.calibration.select` chooses among
them by cross-validation.

Example:
    >>> from yolo_probs.calibration import CALIBRATORS
    >>> sorted(CALIBRATORS)
    ['dirichlet', 'ets', 'temperature', 'vector']
"""

from __future__ import annotations

from yolo_probs._util.deprecation import moved_names, no_longer_needed
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
    "fit_calibrator",
    "fit_temperature",
    "register_calibrator",
    "register_selector",
]

# Before 0.2: check_logits_labels lived here, and load_builtin() had to be called before use.
__getattr__ = moved_names(__name__, {"check_logits_labels": "yolo_probs.core.checks"})
load_builtin = no_longer_needed(
    __name__, "load_builtin", "the built-in methods load on first use (add your own with register_calibrator)"
)
