"""Exported classifiers (ONNX, TorchScript): nothing to hook, so logits are recovered from the output.

Ultralytics exports (and the folded exports of ``yolo-probs export``) end in a softmax. Softmax is
shift-invariant, so ``log(p)`` differs from the true logits by one constant per image and
``softmax(log(p) / T) == softmax(logits / T)`` exactly, for every T. The exception is a class whose
probability underflowed to 0 or into float subnormals: its logit is lost (``-inf``) or imprecise, so
a :class:`ProbabilityUnderflowWarning` says how many classes were affected. A graph whose output is
not a probability vector is taken to output logits already.

Example:
    >>> import numpy as np
    >>> from yolo_probs.backends.exported import outputs_to_logits
    >>> logits, how, underflowed = outputs_to_logits(np.array([[0.7, 0.2, 0.1]], np.float32))
    >>> how, underflowed, np.exp(logits.astype(np.float64)).round(3).tolist()
    ('log(prob)', 0, [[0.7, 0.2, 0.1]])
"""

from __future__ import annotations

import ast
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs._util.onnxruntime_env import import_onnxruntime
from yolo_probs._util.threads import engine_threads
from yolo_probs.backends.base import BackendOptions, BackendOutput
from yolo_probs.backends.torch_module import torch_device
from yolo_probs.core.checks import float32_batch
from yolo_probs.core.names import load_names
from yolo_probs.errors import ConfigError, ModelError, first_line
from yolo_probs.inputs.fast_preprocess import fast_preprocess, supports
from yolo_probs.inputs.preprocess import Preprocess

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "EXPORTED_SUFFIXES",
    "ExportedBackend",
    "OnnxBackend",
    "ProbabilityUnderflowWarning",
    "TorchScriptBackend",
    "outputs_to_logits",
    "read_metadata",
]

ONNX_SUFFIXES = {".onnx"}
TORCHSCRIPT_SUFFIXES = {".torchscript", ".ts", ".jit"}
EXPORTED_SUFFIXES = ONNX_SUFFIXES | TORCHSCRIPT_SUFFIXES
# Key of the extra file / metadata entries yolo-probs adds to its own exports.
META_PREFIX = "yolo_probs_"
TORCHSCRIPT_META = "yolo_probs.json"


class ProbabilityUnderflowWarning(UserWarning):
    """Some probabilities of an exported model were 0 or subnormal: temperature scaling is inexact for them."""


def _looks_like_probs(out: np.ndarray) -> bool:
    """Rows of non-negative numbers that sum to 1 (to float32 rounding on a few thousand classes)."""
    if not np.all(np.isfinite(out)) or np.any(out < 0) or np.any(out > 1):
        return False
    return bool(np.all(np.abs(out.astype(np.float64).sum(axis=1) - 1.0) < 1e-3))


def outputs_to_logits(out: np.ndarray) -> tuple[np.ndarray, str, int]:
    """Turn an exported model's (N, C) output into logits.

    Returns ``(logits, how, affected)``: ``how`` is ``"log(prob)"`` for probability outputs (then
    ``affected`` counts the classes, over the batch, whose probability was 0 or below the smallest
    normal float of the output dtype) or ``"output"`` for graphs that already output logits.
    Never NaN: a zero probability gives ``-inf``, which the math core turns back into probability 0.
    """
    out = np.asarray(out)
    if not _looks_like_probs(out):
        return out.astype(np.float32, copy=False), "output", 0
    tiny = np.finfo(out.dtype if np.issubdtype(out.dtype, np.floating) else np.float32).tiny
    affected = int(np.count_nonzero(np.any(out < tiny, axis=0)))
    with np.errstate(divide="ignore"):
        logits = np.log(out.astype(np.float64)).astype(np.float32)
    return logits, "log(prob)", affected


def _folded_calibrator(metadata: dict[str, Any]) -> dict[str, Any] | None:
    """The calibrator mapping a yolo-probs export recorded (JSON text in ONNX metadata, a dict in TorchScript)."""
    raw = metadata.get(f"{META_PREFIX}calibrator")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    return raw if isinstance(raw, dict) and isinstance(raw.get("method"), str) else None


