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

__all__ = ["DirichletCalibration"]

_LOG_TINY = float(np.log(np.finfo(np.float64).tiny))


def dirichlet_loss(lp: Any, y: Any, w: Any, b: Any, reg: float) -> Any:
    """The ODIR-penalised mean NLL above, as a float64 torch scalar; ``lp`` are log-probabilities."""
    import torch

    s = lp @ w.to(lp.dtype).T + b.to(lp.dtype)
    nll = (torch.logsumexp(s, dim=1) - s.gather(1, y.view(-1, 1)).squeeze(1)).double().mean()
    c = b.numel()
    off = (w**2).sum() - (torch.diagonal(w) ** 2).sum()
    return nll + reg * (off / (c * (c - 1)) + (b**2).sum() / c)


class DirichletCalibration(_fit.AffineCalibrator):
    """``softmax(weights @ log_softmax(logits) + bias)``.

    Args:
        weights, bias: the ``C x C`` matrix and ``C`` intercepts; None until :meth:`fit`.
        reg: ODIR strength (off-diagonal entries and intercepts), see the module docstring.
    """

    method: ClassVar[str] = "dirichlet"
    coef_key: ClassVar[str] = "weights"
    title: ClassVar[str] = "Dirichlet calibration"

    def __init__(self, weights: Any = None, bias: Any = None, *, reg: float = 1e-2) -> None:
        super().__init__(weights, bias, reg=reg)

    @property
    def weights(self) -> np.ndarray | None:
        """The ``C x C`` matrix, row ``k`` making class ``k`` (None until :meth:`fit`); assigning sets the map's."""
        return self.coef

    @weights.setter
    def weights(self, value: Any) -> None:
        self.coef = None if value is None else np.asarray(value, dtype=np.float64)

    @staticmethod
    def coef_shape(classes: int) -> tuple[int, ...]:
        """A ``C x C`` matrix."""
        return (classes, classes)

    @staticmethod
    def start(t: float, classes: int) -> np.ndarray:
        """``I / T``: temperature scaling of the log-probabilities."""
        return np.eye(classes) / t

    @staticmethod
    def loss_input(x: np.ndarray) -> np.ndarray:
        """The log-probabilities of the logits (the map acts on them)."""
        return log_softmax(x.astype(np.float64))

    def loss(self, data: Any, labels: Any, coef: Any, bias: Any) -> Any:
        """:func:`dirichlet_loss` at this calibrator's ``reg``."""
        return dirichlet_loss(data, labels, coef, bias, self.reg)

    @staticmethod
    def apply(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``log_softmax(weights @ log_softmax(logits) + bias)``.

        A logit of ``-inf`` (a probability of 0 recovered from an export) counts as the smallest positive
        float64 probability: ``W @ log p`` of an exact 0 would be ``0 * -inf``, NaN.
        """
        return log_softmax(np.maximum(log_softmax(x), _LOG_TINY) @ coef.T + bias)

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Append ``log_softmax`` and a ``C x C`` linear layer after the final linear layer."""
        import torch
        from torch import nn

        w, b = self.params()
        linear = nn.Linear(b.size, b.size)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        return fold_head(module, nn.Sequential(nn.LogSoftmax(dim=1), linear), "Dirichlet calibration", layer)
