"""Detect, then classify: crop every box a detector keeps and give it a calibrated classifier's distribution.

A detector's class list is often coarse ("digit", "vehicle", "defect") or its classes are not the
ones that matter downstream. :class:`DetectThenClassify` runs a detection model, crops each kept box
(with a margin, clipped to the image), runs a classifier on all the crops of an image in batches, and
sets :attr:`Box.classifier <yolo_probs.core.boxes.Box.classifier>` to the crop's calibrated
:class:`~yolo_probs.core.prediction.Prediction`. Each box then carries both distributions: the
detector's own (``box.top``) and the classifier's (``box.classifier.top``). The detector's boxes, their
``conf`` and their order are never changed.

The classifier is a :class:`~yolo_probs.api.model.YoloProbs` on a classification model (a checkpoint, or
:meth:`YoloProbs.from_profile <yolo_probs.api.model.YoloProbs.from_profile>` for a calibrated profile),
or a path: a model, or a profile ``.yaml`` written by ``yolo-probs calibrate``.

Example:
    >>> from yolo_probs import DetectThenClassify, YoloProbs
    >>> det = YoloProbs("yolo26n.yaml", conf=0.0001, imgsz=160, device="cpu")
    >>> with DetectThenClassify(det, "examples/models/digits-yolo26n-cls.pt") as pipeline:
    ...     d = pipeline.predict("examples/images/digit_3.png")[0]
    >>> box = d.boxes[0]
    >>> len(box.classifier.probs), box.classifier.names == tuple(str(i) for i in range(10))
    (10, True)
"""

from __future__ import annotations

import contextlib
import numbers
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import yaml

from yolo_probs._util.threads import decode_workers
from yolo_probs.api.model import YoloProbs
from yolo_probs.backends.identify import ultralytics_task
from yolo_probs.core.boxes import TASKS, Box, Detections
from yolo_probs.core.checks import describe
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError, YoloProbsError
from yolo_probs.inputs.sources import Frame, InputFailure, iter_frames

__all__ = ["DetectThenClassify", "classify_boxes", "crop_box", "load_classifier"]

#: The crop's margin on each side, as a fraction of the box's width and height.
MARGIN = 0.1


def crop_box(image: np.ndarray, xyxy: tuple[float, float, float, float], margin: float = MARGIN) -> np.ndarray:
    """The pixels of box ``xyxy`` grown by ``margin`` of its size on each side, clipped to the image (a view).

    The crop is at least one pixel wide and tall, even for a box of zero size or one outside the image.

    Example:
        >>> img = np.zeros((100, 200, 3), np.uint8)
        >>> crop_box(img, (10, 20, 60, 70)).shape, crop_box(img, (190, 90, 260, 130)).shape
        ((60, 60, 3), (14, 17, 3))
    """
    h, w = image.shape[:2]
    x0, y0, x1, y1 = xyxy
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    cx0 = min(max(int(np.floor(x0 - mx)), 0), w - 1)
    cy0 = min(max(int(np.floor(y0 - my)), 0), h - 1)
    cx1 = min(max(int(np.ceil(x1 + mx)), cx0 + 1), w)
    cy1 = min(max(int(np.ceil(y1 + my)), cy0 + 1), h)
    return image[cy0:cy1, cx0:cx1]


def classify_boxes(
    detections: Detections, image: np.ndarray, classifier: YoloProbs, *, margin: float = MARGIN
) -> Detections:
    """``detections`` with each box's :attr:`~yolo_probs.core.boxes.Box.classifier` set from its crop of ``image``.

    The crops go through ``classifier`` in batches of its ``batch``. ``image`` is the BGR image the
    detections were made on. A crop the classifier fails on (NaN logits) keeps ``classifier`` None.

    Example:
        >>> clf = YoloProbs("examples/models/digits-yolo26n-cls.pt", top_k=2)
        >>> img = np.zeros((64, 64, 3), np.uint8)
        >>> d = Detections.from_logits([[4, 4, 40, 40]], [0.9], [0], [[2.0]], ("digit",), shape=(64, 64))
        >>> len(classify_boxes(d, img, clf).boxes[0].classifier.top)
        2
    """
    if not detections.boxes:
        return detections
    crops = [np.ascontiguousarray(crop_box(image, b.xyxy, margin)) for b in detections.boxes]
    found = list(classifier.predict_each(crops))
    boxes: list[Box] = []
    for b, p in zip(detections.boxes, found, strict=True):
        if isinstance(p, Prediction):
            p = replace(p, source=detections.source, frame=detections.frame)
            boxes.append(replace(b, classifier=p))
        else:
            boxes.append(b)
    return replace(detections, boxes=boxes)


def _is_profile(path: str) -> bool:
    """Whether ``path`` is a yolo-probs profile (a YAML without a model's ``backbone``/``head``)."""
    if not path.lower().endswith((".yaml", ".yml")) or not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return True  # load_profile says what is wrong with it
    return not (isinstance(data, dict) and "backbone" in data and "head" in data)


