"""fit_temperature against independent oracles (scipy, torch LBFGS, a closed form) and on degenerate data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize_scalar
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import softmax as scipy_softmax

from yolo_probs.calibration import T_MAX, T_MIN, CalibrationWarning, fit_temperature
from yolo_probs.errors import ConfigError


def nll64(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    """Oracle NLL: scipy's log-softmax in float64."""
    lp = scipy_log_softmax(np.asarray(logits, np.float64) / t, axis=1)
    return float(-lp[np.arange(labels.size), labels].mean())


def scipy_fit(logits: np.ndarray, labels: np.ndarray) -> float:
    res = minimize_scalar(
        lambda lt: nll64(logits, labels, math.exp(lt)), bounds=(-4.6, 4.6), method="bounded", options={"xatol": 1e-10}
    )
    return math.exp(res.x)


def lbfgs_fit(logits: np.ndarray, labels: np.ndarray) -> float:
    """The gpleiss/temperature_scaling recipe: T = 1.5, LBFGS(lr=0.01, max_iter=50)."""
    x, y = torch.from_numpy(np.asarray(logits, np.float32)), torch.from_numpy(labels)
    t = torch.nn.Parameter(torch.ones(1) * 1.5)
    opt = torch.optim.LBFGS([t], lr=0.01, max_iter=50)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / t, y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(t.item())


