"""GEN, the generalized-entropy score of Liu et al. 2023 ("GEN: pushing the limits of softmax-based OOD detection").

``G(p) = sum over the M largest probabilities of p**gamma * (1 - p)**gamma``; the score is ``-G`` (a
peaked distribution has a small G). It reads only probabilities (here the calibrated ones), so it works
on every backend, exports included. Defaults as in the paper: ``gamma = 0.1``, ``M = 100`` (all classes
of a smaller head).

Example:
    >>> import numpy as np
    >>> gen_scores(np.array([[1.0, 0.0], [0.5, 0.5]]), gamma=0.5, m=2).round(3).tolist()
    [-0.0, -1.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from yolo_probs.core.checks import check_finite_array
from yolo_probs.decisions._common import Field, fraction, whole
from yolo_probs.decisions.ood_registry import ScoreInputs, ScoreKind, register_score

__all__ = ["DEFAULT_GAMMA", "DEFAULT_M", "GEN", "gen_scores"]

DEFAULT_GAMMA = 0.1
DEFAULT_M = 100


def gen_scores(probs: np.ndarray, gamma: float = DEFAULT_GAMMA, m: int = DEFAULT_M) -> np.ndarray:
    """Minus the generalized entropy of the ``m`` largest probabilities of each row (float64)."""
    p = check_finite_array(probs, "probs", ndim=2).astype(np.float64)
    top = -np.sort(-p, axis=1)[:, : min(int(m), p.shape[1])]
    top = np.clip(top, 0.0, 1.0)
    return np.asarray(-np.sum(top**gamma * (1.0 - top) ** gamma, axis=1))


def _fit(inputs: ScoreInputs, options: Mapping[str, Any]) -> tuple[dict[str, Any], None]:
    return {"gamma": float(options.get("gamma", DEFAULT_GAMMA)), "m": int(options.get("m", DEFAULT_M))}, None


def _score(inputs: ScoreInputs, params: Mapping[str, Any], array: np.ndarray | None) -> np.ndarray:
    return gen_scores(inputs.probs, params.get("gamma", DEFAULT_GAMMA), params.get("m", DEFAULT_M))


GEN = register_score(
    ScoreKind(
        "gen",
        fit=_fit,
        score=_score,
        fields={"gamma": Field(fraction, required=False), "m": Field(whole(1), required=False)},
        grid=({"gamma": 0.1}, {"gamma": 0.5}),
    )
)
