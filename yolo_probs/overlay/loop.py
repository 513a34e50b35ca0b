"""The overlay loop: capture frames, predict with :class:`~yolo_probs.api.model.YoloProbs`, draw, show, record.

Live sources (webcam index, rtsp/http streams) are read in a thread that keeps only the newest
frame, so a slow model drops frames instead of falling behind. Video files and image folders are
read frame by frame: nothing is dropped, corrupt frames are skipped and counted. In a window, video
files play at their own frame rate (``fast=True``: as fast as the model runs) and each still image
stays until a key is pressed (or ``still_seconds``). Small frames are drawn on an enlarged canvas
(:mod:`yolo_probs.overlay.canvas`), in the window and in the recording.

Example:
    >>> from yolo_probs.overlay.loop import Controls
    >>> c = Controls(temperature=1.0, top_k=3, num_classes=10)
    >>> c.handle(ord("+")), round(c.temperature, 2), c.handle(ord("]")), c.top_k
    ('temperature', 1.1, 'top_k', 4)
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from yolo_probs._util.opencv import quiet_opencv
from yolo_probs.calibration.temperature import T_MAX, T_MIN
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.sources import STREAM_PREFIXES, InputFailure, StreamInput, expand, iter_frames
from yolo_probs.outputs import files
from yolo_probs.overlay.canvas import to_canvas
from yolo_probs.overlay.draw import OverlayDrawer

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.core.prediction import Prediction

__all__ = ["Controls", "OverlayStats", "check_display", "check_output", "open_source", "run_overlay"]

WINDOW = "yolo-probs overlay"
T_STEP = 1.1
_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}
_FOLDER_FPS = 5.0  # recording rate for image folders, which have no frame rate of their own
_LIVE_FPS = 30.0  # when a camera or stream does not announce its rate
#: Keys that move on from a still image: space, n, Enter.
NEXT_KEYS = (ord(" "), ord("n"), 13, 10)


# -- readers --
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

    def __init__(self, cap: Any, fps: float) -> None:
        self.fps = fps
        self.corrupt = 0
        self.dropped = 0
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
                self._seq += 1
                self._cond.notify_all()

    def read(self, timeout: float = 10.0) -> np.ndarray | None:
        with self._cond:
            self._cond.wait_for(lambda: self._seq > self._taken or self._done, timeout)
            if self._seq > self._taken:
                self._taken = self._seq
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

    def __init__(self, cap: Any, fps: float, frame_count: int | None, depth: int = 4) -> None:
        self.fps = fps
        self.corrupt = 0
        self._cap = cap
        self._count = frame_count
        self._decoded = 0
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="yolo-probs-decode", daemon=True)
        self._thread.start()

    def _next(self) -> np.ndarray | None:
        failures = 0
        while True:
            ok, image = self._cap.read()
            if ok and image is not None and image.size:
                self._decoded += 1
                return image
            # A failed read before the announced end is a damaged frame: skip it and go on. Without
            # a frame count, a failure is taken as the end (streams and some containers).
            seen = self._decoded + self.corrupt
            if self._count is None or seen >= self._count or failures >= self.max_failures_in_a_row:
                return None
            self.corrupt += 1
            failures += 1

    def _run(self) -> None:
        image = self._next()
        while image is not None and not self._stop:
            self._queue.put(image)
            image = self._next()
        self._queue.put(None)

    def read(self) -> np.ndarray | None:
        if self._stop:
            return None
        image = self._queue.get()
        if image is None:
            self._stop = True
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
        self.failures: list[str] = []
        self._frames = iter_frames(source)

    def read(self) -> np.ndarray | None:
        for item in self._frames:
            if isinstance(item, InputFailure):
                self.corrupt += 1
                self.failures.append(str(item))
                continue
            self.still = item.frame is None  # a folder may hold videos too: their frames are not held
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
    fps = float(fps) if fps and 0 < fps < 1000 else (_LIVE_FPS if is_live else 25.0)
    if is_live:
        return LatestFrameReader(cap, fps)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return VideoFileReader(cap, fps, count if count > 0 else None)


# -- checks done before anything starts --
def check_display() -> None:
    """Raise :class:`ConfigError` when no window can be opened (checked before OpenCV tries and aborts)."""
    import cv2

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise ConfigError("cannot open a window: no display (DISPLAY is not set); run with --no-show --save out.mp4")
    try:
        # Open and close a probe window: the real one appears with the first frame, not while the model loads.
        cv2.namedWindow(WINDOW + " (probe)", cv2.WINDOW_AUTOSIZE)
        cv2.destroyWindow(WINDOW + " (probe)")
    except cv2.error as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else "OpenCV has no GUI support"
        raise ConfigError(f"cannot open a window ({first}); run with --no-show --save out.mp4") from None


def check_output(path: str | os.PathLike[str]) -> Path:
    """Check that a video can be written at ``path`` (suffix known, folder exists and is writable)."""
    out = Path(path)
    if out.suffix.lower() not in _FOURCC and not out.is_dir():
        raise ConfigError(f"--save {out}: unsupported video type {out.suffix or '(none)'!r}; use .mp4 or .avi")
    files.check_output(out, option="save", what="a video recording")
    return out


class BackgroundWriter:
    """A ``cv2.VideoWriter`` fed through a bounded queue, so encoding overlaps with the model.

    Every frame is written, in order; :meth:`release` waits for the queue to drain. :attr:`queued`
    counts the frames handed over; :func:`frames_in` counts what really reached the file.
    """

    def __init__(self, path: Path, fps: float, size: tuple[int, int], depth: int = 8) -> None:
        import cv2

        self.queued = 0
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*_FOURCC[path.suffix.lower()]), fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            raise ConfigError(
                f"--save {path}: OpenCV cannot encode {path.suffix} at {size[0]}x{size[1]} here; try .avi"
            )
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="yolo-probs-encode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            self._writer.write(frame)

    def write(self, frame: np.ndarray) -> None:
        """Queue ``frame`` (which must not be changed afterwards) for writing."""
        self._queue.put(frame)
        self.queued += 1

    def release(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._writer.release()


def frames_in(path: str | os.PathLike[str]) -> int:
    """How many frames a recorded video really holds (0 when it is missing, empty or unreadable)."""
    import cv2

    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return 0
    with quiet_opencv():
        cap = cv2.VideoCapture(os.fspath(path))
        try:
            if not cap.isOpened():
                return 0
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:  # some containers do not say: count by decoding
                count = 0
                while cap.grab():
                    count += 1
            return count
        finally:
            cap.release()


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Letterbox ``image`` into ``size`` (w, h) keeping its aspect: image folders mix sizes, a video cannot."""
    import cv2

    w, h = size
    ih, iw = image.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out


