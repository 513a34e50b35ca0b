"""Per-box results of a detection or segmentation model: every kept box with its full class distribution.

Three different numbers describe a box's class, and they mean different things:

- ``conf`` is the model's own box confidence, exactly Ultralytics' ``results.boxes.conf``: the largest
  per-class sigmoid score. Ultralytics' ``conf`` threshold applies to it, and it decides which boxes exist.
- ``scores`` are the model's per-class scores as its head computes them, ``sigmoid(logits)``: one
  independent yes/no score per class. They do **not** sum to 1 (several can be near 1, or all near 0).
- ``probs`` is a class distribution over the model's classes that sums to 1:
  ``softmax(logits / temperature)``, or a profile calibrator's map of the logits. It answers "given that
  this is an object, which class is it?"; ``top`` ranks it.

``conf_calibrated`` (from a box calibrator in a profile) and ``classifier`` (a second-stage classifier's
prediction on the box's crop) are ``None`` until something sets them.

Example:
    >>> import numpy as np
    >>> from yolo_probs.core.boxes import Detections
    >>> d = Detections.from_logits(
    ...     xyxy=[[10, 20, 50, 80]], conf=[0.8808], classes=[0], logits=[[2.0, 0.0, -1.0]],
    ...     names=("cat", "dog", "owl"), shape=(100, 120), top_k=2)
    >>> b = d.boxes[0]
    >>> b.cls, round(b.conf, 4), [round(float(s), 4) for s in b.scores]
    (0, 0.8808, [0.8808, 0.5, 0.2689])
    >>> [(c.name, round(c.prob, 4)) for c in b.top]
    [('cat', 0.8438), ('dog', 0.1142)]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from yolo_probs.core.checks import check_text, describe, real_array
from yolo_probs.core.prediction import Prediction, _frame, _source
from yolo_probs.core.probs import (
    ProbabilityMap,
    TopClass,
    check_min_prob,
    check_names,
    check_probability_map,
    check_temperature,
    check_top_k,
    checked_softmax,
    ranked,
)
from yolo_probs.errors import ConfigError

__all__ = ["TASKS", "Box", "Detections", "sigmoid"]

#: The Ultralytics tasks whose results are boxes.
TASKS = ("detect", "segment", "obb")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in float32, without overflow warnings for large negative logits.

    Example:
        >>> [round(float(s), 4) for s in sigmoid(np.array([0.0, 2.0, -1000.0]))]
        [0.5, 0.8808, 0.0]
    """
    x32 = np.asarray(x, dtype=np.float32)
    return (0.5 * (1.0 + np.tanh(0.5 * x32))).astype(np.float32, copy=False)


