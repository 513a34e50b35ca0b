"""Box-confidence calibrators: map a kept box to the probability that it is a correct detection.

A box calibrator is fitted on the boxes a detector keeps on labelled images, each marked correct (a
true positive: IoU >= 0.5 with an unmatched ground-truth box of its class) or not. It never changes
which boxes exist or their ``conf``: it adds ``conf_calibrated`` beside it. The features of a box
(:class:`BoxFeatures`) are the logit of its predicted class (``conf = sigmoid(logit)`` for YOLOv8/11/26
heads), its ``conf``, and its centre and size relative to the image.

Methods (one module each, listed in :data:`BOX_CALIBRATORS`):

- ``temperature`` (:mod:`~yolo_probs.calibration.box_temperature`): ``sigmoid(logit / T)``; keeps the ranking.
- ``platt`` (:mod:`~yolo_probs.calibration.box_platt`): ``sigmoid(a * logit + b)``; keeps the ranking (a > 0).
- ``isotonic`` (:mod:`~yolo_probs.calibration.box_isotonic`): a non-decreasing step map of ``conf``;
  it can tie boxes that were ordered, so mAP can move slightly.
- ``position`` (:mod:`~yolo_probs.calibration.box_position`): logistic regression on the logit and the
  box's centre and size (Küppers et al., CVPR-W 2020); it changes the ranking.

``auto`` (:func:`select_box_calibrator`) picks among them, and the model's own ``conf``, by 5-fold
cross-validated log loss with a one-standard-error rule (the simplest candidate within reach of the best).

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.box_base import BoxFeatures, fit_box_calibrator
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(1, 2, 400); f = BoxFeatures.from_arrays(z, rng.uniform(0, 1, (400, 2)), np.full((400, 2), 0.1))
    >>> tp = rng.uniform(0, 1, 400) < 1 / (1 + np.exp(-z / 2))
    >>> cal, _ = fit_box_calibrator("temperature", f, tp)
    >>> cal.method, round(cal.temperature, 1)
    ('temperature', 2.3)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from yolo_probs._util.registry import Registry
from yolo_probs.core.boxes import Detections, sigmoid
from yolo_probs.core.checks import check_choice
from yolo_probs.errors import ConfigError

__all__ = [
    "BOX_CALIBRATORS",
    "BoxCalibrator",
    "BoxFeatures",
    "apply_box_calibrator",
    "box_calibrator_from_dict",
    "fit_box_calibrator",
    "log_loss",
    "select_box_calibrator",
]

#: Fewest boxes, and fewest of each outcome (correct / not), a box calibrator is fitted on.
MIN_BOXES = 10


@dataclass(frozen=True)
class BoxFeatures:
    """What a box calibrator sees of ``N`` boxes.

    Attributes:
        logit: ``(N,)`` the head's logit of each box's predicted class.
        conf: ``(N,)`` the model's box confidence, ``sigmoid(logit)``.
        centre: ``(N, 2)`` box centre ``(cx, cy)`` divided by the image width and height.
        size: ``(N, 2)`` box ``(w, h)`` divided by the image width and height.
    """

    logit: np.ndarray
    conf: np.ndarray
    centre: np.ndarray
    size: np.ndarray

    @classmethod
    def from_arrays(cls, logit: Any, centre: Any, size: Any) -> BoxFeatures:
        """Checked features from the class logits and the relative centres and sizes."""
        z = np.asarray(logit, dtype=np.float64).reshape(-1)
        n = z.shape[0]
        c = np.asarray(centre, dtype=np.float64).reshape(n, 2) if n else np.zeros((0, 2))
        s = np.asarray(size, dtype=np.float64).reshape(n, 2) if n else np.zeros((0, 2))
        if not (np.isfinite(z).all() and np.isfinite(c).all() and np.isfinite(s).all()):
            raise ConfigError("box features must be finite (a box logit or size is NaN or inf)", option="boxes")
        return cls(z, sigmoid(z).astype(np.float64), c, s)

    @classmethod
    def from_detections(cls, detections: Sequence[Detections]) -> BoxFeatures:
        """The features of every box of ``detections``, image by image, in box order."""
        logit, centre, size = [], [], []
        for det in detections:
            h, w = det.shape if det.shape[0] > 0 and det.shape[1] > 0 else (1, 1)
            for b in det.boxes:
                x1, y1, x2, y2 = b.xyxy
                logit.append(float(b.logits[b.cls]))
                centre.append(((x1 + x2) / 2 / w, (y1 + y2) / 2 / h))
                size.append(((x2 - x1) / w, (y2 - y1) / h))
        return cls.from_arrays(logit, centre, size)

    def __len__(self) -> int:
        return int(self.logit.shape[0])

    def subset(self, index: np.ndarray) -> BoxFeatures:
        """The features of the boxes ``index`` selects."""
        return BoxFeatures(self.logit[index], self.conf[index], self.centre[index], self.size[index])


@runtime_checkable
class BoxCalibrator(Protocol):
    """A box-confidence calibrator: ``method``, ``changes_ranking``, fit, conf, to_dict/from_dict."""

    method: ClassVar[str]
    changes_ranking: ClassVar[bool]

    @property
    def temperature(self) -> float | None:
        """The single temperature on the class logit, when the method is one (else None)."""
        ...

    def fit(self, features: BoxFeatures, correct: np.ndarray) -> BoxCalibrator:
        """Fit on the boxes' features and whether each is a correct detection; returns ``self``."""
        ...

    def conf(self, features: BoxFeatures) -> np.ndarray:
        """``(N,)`` calibrated confidences in [0, 1]."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """``{"method": ..., <parameters>}`` in plain YAML-safe values."""
        ...

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BoxCalibrator:
        """Rebuild from :meth:`to_dict`; ConfigError naming the bad key."""
        ...


#: Method name (as stored in a profile's ``box_calibrator``) -> class; the simplest first.
BOX_CALIBRATORS: Registry[type[Any]] = Registry(
    "box calibration method",
    {
        "temperature": "yolo_probs.calibration.box_temperature:BoxTemperature",
        "platt": "yolo_probs.calibration.box_platt:BoxPlatt",
        "isotonic": "yolo_probs.calibration.box_isotonic:BoxIsotonic",
        "position": "yolo_probs.calibration.box_position:BoxPosition",
    },
    option="method",
)


def check_fit_data(features: Any, correct: Any) -> tuple[BoxFeatures, np.ndarray]:
    """Features and outcomes checked for a fit: same length, enough boxes, both outcomes present."""
    if not isinstance(features, BoxFeatures):
        raise ConfigError(f"box calibrators fit on BoxFeatures, got {type(features).__name__}", option="features")
    y = np.asarray(correct).reshape(-1)
    if y.shape[0] != len(features):
        raise ConfigError(f"{y.shape[0]} outcomes for {len(features)} boxes", option="correct")
    y = y.astype(bool)
    hits = int(y.sum())
    if min(hits, len(y) - hits) < MIN_BOXES:
        raise ConfigError(
            f"a box calibrator needs at least {MIN_BOXES} correct and {MIN_BOXES} wrong boxes, got {hits} correct "
            f"of {len(y)}; use more labelled images (or a lower --conf)",
            option="data",
        )
    return features, y


def parameter(data: dict[str, Any], key: str, method: str) -> float:
    """A finite number ``data[key]`` of a box calibrator's mapping, or ConfigError naming it."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"box_calibrator.{key} of method {method!r} must be a finite number, got {value!r}",
                          option="box_calibrator")  # fmt: skip
    return float(value)


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities ``p`` for outcomes ``y`` (clipped away from 0 and 1)."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    return float(-np.mean(np.where(y, np.log(q), np.log1p(-q))))