# -- live controls --
@dataclass
class Controls:
    """Keyboard state of the overlay window: temperature, k, pause.

    ``reset_temperature`` is what ``r`` goes back to (the temperature the overlay started with).
    """

    temperature: float
    top_k: int
    num_classes: int
    paused: bool = False
    reset_temperature: float | None = None

    def __post_init__(self) -> None:
        if self.reset_temperature is None:
            self.reset_temperature = self.temperature

    def handle(self, key: int) -> str | None:
        """Apply one key code from ``cv2.waitKey``; return what changed (or ``"quit"``, ``"snapshot"``)."""
        if key < 0:
            return None
        ch = chr(key & 0xFF)
        if ch in "+=":  # '=' is '+' without shift on most keyboards
            self.temperature = min(self.temperature * T_STEP, max(T_MAX, self.temperature))
            return "temperature"
        if ch in "-_":  # both clamped to the range calibration searches: T never reaches 0 or infinity
            self.temperature = max(self.temperature / T_STEP, min(T_MIN, self.temperature))
            return "temperature"
        if ch == "r":
            assert self.reset_temperature is not None
            self.temperature = self.reset_temperature
            return "temperature"
        if ch in "[]":
            self.top_k = min(max(1, self.top_k + (1 if ch == "]" else -1)), self.num_classes)
            return "top_k"
        if ch == " ":
            self.paused = not self.paused
            return "pause"
        if ch == "s":
            return "snapshot"
        if ch == "q" or key & 0xFF == 27:
            return "quit"
        return None


