"""yolo-probs: honest, temperature-scaled class probabilities from image classifiers.

Importing the package is cheap: torch and Ultralytics load only when a model is used.

The package is laid out by role, each layer importing only the ones below it (checked by
import-linter, see ``pyproject.toml``):

- :mod:`yolo_probs.cli`: the ``yolo-probs`` command line;
- :mod:`yolo_probs.overlay`, :mod:`yolo_probs.integrations` (plugin, Ray), :mod:`yolo_probs.export`,
  :mod:`yolo_probs.distill`: front ends and tools built on the Python API;
- :mod:`yolo_probs.api`: :class:`YoloProbs`, deployment profiles, :func:`calibrate` and :func:`evaluate`;
- :mod:`yolo_probs.outputs`: the one file writer, output formats, Parquet, plots;
- :mod:`yolo_probs.decisions`: unknown inputs, conformal sets, the reject threshold;
- :mod:`yolo_probs.calibration`: calibrators (temperature, vector, Dirichlet, ETS, auto);
- :mod:`yolo_probs.backends`: how each kind of model turns frames into logits, and the fast engines;
- :mod:`yolo_probs.inputs`: sources, decoding, preprocessing, labelled folders, read-ahead;
- :mod:`yolo_probs.core`: the math (softmax, top-k, metrics), ``Prediction``, class names, logit capture;
- ``yolo_probs._util`` (private helpers) and :mod:`yolo_probs.errors` at the bottom.

Example:
    >>> import yolo_probs
    >>> yolo_probs.softmax([2.0, 1.0, 0.1], temperature=0.5).round(4).tolist()
    [0.8638, 0.1169, 0.0193]
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from yolo_probs._util.deprecation import alias_modules
from yolo_probs.core.boxes import Box, Detections
from yolo_probs.core.prediction import Prediction
from yolo_probs.core.probs import TopClass, log_softmax, softmax, top_k
from yolo_probs.errors import ConfigError, ModelError, OutputError, SourceError, YoloProbsError

if TYPE_CHECKING:
    from yolo_probs.api.detect_classify import DetectThenClassify
    from yolo_probs.api.fit import (
        CalibratorFit,
        DecisionFit,
        RejectFit,
        SetsFit,
        UnknownFit,
        fit_calibration,
        fit_reject,
        fit_sets,
        fit_unknown,
        profile_from_fits,
    )
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.api.monitor import Monitor
    from yolo_probs.api.profile import Profile, load_profile, save_profile
    from yolo_probs.api.workflow import (
        CalibrationResult,
        CollectedLogits,
        EvaluationResult,
        calibrate,
        collect_logits,
        evaluate,
    )
    from yolo_probs.backends.base import Backend, BackendOptions, BackendOutput, register_backend
    from yolo_probs.calibration.base import Calibrator, register_calibrator
    from yolo_probs.calibration.temperature import TemperatureScaling, fit_temperature
    from yolo_probs.core.metrics import evaluate_logits
    from yolo_probs.decisions.monitor import MonitorReport
    from yolo_probs.export.exporter import export_folded
    from yolo_probs.inputs.sources import InputFailure
    from yolo_probs.integrations.plugin import attach, detach
    from yolo_probs.overlay.boxes import BoxDrawer
    from yolo_probs.overlay.draw import OverlayDrawer

__version__ = "0.1.0"

# Loaded on first use, so that `import yolo_probs` does not import torch, OpenCV or Ultralytics.
# tests/test_public_api.py checks that this table, __all__, the imports above and the docs agree.
_LAZY = {
    "CalibratorFit": "yolo_probs.api.fit",
    "DecisionFit": "yolo_probs.api.fit",
    "RejectFit": "yolo_probs.api.fit",
    "SetsFit": "yolo_probs.api.fit",
    "UnknownFit": "yolo_probs.api.fit",
    "fit_calibration": "yolo_probs.api.fit",
    "fit_reject": "yolo_probs.api.fit",
    "fit_sets": "yolo_probs.api.fit",
    "fit_unknown": "yolo_probs.api.fit",
    "profile_from_fits": "yolo_probs.api.fit",
    "YoloProbs": "yolo_probs.api.model",
    "Monitor": "yolo_probs.api.monitor",
    "MonitorReport": "yolo_probs.decisions.monitor",
    "Profile": "yolo_probs.api.profile",
    "load_profile": "yolo_probs.api.profile",
    "save_profile": "yolo_probs.api.profile",
    "calibrate": "yolo_probs.api.workflow",
    "evaluate": "yolo_probs.api.workflow",
    "CalibrationResult": "yolo_probs.api.workflow",
    "CollectedLogits": "yolo_probs.api.workflow",
    "collect_logits": "yolo_probs.api.workflow",
    "DetectThenClassify": "yolo_probs.api.detect_classify",
    "EvaluationResult": "yolo_probs.api.workflow",
    "Backend": "yolo_probs.backends.base",
    "BackendOptions": "yolo_probs.backends.base",
    "BackendOutput": "yolo_probs.backends.base",
    "register_backend": "yolo_probs.backends.base",
    "Calibrator": "yolo_probs.calibration.base",
    "register_calibrator": "yolo_probs.calibration.base",
    "TemperatureScaling": "yolo_probs.calibration.temperature",
    "fit_temperature": "yolo_probs.calibration.temperature",
    "evaluate_logits": "yolo_probs.core.metrics",
    "export_folded": "yolo_probs.export.exporter",
    "InputFailure": "yolo_probs.inputs.sources",
    "attach": "yolo_probs.integrations.plugin",
    "detach": "yolo_probs.integrations.plugin",
    "OverlayDrawer": "yolo_probs.overlay.draw",
    "BoxDrawer": "yolo_probs.overlay.boxes",
}

__all__ = [
    "Backend",
    "BackendOptions",
    "BackendOutput",
    "Box",
    "BoxDrawer",
    "CalibrationResult",
    "Calibrator",
    "CalibratorFit",
    "CollectedLogits",
    "ConfigError",
    "DecisionFit",
    "DetectThenClassify",
    "Detections",
    "EvaluationResult",
    "InputFailure",
    "ModelError",
    "Monitor",
    "MonitorReport",
    "OutputError",
    "OverlayDrawer",
    "Prediction",
    "Profile",
    "RejectFit",
    "SetsFit",
    "SourceError",
    "TemperatureScaling",
    "TopClass",
    "UnknownFit",
    "YoloProbs",
    "YoloProbsError",
    "__version__",
    "attach",
    "calibrate",
    "collect_logits",
    "detach",
    "evaluate",
    "evaluate_logits",
    "export_folded",
    "fit_calibration",
    "fit_reject",
    "fit_sets",
    "fit_temperature",
    "fit_unknown",
    "load_profile",
    "log_softmax",
    "profile_from_fits",
    "register_backend",
    "register_calibrator",
    "save_profile",
    "softmax",
    "top_k",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'yolo_probs' has no attribute {name!r}")


# Module paths of the flat layout before 0.2 (documented in its README): they keep working, with a
# DeprecationWarning, for one release.
_ALIASES = {
    "yolo_probs.capture": ["yolo_probs.core.capture"],
    "yolo_probs.dataset": ["yolo_probs.inputs.labelled", "yolo_probs.api.workflow"],
    "yolo_probs.devices": ["yolo_probs.backends.devices"],
    "yolo_probs.engine_cache": ["yolo_probs.backends.engines.cache", "yolo_probs.backends.engines.graph"],
    "yolo_probs.fast_decode": ["yolo_probs.inputs.fast_decode"],
    "yolo_probs.fast_preprocess": ["yolo_probs.inputs.fast_preprocess"],
    "yolo_probs.metrics": ["yolo_probs.core.metrics"],
    "yolo_probs.model": ["yolo_probs.api.model", "yolo_probs.backends.ultralytics"],
    "yolo_probs.names": ["yolo_probs.core.names"],
    "yolo_probs.parquet": ["yolo_probs.outputs.parquet"],
    "yolo_probs.pipeline": ["yolo_probs.inputs.readahead"],
    "yolo_probs.plugin": ["yolo_probs.integrations.plugin"],
    "yolo_probs.prediction": ["yolo_probs.core.prediction"],
    "yolo_probs.preprocess": ["yolo_probs.inputs.preprocess"],
    "yolo_probs.probs": ["yolo_probs.core.probs"],
    "yolo_probs.profile": ["yolo_probs.api.profile"],
    "yolo_probs.ray": ["yolo_probs.integrations.ray"],
    "yolo_probs.reliability": ["yolo_probs.outputs.plots"],
    "yolo_probs.soft_labels": ["yolo_probs.distill.soft_labels"],
    "yolo_probs.sources": ["yolo_probs.inputs.sources"],
    "yolo_probs.tensor_input": ["yolo_probs.inputs.tensor"],
    "yolo_probs.workflow": ["yolo_probs.api.workflow"],
    "yolo_probs.writers": ["yolo_probs.outputs.formats"],
    "yolo_probs.backends.auto_engine": ["yolo_probs.backends.engines.auto"],
    "yolo_probs.backends.ort_engine": ["yolo_probs.backends.engines.ort"],
    "yolo_probs.backends.openvino_engine": ["yolo_probs.backends.engines.openvino"],
    "yolo_probs.decisions.pipeline": ["yolo_probs.decisions.requested", "yolo_probs.inputs.labelled"],
}
alias_modules(_ALIASES)
