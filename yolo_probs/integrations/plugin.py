"""Plugin mode: temperature-scaled probabilities inside an existing ``ultralytics.YOLO`` object.

After :func:`attach`, ``model(img)[0].probs`` holds ``softmax(logits / T)`` (or a profile's
calibrated probabilities), so Ultralytics' own ``plot()``, ``save`` and ``show`` use it; each result
also carries ``.logits`` (the raw logits as a tensor), ``.temperature`` and ``.prediction`` (the
yolo-probs :class:`~yolo_probs.core.prediction.Prediction`, with the profile's decisions: ``ood_score``,
``unknown``, ``set``). :func:`detach` removes the callbacks and the hook.

On a detection or segmentation model each result instead gains ``.detections`` (a
:class:`~yolo_probs.core.boxes.Detections`: every box of ``result.boxes``, in its order, with its sigmoid
scores, logits and calibrated class distribution) and its ``result.boxes`` gains ``.logits``, ``.scores``
and ``.probs`` tensors ``(N, C)``; Ultralytics' own boxes, classes and confidences are unchanged.

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

import os
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from yolo_probs.api.profile import load_profile
from yolo_probs.backends.base import BackendOutput
from yolo_probs.backends.identify import is_ultralytics
from yolo_probs.backends.ultralytics import load_classifier
from yolo_probs.backends.ultralytics_boxes import BoxCapture
from yolo_probs.calibration import TemperatureScaling
from yolo_probs.core.boxes import TASKS, Detections
from yolo_probs.core.capture import LogitCapture, find_logits_layer
from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions import decisions_from_profile
from yolo_probs.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from ultralytics import YOLO

    from yolo_probs.calibration import Calibrator

__all__ = ["attach", "detach"]

_STATE = "_yolo_probs_plugin"


class _Plugin:
    """The callbacks attached to one YOLO object, and the hook they keep on its live predictor."""

    def __init__(self, calibrator: Calibrator, decisions: list[Any]) -> None:
        self.calibrator = calibrator
        self.decisions = decisions
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
        logits, feats = self.capture.pop_with_input()
        needs = any(getattr(d, "needs_features", False) for d in self.decisions)
        out = BackendOutput(
            logits.float().cpu().numpy(),
            "hook",
            feats.float().flatten(1).cpu().numpy() if needs and feats is not None else None,
        )
        names = (
            tuple(predictor.model.names.values())
            if isinstance(predictor.model.names, dict)
            else tuple(predictor.model.names)
        )
        paths = [getattr(r, "path", "") for r in predictor.results]
        preds = [
            Prediction.from_logits(row, names, top_k=5, source=str(path), calibrator=self.calibrator)
            for row, path in zip(out.logits, paths, strict=True)
        ]
        for rule in self.decisions:
            preds = rule.apply(preds, out)
        t = self.calibrator.temperature if self.calibrator.temperature is not None else 1.0
        for result, row, pred in zip(predictor.results, logits, preds, strict=True):
            import torch

            result.update(probs=torch.from_numpy(pred.probs).to(result.probs.data))
            result.logits = row
            result.temperature = t
            result.prediction = pred

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
        self.capture = None
        self.predictor_id = None


class _BoxPlugin:
    """The callbacks attached to one YOLO detection object, and the box capture on its live predictor."""

    def __init__(self, calibrator: Calibrator) -> None:
        self.calibrator = calibrator
        self.decisions: list[Any] = []
        self.capture: BoxCapture | None = None
        self.predictor_id: int | None = None

    def on_predict_start(self, predictor: Any) -> None:
        # The predictor deep-copies the model, so instrument the predictor that runs, once per predictor.
        if self.capture is not None and self.predictor_id == id(predictor):
            return
        self.close()
        self.capture = BoxCapture(predictor)
        self.predictor_id = id(predictor)

    def on_predict_postprocess_end(self, predictor: Any) -> None:
        if self.capture is None:
            return
        import torch

        names = predictor.model.names
        names = tuple(names.values()) if isinstance(names, dict) else tuple(names)
        for result in predictor.results:
            captured = result.__dict__.pop("yolo_probs_boxes", None)
            if captured is None:
                continue
            boxes = result.boxes
            d = Detections.from_logits(
                boxes.xyxy.float().cpu().numpy(),
                boxes.conf.float().cpu().numpy(),
                boxes.cls.cpu().numpy().astype("int64"),
                captured[1],
                names,
                shape=(int(result.orig_shape[0]), int(result.orig_shape[1])),
                source=str(getattr(result, "path", "")),
                task=predictor.args.task,
                calibrator=self.calibrator,
            )
            arrays = d.arrays()
            for key in ("logits", "scores", "probs"):
                setattr(boxes, key, torch.from_numpy(arrays[key]).to(boxes.data.device))
            result.detections = d
            result.temperature = d.temperature

    def close(self) -> None:
        if self.capture is not None:
            self.capture.close()
        self.capture = None
        self.predictor_id = None


def attach(
    model: YOLO,
    temperature: float | None = None,
    *,
    profile: str | os.PathLike[str] | None = None,
    calibrator: Calibrator | None = None,
) -> YOLO:
    """Make ``model``'s results carry calibrated probabilities; returns ``model``.

    Args:
        model: a loaded ``ultralytics.YOLO`` classifier, detection or segmentation model.
        temperature: T > 0 (1 when neither it nor a profile or calibrator is given).
        profile: a deployment profile: its calibrator and decision rules are applied (its model is
            not loaded: ``model`` is used as is). ``temperature`` overrides its calibrator.
        calibrator: a fitted calibrator (see :mod:`yolo_probs.calibration`) instead of ``temperature``.

    Calling it again on the same model only changes the calibration and decisions.
    """
    _check_model(model)
    if temperature is not None and calibrator is not None:
        raise ConfigError("pass temperature or calibrator, not both")
    if calibrator is not None and not callable(getattr(calibrator, "probs", None)):
        raise ConfigError(
            f"calibrator must be a fitted calibrator (see yolo_probs.calibration), got {type(calibrator).__name__}; "
            "pass e.g. TemperatureScaling(1.5), or temperature=1.5",
            option="calibrator",
        )
    decisions: list[Any] = []
    if temperature is not None:
        calibrator = TemperatureScaling(temperature)
    if profile is not None:
        saved = load_profile(profile, check_model=False)
        calibrator = calibrator or saved.model_kwargs()["calibrator"]
        names = model.names.values() if isinstance(model.names, dict) else model.names
        # rules check the calibrator they were fitted at against the one in use (never mixed)
        decisions = decisions_from_profile(saved, SimpleNamespace(calibrator=calibrator, names=tuple(names)))
    cal: Calibrator = calibrator or TemperatureScaling(1.0)
    if getattr(model, "task", None) in TASKS:
        return _attach_boxes(model, cal, decisions)
    load_classifier(model)  # checks that it is a classifier
    plugin = getattr(model, _STATE, None)
    if isinstance(plugin, _Plugin):
        plugin.calibrator, plugin.decisions = cal, decisions
        return model
    plugin = _Plugin(cal, decisions)
    model.add_callback("on_predict_start", plugin.on_predict_start)
    model.add_callback("on_predict_postprocess_end", plugin.on_predict_postprocess_end)
    object.__setattr__(model, _STATE, plugin)
    return model


def _attach_boxes(model: YOLO, calibrator: Calibrator, decisions: list[Any]) -> YOLO:
    """:func:`attach` for a detection or segmentation model (decision rules are for classifiers)."""
    if decisions:
        raise ConfigError(
            f"the profile's decision rules apply to classifiers; this is a {model.task!r} model: use a profile "
            "without decisions",
            option="profile",
        )
    plugin = getattr(model, _STATE, None)
    if isinstance(plugin, _BoxPlugin):
        plugin.calibrator = calibrator
        return model
    plugin = _BoxPlugin(calibrator)
    model.add_callback("on_predict_start", plugin.on_predict_start)
    model.add_callback("on_predict_postprocess_end", plugin.on_predict_postprocess_end)
    object.__setattr__(model, _STATE, plugin)
    return model


def _check_model(model: Any) -> None:
    """ConfigError naming ``model`` unless it is a loaded ``ultralytics.YOLO`` object (a path is not loaded for you)."""
    if is_ultralytics(model) and callable(getattr(model, "add_callback", None)):
        return
    if isinstance(model, str | os.PathLike):
        raise ConfigError(
            f"model must be a loaded ultralytics.YOLO object, got the path {os.fspath(model)!r}; pass "
            f"YOLO({os.fspath(model)!r}), or use YoloProbs({os.fspath(model)!r}) to classify without Ultralytics' API",
            option="model",
        )
    raise ConfigError(
        f"model must be a loaded ultralytics.YOLO object, got {type(model).__name__}; pass e.g. YOLO('yolo26n-cls.pt')",
        option="model",
    )


def detach(model: YOLO) -> None:
    """Undo :func:`attach`: Ultralytics' own probabilities come back and the hook is removed.

    A model that was never attached is left as it is; anything but a ``YOLO`` object is a ConfigError.
    """
    _check_model(model)
    plugin = getattr(model, _STATE, None)
    if not isinstance(plugin, _Plugin | _BoxPlugin):
        return
    for event in ("on_predict_start", "on_predict_postprocess_end"):
        handlers = model.callbacks.get(event, [])
        for handler in [h for h in handlers if getattr(h, "__self__", None) is plugin]:
            handlers.remove(handler)
    plugin.close()
    object.__delattr__(model, _STATE)
