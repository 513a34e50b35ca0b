"""Decision rules on top of calibrated probabilities: small objects that every front end calls.

A rule has ``needs_features`` (whether it needs the features that enter the final layer) and
``apply(predictions, output)``, which returns the predictions of one batch with its fields filled in
(``ood_score``/``unknown``, ``set``, ...). :class:`~yolo_probs.model.YoloProbs` applies its rules
after the calibrator, so the API, the CLI, the overlay and the plugin share one implementation.
Each kind of decision is a :class:`DecisionKind` (build a rule from a profile entry; fit the entry
during calibration; evaluate it), registered in :func:`load_builtin`: one module plus one line.
:func:`decisions_from_profile` builds the rules a profile's ``decisions:`` mapping describes.

Built-in kinds, one module each (pure numpy math, ``fit``, the rule, ``evaluate``): ``ood``
(:mod:`~yolo_probs.decisions.ood`, unknown inputs), ``conformal`` (:mod:`~yolo_probs.decisions.conformal`,
prediction sets) and ``reject`` (:mod:`~yolo_probs.decisions.selective`, a reject threshold with a
guarantee). Each entry records the calibrator it was made at; a classifier with another one is refused.

Example:
    >>> from yolo_probs.decisions import DECISIONS, load_builtin
    >>> load_builtin()
    >>> list(DECISIONS)
    ['ood', 'conformal', 'reject']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends import BackendOutput
    from yolo_probs.prediction import Prediction
    from yolo_probs.profile import Profile

__all__ = ["DECISIONS", "DecisionKind", "DecisionRule", "decisions_from_profile", "load_builtin", "register_decision"]


class DecisionRule(Protocol):
    """One decision applied to every batch of predictions."""

    needs_features: bool

    def apply(self, predictions: list[Prediction], output: BackendOutput) -> list[Prediction]: ...


@dataclass(frozen=True)
class DecisionKind:
    """How one kind of decision plugs in, under its profile key ``decisions.<key>``.

    Attributes:
        key: the profile key (``"ood"``, ``"conformal"``...).
        build: ``(entry, profile, classifier) -> DecisionRule`` from the profile's entry.
        fit: ``(options, result, classifier) -> entry``: the profile entry, computed by
            :func:`yolo_probs.workflow.calibrate` from its :class:`~yolo_probs.workflow.CalibrationResult`.
        evaluate: ``(entry, result, classifier, options) -> dict``: a report section for
            :func:`yolo_probs.workflow.evaluate` (``result`` is its :class:`~yolo_probs.workflow.EvaluationResult`).
        fit_needs_features: whether ``fit`` needs the calibration images' features.
    """

    key: str
    build: Callable[..., DecisionRule]
    fit: Callable[..., dict[str, Any]] | None = None
    evaluate: Callable[..., dict[str, Any]] | None = None
    fit_needs_features: bool = False


#: Profile key under ``decisions:`` -> its :class:`DecisionKind`, applied in registration order.
DECISIONS: dict[str, DecisionKind] = {}


def register_decision(kind: DecisionKind) -> DecisionKind:
    """Register a kind of decision under its key."""
    DECISIONS[kind.key] = kind
    return kind


def load_builtin() -> None:
    """Register the built-in decision kinds (idempotent): ``ood``, ``conformal``, ``reject``."""
    from yolo_probs.decisions import conformal, ood, selective

    for module in (ood, conformal, selective):
        if module.KIND.key not in DECISIONS:
            register_decision(module.KIND)


def decisions_from_profile(profile: Profile, classifier: Any) -> list[DecisionRule]:
    """The rules of ``profile.decisions``, in registration order; ConfigError for an unknown entry."""
    load_builtin()
    entries = profile.decisions or {}
    unknown = sorted(k for k in entries if k not in DECISIONS)
    if unknown:
        raise ConfigError(
            f"unknown decision entries {', '.join(unknown)} in the profile; known: {', '.join(DECISIONS) or 'none'}"
        )
    return [kind.build(entries[key], profile, classifier) for key, kind in DECISIONS.items() if key in entries]
