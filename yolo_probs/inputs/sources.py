"""Turn what a user names (files, folders, globs, videos, streams, arrays) into frames to classify.

Every input is checked on its own: a bad one becomes an :class:`InputFailure` that names it and says
what to do, and the good ones around it are still read. Only numpy and OpenCV are used here.

Example:
    >>> from yolo_probs.inputs.sources import iter_frames
    >>> [type(x).__name__ for x in iter_frames(["missing.jpg"])]
    ['InputFailure']
"""

from __future__ import annotations

import glob
import io
import os
import re
import stat
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.opencv import quiet_opencv
from yolo_probs.errors import SourceError, printable

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "VIDEO_SUFFIXES",
    "Frame",
    "ImageInput",
    "InputFailure",
    "StreamInput",
    "check_encoded",
    "count_frames",
    "decode_image",
    "expand",
    "frame_batches",
    "iter_frames",
    "opencv_decode",
    "read_bytes",
    "read_image",
]

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".jpe", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"})
VIDEO_SUFFIXES = frozenset(
    {".asf", ".avi", ".gif", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".ts", ".wmv", ".webm"}
)
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "tcp://", "udp://")
#: Largest image (width x height) that is decoded: 178,956,970 pixels, Pillow's decompression-bomb error
#: limit (2 x ``PIL.Image.MAX_IMAGE_PIXELS``), about 13,377 x 13,377 or 537 MB as BGR; OpenCV's own default
#: (``CV_IO_MAX_IMAGE_PIXELS``) is 2**30. Larger images are refused from their header, before any pixel
#: is allocated. Lower it to be stricter; values above Pillow's limit are capped by Pillow.
MAX_IMAGE_PIXELS = 178_956_970
#: A video read that fails this many times in a row ends the video (the rest is reported as lost).
MAX_BAD_FRAMES_IN_A_ROW = 16
_STREAM_RETRY_S = 3.0  # a stream whose reads fail this long has ended
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


@dataclass(frozen=True)
class Frame:
    """One decoded image: ``image`` is HxWx3 BGR uint8; ``frame`` is the 0-based index in a video.

    Read through a backend's own reader (``iter_frames(read=...)``), ``image`` is whatever that reader
    gives (the fast engines: a Pillow image for plain JPEGs), which only that backend's ``prepare`` sees.
    """

    source: str
    image: np.ndarray
    frame: int | None = None


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be used; ``str()`` gives the one-line message for users.

    For video frames that could not be decoded, ``frame`` is the first lost frame and ``frames`` how
    many consecutive frames this failure covers; the video's other frames are still read.

    Example:
        >>> str(InputFailure("clip.avi", "could not be decoded; skipped", frame=3))
        'clip.avi: frame 3: could not be decoded; skipped'
    """

    source: str
    message: str
    frame: int | None = None
    frames: int = 1

    def __str__(self) -> str:
        return SourceError(self.source, self.reason).args[0]  # type: ignore[no-any-return]

    @property
    def reason(self) -> str:
        """The message, with the frame(s) it concerns in front."""
        if self.frame is None:
            return self.message
        where = f"frame {self.frame}" if self.frames == 1 else f"frames {self.frame}-{self.frame + self.frames - 1}"
        return f"{where}: {self.message}"

    def error(self) -> SourceError:
        """The same failure as an exception."""
        return SourceError(self.source, self.reason)


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


def _not_regular(path: str) -> str | None:
    """What kind of non-regular file ``path`` is (FIFO, socket, device), or None for files, folders and
    broken links. Reading a FIFO or a device can block forever, so such entries become failures."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def _not_regular_failure(path: str, kind: str) -> InputFailure:
    return InputFailure(
        path, f"is {kind}, not a regular file; skipped (reading it could wait forever): pass image or video files"
    )


def _classify_entry(path: str) -> Input | None:
    """An entry of a folder or glob: an input, a failure for FIFOs/sockets/devices, or None (ignored)."""
    if os.path.isdir(path):
        return None
    kind = _not_regular(path)
    if kind is not None:
        return _not_regular_failure(path, kind)
    return _classify_file(path)


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
        if name == "-" and not os.path.exists(name):
            yield InputFailure(name, "reading images from standard input is not supported; save them to a file first")
        elif name.isdigit() and not os.path.exists(name):
            yield StreamInput(name, int(name))
        elif name.startswith(STREAM_PREFIXES):
            suffix = Path(name.split("?", 1)[0]).suffix.lower()
            yield ImageInput(name) if suffix in IMAGE_SUFFIXES else StreamInput(name, name)
        elif os.path.isdir(name):
            yield from _expand_folder(name)
        elif os.path.isfile(name):
            yield _classify_file(name) or InputFailure(
                name, f"unsupported file type {Path(name).suffix or '(none)'!r}; pass {_SUPPORTED}"
            )
        elif (kind := _not_regular(name)) is not None:
            yield _not_regular_failure(name, kind)
        elif glob.has_magic(name):
            yield from _expand_glob(name)
        else:
            yield InputFailure(name, "no such file or folder; check the path")


