"""Vector scaling (Guo et al. 2017): a scale and a bias per class, ``softmax(a * logits + b)``.

The fit minimises the penalised mean NLL

    mean_i [ logsumexp(a * z_i + b) - (a_y z_iy + b_y) ] + reg * (sum_k (a_k - mean(a))**2 + sum_k b_k**2) / C

from the fitted temperature (``a = 1 / T``, ``b = 0``). The penalty pulls the fit towards temperature
scaling (equal scales, no biases), which is what small calibration sets need; ``reg = 0`` is plain
vector scaling. It can change the predicted class (``changes_ranking``).

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration.vector import VectorScaling
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 600)
    >>> z = rng.normal(size=(600, 3)) + 2.0 * np.eye(3)[y]
    >>> z[:, 0] *= 4.0  # class 0 is over-confident, the others are not
    >>> cal = VectorScaling(reg=1e-3).fit(z, y)
    >>> cal.scale.round(1).tolist()  # class 0's logits are shrunk, the others sharpened
    [0.6, 1.7, 2.0]
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from yolo_probs.calibration import _fit
from yolo_probs.calibration.fold import fold_affine
from yolo_probs.core.probs import log_softmax

__all__ = ["VectorScaling"]


def vector_loss(z: Any, y: Any, a: Any, b: Any, reg: float) -> Any:
    """The penalised mean NLL above, as a float64 torch scalar (``z`` may be float32)."""
    import torch

    s = z * a.to(z.dtype) + b.to(z.dtype)
    nll = (torch.logsumexp(s, dim=1) - s.gather(1, y.view(-1, 1)).squeeze(1)).double().mean()
    c = a.numel()
    return nll + reg * (((a - a.mean()) ** 2).sum() + (b**2).sum()) / c


class VectorScaling(_fit.AffineCalibrator):
    """``softmax(scale * logits + bias)`` with one scale and one bias per class.

    Args:
        scale, bias: the parameters (``C`` numbers each); None until :meth:`fit`.
        reg: strength of the penalty towards temperature scaling (see the module docstring).
    """

    method: ClassVar[str] = "vector"
    coef_key: ClassVar[str] = "scale"
    title: ClassVar[str] = "vector scaling"

    def __init__(self, scale: Any = None, bias: Any = None, *, reg: float = 0.0) -> None:
        flat = [None if v is None else np.asarray(v, dtype=np.float64).reshape(-1) for v in (scale, bias)]
        super().__init__(*flat, reg=reg)

    @property
    def scale(self) -> np.ndarray | None:
        """The ``C`` scales (None until :meth:`fit`); assigning sets the coefficient the map uses."""
        return self.coef

    @scale.setter
    def scale(self, value: Any) -> None:
        self.coef = None if value is None else np.asarray(value, dtype=np.float64).reshape(-1)

    @staticmethod
    def coef_shape(classes: int) -> tuple[int, ...]:
        """One scale per class."""
        return (classes,)

    @staticmethod
    def start(t: float, classes: int) -> np.ndarray:
        """Every scale ``1 / T``."""
        return np.full(classes, 1.0 / t)

    def loss(self, data: Any, labels: Any, coef: Any, bias: Any) -> Any:
        """:func:`vector_loss` at this calibrator's ``reg``."""
        return vector_loss(data, labels, coef, bias, self.reg)

    @staticmethod
    def apply(x: np.ndarray, coef: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``log_softmax(scale * logits + bias)``."""
        return log_softmax(x * coef + bias)

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Scale the final layer's weight rows and bias by ``scale``, then add ``bias``: no extra graph ops."""
        a, b = self.params()
        return fold_affine(module, a, b, layer)