def load_classifier(classifier: Any, **options: Any) -> YoloProbs:
    """The second-stage classifier: a :class:`YoloProbs` as it is, or one built from a model or profile path.

    ``options`` (``batch``, ``device``, ``top_k`` ...) go to the new one; None values are left out.
    Raises :class:`ConfigError` (option ``classifier``) unless it is a classifier.

    Example:
        >>> load_classifier("yolo26n.yaml")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: the classifier yolo26n.yaml is a 'detect' model; pass an image classifier ...
    """
    given = {k: v for k, v in options.items() if v is not None}
    if isinstance(classifier, YoloProbs):
        clf, shown = classifier, "the classifier"
    elif isinstance(classifier, str | os.PathLike):
        name = os.fspath(classifier)
        task = None if _is_profile(name) else ultralytics_task(name)
        if task is not None and task != "classify":  # refused before a slow load
            raise _not_a_classifier(name, task)
        try:
            clf = YoloProbs.from_profile(name, **given) if _is_profile(name) else YoloProbs(name, **given)
        except YoloProbsError as exc:
            if exc.option in (None, "model", "profile"):
                exc.option = "classifier"  # the CLI names --classifier, not --model, in its hint
            raise
        shown = name
    else:
        raise ConfigError(
            f"classifier must be a YoloProbs classifier or the path of a model or profile, got {describe(classifier)}",
            option="classifier",
        )
    if clf.task != "classify":
        clf.close()
        raise _not_a_classifier(shown, clf.task)
    return clf


def _not_a_classifier(name: str, task: str) -> ConfigError:
    return ConfigError(
        f"the classifier {name} is a {task!r} model; pass an image classifier (e.g. "
        "examples/models/digits-yolo26n-cls.pt) or its calibrated profile",
        option="classifier",
    )


class DetectThenClassify:
    """A detector whose every box is also classified, on its crop, by a calibrated classifier.

    Args:
        detector: a :class:`YoloProbs` on a detection or segmentation model, or a path for one.
        classifier: a :class:`YoloProbs` classifier, or the path of a classifier model or profile
            (see :func:`load_classifier`).
        margin: each crop's margin on every side, as a fraction of the box's width and height (0 to 1).
        classifier_batch: crops per classifier forward pass, for a classifier built from a path.

    :meth:`predict` and :meth:`predict_each` take what :meth:`YoloProbs.predict` takes and give one
    :class:`~yolo_probs.core.boxes.Detections` per image or frame. ``with`` closes both models.
    """

    def __init__(self, detector: Any, classifier: Any, *, margin: float = MARGIN, classifier_batch: int = 16) -> None:
        if isinstance(margin, bool) or not isinstance(margin, numbers.Real) or not 0.0 <= float(margin) <= 1.0:
            raise ConfigError(f"margin must be a number in [0, 1], got {margin!r}; pass e.g. 0.1", option="margin")
        self.margin: float = float(margin)
        self.detector: YoloProbs = detector if isinstance(detector, YoloProbs) else YoloProbs(detector)
        if self.detector.task not in TASKS:
            self.detector.close()
            raise ConfigError(
                f"--classifier crops the boxes of a detection model, but the model is a {self.detector.task!r} "
                "model; pass a detection model (e.g. yolo26n.pt) as the model, or leave --classifier out",
                option="classifier",
            )
        self.classifier: YoloProbs = load_classifier(classifier, batch=classifier_batch)

    # What the CLI's prediction loop reads from a model.
    @property
    def task(self) -> str:
        """The detector's task."""
        return self.detector.task

    @property
    def batch(self) -> int:
        """The detector's batch."""
        return self.detector.batch

    @property
    def names(self) -> tuple[str, ...]:
        """The detector's class names (the classifier's are in each ``box.classifier.names``)."""
        return self.detector.names

    def close(self) -> None:
        """Release both models' hooks."""
        self.detector.close()
        self.classifier.close()

    def __enter__(self) -> DetectThenClassify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict_each(self, source: Any) -> Iterator[Detections | InputFailure]:
        """One :class:`Detections` with classified boxes per image or frame, an :class:`InputFailure` per bad input."""
        frames: deque[Frame] = deque()

        def tap() -> Iterator[Frame | InputFailure]:
            for item in iter_frames(source, workers=decode_workers(self.detector.batch)):
                if isinstance(item, Frame):
                    frames.append(item)
                yield item

        items: Any = self.detector.predict_each(tap())  # Detections for a detection model
        with contextlib.closing(items):
            for item in items:
                if isinstance(item, InputFailure):
                    if frames and (frames[0].source, frames[0].frame) == (item.source, item.frame):
                        frames.popleft()  # decoded, but the detector gave NaN for it
                    yield item
                    continue
                frame = frames.popleft()
                yield classify_boxes(item, frame.image, self.classifier, margin=self.margin)

    def predict(self, source: Any) -> list[Detections]:
        """Every image's :class:`Detections`; a bad input raises :class:`SourceError` naming it."""
        out: list[Detections] = []
        for item in self.predict_each(source):
            if isinstance(item, InputFailure):
                raise item.error()
            out.append(item)
        return out

    __call__ = predict