def box_calibrator_from_dict(data: Any) -> BoxCalibrator:
    """The box calibrator a profile's ``box_calibrator:`` mapping describes.

    Example:
        >>> box_calibrator_from_dict({"method": "platt", "a": 0.5, "b": -1.0}).to_dict()
        {'method': 'platt', 'a': 0.5, 'b': -1.0}
    """
    if not isinstance(data, dict) or "method" not in data:
        raise ConfigError(f"box_calibrator must be a mapping with a 'method' key, got {data!r}",
                          option="box_calibrator")  # fmt: skip
    method = check_choice(data["method"], "box_calibrator.method", BOX_CALIBRATORS, option="box_calibrator")
    return BOX_CALIBRATORS[method].from_dict(data)  # type: ignore[no-any-return]


#: ``auto``'s candidates, simplest first (``none``: the model's own ``conf``, a temperature of 1); other
#: registered methods follow. The one-standard-error rule takes the first within reach of the best.
AUTO_ORDER = ("none", "temperature", "platt", "position", "isotonic")


def _held_out_losses(method: str, features: BoxFeatures, y: np.ndarray, folds: int, seed: int) -> np.ndarray | None:
    """Each box's log loss under ``method`` fitted on the other folds (None: the method cannot fit here)."""
    order = np.random.default_rng(seed).permutation(len(y))
    losses = np.empty(len(y))
    for k in range(folds):
        test = order[k::folds]
        if method == "none":
            q = features.conf[test]
        else:
            train = np.setdiff1d(order, test)
            try:
                q = BOX_CALIBRATORS[method]().fit(features.subset(train), y[train]).conf(features.subset(test))
            except ConfigError:
                return None
        q = np.clip(np.asarray(q, dtype=np.float64), 1e-7, 1 - 1e-7)
        losses[test] = -np.where(y[test], np.log(q), np.log1p(-q))
    return losses


