"""Checks on what the math core is given: logits and the labels that go with them.

Example:
    >>> import numpy as np
    >>> x, y = check_logits_labels([[1.0, 2.0], [0.5, 0.0]], [1, 0])
    >>> x.shape, y.dtype
    ((2, 2), dtype('int64'))
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError

__all__ = [
    "check_choice",
    "check_finite_array",
    "check_flag",
    "check_logits",
    "check_logits_labels",
    "check_number",
    "check_whole",
    "float32_batch",
    "is_torch",
    "to_numpy",
]


def check_logits_labels(logits: Any, labels: Any, *, name: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(N, C)`` logits and ``N`` integer labels in ``[0, C)``; return them as numpy arrays.

    Raises :class:`ConfigError` naming the problem: wrong shapes, no samples, fewer than 2 classes,
    non-finite logits, non-integer or out-of-range labels. ``name`` is what messages call ``logits``
    (``"probs"`` for probabilities checked the same way).

    Example:
        >>> check_logits_labels([[1.0, 2.0]], [3])
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: labels must be class indices in [0, 2), got 3 (sample 0); check the label mapping
    """
    if logits is None or isinstance(logits, str | bytes):
        raise ConfigError(f"{name} must be a 2-D array (samples x classes), got {_got(logits)}")
    if labels is None or isinstance(labels, str | bytes):
        raise ConfigError(f"labels must be a 1-D array of class indices, got {_got(labels)}")
    try:
        x = to_numpy(logits)
        y = to_numpy(labels)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{name} and labels must be arrays of numbers ({exc})") from None
    if x.ndim != 2:
        raise ConfigError(f"{name} must be a 2-D array (samples x classes), got shape {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ConfigError(
            f"labels must be a 1-D array with one label per row of {name} ({x.shape[0]}), got shape {y.shape}"
        )
    if x.shape[0] == 0:
        raise ConfigError(f"no samples: {name} and labels are empty; collect some labelled images first")
    if x.shape[1] < 2:
        raise ConfigError(f"{name} need at least 2 classes, got {x.shape[1]}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ConfigError(f"{name} must be real numbers, got dtype {x.dtype}")
    bad_rows = ~np.isfinite(x).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ConfigError(
            f"{int(bad_rows.sum())} of {x.shape[0]} rows of {name} contain NaN or inf (first: sample {first}); "
            "drop those samples or fix the model output"
        )
    if y.dtype == np.bool_ or not (
        np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0))
    ):
        raise ConfigError(f"labels must be whole-number class indices, got dtype {y.dtype}")
    out = (y < 0) | (y >= x.shape[1])
    if out.any():
        first = int(np.flatnonzero(out)[0])
        raise ConfigError(
            f"labels must be class indices in [0, {x.shape[1]}), got {y[first]:g} (sample {first}); "
            "check the label mapping"
        )
    return x, y.astype(np.int64, copy=False)


def _got(value: Any) -> str:
    """``'x' (str)``: a value as a message shows it, with its type (a value's text alone can mislead)."""
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({type(value).__name__})"


def _range(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    option: str | None = None,
) -> float:
    """``value`` as a float if it is a finite real number in the range given, else a ConfigError naming ``name``.

    A bool, a string, NaN and infinity are refused (NaN passes no comparison, so it must be caught by name).

    Example:
        >>> check_number(0.5, "alpha", low=0, high=1, low_open=True, high_open=True)
        0.5
        >>> check_number(float("nan"), "conformal.qhat")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: conformal.qhat must be a finite number, got nan (float)
    """
    where = _range(low, high, low_open, high_open)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite number{where}, got {_got(value)}", option=option)
    x = float(value)
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if too_low or too_high:
        raise ConfigError(f"{name} must be a finite number{where}, got {value!r}", option=option)
    return x


def check_whole(
    value: Any, name: str, *, low: int | None = None, high: int | None = None, option: str | None = None
) -> int:
    """``value`` as an int if it is a whole number (not a bool, not 2.5) in ``[low, high]``, else a ConfigError.

    Example:
        >>> check_whole(3, "decisions.ood.k", low=1)
        3
        >>> check_whole("abc", "decisions.ood.k", low=1)
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.ood.k must be a whole number >= 1, got 'abc' (str)
    """
    where = _range(low, high, False, False)
    ok = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool | np.bool_) or not ok:
        raise ConfigError(f"{name} must be a whole number{where}, got {_got(value)}", option=option)
    n = int(value)
    if (low is not None and n < low) or (high is not None and n > high):
        raise ConfigError(f"{name} must be a whole number{where}, got {n}", option=option)
    return n


def check_flag(value: Any, name: str, *, option: str | None = None) -> bool:
    """``value`` if it is a bool (true/false in YAML), else a ConfigError: the string ``'no'`` is not False.

    Example:
        >>> check_flag(False, "conformal.randomized")
        False
    """
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be true or false, got {_got(value)}", option=option)
    return bool(value)


