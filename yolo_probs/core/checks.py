"""Checks on what the math core is given: logits and the labels that go with them.

Example:
    >>> import numpy as np
    >>> x, y = check_logits_labels([[1.0, 2.0], [0.5, 0.0]], [1, 0])
    >>> x.shape, y.dtype
    ((2, 2), dtype('int64'))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError

__all__ = ["check_logits_labels", "check_path", "float32_batch", "is_torch", "to_numpy"]


def check_logits_labels(logits: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(N, C)`` logits and ``N`` integer labels in ``[0, C)``; return them as numpy arrays.

    Raises :class:`ConfigError` naming the problem: wrong shapes, no samples, fewer than 2 classes,
    non-finite logits, non-integer or out-of-range labels.

    Example:
        >>> check_logits_labels([[1.0, 2.0]], [3])
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: labels must be class indices in [0, 2), got 3 (sample 0); check the label mapping
    """
    x = to_numpy(logits)
    y = to_numpy(labels)
    if x.ndim != 2:
        raise ConfigError(f"logits must be a 2-D array (samples x classes), got shape {x.shape}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise ConfigError(
            f"labels must be a 1-D array with one label per row of logits ({x.shape[0]}), got shape {y.shape}"
        )
    if x.shape[0] == 0:
        raise ConfigError("no samples: logits and labels are empty; collect some labelled images first")
    if x.shape[1] < 2:
        raise ConfigError(f"logits need at least 2 classes, got {x.shape[1]}")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ConfigError(f"logits must be real numbers, got dtype {x.dtype}")
    bad_rows = ~np.isfinite(x).all(axis=1)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ConfigError(
            f"{int(bad_rows.sum())} of {x.shape[0]} rows of logits contain NaN or inf (first: sample {first}); "
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
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise ConfigError(
            f"{name} must be a file path (str or os.PathLike), got {shown} ({type(value).__name__}); "
            f"pass e.g. {example!r}",
            option=option or name,
        )
    return value  # type: ignore[no-any-return]
