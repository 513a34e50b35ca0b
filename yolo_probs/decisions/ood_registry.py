"""The registry of unknown-input scores beyond :mod:`~yolo_probs.decisions.ood`'s built-in ones.

A :class:`ScoreKind` says how a score is fitted on calibration images (its parameters and, where it
needs one, an array stored beside the profile as the entry's ``bank``), how it scores new images, and
how a profile's stored parameters are checked on load. Each registered score is one module
(:mod:`~yolo_probs.decisions.ood_gen`, :mod:`~yolo_probs.decisions.ood_vim`,
:mod:`~yolo_probs.decisions.ood_react`) that calls :func:`register_score` when imported; ``ood`` imports
them, so ``OOD_SCORES`` lists them. Every score is "higher = more typical of the calibration images".

Example:
    >>> import numpy as np
    >>> kind = ScoreKind("maxprob", fit=lambda x, o: ({}, None), score=lambda x, p, a: x.probs.max(axis=1))
    >>> x = ScoreInputs(np.zeros((1, 2)), np.array([[0.7, 0.3]]))
    >>> kind.score(x, {}, None).tolist()
    [0.7]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yolo_probs.decisions._common import Field
from yolo_probs.errors import ConfigError

__all__ = ["SCORE_KINDS", "ScoreInputs", "ScoreKind", "register_score"]


@dataclass(frozen=True)
class ScoreInputs:
    """What a score may use for a batch: raw logits ``(N, C)``, calibrated probabilities ``(N, C)``, the
    features entering the final layer ``(N, D)`` (or None), the calibration temperature, and the final
    layer's weights ``(C, D)`` and bias ``(C,)`` (only when fitting, for scores that need them)."""

    logits: np.ndarray
    probs: np.ndarray
    features: np.ndarray | None = None
    temperature: float = 1.0
    layer: tuple[np.ndarray, np.ndarray] | None = None


Fit = Callable[[ScoreInputs, Mapping[str, Any]], tuple[Any, ...]]
Score = Callable[[ScoreInputs, Mapping[str, Any], np.ndarray | None], np.ndarray]
Check = Callable[[Mapping[str, Any], np.ndarray | None], None]


def _no_check(params: Mapping[str, Any], array: np.ndarray | None) -> None:
    """No extra check beyond the fields'."""


@dataclass(frozen=True)
class ScoreKind:
    """One registered score.

    Attributes:
        name: the name ``--ood-score`` and a profile's ``decisions.ood.score`` use.
        fit: ``(inputs, options) -> (params, array)`` or ``(params, array, scores)`` on the calibration
            images; ``params`` go into the profile entry (checked by ``fields``), ``array`` (or None) is
            stored beside it as the ``bank``; ``scores``, when given, are the calibration images' own
            (out-of-sample) scores the threshold is chosen on, else ``score`` gives them.
        score: ``(inputs, params, array) -> scores`` (float64, higher = more typical).
        check: ``(params, array)``: a one-line ConfigError when a loaded profile's parameters and array
            do not fit together.
        fields: the entry keys of its parameters, each with its check.
        needs_features, needs_logits, needs_layer: it reads features / raw logits / the final layer's
            weights (a probabilities-only export has no raw logits; exported models have no features).
        grid: the parameter choices ``--ood-score auto`` cross-validates.
    """

    name: str
    fit: Fit
    score: Score
    check: Check = _no_check
    fields: dict[str, Field] = field(default_factory=dict)
    needs_features: bool = False
    needs_logits: bool = False
    needs_layer: bool = False
    grid: tuple[dict[str, Any], ...] = ({},)


SCORE_KINDS: dict[str, ScoreKind] = {}


def register_score(kind: ScoreKind) -> ScoreKind:
    """Add ``kind`` to :data:`SCORE_KINDS` (a name taken by another score is refused)."""
    if kind.name in SCORE_KINDS and SCORE_KINDS[kind.name] is not kind:
        raise ConfigError(f"an unknown-input score named {kind.name!r} is already registered")
    SCORE_KINDS[kind.name] = kind
    return kind
