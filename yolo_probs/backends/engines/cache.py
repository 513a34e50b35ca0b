"""The validated on-disk cache of the graphs the fast engines run, one entry per model and engine.

The fast engines (:mod:`yolo_probs.backends.engines.ort`, :mod:`yolo_probs.backends.engines.openvino`)
run the logits graph of :mod:`yolo_probs.backends.engines.graph`, converted to their own format;
:mod:`yolo_probs.backends.engines.base` exports and converts it once and keeps the files here. Each
entry lives in its own folder under :func:`cache_root`, named by a hash of what it depends on
(checkpoint sha256, imgsz, batch shape, engine and its version); ``meta.json`` records those inputs,
what the results depend on besides the graph (class names, image size, preprocessing), the sha256 of
every file, and the sha256 of the record itself (``digest``). An entry whose record, digest or files do
not match raises :class:`DamagedEntry` and is rebuilt, never trusted; a new entry is written in a
scratch folder and moved into place whole (:func:`write_entry`), replacing whatever was in the way
(a damaged folder, or a file or link where the folder should be: the cache's own names).

Example:
    >>> from yolo_probs.backends.engines.cache import entry_key
    >>> key = entry_key(checkpoint="ab" * 32, imgsz=224, batch_shape="dynamic", engine="onnxruntime", version="1.0")
    >>> key.startswith("onnxruntime-"), len(key)
    (True, 28)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolo_probs._util.hashing import bytes_sha256, file_sha256

__all__ = [
    "CACHE_FORMAT",
    "CacheEntry",
    "DamagedEntry",
    "cache_root",
    "entry_key",
    "open_entry",
    "record_digest",
    "writable_root",
    "write_entry",
]

#: Bumped whenever the layout of an entry or the exported graph changes: older entries are rebuilt.
#: 2: ``meta.json`` carries the ``digest`` of its own record.
CACHE_FORMAT = 2
META = "meta.json"


class DamagedEntry(Exception):
    """A cache entry is there but cannot be trusted; ``str(exc)`` says why, in a few words."""


def record_digest(record: dict[str, Any]) -> str:
    """sha256 of an entry's record, its ``digest`` field left out (keys sorted, so the order does not count).

    Example:
        >>> record_digest({"names": ["a", "b"]}) == record_digest({"names": ["a", "b"], "digest": "x"})
        True
    """
    fields = {k: v for k, v in record.items() if k != "digest"}
    return bytes_sha256(json.dumps(fields, sort_keys=True).encode())


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
        fallback = _temporary_root()
        reason = exc.strerror or type(exc).__name__
        return fallback, f"engine cache {root} is not writable ({reason}); using {fallback} instead"


def _temporary_root() -> Path:
    """``$TMPDIR/yolo-probs-engines-UID`` when it is this user's own folder, else a fresh private one.

    The shared temporary folder is anyone's: a link or another user's folder at that name is never used
    (entries in it are replaced), so a fresh ``mkdtemp`` folder is used instead.
    """
    uid = os.getuid() if hasattr(os, "getuid") else 0
    fallback = Path(tempfile.gettempdir()) / f"yolo-probs-engines-{uid}"
    with contextlib.suppress(FileExistsError):
        fallback.mkdir(mode=0o700)
    info = os.lstat(fallback)
    if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != uid):
        return Path(tempfile.mkdtemp(prefix=f"yolo-probs-engines-{uid}-"))
    return fallback


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
    """The entry in ``folder``; None if there is none; :class:`DamagedEntry` if it does not validate.

    It validates when ``meta.json`` is the record :func:`write_entry` wrote (its ``digest`` matches),
    for the inputs in ``expect``, and every file matches its sha256.
    """
    if not folder.exists() and not folder.is_symlink():
        return None
    if folder.is_symlink() or not folder.is_dir():
        raise DamagedEntry("is not a folder")
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedEntry(f"has no readable {META} ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("digest") != record_digest(meta):
        raise DamagedEntry(f"has a {META} that does not match its digest (edited or damaged)")
    stale = sorted(k for k, v in expect.items() if meta.get(k) != v)
    if stale:
        raise DamagedEntry(f"was made for another {', '.join(stale)}")
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise DamagedEntry(f"lists no files in its {META}")
    for name, digest in files.items():
        try:
            same = Path(name).name == name and file_sha256(folder / name) == digest
        except OSError:
            same = False
        if not same:
            raise DamagedEntry(f"has a file {name!r} that does not match its sha256")
    return CacheEntry(folder, meta)


def _clear(folder: Path) -> None:
    """Remove what is at an entry's path: a folder with its files, or a file or link (never a link's target)."""
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


def write_entry(folder: Path, build: Any, meta: dict[str, Any]) -> CacheEntry:
    """Build an entry in a scratch folder next to ``folder`` and move it into place.

    ``build(scratch)`` writes the files and returns their names. A concurrent writer that got there
    first wins; a damaged entry in the way (a folder, a file or a link at its path) is removed.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    try:
        names = build(scratch)
        record = {**meta, "files": {n: file_sha256(scratch / n) for n in names}}
        record["digest"] = record_digest(record)
        (scratch / META).write_text(json.dumps(record, indent=1), encoding="utf-8")
        _clear(folder)
        try:
            os.replace(scratch, folder)
        except OSError:  # another process put a fresh entry there in the meantime
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                entry = open_entry(folder, {k: v for k, v in meta.items() if k != "names"})
            except DamagedEntry:
                entry = None
            if entry is None:
                raise
            return entry
        return CacheEntry(folder, record)
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)
