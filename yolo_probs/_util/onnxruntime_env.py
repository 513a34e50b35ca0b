"""Import ONNX Runtime without its own stderr lines, so every problem stays one ``yolo-probs:`` line.

ONNX Runtime (1.2x and later) keeps a telemetry device id under ``$XDG_CACHE_HOME`` (else
``~/.cache``) in ``Microsoft/DeveloperTools/.onnxruntime``. Where that folder cannot be written (a
read-only home, ``XDG_CACHE_HOME`` pointing at a file: the same place the engine cache lives), its
import prints ``[W:onnxruntime:Default, telemetry_1ds.cc:...] Failed to persist telemetry device ID``
in colour on stderr, before any logger setting can apply. Its telemetry would keep only an in-memory
id there anyway, so :func:`import_onnxruntime` sets ``ORT_DISABLE_TELEMETRY=1`` for the import in
that case only (a value the user set is kept), and removes it again, so child processes see the
environment as it was. The engine cache says in its own line that the folder is not writable.

Example:
    >>> ort = import_onnxruntime()
    >>> ort.get_device() in ("CPU", "GPU")
    True
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["import_onnxruntime", "telemetry_folder_writable"]

#: Where ONNX Runtime keeps its telemetry device id, under the cache home.
TELEMETRY_FOLDER = Path("Microsoft") / "DeveloperTools" / ".onnxruntime"


def telemetry_folder_writable() -> bool:
    """Whether ONNX Runtime could create or write its telemetry folder (the nearest existing parent decides).

    Example:
        >>> isinstance(telemetry_folder_writable(), bool)
        True
    """
    home = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(home) if os.path.isabs(home) else Path(os.path.expanduser("~")) / ".cache"
    path = base / TELEMETRY_FOLDER
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def import_onnxruntime() -> Any:
    """The ``onnxruntime`` module, imported without its telemetry warning; its log level set to errors only."""
    loaded = sys.modules.get("onnxruntime")
    if loaded is not None:
        return loaded
    quiet = "ORT_DISABLE_TELEMETRY" not in os.environ and not telemetry_folder_writable()
    if quiet:
        os.environ["ORT_DISABLE_TELEMETRY"] = "1"
    try:
        import onnxruntime
    finally:
        if quiet:
            os.environ.pop("ORT_DISABLE_TELEMETRY", None)
    onnxruntime.set_default_logger_severity(3)  # its notices would break the one-line-per-message promise
    return onnxruntime
