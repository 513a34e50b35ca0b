"""The overlay loop: capture frames, predict with :class:`~yolo_probs.api.model.YoloProbs`, draw, show, record.

Each turn of :func:`run_overlay` reads a frame (:mod:`yolo_probs.overlay.readers`: live sources keep
only the newest frame, video files and image folders give every one), predicts, draws it on a canvas
big enough for text (:mod:`yolo_probs.overlay.canvas`) and records it (:mod:`yolo_probs.overlay.recorder`);
in a window it then shows the frame and applies a key (:mod:`yolo_probs.overlay.controls`). Video files
play at their own frame rate (``fast=True``: as fast as the model runs) and each still image stays
until a key is pressed (or ``still_seconds``).

Example:
    >>> from yolo_probs import YoloProbs
    >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt", top_k=3) as clf:
    ...     stats = run_overlay(clf, "examples/images", show=False, max_frames=2)
    >>> stats.frames, stats.corrupt, stats.top_k, stats.saved
    (2, 0, 3, None)
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from yolo_probs._util.console import note
from yolo_probs._util.deprecation import moved_names
from yolo_probs.api.monitor import monitor_of
from yolo_probs.core.boxes import TASKS, Detections
from yolo_probs.decisions.smoothing import TemporalSmoother, check_half_life
from yolo_probs.errors import ConfigError, YoloProbsError
from yolo_probs.overlay import controls, readers, recorder
from yolo_probs.overlay.boxes import BoxDrawer
from yolo_probs.overlay.canvas import to_canvas
from yolo_probs.overlay.draw import OverlayDrawer

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.core.prediction import Prediction

__all__ = ["OverlayStats", "check_display", "run_overlay"]

WINDOW = "yolo-probs overlay"

# Names that lived here before the loop was split by job (0.2); run_overlay's own names stay. The loop
# reads the moved ones through their modules, so that the old path warns.
__getattr__ = moved_names(
    __name__,
    {
        **dict.fromkeys(
            ["Reader", "LatestFrameReader", "VideoFileReader", "FolderReader", "open_source"],
            "yolo_probs.overlay.readers",
        ),
        **dict.fromkeys(["BackgroundWriter", "check_output", "frames_in"], "yolo_probs.overlay.recorder"),
        **dict.fromkeys(["Controls", "NEXT_KEYS", "T_STEP"], "yolo_probs.overlay.controls"),
    },
)


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


@dataclass
class OverlayStats:
    """What a run of the overlay did.

    Attributes:
        frames: frames predicted and drawn (still images included).
        stills: how many of them were still images (shown until a key, so no frame rate applies).
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
        interrupted: whether Ctrl-C stopped the run (it ends like ``q``: the recording is kept).
    """

    frames: int = 0
    stills: int = 0
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
    interrupted: bool = False


@dataclass
class _Run:
    """One run of the loop: what it was given, and the state carried from one frame to the next."""

    clf: YoloProbs
    reader: readers.Reader
    drawer: OverlayDrawer
    #: How a detection model's boxes are drawn.
    box_drawer: BoxDrawer
    #: The keyboard state: temperature, k, pause.
    keys: controls.Controls
    stats: OverlayStats
    recording: recorder.Recorder | None
    show: bool
    window: str
    fast: bool
    still_seconds: float
    snapshot_dir: str | os.PathLike[str]
    #: Smoothing over time (``smooth=``), None without.
    smoother: TemporalSmoother | None = None
    #: In a window: the thread the model runs in, and the keys taken meanwhile (applied after the frame).
    worker: ThreadPoolExecutor | None = None
    pending: list[int] = field(default_factory=list)
    #: perf_counter() at the start, and when the last frame was drawn (for the frame rate).
    start: float = field(default_factory=time.perf_counter)
    last: float = 0.0
    #: The smoothed frame rate drawn on the frame.
    smooth: float | None = None
    #: The current frame: its clean canvas (kept in a window, for redraws), prediction and drawing.
    raw: np.ndarray | None = None
    pred: Prediction | Detections | None = None
    shown: np.ndarray | None = None
    #: A still image waits in the window for a key until hold_until (monotonic time).
    holding: bool = False
    hold_until: float = 0.0
    #: When the next frame of a video file is due in the window (monotonic time; 0 before the first).
    due: float = 0.0

    def __post_init__(self) -> None:
        self.last = self.start

    @property
    def needs_frame(self) -> bool:
        """Whether to read the next frame: not while paused or holding a still image, unless none was drawn yet."""
        return (not self.keys.paused and not self.holding) or self.pred is None


def run_overlay(
    clf: YoloProbs,
    source: str | readers.Reader,
    *,
    drawer: OverlayDrawer | None = None,
    show: bool = True,
    save: str | os.PathLike[str] | None = None,
    max_frames: int | None = None,
    snapshot_dir: str | os.PathLike[str] = ".",
    window: str = WINDOW,
    fast: bool = False,
    still_seconds: float = 0.0,
    smooth: float | None = None,
    box_drawer: BoxDrawer | None = None,
) -> OverlayStats:
    """Capture, predict, draw, show and record until the source ends, ``max_frames``, ``q`` or Ctrl-C.

    Args:
        clf: the classifier; its ``temperature`` and ``top_k`` follow the keys (``r`` resets the
            temperature to the one it had when the loop started).
        source: a name for :func:`~yolo_probs.overlay.readers.open_source`, or an opened reader.
        drawer: how to draw (default :class:`OverlayDrawer` with no ``min_prob``).
        show: display a window and read keys; False runs headless.
        save: record the drawn frames to this video (source size and frame rate), written by the
            rules of :mod:`yolo_probs.outputs.files` (a FIFO or device is written into, a symlink's
            target is replaced, a folder is refused).
        max_frames: stop after this many frames.
        snapshot_dir: where ``s`` writes PNG snapshots.
        window: the window title.
        fast: in a window, show video files as fast as the model runs instead of at their own rate.
        still_seconds: in a window, how long each still image stays; 0 waits for a key (space, n,
            Enter move on; ``q`` quits).
        smooth: a half-life in seconds: smooth the probabilities of video and live frames over time
            (:class:`~yolo_probs.decisions.smoothing.TemporalSmoother`, by the reader's frame times;
            the UNCERTAIN state gets its hysteresis; a temperature key starts the average afresh).
            Still images are not smoothed (a note says so once). Not for detection models.
        box_drawer: how a detection model's boxes are drawn (default :class:`~yolo_probs.overlay.boxes.BoxDrawer`
            with ``drawer``'s ``min_prob``): each box with its label and top-k bars, per frame.

    Ctrl-C (KeyboardInterrupt) while the loop runs stops it as ``q`` does: the recording is finished
    and published and the statistics are returned (``interrupted`` is True).

    Returns the run's :class:`OverlayStats`; a recording that could not be made, or holds fewer frames
    than were drawn, is reported in ``save_error`` (the loop does not raise for it). Raises
    :class:`SourceError` or :class:`ConfigError` (one line each) before anything starts when the
    source, the display or the output is unusable.
    """
    if max_frames is not None and (isinstance(max_frames, bool) or max_frames < 1):
        raise ConfigError(f"max-frames must be a whole number >= 1, got {max_frames!r}")
    if not (still_seconds >= 0.0 and np.isfinite(still_seconds)):
        raise ConfigError(f"still delay must be a number of seconds >= 0 (0: until a key), got {still_seconds!r}")
    half_life = check_half_life(smooth) if smooth is not None else None
    if half_life is not None and getattr(clf, "task", "classify") in TASKS:
        raise ConfigError(
            f"smooth averages one class distribution per frame; {clf.task!r} models give boxes: leave it out",
            option="smooth",
        )
    out = recorder.check_output(save, inputs=[source] if isinstance(source, str) else []) if save is not None else None
    if show:
        check_display()
    reader = readers.open_source(source) if isinstance(source, str) else source
    drawer = drawer or OverlayDrawer()
    box_drawer = box_drawer or BoxDrawer(min_prob=drawer.min_prob)
    run = _Run(
        clf=clf,
        reader=reader,
        drawer=drawer,
        box_drawer=box_drawer,
        keys=controls.Controls(clf.temperature, clf.top_k, len(clf.names)),
        stats=OverlayStats(temperature=clf.temperature),
        recording=recorder.Recorder(out, reader.fps) if out is not None else None,
        show=show,
        window=window,
        fast=fast,
        still_seconds=still_seconds,
        snapshot_dir=snapshot_dir,
        smoother=TemporalSmoother(half_life, min_prob=drawer.min_prob) if half_life is not None else None,
        worker=ThreadPoolExecutor(1, thread_name_prefix="yolo-probs-overlay") if show else None,
    )
    try:
        while max_frames is None or run.stats.frames < max_frames:
            if run.needs_frame and not _next_frame(run):
                break
            if show and not all(_handle_key(run, key) for key in _show(run)):
                break
    except KeyboardInterrupt:  # Ctrl-C is the terminal's 'q', above all for a headless recording
        run.stats.interrupted = True
    finally:
        _close(run)
    return _summary(run)


def _next_frame(run: _Run) -> bool:
    """Read, predict, draw and record the next frame; False when the loop should stop."""
    image = run.reader.read()
    if image is None:
        return False
    run.pred = _smoothed(run, _predict(run, image), image)
    # Small frames are drawn on an enlarged copy; the model got the original.
    canvas = to_canvas(image)
    # Drawing is in place; keep the clean frame only when a window may need a redraw.
    run.raw = canvas.copy() if run.show else None
    run.shown = _draw(run, canvas, paused=False)
    run.stats.frames += 1
    run.stats.stills += bool(run.reader.still)
    now = time.perf_counter()
    dt, run.last = now - run.last, now
    if dt > 0:  # exponential smoothing so the figure is readable while it changes
        run.smooth = 1.0 / dt if run.smooth is None else 0.9 * run.smooth + 0.1 / dt
    if run.recording is not None and not run.recording.write(run.shown) and not run.show:
        return False  # recording was the point of a headless run
    run.holding = run.show and run.reader.still
    run.hold_until = time.monotonic() + run.still_seconds if run.still_seconds > 0 else float("inf")
    return True


def _smoothed(run: _Run, pred: Prediction | Detections, image: np.ndarray) -> Prediction | Detections:
    """The prediction smoothed over time by the reader's frame time (a still image's as it is)."""
    if run.smoother is None or isinstance(pred, Detections):
        return pred
    t = getattr(run.reader, "time", None)
    if t is None or run.reader.still:
        if not run.stats.stills:
            note("smoothing does nothing on still images (only the frames of videos and streams are smoothed)")
        return pred
    return run.smoother.step(pred, t, image)


def _draw(run: _Run, canvas: np.ndarray, *, paused: bool) -> np.ndarray:
    """Draw the current prediction on ``canvas``, with the status line (the profile's drift state on it) and
    the smoother's UNCERTAIN state."""
    assert run.pred is not None
    if isinstance(run.pred, Detections):  # boxes are scaled from the frame to the (enlarged) canvas
        status = getattr(run.reader, "label", None)
        return run.box_drawer.draw(canvas, run.pred, fps=run.smooth, paused=paused, help=run.show, status=status)
    uncertain = run.smoother.uncertain if run.smoother is not None and run.pred.raw is not None else None
    status = getattr(run.reader, "label", None)
    if status and run.smoother is not None and run.pred.raw is not None:
        status += f"  smoothed {run.smoother.half_life:g} s"
    monitor = monitor_of(run.clf)
    if monitor is not None and monitor.images:
        status = f"{status}  {monitor.status()}" if status else monitor.status()
    return run.drawer.draw(
        canvas, run.pred, fps=run.smooth, paused=paused, help=run.show, status=status, uncertain=uncertain
    )


def _show(run: _Run) -> list[int]:
    """Show the drawn frame, wait for a key (long enough to keep a video file at its own rate), take every key.

    Keys typed faster than frames come (three ``+`` 12 ms apart) are all returned in order: none is lost.
    """
    import cv2

    assert run.shown is not None  # a frame was drawn before the window shows anything
    cv2.imshow(run.window, run.shown)
    if run.keys.paused or run.holding:
        wait = 30
    elif run.reader.paced and not run.fast:  # a video file plays at its own rate
        now = time.monotonic()
        run.due = max(run.due + 1.0 / run.reader.fps, now) if run.due else now
        wait = max(1, round((run.due - now) * 1000))
    else:
        wait = 1
    keys, run.pending = run.pending, []
    _take_keys(keys, until=time.monotonic() + wait / 1000)
    return keys or [-1]


def _take_keys(keys: list[int], until: float) -> None:
    """Add the window's keys to ``keys`` until ``until`` (monotonic), and any still pending after it.

    OpenCV keeps only the last key of each batch of window events it handles, so keys are taken in
    1 ms turns: each turn handles the events that came since the one before, one key at most when
    they come 12 ms apart.
    """
    import cv2

    while True:
        key = int(cv2.waitKey(1))
        if key != -1:
            keys.append(key)
        elif time.monotonic() >= until:
            return


def _predict(run: _Run, image: np.ndarray) -> Prediction | Detections:
    """The frame's prediction; in a window the model runs in a thread while the keys are taken, so none is lost."""
    if run.worker is None or run.shown is None:  # headless, or no window yet
        return run.clf.predict(image)[0]
    future = run.worker.submit(run.clf.predict, image)
    while not future.done():
        _take_keys(run.pending, until=0.0)
    return future.result()[0]


def _handle_key(run: _Run, key: int) -> bool:
    """Apply a key from the window (-1: none); False when the loop should stop."""
    if run.holding and (key & 0xFF in controls.NEXT_KEYS or time.monotonic() >= run.hold_until):
        run.holding = False
        return True
    if run.holding and _window_closed(run.window):
        return False
    action = run.keys.handle(key)
    if action == "quit":
        return False
    if action in ("temperature", "top_k"):
        if run.smoother is not None and run.keys.temperature != run.clf.temperature:
            run.smoother.reset()  # probabilities at two temperatures are not averaged together
        run.clf.temperature, run.clf.top_k = run.keys.temperature, run.keys.top_k
    if (
        action == "snapshot"
        and run.shown is not None
        and (snap := recorder.save_snapshot(run.shown, run.snapshot_dir, run.stats.frames, len(run.stats.snapshots)))
    ):
        run.stats.snapshots.append(snap)
    if action in ("temperature", "top_k", "pause") and run.raw is not None and run.pred is not None:
        # Re-draw the current frame at the new settings without a new forward pass.
        run.pred = _retemper(run.pred, run.keys.temperature, run.keys.top_k)
        run.shown = _draw(run, run.raw.copy(), paused=run.keys.paused)
        run.last = time.perf_counter()
    return True


def _retemper(pred: Prediction | Detections, temperature: float, top_k: int) -> Prediction | Detections:
    """The same frame's prediction (or boxes) at another temperature and k, without a new forward pass."""
    if isinstance(pred, Detections):
        return replace(pred, top_k=top_k).with_temperature(temperature)
    return pred.with_temperature(temperature, top_k=top_k)


def _window_closed(window: str) -> bool:
    """Whether the user closed the window (its close button), so a held still image does not wait forever."""
    import cv2

    try:
        return bool(cv2.getWindowProperty(window, cv2.WND_PROP_VISIBLE) < 1)
    except cv2.error:
        return True


def _close(run: _Run) -> None:
    """Release the source, finish the recording and close the window (also after an error or Ctrl-C)."""
    import cv2

    if run.worker is not None:
        run.worker.shutdown(wait=True, cancel_futures=True)
    run.reader.close()
    if run.recording is not None:
        _check_recording(run.recording, run.stats)
    if run.show:
        with contextlib.suppress(cv2.error):
            cv2.destroyWindow(run.window)
            cv2.waitKey(1)


def _check_recording(recording: recorder.Recorder, stats: OverlayStats) -> None:
    """Read the recording back before it is published: report what it really holds; publish it if it holds a frame.

    It is read in its temporary file, since a FIFO or a device cannot be read back; an empty or
    unreadable recording is discarded (it would pass for one), and the output is left as it was.
    """
    out, drawn = recording.path, recording.queued
    recording.stop()
    written = recorder.frames_in(recording.temp) if drawn and recording.temp is not None else 0
    stats.saved_frames = written
    stats.save_error = recording.error
    if stats.save_error is not None:
        pass
    elif drawn == 0:
        stats.save_error = f"--save {out}: nothing was recorded: the source gave no frame"
    elif written == 0:
        stats.save_error = f"--save {out}: OpenCV's encoder wrote no frame of {drawn}; try .avi"
    elif written < drawn:
        stats.save_error = f"--save {out}: only {written} of {drawn} frames were recorded; try .avi"
    if not written:
        recording.discard()
        return
    try:
        recording.publish()
    except YoloProbsError as exc:  # disk full, a FIFO nobody reads...: reported, like the other recording errors
        stats.saved_frames, stats.save_error = 0, f"--save: {exc}"
        return
    stats.saved = str(out)


def _summary(run: _Run) -> OverlayStats:
    """The run's statistics, completed from the reader and the classifier."""
    stats, reader = run.stats, run.reader
    elapsed = time.perf_counter() - run.start
    stats.fps = stats.frames / elapsed if elapsed > 0 else 0.0
    stats.dropped, stats.corrupt = reader.dropped, reader.corrupt
    stats.failures = list(getattr(reader, "failures", []))
    stats.temperature, stats.top_k = run.clf.temperature, run.clf.top_k
    return stats