def _expand_folder(name: str) -> Iterator[Input]:
    """A folder's images and videos (sorted, not recursive); a failure first when it holds none."""
    entries = sorted(glob.glob(os.path.join(glob.escape(name), "*")))
    found = [x for f in entries if (x := _classify_entry(f))]
    if not any(not isinstance(x, InputFailure) for x in found):
        yield InputFailure(name, f"the folder holds no {_SUPPORTED}; {_subfolder_hint(name, entries)}")
    yield from found


def _subfolder_hint(name: str, entries: list[str]) -> str:
    """What to pass instead: the recursive pattern when the folder holds subfolders (class folders, say)."""
    subfolders = [os.path.basename(e) for e in entries if os.path.isdir(e)]
    if not subfolders:
        return "point to a folder of images"
    shown = ", ".join(subfolders[:3]) + (", ..." if len(subfolders) > 3 else "")
    pattern = os.path.join(name, "**", "*")
    return f"its subfolders ({shown}) are not read; to include them, pass the quoted pattern '{pattern}'"


def _expand_glob(name: str) -> Iterator[Input]:
    """The images and videos a glob matches (sorted, ``**`` recursive); a failure when it matches none."""
    matches = sorted(f for f in glob.glob(name, recursive=True) if not os.path.isdir(f))
    found = [x for f in matches if (x := _classify_entry(f))]
    if not found:
        what = "matched no file" if not matches else f"matched no {_SUPPORTED}"
        yield InputFailure(name, f"the pattern {what}; check the pattern and quote it so the shell leaves it alone")
    yield from found


def read_bytes(source: str) -> bytes:
    """The bytes of an image file or URL; :class:`SourceError` naming it if they cannot be read."""
    if source.startswith(STREAM_PREFIXES):
        import urllib.request

        try:
            with urllib.request.urlopen(source, timeout=30) as response:
                return bytes(response.read())
        except OSError as exc:
            raise SourceError(
                source, f"cannot download the image ({exc}); check the URL or download it first"
            ) from None
    kind = _not_regular(source)
    if kind is not None:
        raise SourceError(source, f"is {kind}, not a regular file (reading it could wait forever); pass an image file")
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise SourceError(source, f"cannot read the file ({exc.strerror}); check its permissions") from None


def _too_big(source: str, width: int, height: int) -> SourceError:
    return SourceError(
        source,
        f"the image claims {width} x {height} = {width * height:,} pixels, above the limit of {MAX_IMAGE_PIXELS:,} "
        "(a decompression bomb, or a huge scan); downscale it first, or raise "
        "yolo_probs.inputs.sources.MAX_IMAGE_PIXELS",
    )


_HEADER_FORMATS = ("PNG", "JPEG", "MPO", "BMP", "TIFF", "WEBP", "GIF")


def _check_pixels(source: str, data: bytes) -> None:
    """Refuse an image whose header announces more than :data:`MAX_IMAGE_PIXELS`, before decoding it.

    Pillow reads only the header here (no pixels); formats Pillow does not know are left to OpenCV,
    whose own limit then applies.
    """

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_HEADER_FORMATS) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = int(found.group(1)) if found else 0
        raise SourceError(
            source,
            f"the image claims {pixels:,} pixels, above the limit of {MAX_IMAGE_PIXELS:,} (a decompression bomb, or a "
            "huge scan); downscale it first",
        ) from None
    except Exception:  # not a format Pillow reads from its header: OpenCV decides
        return
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_big(source, width, height)


def read_image(source: str) -> np.ndarray:
    """Read and decode an image file (or URL) to HxWx3 BGR uint8, refusing empty and truncated files.

    Raises :class:`SourceError` with a one-line message that names the file.
    """
    return decode_image(read_bytes(source), source)


def decode_image(data: bytes, source: str) -> np.ndarray:
    """Decode an encoded image (the bytes of a file) to HxWx3 BGR uint8 as :func:`read_image` does.

    Raises :class:`SourceError` naming ``source`` for empty, truncated and undecodable data.
    """
    check_encoded(data, source)
    return opencv_decode(data, source)


def check_encoded(data: bytes, source: str) -> None:
    """The checks made before any decoder runs: empty files, truncated JPEG/PNG, decompression bombs.

    Raises :class:`SourceError` naming ``source``.
    """
    if not data:
        raise SourceError(source, "the file is empty (0 bytes); re-copy or re-export it")
    if data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != _JPEG_END:
        raise SourceError(source, "truncated JPEG (no end-of-image marker); re-download or re-export it")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and _PNG_END not in data[-64:]:
        raise SourceError(source, "truncated PNG (no IEND chunk); re-download or re-export it")
    _check_pixels(source, data)


