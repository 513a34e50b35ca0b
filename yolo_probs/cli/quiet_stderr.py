"""Keep native libraries' own stderr lines off the terminal, so every problem is one ``yolo-probs:`` line.

OpenCV's logger is silenced through its API, but some C libraries print straight to file descriptor 2:
libpng (``libpng error: IDAT: invalid code lengths set``, ``libpng warning: iCCP: ...``), libjpeg
(``Corrupt JPEG data: ...``), FFmpeg (``[h264 @ 0x...] ...``), libtiff, Qt (``QFontDatabase: ...``) and
Ray's C++ core (``[2026-01-01 12:00:00,000 E 123 123] core_worker.cc:2465: Actor ... max_restarts > 0``;
only its fatal ``F`` lines pass).
yolo-probs already reports each of those problems itself, naming the file. So the console script
points descriptor 2 at a pipe and a thread copies every other line to the real stderr; Python's own
``sys.stderr`` writes straight to the real stderr and never waits on the thread.

Example:
    >>> is_noise("libpng warning: iCCP: known incorrect sRGB profile"), is_noise("yolo-probs: error: x")
    (True, False)
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Iterator

__all__ = ["filtered_stderr", "is_noise"]

_NOISE = re.compile(
    r"^(libpng (warning|error): |\[ ?WARN:|\[ERROR:|\[ INFO:|QFontDatabase: |Note that Qt no longer ships fonts"
    r"|Corrupt JPEG data|Premature end of JPEG|Invalid SOS parameters|\[[\w.-]+ @ 0x[0-9a-f]+\] |TIFF\w*: "
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [DIWE] \d+ \d+\] )"
)


def is_noise(line: str) -> bool:
    """Whether ``line`` is a native library's own diagnostic that yolo-probs reports in its own words."""
    return _NOISE.match(line) is not None


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Inside the block, native writes to descriptor 2 lose their noise lines; everything else passes."""
    if sys.platform == "win32":  # the native libraries in question print on POSIX systems
        yield
        return
    try:
        real = os.dup(2)
        read, write = os.pipe()
    except OSError:  # no descriptor 2 (a daemon): nothing to filter
        yield
        return
    os.dup2(write, 2)
    os.close(write)
    out = os.fdopen(real, "wb", buffering=0, closefd=False)
    previous = sys.stderr
    sys.stderr = io.TextIOWrapper(out, encoding=previous.encoding or "utf-8", errors="backslashreplace",
                                  line_buffering=True)  # fmt: skip

    def copy() -> None:
        with os.fdopen(read, "rb") as pipe:
            for raw in pipe:
                if not is_noise(raw.decode("utf-8", "replace")):
                    with contextlib.suppress(OSError):
                        out.write(raw)

    thread = threading.Thread(target=copy, name="yolo-probs-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        sys.stderr = previous
        os.dup2(real, 2)  # closes the pipe's last writer: the thread reads to the end and stops
        thread.join(timeout=5)
        os.close(real)
