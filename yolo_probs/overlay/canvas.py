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
"""

from __future__ import annotations

import numpy as np

__all__ = ["MAX_WIDTH", "MIN_HEIGHT", "canvas_size", "to_canvas"]

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
