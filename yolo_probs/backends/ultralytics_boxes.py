"""Ultralytics detection and segmentation models: every kept box with its head's per-class logits, by index.

:class:`BoxCapture` instruments one Ultralytics predictor (the one that runs: the predictor deep-copies
the model) in three places, and changes none of its results:

1. a forward hook on the ``Detect``/``Segment`` head keeps its raw class logits ``(B, C, anchors)``,
   from the branch Ultralytics decodes (``one2one`` for an end-to-end YOLO26 head, else ``one2many``);
2. on an end-to-end head, ``get_topk_index`` is wrapped to keep the anchor of each of its ``max_det`` rows;
3. ``postprocess`` runs Ultralytics' own with ``return_idxs`` on (its ReID-feature path), so non-maximum
   suppression (or the end-to-end confidence filter) says which anchor or row each kept box came from;
   a segmentation model's drop of boxes whose mask is empty is followed, so the indices stay aligned.

Each result then carries ``(anchor indices, logits (N, C))`` in the order of ``results.boxes``: nothing is
matched by coordinates. :class:`UltralyticsBoxes` is the backend that runs such a predictor.

Example:
    >>> from yolo_probs.backends import BackendOptions
    >>> from yolo_probs.backends.ultralytics_boxes import UltralyticsBoxes
    >>> import cv2
    >>> b = UltralyticsBoxes("yolo26n.yaml", BackendOptions(device="cpu", imgsz=320), conf=0.001)
    >>> out = b.run_boxes([cv2.imread("examples/images/digit_3.png")])[0]
    >>> out.logits.shape[1], len(out.result.boxes) == out.logits.shape[0]
    (80, True)
    >>> b.close()
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.backends.base import BackendOptions, BackendOutput
from yolo_probs.backends.identify import ultralytics_task
from yolo_probs.backends.ultralytics import _load_named, check_options
from yolo_probs.core.boxes import TASKS
from yolo_probs.core.names import load_names
from yolo_probs.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ultralytics import YOLO

__all__ = ["BoxCapture", "BoxOutput", "UltralyticsBoxes", "check_selection", "load_detector"]


@dataclass(frozen=True)
class BoxOutput:
    """One image's kept boxes and their logits.

    Attributes:
        result: Ultralytics' own ``Results`` for the image (``result.boxes``, ``result.masks`` ...).
        anchors: ``(N,)`` the anchor each box came from, in the order of ``result.boxes``.
        logits: ``(N, C)`` float32 pre-sigmoid class logits of those anchors.
    """

    result: Any
    anchors: np.ndarray
    logits: np.ndarray


class _NoFeats:
    """Stands in for ``predictor._feats`` so that Ultralytics' ``postprocess`` returns NMS indices."""


_NO_FEATS = _NoFeats()