@dataclass(frozen=True, eq=False)
class Box:
    """One box kept by the model, with its class scores, logits and calibrated class distribution.

    Attributes:
        index: the box's position in Ultralytics' ``results.boxes`` for the same image (0-based).
        xyxy: ``(x1, y1, x2, y2)`` in pixels of the original image (as ``results.boxes.xyxy``).
        conf: the model's own confidence, ``results.boxes.conf``: the largest sigmoid score. Boxes are
            kept or dropped by Ultralytics' threshold on it; a profile never changes it.
        cls: the model's class for the box, ``results.boxes.cls`` (the class of ``conf``).
        names: the model's class names, ``names[i]`` for class ``i``.
        scores: ``(C,)`` per-class independent sigmoid scores, ``sigmoid(logits)``; they do not sum to 1.
        logits: ``(C,)`` the head's pre-sigmoid class logits for this box (float32).
        probs: ``(C,)`` the calibrated class distribution (``softmax(logits / T)`` or a profile's map); sums to 1.
        top: the ranked classes of ``probs`` after top-k and ``min_prob``, best first.
        conf_calibrated: the box confidence after a profile's box calibrator (a probability that the box
            is a correct detection), None without one.
        classifier: the prediction of a second-stage classifier on the box's crop, None without one.
    """

    index: int
    xyxy: tuple[float, float, float, float]
    conf: float
    cls: int
    names: tuple[str, ...]
    scores: np.ndarray = field(repr=False)
    logits: np.ndarray = field(repr=False)
    probs: np.ndarray = field(repr=False)
    top: list[TopClass] = field(default_factory=list)
    conf_calibrated: float | None = None
    classifier: Prediction | None = None

    def __post_init__(self) -> None:
        """Check every field once; ``dataclasses.replace`` checks again."""
        fields: dict[str, Any] = {"index": _whole(self.index, "Box index"), "cls": _whole(self.cls, "Box cls")}
        fields["xyxy"] = _xyxy(self.xyxy)
        fields["conf"] = _unit(self.conf, "Box conf")
        arrays = {key: _row(getattr(self, key), f"Box {key}") for key in ("scores", "logits", "probs")}
        shapes = {a.shape for a in arrays.values()}
        if len(shapes) != 1:
            raise ConfigError(
                f"Box scores, logits and probs must have one shape (C,), got {[a.shape for a in arrays.values()]}"
            )
        c = arrays["logits"].shape[0]
        fields.update(arrays)
        fields["names"] = check_names(self.names, c)
        if fields["cls"] >= c:
            raise ConfigError(f"Box cls {fields['cls']} is not a class of a model with {c} classes")
        if self.conf_calibrated is not None:
            fields["conf_calibrated"] = _unit(self.conf_calibrated, "Box conf_calibrated")
        if self.classifier is not None and not isinstance(self.classifier, Prediction):
            raise ConfigError(f"Box classifier must be a Prediction or None, got {describe(self.classifier)}")
        for name, value in fields.items():
            if value is not getattr(self, name):
                object.__setattr__(self, name, value)

    @property
    def top1(self) -> int:
        """Index of the most probable class of :attr:`probs` (ties: the lower index)."""
        return int(np.argmax(self.probs))

    @property
    def top1conf(self) -> float:
        """Probability of :attr:`top1` in :attr:`probs` (not the box confidence: that is :attr:`conf`)."""
        return float(self.probs[self.top1])

    @property
    def name(self) -> str:
        """The name of the model's class :attr:`cls`."""
        return self.names[self.cls]

    def to_dict(self, logits: bool = False, scores: bool = False) -> dict[str, Any]:
        """The box's record: index, xyxy, conf, cls, name, top (+ scores/logits if asked, + the optional fields).

        Example:
            >>> b = Detections.from_logits([[0, 0, 4, 4]], [0.5], [1], [[-1.0, 0.0]], ("a", "b")).boxes[0]
            >>> [c["name"] for c in b.to_dict()["top"]], b.to_dict()["xyxy"]
            (['b', 'a'], [0.0, 0.0, 4.0, 4.0])
        """
        record: dict[str, Any] = {
            "index": self.index,
            "xyxy": list(self.xyxy),
            "conf": self.conf,
            "cls": self.cls,
            "name": self.name,
            "top": [{"index": c.index, "name": c.name, "prob": c.prob} for c in self.top],
        }
        if scores:
            record["scores"] = [float(x) for x in self.scores]
        if logits:  # strict JSON has no infinities
            record["logits"] = [float(x) if math.isfinite(x) else None for x in self.logits]
        if self.conf_calibrated is not None:
            record["conf_calibrated"] = self.conf_calibrated
        if self.classifier is not None:
            inner = self.classifier.to_dict()
            record["classifier"] = {k: v for k, v in inner.items() if k not in ("source", "frame")}
        return record


