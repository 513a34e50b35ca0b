"""The shared body of the affine calibrators (:class:`~yolo_probs.calibration._fit.AffineCalibrator`).

A toy method written against it (one scale for all classes plus a bias per class) gets fitting,
warm starts, log-probabilities, profile mappings and the clear errors from the base alone, and its
fit reaches an independent scipy optimum of the same objective.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.special import log_softmax as sp_log_softmax
from scipy.special import logsumexp

from yolo_probs.calibration._fit import AffineCalibrator, as_logits
from yolo_probs.calibration.dirichlet import DirichletCalibration
from yolo_probs.calibration.vector import VectorScaling
from yolo_probs.core.probs import log_softmax
from yolo_probs.errors import ConfigError


class ScaleAndBias(AffineCalibrator):
    """``softmax(a * logits + b)``: one scale, a bias per class, biases penalised by ``reg``."""

    method: ClassVar[str] = "scale-and-bias"
    coef_key: ClassVar[str] = "scale"
    title: ClassVar[str] = "scale-and-bias"

    def __init__(self, scale: Any = None, bias: Any = None, *, reg: float = 0.1) -> None:
        super().__init__(scale, bias, reg=reg)

    @staticmethod
    def coef_shape(classes: int) -> tuple[int, ...]:
        return (1,)

    @staticmethod
    def start(t: float, classes: int) -> np.ndarray:
        return np.array([1.0 / t])

    def loss(self, data: Any, labels: Any, coef: Any, bias: Any) -> Any:
        s = data * coef.to(data.dtype) + bias.to(data.dtype)
        nll = (torch.logsumexp(s, dim=1) - s.gather(1, labels.view(-1, 1)).squeeze(1)).double().mean()
        return nll + self.reg * (bias**2).sum() / bias.numel()

    @staticmethod
    def apply(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
        return log_softmax(x * coef[0] + bias)

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        raise ConfigError("not foldable")


def data(n: int = 600, c: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    return 3.0 * (rng.standard_normal((n, c)) + 2.0 * np.eye(c)[y]) + rng.normal(0, 1, c), y


def np_loss(theta: np.ndarray, z: np.ndarray, y: np.ndarray, reg: float) -> float:
    s = z * theta[0] + theta[1:]
    return float(np.mean(logsumexp(s, axis=1) - s[np.arange(y.size), y]) + reg * np.sum(theta[1:] ** 2) / z.shape[1])


def test_a_new_method_gets_its_fit_from_the_base_and_reaches_the_scipy_optimum() -> None:
    z, y = data()
    cal = ScaleAndBias(reg=0.1).fit(z, y)
    assert cal.coef is not None and cal.coef.shape == (1,) and cal.bias is not None and cal.bias.shape == (3,)
    theta = np.concatenate([cal.coef, cal.bias])
    ref = minimize(np_loss, np.array([1.0, 0.0, 0.0, 0.0]), args=(z, y, 0.1), method="BFGS", options={"gtol": 1e-9})
    assert np_loss(theta, z, y, 0.1) <= ref.fun + 1e-8
    np.testing.assert_allclose(cal.log_probs(z), sp_log_softmax(z * cal.coef[0] + cal.bias, axis=1), atol=1e-12)
    assert cal.temperature is None and repr(cal) == "ScaleAndBias(3 classes, reg=0.1)"


def test_warm_start_begins_at_the_current_parameters() -> None:
    z, y = data()
    cal = ScaleAndBias(reg=0.1).fit(z, y)
    before = (cal.coef.copy(), cal.bias.copy())  # type: ignore[union-attr]
    cal.fit(z, y, warm_start=True, max_iter=1)  # from the optimum, one step moves (almost) nothing
    np.testing.assert_allclose(cal.coef, before[0], atol=1e-6)
    np.testing.assert_allclose(cal.bias, before[1], atol=1e-6)
    cold = ScaleAndBias(reg=0.1).fit(z, y, max_iter=1)  # from the fitted temperature: not there yet
    assert not np.allclose(cold.bias, before[1], atol=1e-6)


def test_profile_mapping_round_trips_and_one_row_keeps_its_shape() -> None:
    cal = ScaleAndBias([0.5], [0.1, 0.0, -0.1])
    assert cal.to_dict() == {"method": "scale-and-bias", "scale": [0.5], "bias": [0.1, 0.0, -0.1]}
    again = ScaleAndBias.from_dict(cal.to_dict())
    x = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(again.log_probs(x), cal.log_probs(x))
    np.testing.assert_array_equal(cal.log_probs(x[0]), cal.log_probs(x)[0])
    p = cal.probs(x)
    assert p.dtype == np.float32 and np.allclose(p.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ScaleAndBias([1.0], None), "scale-and-bias needs both scale and bias"),
        (lambda: ScaleAndBias().probs(np.zeros((1, 3))), "scale-and-bias calibrator is not fitted yet"),
        (lambda: ScaleAndBias().to_dict(), "not fitted yet"),
        (lambda: ScaleAndBias([1.0], [0.0, 0.0]).probs(np.zeros((1, 3))), "fitted on 2 classes but the logits have 3"),
        (lambda: ScaleAndBias.from_dict({"scale": [1.0]}), "needs a 'bias'"),
        (lambda: ScaleAndBias.from_dict({"scale": [1.0, 2.0], "bias": [0.0, 0.0]}), r"shape \(1,\)"),
        (lambda: ScaleAndBias.from_dict({"scale": [1.0], "bias": [0.0]}), "one number per class"),
        (lambda: ScaleAndBias(reg=-1.0), "reg must be a finite number >= 0"),
    ],
)
def test_the_base_gives_clear_errors(call: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()


@pytest.mark.parametrize("cls", [VectorScaling, DirichletCalibration])
def test_both_built_in_methods_name_themselves_in_the_shared_messages(cls: Any) -> None:
    with pytest.raises(ConfigError, match=f"this {cls.method} calibrator is not fitted yet"):
        cls().probs(np.zeros((1, 2)))
    with pytest.raises(ConfigError, match=f"{cls.title} needs both {cls.coef_key} and bias"):
        cls(None, [0.0, 0.0])


def test_as_logits_takes_numpy_lists_and_torch_alike() -> None:
    x, one_d = as_logits(torch.tensor([1.0, 2.0], requires_grad=True))
    assert one_d and x.shape == (1, 2) and x.dtype == np.float64
    assert as_logits([[1.0, 2.0]])[1] is False
    with pytest.raises(ConfigError, match=r"\(C,\) or \(N, C\)"):
        as_logits(np.zeros((1, 1, 2)))


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"method": "vector", "scale": [1.0, 2.0], "bias": [0.0]}, r"bias must be .* shape \(2,\), got shape \(1,\)"),
        (
            {"method": "vector", "scale": [1.0], "bias": [0.0, 0.0, 0.0]},
            r"scale must be .* shape \(3,\), got shape \(1,\)",
        ),
        ({"method": "vector", "scale": [1.0], "bias": [0.0]}, r"bias must list one number per class \(>= 2\)"),
        (
            {"method": "dirichlet", "weights": np.eye(3).tolist(), "bias": [0.0, 0.0]},
            r"bias must .* \(3,\), got .* \(2,\)",
        ),
        (
            {"method": "dirichlet", "weights": [[1.0, 0.0]], "bias": [0.0, 0.0]},
            r"weights must .* \(2, 2\), got .* \(1, 2\)",
        ),
    ],
)
def test_from_dict_blames_the_key_that_is_off(data: dict[str, Any], match: str) -> None:
    cls = VectorScaling if data["method"] == "vector" else DirichletCalibration
    with pytest.raises(ConfigError, match=match):
        cls.from_dict(data)


def test_scale_and_weights_can_be_assigned_as_before() -> None:
    vec = VectorScaling([1.0, 1.0], [0.0, 0.0])
    vec.scale = [2.0, 0.5]
    assert vec.coef is vec.scale and vec.to_dict()["scale"] == [2.0, 0.5]
    np.testing.assert_allclose(vec.log_probs([1.0, 1.0]), sp_log_softmax([2.0, 0.5]))
    dirichlet = DirichletCalibration()
    dirichlet.weights, dirichlet.bias = 2.0 * np.eye(2), np.zeros(2)
    assert dirichlet.coef is dirichlet.weights
    np.testing.assert_allclose(dirichlet.log_probs([0.0, 1.0]), sp_log_softmax(2.0 * sp_log_softmax([0.0, 1.0])))
    vec.scale = None
    with pytest.raises(ConfigError, match="not fitted yet"):
        vec.probs([1.0, 1.0])
