"""Turn what a user names (files, folders, globs, videos, streams, arrays) into frames to classify.

Every input is checked on its own: a bad one becomes an :class:`InputFailure` that names it and says
what to do, and the good ones around it are still read. Only numpy and OpenCV are used here.

Example:
    >>> from yolo_probs.sources import iter_frames
    >>> [type(x).__name__ for x in iter_frames(["missing.jpg"])]
    ['InputFailure']
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs.errors import SourceError

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Frame",
    "ImageInput",
    "InputFailure",
    "StreamInput",
    "decode_image",
    "expand",
    "iter_frames",
    "read_image",
]

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".jpe", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"})
VIDEO_SUFFIXES = frozenset(
    {".asf", ".avi", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".wmv", ".webm"}
)
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "tcp://", "udp://")
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class Frame:
    """One decoded image: ``image`` is HxWx3 BGR uint8; ``frame`` is the 0-based index in a video."""

    source: str
    image: np.ndarray
    frame: int | None = None


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be used; ``str()`` gives the one-line message for users."""

    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"

    def error(self) -> SourceError:
        """The same failure as an exception."""
        return SourceError(self.source, self.message)


@dataclass(frozen=True)
class ImageInput:
    """An image file to read."""

    path: str


@dataclass(frozen=True)
class StreamInput:
    """A video file, webcam index or stream URL, read frame by frame with OpenCV."""

    source: str
    target: str | int

    def frame_count(self) -> int | None:
        """Frames announced by the container, or None for live streams and unknown counts."""
        if isinstance(self.target, int) or self.source.startswith(STREAM_PREFIXES):
            return None
        import cv2

        cap = cv2.VideoCapture(self.target)
        try:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
        finally:
            cap.release()
        return n if n > 0 else None


Input = ImageInput | StreamInput | InputFailure
_SUPPORTED = "images (" + " ".join(sorted(IMAGE_SUFFIXES)) + ") or videos (" + " ".join(sorted(VIDEO_SUFFIXES)) + ")"


def _classify_file(path: str) -> Input | None:
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return ImageInput(path)
    if suffix in VIDEO_SUFFIXES:
        return StreamInput(path, path)
    return None


