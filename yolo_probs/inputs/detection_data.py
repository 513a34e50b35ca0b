"""Ultralytics detection datasets: a data YAML, its image folders and YOLO txt labels, checked.

``DATA.yaml`` names a root (``path``, relative to the YAML's folder), the splits (``train``, ``val``,
``test``: an image folder, a ``.txt`` list of images, or a list of either) and the classes
(``names``: a list or ``{index: name}``). Each image's labels are the ``.txt`` file at the same place
under ``labels/`` instead of ``images/``, one box a line: ``class cx cy w h`` normalised to [0, 1] (a
segmentation polygon ``class x1 y1 x2 y2 ...`` counts as its bounding box).

As in Ultralytics, an image without a label file, or with an empty one, has no objects: it is kept as a
negative and counted. A box reaching outside the image is clipped to it (counted; one warning line);
one wholly outside is dropped (counted). A class index the YAML does not name, a line that is not
numbers, or classes that differ from the model's are refused in one line.

Example:
    >>> from yolo_probs.inputs.detection_data import load_detection_data
    >>> load_detection_data("no/such.yaml")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.SourceError: no/such.yaml: no such file; pass an Ultralytics detection data YAML ...
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.sources import IMAGE_SUFFIXES

__all__ = ["DetectionData", "check_names", "data_notes", "is_detection_yaml", "load_detection_data"]

_HINT = "pass an Ultralytics detection data YAML (path, train/val/test, names)"


@dataclass(frozen=True)
class DetectionData:
    """One split of a detection dataset: its images and their ground-truth boxes.

    Attributes:
        yaml: the data YAML.
        split: the split read (``val``, ``test``, ...).
        names: the dataset's class names, index order.
        files: image paths.
        boxes: per image, ``(G, 4)`` ground-truth ``x1, y1, x2, y2`` normalised to [0, 1] (clipped).
        classes: per image, ``(G,)`` class indices.
        unlabelled: images without a label file (kept as negatives).
        negatives: images with no box (with or without a label file).
        clipped: boxes clipped to the image; dropped: boxes wholly outside it.
    """

    yaml: Path
    split: str
    names: tuple[str, ...]
    files: list[str]
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    unlabelled: int = 0
    negatives: int = 0
    clipped: int = 0
    dropped: int = 0

    @property
    def ground_truth(self) -> int:
        """How many ground-truth boxes the split has."""
        return int(sum(len(c) for c in self.classes))


def is_detection_yaml(data: str | os.PathLike[str]) -> bool:
    """Whether ``data`` names a data YAML (the detection path of calibrate/evaluate) rather than a folder."""
    return str(data).lower().endswith((".yaml", ".yml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    if not path.is_file():
        raise SourceError(str(path), f"no such file; {_HINT}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        raise SourceError(str(path), f"not readable YAML ({type(exc).__name__}); {_HINT}") from None
    if not isinstance(data, dict) or "names" not in data:
        raise SourceError(str(path), f"no 'names' mapping of classes; {_HINT}")
    return data


def _names(path: Path, raw: Any) -> tuple[str, ...]:
    if isinstance(raw, dict) and all(isinstance(k, int) for k in raw) and sorted(raw) == list(range(len(raw))):
        return tuple(str(raw[k]) for k in range(len(raw)))
    if isinstance(raw, list) and raw:
        return tuple(str(n) for n in raw)
    raise SourceError(str(path), f"names must be a list or {{0: name, 1: name, ...}}, got {raw!r}")


def _split_images(path: Path, root: Path, split: str, entry: Any) -> list[str]:
    entries = entry if isinstance(entry, list) else [entry]
    files: list[str] = []
    for e in entries:
        where = Path(str(e)) if Path(str(e)).is_absolute() else root / str(e)
        if where.is_dir():
            files += sorted(str(p) for p in where.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif where.is_file() and where.suffix == ".txt":
            lines = [ln.strip() for ln in where.read_text(encoding="utf-8").splitlines() if ln.strip()]
            files += [str(Path(ln) if Path(ln).is_absolute() else root / ln) for ln in lines]
        else:
            raise SourceError(str(path), f"split {split!r} names {where}, which is not an image folder or a .txt list")
    if not files:
        raise SourceError(str(path), f"split {split!r} has no images")
    return files


def _label_file(image: str) -> Path:
    """Ultralytics' rule: the last ``/images/`` of the path becomes ``/labels/``, the suffix ``.txt``."""
    sep = f"{os.sep}images{os.sep}"
    head, found, tail = image.rpartition(sep)
    moved = f"{head}{os.sep}labels{os.sep}{tail}" if found else image
    return Path(moved).with_suffix(".txt")


