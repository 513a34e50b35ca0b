"""The decision-rule interface: what a rule does to a batch of predictions, and the registry of kinds.

A rule has ``needs_features`` (whether it needs the features that enter the final layer) and
``apply(predictions, output)``, which returns the predictions of one batch with its fields filled in
(``ood_score``/``unknown``, ``set``, ...). Each kind of decision is a :class:`DecisionKind` (build a
rule from a profile entry; fit the entry during calibration; evaluate it), listed in :data:`DECISIONS`:
one module plus one line there. :func:`decisions_from_profile` builds the rules a profile's
``decisions:`` mapping describes.

Example:
    >>> list(DECISIONS)
    ['ood', 'conformal', 'reject', 'monitor']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from yolo_probs._util.registry import Registry
from yolo_probs.decisions._common import check_made_at
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends.base import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "DECISIONS",
    "DecisionKind",
    "DecisionRule",
    "check_decision_keys",
    "check_decisions",
    "decisions_from_profile",
    "register_decision",
]


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
        check: ``(entry) -> entry``: the entry checked key by key (types, ranges, NaN), with one-line
            ConfigErrors naming ``decisions.<key>.<name>``; a profile runs it when it is loaded.
    """

    key: str
    build: Callable[..., DecisionRule]
    fit: Callable[..., dict[str, Any]] | None = None
    evaluate: Callable[..., dict[str, Any]] | None = None
    fit_needs_features: bool = False
    check: Callable[[Any], dict[str, Any]] | None = None


#: Profile key under ``decisions:`` -> its :class:`DecisionKind`, applied in this order.
DECISIONS: Registry[DecisionKind] = Registry(
    "decision",
    {
        "ood": "yolo_probs.decisions.ood:KIND",
        "conformal": "yolo_probs.decisions.conformal:KIND",
        "reject": "yolo_probs.decisions.selective:KIND",
        "monitor": "yolo_probs.decisions.monitor:KIND",
    },
)


def register_decision(kind: DecisionKind) -> DecisionKind:
    """Register a kind of decision under its key; ConfigError unless ``kind`` is a :class:`DecisionKind`."""
    if not isinstance(kind, DecisionKind) or not isinstance(kind.key, str) or not callable(kind.build):
        raise ConfigError(f"register_decision(kind) takes a DecisionKind, got {kind!r}", option="kind")
    return DECISIONS.register(kind.key, kind)


def check_decision_keys(entries: Any) -> None:
    """ConfigError unless ``entries`` (a profile's ``decisions``) is a mapping of registered kinds."""
    if not isinstance(entries, dict):
        raise ConfigError(f"decisions must be a mapping (ood: ..., conformal: ...), got {entries!r}")
    unknown = sorted(str(k) for k in entries if k not in DECISIONS)
    if unknown:
        raise ConfigError(
            f"unknown decision entries {', '.join(unknown)} in the profile; known: {', '.join(DECISIONS) or 'none'}"
        )


def check_decisions(entries: Any, profile: Any = None) -> dict[str, Any]:
    """A profile's ``decisions`` mapping with each entry checked by its kind's ``check`` (as loaded).

    With ``profile`` each entry must also have been made at the profile's own calibrator
    (:func:`~yolo_probs.decisions._common.check_made_at`): only an edit makes them differ.

    Example:
        >>> check_decisions({"reject": {"min_prob": 2.0, "target_accuracy": 0.9,
        ...                             "calibrator": {"method": "temperature", "temperature": 1.0}}})
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.reject.min_prob must be a finite number in [0, 1], got 2.0
    """
    check_decision_keys(entries)
    out = dict(entries)
    for key, kind in DECISIONS.items():
        if key in out and kind.check is not None:
            out[key] = kind.check(out[key])
        if key in out and profile is not None:
            check_made_at(out[key], key, profile)
    return out


def decisions_from_profile(profile: Any, classifier: Any) -> list[DecisionRule]:
    """The rules of ``profile.decisions``, in registration order; ConfigError for an unknown entry."""
    entries = profile.decisions or {}
    check_decision_keys(entries)
    return [kind.build(entries[key], profile, classifier) for key, kind in DECISIONS.items() if key in entries]
