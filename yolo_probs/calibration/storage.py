"""Large calibrator parameters live in a small ``.npz`` file beside the profile, named and hashed in the YAML.

A vector-scaling calibrator for 10 classes is 20 numbers and stays readable in the profile; a
Dirichlet matrix for 100 classes is 10,100 numbers and does not. Above :data:`INLINE_MAX` numbers the
arrays go to ``<profile stem>.calibrator.npz`` in the profile's folder and the profile keeps
``calibrator: {method: ..., file: <name>, sha256: <hex>}``; loading resolves ``file`` relative to the
profile's own folder (profile and file move together) and refuses a file whose sha256 differs.

This module decides what goes where and reads the file back; it writes nothing: the profile writer
(:func:`yolo_probs.api.profile.save_profile`) writes both files through the one file writer.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> big = {"method": "vector", "scale": [1.0] * 200, "bias": [0.0] * 200}
    >>> stored, npz = pack_calibrator(big, "p.calibrator.npz")
    >>> sorted(stored), stored["file"]
    (['file', 'method', 'sha256'], 'p.calibrator.npz')
    >>> _ = (folder / "p.calibrator.npz").write_bytes(npz)
    >>> load_calibrator(stored, folder / "p.yaml")["scale"].shape
    (200,)
"""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.hashing import bytes_sha256
from yolo_probs.errors import ConfigError

__all__ = ["INLINE_MAX", "calibrator_file_name", "load_calibrator", "pack_calibrator", "profile_folder"]

INLINE_MAX = 200
_RESERVED = ("method", "file", "sha256")


def _count(value: Any) -> int:
    return int(np.asarray(value).size) if isinstance(value, list | tuple | np.ndarray) else 0


def calibrator_file_name(profile_path: str | os.PathLike[str]) -> str:
    """The name of the ``.npz`` beside a profile that holds its calibrator's large arrays.

    Example:
        >>> calibrator_file_name("deploy/line-3.yaml")
        'line-3.calibrator.npz'
    """
    return f"{Path(profile_path).stem}.calibrator.npz"


def pack_calibrator(calibrator: dict[str, Any], file_name: str) -> tuple[dict[str, Any], bytes | None]:
    """The mapping to write under ``calibrator:``, and the ``.npz`` bytes of its large arrays (None: all inline).

    Above :data:`INLINE_MAX` numbers the arrays are left out of the mapping, which names ``file_name``
    and the sha256 of the returned bytes instead; the caller writes them to ``file_name`` beside the
    profile. Nothing is written here.

    Example:
        >>> pack_calibrator({"method": "temperature", "temperature": 1.5}, "p.calibrator.npz")
        ({'method': 'temperature', 'temperature': 1.5}, None)
    """
    arrays = {k: v for k, v in calibrator.items() if k not in _RESERVED and _count(v) > 1}
    if sum(_count(v) for v in arrays.values()) <= INLINE_MAX:
        inline = {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in calibrator.items()
                  if k not in ("file", "sha256")}  # fmt: skip
        return inline, None
    buffer = io.BytesIO()
    stored: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    np.savez(buffer, **stored)
    data = buffer.getvalue()
    small = {k: v for k, v in calibrator.items() if k not in arrays and k not in ("file", "sha256")}
    return {**small, "file": file_name, "sha256": bytes_sha256(data)}, data


def _read_npz(data: bytes, failure: str) -> dict[str, np.ndarray]:
    """The arrays of ``.npz`` bytes; ConfigError starting with ``failure`` for anything else (a zip that is
    not an archive of arrays, a bare ``.npy``, a pickle, truncated bytes)."""
    if not data.startswith(b"PK\x03\x04"):  # what np.load would take for a pickle, or one .npy array
        raise ConfigError(f"{failure}: it is not an .npz archive of arrays; re-run 'yolo-probs calibrate'")
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{failure} ({exc}); re-run 'yolo-probs calibrate'") from None
    try:
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as exc:
        raise ConfigError(f"{failure} ({exc}); re-run 'yolo-probs calibrate'") from None
    for key, value in arrays.items():
        if key in _RESERVED or not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.number):
            raise ConfigError(f"{failure}: its entry {key!r} is not an array of numbers; re-run 'yolo-probs calibrate'")
    return arrays


def profile_folder(path: str | os.PathLike[str]) -> Path:
    """The folder a profile's relative paths (model, side files) start from: its own, or its target's if a symlink.

    Example:
        >>> profile_folder("deploy/line-3.yaml")
        PosixPath('deploy')
    """
    return Path(os.path.realpath(path) if os.path.islink(path) else path).parent


def load_calibrator(calibrator: dict[str, Any], profile_path: str | os.PathLike[str]) -> dict[str, Any]:
    """``calibrator`` with a ``file:`` entry replaced by the arrays it holds (checked against ``sha256``).

    ``file`` is relative to the folder of the profile file itself (a symlinked profile's target).
    """
    if "file" not in calibrator:
        return calibrator
    source = os.fspath(profile_path)
    name = calibrator["file"]
    if not isinstance(name, str) or not name or not isinstance(calibrator.get("sha256"), str):
        raise ConfigError(
            f"{source}: calibrator.file must be a file name with a calibrator.sha256 beside it, "
            f"got file {name!r} and sha256 {calibrator.get('sha256')!r}"
        )
    path = Path(name) if Path(name).is_absolute() else profile_folder(source) / name
    if not path.is_file():
        raise ConfigError(
            f"{source}: calibrator file {path} not found; keep it beside the profile or re-run 'yolo-probs calibrate'"
        )
    try:
        data = path.read_bytes()  # read once: the bytes checked are the bytes loaded
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read calibrator file {path} ({exc.strerror})") from None
    actual = bytes_sha256(data)
    if actual != calibrator["sha256"]:
        raise ConfigError(
            f"{source}: calibrator file {path} has sha256 {actual[:12]}... but the profile expects "
            f"{calibrator['sha256'][:12]}...; it was changed or belongs to another profile: "
            "re-run 'yolo-probs calibrate'"
        )
    arrays = _read_npz(data, f"{source}: cannot read calibrator file {path}")
    rest = {k: v for k, v in calibrator.items() if k not in ("file", "sha256")}
    return {**rest, **arrays}
