"""Check a requested device against the hardware this machine has, before any model is loaded.

``"cpu"``, ``"0"`` / ``"cuda:0"`` / ``"cuda"`` (and lists like ``"0,1"``) and ``"mps"`` are understood;
a device that does not exist here is one :class:`~yolo_probs.errors.ConfigError` that lists the devices
that do, instead of a multi-line error from PyTorch or Ultralytics deep in the first batch.

Example:
    >>> check_device("cpu")
    >>> check_device("tpu")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.ConfigError: unknown device 'tpu'; devices on this machine: cpu...
"""

from __future__ import annotations

import re

from yolo_probs.errors import ConfigError

__all__ = ["available_devices", "check_device"]

_CUDA = re.compile(r"^(?:cuda:?)?(\d+(?:,\d+)*)$|^cuda$")


def available_devices() -> list[str]:
    """The devices PyTorch can use here: ``cpu``, then ``cuda:N (name)`` per GPU, then ``mps``."""
    import torch

    found = ["cpu"]
    if torch.cuda.is_available():
        found += [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def check_device(device: str | int | None) -> None:
    """Raise :class:`ConfigError` (``option="device"``) unless ``device`` exists on this machine.

    None and ``""`` (let the backend choose) and ``"cpu"`` are always fine and import nothing.
    """
    if device is None:
        return
    text = str(device).strip().lower().replace(" ", "")
    if text in ("", "cpu"):
        return
    match = _CUDA.match(text)
    if match is None and text != "mps":
        raise ConfigError(
            f"unknown device {device!r}; devices on this machine: {', '.join(available_devices())}; "
            "pass one of them (cpu, 0, cuda:0, ...)",
            option="device",
        )
    import torch

    have = available_devices()
    if text == "mps":
        if "mps" not in have:
            raise ConfigError(
                f"device 'mps' (Apple GPU) is not available here; devices on this machine: {', '.join(have)}",
                option="device",
            )
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert match is not None
    wanted = [int(i) for i in match.group(1).split(",")] if match.group(1) else [0]
    missing = [i for i in wanted if i >= count]
    if missing:
        why = "no CUDA GPU is visible to PyTorch" if count == 0 else f"{count} CUDA GPU(s) are visible"
        raise ConfigError(
            f"device {device!r} does not exist here ({why}); devices on this machine: {', '.join(have)}; "
            f"pass one of them, e.g. {'cpu' if count == 0 else 'cuda:0'}",
            option="device",
        )