class BoxCapture:
    """Per-box logits from an Ultralytics detection/segmentation predictor whose model is set up.

    After each ``postprocess`` every result has ``result.yolo_probs_boxes`` = ``(anchors, logits)``.
    :meth:`close` puts the predictor back as it was.
    """

    def __init__(self, predictor: Any) -> None:
        from ultralytics.nn.modules.head import Detect

        module = predictor.model.model
        head = getattr(module, "model", [None])[-1] if hasattr(module, "model") else None
        if not isinstance(head, Detect):
            raise ModelError(
                f"{getattr(predictor.model, 'format', 'this')} model has no PyTorch detection head to read; "
                "pass the .pt checkpoint or model YAML"
            )
        self.predictor = predictor
        self.head = head
        self._local = threading.local()
        self._hook = head.register_forward_hook(self._on_head)
        wrapped = ("postprocess", "get_obj_feats", "construct_result")
        self._own = {name: predictor.__dict__.get(name) for name in wrapped}
        self._topk = head.__dict__.get("get_topk_index")
        original_topk = head.get_topk_index
        original_post, original_feats = predictor.postprocess, predictor.get_obj_feats
        original_result = predictor.construct_result

        def get_topk_index(scores: Any, max_det: int) -> Any:
            out = original_topk(scores, max_det)
            self._local.rows = out[2]  # (B, k): the anchor of each end-to-end row
            return out

        def get_obj_feats(feat_maps: Any, idxs: Any) -> Any:
            self._local.keep = list(idxs)
            return [None] * len(idxs) if feat_maps is _NO_FEATS else original_feats(feat_maps, idxs)

        def construct_result(pred: Any, *args: Any) -> Any:
            return self._construct(original_result, pred, *args)

        def postprocess(preds: Any, img: Any, orig_imgs: Any, **kwargs: Any) -> Any:
            return self._postprocess(original_post, preds, img, orig_imgs, **kwargs)

        setattr(head, "get_topk_index", get_topk_index)  # noqa: B010  (on this instance only)
        setattr(predictor, "get_obj_feats", get_obj_feats)  # noqa: B010
        setattr(predictor, "construct_result", construct_result)  # noqa: B010
        setattr(predictor, "postprocess", postprocess)  # noqa: B010

    def _on_head(self, module: Any, inputs: Any, output: Any) -> None:
        if not isinstance(output, tuple) or not isinstance(output[-1], dict):
            return  # export mode: no raw predictions
        preds = output[-1]
        branch = preds["one2one" if module.end2end else "one2many"] if "one2one" in preds else preds
        self._local.logits = branch["scores"].detach()  # (B, C, anchors), before Ultralytics' sigmoid

    def _postprocess(self, original: Any, preds: Any, img: Any, orig_imgs: Any, **kwargs: Any) -> Any:
        p = self.predictor
        fake = getattr(p, "_feats", None) is None
        local = self._local
        local.rows, local.keep, local.kept = None, None, []
        if fake:
            p._feats = _NO_FEATS
        try:
            results = original(preds, img, orig_imgs, **kwargs)
        finally:
            if fake:
                p._feats = None
        logits = getattr(local, "logits", None)
        if logits is None or local.keep is None:
            raise ModelError("the detection head's logits were not captured; pass a PyTorch (.pt or YAML) model")
        for b, result in enumerate(results):
            if fake and hasattr(result, "feats"):
                del result.feats
            keep = local.keep[b].view(-1).long()
            kept = local.kept[b] if b < len(local.kept) else None
            if kept is not None:
                keep = keep[kept.to(keep.device)]
            anchors = local.rows[b][keep.to(local.rows.device)] if local.rows is not None else keep
            rows = logits[b][:, anchors.to(logits.device)].T.float().cpu().numpy()
            result.yolo_probs_boxes = (anchors.cpu().numpy(), rows)
        return results

    def _construct(self, original: Any, pred: Any, *args: Any) -> Any:
        """Ultralytics' ``construct_result``; for segmentation, which rows its empty-mask filter kept."""
        p = self.predictor
        segment = p.args.task == "segment" and len(args) == 4 and p._feats is _NO_FEATS
        if not segment or pred.shape[0] == 0:
            self._local.kept.append(None)
            return original(pred, *args)
        before = pred.clone()
        p._feats = None  # Ultralytics drops boxes with an empty mask unless ReID features are on: keep its own rule
        try:
            result = original(pred, *args)
        finally:
            p._feats = _NO_FEATS
        kept = None
        if len(result.boxes) != before.shape[0]:
            kept = _nonempty_masks(p, before, *args)
        self._local.kept.append(kept)
        return result

    def close(self) -> None:
        """Remove the hook and the wrappers."""
        self._hook.remove()
        for name, value in self._own.items():
            if value is None:
                self.predictor.__dict__.pop(name, None)
            else:
                setattr(self.predictor, name, value)
        if self._topk is None:
            self.head.__dict__.pop("get_topk_index", None)
        else:
            setattr(self.head, "get_topk_index", self._topk)  # noqa: B010


def _nonempty_masks(p: Any, pred: Any, img: Any, orig_img: Any, path: Any, proto: Any) -> Any:
    """The rows whose mask is not empty, computed as Ultralytics' ``SegmentationPredictor.construct_result`` does."""
    from ultralytics.utils import ops

    if p.args.retina_masks:
        boxes = ops.scale_boxes(img.shape[2:], pred[:, :4].clone(), orig_img.shape)
        masks = ops.process_mask_native(proto, pred[:, 6:], boxes, orig_img.shape[:2])
    else:
        masks = ops.process_mask(proto, pred[:, 6:], pred[:, :4], img.shape[2:], upsample=True)
    return masks.amax((-2, -1)) > 0


def load_detector(model: str | os.PathLike[str] | YOLO) -> YOLO:
    """Load an Ultralytics detection or segmentation model; :class:`ModelError` for any other task.

    Example:
        >>> load_detector("examples/models/digits-yolo26n-cls.pt")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ModelError: examples/models/digits-yolo26n-cls.pt is a 'classify' model, not a ...
    """
    from ultralytics import YOLO

    if isinstance(model, YOLO):
        yolo, name = model, str(getattr(model, "ckpt_path", None) or getattr(model, "model_name", None) or "the model")
    else:
        name = os.fspath(model)
        yolo = _load_named(name)
    if yolo.task not in ("detect", "segment"):
        raise ModelError(
            f"{name} is a {yolo.task!r} model, not a detection or segmentation model; "
            "pass a detection model such as yolo26n.pt or a -seg model",
            option="model",
        )
    return yolo


