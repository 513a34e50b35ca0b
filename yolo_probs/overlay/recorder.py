"""What the overlay writes: the recording (``--save``) and the snapshots (``s``), through the one file writer.

A recording is encoded in a thread (:class:`BackgroundWriter`) into the temporary file that
:func:`~yolo_probs.outputs.files.output_path` gives: beside a regular file or a new path, in a private
folder for a FIFO or a character device. It is read back there (:func:`frames_in`, since a device
cannot be read afterwards), then published by the writer's rules: renamed over a regular file or a
symlink's target, streamed into a FIFO or a device; an empty recording is discarded and the output
left as it was. Folders, sockets and block devices are refused before anything starts
(:func:`check_output`). Snapshots are PNG files written whole (:func:`save_snapshot`).

Example:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> out = check_output(pathlib.Path(tempfile.mkdtemp()) / "clip.avi")
    >>> recording = Recorder(out, fps=5.0)
    >>> all(recording.write(np.zeros((48, 64, 3), np.uint8)) for _ in range(3))
    True
    >>> recording.stop(); frames_in(recording.temp), out.exists()  # encoded, not yet published
    (3, False)
    >>> recording.publish(); frames_in(out)
    3
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from yolo_probs._util import console
from yolo_probs._util.opencv import quiet_opencv
from yolo_probs.errors import ConfigError, YoloProbsError, first_line
from yolo_probs.outputs import files
from yolo_probs.overlay.canvas import letterbox

__all__ = ["BackgroundWriter", "Recorder", "check_output", "frames_in", "save_snapshot"]

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".mkv": "mp4v", ".avi": "MJPG"}


def check_output(path: str | os.PathLike[str], *, inputs: Iterable[str | os.PathLike[str] | None] = ()) -> Path:
    """Check that a video can be written at ``path``, creating nothing; raise one :class:`ConfigError` line if not.

    The suffix must be a known video type; the path must not be a folder, a socket, a block device or
    one of ``inputs``; a new file's folder must accept it (see :func:`yolo_probs.outputs.files.check_output`).

    Example:
        >>> check_output("clip.gif")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: --save clip.gif: unsupported video type '.gif'; use .mp4 or .avi
    """
    out = Path(path)
    if out.suffix.lower() not in _FOURCC and not out.is_dir():  # a folder gets the writer's own message
        raise ConfigError(f"--save {out}: unsupported video type {out.suffix or '(none)'!r}; use .mp4 or .avi")
    files.check_output(out, option="save", inputs=inputs, what="a video recording", example="out.mp4")
    return out


class BackgroundWriter:
    """A ``cv2.VideoWriter`` fed through a bounded queue, so encoding overlaps with the model.

    Every frame is written, in order; :meth:`release` waits for the queue to drain. :attr:`queued`
    counts the frames handed over; :func:`frames_in` counts what really reached the file. ``name`` is
    the output as the user named it, for the message when OpenCV cannot encode (default ``path``).
    """

    def __init__(
        self, path: Path, fps: float, size: tuple[int, int], depth: int = 8, *, name: str | None = None
    ) -> None:
        import cv2

        self.queued = 0
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*_FOURCC[path.suffix.lower()]), fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            raise ConfigError(
                f"--save {name or path}: OpenCV cannot encode {path.suffix} at {size[0]}x{size[1]} here; try .avi"
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
        """Write what is queued and close the file."""
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


class Recorder:
    """The recording of one overlay run: opened with the first frame, then published or discarded.

    Frames are written in the first frame's size (later ones are letterboxed into it: an image folder
    mixes sizes). Call :meth:`stop`, read :attr:`temp` back, then :meth:`publish` or :meth:`discard`.

    Args:
        path: the output, as checked by :func:`check_output`.
        fps: the frame rate the video announces.

    Attributes:
        error: why the recording could not be started, in one line (None while it is fine).
        temp: the file being encoded, until it is published (None before the first frame).
    """

    def __init__(self, path: Path, fps: float) -> None:
        self.path = path
        self.fps = fps
        self.error: str | None = None
        self.temp: Path | None = None
        self._writer: BackgroundWriter | None = None
        self._size: tuple[int, int] | None = None
        self._output: contextlib.ExitStack | None = None
        self._stopped = False

    @property
    def queued(self) -> int:
        """Frames handed to the encoder."""
        return self._writer.queued if self._writer is not None else 0

    def write(self, frame: np.ndarray) -> bool:
        """Record ``frame`` (not changed afterwards); False when the recording cannot be made (see :attr:`error`)."""
        if self.error is not None:
            return False
        if self._writer is None:
            try:
                self._open((frame.shape[1], frame.shape[0]))
            except ConfigError as exc:
                self.error = str(exc)
                return False
        assert self._writer is not None and self._size is not None
        self._writer.write(frame if (frame.shape[1], frame.shape[0]) == self._size else letterbox(frame, self._size))
        return True

    def _open(self, size: tuple[int, int]) -> None:
        with contextlib.ExitStack() as stack:
            # The encoder picks its container by the suffix, so the temporary file keeps the output's.
            temp = stack.enter_context(
                files.output_path(self.path, suffix=self.path.suffix.lower(), option="save", what="a video recording")
            )
            self._writer = BackgroundWriter(temp, self.fps, size, name=str(self.path))
            self._output = stack.pop_all()  # kept open until publish() or discard()
        self.temp, self._size = temp, size

    def stop(self) -> None:
        """Write every queued frame and close the temporary file, so that it can be read back."""
        if self._writer is not None and not self._stopped:
            self._stopped = True
            self._writer.release()

    def publish(self) -> None:
        """Make the recording the output by the file writer's rules.

        Raises:
            OutputError: the file could not be renamed into place or streamed (disk full...).
            ConfigError: a FIFO or device cannot be opened for writing.
        """
        self.stop()
        output, self._output, self.temp = self._output, None, None
        if output is not None:
            output.close()

    def discard(self) -> None:
        """Remove the temporary file; the output is left as it was."""
        self.stop()
        output, self._output, self.temp = self._output, None, None
        if output is not None:
            output.__exit__(files.Discard, files.Discard(), None)


def save_snapshot(image: np.ndarray, folder: str | os.PathLike[str], frame: int, number: int) -> str | None:
    """Write a PNG of the drawn frame into ``folder``; a failure is reported on one line and the overlay goes on.

    The line says why, as the file writer found it (no such folder, no space left on device...).
    Returns the file written, or None.

    Example:
        >>> import tempfile
        >>> path = save_snapshot(np.zeros((8, 8, 3), np.uint8), tempfile.mkdtemp(), frame=7, number=0)
        >>> path.endswith("-frame000007-0.png")
        True
    """
    import cv2

    path = Path(folder) / f"yolo-probs-{time.strftime('%Y%m%d-%H%M%S')}-frame{frame:06d}-{number}.png"
    reason, hint = "OpenCV cannot encode it as PNG", ""
    try:
        ok, png = cv2.imencode(".png", image)
        if ok:
            files.write_bytes(path, png.tobytes(), option="snapshot")
    except cv2.error as exc:
        ok, reason = False, f"OpenCV cannot encode it as PNG: {first_line(exc)}"
    except YoloProbsError as exc:  # the writer's reason: no such folder, no space left on device...
        ok, reason = False, exc.reason or str(exc)
        hint = "free some space" if reason == os.strerror(errno.ENOSPC) else "check that the folder is writable"
    if not ok:
        console.error(f"cannot write snapshot {path} ({reason})" + (f"; {hint}" if hint else ""))
        return None
    console.wrote(path, detail="snapshot")
    return str(path)