def check_choice(value: Any, name: str, choices: Iterable[str], *, option: str | None = None) -> str:
    """``value`` if it is one of ``choices`` (strings), else a ConfigError listing them.

    Example:
        >>> check_choice(["vector"], "calibrator.method", ["temperature", "vector"])
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: calibrator.method must be one of temperature, vector, got ['vector'] (list)
    """
    known = list(choices)
    if not isinstance(value, str) or value not in known:
        raise ConfigError(f"{name} must be one of {', '.join(known)}, got {_got(value)}", option=option)
    return value


def check_finite_array(
    value: Any, name: str, *, ndim: int | None = None, empty: bool = False, option: str | None = None
) -> np.ndarray:
    """``value`` as a float64 numpy array (a torch tensor too) of finite real numbers, else a ConfigError naming it.

    ``ndim`` requires that many dimensions; ``empty`` allows no elements.

    Example:
        >>> check_finite_array([[1, 2]], "features", ndim=2).dtype
        dtype('float64')
        >>> check_finite_array([1.0, float("inf")], "features")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: features must be finite numbers: 1 of 2 values are NaN or infinite
    """
    if value is None:
        raise ConfigError(f"{name} must be an array of numbers, got None", option=option)
    try:
        a = to_numpy(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged lists, tensors numpy cannot take
        raise ConfigError(f"{name} must be an array of numbers ({exc})", option=option) from None
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ConfigError(f"{name} must be an array of real numbers, got dtype {a.dtype}", option=option)
    a = a.astype(np.float64, copy=False)
    if ndim is not None and a.ndim != ndim:
        raise ConfigError(f"{name} must be a {ndim}-D array, got shape {a.shape}", option=option)
    if a.size == 0 and not empty:
        raise ConfigError(f"{name} is empty, got shape {a.shape}", option=option)
    bad = int(np.count_nonzero(~np.isfinite(a)))
    if bad:
        raise ConfigError(f"{name} must be finite numbers: {bad} of {a.size} values are NaN or infinite", option=option)
    return a


def check_logits(value: Any, name: str = "logits", *, option: str | None = None) -> np.ndarray:
    """``(C,)`` or ``(N, C)`` logits as float64: real numbers, no NaN, no +inf, some finite value in each row.

    ``-inf`` is allowed: it is the logit of a probability of 0 (recovered from an export's probabilities).

    Example:
        >>> check_logits([[0.0, -np.inf]]).tolist()
        [[0.0, -inf]]
        >>> check_logits([1.0, float("nan")])
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: logits must be real numbers without NaN or +inf: 1 row(s) have some (row 0)
    """
    # The common case, per prediction, in one pass: a row's max is NaN, +inf or -inf exactly when it is bad.
    plain = type(value) is np.ndarray and value.dtype.kind == "f" and value.ndim in (1, 2) and value.shape[-1] > 0
    if plain and np.isfinite(value.max(axis=-1)).all():
        return value.astype(np.float64, copy=False)
    if value is None or isinstance(value, str | bytes):
        raise ConfigError(f"{name} must be a (C,) or (N, C) array of numbers, got {_got(value)}", option=option)
    try:
        a = to_numpy(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"{name} must be a (C,) or (N, C) array of numbers ({exc})", option=option) from None
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise ConfigError(f"{name} must be an array of real numbers, got dtype {a.dtype}", option=option)
    if a.ndim not in (1, 2) or a.shape[-1] == 0:
        raise ConfigError(f"{name} must be a (C,) or (N, C) array with C >= 1, got shape {a.shape}", option=option)
    a = a.astype(np.float64, copy=False)
    rows = a.reshape(-1, a.shape[-1])
    bad = np.isnan(rows).any(axis=1) | np.isposinf(rows).any(axis=1) | ~np.isfinite(rows).any(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ConfigError(
            f"{name} must be real numbers without NaN or +inf: {int(bad.sum())} row(s) have some (row {first})",
            option=option,
        )
    return a


def is_torch(x: object) -> bool:
    """Whether ``x`` is a torch object (a tensor), told without importing torch.

    Example:
        >>> is_torch(np.zeros(2))
        False
    """
    return type(x).__module__.split(".", 1)[0] == "torch"


def to_numpy(a: Any) -> np.ndarray:
    """``a`` as a numpy array (a torch tensor is detached and moved to the CPU first)."""
    if is_torch(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def float32_batch(batch: Any) -> np.ndarray:
    """A preprocessed batch (numpy, or torch of any float dtype, bfloat16 included) as a contiguous float32 array.

    Example:
        >>> float32_batch(np.zeros((1, 3, 2, 2), np.float64)).dtype
        dtype('float32')
    """
    if is_torch(batch):
        batch = batch.detach().float().cpu().numpy()  # .float() first: numpy has no bfloat16
    return np.ascontiguousarray(batch, dtype=np.float32)
