"""Calibrate and evaluate the box confidence of a detection model on an Ultralytics detection dataset.

:func:`collect_boxes` runs the detector (Ultralytics' own box selection, its default ``conf`` 0.25
unless the model was built with another) over one split and matches each kept box to the ground truth
(IoU >= 0.5, same class, greedy by confidence as in COCO). :func:`calibrate_boxes` fits a box calibrator
(:mod:`yolo_probs.calibration.box_base`) on those boxes; :func:`evaluate_boxes` scores a calibrator on
another split. Both report, before (the model's ``conf``) and after (``conf_calibrated``): D-ECE (15
bins), LaECE (per class, IoU-weighted), mAP50 on the kept boxes, and the log loss of "this box is
correct". A profile never changes which boxes exist: only their calibrated confidence.

Example:
    >>> from yolo_probs.api.box_workflow import metrics_of
    >>> import numpy as np
    >>> m = metrics_of(np.array([0.9, 0.2]), np.array([0, 0]), np.array([True, False]), np.array([0.8, 0.0]),
    ...                np.array([0]), bins=15)
    >>> round(m["ece"], 3), round(m["map50"], 3)
    (0.15, 0.995)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.hashing import file_sha256
from yolo_probs.api.model import YoloProbs
from yolo_probs.api.profile import Profile
from yolo_probs.calibration.box_base import BoxCalibrator, BoxFeatures, fit_box_calibrator, log_loss
from yolo_probs.core.box_metrics import dece, laece, map50, match_boxes
from yolo_probs.core.boxes import TASKS, Detections
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.detection_data import DetectionData, data_notes, load_detection_data

__all__ = ["BoxCalibrationResult", "CollectedBoxes", "calibrate_boxes", "collect_boxes", "evaluate_boxes", "metrics_of"]


@dataclass
class CollectedBoxes:
    """Every box the detector kept on one split, matched to the ground truth.

    Attributes:
        data: the split read.
        features: what a box calibrator sees of each box.
        cls: ``(N,)`` predicted class; tp: ``(N,)`` matched; iou: ``(N,)`` IoU of the match (0 if none).
        gt_cls: ``(G,)`` classes of the ground-truth boxes of the images that were read.
        image: ``(N,)`` index in ``data.files`` of each box's image; gt_image: ``(G,)`` the same for ground truth.
        failures: one line per image that could not be read (skipped; the others are scored).
        images: images read.
    """

    data: DetectionData
    features: BoxFeatures
    cls: np.ndarray
    tp: np.ndarray
    iou: np.ndarray
    gt_cls: np.ndarray
    image: np.ndarray
    gt_image: np.ndarray
    failures: list[str] = field(default_factory=list)
    images: int = 0

    def subset(self, images: np.ndarray) -> CollectedBoxes:
        """The boxes and ground truth of the images whose indices ``images`` lists (e.g. a held-out half)."""
        keep, gt_keep = np.isin(self.image, images), np.isin(self.gt_image, images)
        return CollectedBoxes(
            self.data, self.features.subset(keep), self.cls[keep], self.tp[keep], self.iou[keep],
            self.gt_cls[gt_keep], self.image[keep], self.gt_image[gt_keep], [], len(images),
        )  # fmt: skip

    def counts(self) -> dict[str, int]:
        """Images, negatives (no labelled box), unlabelled, skipped, boxes, correct boxes, ground truth."""
        return {
            "images": self.images,
            "negatives": self.data.negatives,
            "unlabelled": self.data.unlabelled,
            "skipped": len(self.failures),
            "boxes": int(self.tp.size),
            "correct": int(self.tp.sum()),
            "ground_truth": int(self.gt_cls.size),
        }


def _check_detector(model: Any) -> None:
    if not isinstance(model, YoloProbs):
        raise ConfigError(f"model must be a YoloProbs on a detection model, got {type(model).__name__}", option="model")
    if model.task not in TASKS:
        raise ConfigError(
            f"box calibration needs a detection or segmentation model; this is a {model.task!r} model: pass a "
            "folder of class folders to calibrate a classifier",
            option="model",
        )


def collect_boxes(
    model: YoloProbs, data: DetectionData, progress: Callable[[int], None] | None = None
) -> CollectedBoxes:
    """Run ``model`` over ``data``'s images and match its boxes to the labels (unreadable images: skipped, listed)."""
    _check_detector(model)
    feats: list[Detections] = []
    cls, tp, iou, gt_cls, failures, image, gt_image = [], [], [], [], [], [], []
    for i, out in enumerate(model.predict_each(data.files)):
        if progress is not None:
            progress(1)
        if not isinstance(out, Detections):
            failures.append(str(out))
            continue
        h, w = out.shape
        gt = data.boxes[i] * np.array([w, h, w, h], dtype=np.float64)
        pred = np.array([b.xyxy for b in out.boxes], dtype=np.float64).reshape(-1, 4)
        pcls = np.array([b.cls for b in out.boxes], dtype=np.int64)
        t, q = match_boxes(pred, [b.conf for b in out.boxes], pcls, gt, data.classes[i])
        feats.append(out)
        cls.append(pcls)
        tp.append(t)
        iou.append(q)
        gt_cls.append(data.classes[i])
        image.append(np.full(len(pcls), i))
        gt_image.append(np.full(len(data.classes[i]), i))

    def cat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    return CollectedBoxes(
        data, BoxFeatures.from_detections(feats), cat(cls, np.int64), cat(tp, bool), cat(iou, np.float64),
        cat(gt_cls, np.int64), cat(image, np.int64), cat(gt_image, np.int64), failures, len(feats),
    )  # fmt: skip


