"""Find the layer whose output are the logits, and capture that output with a forward hook.

Example:
    >>> import torch
    >>> from yolo_probs.core.capture import LogitCapture, find_logits_layer
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    >>> name, layer = find_logits_layer(net)
    >>> with LogitCapture(layer) as cap:
    ...     out = net(torch.ones(2, 4))
    ...     torch.equal(cap.pop(), out)
    True
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import torch
    from torch import nn
    from torch.utils.hooks import RemovableHandle

__all__ = ["LogitCapture", "find_logits_layer", "linear_weights"]


def find_logits_layer(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Module]:
    """Return ``(name, module)`` of the layer that outputs the logits of ``model``.

    Looked for in this order: the explicit ``layer`` name; ``model.get_classifier()`` (timm-style);
    Ultralytics' ``Classify.linear``; the last ``nn.Linear``. Raises :class:`ModelError` listing the
    candidates when none fits.
    """
    from torch import nn

    if not isinstance(model, nn.Module):
        raise ModelError(f"model must be a torch.nn.Module to find its logits layer, got {type(model).__name__}")
    if layer is not None and not isinstance(layer, str):
        raise ConfigError(f"layer must be the name of a layer (text), got {layer!r}; pass e.g. 'fc'", option="layer")
    names = {id(m): n for n, m in model.named_modules()}
    if layer is not None:
        try:
            return layer, model.get_submodule(layer)
        except AttributeError:
            raise ModelError(
                f"layer {layer!r} does not exist in {type(model).__name__}; candidates: {_candidates(model)}"
            ) from None
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        if isinstance(head, nn.Module) and id(head) in names:
            return names[id(head)], head
    for name, module in model.named_modules():
        linear = getattr(module, "linear", None)
        if type(module).__name__ == "Classify" and isinstance(linear, nn.Linear):
            return f"{name}.linear" if name else "linear", linear
    last = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if last:
        return last[-1]
    raise ModelError(
        f"{type(model).__name__} has no nn.Linear layer to read logits from; pass layer=NAME, one of: "
        f"{_candidates(model)}"
    )


def linear_weights(layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """``(weight (C, D), bias (C,))`` of an ``nn.Linear``-like layer as float64 arrays; None for any other layer.

    The unknown-input scores that recompute or decompose logits (ViM, ReAct) need them.

    Example:
        >>> import torch
        >>> w, b = linear_weights(torch.nn.Linear(4, 3))
        >>> w.shape, b.shape, linear_weights(torch.nn.Conv2d(1, 1, 1))
        ((3, 4), (3,), None)
    """
    weight, bias = getattr(layer, "weight", None), getattr(layer, "bias", None)
    if weight is None or getattr(weight, "ndim", 0) != 2:
        return None
    w = weight.detach().float().cpu().numpy().astype(np.float64)
    b = np.zeros(w.shape[0]) if bias is None else bias.detach().float().cpu().numpy().astype(np.float64)
    return w, b


def _candidates(model: nn.Module, limit: int = 12) -> str:
    """The last few leaf module names (the head is usually at the end), for error messages."""
    leaves = [n for n, m in model.named_modules() if n and not any(True for _ in m.children())]
    shown = leaves[-limit:]
    return ", ".join(shown) + (f" (and {len(leaves) - limit} earlier)" if len(leaves) > limit else "") or "none"


class LogitCapture:
    """A forward hook that keeps the latest output of one layer, separately for each thread.

    Each thread that runs the model reads back its own output with :meth:`pop`, so several threads
    can share one model. Only the latest output is kept (a warm-up pass is simply overwritten).
    Use as a context manager, or call :meth:`close`; the hook handle is always removed.
    """

    def __init__(self, module: nn.Module) -> None:
        if not callable(getattr(module, "register_forward_hook", None)):
            raise ModelError(f"module must be a torch.nn.Module to capture, got {type(module).__name__}")
        self.module = module
        self._local = threading.local()
        self._handle: RemovableHandle | None = module.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
        self._local.latest = output.detach()
        first: Any = inputs[0] if inputs else None
        self._local.latest_input = first.detach() if first is not None and hasattr(first, "detach") else None

    def pop(self) -> torch.Tensor:
        """Return and forget this thread's latest captured output; raises if there is none."""
        return self.pop_with_input()[0]

    def pop_with_input(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """This thread's latest ``(output, input)`` of the layer (the input are the features it maps to logits)."""
        latest = getattr(self._local, "latest", None)
        if latest is None:
            raise ModelError(
                f"no logits were captured from {type(self.module).__name__}: the layer did not run in this thread"
            )
        features = getattr(self._local, "latest_input", None)
        self._local.latest = self._local.latest_input = None
        return latest, features

    @property
    def active(self) -> bool:
        """Whether the hook is still registered."""
        return self._handle is not None

    def close(self) -> None:
        """Remove the hook; safe to call twice."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def __enter__(self) -> LogitCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