@dataclass(frozen=True, eq=False)
class Detections:
    """The boxes a detection or segmentation model kept on one image or frame.

    Attributes:
        source: where the image came from (a path, ``video.mp4``, ``image0`` for an array, ...).
        names: the model's class names.
        boxes: the kept boxes, in Ultralytics' order (``boxes[i].index == i``).
        shape: ``(height, width)`` of the original image in pixels (``(0, 0)`` when unknown).
        task: ``"detect"``, ``"segment"`` or ``"obb"``.
        frame: the 0-based frame index within a video or stream, None for still images.
        temperature: the temperature that made every box's ``probs`` (a profile's, or 1.0 if its method has none).
        calibration: the method that made ``probs`` (``"temperature"`` unless a profile chose another).
        top_k, min_prob: the filtering each box's ``top`` was made with.
    """

    source: str
    names: tuple[str, ...]
    boxes: list[Box] = field(default_factory=list)
    shape: tuple[int, int] = (0, 0)
    task: str = "detect"
    frame: int | None = None
    temperature: float = 1.0
    calibration: str = "temperature"
    top_k: int = 5
    min_prob: float | None = None

    def __post_init__(self) -> None:
        """Check every field once; ``dataclasses.replace`` checks again."""
        fields: dict[str, Any] = {"source": _source(self.source), "frame": _frame(self.frame)}
        if isinstance(self.names, str | bytes) or not isinstance(self.names, Sequence | np.ndarray) or not self.names:
            raise ConfigError(f"Detections names must be a non-empty list of class names, got {describe(self.names)}")
        fields["names"] = check_names(self.names, len(self.names))
        fields["shape"] = _shape(self.shape)
        if check_text(self.task, "task", "'detect'") not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        fields["temperature"] = check_temperature(self.temperature)
        check_text(self.calibration, "calibration", "'temperature'")
        fields["top_k"] = check_top_k(self.top_k)
        fields["min_prob"] = check_min_prob(self.min_prob)
        if not isinstance(self.boxes, list) or not all(isinstance(b, Box) for b in self.boxes):
            raise ConfigError(f"Detections boxes must be a list of Box, got {describe(self.boxes)}")
        for b in self.boxes:
            if len(b.names) != len(fields["names"]):
                raise ConfigError(
                    f"box {b.index} has {len(b.names)} classes but the detections have {len(fields['names'])}"
                )
        for name, value in fields.items():
            if value is not getattr(self, name):
                object.__setattr__(self, name, value)

    @classmethod
    def from_logits(
        cls,
        xyxy: Any,
        conf: Any,
        classes: Any,
        logits: Any,
        names: Sequence[str],
        *,
        shape: tuple[int, int] = (0, 0),
        source: str = "",
        frame: int | None = None,
        task: str = "detect",
        temperature: float = 1.0,
        top_k: int = 5,
        min_prob: float | None = None,
        calibrator: ProbabilityMap | None = None,
        indices: Any = None,
    ) -> Detections:
        """The detections of one image from arrays: ``xyxy (N,4)``, ``conf (N,)``, ``classes (N,)``, ``logits (N,C)``.

        ``scores`` are ``sigmoid(logits)``; ``probs`` are ``softmax(logits / temperature)`` or, with a
        ``calibrator``, its probabilities (then ``temperature`` is ignored). ``indices`` default to
        ``0..N-1``. Raises :class:`ConfigError` naming the argument for arrays of other shapes, NaN and bad options.

        Example:
            >>> d = Detections.from_logits(np.zeros((0, 4)), [], [], np.zeros((0, 2)), ("a", "b"))
            >>> d.boxes, d.to_dict()["boxes"]
            ([], [])
        """
        with np.errstate(over="ignore"):
            x = real_array(logits, "logits", "[[2.0, -1.0]]").astype(np.float32, copy=False)
        if x.ndim != 2 or x.shape[1] == 0:
            raise ConfigError(f"logits must be (N, C) class logits, one row per box, got shape {x.shape}")
        n, c = x.shape
        if n and not np.isfinite(x.max(axis=1)).all():
            raise ConfigError("logits contain NaN or +inf, or a row of only -inf; drop those boxes or fix the model")
        boxes_xyxy = _column(xyxy, "xyxy", (n, 4))
        confs, classes = _column(conf, "conf", (n,)), _column(classes, "cls", (n,))
        idx = np.arange(n) if indices is None else _column(indices, "indices", (n,))
        names = check_names(tuple(names) if isinstance(names, list) else names, c)
        top_k, min_prob = check_top_k(top_k), check_min_prob(min_prob)
        if calibrator is None:
            t = check_temperature(temperature)
            probs = checked_softmax(x, t, axis=-1) if n else np.zeros((0, c), np.float32)
            method = "temperature"
        else:
            calibrator = check_probability_map(calibrator)
            probs = np.asarray(calibrator.probs(x), dtype=np.float32) if n else np.zeros((0, c), np.float32)
            if probs.shape != x.shape or not np.isfinite(probs).all():
                raise ConfigError(
                    f"calibrator {calibrator.method!r} gave probabilities of shape {probs.shape} with NaN or inf for "
                    f"logits of shape {x.shape}; refit it or check its parameters"
                )
            t = calibrator.temperature if calibrator.temperature is not None else 1.0
            method = calibrator.method
        scores = sigmoid(x)
        if not np.isin(classes, np.arange(c)).all():
            raise ConfigError(f"cls must be class indices in [0, {c}), got {classes.tolist()}")
        if not ((confs >= 0) & (confs <= 1)).all():
            raise ConfigError(f"conf must be box confidences in [0, 1], got {confs.tolist()}")
        tops = _ranked_rows(probs, top_k, min_prob, names)
        rows = zip(idx.tolist(), boxes_xyxy.astype(float).tolist(), confs.tolist(), classes.tolist(), tops, strict=True)
        # every field is checked above, once for all boxes: build them without each box's own checks
        boxes = [
            _trusted(int(i), tuple(b), float(cf), int(k), names, scores[j], x[j], probs[j], top)
            for j, (i, b, cf, k, top) in enumerate(rows)
        ]
        return cls(
            source=source,
            names=names,
            boxes=boxes,
            shape=shape,
            task=task,
            frame=frame,
            temperature=t,
            calibration=method,
            top_k=top_k,
            min_prob=min_prob,
        )

    def with_temperature(self, temperature: float) -> Detections:
        """The same boxes with ``probs`` and ``top`` re-made at another temperature (no new forward pass).

        ``conf_calibrated`` and ``classifier`` are kept: neither depends on the class temperature.

        Example:
            >>> d = Detections.from_logits([[0, 0, 4, 4]], [0.88], [0], [[2.0, 0.0]], ("a", "b"))
            >>> round(d.with_temperature(2.0).boxes[0].top1conf, 4)
            0.7311
        """
        t = check_temperature(temperature)
        boxes = []
        for b in self.boxes:
            probs = checked_softmax(b.logits, t)
            top = ranked(probs, self.top_k, self.min_prob, self.names)
            boxes.append(replace(b, probs=probs, top=top))
        return replace(self, boxes=boxes, temperature=t, calibration="temperature")

    def arrays(self) -> dict[str, np.ndarray]:
        """The boxes as arrays: ``xyxy (N,4)``, ``conf (N,)``, ``cls (N,)``, ``scores``/``logits``/``probs`` ``(N,C)``.

        Example:
            >>> d = Detections.from_logits([[0, 0, 4, 4]], [0.88], [0], [[2.0, 0.0]], ("a", "b"))
            >>> {k: v.shape for k, v in d.arrays().items()}["probs"]
            (1, 2)
        """
        c = len(self.names)
        b = self.boxes
        return {
            "xyxy": np.array([x.xyxy for x in b], dtype=np.float32).reshape(-1, 4),
            "conf": np.array([x.conf for x in b], dtype=np.float32),
            "cls": np.array([x.cls for x in b], dtype=np.int64),
            "scores": np.stack([x.scores for x in b]) if b else np.zeros((0, c), np.float32),
            "logits": np.stack([x.logits for x in b]) if b else np.zeros((0, c), np.float32),
            "probs": np.stack([x.probs for x in b]) if b else np.zeros((0, c), np.float32),
        }

    def __len__(self) -> int:
        """The number of boxes."""
        return len(self.boxes)

    def to_dict(self, logits: bool = False, scores: bool = False) -> dict[str, Any]:
        """The record of the CLI: source, frame, task, shape, temperature (calibration if not temperature), boxes.

        Example:
            >>> d = Detections.from_logits([[1, 2, 3, 4]], [0.5], [0], [[0.0, -9.0]], ("a", "b"), top_k=1)
            >>> d.to_dict()["boxes"][0]["top"]
            [{'index': 0, 'name': 'a', 'prob': 0.9998766183853149}]
        """
        record: dict[str, Any] = {
            "source": self.source,
            "frame": self.frame,
            "task": self.task,
            "shape": list(self.shape),
            "temperature": self.temperature,
        }
        if self.calibration != "temperature":
            record["calibration"] = self.calibration
        record["boxes"] = [b.to_dict(logits=logits, scores=scores) for b in self.boxes]
        return record


