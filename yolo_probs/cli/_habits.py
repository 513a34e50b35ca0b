"""Ultralytics' command-line habits, caught before they turn into a confusing error.

``yolo classify predict model=x.pt source=img.jpg`` is Ultralytics' form; yolo-probs takes options as
flags and sources as arguments (``yolo-probs predict --model x.pt img.jpg``). Passed as they are,
``model=x.pt`` would be read as an image path and the default model downloaded. Rather than accept a
second syntax (whose keys mean other things here: Ultralytics' ``save=True``, ``format=onnx`` or
``conf=0.5`` are not yolo-probs' ``--save DIR``, ``--format`` or anything), the command line says in
one line what to type instead.

Example:
    >>> options = {"predict": {"model": Flag("--model"), "show": Flag("--show", "--no-show")}}
    >>> print(ultralytics_habit(["predict", "model=x.pt", "source=img.jpg", "show=False"], lambda: options))
    yolo-probs takes options as flags, not key=value (Ultralytics' form):
    type 'yolo-probs predict --model x.pt --no-show img.jpg'
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["TASKS", "Flag", "ultralytics_habit"]

#: Ultralytics' task words (``yolo classify predict ...``); yolo-probs has none.
TASKS = ("classify", "detect", "segment", "pose", "obb")
#: Keys that Ultralytics takes for the inputs, which yolo-probs takes as arguments.
_POSITIONAL = ("source", "data")
_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
#: Ultralytics' own keys that yolo-probs has no option for (any other ``name=...`` may be a file pattern).
# fmt: off
_ULTRALYTICS_KEYS = frozenset({
    "conf", "iou", "half", "save", "show", "project", "name", "exist_ok", "verbose", "stream", "vid_stride",
    "classes", "augment", "visualize", "max_det", "save_txt", "save_conf", "save_crop", "show_labels", "show_conf",
    "line_width", "epochs", "patience", "workers", "optimizer", "lr0", "pretrained", "amp", "fraction", "task",
    "mode", "dynamic", "simplify", "opset", "int8", "optimize", "nms",
})
# fmt: on


@dataclass(frozen=True)
class Flag:
    """How a command spells one option: ``off`` is None when ``flag`` takes a value, else a boolean's
    other flag (``--no-show``), or ``""`` when it has none."""

    flag: str
    off: str | None = None


#: ``{command: {key: Flag}}``: each command's options by Ultralytics-style key (``top_k`` for ``--top-k``).
Options = Mapping[str, Mapping[str, Flag]]


def ultralytics_habit(argv: Sequence[str], options: Callable[[], Options]) -> str | None:
    """The one-line correction for an Ultralytics-style command line, or None when ``argv`` is not one.

    ``key=value`` counts where the key is an option of the command or one of Ultralytics' keys, and
    the argument is not an existing path nor the value of an option (``distill --train-arg fliplr=0``
    is yolo-probs' own form). ``options`` is called only when some argument looks so.
    """
    if not argv or not (argv[0] in TASKS or any(_KEY_VALUE.match(a) for a in argv[1:])):
        return None
    commands = options()
    task = argv[0] if len(argv) >= 2 and argv[0] in TASKS and argv[1] in commands else None
    argv = argv[1:] if task else argv
    if argv[0] not in commands:
        return None
    command, own = argv[0], commands[argv[0]]
    values = {f.flag for f in own.values() if f.off is None}
    kept: list[str] = []
    found: list[tuple[str, str]] = []
    for i, arg in enumerate(argv[1:], start=1):
        match = _KEY_VALUE.match(arg)
        known = match is not None and (match.group(1) in own or match.group(1) in (*_POSITIONAL, *_ULTRALYTICS_KEYS))
        if match and known and not os.path.exists(arg) and argv[i - 1] not in values and "--" not in argv[1:i]:
            found.append((match.group(1), match.group(2)))
        else:
            kept.append(arg)
    if not found and not task:
        return None
    flags, sources, unknown = _translate(found, own)
    suggestion = shlex.join(["yolo-probs", command, *flags, *kept, *sources])
    what = " and".join(
        part for part, present in ((" no task word", task), (" options as flags, not key=value", found)) if present
    )
    extra = f"; {command} has no option for {', '.join(unknown)} (see 'yolo-probs {command} --help')" if unknown else ""
    return f"yolo-probs takes{what} (Ultralytics' form): type {suggestion!r}{extra}"


def _translate(found: list[tuple[str, str]], own: Mapping[str, Flag]) -> tuple[list[str], list[str], list[str]]:
    """``(flags, sources, unknown keys)`` for the ``key=value`` pairs found."""
    flags: list[str] = []
    sources: list[str] = []
    unknown: list[str] = []
    for key, value in found:
        if key in _POSITIONAL:
            sources.append(value)
        elif key in own and not (own[key].off is None and value.lower() in ("true", "false")):
            option = own[key]  # (Ultralytics' save=True is a switch; yolo-probs' --save takes a folder)
            if option.off is None:
                flags += [option.flag, value]
            elif value.lower() in ("true", "1", "yes"):
                flags.append(option.flag)
            elif option.off:
                flags.append(option.off)
        else:
            unknown.append(f"{key}={value}")
    return flags, sources, unknown