def synthetic(n: int, c: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian scores plus 2 on the true class (Bayes posterior: softmax(2 x)), multiplied by ``scale``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    x = rng.standard_normal((n, c)) + 2.0 * np.eye(c)[y]
    return (scale * x).astype(np.float32), y


@pytest.mark.parametrize(("scale", "seed"), [(0.5, 0), (1.0, 1), (2.0, 2), (6.0, 3), (20.0, 4)])
def test_matches_scipy_and_beats_lbfgs(scale: float, seed: int) -> None:
    x, y = synthetic(3000, 10, scale, seed)
    t = fit_temperature(x, y)
    assert t == pytest.approx(scipy_fit(x, y), rel=1e-4)
    assert nll64(x, y, t) <= nll64(x, y, lbfgs_fit(x, y)) + 1e-7
    assert nll64(x, y, t) <= nll64(x, y, t * 1.001) and nll64(x, y, t) <= nll64(x, y, t / 1.001)


def test_recovers_the_known_overconfidence() -> None:
    x, y = synthetic(20_000, 10, 3.0, 7)  # the calibrated logits are 2 x, so the best T is close to 3/2
    assert fit_temperature(x, y) == pytest.approx(1.5, rel=0.03)


def test_large_input_uses_the_subsample_start_and_still_converges() -> None:
    x, y = synthetic(20_000, 50, 4.0, 8)  # > 4 x 4096 rows: subsample start, then polished on all rows
    assert fit_temperature(x, y) == pytest.approx(scipy_fit(x, y), rel=1e-5)


@given(p=st.floats(0.55, 0.98), margin=st.floats(0.2, 5.0))
@settings(max_examples=30, deadline=None)
def test_closed_form_two_classes(p: float, margin: float) -> None:
    # every sample has the same margin; a fraction p is right: the best T makes sigmoid(margin / T) = p
    n = 1000
    right = round(p * n)
    logits = np.tile([margin, 0.0], (n, 1))
    labels = np.array([0] * right + [1] * (n - right))
    expected = margin / math.log((right / n) / (1 - right / n))
    assert fit_temperature(logits, labels) == pytest.approx(expected, rel=1e-5)


@given(scale=st.floats(0.1, 10.0), seed=st.integers(0, 10_000))
@settings(max_examples=20, deadline=None)
def test_scaling_the_logits_scales_t(scale: float, seed: int) -> None:
    x, y = synthetic(500, 5, 1.0, seed)
    base = fit_temperature(x.astype(np.float64), y)
    assert fit_temperature(x.astype(np.float64) * scale, y) == pytest.approx(base * scale, rel=1e-4)


def test_deterministic_and_accepts_torch_and_shift() -> None:
    x, y = synthetic(800, 7, 2.0, 9)
    t = fit_temperature(x, y)
    assert fit_temperature(x, y) == t
    assert fit_temperature(torch.from_numpy(x), torch.from_numpy(y)) == t
    assert fit_temperature(x + 100.0, y) == pytest.approx(t, rel=1e-4)  # softmax is shift-invariant


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        (np.array([[np.nan, 1.0]] + [[0.0, 1.0]] * 99), np.arange(100) % 2, "NaN or inf"),
        (np.array([[np.inf, 1.0]] + [[0.0, 1.0]] * 99), np.arange(100) % 2, "NaN or inf"),
        (np.zeros((100, 3)), np.zeros(99, int), "one label per row"),
        (np.zeros(100), np.zeros(100, int), "2-D"),
        (np.zeros((100, 1)), np.zeros(100, int), "at least 2 classes"),
        (np.zeros((0, 3)), np.zeros(0, int), "no samples"),
        (np.zeros((100, 3)), np.full(100, 3), r"\[0, 3\)"),
        (np.zeros((100, 3)), np.full(100, -1), r"\[0, 3\)"),
        (np.zeros((100, 3)), np.full(100, 0.5), "whole-number"),
        (np.random.default_rng(0).normal(size=(100, 3)), np.full(100, 2), "all 100 labels are class 2"),
    ],
)
def test_bad_input_raises_config_error(logits: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fit_temperature(logits, labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_all_correct_gives_the_laplace_temperature(seed: int) -> None:
    """No mistakes: no finite NLL minimum, so T makes the mean top-1 probability (n+1)/(n+2) (scipy's root)."""
    rng = np.random.default_rng(seed)
    n, c = int(rng.integers(30, 400)), int(rng.integers(2, 12))
    y = rng.integers(0, c, n)
    x = rng.normal(size=(n, c)) * rng.uniform(0.2, 3.0) + rng.uniform(3.0, 8.0) * np.eye(c)[y]
    x[np.arange(n), y] = x.max(axis=1) + rng.uniform(0.01, 1.0, n)  # every sample right
    with pytest.warns(CalibrationWarning, match=r"all \d+ samples are classified correctly.*\(n\+1\)/\(n\+2\)"):
        t = fit_temperature(x, y)
    target = (n + 1) / (n + 2)
    oracle = brentq(
        lambda log_t: scipy_softmax(x / np.exp(log_t), axis=1).max(axis=1).mean() - target,
        np.log(T_MIN), np.log(T_MAX), xtol=1e-12,
    )  # fmt: skip
    assert math.isclose(t, math.exp(oracle), rel_tol=1e-4)


def test_all_correct_with_flat_logits_stops_at_the_bound() -> None:
    y = np.arange(200) % 4
    x = 1e-4 * np.eye(4)[y]  # right, but barely: even T = 0.01 cannot reach (n+1)/(n+2)
    with pytest.warns(CalibrationWarning, match="classified correctly"):
        assert fit_temperature(x, y) == T_MIN


def test_few_samples_warn() -> None:
    x, y = synthetic(30, 3, 2.0, 11)
    with pytest.warns(CalibrationWarning, match="only 30 labelled samples"):
        t = fit_temperature(x, y)
    assert 0 < t < math.inf


def test_uninformative_logits_hit_the_upper_bound_with_a_warning() -> None:
    rng = np.random.default_rng(12)
    y = rng.integers(0, 5, 2000)
    x = 10 * rng.normal(size=(2000, 5))
    x[np.arange(200), y[:200]] += 1000.0  # some right with huge margins: T is finite but huge
    x[np.arange(200, 400), (y[200:400] + 1) % 5] += 1000.0  # ... and as many wrong with huge margins
    with pytest.warns(CalibrationWarning, match="t_max=100"):
        t = fit_temperature(x, y)
    assert t == pytest.approx(100.0)


def test_no_warning_on_healthy_data() -> None:
    x, y = synthetic(1000, 5, 2.0, 13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit_temperature(x, y)


def test_bad_bounds() -> None:
    x, y = synthetic(100, 3, 1.0, 14)
    with pytest.raises(ConfigError, match="t_min must be below t_max"):
        fit_temperature(x, y, t_min=2.0, t_max=1.0)
