"""ReAct-style clipping (Sun et al. 2021, "ReAct: out-of-distribution detection with rectified activations") for SiLU.

ReAct clips the features entering the final layer at ``c``, the ``percentile``-th percentile of the
calibration images' activations, recomputes the logits ``W min(f, c) + b`` and scores their energy
``T logsumexp(z' / T)`` (T: the calibration temperature). A YOLO classification head pools SiLU outputs,
which dip below zero (down to about -0.28) rather than stopping at zero as ReLU's do; only the top is
clipped, the percentile runs over all pooled activations (negative ones included), and the grid of
percentiles (85, 90, 95, 99) is wider than the paper's 90 because SiLU features are less sparse.

Stored beside the profile (the entry's ``bank``, float16): the final layer ``[W | b]``, ``(C, D + 1)``.

Example:
    >>> import numpy as np
    >>> layer = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # W = identity, b = 0
    >>> react_scores(np.array([[5.0, 0.0]]), layer, clip=1.0, temperature=1.0).round(4).tolist()  # logits (1, 0)
    [1.3133]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from yolo_probs.core.checks import check_finite_array
from yolo_probs.decisions._common import Field, number
from yolo_probs.decisions.ood_registry import ScoreInputs, ScoreKind, register_score
from yolo_probs.errors import ConfigError

__all__ = ["DEFAULT_PERCENTILE", "REACT", "fit_react", "react_scores"]

DEFAULT_PERCENTILE = 90.0


def react_scores(features: np.ndarray, layer: np.ndarray, clip: float, temperature: float = 1.0) -> np.ndarray:
    """Energy of the logits of features clipped at ``clip``; ``layer = [W | b]`` as :func:`fit_react` stores it."""
    f = check_finite_array(features, "features", ndim=2).astype(np.float64)
    a = np.asarray(layer, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != f.shape[1] + 1:
        raise ConfigError(
            f"features {f.shape} do not match the stored final layer {a.shape}; re-run 'yolo-probs calibrate'",
            option="ood_score",
        )
    z = np.minimum(f, clip) @ a[:, :-1].T + a[:, -1]
    t = float(temperature)
    m = z.max(axis=1)
    return np.asarray(m + t * np.log(np.exp((z - m[:, None]) / t).sum(axis=1)))


def fit_react(
    features: np.ndarray, weight: np.ndarray, bias: np.ndarray, percentile: float = DEFAULT_PERCENTILE
) -> tuple[dict[str, Any], np.ndarray]:
    """``({"clip", "percentile"}, [W | b] as float16)`` from the calibration features and the final layer."""
    f = check_finite_array(features, "features", ndim=2)
    w = check_finite_array(weight, "the final layer's weight", ndim=2)
    b = check_finite_array(bias, "the final layer's bias", ndim=1)
    if w.shape[1] != f.shape[1] or b.shape != (w.shape[0],):
        raise ConfigError(f"final layer {w.shape} + {b.shape} does not take features {f.shape}")
    percentile = float(percentile)
    if not 0.0 < percentile <= 100.0:
        raise ConfigError(f"the ReAct percentile must be in (0, 100], got {percentile}", option="ood_score")
    clip = float(np.percentile(f.astype(np.float64), percentile))
    return {"clip": clip, "percentile": percentile}, np.hstack([w, b[:, None]]).astype(np.float16)


def _fit(inputs: ScoreInputs, options: Mapping[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    if inputs.features is None or inputs.layer is None:
        raise ConfigError(
            "the react score needs the features entering the final layer and its weights (a PyTorch checkpoint "
            "whose last layer is nn.Linear)",
            option="ood_score",
        )
    return fit_react(inputs.features, *inputs.layer, percentile=options.get("percentile", DEFAULT_PERCENTILE))


def _score(inputs: ScoreInputs, params: Mapping[str, Any], array: np.ndarray | None) -> np.ndarray:
    if inputs.features is None or array is None:
        raise ConfigError("the react score needs features and its stored final layer", option="ood_score")
    return react_scores(inputs.features, array, params["clip"], inputs.temperature)


def _check(params: Mapping[str, Any], array: np.ndarray | None) -> None:
    if "clip" not in params:
        raise ConfigError("decisions.ood uses react but lacks clip; re-run 'yolo-probs calibrate'")
    if array is not None and (array.ndim != 2 or array.shape[1] < 2):
        raise ConfigError(
            f"the stored final layer has shape {array.shape}, expected (C, D + 1); re-run 'yolo-probs calibrate'"
        )


REACT = register_score(
    ScoreKind(
        "react",
        fit=_fit,
        score=_score,
        check=_check,
        fields={
            "clip": Field(number(), required=False),
            "percentile": Field(number(low=0.0, high=100.0, low_open=True), required=False),
        },
        needs_features=True,
        needs_logits=True,
        needs_layer=True,
        grid=({"percentile": 85.0}, {"percentile": 90.0}, {"percentile": 95.0}, {"percentile": 99.0}),
    )
)
