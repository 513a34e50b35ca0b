"""Plugin mode: temperature-scaled probabilities inside an existing ``ultralytics.YOLO`` object.

After :func:`attach`, ``model(img)[0].probs`` holds ``softmax(logits / T)``, so Ultralytics' own
``plot()``, ``save`` and ``show`` use it; each result also carries ``.logits`` (the raw logits as a
tensor) and ``.temperature``. :func:`detach` removes the callbacks and the hook.

Example:
    >>> from ultralytics import YOLO
    >>> import yolo_probs
    >>> model = yolo_probs.attach(YOLO("examples/models/digits-yolo26n-cls.pt"), temperature=2.0)
    >>> r = model("examples/images/digit_7.png", verbose=False)[0]
    >>> r.temperature, r.logits.shape
    (2.0, torch.Size([10]))
    >>> yolo_probs.detach(model)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yolo_probs.backends.ultralytics import load_classifier
from yolo_probs.capture import LogitCapture, find_logits_layer
from yolo_probs.errors import ModelError
from yolo_probs.probs import check_temperature, softmax

if TYPE_CHECKING:
    from ultralytics import YOLO

__all__ = ["attach", "detach"]

_STATE = "_yolo_probs_plugin"


class _Plugin:
    """The callbacks attached to one YOLO object, and the hook they keep on its live predictor."""

    def __init__(self, temperature: float) -> None:
        self.temperature = temperature
        self.capture: LogitCapture | None = None
        self.predictor_id: int | None = None

    def on_predict_start(self, predictor: Any) -> None:
        # The predictor deep-copies the model, so hook the copy that runs, once per predictor.
        if self.capture is not None and self.predictor_id == id(predictor) and self.capture.active:
            return
        self.close()
        from torch import nn

        module = predictor.model.model
        if not isinstance(module, nn.Module):
            raise ModelError(f"{predictor.model.format} models have no PyTorch layer to hook; attach to a .pt model")
        _, layer = find_logits_layer(module)
        self.capture = LogitCapture(layer)
        self.predictor_id = id(predictor)

    def on_predict_postprocess_end(self, predictor: Any) -> None:
        if self.capture is None:
            return
        logits = self.capture.pop()
        probs = softmax(logits.float(), self.temperature)
        for result, row, p in zip(predictor.results, logits, probs, strict=True):
            result.update(probs=p.to(result.probs.data.dtype))
            result.logits = row
            result.temperature = self.temperature

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
        self.capture = None
        self.predictor_id = None


def attach(model: YOLO, temperature: float = 1.0) -> YOLO:
    """Make ``model``'s results carry temperature-scaled probabilities; returns ``model``.

    Calling it again on the same model only changes the temperature.
    """
    t = check_temperature(temperature)
    load_classifier(model)  # checks that it is a classifier
    plugin = getattr(model, _STATE, None)
    if isinstance(plugin, _Plugin):
        plugin.temperature = t
        return model
    plugin = _Plugin(t)
    model.add_callback("on_predict_start", plugin.on_predict_start)
    model.add_callback("on_predict_postprocess_end", plugin.on_predict_postprocess_end)
    object.__setattr__(model, _STATE, plugin)
    return model


def detach(model: YOLO) -> None:
    """Undo :func:`attach`: Ultralytics' own probabilities come back and the hook is removed."""
    plugin = getattr(model, _STATE, None)
    if not isinstance(plugin, _Plugin):
        return
    for event in ("on_predict_start", "on_predict_postprocess_end"):
        handlers = model.callbacks.get(event, [])
        for handler in [h for h in handlers if getattr(h, "__self__", None) is plugin]:
            handlers.remove(handler)
    plugin.close()
    object.__delattr__(model, _STATE)