def _trusted(
    index: int,
    xyxy: tuple[float, ...],
    conf: float,
    cls: int,
    names: tuple[str, ...],
    scores: np.ndarray,
    logits: np.ndarray,
    probs: np.ndarray,
    top: list[TopClass],
) -> Box:
    """A :class:`Box` from fields :meth:`Detections.from_logits` has checked for all boxes at once."""
    box = object.__new__(Box)
    box.__dict__.update(
        index=index, xyxy=xyxy, conf=conf, cls=cls, names=names, scores=scores, logits=logits, probs=probs, top=top,
        conf_calibrated=None, classifier=None,
    )  # fmt: skip
    return box


def _ranked_rows(probs: np.ndarray, k: int, min_prob: float | None, names: tuple[str, ...]) -> list[list[TopClass]]:
    """:func:`~yolo_probs.core.probs.ranked` for every row of ``probs`` at once (ties: the lower index first)."""
    order = np.argsort(-probs, axis=1, kind="stable")[:, : min(k, probs.shape[1])]
    values = np.take_along_axis(probs, order, axis=1)
    tops = []
    for idx_row, p_row in zip(order.tolist(), values.tolist(), strict=True):
        tops.append(
            [TopClass(i, names[i], p) for i, p in zip(idx_row, p_row, strict=True) if min_prob is None or p >= min_prob]
        )
    return tops


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ConfigError(f"{name} must be a whole number >= 0, got {describe(value)}")
    return int(value)


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be a number in [0, 1], got {describe(value)}")
    return float(value)


