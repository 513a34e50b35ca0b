"""Shared machinery of the multi-parameter calibrators: data checks, tensors, one deterministic optimiser.

Every fit here minimises a smooth penalised mean NLL over a few parameters with full-batch L-BFGS
(strong Wolfe line search), from a fixed start (the fitted temperature), so the same data always give
the same parameters. Small problems run in float64 (exact enough to agree with scipy to many digits);
large ones (more than :data:`FLOAT64_MAX_ENTRIES` logits) run their ``(N, C)`` passes in float32 and
accumulate per-row terms in float64.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from yolo_probs.calibration.temperature import MIN_SAMPLES, CalibrationWarning, fit_temperature
from yolo_probs.core.checks import check_logits_labels
from yolo_probs.errors import ConfigError

FLOAT64_MAX_ENTRIES = 250_000
MAX_ITER = 500


def prepare(logits: Any, labels: Any, method: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Validate, and fit the temperature every multi-parameter method starts from.

    The temperature fit raises the degenerate-data errors (one class, everything right) and warns
    about small samples; a further :class:`CalibrationWarning` names classes that have no samples
    (their parameters are then set by the regularisation alone).
    """
    x, y = check_logits_labels(logits, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)  # a bound hit is fine as a start value
        t = fit_temperature(x, y, min_samples=0)
    if x.shape[0] < MIN_SAMPLES:
        warnings.warn(
            f"only {x.shape[0]} labelled samples: the fitted {method} calibrator is unreliable; use at least "
            f"{MIN_SAMPLES} (a few hundred or more is better), or temperature scaling",
            CalibrationWarning,
            stacklevel=3,
        )
    missing = x.shape[1] - np.unique(y).size
    if missing:
        warnings.warn(
            f"{missing} of {x.shape[1]} classes have no calibration samples: {method} sets their parameters "
            "from the regularisation alone; use labelled images of every class",
            CalibrationWarning,
            stacklevel=3,
        )
    return x, y, t


def compute_dtype(x: np.ndarray) -> Any:
    """float64 for small problems, float32 for large ones (see the module docstring)."""
    import torch

    return torch.float64 if x.size <= FLOAT64_MAX_ENTRIES else torch.float32


def to_torch(x: np.ndarray, dtype: Any) -> Any:
    """A contiguous torch copy (never a view the optimiser could write into)."""
    import torch

    return torch.tensor(np.ascontiguousarray(x), dtype=dtype)


def minimize(loss: Callable[[list[Any]], Any], start: list[np.ndarray], max_iter: int = MAX_ITER) -> list[np.ndarray]:
    """Minimise ``loss(params)`` (a float64 scalar tensor) over float64 parameters from ``start``.

    Full-batch L-BFGS with a strong Wolfe line search; a non-finite loss stops the search at the last
    finite point, so the result is always finite.
    """
    import torch

    params = [torch.tensor(np.asarray(s, dtype=np.float64), requires_grad=True) for s in start]
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        max_eval=max_iter * 2,
        tolerance_grad=1e-9,
        tolerance_change=1e-9,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    best: list[Any] = [float("inf"), [p.detach().clone() for p in params]]

    def closure() -> Any:
        opt.zero_grad()
        value = loss(params)
        if torch.isfinite(value):
            value.backward()
            v = float(value.detach())
            if v < best[0]:
                best[0], best[1] = v, [p.detach().clone() for p in params]
        return value

    with torch.enable_grad():
        opt.step(closure)
        final = loss(params)
    if torch.isfinite(final) and float(final.detach()) <= best[0]:
        return [p.detach().numpy().copy() for p in params]
    return [p.numpy().copy() for p in best[1]]


def check_reg(value: Any, name: str) -> float:
    """A regularisation strength: a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or v < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_matrix(data: dict[str, Any], key: str, shape: tuple[int, ...], method: str) -> np.ndarray:
    """A finite float64 array of ``shape`` from a profile mapping; ConfigError naming the key."""
    if key not in data:
        raise ConfigError(f"calibrator {method!r} needs a {key!r} value")
    try:
        a = np.asarray(data[key], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"calibrator {method!r}: {key} must be numbers") from None
    if a.shape != shape or not np.isfinite(a).all():
        raise ConfigError(f"calibrator {method!r}: {key} must be finite numbers of shape {shape}, got shape {a.shape}")
    return a


def as_logits(logits: Any) -> tuple[np.ndarray, bool]:
    """``(N, C)`` float64 numpy logits from ``(C,)`` or ``(N, C)`` numpy/torch input, and whether it was 1-D."""
    if type(logits).__module__.split(".", 1)[0] == "torch":
        logits = logits.detach().cpu().numpy()
    x = np.asarray(logits, dtype=np.float64)
    if x.ndim not in (1, 2):
        raise ConfigError(f"logits must be (C,) or (N, C), got shape {x.shape}")
    return (x[None, :] if x.ndim == 1 else x), x.ndim == 1


def check_classes(x: np.ndarray, classes: int, method: str) -> None:
    """ConfigError when logits have another class count than the calibrator was fitted on."""
    if x.shape[1] != classes:
        raise ConfigError(
            f"the {method} calibrator was fitted on {classes} classes but the logits have {x.shape[1]}; "
            "re-calibrate for this model"
        )


def finish(log_p: np.ndarray, one_d: bool) -> np.ndarray:
    """Drop the batch axis again when the input was 1-D."""
    return log_p[0] if one_d else log_p


def probs_from_log(log_p: np.ndarray) -> np.ndarray:
    """float32 probabilities from float64 log-probabilities, each row renormalised to sum to 1."""
    p = np.exp(log_p)
    p /= p.sum(axis=-1, keepdims=True)
    return p.astype(np.float32)
