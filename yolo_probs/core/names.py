"""Class names from a list, a mapping, a file (one per line, JSON or YAML), or the model itself.

Example:
    >>> from yolo_probs.core.names import load_names
    >>> load_names(["cat", "dog"], 2)
    ('cat', 'dog')
    >>> load_names({1: "dog", 0: "cat"}, 2)
    ('cat', 'dog')
    >>> load_names(None, 3)
    ('0', '1', '2')
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from yolo_probs.core.checks import check_whole
from yolo_probs.errors import ConfigError

__all__ = ["load_names", "names_of"]


def _from_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read class-name file {path} ({exc.strerror}); pass an existing file") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        if path.suffix.lower() in {".yaml", ".yml"}:
            import yaml

            data = yaml.safe_load(text)
            # An Ultralytics dataset YAML keeps its names under "names".
            return data.get("names", data) if isinstance(data, dict) and "names" in data else data
    except Exception as exc:  # json.JSONDecodeError, yaml.YAMLError
        raise ConfigError(
            f"cannot parse class-name file {path} ({type(exc).__name__}); use one name per line, JSON or YAML"
        ) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _as_tuple(data: Any, where: str) -> tuple[str, ...]:
    if isinstance(data, Mapping):
        try:
            keys = sorted(int(k) for k in data)
        except (TypeError, ValueError):
            raise ConfigError(f"class names in {where} must map class indices to names") from None
        if keys != list(range(len(keys))):
            raise ConfigError(f"class names in {where} must be indexed 0..{len(keys) - 1} without gaps")
        by_index = {int(k): v for k, v in data.items()}
        return tuple(str(by_index[i]) for i in keys)
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        return tuple(str(v) for v in data)
    raise ConfigError(f"class names in {where} must be a list or an index -> name mapping, got {type(data).__name__}")


def load_names(spec: Any, num_classes: int, default: Any = None) -> tuple[str, ...]:
    """Resolve class names for a model with ``num_classes`` outputs.

    Args:
        spec: a list/tuple, an ``{index: name}`` mapping, a path (``.json``, ``.yaml``/``.yml``, or text
            with one name per line), or None to use ``default``.
        num_classes: the number of logits the model outputs.
        default: names found on the model (list or mapping); None gives ``"0"``, ``"1"``...

    Raises :class:`ConfigError` when the count differs from ``num_classes``.
    """
    num_classes = check_whole(num_classes, "num_classes", low=1)
    if spec is None:
        if default is not None:
            names = _as_tuple(default, "the model")
            if len(names) == num_classes:
                return names
        return tuple(str(i) for i in range(num_classes))
    where = "the names list"
    if isinstance(spec, str | os.PathLike):
        where = os.fspath(spec)
        spec = _from_file(Path(where))
    names = _as_tuple(spec, where)
    if len(names) != num_classes:
        raise ConfigError(
            f"{where} has {len(names)} class names but the model outputs {num_classes} classes; "
            f"give exactly {num_classes} names"
        )
    return names


def names_of(module: Any) -> Any:
    """Class names a model carries itself (``names``, ``class_names`` or ``classes`` attribute), or None."""
    for attr in ("names", "class_names", "classes"):
        value = getattr(module, attr, None)
        if isinstance(value, Mapping | list | tuple) and len(value) > 0:
            return value
    return None
