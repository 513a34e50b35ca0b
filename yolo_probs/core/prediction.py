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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from yolo_probs.core.probs import ProbabilityMap, TopClass, check_temperature, softmax
from yolo_probs.core.probs import top_k as rank_top_k
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
        if self.logits.ndim != 1 or self.probs.shape != self.logits.shape:
            raise ConfigError(
                f"Prediction needs 1-D logits and probs of one shape, got {self.logits.shape} and {self.probs.shape}"
            )
        if len(self.names) != self.logits.shape[0]:
            raise ConfigError(f"Prediction has {self.logits.shape[0]} logits but {len(self.names)} class names")

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
        ``temperature`` is ignored.
        """
        logits = np.asarray(logits, dtype=np.float32)
        if calibrator is None:
            t = check_temperature(temperature)
            probs = softmax(logits, t)
            method = "temperature"
        else:
            probs = np.asarray(calibrator.probs(logits), dtype=np.float32)
            t = calibrator.temperature if calibrator.temperature is not None else 1.0
            method = calibrator.method
        names = tuple(names)
        return cls(
            source=source,
            logits=logits,
            probs=probs,
            temperature=t,
            names=names,
            top=rank_top_k(probs, k=top_k, min_prob=min_prob, names=names),
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