def expand(sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> Iterator[Input]:
    """Expand names into inputs: folders (their images and videos, sorted, not recursive), globs,
    image and video files, webcam indices (``"0"``) and stream URLs. Problems become failures.

    Example:
        >>> [str(x) for x in expand("nowhere/*.jpg")]
        ['nowhere/*.jpg: the pattern matched no file; check the pattern and quote it so the shell leaves it alone']
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    for raw in sources:
        name = os.fspath(raw)
        if name.isdigit() and not os.path.exists(name):
            yield StreamInput(name, int(name))
        elif name.startswith(STREAM_PREFIXES):
            suffix = Path(name.split("?", 1)[0]).suffix.lower()
            yield ImageInput(name) if suffix in IMAGE_SUFFIXES else StreamInput(name, name)
        elif os.path.isdir(name):
            found = [x for f in sorted(glob.glob(os.path.join(glob.escape(name), "*"))) if (x := _classify_file(f))]
            if not found:
                yield InputFailure(name, f"the folder holds no {_SUPPORTED}; point to a folder of images")
            yield from found
        elif os.path.isfile(name):
            yield _classify_file(name) or InputFailure(
                name, f"unsupported file type {Path(name).suffix or '(none)'!r}; pass {_SUPPORTED}"
            )
        elif glob.has_magic(name):
            matches = sorted(f for f in glob.glob(name, recursive=True) if os.path.isfile(f))
            found = [x for f in matches if (x := _classify_file(f))]
            if not found:
                what = "matched no file" if not matches else f"matched no {_SUPPORTED}"
                yield InputFailure(
                    name, f"the pattern {what}; check the pattern and quote it so the shell leaves it alone"
                )
            yield from found
        else:
            yield InputFailure(name, "no such file or folder; check the path")


def _read_bytes(source: str) -> bytes:
    if source.startswith(STREAM_PREFIXES):
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=30) as response:
                return bytes(response.read())
        except OSError as exc:
            raise SourceError(
                source, f"cannot download the image ({exc}); check the URL or download it first"
            ) from None
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise SourceError(source, f"cannot read the file ({exc.strerror}); check its permissions") from None


def read_image(source: str) -> np.ndarray:
    """Read and decode an image file (or URL) to HxWx3 BGR uint8, refusing empty and truncated files.

    Raises :class:`SourceError` with a one-line message that names the file.
    """
    return decode_image(_read_bytes(source), source)


def decode_image(data: bytes, source: str) -> np.ndarray:
    """Decode an encoded image (the bytes of a file) to HxWx3 BGR uint8 as :func:`read_image` does.

    Raises :class:`SourceError` naming ``source`` for empty, truncated and undecodable data.
    """
    import cv2

    if not data:
        raise SourceError(source, "the file is empty (0 bytes); re-copy or re-export it")
    if data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != _JPEG_END:
        raise SourceError(source, "truncated JPEG (no end-of-image marker); re-download or re-export it")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and _PNG_END not in data[-64:]:
        raise SourceError(source, "truncated PNG (no IEND chunk); re-download or re-export it")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        raise SourceError(source, "not a readable image (OpenCV cannot decode it); check that it is really an image")
    return image


def _iter_stream(item: StreamInput) -> Iterator[Frame | InputFailure]:
    import cv2

    cap = cv2.VideoCapture(item.target)
    try:
        if not cap.isOpened():
            kind = "webcam" if isinstance(item.target, int) else "video"
            yield InputFailure(
                item.source, f"cannot open the {kind}; check that it exists and that OpenCV can decode it"
            )
            return
        index = 0
        while True:
            ok, image = cap.read()
            if not ok or image is None:
                break
            yield Frame(item.source, image, index)
            index += 1
        if index == 0:
            yield InputFailure(
                item.source, "no frame could be decoded; check the file or re-encode it (e.g. H.264 MP4)"
            )
    finally:
        cap.release()


def to_bgr(image: Any, name: str) -> Frame:
    """Wrap an in-memory image: a numpy HxWx3 BGR (or HxW gray) array, or a PIL image."""
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise SourceError(name, f"expected an HxWx3 BGR array, got shape {image.shape}; convert it first")
        return Frame(name, np.ascontiguousarray(image))
    if type(image).__module__.startswith("PIL."):
        rgb = np.asarray(image.convert("RGB"))
        return Frame(name, np.ascontiguousarray(rgb[..., ::-1]))
    raise SourceError(name, f"unsupported input type {type(image).__name__}; pass a path, a numpy array or a PIL image")


def _read_frame(item: ImageInput) -> Frame | InputFailure:
    try:
        return Frame(item.path, read_image(item.path))
    except SourceError as exc:
        return InputFailure(exc.source, exc.reason)


def _inputs(sources: Any) -> Iterator[Input | Frame]:
    """Names expanded to inputs, and in-memory images wrapped as frames, in order."""
    if isinstance(sources, (str, os.PathLike, np.ndarray)) or type(sources).__module__.startswith("PIL."):
        sources = [sources]
    counter = 0
    for src in sources:
        if isinstance(src, (str, os.PathLike)):
            yield from expand(src)
            continue
        if isinstance(src, (Frame, InputFailure)):  # already decoded (or failed): a caller's own frame stream
            yield src
            continue
        name = getattr(src, "filename", "") or f"image{counter}"
        counter += 1
        try:
            yield to_bgr(src, name)
        except SourceError as exc:
            yield InputFailure(exc.source, exc.reason)


def iter_frames(sources: Any, workers: int = 1) -> Iterator[Frame | InputFailure]:
    """Yield decoded frames (and failures, in order) for any mix of names, arrays and PIL images.

    With ``workers`` > 1, image files are decoded by that many threads (OpenCV releases the GIL), at
    most ``2 * workers`` ahead; video frames are read one by one. Memory stays flat either way.
    """
    if workers <= 1:
        for item in _inputs(sources):
            if isinstance(item, ImageInput):
                yield _read_frame(item)
            elif isinstance(item, StreamInput):
                yield from _iter_stream(item)
            else:
                yield item
        return
    from collections import deque
    from concurrent.futures import Future, ThreadPoolExecutor

    with ThreadPoolExecutor(workers, thread_name_prefix="yolo-probs-decode") as pool:
        ahead: deque[Future[Frame | InputFailure]] = deque()
        for item in _inputs(sources):
            if isinstance(item, ImageInput):
                ahead.append(pool.submit(_read_frame, item))
                if len(ahead) >= 2 * workers:
                    yield ahead.popleft().result()
                continue
            while ahead:  # keep the order: finish the images before a video or a failure
                yield ahead.popleft().result()
            if isinstance(item, StreamInput):
                yield from _iter_stream(item)
            else:
                yield item
        while ahead:
            yield ahead.popleft().result()
