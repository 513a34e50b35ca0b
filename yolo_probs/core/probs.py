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
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Protocol, TypeVar

import numpy as np

from yolo_probs.core.checks import describe, is_torch, real_array
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    import torch

ArrayT = TypeVar("ArrayT", np.ndarray, "torch.Tensor")

__all__ = [
    "ProbabilityMap",
    "TopClass",
    "check_axis",
    "check_min_prob",
    "check_names",
    "check_probability_map",
    "check_probs_row",
    "check_temperature",
    "check_top_k",
    "checked_softmax",
    "log_softmax",
    "ranked",
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


def check_probability_map(value: Any, name: str = "calibrator") -> ProbabilityMap:
    """``value`` if it is a calibrator (has ``method``, ``temperature``, ``probs``, ``log_probs``), else ConfigError.

    Example:
        >>> check_probability_map("x")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: calibrator must be a calibrator (an object with method, ...), got 'x' (str)
    """
    ok = (
        isinstance(getattr(value, "method", None), str)
        and callable(getattr(value, "probs", None))
        and callable(getattr(value, "log_probs", None))
        and hasattr(value, "temperature")
    )
    if not ok:
        raise ConfigError(
            f"{name} must be a calibrator (an object with method, temperature, probs(logits) and log_probs(logits), "
            f"e.g. yolo_probs.TemperatureScaling(1.5)), got {describe(value)}"
        )
    return value  # type: ignore[no-any-return]


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


def check_axis(axis: Any, shape: tuple[int, ...], name: str = "logits") -> int:
    """``axis`` as an ``int`` if it is a non-empty class axis of an array of ``shape``, else :class:`ConfigError`.

    Example:
        >>> check_axis(-1, (2, 3))
        -1
    """
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise ConfigError(f"axis must be a whole number (the class axis of {name}), got {describe(axis)}; pass e.g. -1")
    ndim = len(shape)
    if ndim == 0:
        raise ConfigError(
            f"{name} must have a class axis (at least 1 dimension), got a single number; pass e.g. [2.0, 1.0]"
        )
    if not -ndim <= int(axis) < ndim:
        raise ConfigError(
            f"axis {axis} is out of range for {name} of shape {tuple(shape)}; "
            f"pass a value in [{-ndim}, {ndim - 1}], e.g. -1"
        )
    if shape[int(axis)] == 0:
        raise ConfigError(f"{name} is empty along axis {axis} (shape {tuple(shape)}): there are no classes to score")
    return int(axis)


def _logits(logits: Any, axis: Any) -> tuple[np.ndarray, int]:
    """Checked numpy logits and class axis for :func:`softmax` and :func:`log_softmax` (values are checked later)."""
    x = logits if type(logits) is np.ndarray and logits.dtype.kind in "iuf" else real_array(logits, "logits")
    return x, check_axis(axis, x.shape)


def _not_finite(top: np.ndarray, axis: int) -> ConfigError:
    """The error for logits whose maximum along ``axis`` (``top``, kept dims) is NaN, +inf or -inf somewhere."""
    where = np.argwhere(~np.isfinite(top))[0]
    slot = tuple(int(i) for i in np.delete(where, axis)) if top.ndim > 1 else ()
    at = f" (first: index {slot[0] if len(slot) == 1 else slot})" if slot else ""
    return ConfigError(
        f"logits contain NaN or +inf, or only -inf along the class axis{at}; probabilities would be NaN: "
        "drop those samples or fix the model output"
    )


def _scaled_shifted(x: np.ndarray, t: float, axis: int) -> np.ndarray:
    """``(x - max) / t`` in float64 (or wider): every entry is <= 0 and each maximum is exactly 0.

    Shifting before dividing, in float64, means a huge ``1/t`` can at worst give ``-inf``, whose
    exponential is a clean 0: never ``inf - inf`` or ``0 / 0``, so never NaN for finite logits. Logits
    whose maximum is not finite (NaN, +inf, or a slice of only -inf) are refused here, where the
    maximum costs nothing extra. Call it with overflow and underflow ignored (``np.errstate``).
    """
    work = x.dtype if x.dtype.kind == "f" and x.dtype.itemsize > 8 else np.float64  # long double stays wider
    x = x.astype(work, copy=False)
    top = np.max(x, axis=axis, keepdims=True)
    if not np.isfinite(top).all():
        raise _not_finite(top, axis)
    z = x - top
    return z / t if t != 1.0 else z


def softmax(logits: ArrayT | Sequence[float], temperature: float = 1.0, axis: int = -1) -> ArrayT:
    """Softmax of ``logits / temperature`` along ``axis``; numerically stable for any T > 0.

    Accepts numpy arrays (and lists) or torch tensors of any batch shape. The work is done in float64
    and floating inputs get their own dtype back (float16/32/64); integer inputs give float64. For finite
    logits the result is never NaN: a tiny T tends to one-hot (ties share), a huge T to uniform. ``-inf``
    entries mean probability 0; NaN, ``+inf`` or a slice of only ``-inf`` raise :class:`ConfigError`, as do
    non-numbers, no classes, or an ``axis`` out of range.

    Example:
        >>> softmax([2.0, 1.0, 0.1]).round(8).tolist()
        [0.65900114, 0.24243297, 0.09856589]
    """
    t = check_temperature(temperature)
    if is_torch(logits):
        import torch

        z, dtype = _torch_scaled_shifted(logits, t, axis)  # type: ignore[arg-type]
        return torch.softmax(z, dim=axis).to(dtype)  # type: ignore[return-value]
    x, axis = _logits(logits, axis)
    return checked_softmax(x, t, axis)  # type: ignore[return-value]


def checked_softmax(x: np.ndarray, t: float, axis: int = -1) -> np.ndarray:
    """:func:`softmax` of a numpy array whose dtype, axis and temperature are checked (its values are checked here)."""
    with np.errstate(over="ignore", under="ignore"):
        e = np.exp(_scaled_shifted(x, t, axis))
    p = e / np.sum(e, axis=axis, keepdims=True)
    return p.astype(x.dtype, copy=False) if x.dtype.kind == "f" else p


def log_softmax(logits: ArrayT | Sequence[float], temperature: float = 1.0, axis: int = -1) -> ArrayT:
    """Log of :func:`softmax`, computed directly (log-sum-exp) so tiny probabilities keep their precision.

    Entries can be ``-inf`` where the probability is exactly 0 (only for extreme ``logits / T``, or a
    ``-inf`` logit). Bad input raises :class:`ConfigError` as in :func:`softmax`.

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
    x, axis = _logits(logits, axis)
    with np.errstate(over="ignore", divide="ignore", under="ignore"):
        z = _scaled_shifted(x, t, axis)
        out = z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return out.astype(x.dtype, copy=False) if x.dtype.kind == "f" else out


def _torch_scaled_shifted(x: torch.Tensor, t: float, axis: Any) -> tuple[torch.Tensor, torch.dtype]:
    """Torch twin of :func:`_logits` and :func:`_scaled_shifted`; also returns the dtype the result should have."""
    import torch

    if x.dtype == torch.bool or x.is_complex():
        raise ConfigError(f"logits must be an array of real numbers, got {describe(x)}; pass e.g. [2.0, 1.0, 0.1]")
    axis = check_axis(axis, tuple(x.shape))
    dtype = x.dtype if x.is_floating_point() else torch.float64
    work = x.double() if x.device.type != "mps" else x.float()  # MPS has no float64
    top = work.amax(dim=axis, keepdim=True)
    if not bool(torch.isfinite(top).all()):
        raise _not_finite(top.cpu().numpy(), axis)
    z = work - top
    return (z / t if t != 1.0 else z), dtype


def check_names(names: Any, n: int, name: str = "names") -> tuple[str, ...]:
    """``names`` (a list, tuple or array of ``n`` class names) as a tuple of ``str``, else :class:`ConfigError`.

    Example:
        >>> check_names(["cat", 7], 2)
        ('cat', '7')
    """
    if type(names) is tuple and len(names) == n:  # the hot path: a model's own names, already checked
        return names
    if isinstance(names, str | bytes | Mapping) or not isinstance(names, Sequence | np.ndarray):
        raise ConfigError(f"{name} must be a list of class names, got {describe(names)}; pass e.g. ['cat', 'dog']")
    if len(names) != n:
        raise ConfigError(f"{name} has {len(names)} class names for {n} classes; give exactly {n} names")
    return tuple(str(v) for v in names)


def check_probs_row(probs: Any, name: str = "probs") -> np.ndarray:
    """``probs`` as a 1-D array of probabilities in [0, 1] (no NaN), else :class:`ConfigError`.

    Example:
        >>> check_probs_row([0.25, 0.75]).tolist()
        [0.25, 0.75]
    """
    p = probs if type(probs) is np.ndarray and probs.dtype.kind == "f" else real_array(probs, name, "[0.7, 0.2, 0.1]")
    if p.ndim != 1 or p.size == 0:
        raise ConfigError(
            f"{name} must be a non-empty 1-D probability vector, got shape {p.shape}; pass one row at a time"
        )
    if not (p.min() >= -_SLACK and p.max() <= 1.0 + _SLACK):  # NaN fails both
        inside = (p >= -_SLACK) & (p <= 1.0 + _SLACK)
        first = int(np.flatnonzero(~inside)[0])
        raise ConfigError(
            f"{name} must be probabilities in [0, 1], got {float(p[first])} at index {first}; pass softmax outputs"
        )
    return p


#: How far outside [0, 1] a probability may stray by float rounding (a mix of softmaxes, float32).
_SLACK = 1e-6


def top_k(
    probs: np.ndarray | Sequence[float],
    k: int = 5,
    min_prob: float | None = None,
    names: Sequence[str] | None = None,
) -> list[TopClass]:
    """The ``k`` most probable classes of a 1-D probability vector, best first.

    ``k`` is clipped to the number of classes; classes below ``min_prob`` are dropped (so the list can
    be empty); ties are ordered by the lower class index. ``names`` defaults to the indices as text.
    Raises :class:`ConfigError` for a ``probs`` that is not a vector of probabilities in [0, 1] (NaN
    included), a bad ``k`` or ``min_prob``, or ``names`` of another length.

    Example:
        >>> [tuple(c) for c in top_k([0.2, 0.5, 0.3], k=5, names=["cat", "dog", "owl"])]
        [(1, 'dog', 0.5), (2, 'owl', 0.3), (0, 'cat', 0.2)]
    """
    k = check_top_k(k)
    min_prob = check_min_prob(min_prob)
    p = check_probs_row(probs)
    return ranked(p, k, min_prob, None if names is None else check_names(names, p.size))


def ranked(p: np.ndarray, k: int, min_prob: float | None, names: Sequence[str] | None) -> list[TopClass]:
    """:func:`top_k` on arguments already checked (the hot path of :class:`~yolo_probs.core.prediction.Prediction`)."""
    order = np.argsort(-p, kind="stable")[: min(k, p.size)]
    if min_prob is not None:
        order = order[p[order] >= min_prob]
    return [TopClass(int(i), names[i] if names is not None else str(int(i)), float(p[i])) for i in order]
