"""Backends: one class per kind of model, behind one interface (see :mod:`yolo_probs.backends.base`).

The built-in backends are registered here, in the order they are asked: exported graphs by suffix
(ONNX, TorchScript), plain PyTorch modules, then Ultralytics (checkpoints, YAML, hub names, ``YOLO``).
The fast engines (ONNX Runtime, OpenVINO, ``auto``) come first, and before Ultralytics, whose
``can_load`` takes any path; they answer only when asked for by ``engine=``. Their modules import torch,
ONNX Runtime, OpenVINO and Ultralytics only when a model is loaded. To add an engine, write a module with one
:class:`~yolo_probs.backends._engine.EngineFactory` subclass and add one line to :func:`load_builtin`.

Example:
    >>> from yolo_probs.backends import BACKENDS, load_builtin
    >>> load_builtin()
    >>> [b.name for b in BACKENDS]
    ['onnxruntime', 'openvino', 'auto', 'onnx', 'torchscript', 'torch-module', 'ultralytics']
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
    from yolo_probs.backends.auto_engine import AutoEngine
    from yolo_probs.backends.exported import OnnxBackend, TorchScriptBackend
    from yolo_probs.backends.openvino_engine import OpenVinoEngine
    from yolo_probs.backends.ort_engine import OnnxRuntimeEngine
    from yolo_probs.backends.torch_module import TorchBackend
    from yolo_probs.backends.ultralytics import UltralyticsBackend

    # The engines answer only when engine= names them, and then before any other backend, so that an
    # engine asked for a model it cannot run says so instead of being ignored.
    for engine in (OnnxRuntimeEngine(), OpenVinoEngine(), AutoEngine()):
        register_backend(engine)
    for factory in (OnnxBackend, TorchScriptBackend, TorchBackend, UltralyticsBackend):
        register_backend(factory)
