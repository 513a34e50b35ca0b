"""Where the overlay's frames come from: a webcam, a stream, a video file, an image or a folder.

Live sources (webcam index, rtsp/http streams) are read in a thread that keeps only the newest
frame, so a slow model drops frames instead of falling behind (:class:`LatestFrameReader`). Video
files are decoded a few frames ahead and every frame is used; corrupt frames are skipped and counted
(:class:`VideoFileReader`). Images and folders are read one image at a time (:class:`FolderReader`).
:func:`open_source` picks the reader for what the user named.

Example:
    >>> reader = open_source("examples/images/digit_3.png")
    >>> image = reader.read()
    >>> type(reader).__name__, image.ndim, reader.still, reader.read()
    ('FolderReader', 3, True, None)
    >>> reader.close()
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import threading
import time
from typing import Any, Protocol

import numpy as np

from yolo_probs._util.opencv import quiet_opencv
from yolo_probs.errors import SourceError
from yolo_probs.inputs.sources import STREAM_PREFIXES, ImageInput, InputFailure, StreamInput, expand, iter_frames

__all__ = ["FolderReader", "LatestFrameReader", "Reader", "VideoFileReader", "open_source"]

_FOLDER_FPS = 5.0  # recording rate for image folders, which have no frame rate of their own
_LIVE_FPS = 30.0  # when a camera or stream does not announce its rate
_VIDEO_FPS = 25.0  # when a video file does not announce its rate


class Reader(Protocol):
    """What the loop needs from a source."""

    live: bool
    fps: float
    corrupt: int
    dropped: int
    #: Whether the frame just read is a still image (held in a window until a key), not a video frame.
    still: bool
    #: Whether a window should show the frames at :attr:`fps` (video files), not as fast as they come.
    paced: bool
    #: The time of the frame just read, in seconds: the video's timestamp, the capture's clock for a
    #: live source; None for a still image (what ``--smooth`` weighs frames by).
    time: float | None
    #: What is on screen, for the status line: ``clip.mp4  frame 12/300  0.40 s``, ``photo.jpg  2/6``.
    label: str

    def read(self) -> np.ndarray | None:
        """The next frame to show (BGR uint8), or None at the end."""
        ...

    def close(self) -> None:
        """Release the capture."""
        ...


class LatestFrameReader:
    """Reads a live capture in a thread and keeps only the newest frame.

    :meth:`read` returns a frame the caller has not seen yet, waiting for one if needed; frames that
    were replaced before anyone read them are counted in :attr:`dropped`.
    """

    live = True
    still = False
    paced = False

    def __init__(self, cap: Any, fps: float, name: str = "live") -> None:
        self.fps = fps
        self.corrupt = 0
        self.dropped = 0
        self.time: float | None = None
        self.label = name
        self._name = name
        self._stamp = 0.0
        self._cap = cap
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._taken = 0
        self._done = False
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="yolo-probs-capture", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            ok, image = self._cap.read()
            with self._cond:
                if not ok or image is None:
                    self._done = True
                    self._cond.notify_all()
                    return
                if self._seq > self._taken:
                    self.dropped += 1
                self._frame = image
                self._stamp = time.monotonic()  # when it was captured: dropped frames count as time passed
                self._seq += 1
                self._cond.notify_all()

    def read(self, timeout: float = 10.0) -> np.ndarray | None:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > self._taken or self._done, timeout)
            if self._seq > self._taken:
                self._taken = self._seq
                self.time = self._stamp
                self.label = f"{self._name}  frame {self._seq}"
                return self._frame
            return None

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # never release a capture that a stalled read still uses
            self._cap.release()


class VideoFileReader:
    """Reads every frame of a video file in order; frames that fail to decode are skipped and counted.

    A thread decodes a few frames ahead (a bounded queue: nothing is dropped, memory stays flat), so
    decoding overlaps with the model instead of adding to it.
    """

    live = False
    dropped = 0
    still = False
    paced = True
    max_failures_in_a_row = 16

    def __init__(self, cap: Any, fps: float, frame_count: int | None, depth: int = 4, name: str = "video") -> None:
        self.fps = fps
        self.corrupt = 0
        self.time: float | None = None
        self.label = name
        self._name = os.path.basename(name) or name
        self._cap = cap
        self._count = frame_count
        self._decoded = 0
        self._shown = 0
        self._queue: queue.Queue[tuple[np.ndarray, float] | None] = queue.Queue(maxsize=depth)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="yolo-probs-decode", daemon=True)
        self._thread.start()

    def _next(self) -> tuple[np.ndarray, float] | None:
        failures = 0
        while True:
            ok, image = self._cap.read()
            if ok and image is not None and image.size:
                self._decoded += 1
                return image, self._timestamp()
            # A failed read before the announced end is a damaged frame: skip it and go on. Without
            # a frame count, a failure is taken as the end (streams and some containers).
            seen = self._decoded + self.corrupt
            if self._count is None or seen >= self._count or failures >= self.max_failures_in_a_row:
                return None
            self.corrupt += 1
            failures += 1

    def _timestamp(self) -> float:
        """The frame's presentation time in seconds; frame index / fps where the container gives none."""
        import cv2

        ms = float(self._cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
        by_index = (self._decoded + self.corrupt - 1) / self.fps
        return ms / 1000.0 if ms > 0 and np.isfinite(ms) else by_index

    def _run(self) -> None:
        item = self._next()
        while item is not None and not self._stop:
            self._queue.put(item)
            item = self._next()
        self._queue.put(None)

    def read(self) -> np.ndarray | None:
        if self._stop:
            return None
        item = self._queue.get()
        if item is None:
            self._stop = True
            return None
        image, self.time = item
        self._shown += 1
        total = f"/{self._count}" if self._count else ""
        self.label = f"{self._name}  frame {self._shown}{total}  {self.time:.2f} s"
        return image

    def close(self) -> None:
        self._stop = True
        while self._thread.is_alive():  # unblock a decoder waiting on a full queue
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)
        self._cap.release()


