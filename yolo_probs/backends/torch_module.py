"""Any ``torch.nn.Module`` classifier: explicit preprocessing, logits captured from its head by a hook.

Example:
    >>> import numpy as np, torch
    >>> from yolo_probs.backends import BackendOptions
    >>> from yolo_probs.inputs.preprocess import Preprocess
    >>> from yolo_probs.backends.torch_module import TorchBackend
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    >>> backend = TorchBackend(net, BackendOptions(preprocess=Preprocess.imagenet(16), device="cpu"))
    >>> out = backend.run([np.zeros((20, 20, 3), np.uint8)], features=True)
    >>> backend.layer_name, out.logits.shape, out.how, out.features.shape
    ('2', (1, 4), 'hook', (1, 3))
"""

from __future__ import annotations

import copy
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.backends.base import BackendOptions, BackendOutput
from yolo_probs.backends.identify import checkpoint_kind, is_ultralytics
from yolo_probs.core.capture import LogitCapture, find_logits_layer, linear_weights
from yolo_probs.core.names import load_names, names_of
from yolo_probs.errors import ModelError, first_line
from yolo_probs.inputs.preprocess import Preprocess

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch
    from torch import nn

__all__ = ["TorchBackend", "load_module", "torch_device"]


def torch_device(device: str | None) -> torch.device:
    """``None`` -> first CUDA GPU if there is one else CPU; ``"0"`` -> ``cuda:0``; else as given."""
    import torch

    if device is None or device == "":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    text = str(device).strip().lower()
    try:
        return torch.device(f"cuda:{text}" if text.isdigit() else text)
    except RuntimeError:
        raise ModelError(f"unknown device {device!r}; pass cpu, 0, cuda:0, ...") from None


def _import_factory(text: str) -> nn.Module:
    from torch import nn

    mod_name, _, attr = text.partition(":")
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"cannot import {text} ({exc}); pass package.module:factory of an nn.Module") from None
    if not isinstance(obj, nn.Module) and callable(obj):
        obj = obj()
    if not isinstance(obj, nn.Module):
        raise ModelError(f"{text} gave a {type(obj).__name__}, not a torch.nn.Module classifier")
    return obj


def _is_factory(text: str) -> bool:
    return ":" in text and not Path(text).exists() and "/" not in text.split(":", 1)[0] and "://" not in text


def load_module(spec: str | os.PathLike[str]) -> nn.Module | None:
    """Load a plain PyTorch classifier from the command line's ``--model`` text, or return None.

    ``package.module:factory`` imports ``factory`` and calls it with no arguments if it is not already a
    module (``torchvision.models:resnet18`` builds an untrained resnet18). A ``.pt``/``.pth`` file that
    holds a whole pickled ``nn.Module`` (``torch.save(model, path)``) is loaded as is. Anything else,
    including an Ultralytics checkpoint, gives None (and is not unpickled).
    """
    from torch import nn

    text = os.fspath(spec)
    if _is_factory(text):
        return _import_factory(text)
    if Path(text).is_file() and checkpoint_kind(text) == "module":
        import torch

        try:
            obj = torch.load(text, map_location="cpu", weights_only=False)
        except Exception as exc:
            first = first_line(exc)
            raise ModelError(f"cannot load {text} ({first}); pass a checkpoint saved with torch.save") from None
        if isinstance(obj, nn.Module):
            return obj
    return None


class TorchBackend:
    """Runs a plain ``nn.Module`` classifier and captures the output of its logits layer.

    Args:
        model: an ``nn.Module`` (a deep copy is put in eval mode, so the caller's module is left as it
            is), a ``.pt``/``.pth`` file holding a pickled module, or ``package.module:factory``.
        options: ``layer`` (the layer whose output are the logits; see :func:`find_logits_layer`),
            ``preprocess`` (default :meth:`Preprocess.imagenet` at ``imgsz``, 224 when None), ``names``
            (default: the module's own, else indices) and ``device`` apply.
    """

    name = "torch-module"
    folded_temperature: float | None = None

    @classmethod
    def can_load(cls, model: Any, options: BackendOptions) -> bool:
        """Plain ``nn.Module`` objects, pickled-module files and ``package.module:factory`` specs."""
        if isinstance(model, str | os.PathLike):
            text = os.fspath(model)
            return _is_factory(text) or (Path(text).is_file() and checkpoint_kind(text) == "module")
        if is_ultralytics(model):
            return False
        try:
            from torch import nn
        except ImportError:  # pragma: no cover - torch is a dependency
            return False
        return isinstance(model, nn.Module)

    def __init__(self, model: Any, options: BackendOptions) -> None:
        import torch

        module = model if not isinstance(model, str | os.PathLike) else load_module(model)
        if module is None:
            raise ModelError(f"{os.fspath(model)} does not hold a pickled torch.nn.Module")
        self.device = torch_device(options.device)
        self.device_type = self.device.type
        self.module = copy.deepcopy(module).eval().to(self.device)
        self.layer_name, self._head = find_logits_layer(self.module, options.layer)
        self.preprocess = options.preprocess or Preprocess.imagenet(options.imgsz or 224)
        self._capture: LogitCapture | None = None
        out_features = getattr(self._head, "out_features", None)
        if not isinstance(out_features, int):  # not an nn.Linear: learn the width from one blank pass
            size = self.preprocess.size
            probe = self.run_tensor(torch.zeros(1, 3, size, size, device=self.device))
            out_features = int(probe.logits.shape[1])
        self.num_classes = out_features
        self.names: tuple[str, ...] = load_names(options.names, out_features, default=names_of(module))

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        """Run a preprocessed (N, 3, H, W) batch (numpy or torch); the captured (N, C) logits as float32."""
        import torch

        if isinstance(batch, np.ndarray):
            batch = torch.from_numpy(np.ascontiguousarray(batch))
        if self._capture is None or not self._capture.active:  # after close(): hook the head again
            self._capture = LogitCapture(self._head)
        with torch.inference_mode():
            self.module(batch.to(self.device, torch.float32))
        out, feats = self._capture.pop_with_input()
        if out.ndim != 2 or out.shape[0] != batch.shape[0]:
            raise ModelError(
                f"layer {self.layer_name!r} outputs shape {tuple(out.shape)}, not [batch, classes]; "
                "pass layer=NAME of the final linear layer"
            )
        out_feats = feats.float().flatten(1).cpu().numpy() if features and feats is not None else None
        return BackendOutput(out.float().cpu().numpy(), "hook", out_feats)

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """BGR frames -> logits (and the features entering the final layer, if asked)."""
        return self.run_tensor(self.preprocess(images), features=features)

    def final_layer(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The final layer's ``(weight (C, D), bias (C,))`` when it is an ``nn.Linear``, else None."""
        return linear_weights(self._head)

    def close(self) -> None:
        """Remove the hook; a later :meth:`run` hooks the head again."""
        if self._capture is not None:
            self._capture.close()
