"""Annotated copies of predicted inputs, as ``yolo predict save=True`` users expect: ``predict --save DIR``.

Each image is written to ``DIR`` under its own file name with the overlay's drawing on it
(:meth:`OverlayDrawer.draw <yolo_probs.overlay.OverlayDrawer.draw>`, on the enlarged canvas of
:func:`~yolo_probs.overlay.canvas.to_canvas` for small images); each video becomes one annotated
video ``DIR/<name>.mp4`` (``.avi`` where OpenCV cannot encode MP4) at the video's own frame rate.
Two inputs with the same file name get ``name-2.png``, ``name-3.png``...; an input that lies in
``DIR`` itself is never overwritten (its copy is ``name-annotated.png``). Every file goes through the
one file writer (:mod:`yolo_probs.outputs.files`): an old copy is replaced atomically, a symlink's
target is written, a FIFO or device in ``DIR`` is written into, and nothing else is replaced.

Example:
    >>> import tempfile, numpy as np
    >>> from yolo_probs.core.prediction import Prediction
    >>> p = Prediction.from_logits(np.array([2.0, 0.0]), names=("cat", "dog"), top_k=2, source="a/cat.jpg")
    >>> with tempfile.TemporaryDirectory() as d:
    ...     copies = AnnotatedCopies(d)
    ...     copies.add(np.zeros((64, 64, 3), np.uint8), p)
    ...     [(os.path.basename(k), v) for k, v in copies.close().items()]
    [('cat.jpg', 1)]
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.core.boxes import Detections
from yolo_probs.errors import ConfigError, YoloProbsError
from yolo_probs.outputs.files import Discard, output_path, write_bytes
from yolo_probs.overlay.boxes import BoxDrawer
from yolo_probs.overlay.canvas import canvas_size, letterbox, to_canvas
from yolo_probs.overlay.draw import OverlayDrawer

if TYPE_CHECKING:
    from yolo_probs.core.prediction import Prediction

__all__ = ["IMAGE_SUFFIXES", "AnnotatedCopies", "check_folder"]

#: Image suffixes kept for the copies; any other input (a .gif, an in-memory array) is saved as .png.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_VIDEO_FPS = 30.0  # webcams and streams that do not announce a rate


def check_folder(path: str | os.PathLike[str], option: str = "--save") -> Path:
    """Create the output folder (with its parents) and check it is writable, before any work starts.

    Example:
        >>> check_folder("/proc/version")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: --save /proc/version: is a file, not a folder; name a folder ...
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{option} {folder}: is a file, not a folder; name a folder for the annotated copies")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{option} {folder}: cannot create it ({exc.strerror}); choose a writable folder") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {folder}: cannot write in it (permission denied); choose a writable folder")
    return folder


