"""Checks on what the math core is given: logits and the labels that go with them.

Example:
    >>> import numpy as np
    >>> x, y = check_logits_labels([[1.0, 2.0], [0.5, 0.0]], [1, 0])
    >>> x.shape, y.dtype
    ((2, 2), dtype('int64'))
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError

__all__ = [
    "check_callable",
    "check_logits_labels",
    "check_mapping",
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


def check_whole(value: Any, name: str, low: int, example: str) -> int:
    """``value`` as an ``int`` if it is a whole number >= ``low`` (not a bool), else a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        raise ConfigError(f"{name} must be a whole number >= {low}, got {describe(value)}; pass e.g. {example}")
    return int(value)


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
    try:
        return to_numpy(labels)
    except (TypeError, ValueError, RuntimeError):
        raise ConfigError(
            f"labels must be a list of class indices, got {describe(labels)}; pass e.g. [0, 2, 1]"
        ) from None


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