def opencv_decode(data: bytes, source: str) -> np.ndarray:
    """OpenCV's decode of data that passed :func:`check_encoded` (EXIF orientation applied), HxWx3 BGR uint8."""
    import cv2

    try:
        with quiet_opencv():  # libtiff and other decoders report through OpenCV's log
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # OpenCV's own size limit and decoder assertions
        detail = (str(exc).strip().splitlines() or ["cv2.error"])[-1].strip()
        raise SourceError(source, f"OpenCV cannot decode it ({detail}); check that it is a valid image") from None
    if image is None or image.size == 0:
        raise SourceError(source, "not a readable image (OpenCV cannot decode it); check that it is really an image")
    return image


def _iter_stream(item: StreamInput) -> Iterator[Frame | InputFailure]:
    """Every decodable frame of a video, webcam or stream, in order (see :func:`_read_frames`)."""
    import cv2

    with quiet_opencv():  # a missing camera or codec makes OpenCV print several [ WARN ] lines
        cap = cv2.VideoCapture(item.target)
    try:
        if not cap.isOpened():
            kind = "webcam" if isinstance(item.target, int) else "video"
            yield InputFailure(
                item.source, f"cannot open the {kind}; check that it exists and that OpenCV can decode it"
            )
            return
        yield from _read_frames(cap, item)
    finally:
        cap.release()


def _read_frames(cap: Any, item: StreamInput) -> Iterator[Frame | InputFailure]:
    """The frames of an opened capture; an undecodable frame becomes a failure and the video goes on.

    A failed read followed by a good one was a damaged frame (OpenCV moves past it). Failed reads at
    the end are the end of the video, unless the container announced more frames: those are reported
    as lost. After :data:`MAX_BAD_FRAMES_IN_A_ROW` failures in a row the video ends; a stream (no frame
    count) also ends when its reads have failed for a few seconds.
    """
    announced = item.frame_count() if not isinstance(item.target, int) else None
    index, good, bad_from = 0, 0, None  # bad_from: first frame of the current run of failed reads
    failed_at = 0.0
    while True:
        ok, image = cap.read()
        if ok and image is not None and image.size:
            if bad_from is not None:
                yield _lost_frames(item.source, bad_from, index - bad_from)
                bad_from = None
            yield Frame(item.source, image, index)
            index += 1
            good += 1
            continue
        if announced is not None and index >= announced:
            break  # the end of the video
        if bad_from is None:
            bad_from, failed_at = index, time.monotonic()
        index += 1
        if index - bad_from >= MAX_BAD_FRAMES_IN_A_ROW or (
            announced is None and time.monotonic() - failed_at > _STREAM_RETRY_S
        ):
            break  # a stream that stopped sending, or a video damaged to its end
    if good and bad_from is not None and announced is not None:  # the announced frames that never came
        yield _lost_frames(item.source, bad_from, announced - bad_from)
    if good == 0:
        yield InputFailure(item.source, "no frame could be decoded; check the file or re-encode it (e.g. H.264 MP4)")


def _lost_frames(source: str, first: int, count: int) -> InputFailure:
    what = "could not be decoded" if count == 1 else "could not be decoded (damaged or truncated video)"
    return InputFailure(
        source, f"{what}; skipped, the other frames were read (re-encode the video to recover them)", first, count
    )


