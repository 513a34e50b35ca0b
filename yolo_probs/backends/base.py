"""The backend interface: how a model turns frames into logits, and the registry that picks a backend.

:class:`~yolo_probs.model.YoloProbs` holds exactly one backend and never branches on the kind of
model. A backend is any object with ``names``, ``folded_temperature``, ``run``, ``run_tensor`` and
``close`` (see :class:`Backend`); the built-in ones (Ultralytics predictor, plain ``torch.nn.Module``,
ONNX, TorchScript, and the fast engines) are classes registered in :data:`BACKENDS` that also answer
``can_load(model, options)``. Adding an engine is one module with one class plus one
:func:`register_backend` line.

Example:
    >>> import numpy as np
    >>> from yolo_probs.backends import BackendOutput, resolve_backend
    >>> class Constant:  # a backend of your own: any object with these members
    ...     names = ("cat", "dog")
    ...     folded_temperature = None
    ...     device_type = "cpu"
    ...     def run(self, images, *, features=False):
    ...         return BackendOutput(np.tile(np.float32([2.0, 0.0]), (len(images), 1)), "output")
    ...     def run_tensor(self, batch, *, features=False):
    ...         return self.run(list(batch), features=features)
    ...     def close(self):
    ...         pass
    >>> backend = Constant()
    >>> resolve_backend(backend) is backend
    True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from yolo_probs.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from yolo_probs.preprocess import Preprocess

__all__ = [
    "BACKENDS",
    "MAX_IMGSZ",
    "Backend",
    "BackendFactory",
    "BackendOptions",
    "BackendOutput",
    "register_backend",
    "resolve_backend",
    "shown_model",
]


def shown_model(model: Any) -> str:
    """How a model is named in messages: its path, else its type's name."""
    return os.fspath(model) if isinstance(model, str | os.PathLike) else type(model).__name__


#: Largest accepted inference size: 4096 px (a 3 x 4096 x 4096 float32 input is 200 MB per image).
MAX_IMGSZ = 4096


@dataclass(frozen=True)
class BackendOptions:
    """How the caller wants the model run; every backend reads the fields that apply to it.

    Attributes:
        layer: plain PyTorch models: name of the layer whose output are the logits.
        preprocess: plain PyTorch and exported models: explicit preprocessing.
        names: class names (list, mapping or file) replacing the model's own.
        imgsz: inference size; None keeps the model's own.
        device: ``"cpu"``, ``"0"``, ``"cuda:0"``...; None lets the backend choose.
        batch: images per forward pass.
        half: float16 on GPU.
        engine: ``"torch"`` (hook the PyTorch model), a fast engine name, or ``"auto"``; None means torch.
    """

    layer: str | None = None
    preprocess: Preprocess | None = None
    names: Any = None
    imgsz: int | None = None
    device: str | None = None
    batch: int = 1
    half: bool = False
    engine: str | None = None

    def __post_init__(self) -> None:
        batch, imgsz = self.batch, self.imgsz
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a whole number >= 1, got {batch!r}; pass e.g. 8")
        if imgsz is not None and (isinstance(imgsz, bool) or not isinstance(imgsz, int) or imgsz < 1):
            raise ConfigError(f"imgsz must be a whole number >= 1, got {imgsz!r}; pass e.g. 224", option="imgsz")
        if imgsz is not None and imgsz > MAX_IMGSZ:
            raise ConfigError(f"imgsz {imgsz} is above the limit of {MAX_IMGSZ} pixels; pass e.g. 224", option="imgsz")

    def with_(self, **changes: Any) -> BackendOptions:
        """A copy with some fields changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class BackendOutput:
    """What a backend returns for one batch.

    Attributes:
        logits: ``(N, C)`` float32 raw logits (``-inf`` where an export's probability underflowed).
        how: how they were obtained: ``"hook"`` (captured from the final layer), ``"log(prob)"``
            (recovered from a probability output), ``"output"`` (the graph outputs logits).
        features: ``(N, D)`` float32 input of the final layer when asked for and available, else None.
    """

    logits: np.ndarray
    how: str
    features: np.ndarray | None = None


@runtime_checkable
class Backend(Protocol):
    """What :class:`~yolo_probs.model.YoloProbs` needs from a model.

    ``names`` are the class names; ``folded_temperature`` is the temperature already applied inside
    the model's own output (a yolo-probs export records it), else None; ``device_type`` is ``"cpu"`` or
    ``"cuda"``. ``run`` takes BGR ``HxWx3`` uint8 frames, ``run_tensor`` an already preprocessed
    ``(N, 3, H, W)`` float batch (numpy or torch). ``close`` releases hooks and sessions; a later
    ``run`` sets them up again. A backend may also have ``prepare(images) -> batch`` (thread-safe,
    no model): :meth:`~yolo_probs.model.YoloProbs.predict_each` then preprocesses in a reader thread
    while the model runs (:mod:`yolo_probs.pipeline`).
    """

    names: tuple[str, ...]
    folded_temperature: float | None
    device_type: str

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput: ...

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput: ...

    def close(self) -> None: ...


class BackendFactory(Protocol):
    """A registered backend class: says whether it can load a model spec, and loads it."""

    name: str

    @classmethod
    def can_load(cls, model: Any, options: BackendOptions) -> bool: ...

    def __call__(self, model: Any, options: BackendOptions) -> Backend: ...


#: Registered backend classes, asked in order; the first whose ``can_load`` says yes loads the model.
BACKENDS: list[Any] = []


def register_backend(factory: Any, *, first: bool = False) -> Any:
    """Add a backend class to :data:`BACKENDS` (at the front with ``first``); returns it (usable as a decorator)."""
    if factory not in BACKENDS:
        BACKENDS.insert(0, factory) if first else BACKENDS.append(factory)
    return factory


def _is_backend(obj: Any) -> bool:
    return not isinstance(obj, type) and all(hasattr(obj, a) for a in ("names", "run", "run_tensor", "close"))


def resolve_backend(model: Any, options: BackendOptions | None = None) -> Backend:
    """The backend that runs ``model``: a backend object as given, else the first registered class that can load it.

    Raises:
        ModelError: no registered backend can load ``model`` (the message says what is accepted).
    """
    from yolo_probs.backends import load_builtin

    if _is_backend(model):
        return model  # type: ignore[no-any-return]
    load_builtin()
    opts = options or BackendOptions()
    engines = {"torch"} | {f.name for f in BACKENDS if getattr(f, "is_engine", False)}
    if opts.engine is not None and opts.engine not in engines:
        choices = ", ".join(sorted(engines))
        raise ConfigError(f"unknown engine {opts.engine!r}; choose one of {choices}", option="engine")
    for factory in BACKENDS:
        if factory.can_load(model, opts):
            return factory(model, opts)  # type: ignore[no-any-return]
    raise ModelError(
        f"no backend can load {shown_model(model)}: pass an Ultralytics -cls checkpoint (.pt) or YAML, an "
        ".onnx/.torchscript export, a torch.nn.Module, or a backend object"
    )
