"""Backends: one class per kind of model, behind one interface (see :mod:`yolo_probs.backends.base`).

One module per kind of model: :mod:`~yolo_probs.backends.ultralytics` (Ultralytics' own predictor,
hooked), :mod:`~yolo_probs.backends.torch_module` (any ``torch.nn.Module``),
:mod:`~yolo_probs.backends.exported` (ONNX and TorchScript files), and the fast CPU engines under
:mod:`yolo_probs.backends.engines` (ONNX Runtime, OpenVINO, ``auto``). They are listed, in the order
they are asked, in :data:`~yolo_probs.backends.base.BACKENDS`; their modules import torch, ONNX
Runtime, OpenVINO and Ultralytics only when a model is loaded. To add an engine, write a module with
one :class:`~yolo_probs.backends.engines.base.EngineFactory` subclass and a module-level instance of
it (``ENGINE = MyEngine()``, as in :mod:`~yolo_probs.backends.engines.ort`), and add one line naming
that instance (``"module:ENGINE"``) to that table.

Example:
    >>> from yolo_probs.backends import BACKENDS
    >>> list(BACKENDS)
    ['onnxruntime', 'openvino', 'auto', 'onnx', 'torchscript', 'torch-module', 'ultralytics-boxes', 'ultralytics']
"""

from __future__ import annotations

from yolo_probs._util.deprecation import moved_names, no_longer_needed
from yolo_probs.backends.base import (
    BACKENDS,
    Backend,
    BackendFactory,
    BackendOptions,
    BackendOutput,
    register_backend,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendFactory",
    "BackendOptions",
    "BackendOutput",
    "register_backend",
    "resolve_backend",
]

# Before 0.2: MAX_IMGSZ lived here, and load_builtin() had to be called (or edited) before use.
__getattr__ = moved_names(__name__, {"MAX_IMGSZ": "yolo_probs.inputs.preprocess"})
load_builtin = no_longer_needed(
    __name__, "load_builtin", "the built-in backends load on first use (add your own with register_backend)"
)