class UltralyticsBoxes:
    """Runs an Ultralytics detection/segmentation model through its own predictor, with :class:`BoxCapture`.

    Args:
        model: checkpoint path, model YAML or a loaded ``ultralytics.YOLO`` of task detect or segment.
        options: ``imgsz``, ``device``, ``batch``, ``half`` and ``names`` apply.
        conf, iou, max_det: Ultralytics' own box selection (None keeps Ultralytics' defaults).
    """

    name = "ultralytics-boxes"
    folded_temperature: float | None = None

    @classmethod
    def can_load(cls, model: Any, options: BackendOptions) -> bool:
        """Ultralytics ``detect``/``segment`` objects, checkpoints and YAMLs (read without loading them twice)."""
        if options.engine not in (None, "torch"):
            return False
        if isinstance(model, str | os.PathLike):
            return ultralytics_task(model) in TASKS
        return type(model).__module__.split(".", 1)[0] == "ultralytics" and getattr(model, "task", None) in TASKS

    def __init__(
        self,
        model: Any,
        options: BackendOptions,
        *,
        conf: float | None = None,
        iou: float | None = None,
        max_det: int | None = None,
    ) -> None:
        check_options(options)
        self.yolo = load_detector(model)
        self.task: str = str(self.yolo.task)
        own = self.yolo.names
        self.names: tuple[str, ...] = load_names(options.names, len(own), default=own)
        self.options = options
        self.selection = check_selection(conf, iou, max_det)
        self._predictor: Any = None
        self._capture: BoxCapture | None = None
        self._lock = threading.Lock()

    @property
    def device_type(self) -> str:
        """``"cuda"`` or ``"cpu"``: where the predictor runs (sets it up if needed)."""
        return str(self.predictor().device.type)

    def predictor(self) -> Any:
        """Ultralytics' predictor (set up, with the capture, on first use)."""
        if self._predictor is None:
            cls = self.yolo.task_map[self.task]["predictor"]
            opts = self.options
            chosen = {"imgsz": opts.imgsz, "device": opts.device, "half": opts.half or None, **self.selection}
            overrides = {  # YOLO.predict's own defaults (rect: minimal letterbox padding), then the options
                **self.yolo.overrides,
                "conf": 0.25,
                "batch": opts.batch,
                "save": False,
                "mode": "predict",
                "rect": True,
                "embed": None,
                "verbose": False,
                **{k: v for k, v in chosen.items() if v is not None},
            }
            predictor = cls(overrides=overrides, _callbacks=None)
            predictor.setup_model(model=self.yolo.model, verbose=False)
            self._capture = BoxCapture(predictor)
            self._predictor = predictor
        return self._predictor

    def run_boxes(self, images: Sequence[np.ndarray]) -> list[BoxOutput]:
        """BGR frames -> Ultralytics' results with each box's anchor and logits, in ``results.boxes`` order."""
        with self._lock:  # one predictor, one batch at a time (its source and batch state are shared)
            predictor = self.predictor()
            results = predictor(source=list(images), stream=False)
            outs = []
            for r in results:
                anchors, logits = r.__dict__.pop("yolo_probs_boxes")
                outs.append(BoxOutput(r, anchors, logits))
            return outs

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """Not for boxes: a detector gives a variable number of boxes per image (use :meth:`run_boxes`)."""
        raise ConfigError("a detection model gives boxes, not one row of logits per image; use run_boxes")

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        """Not for boxes (see :meth:`run`)."""
        raise ConfigError("a detection model takes images, not a tensor batch, in yolo-probs; pass images")

    def close(self) -> None:
        """Remove the capture and drop the predictor; a later call sets them up again."""
        with self._lock:
            if self._capture is not None:
                self._capture.close()
            self._capture = None
            self._predictor = None


def check_selection(conf: Any, iou: Any, max_det: Any) -> dict[str, Any]:
    """Ultralytics' box-selection options, checked: conf and iou in [0, 1], max_det a whole number >= 1."""
    for name, value in (("conf", conf), ("iou", iou)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1):
            raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}; pass e.g. 0.25", option=name)
    if max_det is not None and (isinstance(max_det, bool) or not isinstance(max_det, int) or max_det < 1):
        raise ConfigError(f"max_det must be a whole number >= 1, got {max_det!r}; pass e.g. 300", option="max_det")
    return {"conf": conf, "iou": iou, "max_det": max_det}
