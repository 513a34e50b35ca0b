"""Labelled image folders in the Ultralytics classification layout, and folders of unknown images.

``DATA`` is either a folder of class folders (``DATA/<class name>/*.jpg``) or a dataset root holding
splits (``DATA/val/<class name>/...``, ``DATA/test/...``). Class folder names must be class names of
the model; a dataset may lack some of the model's classes (a small validation set often does).

Example:
    >>> from yolo_probs.inputs.labelled import load_labelled_folder
    >>> load_labelled_folder("no/such/folder", ["cat", "dog"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.SourceError: no/such/folder: no such folder; pass a folder of class folders ...
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs.errors import SourceError
from yolo_probs.inputs.sources import IMAGE_SUFFIXES

__all__ = ["SPLITS", "LabelledFolder", "OODFolderWarning", "list_unknowns", "load_labelled_folder"]

SPLITS = ("train", "val", "valid", "validation", "test")
_LAYOUT = "pass a folder of class folders (DATA/<class>/*.jpg) or a dataset root with DATA/val/<class>/..."


@dataclass(frozen=True)
class LabelledFolder:
    """The images of one split and their class indices in the model's order."""

    root: Path
    split: str | None
    files: list[str]
    labels: np.ndarray
    classes: list[str] = field(default_factory=list)  # the class folders found, in the model's order


def _images(folder: Path) -> list[str]:
    # Not only regular files: a FIFO or a broken link named like an image is listed, so that reading it
    # becomes a named, counted failure (sources never opens a FIFO) instead of vanishing silently.
    return sorted(str(p) for p in folder.iterdir() if not p.is_dir() and p.suffix.lower() in IMAGE_SUFFIXES)


def _resolve_split(root: Path, split: str) -> tuple[Path, str | None]:
    """The folder holding the class folders: ``root/split`` if the root holds splits, else ``root`` itself."""
    if (root / split).is_dir():
        return root / split, split
    present = [s for s in SPLITS if (root / s).is_dir()]
    if present:
        raise SourceError(
            str(root), f"has no {split!r} split (it has: {', '.join(present)}); pass --split {present[-1]}"
        )
    return root, None


def load_labelled_folder(data: str | os.PathLike[str], names: Sequence[str], split: str = "val") -> LabelledFolder:
    """List the images of ``data`` (or of its ``split``) and label them by their class folder.

    Args:
        data: a folder of class folders, or a root holding ``train/``, ``val/``, ``test/`` splits.
        names: the model's class names; ``names[i]`` is class index ``i``.
        split: which split to use when ``data`` holds splits.

    Raises:
        SourceError: the folder is missing or empty, a class folder is not a class of the model
            (the message lists every mismatch and the model's classes), or no image is left.
    """
    root = Path(data)
    if not root.is_dir():
        raise SourceError(str(root), f"no such folder; {_LAYOUT}")
    folder, used_split = _resolve_split(root, split)
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        loose = _images(folder)
        what = f"holds {len(loose)} images but no class folders" if loose else "is empty (no class folders)"
        raise SourceError(str(folder), f"{what}; {_LAYOUT}")
    index = {str(n): i for i, n in enumerate(names)}
    unknown = [p.name for p in class_dirs if p.name not in index]
    if unknown:
        shown = ", ".join(str(n) for n in list(names)[:20]) + (", ..." if len(names) > 20 else "")
        raise SourceError(
            str(folder),
            f"class folders {', '.join(repr(u) for u in unknown)} are not classes of the model "
            f"(model classes: {shown}); rename the folders to the model's class names",
        )
    files: list[str] = []
    labels: list[int] = []
    classes: list[str] = []
    for d in sorted(class_dirs, key=lambda p: index[p.name]):
        found = _images(d)
        if found:
            classes.append(d.name)
        files.extend(found)
        labels.extend([index[d.name]] * len(found))
    if not files:
        raise SourceError(str(folder), f"its class folders hold no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return LabelledFolder(root, used_split, files, np.asarray(labels, dtype=np.int64), classes)


class OODFolderWarning(UserWarning):
    """An ``ood_data`` folder holds class folders named like the model's own classes."""


def list_unknowns(folder: str | os.PathLike[str], names: Any) -> list[str]:
    """The images under an ``ood_data`` folder (recursively).

    Warns (:class:`OODFolderWarning`) when sub-folders are named like the model's classes: those are
    probably not unknowns. SourceError when the folder is missing or holds no image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SourceError(str(root), "no such folder; pass a folder of images of no trained class")
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(str(root), "holds no images; pass a folder of images of no trained class")
    own = sorted({p.name for p in root.iterdir() if p.is_dir()} & {str(n) for n in names})
    if own:
        warnings.warn(
            f"{root} has folders named like the model's classes ({', '.join(own[:5])}): images of trained classes "
            "are not unknowns, and count as false positives here",
            OODFolderWarning,
            stacklevel=2,
        )
    return files
