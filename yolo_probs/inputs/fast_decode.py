"""Decode plain JPEGs with Pillow for the fast engines, where that gives OpenCV's pixels bit for bit.

The fast engines resize with Pillow (:mod:`yolo_probs.inputs.fast_preprocess`). A frame decoded by OpenCV
must first be copied into Pillow's own pixel layout (``Image.fromarray``, about 0.26 ms for a 640x480
frame), while a JPEG that Pillow decodes is already there, and the decode itself costs the same
(both run libjpeg-turbo). On the 2-core machine this takes 10 % off decoding plus preprocessing,
the slower of the pipeline's two stages.

Pillow decodes a file only where the result is known to equal ``cv2.imdecode(data, IMREAD_COLOR)``,
what Ultralytics and :func:`~yolo_probs.inputs.sources.read_image` use:

- the file is a JPEG (not MPO) in RGB or grayscale (OpenCV converts CMYK and YCCK its own way);
- it has no EXIF orientation other than 1 (OpenCV rotates those, Pillow does not);
- Pillow decodes it without an error (a damaged stream is left to OpenCV, as before);
- and the two libraries decode a set of reference JPEGs (4:2:0, 4:2:2, 4:4:4, progressive, restart
  markers, grayscale, odd sizes, from both encoders) to the same pixels: checked once per process,
  else OpenCV decodes everything (a Pillow built on another libjpeg, say).

Every other file goes through OpenCV, with the checks and messages of
:func:`~yolo_probs.inputs.sources.read_image`.

Example:
    >>> import cv2, numpy as np
    >>> from PIL import Image
    >>> ok, data = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    >>> image = decode_for_engine(data.tobytes(), "noise.jpg")
    >>> isinstance(image, Image.Image) == pillow_matches_opencv()
    True
"""

from __future__ import annotations

import functools
import io
import logging
from typing import TYPE_CHECKING

import numpy as np

from yolo_probs.inputs.sources import check_encoded, opencv_decode, read_bytes

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["decode_for_engine", "pillow_matches_opencv", "read_for_engine"]

log = logging.getLogger("yolo_probs")

_ORIENTATION = 0x0112


def read_for_engine(source: str) -> np.ndarray | Image.Image:
    """An image file as the fast engines' ``prepare`` takes it: a Pillow image or a BGR array.

    Raises :class:`~yolo_probs.errors.SourceError` naming the file, as :func:`~yolo_probs.inputs.sources.read_image`.
    """
    return decode_for_engine(read_bytes(source), source)


def decode_for_engine(data: bytes, source: str) -> np.ndarray | Image.Image:
    """Pillow's decode (RGB or L) of a plain JPEG where it equals OpenCV's, else OpenCV's BGR array."""
    check_encoded(data, source)
    if data[:2] == b"\xff\xd8" and pillow_matches_opencv():
        image = _pillow_jpeg(data)
        if image is not None:
            return image
    return opencv_decode(data, source)


def _pillow_jpeg(data: bytes) -> Image.Image | None:
    from PIL import Image

    try:
        image = Image.open(io.BytesIO(data))
        if image.format != "JPEG" or image.mode not in ("RGB", "L"):
            return None
        if "exif" in image.info and image.getexif().get(_ORIENTATION, 1) != 1:
            return None
        image.load()
    except Exception:  # damaged data, odd markers: OpenCV decides, with its own messages
        return None
    return image


def _opencv_pixels(data: bytes) -> np.ndarray:
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return np.asarray(image)[:, :, ::-1]  # RGB


def _references() -> list[bytes]:
    """JPEGs of smooth and noisy content in the layouts seen in practice, from OpenCV's and Pillow's encoders."""
    import cv2
    from PIL import Image

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:61, 0:83]
    smooth = np.stack([xx * 3, yy * 4, (xx + yy) * 2], axis=-1) % 256
    image = np.clip(smooth + rng.normal(0, 24, smooth.shape), 0, 255).astype(np.uint8)
    out = []
    sampling = getattr(cv2, "IMWRITE_JPEG_SAMPLING_FACTOR", None)
    params: list[list[int]] = [[cv2.IMWRITE_JPEG_QUALITY, 95], [cv2.IMWRITE_JPEG_QUALITY, 50]]
    params += [[cv2.IMWRITE_JPEG_PROGRESSIVE, 1], [cv2.IMWRITE_JPEG_RST_INTERVAL, 3]]
    if sampling is not None:
        params += [[sampling, value] for value in (0x411111, 0x221111, 0x211111, 0x111111)]
    for param in params:
        out.append(cv2.imencode(".jpg", image, param)[1].tobytes())
    out.append(cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))[1].tobytes())
    for subsampling in (0, 1, 2):
        buffer = io.BytesIO()
        Image.fromarray(image[:, :, ::-1]).save(buffer, "JPEG", quality=90, subsampling=subsampling)
        out.append(buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(image[:40, :57, 0]).save(buffer, "JPEG", progressive=True)
    out.append(buffer.getvalue())
    return out


@functools.cache
def pillow_matches_opencv() -> bool:
    """Whether Pillow and OpenCV decode the reference JPEGs to the same pixels (once per process)."""
    try:
        for data in _references():
            image = _pillow_jpeg(data)
            ours = None if image is None else np.asarray(image)
            if ours is not None and ours.ndim == 2:
                ours = np.dstack([ours] * 3)
            if ours is None or not np.array_equal(ours, _opencv_pixels(data)):
                log.info("Pillow and OpenCV decode JPEGs differently here; OpenCV decodes them all")
                return False
    except Exception as exc:  # an encoder flag this OpenCV lacks, ...: the safe side
        log.info("JPEG decoder check failed (%s); OpenCV decodes all images", exc)
        return False
    return True
