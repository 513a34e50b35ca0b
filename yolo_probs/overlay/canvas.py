"""A canvas big enough to draw on: small frames (a 64x64 digit, a 160x120 camera) are enlarged first.

The overlay's text scales with the frame, and on a 64-pixel image no text size is both readable and
inside the frame. So small frames are drawn (in the window and in recordings) on a copy enlarged to
at least :data:`MIN_HEIGHT` pixels tall, keeping the aspect ratio. The classifier still gets the
original frame: only the picture a person looks at is enlarged.

Example:
    >>> import numpy as np
    >>> to_canvas(np.zeros((64, 64, 3), np.uint8)).shape
    (480, 480, 3)
    >>> frame = np.zeros((720, 1280, 3), np.uint8)
    >>> to_canvas(frame) is frame  # large enough already: untouched, no copy
    True
    >>> letterbox(np.zeros((64, 64, 3), np.uint8), (640, 480)).shape  # into a video's frame size
    (480, 640, 3)
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_WIDTH", "MIN_HEIGHT", "canvas_size", "letterbox", "to_canvas"]

#: Frames shorter than this are enlarged to this height for drawing.
MIN_HEIGHT = 480
#: ... unless that would make them wider than this (a very wide strip is enlarged less).
MAX_WIDTH = 1920


def canvas_size(height: int, width: int, min_height: int = MIN_HEIGHT) -> tuple[int, int]:
    """The ``(height, width)`` a frame is drawn at: at least ``min_height`` tall, same aspect, never smaller.

    Example:
        >>> canvas_size(64, 64), canvas_size(120, 160), canvas_size(1080, 1920), canvas_size(10, 400)
        ((480, 480), (480, 640), (1080, 1920), (48, 1920))
    """
    if height >= min_height or height <= 0 or width <= 0:
        return height, width
    scale = max(1.0, min(min_height / height, MAX_WIDTH / width))
    return round(height * scale), round(width * scale)


def to_canvas(image: np.ndarray, min_height: int = MIN_HEIGHT) -> np.ndarray:
    """``image`` enlarged to :func:`canvas_size` (nearest-neighbour: pixels stay as the model got them).

    Returns ``image`` itself when it is already large enough, else a new array.
    """
    h, w = image.shape[:2]
    size = canvas_size(h, w, min_height)
    if size == (h, w):
        return image
    import cv2

    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled into a black frame of ``size`` (width, height), keeping its aspect ratio.

    A video has one frame size, but an image folder mixes sizes: each later frame is fitted into the
    first one's size instead of being stretched.

    Example:
        >>> tall = np.full((100, 50, 3), 255, np.uint8)
        >>> boxed = letterbox(tall, (200, 100))  # 2:1 bands of black either side of the 1:2 image
        >>> boxed.shape, int(boxed[:, :75].max()), int(boxed[:, 75:125].min())
        ((100, 200, 3), 0, 255)
    """
    import cv2

    w, h = size
    ih, iw = image.shape[:2]
    s = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * s)), max(1, round(ih * s))
    out = np.zeros((h, w, 3), np.uint8)
    x0, y0 = (w - nw) // 2, (h - nh) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out
