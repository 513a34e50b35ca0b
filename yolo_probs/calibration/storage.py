"""Large calibrator parameters live in a small ``.npz`` file beside the profile, named and hashed in the YAML.

A vector-scaling calibrator for 10 classes is 20 numbers and stays readable in the profile; a
Dirichlet matrix for 100 classes is 10,100 numbers and does not. Above :data:`INLINE_MAX` numbers the
arrays go to ``<profile stem>.calibrator.npz`` in the profile's folder and the profile keeps
``calibrator: {method: ..., file: <name>, sha256: <hex>}``; loading resolves ``file`` relative to the
profile's own folder (profile and file move together) and refuses a file whose sha256 differs.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> big = {"method": "vector", "scale": [1.0] * 200, "bias": [0.0] * 200}
    >>> stored = store_calibrator(big, folder / "p.yaml")
    >>> sorted(stored), stored["file"]
    (['file', 'method', 'sha256'], 'p.calibrator.npz')
    >>> load_calibrator(stored, folder / "p.yaml")["scale"].shape
    (200,)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs._util.hashing import file_sha256
from yolo_probs.errors import ConfigError

__all__ = ["INLINE_MAX", "load_calibrator", "store_calibrator"]

INLINE_MAX = 200
_RESERVED = ("method", "file", "sha256")


def _count(value: Any) -> int:
    return int(np.asarray(value).size) if isinstance(value, list | tuple | np.ndarray) else 0


def store_calibrator(calibrator: dict[str, Any], profile_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The mapping to write under ``calibrator:``; writes the ``.npz`` beside ``profile_path`` when large."""
    arrays = {k: v for k, v in calibrator.items() if k not in _RESERVED and _count(v) > 1}
    if sum(_count(v) for v in arrays.values()) <= INLINE_MAX:
        return {k: (np.asarray(v).tolist() if isinstance(v, np.ndarray) else v) for k, v in calibrator.items()
                if k not in ("file", "sha256")}  # fmt: skip
    target = Path(profile_path)
    name = f"{target.stem}.calibrator.npz"
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {target.parent / name} ({exc.strerror}); choose a writable folder") from None
    try:
        with os.fdopen(fd, "wb") as f:
            stored: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
            np.savez(f, **stored)
        os.replace(tmp, target.parent / name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    small = {k: v for k, v in calibrator.items() if k not in arrays and k not in ("file", "sha256")}
    return {**small, "file": name, "sha256": file_sha256(target.parent / name)}


def load_calibrator(calibrator: dict[str, Any], profile_path: str | os.PathLike[str]) -> dict[str, Any]:
    """``calibrator`` with a ``file:`` entry replaced by the arrays it holds (checked against ``sha256``)."""
    if "file" not in calibrator:
        return calibrator
    source = os.fspath(profile_path)
    name = calibrator["file"]
    if not isinstance(name, str) or not isinstance(calibrator.get("sha256"), str):
        raise ConfigError(f"{source}: calibrator.file must be a file name with a calibrator.sha256 beside it")
    path = Path(name) if Path(name).is_absolute() else Path(source).parent / name
    if not path.is_file():
        raise ConfigError(
            f"{source}: calibrator file {path} not found; keep it beside the profile or re-run 'yolo-probs calibrate'"
        )
    actual = file_sha256(path)
    if actual != calibrator["sha256"]:
        raise ConfigError(
            f"{source}: calibrator file {path} has sha256 {actual[:12]}... but the profile expects "
            f"{calibrator['sha256'][:12]}...; it was changed or belongs to another profile: "
            "re-run 'yolo-probs calibrate'"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{source}: cannot read calibrator file {path} ({exc})") from None
    rest = {k: v for k, v in calibrator.items() if k not in ("file", "sha256")}
    return {**rest, **arrays}
