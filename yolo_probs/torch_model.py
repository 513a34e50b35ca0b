"""Any ``torch.nn.Module`` classifier: explicit preprocessing, logits captured from its head by a hook.

Example:
    >>> import numpy as np, torch
    >>> from yolo_probs.preprocess import Preprocess
    >>> from yolo_probs.torch_model import TorchBackend
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    >>> backend = TorchBackend(net, preprocess=Preprocess.imagenet(16), device="cpu")
    >>> logits, how = backend.logits([np.zeros((20, 20, 3), np.uint8)])
    >>> backend.layer_name, logits.shape, how
    ('2', (1, 4), 'hook')
"""

from __future__ import annotations

import copy
import importlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.capture import LogitCapture, find_logits_layer
from yolo_probs.errors import ModelError
from yolo_probs.names import load_names, names_of
from yolo_probs.preprocess import Preprocess

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


def load_module(spec: str | os.PathLike[str]) -> nn.Module | None:
    """Load a plain PyTorch classifier from the command line's ``--model`` text, or return None.

    ``package.module:factory`` imports ``factory`` and calls it with no arguments if it is not already a
    module (``torchvision.models:resnet18`` builds an untrained resnet18). A ``.pt``/``.pth`` file that
    holds a whole pickled ``nn.Module`` (``torch.save(model, path)``) is loaded as is. Anything else,
    including an Ultralytics checkpoint, gives None so the caller uses the Ultralytics path.
    """
    from torch import nn

    text = os.fspath(spec)
    path = Path(text)
    if ":" in text and not path.exists() and "/" not in text.split(":", 1)[0] and "://" not in text:
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
    if path.suffix.lower() in {".pt", ".pth"} and path.is_file():
        import torch

        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception:
            return None  # let the Ultralytics loader report the problem in its own words
        if isinstance(obj, nn.Module) and not type(obj).__module__.startswith("ultralytics"):
            return obj
    return None


class TorchBackend:
    """Runs a plain ``nn.Module`` classifier and captures the output of its logits layer.

    Args:
        module: the classifier; a deep copy is put in eval mode, so the caller's module is left as it is.
        layer: name of the layer whose output are the logits (see :func:`find_logits_layer` for the
            order it is otherwise looked for in).
        preprocess: how frames become the input batch; default :meth:`Preprocess.imagenet` at ``imgsz``.
        names: class names (list, mapping or file); default: the module's own, else indices.
        imgsz: input size for the default preprocessing (224 when None).
        device: ``"cpu"``, ``"0"``, ``"cuda:0"``...
    """

    logits_source = "hook"

    def __init__(
        self,
        module: nn.Module,
        *,
        layer: str | None = None,
        preprocess: Preprocess | None = None,
        names: Any = None,
        imgsz: int | None = None,
        device: str | None = None,
    ) -> None:
        import torch

        self.device = torch_device(device)
        self.module = copy.deepcopy(module).eval().to(self.device)
        self.layer_name, head = find_logits_layer(self.module, layer)
        self.preprocess = preprocess or Preprocess.imagenet(imgsz or 224)
        self._capture = LogitCapture(head)
        out_features = getattr(head, "out_features", None)
        if not isinstance(out_features, int):  # not an nn.Linear: learn the width from one blank pass
            size = self.preprocess.size
            out_features = int(self.logits_tensor(torch.zeros(1, 3, size, size, device=self.device)).shape[1])
        self.num_classes = out_features
        self.names = load_names(names, out_features, default=names_of(module))

    def logits_tensor(self, batch: torch.Tensor) -> np.ndarray:
        """Run a preprocessed (N, 3, H, W) batch and return the captured (N, C) logits as float32."""
        import torch

        with torch.inference_mode():
            self.module(batch.to(self.device, torch.float32))
        out = self._capture.pop()
        if out.ndim != 2 or out.shape[0] != batch.shape[0]:
            raise ModelError(
                f"layer {self.layer_name!r} outputs shape {tuple(out.shape)}, not [batch, classes]; "
                "pass layer=NAME of the final linear layer"
            )
        return out.float().cpu().numpy()

    def logits_array(self, batch: np.ndarray) -> tuple[np.ndarray, str]:
        """A preprocessed (N, 3, H, W) float32 batch -> ((N, C) logits, how they were obtained)."""
        import torch

        return self.logits_tensor(torch.from_numpy(np.ascontiguousarray(batch))), self.logits_source

    def logits(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, str]:
        """BGR frames -> ((N, C) float32 logits, how they were obtained)."""
        return self.logits_array(self.preprocess(images))

    def close(self) -> None:
        """Remove the hook."""
        self._capture.close()
