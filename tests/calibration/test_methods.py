"""Vector scaling, Dirichlet calibration and ETS against independent scipy fits of the same objectives.

Also: probabilities valid on extreme inputs, determinism, degenerate data, profile round trips, folding
into a PyTorch module, and the cross-validated choice (``auto``) never worse than temperature scaling.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import logsumexp

from yolo_probs.calibration import CALIBRATORS, CalibrationWarning, calibrator_from_dict, fit_temperature
from yolo_probs.calibration.dirichlet import DirichletCalibration
from yolo_probs.calibration.ets import EnsembleTemperatureScaling
from yolo_probs.calibration.select import (
    MATRIX_MAX_CLASSES,
    fit_method,
    select_calibrator,
    stratified_folds,
)
from yolo_probs.calibration.vector import VectorScaling
from yolo_probs.errors import ConfigError


def classwise_miscalibrated(n: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose classes are miscalibrated differently: a scale and an offset per class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    z = rng.standard_normal((n, c)) + 2.0 * np.eye(c)[y]
    return z * rng.uniform(0.5, 4.0, c) + rng.normal(0.0, 1.0, c), y


def over_confident(n: int, c: int, seed: int, scale: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Bayes posterior softmax(2 x), multiplied by ``scale``: one temperature is exactly right."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return scale * (rng.standard_normal((n, c)) + 2.0 * np.eye(c)[y]), y


# --- independent objectives (numpy + scipy only) ---
def np_vector_loss(theta: np.ndarray, z: np.ndarray, y: np.ndarray, reg: float) -> float:
    c = z.shape[1]
    a, b = theta[:c], theta[c:]
    s = z * a + b
    return float(
        np.mean(logsumexp(s, axis=1) - s[np.arange(y.size), y]) + reg * (np.sum((a - a.mean()) ** 2) + np.sum(b**2)) / c
    )


def np_dirichlet_loss(theta: np.ndarray, z: np.ndarray, y: np.ndarray, reg: float) -> float:
    c = z.shape[1]
    w, b = theta[: c * c].reshape(c, c), theta[c * c :]
    s = sp_log_softmax(z, axis=1) @ w.T + b
    off = np.sum(w**2) - np.sum(np.diag(w) ** 2)
    nll = np.mean(logsumexp(s, axis=1) - s[np.arange(y.size), y])
    return float(nll + reg * (off / (c * (c - 1)) + np.sum(b**2) / c))


def np_ets_nll(w: np.ndarray, z: np.ndarray, y: np.ndarray, t: float) -> float:
    rows = np.arange(y.size)
    p = w[0] * np.exp(sp_log_softmax(z / t, axis=1))[rows, y] + w[1] * np.exp(sp_log_softmax(z, axis=1))[rows, y]
    return float(-np.mean(np.log(p + w[2] / z.shape[1])))


@pytest.mark.parametrize(("reg", "seed"), [(0.0, 0), (0.1, 1), (1.0, 2)])
def test_vector_matches_scipy(reg: float, seed: int) -> None:
    z, y = classwise_miscalibrated(800, 4, seed)
    cal = VectorScaling(reg=reg).fit(z, y)
    theta = np.concatenate([cal.scale, cal.bias])
    ref = minimize(np_vector_loss, np.concatenate([np.ones(4), np.zeros(4)]), args=(z, y, reg), method="BFGS",
                   options={"gtol": 1e-9})  # fmt: skip
    ours = np_vector_loss(theta, z, y, reg)
    assert ours <= ref.fun + 1e-8
    np.testing.assert_allclose(theta, ref.x, atol=2e-3)
    np.testing.assert_allclose(cal.log_probs(z), sp_log_softmax(z * cal.scale + cal.bias, axis=1), atol=1e-12)


@pytest.mark.parametrize(("reg", "seed"), [(0.01, 0), (1.0, 1)])
def test_dirichlet_matches_scipy(reg: float, seed: int) -> None:
    z, y = classwise_miscalibrated(600, 3, seed)
    cal = DirichletCalibration(reg=reg).fit(z, y)
    theta = np.concatenate([cal.weights.ravel(), cal.bias])
    ref = minimize(np_dirichlet_loss, np.concatenate([np.eye(3).ravel(), np.zeros(3)]), args=(z, y, reg),
                   method="BFGS", options={"gtol": 1e-9})  # fmt: skip
    assert np_dirichlet_loss(theta, z, y, reg) <= ref.fun + 1e-8
    np.testing.assert_allclose(theta, ref.x, atol=5e-3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ets_matches_scipy_on_the_simplex(seed: int) -> None:
    z, y = classwise_miscalibrated(1000, 5, seed)
    cal = EnsembleTemperatureScaling().fit(z, y)
    assert cal.tempered_at == pytest.approx(fit_temperature(z, y), rel=1e-9)
    t = cal.tempered_at
    ref = minimize(np_ets_nll, np.full(3, 1 / 3), args=(z, y, t), method="SLSQP", bounds=[(0, 1)] * 3,
                   constraints={"type": "eq", "fun": lambda w: w.sum() - 1}, options={"ftol": 1e-12})  # fmt: skip
    assert np_ets_nll(cal.weights, z, y, t) <= ref.fun + 1e-7
    np.testing.assert_allclose(cal.weights, ref.x, atol=5e-3)
    assert cal.weights.min() >= 0 and cal.weights.sum() == pytest.approx(1.0)


def test_each_method_improves_nll_on_classwise_miscalibration() -> None:
    z, y = classwise_miscalibrated(2000, 5, 3)
    zt, yt = z, y  # in-sample: each method nests temperature scaling (ETS up to its weights' boundary)
    nll = {}
    for name in ("temperature", "ets", "vector", "dirichlet"):
        cal = CALIBRATORS[name]().fit(z, y)
        lp = cal.log_probs(zt)
        nll[name] = -lp[np.arange(yt.size), yt].mean()
    assert nll["vector"] < nll["temperature"] - 0.05
    assert nll["dirichlet"] < nll["temperature"] - 0.05
    assert nll["ets"] <= nll["temperature"] + 1e-6


FITTED = {
    "vector": lambda: VectorScaling([0.5, 2.0, 1.0], [0.3, -0.2, 0.0]),
    "dirichlet": lambda: DirichletCalibration([[1.0, 0.2, 0.0], [0.0, 0.5, 0.1], [-0.3, 0.0, 2.0]], [0.1, 0.0, -0.1]),
    "ets": lambda: EnsembleTemperatureScaling(1.7, [0.6, 0.3, 0.1]),
}


@pytest.mark.parametrize("name", sorted(FITTED))
@settings(max_examples=40, deadline=None)
@given(x=st.lists(st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=3, max_size=3), min_size=1, max_size=6))
def test_probabilities_valid_on_any_finite_logits(name: str, x: list[list[float]]) -> None:
    cal = FITTED[name]()
    p = cal.probs(np.array(x))
    assert p.dtype == np.float32 and p.shape == (len(x), 3)
    assert np.isfinite(p).all() and (p >= 0).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
    assert not np.isnan(cal.log_probs(np.array(x))).any()


@pytest.mark.parametrize("name", sorted(FITTED))
def test_one_row_numpy_and_torch_inputs_agree(name: str) -> None:
    cal = FITTED[name]()
    x = np.array([[1.0, -2.0, 0.5], [3.0, 3.0, 3.0]])
    p = cal.probs(x)
    np.testing.assert_array_equal(cal.probs(x[0]), p[0])
    np.testing.assert_allclose(cal.probs(torch.from_numpy(x)), p, atol=1e-7)


@pytest.mark.parametrize("name", ["vector", "dirichlet", "ets"])
def test_fit_is_deterministic_and_round_trips(name: str) -> None:
    z, y = classwise_miscalibrated(500, 4, 7)
    a = CALIBRATORS[name]().fit(z, y)
    b = CALIBRATORS[name]().fit(z, y)
    assert a.to_dict() == b.to_dict()
    again = calibrator_from_dict(a.to_dict())
    np.testing.assert_array_equal(again.probs(z), a.probs(z))
    assert again.temperature is None and a.method == name


def test_ets_never_changes_the_ranking_but_vector_can() -> None:
    z, _ = classwise_miscalibrated(300, 3, 0)
    assert (FITTED["ets"]().probs(z).argmax(1) == z.argmax(1)).all()
    assert not EnsembleTemperatureScaling.changes_ranking
    assert (FITTED["vector"]().probs(z).argmax(1) != z.argmax(1)).any()
    assert VectorScaling.changes_ranking and DirichletCalibration.changes_ranking


@pytest.mark.parametrize("name", ["vector", "dirichlet", "ets"])
@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        ([[1.0, 0.0]] * 60, [0] * 60, "all 60 labels are class 0"),
        ([[1.0, 0.0], [0.0, 1.0]] * 30, [0, 1] * 30, "classified correctly"),
        ([[math.nan, 0.0]] + [[1.0, 0.0]] * 59, [0, 1] * 30, "NaN or inf"),
        ([[1.0, 0.0]] * 4, [0, 1, 2, 0], "class indices"),
    ],
)
def test_degenerate_data_is_a_clear_error(name: str, logits: list, labels: list, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CALIBRATORS[name]().fit(logits, labels)


def test_classes_without_samples_warn() -> None:
    z, y = classwise_miscalibrated(400, 4, 0)
    y = np.where(y == 3, 2, y)
    with pytest.warns(CalibrationWarning, match="1 of 4 classes have no calibration samples"):
        VectorScaling(reg=1.0).fit(z, y)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"method": "vector", "scale": [1.0, 2.0]}, "needs a 'bias'"),
        ({"method": "vector", "scale": [1.0, 2.0], "bias": [0.0]}, "shape"),
        ({"method": "vector", "scale": [1.0, math.inf], "bias": [0.0, 0.0]}, "finite"),
        ({"method": "vector", "scale": "big", "bias": [0.0]}, "scale must be numbers"),
        ({"method": "dirichlet", "weights": [[1.0, 0.0]], "bias": [0.0, 0.0]}, "shape"),
        ({"method": "dirichlet", "weights": [[1.0, "a"], [0.0, 1.0]], "bias": [0.0, 0.0]}, "numbers"),
        ({"method": "ets", "temperature": 1.0, "weights": [0.5, 0.6, 0.0]}, "sum to 1"),
        ({"method": "ets", "temperature": -1.0, "weights": [1.0, 0.0, 0.0]}, "temperature"),
        ({"method": "ets", "weights": [1.0, 0.0, 0.0]}, "needs a 'temperature'"),
        ({"method": "matrix"}, "calibrator.method must be one of temperature, ets, vector, dirichlet, got .matrix."),
    ],
)
def test_bad_profile_mappings(data: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        calibrator_from_dict(data)


def test_wrong_class_count_at_predict_time() -> None:
    with pytest.raises(ConfigError, match="fitted on 3 classes but the logits have 2"):
        FITTED["vector"]().probs(np.zeros((1, 2)))


@pytest.mark.parametrize("name", sorted(FITTED))
def test_fold_into_a_module_matches_the_calibrator(name: str) -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 3))
    cal = FITTED[name]()
    folded, layer = cal.fold(net)
    x = torch.randn(16, 6)
    with torch.no_grad():
        expected = cal.probs(net(x).double().numpy())
        got = torch.softmax(folded(x), dim=1).numpy()
    assert layer == "1"
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert isinstance(net[1], torch.nn.Linear)  # the original is untouched


def test_vector_fold_adds_a_missing_bias() -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False))
    folded, _ = FITTED["vector"]().fold(net)
    x = torch.randn(5, 4)
    with torch.no_grad():
        np.testing.assert_allclose(
            torch.softmax(folded(x), 1).numpy(), FITTED["vector"]().probs(net(x).numpy()), atol=1e-6
        )


# --- cross-validated choice ---
def test_stratified_folds_are_balanced_and_seeded() -> None:
    y = np.random.default_rng(0).integers(0, 7, 1003)
    f = stratified_folds(y, 5, seed=3)
    for cls in range(7):
        counts = np.bincount(f[y == cls], minlength=5)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(f).max() - np.bincount(f).min() <= 1
    np.testing.assert_array_equal(f, stratified_folds(y, 5, seed=3))
    assert not np.array_equal(f, stratified_folds(y, 5, seed=4))


def independent_cv_nll_temperature(z: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    total = 0.0
    for k in np.unique(folds):
        t = fit_temperature(z[folds != k], y[folds != k])
        lp = sp_log_softmax(z[folds == k] / t, axis=1)
        total -= lp[np.arange(lp.shape[0]), y[folds == k]].sum()
    return total / y.size


@pytest.mark.parametrize(
    ("data", "expect"),
    [
        (lambda: over_confident(800, 4, 0), "temperature"),  # one temperature is the true model
        (lambda: classwise_miscalibrated(800, 4, 1), None),
        (lambda: classwise_miscalibrated(120, 6, 2), None),  # few images per class
        (lambda: over_confident(400, 10, 3, scale=0.3), None),  # under-confident
    ],
)
def test_auto_is_never_worse_than_temperature_in_cv_nll(data, expect) -> None:
    z, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        result = select_calibrator(z, y, folds=5, seed=0)
    table = {c.label: c for c in result.candidates}
    temp = table["temperature"]
    assert temp.cv_nll == pytest.approx(independent_cv_nll_temperature(z, y, stratified_folds(y, 5, 0)), rel=1e-9)
    chosen = [c for c in result.candidates if c.chosen]
    assert len(chosen) == 1 and chosen[0].method == result.method == result.calibrator.method
    assert chosen[0].cv_nll <= temp.cv_nll
    finite = [c.cv_nll for c in result.candidates if math.isfinite(c.cv_nll)]
    assert chosen[0].cv_nll <= min(finite) * 1.002 + 1e-4  # the best, up to the near-tie margin
    if expect:
        assert result.method == expect


def test_auto_prefers_a_classwise_method_when_classes_differ() -> None:
    z, y = classwise_miscalibrated(1500, 5, 4)
    result = select_calibrator(z, y)
    assert result.method in ("vector", "dirichlet")
    assert result.calibrator.to_dict()["method"] == result.method
    rows = result.table()
    assert {r["method"] for r in rows} == {"temperature", "ets", "vector", "dirichlet"}
    assert sum(r["chosen"] for r in rows) == 1


def test_auto_skips_the_full_matrix_for_many_classes() -> None:
    z, y = over_confident(2 * (MATRIX_MAX_CLASSES + 1) * 5, MATRIX_MAX_CLASSES + 1, 0)
    result = select_calibrator(z, y, folds=2)
    assert "dirichlet" not in {c.method for c in result.candidates}
    assert any("dirichlet not tried" in n for n in result.notes)


def test_a_single_method_cross_validates_its_strength_against_a_temperature_reference() -> None:
    z, y = classwise_miscalibrated(800, 4, 5)
    result = fit_method("vector", z, y)
    assert result.method == "vector" and result.reg is not None
    ref = [c for c in result.candidates if c.method == "temperature"]
    assert len(ref) == 1 and not ref[0].eligible and not ref[0].chosen
    assert fit_method("ets", z, y).candidates == ()


def test_too_few_samples_for_cv_keep_temperature() -> None:
    z, y = classwise_miscalibrated(30, 3, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        result = select_calibrator(z, y)
    assert result.method == "temperature" and result.candidates == ()
    assert "too few" in result.notes[0]


@pytest.mark.parametrize(("kwargs", "match"), [({"folds": 1}, "folds"), ({"methods": ("matrix",)}, "unknown")])
def test_select_bad_options(kwargs: dict, match: str) -> None:
    z, y = over_confident(200, 3, 0)
    with pytest.raises(ConfigError, match=match):
        select_calibrator(z, y, **kwargs)