@dataclass
class OverlayStats:
    """What a run of the overlay did.

    Attributes:
        frames: frames predicted and drawn.
        dropped: live frames replaced by a newer one before the model got to them.
        corrupt: frames or images that could not be decoded and were skipped.
        failures: one line per skipped image (folders only).
        snapshots: PNG files written with the ``s`` key.
        fps: mean frames per second over the run.
        temperature: the temperature at the end (after any key presses).
        top_k: the number of bars at the end.
        saved: the recording, when one was asked for and holds at least one frame (else None).
        saved_frames: frames that really are in the recording (counted by reading it back).
        save_error: why the recording is missing or short, in one line (None when it is complete).
    """

    frames: int = 0
    dropped: int = 0
    corrupt: int = 0
    failures: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    fps: float = 0.0
    temperature: float = 1.0
    top_k: int = 5
    saved: str | None = None
    saved_frames: int = 0
    save_error: str | None = None


def run_overlay(
    clf: YoloProbs,
    source: str | Reader,
    *,
    drawer: OverlayDrawer | None = None,
    show: bool = True,
    save: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    snapshot_dir: str | os.PathLike[str] = ".",
    window: str = WINDOW,
    fast: bool = False,
    still_seconds: float = 0.0,
) -> OverlayStats:
    """Capture, predict, draw, show and record until the source ends, ``max_frames`` or ``q``.

    Args:
        clf: the classifier; its ``temperature`` and ``top_k`` follow the keys (``r`` resets the
            temperature to the one it had when the loop started).
        source: a name for :func:`open_source`, or an opened reader.
        drawer: how to draw (default :class:`OverlayDrawer` with no ``min_prob``).
        show: display a window and read keys; False runs headless.
        save: record the drawn frames to this video (source size and frame rate).
        max_frames: stop after this many frames.
        snapshot_dir: where ``s`` writes PNG snapshots.
        window: the window title.
        fast: in a window, show video files as fast as the model runs instead of at their own rate.
        still_seconds: in a window, how long each still image stays; 0 waits for a key (space, n,
            Enter move on; ``q`` quits).

    Returns the run's :class:`OverlayStats`; a recording that could not be made, or holds fewer frames
    than were drawn, is reported in ``save_error`` (the loop does not raise for it). Raises
    :class:`SourceError` or :class:`ConfigError` (one line each) before anything starts when the
    source, the display or the output is unusable.
    """
    import cv2

    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise ConfigError(f"max-frames must be a whole number >= 1, got {max_frames!r}")
    if not (still_seconds >= 0.0 and np.isfinite(still_seconds)):
        raise ConfigError(f"still delay must be a number of seconds >= 0 (0: until a key), got {still_seconds!r}")
    out = check_output(save) if save is not None else None
    if show:
        check_display()
    reader = open_source(source) if isinstance(source, str) else source
    drawer = drawer or OverlayDrawer()
    controls = Controls(clf.temperature, clf.top_k, len(clf.names))
    stats = OverlayStats(temperature=clf.temperature)
    writer: BackgroundWriter | None = None
    size: tuple[int, int] | None = None
    smooth: float | None = None
    start = last = time.perf_counter()
    raw: np.ndarray | None = None
    pred: Prediction | None = None
    shown: np.ndarray | None = None
    holding = False  # a still image waits in the window for a key (or still_seconds)
    hold_until = due = 0.0
    try:
        while max_frames is None or stats.frames < max_frames:
            if (not controls.paused and not holding) or pred is None:
                image = reader.read()
                if image is None:
                    break
                pred = clf.predict(image)[0]
                # Small frames are drawn on an enlarged copy; the model got the original.
                canvas = to_canvas(image)
                # Drawing is in place; keep the clean frame only when a window may need a redraw.
                raw = canvas.copy() if show else None
                shown = drawer.draw(canvas, pred, fps=smooth, paused=False, help=show)
                stats.frames += 1
                now = time.perf_counter()
                dt, last = now - last, now
                if dt > 0:  # exponential smoothing so the figure is readable while it changes
                    smooth = 1.0 / dt if smooth is None else 0.9 * smooth + 0.1 / dt
                if out is not None and stats.save_error is None:
                    if writer is None:
                        size = (shown.shape[1], shown.shape[0])
                        try:
                            writer = BackgroundWriter(out, reader.fps, size)
                        except ConfigError as exc:
                            stats.save_error = str(exc)
                            if not show:  # recording was the point of a headless run
                                break
                    if writer is not None:
                        assert size is not None
                        writer.write(shown if (shown.shape[1], shown.shape[0]) == size else _fit(shown, size))
                holding = show and reader.still
                hold_until = time.monotonic() + still_seconds if still_seconds > 0 else float("inf")
            if not show:
                continue
            assert shown is not None  # a frame was drawn before the window shows anything
            cv2.imshow(window, shown)
            if controls.paused or holding:
                wait = 30
            elif reader.paced and not fast:  # a video file plays at its own rate
                now = time.monotonic()
                due = max(due + 1.0 / reader.fps, now) if due else now
                wait = max(1, round((due - now) * 1000))
            else:
                wait = 1
            key = cv2.waitKey(wait)
            if holding and (key & 0xFF in NEXT_KEYS or time.monotonic() >= hold_until):
                holding = False
                continue
            if holding and _window_closed(window):
                break
            action = controls.handle(key)
            if action == "quit":
                break
            if action in ("temperature", "top_k"):
                clf.temperature, clf.top_k = controls.temperature, controls.top_k
            if (
                action == "snapshot"
                and shown is not None
                and (snap := _snapshot(shown, snapshot_dir, stats.frames, len(stats.snapshots)))
            ):
                stats.snapshots.append(snap)
            if action in ("temperature", "top_k", "pause") and raw is not None and pred is not None:
                # Re-draw the current frame at the new settings without a new forward pass.
                pred = pred.with_temperature(controls.temperature, top_k=controls.top_k)
                shown = drawer.draw(raw.copy(), pred, fps=smooth, paused=controls.paused, help=True)
                last = time.perf_counter()
    finally:
        reader.close()
        if writer is not None:
            writer.release()
        if out is not None:
            _check_recording(out, writer.queued if writer is not None else 0, stats)
        if show:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(window)
                cv2.waitKey(1)
    elapsed = time.perf_counter() - start
    stats.fps = stats.frames / elapsed if elapsed > 0 else 0.0
    stats.dropped, stats.corrupt = reader.dropped, reader.corrupt
    stats.failures = list(getattr(reader, "failures", []))
    stats.temperature, stats.top_k = clf.temperature, clf.top_k
    return stats


