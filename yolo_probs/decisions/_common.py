"""What every decision rule shares: the calibrator it was fitted at, checks on its inputs, feature capture.

A decision entry in a profile records the calibrator (``to_dict()``) it was made at. A rule built from
it refuses a classifier whose calibrator differs (:func:`check_entry`), and leaves predictions
made at another temperature (the overlay's live ``+``/``-``) without a decision rather than mixing
(:class:`CalibratedRule`).

Example:
    >>> from yolo_probs.calibration import TemperatureScaling
    >>> same_calibrator({"method": "temperature", "temperature": 1.5}, TemperatureScaling(1.5).to_dict())
    True
"""

from __future__ import annotations

import math
import numbers
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends.base import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "CalibratedRule",
    "calibrator_label",
    "check_entry",
    "check_fraction",
    "made_at",
    "same_calibrator",
    "take",
]


def check_fraction(value: Any, what: str, option: str | None = None) -> float:
    """``value`` as a float strictly between 0 and 1, else a one-line :class:`ConfigError`.

    Example:
        >>> check_fraction(0.1, "alpha")
        0.1
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{what} must be a number strictly between 0 and 1, got {value!r}", option=option)
    return float(value)


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, numbers.Real) and isinstance(b, numbers.Real) and not isinstance(a, bool | str):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def same_calibrator(stored: dict[str, Any], current: dict[str, Any]) -> bool:
    """Whether two calibrator mappings (``to_dict()``) describe the same calibration (numbers to 1e-9)."""
    return _close(stored, current)


def calibrator_label(data: dict[str, Any]) -> str:
    """A short human description: ``temperature 1.53`` or ``vector (...)``.

    Example:
        >>> calibrator_label({"method": "temperature", "temperature": 1.534})
        'temperature scaling at T=1.534'
    """
    if data.get("method") == "temperature":
        return f"temperature scaling at T={data.get('temperature'):.4g}"
    return f"{data.get('method')} calibration"


def check_entry(entry: Any, key: str, classifier: Any) -> dict[str, Any]:
    """A profile's ``decisions.<key>`` entry, checked: a mapping, made at the classifier's calibrator.

    Every kind's ``build`` starts here; ConfigError when the entry is not a mapping or when the
    classifier's calibrator is not the one the entry was made at.
    """
    if not isinstance(entry, dict):
        raise ConfigError(f"decisions.{key} must be a mapping, got {entry!r}")
    stored = entry.get("calibrator")
    if not isinstance(stored, dict):
        raise ConfigError(f"decisions.{key} has no 'calibrator' mapping; re-run 'yolo-probs calibrate'")
    current = classifier.calibrator.to_dict()
    if not same_calibrator(stored, current):
        raise ConfigError(
            f"decisions.{key} was made at {calibrator_label(stored)}, but the model now uses "
            f"{calibrator_label(current)}; drop the temperature override or re-run 'yolo-probs calibrate' "
            "(decisions are never mixed with another calibration)",
            option="temperature",
        )
    return entry


def made_at(prediction: Prediction, stored: dict[str, Any]) -> bool:
    """Whether ``prediction`` was made with the calibration a decision entry was fitted at.

    Only the method and the temperature are known from a prediction; :func:`check_entry` has
    compared the full calibrator when the rule was built.
    """
    if prediction.calibration != stored.get("method"):
        return False
    t = stored.get("temperature")
    return t is None or math.isclose(prediction.temperature, float(t), rel_tol=1e-6)


def take(entry: dict[str, Any], key: str, name: str, kind: Any) -> Any:
    """``entry[name]`` checked against ``kind`` (ConfigError naming ``decisions.<key>.<name>``)."""
    if name not in entry:
        raise ConfigError(f"decisions.{key} lacks '{name}'; re-run 'yolo-probs calibrate'")
    value = entry[name]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    ok = any(
        (isinstance(value, numbers.Real) and not isinstance(value, bool)) if k is float else isinstance(value, k)
        for k in kinds
    )
    if not ok or (isinstance(value, bool) and bool not in kinds):
        raise ConfigError(f"decisions.{key}.{name} has the wrong type ({value!r}); re-run 'yolo-probs calibrate'")
    return float(value) if float in kinds and not isinstance(value, int | bool) else value


class CalibratedRule:
    """A decision rule made at one calibrator: it decides for the predictions made there, and leaves the rest.

    A rule sets ``calibrator`` (the entry's mapping) and implements :meth:`decide`; :meth:`apply` picks
    the predictions made at ``calibrator`` (:func:`made_at`), asks :meth:`decide` about them together
    (one batch), and fills in the fields it returns.

    Example:
        >>> import numpy as np
        >>> from yolo_probs.core.prediction import Prediction
        >>> class Flag(CalibratedRule):
        ...     calibrator = {"method": "temperature", "temperature": 1.0}
        ...     def decide(self, predictions, rows, output):
        ...         return [{"unknown": True} for _ in predictions]
        >>> at_1 = Prediction.from_logits(np.array([1.0, 0.0]), ("a", "b"))
        >>> at_2 = Prediction.from_logits(np.array([1.0, 0.0]), ("a", "b"), temperature=2.0)
        >>> [p.unknown for p in Flag().apply([at_1, at_2], None)]
        [True, None]
    """

    needs_features: bool = False
    calibrator: dict[str, Any]

    def decide(self, predictions: list[Prediction], rows: list[int], output: BackendOutput) -> list[dict[str, Any]]:
        """The fields to set on each of ``predictions`` (``{}``: leave it as it is).

        ``rows`` are their rows in ``output`` (e.g. to pick their features).
        """
        raise NotImplementedError

    def apply(self, predictions: list[Prediction], output: BackendOutput) -> list[Prediction]:
        """``predictions`` with this rule's fields filled in where they were made at :attr:`calibrator`."""
        rows = [i for i, p in enumerate(predictions) if made_at(p, self.calibrator)]
        if not rows:
            return predictions
        out = list(predictions)
        for i, fields in zip(rows, self.decide([predictions[i] for i in rows], rows, output), strict=True):
            if fields:
                out[i] = replace(predictions[i], **fields)
        return out
