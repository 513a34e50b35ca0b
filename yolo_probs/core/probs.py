"""Pure math core: temperature softmax and top-k filtering.

Only numpy is imported at module level; torch tensors are handled with torch's own operations when
they are passed in (the module never imports torch for numpy inputs). Nothing here knows about
Ultralytics, images or models.

Example:
    >>> import numpy as np
    >>> from yolo_probs.core.probs import softmax, top_k
    >>> p = softmax(np.array([2.0, 1.0, 0.1]), temperature=2.0)
    >>> np.round(p, 4).tolist()
    [0.5017, 0.3043, 0.194]
    >>> [(c.index, round(c.prob, 3)) for c in top_k(p, k=2)]
    [(0, 0.502), (1, 0.304)]
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeVar

import numpy as np

from yolo_probs.core.checks import is_torch
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")

__all__ = [
    "ProbabilityMap",
    "TopClass",
    "check_min_prob",
    "check_temperature",
    "check_top_k",
    "log_softmax",
    "softmax",
    "top_k",
]


class TopClass(NamedTuple):
    """One ranked class: unpacks as ``(index, name, prob)``."""

    index: int  # type: ignore[assignment]  # shadows tuple.index on purpose: Ultralytics users say "index"
    name: str
    prob: float


class ProbabilityMap(Protocol):
    """What the core needs of a calibrator: its name, its temperature if it has one, and its map from logits.

    Every calibrator (:class:`~yolo_probs.calibration.base.Calibrator`) is one; the core never needs more.
    """

    method: ClassVar[str]

    @property
    def temperature(self) -> float | None: ...

    def log_probs(self, logits: Any) -> np.ndarray:
        """Calibrated log-probabilities for ``(C,)`` or ``(N, C)`` logits (float64, never NaN)."""
        ...

    def probs(self, logits: Any) -> np.ndarray:
        """Calibrated probabilities, same shape as ``logits``, rows summing to 1 (float32)."""
        ...


def check_temperature(temperature: Any) -> float:
    """Return ``temperature`` as a float if it is a finite number > 0, else raise :class:`ConfigError`.

    Example:
        >>> check_temperature(2)
        2.0
    """
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise ConfigError(
            f"temperature must be a number, got {temperature!r} ({type(temperature).__name__}); pass e.g. 1.5"
        )
    t = float(temperature)
    if not math.isfinite(t) or t <= 0.0:
        raise ConfigError(f"temperature must be a finite number > 0, got {temperature!r}; pass e.g. 1.5")
    return t


def check_top_k(k: Any) -> int:
    """Return ``k`` as an int if it is a whole number >= 1, else raise :class:`ConfigError`.

    Example:
        >>> check_top_k(3)
        3
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1:
        raise ConfigError(f"top-k must be a whole number >= 1, got {k!r}; pass e.g. 5")
    return int(k)


def check_min_prob(min_prob: Any) -> float | None:
    """Return ``min_prob`` as a float in [0, 1] (or None), else raise :class:`ConfigError`.

    Example:
        >>> check_min_prob(0.25)
        0.25
    """
    if min_prob is None:
        return None
    if isinstance(min_prob, bool) or not isinstance(min_prob, numbers.Real) or not 0.0 <= float(min_prob) <= 1.0:
        raise ConfigError(f"min_prob must be a number in [0, 1], got {min_prob!r}; pass e.g. 0.2")
    return float(min_prob)


def _scaled_shifted(x: np.ndarray, t: float, axis: int) -> np.ndarray:
    """``(x - max) / t`` in float64 (or wider): every entry is <= 0 and each maximum is exactly 0.

    Shifting before dividing, in float64, means a huge ``1/t`` can at worst give ``-inf``, whose
    exponential is a clean 0: never ``inf - inf`` or ``0 / 0``, so never NaN for finite logits.
    """
    work = np.result_type(x.dtype, np.float64) if np.issubdtype(x.dtype, np.floating) else np.float64
    x = x.astype(work, copy=False)
    with np.errstate(over="ignore", under="ignore"):
        z = x - np.max(x, axis=axis, keepdims=True)
        return z / t if t != 1.0 else z


