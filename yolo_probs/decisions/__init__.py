"""Decision rules on top of calibrated probabilities: small objects that every front end calls.

:class:`~yolo_probs.api.model.YoloProbs` applies its rules after the calibrator, so the API, the CLI,
the overlay and the plugin share one implementation. The interface and the registry of kinds are in
:mod:`yolo_probs.decisions.base`. Built-in kinds, one module each (pure numpy math, ``fit``, the rule,
``evaluate``): ``ood`` (:mod:`~yolo_probs.decisions.ood`, unknown inputs), ``conformal``
(:mod:`~yolo_probs.decisions.conformal`, prediction sets) and ``reject``
(:mod:`~yolo_probs.decisions.selective`, a reject threshold with a guarantee) and ``monitor``
(:mod:`~yolo_probs.decisions.monitor`, label-free drift tests against the calibration images). Each entry records the
calibrator it was made at; a classifier with another one is refused.

Example:
    >>> from yolo_probs.decisions import DECISIONS
    >>> list(DECISIONS)
    ['ood', 'conformal', 'reject', 'monitor']
"""

from __future__ import annotations

from yolo_probs._util.deprecation import no_longer_needed
from yolo_probs.decisions.base import DECISIONS, DecisionKind, DecisionRule, decisions_from_profile, register_decision

__all__ = ["DECISIONS", "DecisionKind", "DecisionRule", "decisions_from_profile", "register_decision"]

# Before 0.2, load_builtin() had to be called before use.
load_builtin = no_longer_needed(
    __name__, "load_builtin", "the built-in kinds load on first use (add your own with register_decision)"
)