def metrics_of(
    conf: np.ndarray, cls: np.ndarray, tp: np.ndarray, iou: np.ndarray, gt_cls: np.ndarray, bins: int = 15
) -> dict[str, float]:
    """``ece`` (D-ECE), ``laece``, ``map50`` and ``nll`` (log loss of correctness) of confidences ``conf``."""
    return {
        "ece": dece(conf, tp, bins),
        "laece": laece(conf, cls, iou, bins),
        "map50": map50(conf, cls, tp, gt_cls),
        "nll": log_loss(conf, tp) if conf.size else float("nan"),
        "mean_conf": float(conf.mean()) if conf.size else float("nan"),
        "precision": float(tp.mean()) if tp.size else float("nan"),
    }


@dataclass
class BoxCalibrationResult:
    """A box calibrator and its metrics before (model ``conf``) and after (``conf_calibrated``).

    Attributes:
        calibrator: the fitted (or evaluated) box calibrator.
        before, after: :func:`metrics_of` for the model's ``conf`` and for the calibrated confidences.
        collected: the matched boxes.
        details: what ``auto`` tried (``candidates``, ``chosen``); empty otherwise.
        warnings: lines to show (images without labels, clipped boxes ...).
        bins: the bins of D-ECE and LaECE.
    """

    calibrator: BoxCalibrator
    before: dict[str, float]
    after: dict[str, float]
    collected: CollectedBoxes
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    bins: int = 15

    def to_dict(self) -> dict[str, Any]:
        """The report as plain values: ``before``/``after`` metrics, the method, its parameters, counts."""
        out: dict[str, Any] = {
            "data": str(self.collected.data.yaml),
            "split": self.collected.data.split,
            "method": self.calibrator.method,
            "box_calibrator": self.calibrator.to_dict(),
            "bins": self.bins,
            "before": _plain(self.before),
            "after": _plain(self.after),
            **self.collected.counts(),
        }
        if self.details:
            out["details"] = self.details
        return out

    def to_profile(self, model: str | os.PathLike[str], *, name: str = "", imgsz: int | None = None) -> Profile:
        """A deployment profile for the detector ``model`` holding this box calibrator (class temperature 1)."""
        path = os.fspath(model)
        counts = self.collected.counts()
        return Profile(
            model=path,
            temperature=1.0,
            name=name,
            model_sha256=file_sha256(path) if Path(path).is_file() else None,
            imgsz=imgsz,
            box_calibrator=self.calibrator.to_dict(),
            calibration={
                "data": str(self.collected.data.yaml),
                "split": self.collected.data.split,
                "samples": counts["boxes"],
                "skipped": counts["skipped"],
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "bins": self.bins,
                "method": self.calibrator.method,
                "before": _plain(self.before),
                "after": _plain(self.after),
            },
        )


def _plain(metrics: dict[str, float]) -> dict[str, float | None]:
    """Metrics as plain floats, None where undefined (NaN is not JSON or YAML-friendly)."""
    return {k: (float(v) if np.isfinite(v) else None) for k, v in metrics.items()}


def _load(model: YoloProbs, data: str | os.PathLike[str] | DetectionData, split: str) -> DetectionData:
    _check_detector(model)
    if isinstance(data, DetectionData):
        return data
    return load_detection_data(data, model.names, split)


def calibrate_boxes(
    model: YoloProbs,
    data: str | os.PathLike[str] | DetectionData,
    *,
    split: str = "val",
    method: str = "temperature",
    bins: int = 15,
    progress: Callable[[int], None] | None = None,
) -> BoxCalibrationResult:
    """Fit a box calibrator of ``model``'s confidences on ``data`` (an Ultralytics data YAML) and score it there.

    Example:
        >>> from yolo_probs import YoloProbs  # doctest: +SKIP
        >>> r = calibrate_boxes(YoloProbs("examples/models/digits-yolo26n-det.pt"), "runs/digits-det/data.yaml",
        ...                     method="platt")  # doctest: +SKIP
        >>> r.before["ece"] > r.after["ece"]  # doctest: +SKIP
        True
    """
    loaded = _load(model, data, split)
    collected = collect_boxes(model, loaded, progress)
    calibrator, details = fit_box_calibrator(method, collected.features, collected.tp)
    return _result(calibrator, collected, bins, details)


def evaluate_boxes(
    model: YoloProbs,
    data: str | os.PathLike[str] | DetectionData,
    calibrator: BoxCalibrator,
    *,
    split: str = "test",
    bins: int = 15,
    progress: Callable[[int], None] | None = None,
) -> BoxCalibrationResult:
    """Score ``calibrator`` (e.g. a profile's) on another split of ``data``: metrics before and after."""
    loaded = _load(model, data, split)
    return _result(calibrator, collect_boxes(model, loaded, progress), bins, {})


def _result(
    calibrator: BoxCalibrator, collected: CollectedBoxes, bins: int, details: dict[str, Any]
) -> BoxCalibrationResult:
    c = collected
    before = metrics_of(c.features.conf, c.cls, c.tp, c.iou, c.gt_cls, bins)
    after = metrics_of(calibrator.conf(c.features), c.cls, c.tp, c.iou, c.gt_cls, bins)
    notes = data_notes(c.data)
    if c.data.negatives:
        notes.append(f"{c.data.negatives} of {len(c.data.files)} images have no labelled box (scored as negatives)")
    return BoxCalibrationResult(calibrator, before, after, collected, details, notes, bins)