def softmax(logits: ArrayT | Sequence[float], temperature: float = 1.0, axis: int = -1) -> ArrayT:
    """Softmax of ``logits / temperature`` along ``axis``; numerically stable for any T > 0.

    Accepts numpy arrays (and lists) or torch tensors of any batch shape. The work is done in float64
    and floating inputs get their own dtype back (float16/32/64); integer inputs give float64. For finite
    logits the result is never NaN: a tiny T tends to one-hot (ties share), a huge T to uniform.

    Example:
        >>> softmax([2.0, 1.0, 0.1]).round(8).tolist()
        [0.65900114, 0.24243297, 0.09856589]
    """
    t = check_temperature(temperature)
    if is_torch(logits):
        import torch

        z, dtype = _torch_scaled_shifted(logits, t, axis)  # type: ignore[arg-type]
        return torch.softmax(z, dim=axis).to(dtype)  # type: ignore[return-value]
    x = np.asarray(logits)
    with np.errstate(under="ignore"):
        e = np.exp(_scaled_shifted(x, t, axis))
    p = e / np.sum(e, axis=axis, keepdims=True)
    return p.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else p


def log_softmax(logits: ArrayT | Sequence[float], temperature: float = 1.0, axis: int = -1) -> ArrayT:
    """Log of :func:`softmax`, computed directly (log-sum-exp) so tiny probabilities keep their precision.

    Entries can be ``-inf`` where the probability is exactly 0 (only for extreme ``logits / T``).

    Example:
        >>> import numpy as np
        >>> bool(np.allclose(np.exp(log_softmax([3.2, 5.1, 2.7])), softmax([3.2, 5.1, 2.7])))
        True
    """
    t = check_temperature(temperature)
    if is_torch(logits):
        import torch

        zt, dtype = _torch_scaled_shifted(logits, t, axis)  # type: ignore[arg-type]
        return torch.log_softmax(zt, dim=axis).to(dtype)  # type: ignore[return-value]
    x = np.asarray(logits)
    z = _scaled_shifted(x, t, axis)
    with np.errstate(divide="ignore", under="ignore"):
        out = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return out.astype(x.dtype, copy=False) if np.issubdtype(x.dtype, np.floating) else out


def _torch_scaled_shifted(x: torch.Tensor, t: float, axis: int) -> tuple[torch.Tensor, torch.dtype]:
    """Torch twin of :func:`_scaled_shifted`; also returns the dtype the result should have."""
    import torch

    dtype = x.dtype if x.is_floating_point() else torch.float64
    work = x.double() if x.device.type != "mps" else x.float()  # MPS has no float64
    z = work - work.amax(dim=axis, keepdim=True)
    return (z / t if t != 1.0 else z), dtype


def top_k(
    probs: np.ndarray | Sequence[float],
    k: int = 5,
    min_prob: float | None = None,
    names: Sequence[str] | None = None,
) -> list[TopClass]:
    """The ``k`` most probable classes of a 1-D probability vector, best first.

    ``k`` is clipped to the number of classes; classes below ``min_prob`` are dropped (so the list can
    be empty); ties are ordered by the lower class index. ``names`` defaults to the indices as text.

    Example:
        >>> [tuple(c) for c in top_k([0.2, 0.5, 0.3], k=5, names=["cat", "dog", "owl"])]
        [(1, 'dog', 0.5), (2, 'owl', 0.3), (0, 'cat', 0.2)]
    """
    k = check_top_k(k)
    min_prob = check_min_prob(min_prob)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 1:
        raise ConfigError(f"top_k expects a 1-D probability vector, got shape {p.shape}; pass one row at a time")
    order = np.argsort(-p, kind="stable")[: min(k, p.size)]
    if min_prob is not None:
        order = order[p[order] >= min_prob]
    return [TopClass(int(i), names[i] if names is not None else str(int(i)), float(p[i])) for i in order]
