"""Calibration methods behind one interface (:mod:`yolo_probs.calibration.base`).

Pure numpy/torch: nothing here knows about Ultralytics, images or models. Temperature scaling
(:mod:`yolo_probs.calibration.temperature`) is the default method; vector scaling
(:mod:`~yolo_probs.calibration.vector`), Dirichlet calibration (:mod:`~yolo_probs.calibration.dirichlet`)
and ensemble temperature scaling (:mod:`~yolo_probs.calibration.ets`) are one module each, registered
in :func:`load_builtin`; :mod:`~yolo_probs.calibration.select` chooses among them by cross-validation.

Example:
    >>> from yolo_probs.calibration import CALIBRATORS, load_builtin
    >>> load_builtin()
    >>> sorted(CALIBRATORS)
    ['dirichlet', 'ets', 'temperature', 'vector']
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
    """Register the built-in methods (idempotent); the multi-parameter ones load on first use."""
    from yolo_probs.calibration.dirichlet import DirichletCalibration
    from yolo_probs.calibration.ets import EnsembleTemperatureScaling
    from yolo_probs.calibration.select import selector
    from yolo_probs.calibration.vector import VectorScaling

    for cls in (TemperatureScaling, EnsembleTemperatureScaling, VectorScaling, DirichletCalibration):
        register_calibrator(cls)
    # "auto" chooses among all by cross-validation; vector and dirichlet choose their regularisation so
    for name in ("auto", "vector", "dirichlet"):
        register_selector(name, selector(name))