def _parse(value: str) -> Any:
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of an ONNX or TorchScript export (Ultralytics' and yolo-probs' keys), values parsed."""
    path = Path(path)
    if path.suffix.lower() in ONNX_SUFFIXES:
        import onnx

        proto = onnx.load(str(path), load_external_data=False)
        return {p.key: _parse(p.value) for p in proto.metadata_props}
    import torch

    extra = {"config.txt": "", TORCHSCRIPT_META: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch >= 2.9, still works
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    meta: dict[str, Any] = {}
    for raw in (extra["config.txt"], extra[TORCHSCRIPT_META]):
        if raw:
            meta.update(json.loads(raw))
    return meta


def _model_file(model: str | os.PathLike[str]) -> Path:
    """``model`` as the path of an existing file; ModelError for a folder or a missing file."""
    path = Path(model)
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder, not a model file; pass the path of an exported classifier", option="model"
        )
    if not path.is_file():
        raise ModelError(f"model file not found: {path}; pass the path of an exported classifier", option="model")
    return path


class ExportedBackend:
    """Common part of the ONNX and TorchScript backends: metadata, preprocessing, logits from the output.

    Args:
        model: the ``.onnx`` or ``.torchscript`` file.
        options: ``preprocess`` (default: Ultralytics' classify transforms for Ultralytics exports, the
            recorded recipe for yolo-probs exports, else ImageNet preprocessing), ``names`` (default: the
            export's metadata, else indices), ``imgsz`` (default: the metadata or input shape) and
            ``device`` (``"cpu"`` by default) apply.

    ``folded_temperature`` is the temperature a yolo-probs export has folded into its output (None for
    other exports); :meth:`run` multiplies it back out, so the logits it returns are always the original
    model's (up to a constant per row), and ``temperature`` keeps one meaning everywhere.
    ``folded_calibrator`` is the mapping of another calibration method folded in (vector scaling,
    Dirichlet, ETS): those cannot be undone, so the logits are the calibrated log-probabilities and
    :class:`~yolo_probs.api.model.YoloProbs` applies nothing more (see :class:`~yolo_probs.calibration.folded.Folded`).

    An ONNX graph with outputs named ``logits`` (and ``features``), as ``yolo-probs export --logits``
    writes, gives the original model's raw logits directly (``how == "output"``; the folded temperature
    is still reported but not multiplied out) and the features when asked for.
    """

    name = "exported"
    suffixes: frozenset[str] = frozenset()

    @classmethod
    def can_load(cls, model: Any, options: BackendOptions) -> bool:
        """Paths with this backend's suffixes."""
        return isinstance(model, str | os.PathLike) and Path(model).suffix.lower() in cls.suffixes

    def __init__(self, model: str | os.PathLike[str], options: BackendOptions) -> None:
        if options.layer is not None:
            raise ConfigError(f"layer does not apply to exported model {os.fspath(model)}: it has no layers to hook")
        self.path = _model_file(model)
        self._warned = False
        self._input_size: int | None = None
        self._logits_output: str | None = None  # names of extra raw-logits / features outputs, if the graph has them
        self._features_output: str | None = None
        self.device_type = "cpu"
        try:
            self.metadata = read_metadata(self.path)
            self._load(options.device)
        except (ModelError, ConfigError):
            raise
        except Exception as exc:
            first = first_line(exc)
            raise ModelError(
                f"cannot load exported model {self.path} ({first}); pass an ONNX or TorchScript classifier"
            ) from None
        self.preprocess = options.preprocess if options.preprocess is not None else self._own_preprocess(options.imgsz)
        folded = self.metadata.get(f"{META_PREFIX}temperature")
        self.folded_temperature: float | None = float(folded) if isinstance(folded, int | float) else None
        self.folded_calibrator: dict[str, Any] | None = _folded_calibrator(self.metadata)
        self.num_classes = self._probe_classes()
        self.names: tuple[str, ...] = load_names(options.names, self.num_classes, default=self.metadata.get("names"))

    def _own_preprocess(self, imgsz: int | None) -> Preprocess:
        """The recipe a yolo-probs export recorded, else Ultralytics' for its exports, else ImageNet's.

        The size is ``imgsz``, else the metadata's, else the graph input's, else 224.
        """
        recorded = self.metadata.get(f"{META_PREFIX}preprocess")
        if isinstance(recorded, dict):
            return Preprocess(**recorded)
        meta_size = self.metadata.get("imgsz")
        if imgsz is None:
            imgsz = int(meta_size[0]) if isinstance(meta_size, list | tuple) else self._input_size or 224
        ultralytics = self.metadata.get("task") == "classify"
        return Preprocess.ultralytics(imgsz) if ultralytics else Preprocess.imagenet(imgsz)

    def _probe_classes(self) -> int:
        """The class count, from a forward of a blank image; ModelError unless the output is ``[batch, classes]``."""
        size = self.preprocess.size
        probe = self._forward(np.zeros((1, 3, size, size), np.float32))
        if probe.ndim != 2 or probe.shape[0] != 1:
            raise ModelError(
                f"{self.path} is not a classifier: its output has shape {list(probe.shape)}, not [batch, classes]"
            )
        return int(probe.shape[1])

    def _load(self, device: str | None) -> None:
        raise NotImplementedError

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _forward_named(self, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
        raise NotImplementedError

    def run_tensor(self, batch: Any, *, features: bool = False) -> BackendOutput:
        """A preprocessed (N, 3, H, W) float32 batch -> logits (features only from a ``features`` output)."""
        batch = float32_batch(batch)
        if self._logits_output is not None:  # the graph gives the raw logits: nothing to recover or undo
            want = [self._logits_output] + ([self._features_output] if features and self._features_output else [])
            got = self._forward_named(batch, want)
            feats = got[1].reshape(len(got[1]), -1) if len(got) > 1 else None
            return BackendOutput(got[0].astype(np.float32, copy=False), "output", feats)
        out = self._forward(batch)
        logits, how, affected = outputs_to_logits(out)
        if self.folded_temperature is not None:  # back to the original model's logits (up to a shift per row)
            logits = logits * np.float32(self.folded_temperature)
        if affected and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.path.name}: {affected} of {out.shape[1]} classes had probabilities that underflowed to 0 "
                "or below float resolution; their recovered logits are -inf or imprecise, so temperature "
                "scaling is not exact for them (export without the final softmax to avoid this)",
                ProbabilityUnderflowWarning,
                stacklevel=3,
            )
        return BackendOutput(logits, how)

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """BGR frames -> logits."""
        return self.run_tensor(self.preprocess(images), features=features)

    def close(self) -> None:
        """Nothing to release beyond what garbage collection frees; the session stays usable."""