def select_box_calibrator(
    features: BoxFeatures, correct: Any, folds: int = 5, seed: int = 0
) -> tuple[BoxCalibrator, dict[str, Any]]:
    """``auto``: by ``folds``-fold cross-validated log loss with a one-standard-error rule, refitted on all boxes.

    The candidates are the model's own ``conf`` (``none``) and every method, simplest first
    (:data:`AUTO_ORDER`). The choice is the simplest candidate whose held-out loss is within one standard
    error (of its per-box difference to the best) of the best: a richer map must win by more than the
    noise of the split, so on a detector whose ``conf`` is already calibrated ``auto`` keeps it
    (``none`` gives a temperature of 1, ``conf_calibrated == conf``).

    Returns the calibrator and ``{"candidates": {method: cv log loss}, "standard_errors": {method: SE},
    "chosen": method}``.
    """
    features, y = check_fit_data(features, correct)
    methods = [*AUTO_ORDER, *(m for m in BOX_CALIBRATORS if m not in AUTO_ORDER)]
    held = {m: h for m in methods if (h := _held_out_losses(m, features, y, folds, seed)) is not None}
    means = {m: float(h.mean()) for m, h in held.items()}
    best = min(means, key=lambda m: means[m])
    n = max(len(y), 2)
    errors = {m: float(np.std(h - held[best], ddof=1) / np.sqrt(n)) if len(y) > 1 else 0.0 for m, h in held.items()}
    chosen = next(m for m in held if means[m] - means[best] <= errors[m])
    calibrator = BOX_CALIBRATORS["temperature"](1.0) if chosen == "none" else BOX_CALIBRATORS[chosen]().fit(features, y)
    return calibrator, {"candidates": means, "standard_errors": errors, "chosen": chosen}


def fit_box_calibrator(method: str, features: BoxFeatures, correct: Any) -> tuple[BoxCalibrator, dict[str, Any]]:
    """Fit the box calibrator ``method`` names (``auto`` chooses one); returns it and its details."""
    if method == "auto":
        return select_box_calibrator(features, correct)
    if not isinstance(method, str) or method not in BOX_CALIBRATORS:
        raise ConfigError(
            f"{method!r} is not a box calibration method; choose one of auto, {', '.join(BOX_CALIBRATORS)}",
            option="method",
        )
    features, y = check_fit_data(features, correct)
    return BOX_CALIBRATORS[method]().fit(features, y), {}


def apply_box_calibrator(detections: Detections, calibrator: BoxCalibrator | None) -> Detections:
    """``detections`` with each box's ``conf_calibrated`` set by ``calibrator`` (unchanged when None).

    Example:
        >>> from yolo_probs.calibration.box_temperature import BoxTemperature
        >>> d = Detections.from_logits([[0, 0, 4, 4]], [0.8808], [0], [[2.0, 0.0]], ("a", "b"), shape=(8, 8))
        >>> round(apply_box_calibrator(d, BoxTemperature(2.0)).boxes[0].conf_calibrated, 4)
        0.7311
    """
    if calibrator is None or not detections.boxes:
        return detections
    values = calibrator.conf(BoxFeatures.from_detections([detections]))
    boxes = [replace(b, conf_calibrated=float(v)) for b, v in zip(detections.boxes, values, strict=True)]
    return replace(detections, boxes=boxes)