def to_bgr(image: Any, name: str) -> Frame:
    """Wrap an in-memory image: a numpy HxWx3 BGR (or HxW gray) array, or a PIL image."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise SourceError(name, f"expected uint8 pixels (0-255), got a {image.dtype} array; {_to_uint8(image)}")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[..., 0]
        if image.ndim == 2 and image.size:
            import cv2

            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
            raise SourceError(
                name, f"expected an HxWx3 BGR array (or HxW gray), got shape {image.shape}; {_shape_hint(image)}"
            )
        return Frame(name, np.ascontiguousarray(image))
    if type(image).__module__.startswith("PIL."):
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise _too_big(name, width, height)
        if width * height == 0:
            raise SourceError(name, f"the image is empty ({width} x {height}); pass an image with pixels")
        rgb = np.asarray(image.convert("RGB"))
        return Frame(name, np.ascontiguousarray(rgb[..., ::-1]))
    raise SourceError(name, f"unsupported input type {type(image).__name__}; pass a path, a numpy array or a PIL image")


def _to_uint8(image: np.ndarray) -> str:
    if np.issubdtype(image.dtype, np.floating):
        return "convert it, e.g. (img * 255).clip(0, 255).astype(np.uint8) for values in [0, 1]"
    if image.dtype == np.uint16:
        return "convert it, e.g. (img >> 8).astype(np.uint8)"
    return "convert it to np.uint8 first"


def _shape_hint(image: np.ndarray) -> str:
    if image.ndim == 3 and image.shape[0] in (1, 3, 4) and min(image.shape[1:]) > 4:
        return "it looks channels-first: pass img.transpose(1, 2, 0)"
    if image.ndim == 3 and image.shape[2] == 4:
        return "drop the alpha channel: cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)"
    if image.ndim == 4:
        return "pass a list of HxWx3 images, or a float BCHW torch tensor"
    return "convert it to HxWx3 BGR first"


def _read_frame(item: ImageInput, read: Callable[[str], Any] = read_image) -> Frame | InputFailure:
    try:
        return Frame(item.path, read(item.path))
    except SourceError as exc:
        return InputFailure(exc.source, exc.reason)
    except (MemoryError, Exception) as exc:  # a decoder bug must not abort the batch: name the file, go on
        detail = (str(exc).strip().splitlines() or [""])[0][:200]
        return InputFailure(
            item.path, f"could not be read ({type(exc).__name__}: {detail}); check that it is a valid image"
        )


def _inputs(sources: Any) -> Iterator[Input | Frame]:
    """Names expanded to inputs, and in-memory images wrapped as frames, in order."""
    if isinstance(sources, int) and not isinstance(sources, bool) and sources >= 0:
        sources = str(sources)  # a webcam index, as Ultralytics takes it
    if isinstance(sources, (str, os.PathLike, np.ndarray)) or type(sources).__module__.startswith("PIL."):
        sources = [sources]
    elif isinstance(sources, bytes) or not isinstance(sources, Iterable):
        yield InputFailure(
            printable(repr(sources))[:80],
            f"unsupported source type {type(sources).__name__}; pass a path, folder, glob, video, URL, "
            "numpy array, PIL image, tensor or a list of these",
        )
        return
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


def iter_frames(
    sources: Any, workers: int = 1, read: Callable[[str], Any] = read_image
) -> Iterator[Frame | InputFailure]:
    """Yield decoded frames (and failures, in order) for any mix of names, arrays and PIL images.

    With ``workers`` > 1, image files are decoded by that many threads (OpenCV releases the GIL), at
    most ``2 * workers`` ahead; video frames are read one by one. Memory stays flat either way.
    ``read`` decodes an image file (default :func:`read_image`); a backend may bring its own (see
    :meth:`yolo_probs.backends.engines.base.EngineBackend.read`), whose images only its ``prepare`` sees.
    """
    if workers <= 1:
        for item in _inputs(sources):
            if isinstance(item, ImageInput):
                yield _read_frame(item, read)
            else:
                yield from _not_an_image(item)
        return

    with ThreadPoolExecutor(workers, thread_name_prefix="yolo-probs-decode") as pool:
        ahead: deque[Future[Frame | InputFailure]] = deque()
        for item in _inputs(sources):
            if isinstance(item, ImageInput):
                ahead.append(pool.submit(_read_frame, item, read))
                if len(ahead) >= 2 * workers:
                    yield ahead.popleft().result()
                continue
            while ahead:  # keep the order: finish the images before a video or a failure
                yield ahead.popleft().result()
            yield from _not_an_image(item)
        while ahead:
            yield ahead.popleft().result()


def _not_an_image(item: StreamInput | InputFailure | Frame) -> Iterator[Frame | InputFailure]:
    """A video's frames, or a frame or failure as it is."""
    if isinstance(item, StreamInput):
        yield from _iter_stream(item)
    else:
        yield item


def frame_batches(items: Iterable[Frame | InputFailure], size: int) -> Iterator[list[Frame] | InputFailure]:
    """Frames grouped in lists of ``size`` (the last may be shorter), each failure in its place.

    A failure ends the batch before it, so results keep the input order. A full batch comes out
    before the next item is read.

    Example:
        >>> items = [Frame("a", None), Frame("b", None), InputFailure("c", "bad"), Frame("d", None)]
        >>> [[f.source for f in b] if isinstance(b, list) else str(b) for b in frame_batches(items, 2)]
        [['a', 'b'], 'c: bad', ['d']]
    """
    pending: list[Frame] = []
    for item in items:
        if isinstance(item, InputFailure):
            if pending:
                yield pending
                pending = []
            yield item
            continue
        pending.append(item)
        if len(pending) == size:
            yield pending
            pending = []
    if pending:
        yield pending


def count_frames(sources: list[str]) -> int:
    """Images plus announced video frames in ``sources``: a progress bar's total (cheap: nothing is decoded)."""
    total = 0
    for item in expand(sources):
        if isinstance(item, ImageInput):
            total += 1
        elif isinstance(item, StreamInput):
            total += item.frame_count() or 0
    return total