def _xyxy(value: Any) -> tuple[float, float, float, float]:
    a = real_array(value, "Box xyxy", "(10.0, 20.0, 50.0, 80.0)")
    if a.shape != (4,) or not np.isfinite(a).all():
        raise ConfigError(f"Box xyxy must be 4 finite numbers (x1, y1, x2, y2), got {describe(value)}")
    return (float(a[0]), float(a[1]), float(a[2]), float(a[3]))


def _row(value: Any, name: str) -> np.ndarray:
    a = value if isinstance(value, np.ndarray) and value.dtype.kind == "f" else real_array(value, name)
    if a.ndim != 1 or a.size == 0:
        raise ConfigError(f"{name} must be one non-empty row (C,), got shape {a.shape}")
    if np.isnan(a).any():
        raise ConfigError(f"{name} contain NaN; fix the model output")
    return a


def _column(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    a = real_array(value, name)
    if a.size == 0 and shape[0] == 0:
        return a.reshape(shape)
    if a.shape != shape or not np.isfinite(a).all():
        raise ConfigError(f"{name} must be finite numbers of shape {shape} (one per box), got {describe(value)}")
    return a


def _shape(value: Any) -> tuple[int, int]:
    ok = (
        isinstance(value, Sequence)
        and len(value) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) >= 0 for v in value)
    )
    if not ok:
        raise ConfigError(f"shape must be (height, width) in pixels, got {describe(value)}")
    return (int(value[0]), int(value[1]))
