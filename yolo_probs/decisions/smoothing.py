"""Smoothing calibrated probabilities over time, so that a label on video does not flicker.

The probabilities of each new frame are averaged with the past ones in an exponential window whose
size is a **half-life in seconds** (``half_life``): a frame ``dt`` seconds old weighs ``2**(-dt /
half_life)`` as much as the newest one. Weights come from the frames' own times, so the same
half-life gives the same smoothing at 5 and at 60 frames per second, and a frame after a long gap
(dropped frames, a stalled stream) weighs what its age says. The average is taken over calibrated
**log-probabilities** (a weighted geometric mean, renormalised; ``space="prob"`` averages the
probabilities instead): ``benchmarks/bench_smoothing.py`` measures both, and the log average was
better calibrated and switched less (``docs/video.md``).

Around the average:

- :class:`SceneCut` restarts it on a scene cut: the grey-level histogram of a small thumbnail jumps
  (half the L1 distance between consecutive histograms above ``cut_threshold``), so a new shot is not
  blended with the old one;
- :class:`Hysteresis` keeps the UNCERTAIN and UNKNOWN states from blinking: a state changes only once
  its condition has held for ``hold`` seconds (by default half a half-life);
- :class:`TemporalSmoother` puts them together for one video or stream: it takes each frame's
  :class:`~yolo_probs.core.prediction.Prediction` and returns the smoothed one, with the frame's own
  prediction kept in :attr:`~yolo_probs.core.prediction.Prediction.raw`.

Everything here is numpy; the callers (API, CLI, overlay) give each frame its time.

Example:
    >>> import numpy as np
    >>> avg = ExponentialAverage(half_life=1.0, space="prob")
    >>> avg.update(np.array([1.0, 0.0]), t=0.0).tolist()
    [1.0, 0.0]
    >>> avg.update(np.array([0.0, 1.0]), t=1.0).tolist()  # one half-life later: weights 1/2 and 1
    [0.3333333333333333, 0.6666666666666666]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from yolo_probs.core.prediction import Prediction, Smoothing
from yolo_probs.core.probs import top_k as rank_top_k
from yolo_probs.errors import ConfigError

__all__ = [
    "DEFAULT_HALF_LIFE",
    "MAX_HALF_LIFE",
    "ExponentialAverage",
    "Hysteresis",
    "SceneCut",
    "TemporalSmoother",
    "check_half_life",
    "grey_histogram",
]

#: The half-life the docs recommend (seconds): benchmarks/bench_smoothing.py measures it.
DEFAULT_HALF_LIFE = 0.15
#: The longest half-life accepted (one hour): longer would average a whole film into one label.
MAX_HALF_LIFE = 3600.0
#: Probabilities are floored here before their log, so that one frame saying "0" cannot veto a class for ever.
LOG_FLOOR = 1e-3
Space = Literal["log", "prob"]


def check_half_life(seconds: object) -> float:
    """``seconds`` as a half-life: a finite number of seconds in (0, 3600]; else :class:`ConfigError` naming ``smooth``.

    Example:
        >>> check_half_life(0.5)
        0.5
        >>> check_half_life(0)
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: smooth must be a half-life in seconds, > 0 and at most 3600 (e.g. 0.15), got 0
    """
    ok = isinstance(seconds, (int, float, np.floating, np.integer)) and not isinstance(seconds, bool)
    value = float(seconds) if ok else math.nan  # type: ignore[arg-type]
    if not (0.0 < value <= MAX_HALF_LIFE):  # NaN fails this too
        raise ConfigError(
            f"smooth must be a half-life in seconds, > 0 and at most {MAX_HALF_LIFE:g} "
            f"(e.g. {DEFAULT_HALF_LIFE:g}), got {seconds!r}",
            option="smooth",
        )
    return value


def keep_weight(dt: float, half_life: float) -> float:
    """How much the running average keeps when the next frame comes ``dt`` seconds later: ``2**(-dt/half_life)``.

    Example:
        >>> keep_weight(0.5, 0.5), keep_weight(1.0, 0.5)
        (0.5, 0.25)
    """
    return float(2.0 ** (-max(dt, 0.0) / half_life))


@dataclass
class ExponentialAverage:
    """An exponentially weighted mean of probability vectors in time (a half-life in seconds).

    The mean of the frames so far, each weighted ``2**(-age / half_life)`` (its age in seconds at the
    newest frame), kept as two running sums, so it costs O(classes) per frame. ``space="log"`` takes
    the mean of log-probabilities (floored at :data:`LOG_FLOOR`) and renormalises: a weighted
    geometric mean. ``space="prob"`` takes the mean of the probabilities. A frame whose time does not
    move forward (a repeated timestamp) counts as coming one usual frame interval later.
    """

    half_life: float
    space: Space = "log"
    #: The weighted sum of the frames so far, and the sum of their weights.
    total: np.ndarray | None = None
    weight: float = 0.0
    time: float | None = None
    #: The last positive interval between frames, used for repeated or backward timestamps.
    interval: float | None = None

    def __post_init__(self) -> None:
        self.half_life = check_half_life(self.half_life)
        if self.space not in ("log", "prob"):
            raise ConfigError(f"space must be 'log' or 'prob', got {self.space!r}", option="smooth")

    @property
    def empty(self) -> bool:
        """Whether no frame has been added since the start or the last :meth:`reset`."""
        return self.total is None

    def reset(self) -> None:
        """Forget the past: the next frame starts a new average."""
        self.total, self.weight, self.time, self.interval = None, 0.0, None, None

    def _to_space(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, dtype=np.float64)
        return np.log(np.maximum(p, LOG_FLOOR)) if self.space == "log" else p

    def _from_space(self, mean: np.ndarray) -> np.ndarray:
        if self.space == "prob":
            return mean / mean.sum()
        e = np.exp(mean - mean.max())
        return e / e.sum()

    def update(self, probs: np.ndarray, t: float) -> np.ndarray:
        """Add the probabilities of a frame at time ``t`` (seconds); return the smoothed probabilities."""
        return self._from_space(self.blend(self._to_space(probs), t))

    def blend(self, x: np.ndarray, t: float) -> np.ndarray:
        """The weighted mean of every ``x`` so far (any vectors: no log, no renormalising) after one at ``t``."""
        x = np.asarray(x, dtype=np.float64)
        if self.total is None or self.time is None or self.total.shape != x.shape:
            self.total, self.weight, self.time = x.copy(), 1.0, float(t)
            return x
        dt = float(t) - self.time
        if not dt > 0:  # repeated, backward or NaN time: one usual interval
            dt = self.interval if self.interval is not None else 0.0
        else:
            self.interval = dt
        keep = keep_weight(dt, self.half_life)
        self.total = keep * self.total + x
        self.weight = keep * self.weight + 1.0
        self.time = self.time + dt
        return self.total / self.weight


def grey_histogram(image: np.ndarray, bins: int = 16, side: int = 32) -> np.ndarray:
    """The grey-level histogram (``bins`` bins, summing to 1) of a ``side`` x ``side`` thumbnail of ``image``.

    The thumbnail is taken by striding (no resampling), so this costs microseconds on any frame.

    Example:
        >>> import numpy as np
        >>> grey_histogram(np.full((480, 640, 3), 255, np.uint8), bins=4).tolist()
        [0.0, 0.0, 0.0, 1.0]
    """
    img = np.asarray(image)
    sy, sx = max(1, img.shape[0] // side), max(1, img.shape[1] // side)
    small = img[::sy, ::sx]
    grey = small.mean(axis=2) if small.ndim == 3 else small
    index = np.clip((grey.astype(np.float64) * bins / 256.0).astype(np.int64), 0, bins - 1)
    counts = np.bincount(index.ravel(), minlength=bins).astype(np.float64)
    return counts / counts.sum()


@dataclass
class SceneCut:
    """Says whether a frame starts a new shot: its thumbnail's grey histogram moved more than ``threshold``.

    The distance is half the L1 distance between consecutive histograms (0: the same, 1: no overlap).
    Noise, blur and small motion move it by about 0.1 (``benchmarks/bench_smoothing.py`` measures it on noisy
    clips); a cut to another scene by more than the default threshold of 0.2.

    Example:
        >>> import numpy as np
        >>> cut = SceneCut()
        >>> dark, bright = np.full((64, 64, 3), 20, np.uint8), np.full((64, 64, 3), 220, np.uint8)
        >>> cut.update(dark), cut.update(dark), cut.update(bright)
        (False, False, True)
    """

    threshold: float = 0.2
    previous: np.ndarray | None = None
    #: The distance measured at the last frame.
    distance: float = 0.0

    def update(self, image: np.ndarray) -> bool:
        """Whether ``image`` is a cut from the one before (False for the first frame)."""
        hist = grey_histogram(image)
        prev, self.previous = self.previous, hist
        self.distance = 0.0 if prev is None else float(0.5 * np.abs(hist - prev).sum())
        return self.distance > self.threshold


@dataclass
class Hysteresis:
    """A yes/no state that changes only once the opposite has held for ``hold`` seconds (by frame times).

    Example:
        >>> h = Hysteresis(hold=0.5)
        >>> [h.update(c, t) for c, t in [(False, 0.0), (True, 0.1), (False, 0.2), (True, 0.3), (True, 0.9)]]
        [False, False, False, False, True]
    """

    hold: float
    state: bool | None = None
    #: When the condition started to disagree with the state (None while they agree).
    since: float | None = None

    def update(self, condition: bool, t: float) -> bool:
        """The state after a frame at time ``t`` whose own condition is ``condition``."""
        if self.state is None or condition == self.state:
            self.state, self.since = (condition if self.state is None else self.state), None
            return self.state
        if self.since is None:
            self.since = t
        if t - self.since >= self.hold:
            self.state, self.since = condition, None
        return self.state

    def reset(self) -> None:
        """Forget the state: the next frame sets it."""
        self.state, self.since = None, None


@dataclass
class TemporalSmoother:
    """Smooths the predictions of one video or stream: exponential average, scene cuts, hysteresis.

    Args:
        half_life: seconds (see :func:`check_half_life`).
        space: ``"log"`` (default) or ``"prob"``: what is averaged (see :class:`ExponentialAverage`).
        min_prob: the UNCERTAIN threshold on the smoothed top-1 probability (None: no such state).
        hold: seconds a changed UNCERTAIN or UNKNOWN condition must last before the state follows
            (default half a half-life).
        cut_threshold: :class:`SceneCut`'s threshold; None never resets on the picture.

    The ``ood_score`` of a profile's unknown-input detector is averaged with the same weights, and
    ``unknown`` is the frames' own flag through the hysteresis. The
    conformal ``set`` was calibrated for single frames, so it stays in ``raw`` only.

    Example:
        >>> import numpy as np
        >>> from yolo_probs.core.prediction import Prediction
        >>> s = TemporalSmoother(half_life=1.0)
        >>> frames = [np.array([3.0, 0.0])] * 4 + [np.array([0.0, 3.0]), np.array([3.0, 0.0])]
        >>> out = [s.step(Prediction.from_logits(z, ("a", "b"), frame=i), t=i / 30) for i, z in enumerate(frames)]
        >>> "".join(p.names[p.top1] for p in out), "".join(p.raw.names[p.raw.top1] for p in out)
        ('aaaaaa', 'aaaaba')
    """

    half_life: float
    space: Space = "log"
    min_prob: float | None = None
    hold: float | None = None
    cut_threshold: float | None = 0.2
    average: ExponentialAverage = field(init=False)
    ood: ExponentialAverage = field(init=False)
    cuts: SceneCut | None = field(init=False)
    uncertain_state: Hysteresis = field(init=False)
    unknown_state: Hysteresis = field(init=False)
    #: Scene cuts seen so far.
    resets: int = 0
    #: Whether the last frame is shown as UNCERTAIN (None without ``min_prob``).
    uncertain: bool | None = None

    def __post_init__(self) -> None:
        self.average = ExponentialAverage(self.half_life, self.space)
        self.half_life = self.average.half_life
        self.ood = ExponentialAverage(self.half_life, "prob")
        hold = self.half_life / 2 if self.hold is None else float(self.hold)
        self.uncertain_state, self.unknown_state = Hysteresis(hold), Hysteresis(hold)
        self.cuts = SceneCut(self.cut_threshold) if self.cut_threshold is not None else None

    def reset(self) -> None:
        """Start again, as at a scene cut (also what the overlay does when the temperature changes)."""
        self.average.reset()
        self.ood.reset()
        self.uncertain_state.reset()
        self.unknown_state.reset()

    def step(self, prediction: Prediction, t: float, image: np.ndarray | None = None) -> Prediction:
        """The smoothed prediction of a frame at time ``t`` seconds (``image``: to look for scene cuts)."""
        cut = self.cuts is not None and image is not None and self.cuts.update(image)
        if cut:
            self.resets += 1
            self.reset()
        fresh = self.average.empty
        probs = self.average.update(prediction.probs, t).astype(np.float32)
        top = rank_top_k(probs, k=prediction.top_k, min_prob=prediction.min_prob, names=prediction.names)
        if self.min_prob is not None:
            self.uncertain = self.uncertain_state.update(bool(probs.max() < self.min_prob), t)
        ood_score, unknown = prediction.ood_score, prediction.unknown
        if ood_score is not None and unknown is not None:
            ood_score = float(self.ood.blend(np.array([ood_score]), t)[0])
            unknown = self.unknown_state.update(bool(unknown), t)
        return replace(
            prediction,
            probs=probs,
            top=top,
            ood_score=ood_score,
            unknown=unknown,
            set=None,
            smoothing=Smoothing(self.half_life, float(t), reset=fresh),
            raw=prediction,
        )
