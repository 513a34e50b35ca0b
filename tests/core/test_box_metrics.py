"""Detection metrics against independent oracles: torchvision IoU, torchmetrics ECE, Ultralytics AP."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.functional.classification import binary_calibration_error
from torchvision.ops import box_iou as tv_box_iou
from ultralytics.utils.metrics import ap_per_class

from yolo_probs.core.box_metrics import box_iou, dece, laece, map50, match_boxes
from yolo_probs.errors import ConfigError


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 80, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(2, 30, (n, 2))], axis=1)


def _coco_match_reference(pred, conf, pcls, gt, gcls, thr):
    """Plain-loop COCO rule: most confident first, best unmatched same-class IoU >= thr."""
    tp, ious = [False] * len(pred), [0.0] * len(pred)
    used = set()
    for i in sorted(range(len(pred)), key=lambda k: -conf[k]):
        best, best_j = thr, None
        for j in range(len(gt)):
            if j in used or gcls[j] != pcls[i]:
                continue
            v = float(tv_box_iou(torch.tensor(pred[i : i + 1]), torch.tensor(gt[j : j + 1]))[0, 0])
            if v >= best and (best_j is None or v > best):
                best, best_j = v, j
        if best_j is not None:
            used.add(best_j)
            tp[i], ious[i] = True, best
    return np.array(tp), np.array(ious)


def _laece_reference(conf, cls, iou, bins):
    per = []
    for c in sorted(set(cls.tolist())):
        m = cls == c
        total = 0.0
        for j in range(bins):
            lo, hi = j / bins, (j + 1) / bins
            inb = m & (conf >= lo) & ((conf < hi) if j < bins - 1 else (conf <= hi))
            if inb.any():
                total += inb.sum() / m.sum() * abs(conf[inb].mean() - iou[inb].mean())
        per.append(total)
    return float(np.mean(per))


def test_box_iou_matches_torchvision() -> None:
    rng = np.random.default_rng(0)
    a, b = _random_boxes(rng, 30), _random_boxes(rng, 20)
    np.testing.assert_allclose(box_iou(a, b), tv_box_iou(torch.tensor(a), torch.tensor(b)).numpy(), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 12), st.integers(0, 8), st.sampled_from([0.3, 0.5, 0.75]))
def test_match_boxes_follows_the_coco_rule(seed: int, n_pred: int, n_gt: int, thr: float) -> None:
    rng = np.random.default_rng(seed)
    gt = _random_boxes(rng, n_gt)
    gcls = rng.integers(0, 3, n_gt)
    near = gt[rng.integers(0, max(n_gt, 1), n_pred)] if n_gt else _random_boxes(rng, n_pred)
    pred = near + rng.normal(0, 3, (n_pred, 4))
    pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
    conf, pcls = rng.uniform(0, 1, n_pred), rng.integers(0, 3, n_pred)
    tp, iou = match_boxes(pred, conf, pcls, gt, gcls, thr)
    ref_tp, ref_iou = _coco_match_reference(pred, conf, pcls, gt, gcls, thr)
    np.testing.assert_array_equal(tp, ref_tp)
    np.testing.assert_allclose(iou, ref_iou, atol=1e-9)
    assert tp.sum() <= n_gt


def test_dece_matches_torchmetrics_binary_ece() -> None:
    rng = np.random.default_rng(1)
    for _ in range(5):
        conf = rng.uniform(0, 1, 500)
        tp = rng.uniform(0, 1, 500) < conf**1.5
        oracle = binary_calibration_error(torch.tensor(conf), torch.tensor(tp.astype(np.int64)), n_bins=15)
        assert dece(conf, tp) == pytest.approx(float(oracle), abs=1e-6)


def test_laece_matches_a_loop_reference_and_needs_localisation() -> None:
    rng = np.random.default_rng(2)
    conf, cls = rng.uniform(0, 1, 400), rng.integers(0, 4, 400)
    iou = np.where(rng.uniform(0, 1, 400) < conf, rng.uniform(0.5, 1, 400), 0.0)
    assert laece(conf, cls, iou) == pytest.approx(_laece_reference(conf, cls, iou, 15), abs=1e-12)
    assert laece(conf, cls, iou, bins=25) == pytest.approx(_laece_reference(conf, cls, iou, 25), abs=1e-12)
    # perfectly placed true positives with confidence 1: D-ECE 0, LaECE 0; half-overlapping: LaECE 0.5
    assert laece([1.0, 1.0], [0, 1], [1.0, 1.0]) == 0.0
    assert laece([1.0, 1.0], [0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert np.isnan(laece([], [], []))


def test_map50_matches_ultralytics_ap_per_class() -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        n, g = 300, 500  # at most as many true positives as ground-truth boxes per class
        conf, pcls = rng.uniform(0, 1, n), rng.integers(0, 5, n)
        tp = rng.uniform(0, 1, n) < conf
        gcls = rng.integers(0, 6, g)  # class 5 has ground truth and no predictions: AP 0
        out = ap_per_class(tp[:, None], conf, pcls, gcls)
        assert map50(conf, pcls, tp, gcls) == pytest.approx(float(out[5][:, 0].mean()), abs=1e-9)


def test_map50_is_unchanged_by_a_monotone_recalibration() -> None:
    rng = np.random.default_rng(4)
    conf, pcls, gcls = rng.uniform(0.01, 0.99, 200), rng.integers(0, 3, 200), rng.integers(0, 3, 90)
    tp = rng.uniform(0, 1, 200) < conf
    squashed = 1 / (1 + np.exp(-(np.log(conf / (1 - conf)) / 2.3 - 0.4)))
    assert map50(squashed, pcls, tp, gcls) == pytest.approx(map50(conf, pcls, tp, gcls), abs=1e-12)


def test_bad_metric_inputs_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="conf must be confidences"):
        dece([1.5], [1])
    with pytest.raises(ConfigError, match="tp has 1 entries for 2 boxes"):
        dece([0.5, 0.5], [1])
    with pytest.raises(ConfigError, match="bins must be"):
        dece([0.5], [1], bins=0)
    assert np.isnan(dece([], [])) and np.isnan(map50([], [], [], []))
