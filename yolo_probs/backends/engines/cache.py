"""The validated on-disk cache of the graphs the fast engines run, one entry per model and engine.

The fast engines (:mod:`yolo_probs.backends.engines.ort`, :mod:`yolo_probs.backends.engines.openvino`)
run the logits graph of :mod:`yolo_probs.backends.engines.graph`, converted to their own format;
:mod:`yolo_probs.backends.engines.base` exports and converts it once and keeps the files here. Each
entry lives in its own folder under :func:`cache_root`, named by a hash of what it depends on
(checkpoint sha256, imgsz, batch shape, engine and its version); ``meta.json`` records those inputs
and the sha256 of every file. An entry whose record or files do not match is rebuilt, never trusted;
a new entry is written in a scratch folder and moved into place whole (:func:`write_entry`).

Example:
    >>> from yolo_probs.backends.engines.cache import entry_key
    >>> key = entry_key(checkpoint="ab" * 32, imgsz=224, batch_shape="dynamic", engine="onnxruntime", version="1.0")
    >>> key.startswith("onnxruntime-"), len(key)
    (True, 28)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolo_probs._util.hashing import bytes_sha256, file_sha256

__all__ = [
    "CACHE_FORMAT",
    "CacheEntry",
    "cache_root",
    "entry_key",
    "open_entry",
    "writable_root",
    "write_entry",
]

#: Bumped whenever the layout of an entry or the exported graph changes: older entries are rebuilt.
CACHE_FORMAT = 1
META = "meta.json"


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/yolo-probs/engines``, else ``~/.cache/yolo-probs/engines``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "yolo-probs" / "engines"


def writable_root(root: Path | None = None) -> tuple[Path, str | None]:
    """The cache folder if it can be written, else a temporary one, with a notice saying why.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     writable_root(Path(tmp) / "engines")[1] is None
        True
    """
    root = root or cache_root()
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".probe-"):
            pass
        return root, None
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"yolo-probs-engines-{os.getuid() if hasattr(os, 'getuid') else 0}"
        fallback.mkdir(parents=True, exist_ok=True)
        reason = exc.strerror or type(exc).__name__
        return fallback, f"engine cache {root} is not writable ({reason}); using {fallback} instead"


def entry_key(*, checkpoint: str, imgsz: int | None, batch_shape: str, engine: str, version: str) -> str:
    """Folder name of a cache entry: the engine's name and a hash of everything the graph depends on."""
    fields = {
        "format": CACHE_FORMAT,
        "checkpoint": checkpoint,
        "imgsz": imgsz,
        "batch_shape": batch_shape,
        "engine": engine,
        "version": version,
    }
    digest = bytes_sha256(json.dumps(fields, sort_keys=True).encode())[:16]
    return f"{engine}-{digest}"


@dataclass(frozen=True)
class CacheEntry:
    """A validated cache entry: its folder and its ``meta.json`` record.

    ``meta`` holds ``names`` (the model's own class names), ``imgsz`` (the size it was exported at),
    ``preprocess`` (the :class:`~yolo_probs.inputs.preprocess.Preprocess` fields) and ``files``.
    """

    folder: Path
    meta: dict[str, Any]

    def path(self, name: str) -> Path:
        """A file of the entry."""
        return self.folder / name


def open_entry(folder: Path, expect: dict[str, Any]) -> CacheEntry | None:
    """The entry in ``folder`` if its record matches ``expect`` and every file its sha256, else None."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in expect.items()):
            return None
        files = meta.get("files")
        if not isinstance(files, dict) or not files:
            return None
        for name, digest in files.items():
            if Path(name).name != name or file_sha256(folder / name) != digest:
                return None
    except (OSError, ValueError):
        return None
    return CacheEntry(folder, meta)


def write_entry(folder: Path, build: Any, meta: dict[str, Any]) -> CacheEntry:
    """Build an entry in a scratch folder next to ``folder`` and move it into place.

    ``build(scratch)`` writes the files and returns their names. A concurrent writer that got there
    first wins; a stale or corrupt folder in the way is removed.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        names = build(scratch)
        record = {**meta, "files": {n: file_sha256(scratch / n) for n in names}}
        (scratch / META).write_text(json.dumps(record, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process put a fresh entry there in the meantime
            shutil.rmtree(scratch, ignore_errors=True)
            entry = open_entry(folder, {k: v for k, v in meta.items() if k != "names"})
            if entry is None:
                raise
            return entry
        return CacheEntry(folder, record)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
