"""``auto``'s robust choice: per-image CV standard errors, the one-SE rule, the evidence rule, and no harm
on mildly shifted new images over many random splits of data made here."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.special import log_softmax

from yolo_probs.calibration import CalibrationWarning, fit_temperature
from yolo_probs.calibration.select import (
    METHODS,
    MIN_ERRORS,
    Candidate,
    _candidates,
    _hold_back,
    _make,
    _n_params,
    needed_errors,
    select_calibrator,
    stratified_folds,
)


def confident(n: int, c: int, rng: np.random.Generator, signal: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """An accurate, over-confident model with class-wise quirks: few errors, a scale and offset per class."""
    y = rng.integers(0, c, n)
    z = rng.standard_normal((n, c)) + signal * np.eye(c)[y]
    return 3.0 * z * rng.uniform(0.8, 1.25, c) + rng.normal(0.0, 0.3, c), y


def quiet_select(z: np.ndarray, y: np.ndarray, **kwargs: object):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        return select_calibrator(z, y, **kwargs)


def test_standard_errors_match_an_independent_cross_validation() -> None:
    z, y = confident(600, 4, np.random.default_rng(0), signal=1.5)
    result = quiet_select(z, y)
    folds = stratified_folds(y, 5, 0)
    per_image = np.empty(y.size)
    for k in range(5):
        t = fit_temperature(z[folds != k], y[folds != k])
        lp = log_softmax(z[folds == k] / t, axis=1)
        per_image[folds == k] = -lp[np.arange(lp.shape[0]), y[folds == k]]
    temp = next(c for c in result.candidates if c.method == "temperature")
    assert temp.cv_nll == pytest.approx(per_image.mean(), rel=1e-9)
    assert temp.cv_se == pytest.approx(per_image.std(ddof=1) / math.sqrt(y.size), rel=1e-6)
    rows = result.table()
    assert all(r["cv_se"] > 0 and r["gap_se"] is not None for r in rows)
    assert min(r["gap"] for r in rows if r["eligible"]) == 0.0  # the best eligible candidate


def test_few_errors_hold_back_per_class_methods() -> None:
    rng = np.random.default_rng(1)
    z, y = confident(450, 3, rng)
    errors = int(np.sum(z.argmax(axis=1) != y))
    assert 5 <= errors < MIN_ERRORS
    result = quiet_select(z, y)
    assert result.method in ("temperature", "ets")
    held = [c for c in result.candidates if c.method in ("vector", "dirichlet")]
    assert held and all(not c.eligible and f"{errors} calibration errors" in c.note for c in held)
    assert any("not eligible" in n and str(MIN_ERRORS) in n for n in result.notes)
    # asked for by name, a per-class method is still fitted, with a warning note
    alone = quiet_select(z, y, methods=("dirichlet",))
    assert alone.method == "dirichlet" and any("check its NLL on held-out images" in n for n in alone.notes)


def test_a_richer_method_wins_where_the_data_supports_it() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 4, 1000)
    z = (rng.standard_normal((1000, 4)) + 1.5 * np.eye(4)[y]) * rng.uniform(0.5, 4.0, 4) + rng.normal(0, 1, 4)
    result = quiet_select(z, y)
    assert result.method in ("vector", "dirichlet")
    temp = next(c for c in result.candidates if c.method == "temperature")
    assert temp.gap > temp.gap_se  # temperature lost by more than one paired SE


def test_auto_does_no_harm_on_shifted_new_images_over_many_splits() -> None:
    """Few calibration errors, and new images mildly shifted (logits shrunk and noised): over random
    splits, auto's test NLL is never more than 2% above temperature scaling's."""
    rng = np.random.default_rng(3)
    ratios = []
    for _ in range(20):
        z, y = confident(900, 3, rng, signal=3.0)
        z_test = 0.85 * z[450:] + rng.normal(0.0, 1.5, z[450:].shape)
        result = quiet_select(z[:450], y[:450])
        temp = _make("temperature", None).fit(z[:450], y[:450])

        def nll(cal: object, z_test: np.ndarray = z_test, y_test: np.ndarray = y[450:]) -> float:
            lp = np.asarray(cal.log_probs(z_test), dtype=np.float64)
            return float(-lp[np.arange(y_test.size), y_test].mean())

        ratios.append(nll(result.calibrator) / nll(temp))
    assert max(ratios) <= 1.02, ratios


@pytest.mark.parametrize(
    ("classes", "errors", "held"),
    [(10, 80, {"dirichlet"}), (10, 120, set()), (3, 49, {"vector", "dirichlet"}), (3, 60, set())],
)
def test_dirichlet_needs_one_error_per_parameter(classes: int, errors: int, held: set[str]) -> None:
    """Between 50 and C**2 + C errors, vector scaling is eligible and Dirichlet is not (its 110 parameters at 10
    classes would each be fitted to under one mistake)."""
    table = [Candidate(m, r, _n_params(m, classes), 0.5, 0.9, 0.0) for m, r in _candidates(METHODS)]
    notes: list[str] = []
    kept = _hold_back(table, METHODS, errors, notes)
    assert {c.method for c in kept if c.note} == held
    assert {m for m in ("vector", "dirichlet") if needed_errors(m, classes) > errors} == held
    if "dirichlet" in held and classes == 10:
        assert any("fewer than the 110 it needs" in n for n in notes) and not any("vector" in n for n in notes)
