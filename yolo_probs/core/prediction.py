"""The result of classifying one image or video frame.

Example:
    >>> import numpy as np
    >>> from yolo_probs.core.prediction import Prediction
    >>> p = Prediction.from_logits(np.array([2.0, 1.0, 0.1]), names=("cat", "dog", "owl"), temperature=2.0, top_k=2)
    >>> p.top1, round(p.top1conf, 4), [c.name for c in p.top]
    (0, 0.5017, ['cat', 'dog'])
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yolo_probs.core.checks import check_text, describe, real_array
from yolo_probs.core.probs import (
    ProbabilityMap,
    TopClass,
    check_min_prob,
    check_names,
    check_probability_map,
    check_probs_row,
    check_temperature,
    check_top_k,
    checked_softmax,
    ranked,
)
from yolo_probs.errors import ConfigError

__all__ = ["Prediction", "Smoothing"]


@dataclass(frozen=True)
class Smoothing:
    """How a smoothed prediction was made (see :mod:`yolo_probs.decisions.smoothing`).

    Attributes:
        half_life: seconds after which an old frame weighs half as much as the newest one.
        time: the frame's time in seconds (video timestamps, else frame index / frame rate, else the clock).
        reset: whether the average restarted at this frame (the first frame, a scene cut, a long gap).
    """

    half_life: float
    time: float
    reset: bool = False


@dataclass(frozen=True, eq=False)
class Prediction:
    """Temperature-scaled class probabilities for one image or frame.

    Attributes:
        source: where the image came from (a path, ``video.mp4``, ``image0`` for an array, ...).
        logits: the raw logits captured from the model, shape ``(num_classes,)``, float32.
        probs: ``softmax(logits / temperature)``, shape ``(num_classes,)``, sums to 1.
        temperature: the temperature used, a finite number > 0.
        names: the class names, ``names[i]`` for class index ``i``.
        top: the ranked classes after top-k and ``min_prob`` filtering, best first.
        frame: the 0-based frame index within a video or stream, ``None`` for still images.
        logits_source: ``"hook"`` when the logits were captured from the model's final layer,
            ``"log(prob)"`` when recovered from an export's probabilities, ``"output"`` for a logits graph.
        top_k, min_prob: the filtering :attr:`top` was made with (kept by :meth:`with_temperature`).
        calibration: the calibration method that made :attr:`probs` (``"temperature"`` unless a profile
            chose another; then :attr:`temperature` is that method's temperature, or 1.0 if it has none).
        ood_score: how typical the input looks to the profile's unknown-input detector (higher = more
            typical), None when the profile has none.
        unknown: True when ``ood_score`` is below the profile's threshold, None when there is no detector.
        set: the conformal prediction set (best first), None when the profile has no conformal entry.
        features: the input of the model's final layer, when it was asked for (``predict_each(...,
            features=True)`` or a decision rule that needs it) and the backend can give it; else None.
        smoothing: for a prediction smoothed over time, how (:class:`Smoothing`); None otherwise.
        raw: for a smoothed prediction, the frame's own prediction (its ``probs``, ``top``, ``ood_score``,
            ``unknown`` and ``set``), kept beside the smoothed fields; None otherwise.
    """

    source: str
    logits: np.ndarray
    probs: np.ndarray
    temperature: float
    names: tuple[str, ...]
    top: list[TopClass] = field(default_factory=list)
    frame: int | None = None
    logits_source: str = "hook"
    top_k: int = 5
    min_prob: float | None = None
    calibration: str = "temperature"
    ood_score: float | None = None
    unknown: bool | None = None
    set: list[TopClass] | None = None
    features: np.ndarray | None = field(default=None, repr=False)
    smoothing: Smoothing | None = None
    raw: Prediction | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Check every field once (lists become arrays, a path source text); ``dataclasses.replace`` checks again."""
        logits = _logit_row(self.logits, "Prediction logits")
        probs = self.probs if isinstance(self.probs, np.ndarray) else real_array(self.probs, "Prediction probs")
        if probs.shape != logits.shape:
            raise ConfigError(
                f"Prediction needs 1-D logits and probs of one shape, got {logits.shape} and {probs.shape}"
            )
        check_probs_row(probs, "Prediction probs")
        fields: dict[str, Any] = {"logits": logits, "probs": probs}
        fields["names"] = check_names(self.names, logits.shape[0])
        fields["temperature"] = check_temperature(self.temperature)
        fields["top_k"] = check_top_k(self.top_k)
        fields["min_prob"] = check_min_prob(self.min_prob)
        fields["source"] = _source(self.source)
        fields["frame"] = _frame(self.frame)
        check_text(self.logits_source, "logits_source", "'hook'")
        check_text(self.calibration, "calibration", "'temperature'")
        if self.features is not None:
            features = real_array(self.features, "features", "an array of the final layer's inputs")
            if features.ndim != 1 or features.size == 0:
                raise ConfigError(
                    f"features must be one non-empty row (the final layer's inputs), got shape {features.shape}"
                )
            fields["features"] = features
        for name, value in fields.items():
            if value is not getattr(self, name):
                object.__setattr__(self, name, value)

    @classmethod
    def from_logits(
        cls,
        logits: np.ndarray,
        names: tuple[str, ...] | list[str],
        *,
        temperature: float = 1.0,
        top_k: int = 5,
        min_prob: float | None = None,
        source: str = "",
        frame: int | None = None,
        logits_source: str = "hook",
        calibrator: ProbabilityMap | None = None,
        features: np.ndarray | None = None,
    ) -> Prediction:
        """Build a prediction from one row of raw logits with the math core.

        With a ``calibrator`` (see :mod:`yolo_probs.calibration`) its probabilities are used and
        ``temperature`` is ignored. Raises :class:`ConfigError` naming the argument for logits that are
        not one row of numbers (or hold NaN or +inf), names of another length, and bad options.

        Example:
            >>> Prediction.from_logits([float("nan"), 1.0], names=("a", "b"))
            Traceback (most recent call last):
            ...
            yolo_probs.errors.ConfigError: logits contain NaN or +inf, or only -inf along the class axis; ...
        """
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused just below
            x = real_array(logits, "logits").astype(np.float32, copy=False)
        if x.ndim != 1 or x.size == 0:
            raise ConfigError(
                f"logits must be one non-empty row of class logits, got shape {x.shape}; pass one row at a time"
            )
        names = check_names(names, x.shape[0])
        top_k = check_top_k(top_k)
        min_prob = check_min_prob(min_prob)
        if calibrator is None:
            t = check_temperature(temperature)
            probs = checked_softmax(x, t)  # refuses NaN and +inf logits
            method = "temperature"
        else:
            x = _logit_row(x, "logits")
            calibrator = check_probability_map(calibrator)
            probs = np.asarray(calibrator.probs(x), dtype=np.float32)
            if probs.shape != x.shape or not np.isfinite(probs).all():
                raise ConfigError(
                    f"calibrator {calibrator.method!r} gave probabilities of shape {probs.shape} with NaN or inf for "
                    f"logits of shape {x.shape}; refit it or check its parameters"
                )
            t = calibrator.temperature if calibrator.temperature is not None else 1.0
            method = calibrator.method
        return cls(
            source=source,
            logits=x,
            probs=probs,
            temperature=t,
            names=names,
            top=ranked(probs, top_k, min_prob, names),
            frame=frame,
            logits_source=logits_source,
            top_k=top_k,
            min_prob=min_prob,
            calibration=method,
            features=features,
        )

    def with_temperature(
        self, temperature: float, top_k: int | None = None, min_prob: float | None = None
    ) -> Prediction:
        """The same logits re-scaled at another temperature (no new forward pass).

        ``top_k`` and ``min_prob`` default to the ones this prediction was made with. Decision fields
        (``ood_score``, ``unknown``, ``set``) are not carried over: they were made at the old temperature.

        Example:
            >>> import numpy as np
            >>> p = Prediction.from_logits(np.array([2.0, 1.0, 0.1]), names=("a", "b", "c"))
            >>> round(p.with_temperature(0.5).top1conf, 4)
            0.8638
        """
        return Prediction.from_logits(
            self.logits,
            self.names,
            temperature=temperature,
            top_k=self.top_k if top_k is None else top_k,
            min_prob=self.min_prob if min_prob is None else min_prob,
            source=self.source,
            frame=self.frame,
            logits_source=self.logits_source,
            features=self.features,
        )

    @property
    def top1(self) -> int:
        """Index of the most probable class (ties: the lower index), as Ultralytics' ``Probs.top1``."""
        return int(np.argmax(self.probs))

    @property
    def top1conf(self) -> float:
        """Probability of :attr:`top1`."""
        return float(self.probs[self.top1])

    @property
    def top5(self) -> list[int]:
        """Indices of the five most probable classes, best first, whatever ``top_k`` was."""
        return [int(i) for i in np.argsort(-self.probs, kind="stable")[:5]]

    @property
    def top5conf(self) -> np.ndarray:
        """Probabilities of :attr:`top5`."""
        return self.probs[self.top5]

    @property
    def entropy(self) -> float:
        """Normalised entropy of :attr:`probs` in [0, 1]: 0 is certain, 1 is uniform."""
        p = self.probs[self.probs > 0].astype(np.float64)
        n = self.probs.shape[0]
        return float(-(p * np.log(p)).sum() / math.log(n)) if n > 1 else 0.0

    @property
    def margin(self) -> float:
        """Top-1 probability minus top-2 probability, in [0, 1]; small means the model hesitates."""
        if self.probs.shape[0] < 2:
            return 1.0
        a, b = np.sort(self.probs)[-2:][::-1]
        return float(a - b)

    def to_dict(self, logits: bool = False) -> dict[str, Any]:
        """The JSON record of the CLI: source, frame, temperature, top (and logits if asked; null if -inf).

        Example:
            >>> import numpy as np
            >>> Prediction.from_logits(np.array([0.0, 1.0]), names=("a", "b"), top_k=1).to_dict()["top"]
            [{'index': 1, 'name': 'b', 'prob': 0.7310585975646973}]
        """
        record: dict[str, Any] = {
            "source": self.source,
            "frame": self.frame,
            "temperature": self.temperature,
            "top": [{"index": c.index, "name": c.name, "prob": c.prob} for c in self.top],
        }
        if self.calibration != "temperature":
            record["calibration"] = self.calibration
        if self.ood_score is not None:
            record["ood_score"] = self.ood_score
            record["unknown"] = self.unknown
        if self.set is not None:
            record["set"] = [{"index": c.index, "name": c.name, "prob": c.prob} for c in self.set]
        if self.smoothing is not None:
            record["smooth"] = {
                "half_life": self.smoothing.half_life,
                "time": self.smoothing.time,
                "reset": self.smoothing.reset,
            }
        if self.raw is not None:  # the frame's own probabilities, beside the smoothed ones: nothing hidden
            raw = self.raw.to_dict()
            record["raw"] = {key: raw[key] for key in ("top", "ood_score", "unknown", "set") if key in raw}
        if logits:  # strict JSON has no -Infinity: a logit lost to underflow (exported models) is null
            record["logits"] = [float(x) if math.isfinite(x) else None for x in self.logits]
        return record


def _logit_row(logits: Any, name: str) -> np.ndarray:
    """One row of logits: a non-empty 1-D array of real numbers whose maximum is finite (no NaN, no +inf)."""
    x = logits if isinstance(logits, np.ndarray) and logits.dtype.kind in "iuf" else real_array(logits, name)
    if x.ndim != 1 or x.size == 0:
        raise ConfigError(
            f"{name} must be one non-empty row of class logits, got shape {x.shape}; pass one row at a time"
        )
    if not math.isfinite(float(x.max())):  # NaN anywhere makes the maximum NaN
        raise ConfigError(
            f"{name} contain NaN or +inf, or only -inf; probabilities would be NaN: drop this sample or fix the "
            "model output"
        )
    return x


def _source(source: Any) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, os.PathLike):
        return os.fspath(source)  # type: ignore[return-value]
    raise ConfigError(f"source must be text (a path or a name), got {describe(source)}; pass e.g. 'image0'")


def _frame(frame: Any) -> int | None:
    if frame is None:
        return None
    if isinstance(frame, bool) or not isinstance(frame, numbers.Integral) or frame < 0:
        raise ConfigError(f"frame must be a whole number >= 0 or None, got {describe(frame)}; pass e.g. 0")
    return int(frame)
