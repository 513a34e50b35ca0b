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
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.calibration import calibrator_from_dict
from yolo_probs.calibration.folded import Folded
from yolo_probs.core.checks import check_flag, check_number, check_whole
from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from yolo_probs.backends.base import BackendOutput
    from yolo_probs.core.prediction import Prediction

__all__ = [
    "CalibratedRule",
    "Field",
    "calibrator_difference",
    "calibrator_label",
    "check_entry",
    "check_fields",
    "check_fraction",
    "check_made_at",
    "made_at",
    "profile_calibrator",
    "same_calibrator",
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


@dataclass(frozen=True)
class Field:
    """One key of a decision entry: ``check(value, name) -> value`` (a one-line ConfigError naming ``name``).

    Example:
        >>> Field(lambda v, n: check_whole(v, n, low=1)).check("abc", "decisions.ood.k")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.ood.k must be a whole number >= 1, got 'abc' (str)
    """

    check: Callable[[Any, str], Any]
    required: bool = True


def number(**bounds: Any) -> Callable[[Any, str], float]:
    """A :class:`Field` check: a finite number in ``bounds`` (:func:`~yolo_probs.core.checks.check_number`)."""
    return lambda value, name: check_number(value, name, **bounds)


def whole(low: int | None = None) -> Callable[[Any, str], int]:
    """A :class:`Field` check: a whole number ``>= low``."""
    return lambda value, name: check_whole(value, name, low=low)


def fraction(value: Any, name: str) -> float:
    """A :class:`Field` check: a number strictly between 0 and 1."""
    return check_number(value, name, low=0.0, high=1.0, low_open=True, high_open=True)


def flag(value: Any, name: str) -> bool:
    """A :class:`Field` check: true or false (the string ``'no'`` is neither)."""
    return check_flag(value, name)


def text(value: Any, name: str) -> str:
    """A :class:`Field` check: a string."""
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string, got {value!r} ({type(value).__name__})")
    return value


def path_or_array(value: Any, name: str) -> Any:
    """A :class:`Field` check: a file path (as a profile holds it) or an array (fitted, not yet saved)."""
    if not isinstance(value, str | os.PathLike | np.ndarray):
        raise ConfigError(f"{name} must be a file name, got {value!r} ({type(value).__name__})")
    return value


def calibrator_mapping(value: Any, name: str) -> dict[str, Any]:
    """A :class:`Field` check: a calibrator's mapping (``to_dict()``) that :func:`calibrator_from_dict` accepts."""
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a calibrator mapping (method: ...), got {value!r}")
    calibrator_from_dict(value, name=name)
    return value


def check_fields(entry: Any, key: str, fields: Mapping[str, Field]) -> dict[str, Any]:
    """``decisions.<key>`` checked against its table of fields: a mapping, known keys, each value checked.

    Returns a copy with the values as the checks give them (numbers as floats...). Every message names
    the key (``decisions.ood.k``) and the value.

    Example:
        >>> check_fields({"k": "abc"}, "ood", {"k": Field(whole(1))})
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: decisions.ood.k must be a whole number >= 1, got 'abc' (str)
    """
    if not isinstance(entry, dict):
        raise ConfigError(f"decisions.{key} must be a mapping, got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in fields)
    if unknown:
        raise ConfigError(
            f"decisions.{key} has unknown keys {', '.join(unknown)}; allowed: {', '.join(fields)} (check the spelling)"
        )
    missing = [k for k, f in fields.items() if f.required and k not in entry]
    if missing:
        raise ConfigError(f"decisions.{key} lacks {', '.join(missing)}; re-run 'yolo-probs calibrate'")
    return {k: fields[k].check(v, f"decisions.{key}.{k}") for k, v in entry.items()}


def _close(a: Any, b: Any) -> bool:
    a, b = (x.tolist() if isinstance(x, np.ndarray) else x for x in (a, b))
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


def profile_calibrator(profile: Any) -> dict[str, Any]:
    """The calibrator mapping a profile applies: its ``calibrator``, else temperature scaling at its ``temperature``.

    Example:
        >>> from types import SimpleNamespace
        >>> profile_calibrator(SimpleNamespace(calibrator=None, temperature=1.5))
        {'method': 'temperature', 'temperature': 1.5}
    """
    if profile.calibrator is not None:  # as the calibrator writes it (arrays from a calibrator file as lists)
        return calibrator_from_dict(profile.calibrator).to_dict()
    return {"method": "temperature", "temperature": float(profile.temperature)}


def calibrator_difference(stored: dict[str, Any], current: dict[str, Any]) -> str:
    """How two calibrator mappings differ, for a message: their labels, or the keys that differ in one method.

    Example:
        >>> calibrator_difference({"method": "vector", "bias": [0.0, 1.0]}, {"method": "vector", "bias": [0.0, 2.0]})
        'vector calibration with another bias'
    """
    if stored.get("method") != current.get("method") or stored.get("method") == "temperature":
        return calibrator_label(current)
    keys = sorted({*stored, *current} - {"method"})
    changed = [k for k in keys if k not in stored or k not in current or not _close(stored[k], current[k])]
    return f"{calibrator_label(current)} with another {', '.join(changed) or 'parameters'}"


def calibrator_label(data: dict[str, Any]) -> str:
    """A short human description: ``temperature 1.53`` or ``vector (...)``.

    Example:
        >>> calibrator_label({"method": "temperature", "temperature": 1.534})
        'temperature scaling at T=1.534'
    """
    t, on_top = data.get("temperature"), data.get("tempered")
    if data.get("method") == "temperature" and isinstance(t, numbers.Real):
        return f"temperature scaling at T={t:.4g}"
    if isinstance(on_top, numbers.Real):  # an export's folded calibration, a temperature applied over it
        return f"{data.get('method')} calibration (folded into the model) at T={on_top:.4g}"
    return f"{data.get('method')} calibration"


def check_entry(entry: Any, key: str, classifier: Any, profile: Any = None) -> dict[str, Any]:
    """A profile's ``decisions.<key>`` entry, checked: a mapping, made at the classifier's calibrator.

    Every kind's ``build`` starts here; ConfigError when the entry is not a mapping or when the
    classifier's calibrator is not the one the entry was made at. With ``profile``, the message tells an
    override (the classifier's calibrator is not the profile's: drop it) from an edited profile.
    """
    if not isinstance(entry, dict):
        raise ConfigError(f"decisions.{key} must be a mapping, got {entry!r}")
    stored = entry.get("calibrator")
    if not isinstance(stored, dict):
        raise ConfigError(f"decisions.{key} has no 'calibrator' mapping; re-run 'yolo-probs calibrate'")
    current = classifier.calibrator.to_dict()
    if not same_calibrator(stored, current):
        cal = classifier.calibrator
        if isinstance(cal, Folded) and not same_calibrator(stored, cal.mapping):  # the model holds another one
            todo, option = "use the model the profile was calibrated for (or its own profile)", "model"
        elif profile is None or not same_calibrator(profile_calibrator(profile), current):
            todo, option = "drop the temperature (or calibrator) override", "temperature"
        else:
            todo, option = "re-run 'yolo-probs calibrate'", None
        raise ConfigError(
            f"decisions.{key} was made at {calibrator_label(stored)}, but the model now uses "
            f"{calibrator_difference(stored, current)}; {todo} (decisions are never mixed with another calibration)",
            option=option,
        )
    return entry


def check_made_at(entry: dict[str, Any], key: str, profile: Any) -> None:
    """ConfigError when a profile's ``decisions.<key>`` was made at another calibrator than the profile's own.

    Only an edit makes them differ (``calibrate`` writes both from one fit): a temperature, a bias, a
    calibrator file changed by hand.
    """
    stored, own = entry.get("calibrator"), profile_calibrator(profile)
    if isinstance(stored, dict) and not same_calibrator(stored, own):
        raise ConfigError(
            f"decisions.{key}.calibrator is {calibrator_label(stored)}, but the profile's calibrator is "
            f"{calibrator_difference(stored, own)}: the profile (or its calibrator file) was edited after "
            "calibration; re-run 'yolo-probs calibrate'"
        )


def made_at(prediction: Prediction, stored: dict[str, Any]) -> bool:
    """Whether ``prediction`` was made with the calibration a decision entry was fitted at.

    Only the method and the temperature are known from a prediction; :func:`check_entry` has
    compared the full calibrator when the rule was built.
    """
    if prediction.calibration != stored.get("method"):
        return False
    t = stored.get("temperature")
    return t is None or math.isclose(prediction.temperature, float(t), rel_tol=1e-6)


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
