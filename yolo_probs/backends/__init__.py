"""Backends: one class per kind of model, behind one interface (see :mod:`yolo_probs.backends.base`).

One module per kind of model: :mod:`~yolo_probs.backends.ultralytics` (Ultralytics' own predictor,
hooked), :mod:`~yolo_probs.backends.torch_module` (any ``torch.nn.Module``),
:mod:`~yolo_probs.backends.exported` (ONNX and TorchScript files), and the fast CPU engines under
:mod:`yolo_probs.backends.engines` (ONNX Runtime, OpenVINO, ``auto``). They are listed, in the order
they are asked, in :data:`~yolo_probs.backends.base.BACKENDS`; their modules import torch, ONNX
Runtime, OpenVINO and Ultralytics only when a model is loaded. To add an engine, write a module with
one :class:`~yolo_probs.backends.engines.base.EngineFactory` subclass and add one line to that table.

Example:
    >>> from yolo_probs.backends import BACKENDS
    >>> list(BACKENDS)
    ['onnxruntime', 'openvino', 'auto', 'onnx', 'torchscript', 'torch-module', 'ultralytics']
"""

from __future__ import annotations

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
