"""Fold a calibrator into a copy of a PyTorch classifier, so the copy's logits give the calibrated probabilities.

Two ways: a temperature (:func:`fold_temperature`: weight and bias divided by ``T``) or an affine map
per class (:func:`fold_affine`, ``a * z + b``: vector scaling) goes into the final linear layer's
weight and bias at no runtime cost; any other map (Dirichlet, ETS) becomes a small module placed
right after the final layer (:func:`fold_head`, ``nn.Sequential(layer, head)``), which ONNX and
TorchScript export as a few extra graph operations.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> folded, name = fold_affine(net, torch.tensor([1.0, 2.0, 0.5]), torch.tensor([0.0, 1.0, -1.0]))
    >>> x = torch.randn(2, 4)
    >>> name, torch.allclose(folded(x), net(x) * torch.tensor([1.0, 2.0, 0.5]) + torch.tensor([0.0, 1.0, -1.0]))
    ('1', True)
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from yolo_probs.core.capture import find_logits_layer
from yolo_probs.core.probs import check_temperature
from yolo_probs.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

__all__ = ["fold_affine", "fold_head", "fold_temperature"]


def _head_of(module: nn.Module, layer: str | None, what: str, kinds: tuple[type, ...]) -> tuple[nn.Module, str, Any]:
    """A deep copy of ``module`` in eval mode, the name of its logits layer, and that layer (one of ``kinds``)."""
    folded = copy.deepcopy(module).eval()
    name, head = find_logits_layer(folded, layer)
    if not isinstance(head, kinds):
        raise ModelError(
            f"cannot fold {what} into layer {name!r} ({type(head).__name__}): it needs "
            f"{' or '.join(k.__name__ for k in kinds)}; pass layer=NAME of the final linear layer"
        )
    return folded, name, head


def fold_affine(module: nn.Module, scale: Any, shift: Any, layer: str | None = None) -> tuple[nn.Module, str]:
    """A deep copy of ``module`` whose logits layer outputs ``scale * logits + shift`` (per class); and its name.

    The layer must be an ``nn.Linear`` or a convolution (its output channels are the classes); a
    missing bias is added.
    """
    import torch
    from torch import nn

    folded, name, head = _head_of(module, layer, "a per-class scale", (nn.Linear, nn.Conv1d, nn.Conv2d))
    with torch.no_grad():
        w = head.weight
        a = torch.as_tensor(scale, dtype=w.dtype).reshape(-1)
        b = torch.as_tensor(shift, dtype=w.dtype).reshape(-1)
        if a.numel() != w.shape[0] or b.numel() != w.shape[0]:
            raise ModelError(f"layer {name!r} has {w.shape[0]} outputs but the calibrator has {a.numel()} classes")
        w.mul_(a.view(-1, *([1] * (w.ndim - 1))))
        if head.bias is None:
            head.bias = nn.Parameter(torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
        head.bias.mul_(a).add_(b)
    return folded, name


def fold_head(module: nn.Module, extra: nn.Module, what: str, layer: str | None = None) -> tuple[nn.Module, str]:
    """A deep copy of ``module`` whose final ``nn.Linear`` is followed by ``extra`` (logits -> calibrated logits)."""
    from torch import nn

    folded, name, head = _head_of(module, layer, what, (nn.Linear,))
    parent_name, _, child = name.rpartition(".")
    parent = folded.get_submodule(parent_name) if parent_name else folded
    setattr(parent, child, nn.Sequential(head, extra.to(head.weight.dtype).eval()))
    return folded, name


def fold_temperature(module: nn.Module, temperature: float, layer: str | None = None) -> tuple[nn.Module, str]:
    """A deep copy of ``module`` whose logits layer outputs ``logits / temperature``; returns ``(copy, layer name)``.

    The layer is found as :func:`~yolo_probs.core.capture.find_logits_layer` finds it and must be linear in
    its input with a weight (``nn.Linear`` or a convolution), so scaling weight and bias scales the output.
    """
    import torch
    from torch import nn

    t = check_temperature(temperature)
    folded, name, head = _head_of(module, layer, "a temperature", (nn.Linear, nn.Conv1d, nn.Conv2d))
    with torch.no_grad():
        head.weight.div_(t)
        if head.bias is not None:
            head.bias.div_(t)
    return folded, name
