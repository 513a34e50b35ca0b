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
from yolo_probs.errors import ConfigError

__all__ = ["VectorScaling"]


def vector_loss(z: Any, y: Any, a: Any, b: Any, reg: float) -> Any:
    """The penalised mean NLL above, as a float64 torch scalar (``z`` may be float32)."""
    import torch

    s = z * a.to(z.dtype) + b.to(z.dtype)
    nll = (torch.logsumexp(s, dim=1) - s.gather(1, y.view(-1, 1)).squeeze(1)).double().mean()
    c = a.numel()
    return nll + reg * (((a - a.mean()) ** 2).sum() + (b**2).sum()) / c


class VectorScaling:
    """``softmax(scale * logits + bias)`` with one scale and one bias per class.

    Args:
        scale, bias: the parameters (``C`` numbers each); None until :meth:`fit`.
        reg: strength of the penalty towards temperature scaling (see the module docstring).
    """

    method: ClassVar[str] = "vector"
    changes_ranking: ClassVar[bool] = True

    def __init__(self, scale: Any = None, bias: Any = None, *, reg: float = 0.0) -> None:
        self.reg = _fit.check_reg(reg, "reg")
        self.scale: np.ndarray | None = None if scale is None else np.asarray(scale, dtype=np.float64).reshape(-1)
        self.bias: np.ndarray | None = None if bias is None else np.asarray(bias, dtype=np.float64).reshape(-1)
        if (self.scale is None) != (self.bias is None):
            raise ConfigError("vector scaling needs both scale and bias (or neither, before fit)")
        if self.scale is not None and self.bias is not None:
            self.from_dict({"method": self.method, "scale": self.scale.tolist(), "bias": self.bias.tolist()})

    def __repr__(self) -> str:
        k = "unfitted" if self.scale is None else f"{self.scale.size} classes"
        return f"VectorScaling({k}, reg={self.reg:g})"

    @property
    def temperature(self) -> float | None:
        """None: there is no single temperature (one scale per class)."""
        return None

    def _params(self) -> tuple[np.ndarray, np.ndarray]:
        if self.scale is None or self.bias is None:
            raise ConfigError("this vector calibrator is not fitted yet; call fit(logits, labels) first")
        return self.scale, self.bias

    def fit(
        self, logits: Any, labels: Any, *, warm_start: bool = False, max_iter: int = _fit.MAX_ITER
    ) -> VectorScaling:
        """Minimise the penalised NLL; returns ``self``; ConfigError on degenerate data (as temperature).

        With ``warm_start`` a fitted calibrator starts from its current parameters (cross-validation
        over ``reg`` uses it); else from the fitted temperature.
        """
        import torch

        x, y, t = _fit.prepare(logits, labels, self.method)
        c = x.shape[1]
        z = _fit.to_torch(x, _fit.compute_dtype(x))
        start = [np.full(c, 1.0 / t), np.zeros(c)]
        if warm_start and self.scale is not None and self.bias is not None and self.scale.size == c:
            start = [self.scale, self.bias]
        yt = torch.from_numpy(y)
        a, b = _fit.minimize(lambda p: vector_loss(z, yt, p[0], p[1], self.reg), start, max_iter)
        self.scale, self.bias = a, b
        return self

    def log_probs(self, logits: Any) -> np.ndarray:
        """``log_softmax(scale * logits + bias)`` in float64."""
        a, b = self._params()
        x, one_d = _fit.as_logits(logits)
        _fit.check_classes(x, a.size, self.method)
        return _fit.finish(log_softmax(x * a + b), one_d)

    def probs(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities (float32, rows sum to 1)."""
        return _fit.probs_from_log(self.log_probs(logits))

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "vector", "scale": [...], "bias": [...]}``."""
        a, b = self._params()
        return {"method": self.method, "scale": a.tolist(), "bias": b.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VectorScaling:
        """From :meth:`to_dict`'s mapping."""
        scale = data.get("scale")
        n = len(scale) if isinstance(scale, list | tuple | np.ndarray) else -1
        a = _fit.check_matrix(data, "scale", (n,), cls.method)
        b = _fit.check_matrix(data, "bias", (n,), cls.method)
        if n < 2:
            raise ConfigError(f"calibrator 'vector': scale must list one number per class (>= 2), got {scale!r}")
        cal = cls.__new__(cls)
        cal.reg, cal.scale, cal.bias = 0.0, a, b
        return cal

    def fold(self, module: Any, layer: str | None = None) -> tuple[Any, str]:
        """Scale the final layer's weight rows and bias by ``scale``, then add ``bias``: no extra graph ops."""
        a, b = self._params()
        return fold_affine(module, a, b, layer)