class AnnotatedCopies:
    """Write an annotated copy of every predicted image, and an annotated video per video, into ``folder``.

    Args:
        folder: where the copies go (created by :func:`check_folder` if missing).
        drawer: how to draw a classifier's prediction (default: a plain :class:`OverlayDrawer`; no key
            help line is drawn).
        box_drawer: how to draw a detection model's boxes (default: a plain
            :class:`~yolo_probs.overlay.boxes.BoxDrawer`).

    :meth:`add` takes each decoded frame with its prediction (a :class:`Prediction`, or the
    :class:`~yolo_probs.core.boxes.Detections` of a detection model), in order; :meth:`close` finishes the
    last video and returns ``{path: frames written}``. Files that cannot be written are listed in
    :attr:`failures` (one line each) and the others still go on.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        drawer: OverlayDrawer | None = None,
        box_drawer: BoxDrawer | None = None,
    ) -> None:
        self.folder = check_folder(folder)
        self.drawer = drawer or OverlayDrawer()
        self.box_drawer = box_drawer or BoxDrawer(header=False)
        self.written: dict[str, int] = {}
        self.failures: list[str] = []
        self._used: set[str] = set()
        self._video: Any = None  # cv2.VideoWriter of the current video
        self._publish: contextlib.ExitStack | None = None  # puts the current video's file in place when done
        self._video_source: str | None = None
        self._video_path: Path | None = None
        self._video_size: tuple[int, int] = (0, 0)

    def _target(self, source: str, suffix: str) -> Path:
        """A free name in the folder for ``source``: its file name, numbered on a clash, never the input."""
        stem = Path(Path(source).name or "image").stem or "image"
        if _same_file(self.folder / f"{stem}{suffix}", source):
            stem += "-annotated"
        candidate, n = self.folder / f"{stem}{suffix}", 1
        while candidate.name in self._used or _same_file(candidate, source):
            n += 1
            candidate = self.folder / f"{stem}-{n}{suffix}"
        self._used.add(candidate.name)
        return candidate

    def _drawn(self, image: np.ndarray, prediction: Prediction | Detections) -> np.ndarray:
        canvas = to_canvas(image)
        if canvas is image:  # draw() works in place: never on the caller's frame
            canvas = image.copy()
        if isinstance(prediction, Detections):  # boxes are scaled from the image to the canvas
            return self.box_drawer.draw(canvas, prediction)
        return self.drawer.draw(canvas, prediction, help=False)

    def add(self, image: np.ndarray, prediction: Prediction | Detections) -> None:
        """Draw ``prediction`` (or a detection model's boxes) on (an enlarged copy of) ``image`` and write it out."""
        if prediction.frame is None:
            self._finish_video()
            self._write_image(image, prediction)
        else:
            self._write_frame(image, prediction)

    def _write_image(self, image: np.ndarray, prediction: Prediction | Detections) -> None:
        import cv2

        suffix = Path(prediction.source).suffix.lower()
        path = self._target(prediction.source, suffix if suffix in IMAGE_SUFFIXES else ".png")
        try:
            ok, encoded = cv2.imencode(path.suffix, self._drawn(image, prediction))
        except cv2.error:
            ok = False
        if not ok:
            self.failures.append(f"{path}: OpenCV cannot encode the annotated copy as {path.suffix}")
            return
        try:
            write_bytes(path, encoded.tobytes(), option="save", example=path.name)
        except YoloProbsError as exc:  # one line per copy; the other copies still go on
            self.failures.append(str(exc))
            return
        self.written[str(path)] = 1

    def _write_frame(self, image: np.ndarray, prediction: Prediction | Detections) -> None:
        if prediction.source != self._video_source:
            self._finish_video()
            self._open_video(prediction.source, image)
        if self._video is None:
            return
        drawn = self._drawn(image, prediction)
        if (drawn.shape[1], drawn.shape[0]) != self._video_size:
            drawn = letterbox(drawn, self._video_size)
        self._video.write(drawn)
        assert self._video_path is not None
        self.written[str(self._video_path)] = self.written.get(str(self._video_path), 0) + 1

    def _open_video(self, source: str, image: np.ndarray) -> None:
        import cv2

        self._video_source = source
        fps = _VIDEO_FPS
        if os.path.isfile(source):
            cap = cv2.VideoCapture(source)
            rate = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
            cap.release()
            fps = float(rate) if rate and 0 < rate < 1000 else fps
        h, w = canvas_size(*image.shape[:2])
        self._video_size = (w, h)
        name = source if os.path.isfile(source) else f"stream-{source.replace('/', '_').replace(':', '_')}"
        for suffix, codec in ((".mp4", "mp4v"), (".avi", "MJPG")):
            path = self._target(name, suffix)
            publish = contextlib.ExitStack()  # OpenCV writes a temporary file; the writer publishes it at the end
            try:
                produced = publish.enter_context(output_path(path, suffix=suffix, option="save"))
            except YoloProbsError as exc:
                self.failures.append(str(exc))
                return
            writer = cv2.VideoWriter(str(produced), cv2.VideoWriter.fourcc(*codec), fps, self._video_size)
            if writer.isOpened():
                self._video, self._video_path, self._publish = writer, path, publish
                return
            writer.release()
            with publish:  # the writer drops its temporary file, and the old copy stays
                raise Discard
            self._used.discard(path.name)
        self.failures.append(f"{source}: OpenCV cannot encode an annotated video (mp4v or MJPG) here")

    def _finish_video(self) -> None:
        """Close the current video and publish its file (on Ctrl-C too: the frames so far make a whole video)."""
        video, path, publish = self._video, self._video_path, self._publish
        self._video, self._video_source, self._video_path, self._publish = None, None, None, None
        if video is None or publish is None:
            return
        video.release()
        try:
            publish.close()
        except YoloProbsError as exc:
            self.failures.append(str(exc))
            self.written.pop(str(path), None)

    def close(self) -> dict[str, int]:
        """Finish the last video; return ``{path: frames written}`` for every copy."""
        self._finish_video()
        return dict(self.written)


def _same_file(candidate: Path, source: str) -> bool:
    try:
        return candidate.exists() and os.path.samefile(candidate, source)
    except OSError:
        return False
