"""What a model is, found without loading it: an Ultralytics object, a pickled module, a checkpoint, a path.

Each checkpoint is unpickled once, by the backend that runs it: :func:`checkpoint_kind` reads a
``torch.save`` file's pickle opcodes without unpickling anything.

Example:
    >>> checkpoint_kind("examples/models/digits-yolo26n-cls.pt"), checkpoint_kind("README.md")
    ('ultralytics', 'other')
    >>> shown_model("model.pt"), is_ultralytics(object())
    ('model.pt', False)
"""

from __future__ import annotations

import os
import pickletools
import zipfile
from typing import Any

__all__ = ["checkpoint_kind", "is_ultralytics", "shown_model", "ultralytics_task"]


def shown_model(model: Any) -> str:
    """How a model is named in messages: its path, else its type's name."""
    return os.fspath(model) if isinstance(model, str | os.PathLike) else type(model).__name__


def is_ultralytics(model: Any) -> bool:
    """Whether ``model`` is an object from the ``ultralytics`` package (a ``YOLO``, a ``ClassificationModel``)."""
    return type(model).__module__.split(".", 1)[0] == "ultralytics"


def checkpoint_kind(path: str | os.PathLike[str]) -> str:
    """What a ``torch.save`` file holds, read from its pickle opcodes without unpickling anything.

    ``"module"`` for a whole pickled ``nn.Module`` that is not Ultralytics', ``"ultralytics"`` for an
    Ultralytics checkpoint (a dict holding Ultralytics classes), ``"other"`` for anything else
    (state dicts, legacy or corrupt files, non-torch files). So each checkpoint is unpickled once, by the
    backend that runs it.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if pkl is None:
                return "other"
            data = archive.read(pkl)
    except (OSError, zipfile.BadZipFile, ValueError):
        return "other"
    first: str | None = None
    ultralytics = False
    pending: list[str] = []  # STACK_GLOBAL takes module and name from the two strings pushed before it
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("PROTO", "FRAME"):
                continue
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                pending = [*pending[-1:], str(arg)]
            if op.name in ("GLOBAL", "STACK_GLOBAL"):
                module = str(arg).split(" ", 1)[0] if op.name == "GLOBAL" else (pending[0] if pending else "")
                ultralytics = ultralytics or module.startswith("ultralytics")
                first = first or ("global:" + module)
            elif first is None:
                first = op.name
    except Exception:
        return "other"
    if first is not None and first.startswith("global:") and not first.startswith("global:ultralytics"):
        if first.startswith(("global:collections", "global:torch._utils")):
            return "ultralytics" if ultralytics else "other"  # an OrderedDict state dict or a tensor
        return "module"
    return "ultralytics" if ultralytics else "other"


#: Ultralytics' model classes in a checkpoint's pickle, and their task.
_MODEL_TASKS = {
    "DetectionModel": "detect",
    "SegmentationModel": "segment",
    "OBBModel": "obb",
    "PoseModel": "pose",
    "ClassificationModel": "classify",
}


def ultralytics_task(path: str | os.PathLike[str]) -> str | None:
    """The task of an Ultralytics checkpoint or model YAML, found without loading a model; None if it is neither.

    A checkpoint's task is read from its pickle opcodes (the model's class); a YAML's from its head's last
    module, as Ultralytics guesses it.

    Example:
        >>> ultralytics_task("examples/models/digits-yolo26n-cls.pt"), ultralytics_task("yolo26n.yaml")
        ('classify', 'detect')
    """
    name = os.fspath(path)
    if name.lower().endswith((".yaml", ".yml")):
        try:
            from ultralytics.nn.tasks import guess_model_task, yaml_model_load

            return str(guess_model_task(yaml_model_load(name)))
        except Exception:
            return None
    try:
        with zipfile.ZipFile(name) as archive:
            pkl = next((n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            data = archive.read(pkl) if pkl is not None else b""
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
    pending: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
                pending = [*pending[-1:], str(arg)]
            elif op.name in ("GLOBAL", "STACK_GLOBAL"):
                module, cls = str(arg).split(" ", 1) if op.name == "GLOBAL" else [*pending, "", ""][:2]
                if module.startswith("ultralytics") and cls in _MODEL_TASKS:
                    return _MODEL_TASKS[cls]
    except Exception:
        return None
    return None
