"""Backends: one class per kind of model, behind one interface (see :mod:`yolo_probs.backends.base`).

The built-in backends are registered here, in the order they are asked: exported graphs by suffix
(ONNX, TorchScript), plain PyTorch modules, then Ultralytics (checkpoints, YAML, hub names, ``YOLO``).
Their modules import torch, ONNX Runtime and Ultralytics only when a model is loaded. To add an engine,
write a module with one backend class and add one line to :func:`load_builtin`.

Example:
    >>> from yolo_probs.backends import BACKENDS, load_builtin
    >>> load_builtin()
    >>> [b.name for b in BACKENDS]
    ['onnx', 'torchscript', 'torch-module', 'ultralytics']
"""

from __future__ import annotations

from yolo_probs.backends.base import (
    BACKENDS,
    MAX_IMGSZ,
    Backend,
    BackendFactory,
    BackendOptions,
    BackendOutput,
    register_backend,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "MAX_IMGSZ",
    "Backend",
    "BackendFactory",
    "BackendOptions",
    "BackendOutput",
    "load_builtin",
    "register_backend",
    "resolve_backend",
]

_LOADED = False


def load_builtin() -> None:
    """Register the built-in backends once (importing their modules is cheap: no torch at import)."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from yolo_probs.backends.exported import OnnxBackend, TorchScriptBackend
    from yolo_probs.backends.torch_module import TorchBackend
    from yolo_probs.backends.ultralytics import UltralyticsBackend

    for factory in (OnnxBackend, TorchScriptBackend, TorchBackend, UltralyticsBackend):
        register_backend(factory)
