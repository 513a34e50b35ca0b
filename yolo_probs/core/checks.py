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
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError

__all__ = [
    "check_callable",
    "check_choice",
    "check_finite_array",
    "check_flag",
    "check_logits",
    "check_logits_labels",
    "check_mapping",
    "check_number",
    "check_path",
    "check_text",
    "check_whole",
    "describe",
    "float32_batch",
    "is_torch",
    "real_array",
    "to_numpy",
]


def describe(value: Any, limit: int = 40) -> str:
    """``value`` as a message shows it: its repr (cut to ``limit`` characters) and, for non-arrays, its type.

    Example:
        >>> describe("abc"), describe(np.zeros((2, 3)))
        ("'abc' (str)", 'an array of shape (2, 3) and dtype float64')
    """
    if isinstance(value, np.ndarray) or is_torch(value):
        return f"an array of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} ({type(value).__name__})"


def real_array(value: Any, name: str, example: str = "[2.0, 1.0, 0.1]") -> np.ndarray:
    """``value`` (a list, numpy array or torch tensor) as a numpy array of real numbers (ints or floats).

    Raises :class:`ConfigError` naming ``name`` for None, text, booleans, complex numbers, objects and
    ragged lists. Shapes and values are the caller's to check.

    Example:
        >>> real_array([1, 2], "logits").dtype
        dtype('int64')
        >>> real_array("abc", "logits")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: logits must be an array of real numbers, got 'abc' (str); pass e.g. ...
    """
    try:
        x = to_numpy(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged lists; tensors numpy cannot hold
        raise ConfigError(
            f"{name} must be an array of real numbers, got {describe(value)} ({_first(exc)}); pass e.g. {example}"
        ) from None
    if x.dtype.kind not in "iuf":
        got = describe(value) if not isinstance(value, np.ndarray) and not is_torch(value) else f"dtype {x.dtype}"
        raise ConfigError(f"{name} must be an array of real numbers, got {got}; pass e.g. {example}")
    return x


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:80] if text else type(exc).__name__


def check_text(value: Any, name: str, example: str) -> str:
    """``value`` if it is a ``str``, else a :class:`ConfigError` naming ``name``.

    Example:
        >>> check_text("val", "split", "'val'")
        'val'
    """
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be text, got {describe(value)}; pass e.g. {example}")
    return value


def check_mapping(value: Any, name: str, example: str) -> dict[str, Any]:
    """``value`` (None or a mapping with text keys) as a new ``dict``, else a :class:`ConfigError` naming ``name``.

    Example:
        >>> check_mapping(None, "decisions", "{'ood': {'tpr': 0.95}}")
        {}
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{name} must be a mapping with text keys, got {describe(value)}; pass e.g. {example}")
    return dict(value)


def check_callable(value: Any, name: str, what: str) -> Callable[..., Any] | None:
    """``value`` if it is None or callable, else a :class:`ConfigError` naming ``name`` (``what`` says what it is for).

    Example:
        >>> check_callable(None, "progress", "called with 1 after each image") is None
        True
    """
    if value is not None and not callable(value):
        raise ConfigError(f"{name} must be a function ({what}) or None, got {describe(value)}")
    return value


def check_logits_labels(logits: Any, labels: Any, name: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(N, C)`` logits and ``N`` integer labels in ``[0, C)``; return them as numpy arrays.

    Raises :class:`ConfigError` naming the problem: wrong shapes, no samples, fewer than 2 classes,
    non-finite logits, non-integer or out-of-range labels. ``name`` is what the messages call the
    logits (``"probs"`` where probabilities are checked the same way).

    Example:
        >>> check_logits_labels([[1.0, 2.0]], [3])
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: labels must be class indices in [0, 2), got 3 (sample 0); check the label mapping
    """
    x = real_array(logits, name, "[[2.0, 0.5], [0.1, 1.0]]")
    y = _labels_array(labels)
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


def _labels_array(labels: Any) -> np.ndarray:
    if labels is None or isinstance(labels, str | bytes):
        raise ConfigError(f"labels must be a 1-D array of class indices, got {describe(labels)}; pass e.g. [0, 2, 1]")
    try:
        return to_numpy(labels)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(
            f"labels must be a list of class indices, got {describe(labels)}; pass e.g. [0, 2, 1]"
        ) from None


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
        raise ConfigError(f"{name} must be a finite number{where}, got {describe(value)}", option=option)
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
        raise ConfigError(f"{name} must be a whole number{where}, got {describe(value)}", option=option)
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
        raise ConfigError(f"{name} must be true or false, got {describe(value)}", option=option)
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
        raise ConfigError(f"{name} must be one of {', '.join(known)}, got {describe(value)}", option=option)
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
        raise ConfigError(f"{name} must be a (C,) or (N, C) array of numbers, got {describe(value)}", option=option)
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
    try:
        if is_torch(batch):
            batch = batch.detach().float().cpu().numpy()  # .float() first: numpy has no bfloat16
        return np.ascontiguousarray(batch, dtype=np.float32)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(f"batch must be an array of pixel values, got {describe(batch)}") from None


def check_path(value: Any, name: str, example: str, *, option: str | None = None) -> str | os.PathLike[str]:
    """``value`` if it is a file path (a non-empty ``str`` or ``os.PathLike``), else a :class:`ConfigError` naming it.

    ``option`` is the setting the error is about, for front ends (default: ``name``).

    Example:
        >>> check_path("out.onnx", "output", "model.onnx")
        'out.onnx'
        >>> check_path(None, "output", "model.onnx")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: output must be a file path (str or os.PathLike), got None (NoneType); ...
    """
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise ConfigError(
            f"{name} must be a file path (str or os.PathLike), got {describe(value)}; pass e.g. {example!r}",
            option=option or name,
        )
    return value  # type: ignore[no-any-return]
