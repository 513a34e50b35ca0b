"""The backend interface: how a model turns frames into logits, and the registry that picks a backend.

:class:`~yolo_probs.api.model.YoloProbs` holds exactly one backend and never branches on the kind of
model. A backend is any object with ``names``, ``folded_temperature``, ``run``, ``run_tensor`` and
``close`` (see :class:`Backend`); the built-in ones (Ultralytics predictor, plain ``torch.nn.Module``,
ONNX, TorchScript, and the fast engines) are classes registered in :data:`BACKENDS` that also answer
``can_load(model, options)``. Adding an engine is one module with one
:class:`~yolo_probs.backends.engines.base.EngineFactory` subclass and its instance ``ENGINE``, plus
one line naming that instance in the :data:`BACKENDS` table.

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

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from yolo_probs._util.registry import Registry
from yolo_probs.backends.identify import shown_model
from yolo_probs.core.checks import check_flag, describe
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.inputs.preprocess import Preprocess, check_size

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendFactory",
    "BackendOptions",
    "BackendOutput",
    "engine_factories",
    "register_backend",
    "resolve_backend",
]


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
        batch = self.batch
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be a whole number >= 1, got {batch!r}; pass e.g. 8")
        check_size(self.imgsz, "imgsz", "imgsz")
        check_flag(self.half, "half", option="half")
        for name in ("layer", "engine"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name} must be text or None, got {describe(value)}", option=name)
        if isinstance(self.device, bool) or not isinstance(self.device, str | int | None):
            raise ConfigError(
                f"device must be 'cpu', '0', 'cuda:0', ... or None, got {describe(self.device)}", option="device"
            )

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
    """What :class:`~yolo_probs.api.model.YoloProbs` needs from a model.

    ``names`` are the class names; ``folded_temperature`` is the temperature already applied inside
    the model's own output (a yolo-probs export records it), else None; ``device_type`` is ``"cpu"`` or
    ``"cuda"``. ``run`` takes BGR ``HxWx3`` uint8 frames, ``run_tensor`` an already preprocessed
    ``(N, 3, H, W)`` float batch (numpy or torch). ``close`` releases hooks and sessions; a later
    ``run`` sets them up again. A backend may also have ``prepare(images) -> batch`` (thread-safe,
    no model): :meth:`~yolo_probs.api.model.YoloProbs.predict_each` then preprocesses in a reader thread
    while the model runs (:mod:`yolo_probs.inputs.readahead`).
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


#: Backend factories by name, asked in order; the first whose ``can_load`` says yes loads the model.
#: The fast engines come first: they answer only when ``engine=`` names them, and then before any other
#: backend, so that an engine asked for a model it cannot run says so instead of being ignored. Then
#: exported graphs by suffix (ONNX, TorchScript), plain PyTorch modules, and Ultralytics last, whose
#: ``can_load`` takes any path. Adding an engine is one module (a factory class and its ``ENGINE``
#: instance) plus one ``"module:ENGINE"`` line here.
BACKENDS: Registry[Any] = Registry(
    "backend",
    {
        "onnxruntime": "yolo_probs.backends.engines.ort:ENGINE",
        "openvino": "yolo_probs.backends.engines.openvino:ENGINE",
        "auto": "yolo_probs.backends.engines.auto:ENGINE",
        "onnx": "yolo_probs.backends.exported:OnnxBackend",
        "torchscript": "yolo_probs.backends.exported:TorchScriptBackend",
        "torch-module": "yolo_probs.backends.torch_module:TorchBackend",
        "ultralytics-boxes": "yolo_probs.backends.ultralytics_boxes:UltralyticsBoxes",
        "ultralytics": "yolo_probs.backends.ultralytics:UltralyticsBackend",
    },
    option="engine",
)


def register_backend(factory: Any, *, first: bool = False) -> Any:
    """Add a backend class under its ``name`` (at the front with ``first``); returns it (usable as a decorator).

    ``factory`` must have a text ``name``, a callable ``can_load(model, options)`` and be callable itself
    (a class is); anything else is refused here, not at every later model load.

    Example:
        >>> register_backend(5)
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: factory must be a backend class with a name, can_load(model, options) and ...
    """
    name = getattr(factory, "name", None)
    if not (
        isinstance(name, str) and name.strip() and callable(getattr(factory, "can_load", None)) and callable(factory)
    ):
        raise ConfigError(
            "factory must be a backend class with a name, can_load(model, options) and __call__(model, options) "
            f"(see BackendFactory), got {factory!r} ({type(factory).__name__})",
            option="factory",
        )
    if not isinstance(first, bool):
        raise ConfigError(f"first must be True or False, got {first!r}", option="first")
    return BACKENDS.register(name, factory, first=first)


def engine_factories() -> dict[str, Any]:
    """The registered fast engines (``is_engine``), by name."""
    return {name: f for name, f in BACKENDS.items() if getattr(f, "is_engine", False)}


def _is_backend(obj: Any) -> bool:
    return not isinstance(obj, type) and all(hasattr(obj, a) for a in ("names", "run", "run_tensor", "close"))


def resolve_backend(model: Any, options: BackendOptions | None = None) -> Backend:
    """The backend that runs ``model``: a backend object as given, else the first registered class that can load it.

    Raises:
        ModelError: no registered backend can load ``model`` (the message says what is accepted).
    """
    if _is_backend(model):
        return model  # type: ignore[no-any-return]
    opts = options or BackendOptions()
    names = {"torch", *engine_factories()}
    if opts.engine is not None and opts.engine not in names:
        raise ConfigError(f"unknown engine {opts.engine!r}; choose one of {', '.join(sorted(names))}", option="engine")
    for factory in BACKENDS.values():
        if factory.can_load(model, opts):
            return factory(model, opts)  # type: ignore[no-any-return]
    raise ModelError(
        f"no backend can load {shown_model(model)}: pass an Ultralytics -cls checkpoint (.pt) or YAML, an "
        ".onnx/.torchscript export, a torch.nn.Module, or a backend object"
    )
