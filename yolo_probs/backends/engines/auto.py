"""``engine="auto"``: the fastest engine installed for the device, torch where none applies.

On the CPU the order is :data:`CPU_PREFERENCE`: ONNX Runtime, then OpenVINO. With one compute
thread, ONNX Runtime's forward of yolo26n-cls at imgsz 224 took 2.5 ms of CPU per image at batch 1
and 2.3 ms at batch 8, OpenVINO's (f32) 2.9 and 2.7 ms (15 alternating rounds, process CPU time,
which stays meaningful on a loaded machine); on a GPU, and for models that are not Ultralytics checkpoints, the
model's own backend. The choice is logged on the ``yolo_probs`` logger (``--verbose`` shows it) and
kept in :attr:`AutoEngine.last_choice`.

Example:
    >>> from yolo_probs.backends.engines.auto import AutoEngine, CPU_PREFERENCE
    >>> CPU_PREFERENCE
    ('onnxruntime', 'openvino')
"""

from __future__ import annotations

import logging
from typing import Any

from yolo_probs.backends.base import BackendOptions, engine_factories
from yolo_probs.backends.engines.base import EngineFactory, claimed_elsewhere, load_engine, load_torch

__all__ = ["CPU_PREFERENCE", "ENGINE", "AutoEngine", "choose_engine"]

log = logging.getLogger("yolo_probs")

#: Fastest first, on the 2-core benchmark machine (see docs/performance.md).
CPU_PREFERENCE = ("onnxruntime", "openvino")


def _wants_gpu(device: str | None) -> bool:
    if device not in (None, ""):
        return device != "cpu"
    try:  # no device given: Ultralytics picks the GPU when there is one
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def choose_engine(device: str | None) -> tuple[str, str]:
    """``(engine, why)`` for ``device``: the first installed engine of :data:`CPU_PREFERENCE` on the CPU, else torch."""
    if _wants_gpu(device):
        return "torch", "a GPU runs the torch path"
    found = engine_factories()
    for name in CPU_PREFERENCE:
        if name in found and found[name].available():
            return name, "the fastest engine installed for the CPU"
    return "torch", "no fast engine is installed"


class AutoEngine(EngineFactory):
    """Registered under ``engine="auto"``; hands the model to the chosen engine."""

    name = "auto"
    last_choice: tuple[str, str] | None = None

    def available(self) -> bool:
        """Always: torch is the last resort."""
        return True

    def __call__(self, model: Any, options: BackendOptions) -> Any:
        other = claimed_elsewhere(model, options)
        if other is not None:  # exports and plain modules keep their own backend
            return other(model, options.with_(engine=None))
        engine, why = choose_engine(options.device)
        AutoEngine.last_choice = (engine, why)
        log.info("engine auto: %s (%s)", engine, why)
        if engine == "torch":
            return load_torch(model, options)
        return load_engine(engine_factories()[engine], model, options.with_(engine=engine))


#: The instance listed in :data:`~yolo_probs.backends.base.BACKENDS`.
ENGINE = AutoEngine()
