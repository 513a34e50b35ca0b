"""Settings the command line gives native libraries before they are imported (they read them at import).

FFmpeg's own log lines ("moov atom not found") would break the one-line-per-error promise, and
Ultralytics' INFO/WARNING lines go to stdout, where they would corrupt ``--format json/jsonl/csv``.
OpenCV's own ``[ WARN:0@...]`` / ``[ERROR:0@...]`` lines (camera probes, codecs, TIFF tags) and Qt's
"QFontDatabase: Cannot find font directory" notices (opencv-python ships Qt without fonts) would break
it too; yolo-probs reports each problem itself. A value the user set is kept. Imported first by
:mod:`yolo_probs.cli`, before any module that imports OpenCV.
"""

from __future__ import annotations

import os

__all__ = ["DEFAULTS"]

DEFAULTS = {
    "OPENCV_FFMPEG_LOGLEVEL": "-8",
    "YOLO_VERBOSE": "False",
    "OPENCV_LOG_LEVEL": "OFF",
    "QT_LOGGING_RULES": "default.warning=false",
}

for _name, _value in DEFAULTS.items():
    os.environ.setdefault(_name, _value)
