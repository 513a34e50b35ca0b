"""ONNX graphs of PyTorch classifiers: the logits graph the fast engines run, and the tracer every ONNX export uses.

:func:`export_logits_onnx` exports a classifier with two outputs, ``logits`` and ``features`` (the
input of the final layer), not the softmax Ultralytics exports end in. It is exported from the very
module the hook path runs (Ultralytics' fused copy), so both paths compute the same function.
:func:`trace_onnx` is the one call to ``torch.onnx.export`` (opset 17, input ``images``) that the
engine cache and :mod:`yolo_probs.export` share.

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    >>> export_logits_onnx(net, 8, Path(tempfile.mkdtemp()) / "logits.onnx")
    4
"""

from __future__ import annotations

import copy
import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING

from yolo_probs.core.capture import find_logits_layer

if TYPE_CHECKING:
    from pathlib import Path

    import torch
    from torch import nn

__all__ = ["export_logits_onnx", "trace_onnx"]


def export_logits_onnx(module: nn.Module, imgsz: int, path: Path, *, batch: int | None = None) -> int:
    """Export ``module`` as an ONNX graph with two outputs, ``logits`` and ``features``; returns the class count.

    The logits are the output of the final linear layer (found like the hook path finds it), the
    features its flattened input. ``batch`` None makes the batch axis dynamic. The module is deep
    copied, so the caller's model and hooks are untouched.
    """
    import torch
    from torch import nn

    # Copy without the caller's hooks (the hook path's capture holds thread-locals, which do not copy).
    stashed = {m: (m._forward_hooks, m._forward_pre_hooks) for m in module.modules()}
    try:
        for m in stashed:
            m._forward_hooks, m._forward_pre_hooks = OrderedDict(), OrderedDict()
        net = copy.deepcopy(module).float().cpu().eval()
    finally:
        for m, (hooks, pre_hooks) in stashed.items():
            m._forward_hooks, m._forward_pre_hooks = hooks, pre_hooks
    _, head = find_logits_layer(net)

    class LogitsGraph(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.seen: list[torch.Tensor] = []
            head.register_forward_hook(lambda m, i, o: self.seen.extend([o, i[0]]))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            self.seen.clear()
            self.net(x)
            logits, feats = self.seen[-2], self.seen[-1]
            return logits, feats.flatten(1)

    graph = LogitsGraph().eval()
    x = torch.zeros(batch or 1, 3, imgsz, imgsz)
    with torch.inference_mode():
        logits, _ = graph(x)
    if logits.ndim != 2:
        raise ValueError(f"the final layer outputs shape {list(logits.shape)}, not [batch, classes]")
    trace_onnx(graph, x, path, ["logits", "features"], batch=batch)
    return int(logits.shape[1])


def trace_onnx(graph: nn.Module, x: torch.Tensor, path: Path, outputs: list[str], *, batch: int | None = None) -> None:
    """Trace ``graph`` on ``x`` into an ONNX file (opset 17): input ``images``, then ``outputs``.

    The batch axis is dynamic unless ``batch`` fixes it (then ``x`` has that batch).
    """
    import torch

    axes = None if batch else {name: {0: "batch"} for name in ["images", *outputs]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow in Ultralytics' heads
        torch.onnx.export(
            graph,
            (x,),
            str(path),
            input_names=["images"],
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )
