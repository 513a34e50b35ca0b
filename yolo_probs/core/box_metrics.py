"""Detection metrics on plain arrays: box IoU, COCO-style matching, D-ECE, LaECE and mAP50.

Everything here is a pure function of numpy arrays (pixels or any unit, the same for predictions and
ground truth); nothing reads images or models.

- :func:`match_boxes`: one image's predictions against its ground truth, greedy by confidence as in
  COCO: each prediction, most confident first, takes the unmatched ground-truth box of its class with
  the highest IoU, if that IoU is at least ``iou_threshold``. Returns whether each prediction is a
  true positive and the IoU of its match (0 for a false positive).
- :func:`dece`: detection expected calibration error (Küppers et al., CVPR-W 2020), confidence-only:
  ``sum_j |D_j|/|D| * |mean conf_j - precision_j|`` over equal-width confidence bins, all classes
  together, precision being the fraction of true positives in the bin.
- :func:`laece`: localisation-aware ECE (Oksuz et al., CVPR 2023; revisited by Kuzucu et al., ECCV 2024):
  per class, ``sum_j |D_j^c|/|D^c| * |mean conf_j^c - mean IoU_j^c|`` where a false positive's IoU is
  0 (so the bin's mean IoU is its precision times the mean IoU of its true positives), averaged over
  the classes that have predictions. Kuzucu et al.'s ``LaECE_0`` is this with matches validated at
  IoU > 0 (pass ``iou_threshold=1e-9`` to :func:`match_boxes`) and 25 bins.
- :func:`map50`: average precision at IoU 0.5 per class, 101-point interpolated as Ultralytics'
  ``ap_per_class`` computes it, averaged over the classes that have ground truth.

Example:
    >>> import numpy as np
    >>> tp, iou = match_boxes([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0], [[0, 0, 10, 12]], [0])
    >>> tp.tolist(), iou.round(3).tolist()
    ([True, False], [0.833, 0.0])
    >>> round(dece([0.9, 0.8], tp), 4)
    0.45
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError

__all__ = ["MatchedBoxes", "box_iou", "dece", "laece", "map50", "match_boxes"]


def _boxes(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64).reshape(-1, 4) if np.size(value) else np.zeros((0, 4))
    if not np.isfinite(arr).all():
        raise ConfigError(f"{name} must be finite x1, y1, x2, y2 boxes", option=name)
    return arr


def _vector(value: Any, n: int, name: str, dtype: Any = np.float64) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype).reshape(-1)
    if arr.shape[0] != n:
        raise ConfigError(f"{name} has {arr.shape[0]} entries for {n} boxes", option=name)
    return arr


def box_iou(a: Any, b: Any) -> np.ndarray:
    """``(N, M)`` IoU of ``xyxy`` boxes ``a`` (N, 4) and ``b`` (M, 4); 0 where a union is empty.

    Example:
        >>> box_iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2]]).round(4).tolist()
        [[0.1429, 1.0]]
    """
    a, b = _boxes(a, "boxes"), _boxes(b, "boxes")
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_boxes(
    pred_xyxy: Any, pred_conf: Any, pred_cls: Any, gt_xyxy: Any, gt_cls: Any, iou_threshold: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO-style matching of one image: ``(tp (N,) bool, iou (N,) of the match, 0 if none)``.

    Predictions are visited by decreasing confidence (ties: input order); each takes the unmatched
    ground-truth box of the same class with the highest IoU >= ``iou_threshold``.
    """
    pred = _boxes(pred_xyxy, "pred_xyxy")
    gt = _boxes(gt_xyxy, "gt_xyxy")
    conf = _vector(pred_conf, len(pred), "pred_conf")
    pcls = _vector(pred_cls, len(pred), "pred_cls", np.int64)
    gcls = _vector(gt_cls, len(gt), "gt_cls", np.int64)
    tp = np.zeros(len(pred), dtype=bool)
    matched_iou = np.zeros(len(pred))
    if len(pred) == 0 or len(gt) == 0:
        return tp, matched_iou
    ious = box_iou(pred, gt)
    ious[pcls[:, None] != gcls[None, :]] = -1.0
    taken = np.zeros(len(gt), dtype=bool)
    for i in np.argsort(-conf, kind="stable"):
        row = np.where(taken, -1.0, ious[i])
        j = int(np.argmax(row))
        if row[j] >= iou_threshold and row[j] > 0:
            tp[i], matched_iou[i], taken[j] = True, row[j], True
    return tp, matched_iou


@dataclass(frozen=True)
class MatchedBoxes:
    """Predictions of a whole split after matching: what the detection metrics take.

    Attributes:
        conf: ``(N,)`` the confidence scored (the model's ``conf`` or a calibrated one).
        cls: ``(N,)`` predicted class of each box.
        tp: ``(N,)`` whether the box matched a ground-truth box (IoU >= 0.5, same class).
        iou: ``(N,)`` IoU of that match, 0 for a false positive.
        gt_cls: ``(G,)`` class of every ground-truth box of the split (for recall and mAP).
    """

    conf: np.ndarray
    cls: np.ndarray
    tp: np.ndarray
    iou: np.ndarray
    gt_cls: np.ndarray


def _bin_index(conf: np.ndarray, bins: int) -> np.ndarray:
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ConfigError(f"bins must be a whole number >= 1, got {bins!r}", option="bins")
    return np.minimum((conf * bins).astype(np.int64), bins - 1)


def _binned_gap(conf: np.ndarray, target: np.ndarray, bins: int) -> float:
    """``sum_j |B_j|/N * |mean conf_j - mean target_j|`` over equal-width bins of ``conf``."""
    if conf.size == 0:
        return float("nan")
    idx = _bin_index(conf, bins)
    count = np.bincount(idx, minlength=bins)
    gap = np.abs(np.bincount(idx, conf, bins) - np.bincount(idx, target, bins))
    return float(gap.sum() / count.sum())


def _conf(conf: Any) -> np.ndarray:
    arr = np.asarray(conf, dtype=np.float64).reshape(-1)
    if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
        raise ConfigError("conf must be confidences in [0, 1]", option="conf")
    return arr


def dece(conf: Any, tp: Any, bins: int = 15) -> float:
    """Detection ECE (Küppers et al. 2020): confidence against precision in ``bins`` equal-width bins.

    NaN when there are no predictions.

    Example:
        >>> round(dece([0.95, 0.95, 0.15, 0.15], [1, 1, 0, 1]), 4)
        0.2
    """
    c = _conf(conf)
    return _binned_gap(c, _vector(tp, c.size, "tp").astype(np.float64), bins)


def laece(conf: Any, cls: Any, iou: Any, bins: int = 15) -> float:
    """Localisation-aware ECE: per class, confidence against mean IoU (0 for a false positive), averaged.

    ``iou`` is each prediction's IoU with its matched ground truth (from :func:`match_boxes`), 0 when
    it is a false positive. The average is over the classes that have predictions; NaN when none.

    Example:
        >>> round(laece([0.9, 0.9, 0.5], [0, 0, 1], [0.8, 0.0, 0.5]), 4)
        0.25
    """
    c = _conf(conf)
    k = _vector(cls, c.size, "cls", np.int64)
    q = _vector(iou, c.size, "iou")
    per_class = [_binned_gap(c[k == label], q[k == label], bins) for label in np.unique(k)]
    return float(np.mean(per_class)) if per_class else float("nan")


def _average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the precision envelope at 101 recall points, as Ultralytics' ``compute_ap``."""
    last = recall[-1] if recall.size else 1.0  # precision drops to 0 after the last recall reached
    mrec = np.concatenate(([0.0], recall, [last, 1.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(np.concatenate(([1.0], precision, [0.0, 0.0])))))
    x = np.linspace(0, 1, 101)
    y = np.interp(x, mrec, mpre)
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def map50(conf: Any, cls: Any, tp: Any, gt_cls: Any) -> float:
    """mAP at IoU 0.5: per-class AP (101-point interpolated) averaged over classes with ground truth.

    ``tp`` comes from :func:`match_boxes` at IoU 0.5. A ranking-preserving change of ``conf`` leaves
    it unchanged. NaN when there is no ground truth.

    Example:
        >>> round(map50([0.9, 0.8, 0.7], [0, 0, 1], [1, 0, 1], [0, 0, 1]), 4)
        0.745
    """
    c = _conf(conf)
    k = _vector(cls, c.size, "cls", np.int64)
    t = _vector(tp, c.size, "tp").astype(bool)
    g = np.asarray(gt_cls, dtype=np.int64).reshape(-1)
    if g.size == 0:
        return float("nan")
    aps = []
    for label in np.unique(g):
        mine = k == label
        order = np.argsort(-c[mine], kind="stable")
        hits = t[mine][order]
        tpc, fpc = np.cumsum(hits), np.cumsum(~hits)
        n_gt = int((g == label).sum())
        if hits.size == 0:
            aps.append(0.0)
            continue
        recall = tpc / (n_gt + 1e-16)
        precision = tpc / (tpc + fpc)
        aps.append(_average_precision(recall, precision))
    return float(np.mean(aps))
