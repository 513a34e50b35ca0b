"""File helpers: check an output file before long work (so a bad path fails in one line first), hash a file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from yolo_probs.errors import ConfigError


def claim_output(path: str | os.PathLike[str], option: str) -> bool:
    """Make sure ``path`` can be written by opening it for append; return whether it existed before.

    The file is created if it was missing: a caller whose work then fails removes it again when this
    returned False. ``option`` names the command-line option in the message.

    Example:
        >>> claim_output("/no/such/folder/out.onnx", "--output")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: --output /no/such/folder/out.onnx: cannot write it (...); choose a writable path
    """
    out = Path(path)
    if out.is_dir():
        raise ConfigError(f"{option} {out}: cannot write it, it is a folder; name a file in it")
    existed = out.exists()
    try:
        with out.open("ab"):
            pass
    except OSError as exc:
        raise ConfigError(f"{option} {out}: cannot write it ({exc.strerror}); choose a writable path") from None
    return existed


def check_writable(
    path: str | os.PathLike[str], option: str, suffixes: tuple[str, ...] = (), example: str = "out"
) -> None:
    """Check that ``path`` can be written later, leaving no file behind: not a folder, a known suffix
    (when ``suffixes`` are given), and its folder (created if missing) accepts a new file.

    For outputs written after long work (a reliability diagram after the inference), so a bad path fails
    in one line before the work starts. A probe file is created and removed again (permission bits do
    not tell: root may write anywhere except read-only file systems).

    Example:
        >>> check_writable("/proc/plot.png", "--plot")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: --plot /proc/plot.png: cannot write there (...); choose a writable path
    """
    import secrets

    out = Path(path)
    if out.is_dir():
        name = out / (example + (suffixes[0] if suffixes else ""))
        raise ConfigError(f"{option} {out}: it is a folder; name a file in it, e.g. {name}")
    if suffixes and out.suffix.lower() not in suffixes:
        raise ConfigError(
            f"{option} {out}: unsupported suffix {out.suffix or '(none)'!r}; use one of {', '.join(suffixes)}"
        )
    blocking = next((f for f in out.parents if f.exists() and not f.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"{option} {out}: {blocking} is a file, not a folder; choose a writable path")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            with out.open("ab"):  # appending changes nothing
                pass
        else:
            probe = out.with_name(f".{out.name}.{secrets.token_hex(4)}.probe")
            probe.open("xb").close()
            probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{option} {out}: cannot write there ({exc.strerror}); choose a writable path") from None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks (checkpoints, calibrator files, feature banks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
