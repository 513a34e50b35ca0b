"""Hash a file's bytes (checkpoints, calibrator files, feature banks, engine cache entries), or bytes in memory."""

from __future__ import annotations

import hashlib
import os

__all__ = ["bytes_sha256", "file_sha256"]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (checkpoints, calibrator files, feature banks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data`` (a file about to be written: its hash without reading it back).

    Example:
        >>> bytes_sha256(b"")[:12]
        'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()