class FolderReader:
    """Reads the images (and videos) of a folder or glob in order; unreadable ones are skipped and counted."""

    live = False
    dropped = 0
    paced = False

    def __init__(self, source: str, fps: float = _FOLDER_FPS) -> None:
        self.fps = fps
        self.corrupt = 0
        self.still = False
        self.time: float | None = None
        self.label = source
        self.failures: list[str] = []
        self._total = sum(1 for item in expand(source) if isinstance(item, ImageInput))
        self._images = 0
        self._frames = iter_frames(source)

    def read(self) -> np.ndarray | None:
        for item in self._frames:
            if isinstance(item, InputFailure):
                self.corrupt += 1
                self.failures.append(str(item))
                continue
            self.still = item.frame is None  # a folder may hold videos too: their frames are not held
            name = os.path.basename(item.source) or item.source
            if self.still:
                self._images += 1
                self.time, self.label = None, f"{name}  {self._images}/{self._total}"
            else:  # a video in a folder: its frame index at the frame rate videos are assumed to have
                frame = item.frame or 0
                self.time, self.label = frame / _VIDEO_FPS, f"{name}  frame {frame + 1}"
            return item.image
        return None

    def close(self) -> None:
        self._frames.close()  # type: ignore[attr-defined]


def open_source(source: str, *, live: bool | None = None) -> Reader:
    """Open SOURCE (webcam index, video file, stream URL, image, folder or glob) for the overlay.

    Args:
        source: what the user named.
        live: force the newest-frame-only reader on (True) or off (False); None decides from the
            source (webcam indices and stream URLs are live).

    Raises :class:`SourceError` with one line naming the source when it cannot be opened.
    """
    import cv2

    items = list(expand(source))
    if len(items) == 1 and isinstance(items[0], InputFailure):
        raise items[0].error()
    if len(items) != 1 or not isinstance(items[0], StreamInput):
        return FolderReader(source)
    target = items[0].target
    is_live = isinstance(target, int) or str(target).startswith(STREAM_PREFIXES) if live is None else live
    with quiet_opencv():
        cap = cv2.VideoCapture(target)
        if not cap.isOpened():
            cap.release()
            if isinstance(target, int):
                raise SourceError(
                    source, f"cannot open webcam {target}; check that it is connected and free, or try another index"
                )
            raise SourceError(source, "cannot open the video; check that it exists and that OpenCV can decode it")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and 0 < fps < 1000 else (_LIVE_FPS if is_live else _VIDEO_FPS)
    if is_live:
        # A stream's user:password@ is never drawn on the frames.
        name = f"webcam {target}" if isinstance(target, int) else re.sub(r"//[^/@]*@", "//", str(target))
        return LatestFrameReader(cap, fps, name=name)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return VideoFileReader(cap, fps, count if count > 0 else None, name=str(target))
