"""The decision-rule interface: what a rule does to a batch of predictions, and the registry of kinds.

A rule has ``needs_features`` (whether it needs the features that enter the final layer) and
``apply(predictions, output)``, which returns the predictions of one batch with its fields filled in
(``ood_score``/``unknown``, ``set``, ...). Each kind of decision is a :class:`DecisionKind` (build a
rule from a profile entry; fit the entry during calibration; evaluate it), listed in :data:`DECISIONS`:
one module plus one line there. :func:`decisions_from_profile` builds the rules a profile's
``decisions:`` mapping describes.

Example:
    >>> list(DECISIONS)
    ['ood', 'conformal', 'reject']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from yolo_probs._util.registry import Registry
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends.base import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = ["DECISIONS", "DecisionKind", "DecisionRule", "decisions_from_profile", "register_decision"]


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
            :func:`yolo_probs.api.workflow.calibrate` from its :class:`~yolo_probs.api.workflow.CalibrationResult`.
        evaluate: ``(entry, result, classifier, options) -> dict``: a report section for
            :func:`yolo_probs.api.workflow.evaluate` (``result``: its
            :class:`~yolo_probs.api.workflow.EvaluationResult`).
        fit_needs_features: whether ``fit`` needs the calibration images' features.
    """

    key: str
    build: Callable[..., DecisionRule]
    fit: Callable[..., dict[str, Any]] | None = None
    evaluate: Callable[..., dict[str, Any]] | None = None
    fit_needs_features: bool = False


#: Profile key under ``decisions:`` -> its :class:`DecisionKind`, applied in this order.
DECISIONS: Registry[DecisionKind] = Registry(
    "decision",
    {
        "ood": "yolo_probs.decisions.ood:KIND",
        "conformal": "yolo_probs.decisions.conformal:KIND",
        "reject": "yolo_probs.decisions.selective:KIND",
    },
)


def register_decision(kind: DecisionKind) -> DecisionKind:
    """Register a kind of decision under its key."""
    return DECISIONS.register(kind.key, kind)


def decisions_from_profile(profile: Any, classifier: Any) -> list[DecisionRule]:
    """The rules of ``profile.decisions``, in registration order; ConfigError for an unknown entry."""
    entries = profile.decisions or {}
    unknown = sorted(k for k in entries if k not in DECISIONS)
    if unknown:
        raise ConfigError(
            f"unknown decision entries {', '.join(unknown)} in the profile; known: {', '.join(DECISIONS) or 'none'}"
        )
    return [kind.build(entries[key], profile, classifier) for key, kind in DECISIONS.items() if key in entries]
