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

from yolo_probs.errors import ConfigError, ModelError, SourceError, YoloProbsError
from yolo_probs.prediction import Prediction
from yolo_probs.probs import TopClass, log_softmax, softmax, top_k

if TYPE_CHECKING:
    from yolo_probs.model import YoloProbs
    from yolo_probs.plugin import attach, detach
    from yolo_probs.sources import InputFailure

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "InputFailure",
    "ModelError",
    "Prediction",
    "SourceError",
    "TopClass",
    "YoloProbs",
    "YoloProbsError",
    "__version__",
    "attach",
    "detach",
    "log_softmax",
    "softmax",
    "top_k",
]

_LAZY = {
    "YoloProbs": "yolo_probs.model",
    "attach": "yolo_probs.plugin",
    "detach": "yolo_probs.plugin",
    "InputFailure": "yolo_probs.sources",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yolo_probs' has no attribute {name!r}")
