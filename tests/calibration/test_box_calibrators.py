"""Box-confidence calibrators: fits against scipy/sklearn oracles, ranking, mAP, storage, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from sklearn.linear_model import LogisticRegression

from yolo_probs.calibration.box_base import (
    BOX_CALIBRATORS,
    BoxFeatures,
    apply_box_calibrator,
    box_calibrator_from_dict,
    fit_box_calibrator,
    log_loss,
)
from yolo_probs.core.box_metrics import dece, map50
from yolo_probs.core.boxes import Detections
from yolo_probs.errors import ConfigError


def _boxes(seed: int, n: int = 1500, size_effect: float = 0.0):
    """Over-confident boxes: truly correct with sigmoid(0.5 * logit - 1 + size_effect * (w - 0.2))."""
    rng = np.random.default_rng(seed)
    z = rng.normal(1.5, 2.0, n)
    centre, size = rng.uniform(0.1, 0.9, (n, 2)), rng.uniform(0.02, 0.4, (n, 2))
    p = 1 / (1 + np.exp(-(0.5 * z - 1 + size_effect * (size[:, 0] - 0.2))))
    return BoxFeatures.from_arrays(z, centre, size), rng.uniform(0, 1, n) < p


def test_temperature_matches_an_unbiased_logistic_fit() -> None:
    f, y = _boxes(0)
    cal, details = fit_box_calibrator("temperature", f, y)
    oracle = LogisticRegression(C=1e8, fit_intercept=False, max_iter=1000).fit(f.logit[:, None], y)
    assert cal.temperature == pytest.approx(1 / oracle.coef_[0, 0], rel=1e-3)
    assert details == {} and not cal.changes_ranking


def test_platt_matches_scipy_and_beats_temperature_on_a_shifted_detector() -> None:
    f, y = _boxes(1)
    cal, _ = fit_box_calibrator("platt", f, y)

    def nll(ab: np.ndarray) -> float:
        return log_loss(1 / (1 + np.exp(-(ab[0] * f.logit + ab[1]))), y)

    oracle = minimize(nll, np.array([1.0, 0.0]), method="Nelder-Mead", options={"xatol": 1e-7, "fatol": 1e-10})
    np.testing.assert_allclose([cal.a, cal.b], oracle.x, atol=2e-3)
    assert cal.a == pytest.approx(0.5, abs=0.1) and cal.b == pytest.approx(-1.0, abs=0.2)
    test_f, test_y = _boxes(2)
    temp, _ = fit_box_calibrator("temperature", f, y)
    assert dece(cal.conf(test_f), test_y) < dece(temp.conf(test_f), test_y) < dece(test_f.conf, test_y)


def test_isotonic_is_monotone_and_position_learns_a_size_effect() -> None:
    f, y = _boxes(3, size_effect=12.0)
    iso, _ = fit_box_calibrator("isotonic", f, y)
    out = iso.conf(f)
    order = np.argsort(f.conf)
    assert np.all(np.diff(out[order]) >= -1e-12) and out.min() >= 0 and out.max() <= 1
    pos, _ = fit_box_calibrator("position", f, y)
    test_f, test_y = _boxes(4, size_effect=12.0)
    assert log_loss(pos.conf(test_f), test_y) < log_loss(iso.conf(test_f), test_y) - 0.02
    assert pos.changes_ranking and pos.weights[3] > 0  # the width raises the calibrated confidence


def test_auto_picks_position_where_size_matters_and_reports_candidates() -> None:
    f, y = _boxes(5, size_effect=12.0)
    cal, details = fit_box_calibrator("auto", f, y)
    assert details["chosen"] == "position" == cal.method
    assert set(details["candidates"]) == {"none", *BOX_CALIBRATORS} == set(details["standard_errors"])


def test_auto_keeps_a_calibrated_conf_and_never_does_much_worse_on_new_boxes() -> None:
    """Where conf is already calibrated, a richer map is noise: auto keeps conf (T = 1) in most splits, and
    over many splits its log loss on fresh boxes never exceeds the model's own by more than 1%."""
    kept, worst = 0, 0.0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        z, fresh = rng.normal(1.0, 2.0, 400), rng.normal(1.0, 2.0, 4000)
        f = BoxFeatures.from_arrays(z, rng.uniform(0.1, 0.9, (400, 2)), rng.uniform(0.02, 0.4, (400, 2)))
        g = BoxFeatures.from_arrays(fresh, rng.uniform(0.1, 0.9, (4000, 2)), rng.uniform(0.02, 0.4, (4000, 2)))
        y, fresh_y = rng.uniform(size=400) < f.conf, rng.uniform(size=4000) < g.conf
        cal, details = fit_box_calibrator("auto", f, y)
        kept += details["chosen"] == "none"
        worst = max(worst, log_loss(cal.conf(g), fresh_y) / log_loss(g.conf, fresh_y) - 1)
    assert kept >= 20 and worst < 0.01, (kept, worst)
    f, y = _boxes(6)  # over-confident: a fitted map wins by far more than its standard error
    _, details = fit_box_calibrator("auto", f, y)
    assert details["chosen"] != "none"


