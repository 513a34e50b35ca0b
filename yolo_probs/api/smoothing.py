"""Smoothing the predictions of videos and streams over time, for the API and ``predict --smooth``.

:class:`SmoothedStream` gives each frame its time and hands it, with its picture, to the
:class:`~yolo_probs.decisions.smoothing.TemporalSmoother` of its source:

- a video file: frame index / the file's frame rate (OpenCV's ``CAP_PROP_FPS``); a file that does not
  say its rate is taken as :data:`ASSUMED_FPS` frames per second, and a note says so;
- a webcam or a stream URL (live): the moment its prediction arrives (a monotonic clock), so frames
  that were dropped or delayed count as the time that really passed;
- a still image: passed through unchanged (one note says that smoothing does nothing there).

Example (``YoloProbs.predict(source, smooth=0.15)`` does this for every frame):
    >>> import numpy as np
    >>> from yolo_probs.core.prediction import Prediction
    >>> stream = SmoothedStream(0.15, clock=iter([10.0, 10.5]).__next__)  # a webcam: the clock's times
    >>> frames = [Prediction.from_logits(np.array(z), ("a", "b"), source="0", frame=i)
    ...           for i, z in enumerate([[2.0, 0.0], [0.0, 2.0]])]
    >>> [(p.smoothing.time, p.names[p.top1], p.raw.names[p.raw.top1]) for p in map(stream.step, frames)]
    [(10.0, 'a', 'a'), (10.5, 'b', 'b')]
"""

from __future__ import annotations

import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from yolo_probs._util.threads import decode_workers
from yolo_probs.core.prediction import Prediction
from yolo_probs.decisions.smoothing import Space, TemporalSmoother, check_half_life
from yolo_probs.inputs.sources import STREAM_PREFIXES, Frame, InputFailure, iter_frames


class _Classifier(Protocol):
    """What :func:`smooth_each` needs of :class:`~yolo_probs.api.model.YoloProbs`."""

    batch: int

    def predict_each(self, source: Any, *, features: bool = False) -> Iterator[Prediction | InputFailure]: ...


__all__ = ["ASSUMED_FPS", "SmoothedStream", "frame_rate", "smooth_each"]

#: The frame rate taken for a video file that does not say its own.
ASSUMED_FPS = 30.0
STILL_NOTE = "smoothing does nothing on still images (only the frames of videos and streams are smoothed)"


def frame_rate(source: str) -> float | None:
    """The frame rate a video file announces, or None when it has none (or an absurd one).

    Example:
        >>> frame_rate("missing.mp4") is None
        True
    """
    import cv2

    cap = cv2.VideoCapture(source)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS)) if cap.isOpened() else 0.0
    finally:
        cap.release()
    return fps if np.isfinite(fps) and 0.0 < fps < 1000.0 else None


def _warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=4)


class SmoothedStream:
    """One :class:`TemporalSmoother` per video or stream, with the time of each frame (see the module).

    Args:
        half_life: seconds (:func:`~yolo_probs.decisions.smoothing.check_half_life`: a
            :class:`~yolo_probs.errors.ConfigError` naming ``smooth`` otherwise).
        space: ``"log"`` or ``"prob"`` (see :class:`~yolo_probs.decisions.smoothing.ExponentialAverage`).
        note: says, once each, that stills are not smoothed and which frame rate a file is assumed to have.
        clock: the clock of live sources (seconds).
    """

    def __init__(
        self,
        half_life: float,
        *,
        space: Space = "log",
        note: Callable[[str], None] = _warn,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.half_life = check_half_life(half_life)
        self.space: Space = space
        self.note = note
        self.clock = clock
        self.smoothers: dict[str, TemporalSmoother] = {}
        self.rates: dict[str, float | None] = {}
        self.noted_still = False

    def time(self, prediction: Prediction) -> float:
        """The time of a video frame or stream frame, in seconds (see the module)."""
        source = prediction.source
        if source.isdigit() or source.startswith(STREAM_PREFIXES):
            return self.clock()
        if source not in self.rates:
            self.rates[source] = frame_rate(source)
            if self.rates[source] is None:
                self.note(f"{source}: the video does not say its frame rate; smoothing assumes {ASSUMED_FPS:g} fps")
        fps = self.rates[source] or ASSUMED_FPS
        return float(prediction.frame or 0) / fps

    def step(self, prediction: Prediction, image: np.ndarray | None = None) -> Prediction:
        """The smoothed prediction (a still image's is returned as it is)."""
        if prediction.frame is None:
            if not self.noted_still:
                self.noted_still = True
                self.note(STILL_NOTE)
            return prediction
        smoother = self.smoothers.get(prediction.source)
        if smoother is None:
            smoother = self.smoothers[prediction.source] = TemporalSmoother(self.half_life, space=self.space)
        return smoother.step(prediction, self.time(prediction), image)


def smooth_each(
    clf: _Classifier, source: Any, smoother: SmoothedStream, *, features: bool = False
) -> Iterator[Prediction | InputFailure]:
    """:meth:`YoloProbs.predict_each <yolo_probs.api.model.YoloProbs.predict_each>`, each video frame smoothed.

    The frames are decoded here and kept until their prediction comes back (at most a batch ahead),
    so that the smoother sees their pictures for its scene-cut test.
    """
    frames: deque[Frame] = deque()

    def tap() -> Iterator[Frame | InputFailure]:
        for item in iter_frames(source, workers=decode_workers(clf.batch)):
            if isinstance(item, Frame):
                frames.append(item)
            yield item

    for item in clf.predict_each(tap(), features=features):
        if isinstance(item, InputFailure):
            if frames and (frames[0].source, frames[0].frame) == (item.source, item.frame):
                frames.popleft()  # decoded, but the model gave NaN for it
            yield item
            continue
        image = frames.popleft().image if frames else None
        yield smoother.step(item, image if isinstance(image, np.ndarray) else None)