def _window_closed(window: str) -> bool:
    """Whether the user closed the window (its close button), so a held still image does not wait forever."""
    import cv2

    try:
        return bool(cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1)
    except cv2.error:
        return True


def _check_recording(out: Path, drawn: int, stats: OverlayStats) -> None:
    """Read the recording back: report what it really holds, and remove an empty file."""
    written = frames_in(out) if drawn else 0
    stats.saved_frames = written
    stats.saved = str(out) if written else None
    if stats.save_error is not None:
        pass
    elif drawn == 0:
        stats.save_error = f"--save {out}: nothing was recorded: the source gave no frame"
    elif written == 0:
        stats.save_error = f"--save {out}: OpenCV's encoder wrote no frame of {drawn}; try .avi"
    elif written < drawn:
        stats.save_error = f"--save {out}: only {written} of {drawn} frames were recorded; try .avi"
    if not written and out.is_file():
        with contextlib.suppress(OSError):
            out.unlink()  # an empty or unreadable file would pass for a recording


def _snapshot(image: np.ndarray, folder: str | os.PathLike[str], frame: int, number: int) -> str | None:
    """Write a PNG of the drawn frame; a failure is reported on one line and the overlay goes on."""
    import cv2

    path = Path(folder) / f"yolo-probs-{time.strftime('%Y%m%d-%H%M%S')}-frame{frame:06d}-{number}.png"
    try:
        ok = cv2.imwrite(str(path), image)
    except cv2.error:
        ok = False
    if not ok:
        print(f"yolo-probs: error: cannot write snapshot {path}; check that the folder is writable", file=sys.stderr)
        return None
    print(f"snapshot: {path}", flush=True)
    return str(path)
