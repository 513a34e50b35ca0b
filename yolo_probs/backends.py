"""Choose how a model is run: Ultralytics' predictor, a plain PyTorch module, or an exported graph.

:class:`~yolo_probs.model.YoloProbs` asks :func:`resolve_backend` first; None means "an Ultralytics
model", which keeps Ultralytics' own predictor. Every backend turns a list of BGR frames into an
``(N, C)`` logits array plus a string saying how the logits were obtained (``Prediction.logits_source``).

Example:
    >>> import torch
    >>> from yolo_probs.backends import resolve_backend
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2))
    >>> type(resolve_backend(net, device="cpu")).__name__, resolve_backend("yolo26n-cls.pt") is None
    ('TorchBackend', True)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from yolo_probs.preprocess import Preprocess

__all__ = ["Backend", "resolve_backend"]


class Backend(Protocol):
    """What :class:`~yolo_probs.model.YoloProbs` needs from a non-Ultralytics model."""

    names: tuple[str, ...]
    preprocess: Preprocess

    def logits(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, str]: ...

    def logits_array(self, batch: np.ndarray) -> tuple[np.ndarray, str]: ...

    def close(self) -> None: ...


def _is_ultralytics(model: Any) -> bool:
    return type(model).__module__.split(".", 1)[0] == "ultralytics"


def resolve_backend(
    model: Any,
    *,
    layer: str | None = None,
    preprocess: Preprocess | None = None,
    names: Any = None,
    imgsz: int | None = None,
    device: str | None = None,
) -> Backend | None:
    """A backend for ``model``, or None when it is an Ultralytics model (checkpoint, YAML, hub name, ``YOLO``).

    ``model`` may be an ``nn.Module``, an ``.onnx``/``.torchscript`` file, a ``.pt``/``.pth`` file holding
    a pickled ``nn.Module``, or ``package.module:factory``.
    """
    if _is_ultralytics(model):
        backend = None
    elif isinstance(model, str | os.PathLike):
        from yolo_probs.exported import EXPORTED_SUFFIXES, ExportedBackend

        if Path(model).suffix.lower() in EXPORTED_SUFFIXES:
            if layer is not None:
                raise ConfigError(
                    f"layer does not apply to exported model {os.fspath(model)}: it has no layers to hook"
                )
            return ExportedBackend(model, preprocess=preprocess, names=names, imgsz=imgsz, device=device)
        from yolo_probs.torch_model import TorchBackend, load_module

        module = load_module(model)
        backend = (
            None
            if module is None
            else TorchBackend(module, layer=layer, preprocess=preprocess, names=names, imgsz=imgsz, device=device)
        )
    else:
        from torch import nn

        from yolo_probs.torch_model import TorchBackend

        if not isinstance(model, nn.Module):
            raise ConfigError(
                f"model must be a path, a torch.nn.Module or an ultralytics.YOLO, got {type(model).__name__}"
            )
        return TorchBackend(model, layer=layer, preprocess=preprocess, names=names, imgsz=imgsz, device=device)
    if backend is None and (layer is not None or preprocess is not None):
        raise ConfigError(
            "layer and preprocessing options apply to plain PyTorch and exported models; "
            "an Ultralytics model uses its own head and transforms"
        )
    return backend