@pytest.mark.parametrize("method", ["temperature", "platt"])
def test_ranking_preserving_calibrators_leave_map_unchanged(method: str) -> None:
    f, y = _boxes(6)
    cal, _ = fit_box_calibrator(method, f, y)
    rng = np.random.default_rng(0)
    cls, gt = rng.integers(0, 3, len(y)), rng.integers(0, 3, int(y.sum()) + 50)
    assert map50(cal.conf(f), cls, y, gt) == pytest.approx(map50(f.conf, cls, y, gt), abs=1e-12)


@pytest.mark.parametrize("method", sorted(BOX_CALIBRATORS))
def test_round_trip_through_a_profile_mapping(method: str) -> None:
    f, y = _boxes(7)
    cal, _ = fit_box_calibrator(method, f, y)
    again = box_calibrator_from_dict(cal.to_dict())
    np.testing.assert_allclose(again.conf(f), cal.conf(f), atol=1e-12)


def test_apply_sets_conf_calibrated_and_keeps_conf() -> None:
    det = Detections.from_logits([[0, 0, 40, 40], [10, 10, 20, 30]], [0.8808, 0.5], [0, 1],
                                 [[2.0, -3.0], [-1.0, 0.0]], ("a", "b"), shape=(100, 100))  # fmt: skip
    cal = box_calibrator_from_dict({"method": "platt", "a": 1.0, "b": -1.0})
    out = apply_box_calibrator(det, cal)
    assert [b.conf for b in out.boxes] == [b.conf for b in det.boxes]
    assert [round(b.conf_calibrated, 4) for b in out.boxes] == [0.7311, 0.2689]
    assert apply_box_calibrator(det, None) is det


def test_bad_box_calibrator_input() -> None:
    f, y = _boxes(8, n=30)
    with pytest.raises(ConfigError, match="at least 10 correct and 10 wrong"):
        fit_box_calibrator("platt", f, np.ones(30, bool))
    with pytest.raises(ConfigError, match="not a box calibration method; choose one of auto"):
        fit_box_calibrator("vector", f, y)
    with pytest.raises(ConfigError, match=r"box_calibrator\.method must be one of"):
        box_calibrator_from_dict({"method": "nope"})
    with pytest.raises(ConfigError, match=r"box_calibrator\.a of method .platt. must be a finite number"):
        box_calibrator_from_dict({"method": "platt", "a": "x", "b": 0})
    with pytest.raises(ConfigError, match="must be > 0"):
        box_calibrator_from_dict({"method": "platt", "a": -1.0, "b": 0})
    with pytest.raises(ConfigError, match="3 outcomes for 30 boxes"):
        fit_box_calibrator("temperature", f, [1, 0, 1])
