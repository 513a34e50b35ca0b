"""Ensemble temperature scaling (Zhang et al. 2020): a weighted mix of the tempered, original and uniform distribution.

``p = w0 * softmax(logits / T) + w1 * softmax(logits) + w2 / C`` with ``w >= 0`` summing to 1. T is
fitted first by temperature scaling, then the weights minimise the mean NLL of ``p`` (convex in ``w``;
Zhang et al. fit them by mean squared error instead, NLL keeps one objective for every method here and
for the cross-validation of ``auto``). The NLL only needs each sample's probability of its own label,
so the weight fit is a few passes over ``N`` numbers. The mix never changes the ranking: both softmaxes
rank the classes like the logits do. ``w = (1, 0, 0)`` is temperature scaling.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.ets import EnsembleTemperatureScaling
    >>> cal = EnsembleTemperatureScaling(temperature=2.0, weights=(0.5, 0.25, 0.25))
    >>> # 0.5 * softmax([1, 0]) + 0.25 * softmax([2, 0]) + 0.25 / 2
    >>> cal.probs(np.array([2.0, 0.0])).astype(float).round(4).tolist()
    [0.7107, 0.2893]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from yolo_probs.calibration import _fit
from yolo_probs.calibration.fold import fold_head
from yolo_probs.core.probs import check_temperature, log_softmax
from yolo_probs.errors import ConfigError

__all__ = ["EnsembleTemperatureScaling"]


def ets_loss(p_t: Any, p_1: Any, c: int, v: Any) -> Any:
    """Mean NLL of the mix with weights ``softmax(v)``, from each sample's label probability at T and at 1."""
    import torch

    w = torch.softmax(v, dim=0)
    return -torch.log(w[0] * p_t + w[1] * p_1 + w[2] / c).mean()


class EnsembleTemperatureScaling(_fit.LogProbsCalibrator):
    """``w0 softmax(z / T) + w1 softmax(z) + w2 / C``.

    :attr:`temperature` is None (the mix is not one temperature); :attr:`tempered_at` is T.

    Args:
        temperature: T (None until :meth:`fit`).
        weights: ``(w0, w1, w2)``, >= 0, summing to 1 (None until :meth:`fit`).
    """

    method: ClassVar[str] = "ets"
    changes_ranking: ClassVar[bool] = False

    def __init__(self, temperature: float | None = None, weights: Any = None) -> None:
        self._t: float | None = None
        self.weights: np.ndarray | None = None
        if (temperature is None) != (weights is None):
            raise ConfigError("ETS needs both temperature and weights (or neither, before fit)")
        if temperature is not None:
            done = self.from_dict({"method": self.method, "temperature": temperature, "weights": weights})
            self._t, self.weights = done._t, done.weights

    def __repr__(self) -> str:
        if self.weights is None:
            return "EnsembleTemperatureScaling(unfitted)"
        return f"EnsembleTemperatureScaling(T={self._t:.4g}, weights={np.round(self.weights, 4).tolist()})"

    @property
    def tempered_at(self) -> float | None:
        """The temperature of the tempered member of the mix."""
        return self._t

    def params(self) -> tuple[float, np.ndarray]:
        """``(T, weights)``; ConfigError before :meth:`fit`."""
        if self._t is None or self.weights is None:
            raise self.not_fitted()
        return self._t, self.weights

    def fit(self, logits: Any, labels: Any) -> EnsembleTemperatureScaling:
        """Fit T (temperature scaling), then the weights by NLL; returns ``self``."""
        import torch

        x, y, t = _fit.prepare(logits, labels, self.method)
        rows = np.arange(y.size)
        x64 = x.astype(np.float64)
        p_t = torch.from_numpy(np.exp(log_softmax(x64 / t)[rows, y]))
        p_1 = torch.from_numpy(np.exp(log_softmax(x64)[rows, y]))
        c = x.shape[1]
        (v,) = _fit.minimize(lambda p: ets_loss(p_t, p_1, c, p[0]), [np.array([2.0, 0.0, 0.0])])
        w = np.exp(v - v.max())
        self._t, self.weights = t, w / w.sum()
        return self

    def log_probs(self, logits: Any) -> np.ndarray:
        """``log`` of the mix in float64 (log-sum-exp of the three weighted members, never NaN)."""
        t, w = self.params()
        x, one_d = _fit.as_logits(logits)
        c = x.shape[1]
        with np.errstate(divide="ignore"):
            lw = np.log(w)  # a weight of exactly 0 gives -inf: that member drops out
            parts = np.stack([lw[0] + log_softmax(x / t), lw[1] + log_softmax(x), np.full(x.shape, lw[2] - np.log(c))])
        top = parts.max(axis=0)
        return _fit.finish(top + np.log(np.exp(parts - top).sum(axis=0)), one_d)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "ets", "temperature": T, "weights": [w0, w1, w2]}``."""
        t, w = self.params()
        return {"method": self.method, "temperature": float(t), "weights": w.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnsembleTemperatureScaling:
        """From :meth:`to_dict`'s mapping; weights must be >= 0 and sum to 1."""
        if "temperature" not in data:
            raise ConfigError("calibrator 'ets' needs a 'temperature' value")
        t = check_temperature(data["temperature"])
        w = _fit.check_matrix(data, "weights", (3,), cls.method)
        if (w < 0).any() or abs(w.sum() - 1.0) > 1e-6:
            raise ConfigError(f"calibrator 'ets': weights must be >= 0 and sum to 1, got {w.tolist()}")
        cal = cls.__new__(cls)
        cal._t, cal.weights = t, w / w.sum()
        return cal

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Append the mix after the final linear layer; the folded logits are ``log p``."""
        t, w = self.params()
        return fold_head(module, _EtsHead(t, w), "ensemble temperature scaling", layer)


def _ets_head_class() -> type:
    from torch import nn

    class EtsHead(nn.Module):
        """logits -> log(w0 softmax(z / T) + w1 softmax(z) + w2 / C), as plain graph ops."""

        def __init__(self, t: float, w: np.ndarray) -> None:
            super().__init__()
            import torch

            self.inv_t = float(1.0 / t)
            self.register_buffer("w", torch.tensor(w, dtype=torch.float32))

        def forward(self, z: Any) -> Any:
            import torch

            w: Any = self.w
            p = w[0] * torch.softmax(z * self.inv_t, dim=1) + w[1] * torch.softmax(z, dim=1)
            # 1 / C as softmax of zeros: no shape arithmetic, which a graph simplifier folded away wrongly
            p = p + w[2] * torch.softmax(torch.zeros_like(z), dim=1)
            return torch.log(p.clamp_min(1e-30))

    return EtsHead


def _EtsHead(t: float, w: np.ndarray) -> Any:
    return _ets_head_class()(t, w)