def _parse_labels(label: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(xyxy (G,4) clipped, classes (G,), clipped, dropped)`` of one label file; SourceError for a bad line."""
    boxes, classes, clipped, dropped = [], [], 0, 0
    for number, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise SourceError(
                f"{label}:{number}", f"not numbers ({line.strip()[:40]!r}); a line is 'class cx cy w h'"
            ) from None
        cls = values[0]
        if len(values) < 5 or (len(values) > 5 and len(values) % 2 == 0) or not np.isfinite(values).all():
            raise SourceError(f"{label}:{number}", "a line is 'class cx cy w h' (or a polygon 'class x1 y1 x2 y2 ...')")
        if cls != int(cls) or not 0 <= cls < n_classes:
            raise SourceError(
                f"{label}:{number}",
                f"class {parts[0]} is not one of the YAML's {n_classes} classes (0..{n_classes - 1})",
            )
        if len(values) == 5:
            cx, cy, w, h = values[1:]
            if w < 0 or h < 0:
                raise SourceError(f"{label}:{number}", "negative box width or height")
            box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
        else:
            pts = np.asarray(values[1:]).reshape(-1, 2)
            box = np.array([*pts.min(axis=0), *pts.max(axis=0)])
        inside = np.clip(box, 0.0, 1.0)
        if inside[2] <= inside[0] or inside[3] <= inside[1]:
            dropped += 1
            continue
        clipped += int(not np.allclose(inside, box, atol=1e-6))
        boxes.append(inside)
        classes.append(int(cls))
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4), np.asarray(classes, dtype=np.int64), clipped, dropped


def check_names(path: Path, names: Sequence[str], model_names: Sequence[str] | None) -> None:
    """ConfigError in one line when the dataset's classes are not the model's, in the same order."""
    if model_names is None or tuple(names) == tuple(model_names):
        return
    differ = [i for i in range(max(len(names), len(model_names)))
              if i >= len(names) or i >= len(model_names) or names[i] != model_names[i]]  # fmt: skip
    i = differ[0]
    mine = names[i] if i < len(names) else "(none)"
    theirs = model_names[i] if i < len(model_names) else "(none)"
    raise ConfigError(
        f"{path}: its {len(names)} classes differ from the model's {len(model_names)} (class {i}: {mine!r} in the "
        f"data, {theirs!r} in the model); use the data the model was trained for, or relabel it",
        option="data",
    )


def load_detection_data(
    data: str | os.PathLike[str], model_names: Sequence[str] | None = None, split: str = "val"
) -> DetectionData:
    """Read one split of an Ultralytics detection data YAML with its labels (see the module doc)."""
    path = Path(data)
    raw = _read_yaml(path)
    names = _names(path, raw["names"])
    check_names(path, names, model_names)
    base = Path(str(raw.get("path") or "."))
    root = base if base.is_absolute() else path.parent / base
    if raw.get(split) in (None, ""):
        have = [s for s in ("train", "val", "test") if raw.get(s)]
        raise SourceError(str(path), f"no split {split!r} (it has {', '.join(have) or 'none'}); pass --split")
    files = _split_images(path, root, split, raw[split])
    labels = [_label_file(f) for f in files]
    if not any(p.parent.is_dir() for p in labels):
        raise SourceError(str(path), f"no labels folder for split {split!r} (looked for {labels[0].parent}); "
                          "labels go in labels/ beside images/")  # fmt: skip
    boxes, classes = [], []
    unlabelled = clipped = dropped = 0
    for label in labels:
        if not label.is_file():
            unlabelled += 1
            boxes.append(np.zeros((0, 4)))
            classes.append(np.zeros(0, dtype=np.int64))
            continue
        b, c, n_clipped, n_dropped = _parse_labels(label, len(names))
        boxes.append(b)
        classes.append(c)
        clipped, dropped = clipped + n_clipped, dropped + n_dropped
    negatives = sum(len(c) == 0 for c in classes)
    return DetectionData(path, split, names, files, boxes, classes, unlabelled, negatives, clipped, dropped)


def data_notes(data: DetectionData) -> list[str]:
    """One line per unusual thing in ``data`` (images without labels, clipped or dropped boxes), for warnings."""
    notes = []
    if data.unlabelled:
        notes.append(f"{data.yaml} ({data.split}): {data.unlabelled} of {len(data.files)} images have no label file; "
                     "they count as images without objects (negatives)")  # fmt: skip
    if data.clipped:
        notes.append(
            f"{data.yaml} ({data.split}): {data.clipped} boxes reach outside their image and were clipped to it"
        )
    if data.dropped:
        notes.append(
            f"{data.yaml} ({data.split}): {data.dropped} boxes lie wholly outside their image and were dropped"
        )
    return notes
