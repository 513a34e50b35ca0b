"""Dirichlet calibration (Kull et al. 2019): a linear map on the log-probabilities, with ODIR regularisation.

``softmax(W @ log_softmax(logits) + b)`` with a ``C x C`` matrix ``W`` and ``C`` intercepts ``b``. The
fit minimises the mean NLL plus Kull et al.'s off-diagonal and intercept regularisation (ODIR), with
one strength ``reg`` for both (their lambda = mu):

    mean NLL + reg * (sum_{i != j} W_ij**2 / (C (C - 1)) + sum_j b_j**2 / C)

starting from the fitted temperature (``W = I / T``, ``b = 0``, which is temperature scaling). The
diagonal is not penalised, so the fit can always do what vector scaling on log-probabilities does.
``C x C`` parameters: fine for tens of classes, a million for 1,000 (``auto`` leaves it out there, see
:mod:`yolo_probs.calibration.select`). It can change the predicted class (``changes_ranking``).

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.dirichlet import DirichletCalibration
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 900)
    >>> z = 3.0 * (rng.normal(size=(900, 3)) + 2.0 * np.eye(3)[y])  # over-confident by 3 / 2
    >>> cal = DirichletCalibration(reg=1e-2).fit(z, y)
    >>> cal.weights.shape, bool(np.all(np.abs(np.diag(cal.weights) - 2 / 3) < 0.15))
    ((3, 3), True)
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from yolo_probs.calibration import _fit
from yolo_probs.calibration.fold import fold_head
from yolo_probs.core.probs import log_softmax
from yolo_probs.errors import ConfigError

__all__ = ["DirichletCalibration"]


def dirichlet_loss(lp: Any, y: Any, w: Any, b: Any, reg: float) -> Any:
    """The ODIR-penalised mean NLL above, as a float64 torch scalar; ``lp`` are log-probabilities."""
    import torch

    s = lp @ w.to(lp.dtype).T + b.to(lp.dtype)
    nll = (torch.logsumexp(s, dim=1) - s.gather(1, y.view(-1, 1)).squeeze(1)).double().mean()
    c = b.numel()
    off = (w**2).sum() - (torch.diagonal(w) ** 2).sum()
    return nll + reg * (off / (c * (c - 1)) + (b**2).sum() / c)


class DirichletCalibration:
    """``softmax(weights @ log_softmax(logits) + bias)``.

    Args:
        weights, bias: the ``C x C`` matrix and ``C`` intercepts; None until :meth:`fit`.
        reg: ODIR strength (off-diagonal entries and intercepts), see the module docstring.
    """

    method: ClassVar[str] = "dirichlet"
    changes_ranking: ClassVar[bool] = True

    def __init__(self, weights: Any = None, bias: Any = None, *, reg: float = 1e-2) -> None:
        self.reg = _fit.check_reg(reg, "reg")
        self.weights: np.ndarray | None = None
        self.bias: np.ndarray | None = None
        if (weights is None) != (bias is None):
            raise ConfigError("Dirichlet calibration needs both weights and bias (or neither, before fit)")
        if weights is not None:
            done = self.from_dict({"method": self.method, "weights": weights, "bias": bias})
            self.weights, self.bias = done.weights, done.bias

    def __repr__(self) -> str:
        k = "unfitted" if self.bias is None else f"{self.bias.size} classes"
        return f"DirichletCalibration({k}, reg={self.reg:g})"

    @property
    def temperature(self) -> float | None:
        """None: a matrix, not one temperature."""
        return None

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self.weights is None or self.bias is None:
            raise ConfigError("this dirichlet calibrator is not fitted yet; call fit(logits, labels) first")
        return self.weights, self.bias

    def fit(
        self, logits: Any, labels: Any, *, warm_start: bool = False, max_iter: int = _fit.MAX_ITER
    ) -> DirichletCalibration:
        """Minimise the ODIR-penalised NLL; returns ``self``; ConfigError on degenerate data (as temperature).

        With ``warm_start`` a fitted calibrator starts from its current parameters; else from the
        fitted temperature.
        """
        import torch

        x, y, t = _fit.prepare(logits, labels, self.method)
        c = x.shape[1]
        lp = _fit.to_torch(log_softmax(x.astype(np.float64)), _fit.compute_dtype(x))
        yt = torch.from_numpy(y)
        start = [np.eye(c) / t, np.zeros(c)]
        if warm_start and self.weights is not None and self.bias is not None and self.bias.size == c:
            start = [self.weights, self.bias]
        w, b = _fit.minimize(lambda p: dirichlet_loss(lp, yt, p[0], p[1], self.reg), start, max_iter)
        self.weights, self.bias = w, b
        return self

    def log_probs(self, logits: Any) -> np.ndarray:
        """``log_softmax(weights @ log_softmax(logits) + bias)`` in float64."""
        w, b = self._params()
        x, one_d = _fit.as_logits(logits)
        _fit.check_classes(x, b.size, self.method)
        return _fit.finish(log_softmax(log_softmax(x) @ w.T + b), one_d)

    def probs(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities (float32, rows sum to 1)."""
        return _fit.probs_from_log(self.log_probs(logits))

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "dirichlet", "weights": [[...], ...], "bias": [...]}`` (row ``k`` makes class ``k``)."""
        w, b = self._params()
        return {"method": self.method, "weights": w.tolist(), "bias": b.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DirichletCalibration:
        """From :meth:`to_dict`'s mapping."""
        bias = data.get("bias")
        n = len(bias) if isinstance(bias, list | tuple | np.ndarray) else -1
        if n < 2:
            raise ConfigError(f"calibrator 'dirichlet': bias must list one number per class (>= 2), got {bias!r}")
        cal = cls.__new__(cls)
        cal.reg = 0.0
        cal.weights = _fit.check_matrix(data, "weights", (n, n), cls.method)
        cal.bias = _fit.check_matrix(data, "bias", (n,), cls.method)
        return cal

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Append ``log_softmax`` and a ``C x C`` linear layer after the final linear layer."""
        import torch
        from torch import nn

        w, b = self._params()
        linear = nn.Linear(b.size, b.size)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        return fold_head(module, nn.Sequential(nn.LogSoftmax(dim=1), linear), "Dirichlet calibration", layer)
