"""Exports with the calibration inside: ONNX and TorchScript files whose softmax is the calibrated probability.

See :mod:`yolo_probs.export.exporter`.

Example:
    >>> from yolo_probs.export import EXPORT_FORMATS
    >>> EXPORT_FORMATS
    ('onnx', 'torchscript')
"""

from __future__ import annotations

from yolo_probs._util.deprecation import moved_names
from yolo_probs.export.exporter import EXPORT_FORMATS, ExportResult, export_folded

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_folded"]

# Names that lived in the flat module yolo_probs.export before 0.2.
__getattr__ = moved_names(
    __name__,
    {"fold_temperature": "yolo_probs.calibration.fold", "trace_onnx": "yolo_probs.backends.engines.graph"},
)