class OnnxBackend(ExportedBackend):
    """An ``.onnx`` classifier run by ONNX Runtime (CUDA when asked for and available)."""

    name = "onnx"
    suffixes = frozenset(ONNX_SUFFIXES)

    def _load(self, device: str | None) -> None:
        ort = import_onnxruntime()  # without its telemetry warning where the cache home is not writable
        want_cuda = device not in (None, "", "cpu")
        providers = ["CPUExecutionProvider"]
        if want_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
            self.device_type = "cuda"

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # Half the cores at most: the other half decode and preprocess (see yolo_probs.inputs.readahead); two
        # compute threads on two cores fight the decoder and stall whenever another process holds a core.
        options.intra_op_num_threads = engine_threads()[0]
        self._session = ort.InferenceSession(str(self.path), options, providers=providers)
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        shape = outputs[0].shape
        if len(inputs) != 1 or len(shape) != 2:
            raise ModelError(
                f"{self.path} is not a classifier: it has {len(inputs)} input(s) and outputs "
                f"{[list(o.shape) for o in outputs]}, not one [batch, classes] output"
            )
        in_shape = inputs[0].shape
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        named = {o.name for o in outputs[1:]}
        if "logits" in named:
            self._logits_output = "logits"
            self._features_output = "features" if "features" in named else None
        self._fixed_batch = in_shape[0] if isinstance(in_shape[0], int) else None
        self._input_size = in_shape[-1] if len(in_shape) == 4 and isinstance(in_shape[-1], int) else None

    def prepare(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """BGR frames -> the input batch, with numpy/PIL only where that gives the same pixels (thread-safe)."""
        return fast_preprocess(self.preprocess, images) if supports(self.preprocess) else self.preprocess(images)

    def run(self, images: Sequence[np.ndarray], *, features: bool = False) -> BackendOutput:
        """BGR frames -> logits."""
        return self.run_tensor(self.prepare(images), features=features)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        return self._forward_named(batch, [self._output_name])[0]

    def _forward_named(self, batch: np.ndarray, names: list[str]) -> list[np.ndarray]:
        if self._fixed_batch is not None and batch.shape[0] != self._fixed_batch:
            # A fixed-batch export (Ultralytics' default) runs one image at a time.
            parts = [self._forward_named(batch[i : i + 1], names) for i in range(batch.shape[0])]
            return [np.concatenate([p[j] for p in parts]) for j in range(len(names))]
        return [np.asarray(o) for o in self._session.run(names, {self._input_name: batch})]


class TorchScriptBackend(ExportedBackend):
    """A TorchScript classifier (``.torchscript``, ``.ts``, ``.jit``) run by ``torch.jit``."""

    name = "torchscript"
    suffixes = frozenset(TORCHSCRIPT_SUFFIXES)

    def _load(self, device: str | None) -> None:
        import torch

        self.device = torch_device(device or "cpu")
        self.device_type = self.device.type
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            self._module = torch.jit.load(str(self.path), map_location=self.device).eval()

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self._module(torch.from_numpy(batch).to(self.device))
        if isinstance(out, list | tuple):
            out = out[0]
        return np.asarray(out.float().cpu().numpy())
