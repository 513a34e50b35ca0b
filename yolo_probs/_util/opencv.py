"""Keep OpenCV's own log lines (``[ WARN:0@...]``, ``[ERROR:0@...]``) off the user's terminal.

A missing webcam, a codec probe or a TIFF tag makes OpenCV print several lines on stderr; yolo-probs
reports each problem itself in one line, so OpenCV is silenced while it opens and decodes inputs.

Example:
    >>> import cv2
    >>> with quiet_opencv():
    ...     cv2.utils.logging.getLogLevel() == cv2.utils.logging.LOG_LEVEL_SILENT
    True
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

__all__ = ["quiet_opencv"]

_lock = threading.Lock()
_depth = 0
_saved: int | None = None


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's logging inside the block; nested and concurrent blocks restore the level once."""
    import cv2

    global _depth, _saved
    log = cv2.utils.logging
    with _lock:
        if _depth == 0:
            _saved = log.getLogLevel()
            log.setLogLevel(log.LOG_LEVEL_SILENT)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                log.setLogLevel(_saved)
