"""Decision rules on top of calibrated probabilities: small objects that every front end calls.

A rule has ``needs_features`` (whether it needs the features that enter the final layer) and
``apply(predictions, output)``, which returns the predictions of one batch with its fields filled in
(``ood_score``/``unknown``, ``set``, ...). :class:`~yolo_probs.model.YoloProbs` applies its rules
after the calibrator, so the API, the CLI, the overlay and the plugin share one implementation.
:func:`decisions_from_profile` builds the rules a profile's ``decisions:`` mapping describes.

Built-in rules, one module each (pure numpy math, a ``fit`` that makes the profile entry, a rule, an
``evaluate``): ``ood`` (:mod:`~yolo_probs.decisions.ood`, unknown inputs), ``conformal``
(:mod:`~yolo_probs.decisions.conformal`, prediction sets) and ``reject``
(:mod:`~yolo_probs.decisions.selective`, a reject threshold with a guarantee). Each entry records the
calibrator it was made at; a classifier with another calibrator is refused.

Example:
    >>> from yolo_probs.decisions import DECISIONS, load_builtin
    >>> load_builtin()
    >>> sorted(DECISIONS)
    ['conformal', 'ood', 'reject']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends import BackendOutput
    from yolo_probs.prediction import Prediction
    from yolo_probs.profile import Profile

__all__ = ["DECISIONS", "DecisionRule", "decisions_from_profile", "load_builtin", "register_decision"]


class DecisionRule(Protocol):
    """One decision applied to every batch of predictions."""

    needs_features: bool

    def apply(self, predictions: list[Prediction], output: BackendOutput) -> list[Prediction]: ...


#: Profile key under ``decisions:`` -> a function ``(entry, profile, classifier) -> DecisionRule``.
DECISIONS: dict[str, Any] = {}


def register_decision(key: str, build: Any) -> None:
    """Register how a profile's ``decisions.<key>`` entry becomes a rule."""
    DECISIONS[key] = build


def decisions_from_profile(profile: Profile, classifier: Any) -> list[DecisionRule]:
    """The rules of ``profile.decisions``, in a fixed order; ConfigError for an unknown entry."""
    load_builtin()
    entries = profile.decisions or {}
    unknown = sorted(k for k in entries if k not in DECISIONS)
    if unknown:
        raise ConfigError(
            f"unknown decision entries {', '.join(unknown)} in the profile; known: {', '.join(DECISIONS) or 'none'}"
        )
    return [DECISIONS[key](entries[key], profile, classifier) for key in DECISIONS if key in entries]


def load_builtin() -> None:
    """Register the built-in rules (idempotent): ``ood``, ``conformal``, ``reject``."""
    from yolo_probs.decisions import conformal, ood, selective

    for key, module in (("ood", ood), ("conformal", conformal), ("reject", selective)):
        DECISIONS.setdefault(key, module.build)
