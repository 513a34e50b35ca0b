"""yolo-probs: honest, temperature-scaled class probabilities from image classifiers.

Importing the package is cheap: torch and Ultralytics load only when a model is used.

Example:
    >>> import yolo_probs
    >>> yolo_probs.softmax([2.0, 1.0, 0.1], temperature=0.5).round(4).tolist()
    [0.8638, 0.1169, 0.0193]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from yolo_probs.errors import ConfigError, ModelError, OutputError, SourceError, YoloProbsError
from yolo_probs.prediction import Prediction
from yolo_probs.probs import TopClass, log_softmax, softmax, top_k

if TYPE_CHECKING:
    from yolo_probs.backends import Backend, BackendOptions, BackendOutput, register_backend
    from yolo_probs.calibration import Calibrator, TemperatureScaling, fit_temperature, register_calibrator
    from yolo_probs.export import export_folded
    from yolo_probs.metrics import evaluate_logits
    from yolo_probs.model import YoloProbs
    from yolo_probs.overlay import OverlayDrawer
    from yolo_probs.plugin import attach, detach
    from yolo_probs.profile import Profile, load_profile, save_profile
    from yolo_probs.sources import InputFailure
    from yolo_probs.workflow import CalibrationResult, EvaluationResult, calibrate, evaluate

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendOptions",
    "BackendOutput",
    "CalibrationResult",
    "Calibrator",
    "ConfigError",
    "EvaluationResult",
    "InputFailure",
    "ModelError",
    "OutputError",
    "OverlayDrawer",
    "Prediction",
    "Profile",
    "SourceError",
    "TemperatureScaling",
    "TopClass",
    "YoloProbs",
    "YoloProbsError",
    "__version__",
    "attach",
    "calibrate",
    "detach",
    "evaluate",
    "evaluate_logits",
    "export_folded",
    "fit_temperature",
    "load_profile",
    "log_softmax",
    "register_backend",
    "register_calibrator",
    "save_profile",
    "softmax",
    "top_k",
]

# Loaded on first use, so that `import yolo_probs` does not import torch, OpenCV or Ultralytics.
_LAZY = {
    "YoloProbs": "yolo_probs.model",
    "attach": "yolo_probs.plugin",
    "detach": "yolo_probs.plugin",
    "InputFailure": "yolo_probs.sources",
    "fit_temperature": "yolo_probs.calibration",
    "Calibrator": "yolo_probs.calibration",
    "TemperatureScaling": "yolo_probs.calibration",
    "register_calibrator": "yolo_probs.calibration",
    "Backend": "yolo_probs.backends",
    "BackendOptions": "yolo_probs.backends",
    "BackendOutput": "yolo_probs.backends",
    "register_backend": "yolo_probs.backends",
    "calibrate": "yolo_probs.workflow",
    "evaluate": "yolo_probs.workflow",
    "CalibrationResult": "yolo_probs.workflow",
    "EvaluationResult": "yolo_probs.workflow",
    "evaluate_logits": "yolo_probs.metrics",
    "export_folded": "yolo_probs.export",
    "OverlayDrawer": "yolo_probs.overlay",
    "Profile": "yolo_probs.profile",
    "load_profile": "yolo_probs.profile",
    "save_profile": "yolo_probs.profile",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yolo_probs' has no attribute {name!r}")
