"""Export a classifier with its calibrator folded in, so the export's own softmax output is the calibrated probability.

``softmax(W x + b) / T`` is not what we want; ``softmax((W x + b) / T)`` is, and it equals
``softmax((W / T) x + b / T)``. Dividing the final linear layer's weight and bias by T (in a deep
copy, :func:`~yolo_probs.calibration.fold.fold_temperature`) therefore bakes the temperature into the
deployed graph at zero runtime cost; other calibrators fold themselves (:meth:`Calibrator.fold`). T,
the source model and the profile it came from are recorded in the export's metadata (ONNX
``metadata_props``, TorchScript extra file ``yolo_probs.json``).

Example:
    >>> import tempfile, torch
    >>> net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 4))
    >>> result = export_folded(net, output=tempfile.mkdtemp() + "/net.onnx", temperature=2.0, imgsz=16)
    >>> result.format, result.temperature, result.layer
    ('onnx', 2.0, '2')
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolo_probs.backends.engines.graph import trace_onnx
from yolo_probs.backends.exported import EXPORTED_SUFFIXES, META_PREFIX, TORCHSCRIPT_META, TORCHSCRIPT_SUFFIXES
from yolo_probs.backends.identify import is_ultralytics
from yolo_probs.backends.torch_module import load_module
from yolo_probs.backends.ultralytics import load_classifier
from yolo_probs.calibration import TemperatureScaling
from yolo_probs.core.checks import check_path
from yolo_probs.core.names import load_names, names_of
from yolo_probs.errors import ConfigError, ModelError
from yolo_probs.inputs.preprocess import Preprocess, check_size
from yolo_probs.outputs.files import check_output, output_path

if TYPE_CHECKING:
    import torch
    from torch import nn

    from yolo_probs.calibration.base import Calibrator
    from yolo_probs.inputs.preprocess import Preprocess

__all__ = ["EXPORT_FORMATS", "ExportResult", "export_folded"]

EXPORT_FORMATS = ("onnx", "torchscript")


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_folded` wrote.

    Attributes:
        path: the exported file.
        format: ``"onnx"`` or ``"torchscript"``.
        temperature: the temperature folded into the final layer.
        layer: name of the layer whose weight and bias were divided by it.
        profile: the deployment profile it came from, if any.
        method: the calibration method folded in (``temperature`` is the calibrator's T, 1.0 if it has none).
    """

    path: Path
    format: str
    temperature: float
    layer: str
    profile: str | None = None
    method: str = "temperature"


def _quiet_ultralytics() -> Any:
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    LOGGER.setLevel(logging.WARNING)
    return LOGGER, level


def _export_ultralytics(
    model: Any, cal: Calibrator, fmt: str, workdir: Path, imgsz: int | None, layer: str | None, extras: bool = False
) -> tuple[Path, str, dict[str, Any]]:
    """Fold T into a copy of an Ultralytics classifier and export it with Ultralytics' own exporter.

    With ``extras`` the graph is exported by :func:`_export_extra_outputs` instead, with the metadata
    keys of Ultralytics' exports that a reader needs (task, image size, names).
    """
    from ultralytics.engine.exporter import Exporter

    yolo = load_classifier(model)
    source: nn.Module = yolo.model  # type: ignore[assignment]  # a loaded YOLO always holds its nn.Module
    size = imgsz or int((getattr(source, "args", None) or {}).get("imgsz", 224))
    net, name = cal.fold(source, layer)
    if extras:
        produced = _export_extra_outputs(source, net, name, workdir, size)
        own = yolo.names
        labels = dict(own) if isinstance(own, dict) else dict(enumerate(own))
        return produced, name, {"task": "classify", "imgsz": [size, size], "names": labels}
    # The exporter writes next to this path: keep it in our temp folder.
    setattr(net, "pt_path", str(workdir / "model.pt"))  # noqa: B010
    args = {"task": "classify", "mode": "export", "format": fmt, "imgsz": size, "batch": 1, "device": "cpu"}
    args |= {"verbose": False, "dynamic": True, "quantize": None}
    if fmt == "onnx":
        args |= {"simplify": True}
    logger, level = _quiet_ultralytics()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit deprecation notes on TorchScript export
            produced = Path(Exporter(overrides=args)(model=net))
    finally:
        logger.setLevel(level)
    return produced, name, {}


def _export_module(
    module: nn.Module,
    cal: Calibrator,
    fmt: str,
    workdir: Path,
    imgsz: int | None,
    layer: str | None,
    preprocess: Preprocess | None,
    names: Any,
    extras: bool = False,
) -> tuple[Path, str, dict[str, Any]]:
    """Fold T into a copy of a plain PyTorch classifier and export ``softmax(module(x))``."""
    import torch
    from torch import nn

    net, name = cal.fold(module, layer)
    pre = preprocess or Preprocess.imagenet(imgsz or 224)
    wrapped = nn.Sequential(net, nn.Softmax(dim=1)).eval()
    x = torch.zeros(1, 3, pre.size, pre.size)
    with torch.no_grad():
        probe = wrapped(x)
    if probe.ndim != 2:
        raise ModelError(f"{type(module).__name__} outputs shape {list(probe.shape)}, not [batch, classes]")
    labels = load_names(names, int(probe.shape[1]), default=names_of(module))
    meta: dict[str, Any] = {"imgsz": [pre.size, pre.size], f"{META_PREFIX}preprocess": dataclasses.asdict(pre)}
    if labels != tuple(str(i) for i in range(len(labels))):  # index names are the default: no need to store them
        meta["names"] = dict(enumerate(labels))
    if extras:
        produced = _export_extra_outputs(module, net, name, workdir, pre.size)
    elif fmt == "onnx":
        produced = workdir / "model.onnx"
        trace_onnx(wrapped, x, produced, ["output0"])
    else:
        produced = workdir / "model.torchscript"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch >= 2.9 deprecates TorchScript, still supported
            torch.jit.trace(wrapped, x).save(str(produced))
    return produced, name, meta


def _export_extra_outputs(module: nn.Module, folded: nn.Module, name: str, workdir: Path, size: int) -> Path:
    """Export ONNX with outputs ``output0`` (calibrated probabilities), ``logits`` (raw) and ``features``.

    ``logits`` are the original final layer's output (before the folded temperature) and ``features``
    its flattened input, as the hook path captures them; the original layer is kept beside the folded
    one and applied to the same features, so the backbone runs once.
    """
    import torch
    from torch import nn

    folded = folded.float().eval()
    raw_head = copy.deepcopy(module.get_submodule(name)).float().eval()

    class ExtraOutputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net, self.raw = folded, raw_head
            self.seen: list[torch.Tensor] = []
            folded.get_submodule(name).register_forward_hook(lambda m, i, o: self.seen.extend([o, i[0]]))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            self.seen.clear()
            self.net(x)
            calibrated, feats = self.seen[-2], self.seen[-1]
            logits = self.raw(feats)
            return torch.softmax(calibrated.flatten(1), dim=1), logits.flatten(1), feats.flatten(1)

    graph = ExtraOutputs().eval()
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        probs, _, _ = graph(x)
    if probs.ndim != 2:
        raise ModelError(f"layer {name!r} outputs shape {list(probs.shape)}, not [batch, classes]")
    produced = workdir / "model.onnx"
    trace_onnx(graph, x, produced, ["output0", "logits", "features"])
    return produced


def _write_metadata(produced: Path, fmt: str, meta: dict[str, Any], output: Path) -> None:
    if fmt == "onnx":
        import onnx

        proto = onnx.load(str(produced))
        existing = {p.key: p for p in proto.metadata_props}
        for key, value in meta.items():
            prop = existing.get(key) or proto.metadata_props.add()
            prop.key, prop.value = key, str(value)
        onnx.save(proto, str(output))
        return
    import torch

    extra = {"config.txt": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated in torch >= 2.9, still works
        scripted = torch.jit.load(str(produced), map_location="cpu", _extra_files=extra)
        files = {TORCHSCRIPT_META: json.dumps(meta)}
        if extra["config.txt"]:
            files["config.txt"] = extra["config.txt"]  # keep Ultralytics' own metadata (names, imgsz)
        torch.jit.save(scripted, str(output), _extra_files=files)


def export_folded(
    model: Any,
    *,
    output: str | os.PathLike[str],
    temperature: float = 1.0,
    calibrator: Calibrator | None = None,
    format: str | None = None,
    imgsz: int | None = None,
    profile: str | os.PathLike[str] | None = None,
    layer: str | None = None,
    preprocess: Preprocess | None = None,
    names: Any = None,
    extra_outputs: bool = False,
) -> ExportResult:
    """Export ``model`` with ``temperature`` folded into its final linear layer.

    The file is written by the one file writer (:mod:`yolo_probs.outputs.files`): a regular file is
    replaced atomically when the export is complete (keeping its permission bits), a symlink's target is
    written, and a FIFO, a device or stdout (``-``) gets the finished file streamed into it. The output is
    checked before the export starts: never a folder, socket or block device, nor one of the inputs.

    Args:
        model: an Ultralytics checkpoint/YAML/``YOLO``, an ``nn.Module``, a pickled-module ``.pt`` file or
            ``package.module:factory``.
        output: the file to write (its folder must exist).
        temperature: T > 0; the export's softmax output is ``softmax(logits / T)``.
        calibrator: a fitted calibrator to fold in instead of ``temperature`` (see :meth:`Calibrator.fold`).
        format: ``"onnx"`` or ``"torchscript"``; default from the ``output`` suffix, else ONNX.
        imgsz: input size (default: the checkpoint's own, 224 for plain modules).
        profile: the deployment profile T came from, recorded in the metadata.
        layer, preprocess, names: for plain PyTorch modules, as in :class:`~yolo_probs.api.model.YoloProbs`.
        extra_outputs: ONNX only, temperature scaling only: add the outputs ``logits`` (the original
            model's raw logits, before the folded temperature) and ``features`` (the input of the final
            layer) after the calibrated probabilities (still output 0), so logit and feature scores
            (energy, max-logit, k-NN) work on the export.

    Raises:
        ConfigError: a bad format, option or output path (before any work).
        ModelError: the model cannot be exported (already exported, not a classifier).
        OutputError: writing the file failed (disk full...); an old file is left as it was.

    Example:
        >>> import tempfile, torchvision
        >>> from yolo_probs.export.exporter import export_folded
        >>> net = torchvision.models.resnet18(weights=None, num_classes=10)
        >>> out = tempfile.mkdtemp() + "/resnet.onnx"
        >>> export_folded(net, output=out, temperature=2.0, imgsz=32).layer
        'fc'
    """
    _check_arguments(model, output, format, profile, imgsz)
    cal = calibrator if calibrator is not None else TemperatureScaling(temperature)
    fmt = _export_format(output, format, extra_outputs, cal)
    _check_paths(model, output, profile, fmt)
    from torch import nn

    module = None
    if not is_ultralytics(model):
        module = model if isinstance(model, nn.Module) else load_module(model)
    elif preprocess is not None or names is not None:
        raise ConfigError("preprocessing and names options apply to plain PyTorch models only")
    with tempfile.TemporaryDirectory(prefix="yolo-probs-export-") as tmp:
        if module is None:
            produced, name, meta = _export_ultralytics(model, cal, fmt, Path(tmp), imgsz, layer, extra_outputs)
        else:
            produced, name, meta = _export_module(
                module, cal, fmt, Path(tmp), imgsz, layer, preprocess, names, extra_outputs
            )
        meta |= _provenance(model, cal, name, profile)
        with output_path(output, suffix=f".{fmt}", what=f"an {fmt} export") as final:
            _write_metadata(produced, fmt, meta, final)
    t = cal.temperature if cal.temperature is not None else 1.0
    return ExportResult(Path(output), fmt, t, name, os.fspath(profile) if profile is not None else None, cal.method)


def _check_arguments(model: Any, output: Any, format: Any, profile: Any, imgsz: Any) -> None:
    """ConfigError naming the argument whose type is wrong, before anything is loaded or written."""
    from torch import nn

    if not (isinstance(model, str | os.PathLike | nn.Module) or is_ultralytics(model)) or (
        isinstance(model, str | os.PathLike) and not os.fspath(model)
    ):
        raise ConfigError(
            f"model must be a checkpoint path, an ultralytics.YOLO or a torch.nn.Module, got {type(model).__name__}; "
            "pass e.g. 'yolo26n-cls.pt'",
            option="model",
        )
    check_path(output, "output", "model.onnx")
    if format is not None and not isinstance(format, str):
        raise ConfigError(f"format must be one of {', '.join(EXPORT_FORMATS)} or None, got {format!r}", option="format")
    if profile is not None:
        check_path(profile, "profile", "profile.yaml")
    check_size(imgsz, "imgsz", "imgsz")


def _export_format(output: str | os.PathLike[str], format: str | None, extra_outputs: bool, cal: Calibrator) -> str:
    """The export format (``format``, else the output suffix's, else ONNX), checked against the other options."""
    suffix = Path(output).suffix.lower()
    by_suffix = "torchscript" if suffix in TORCHSCRIPT_SUFFIXES else "onnx" if suffix == ".onnx" else None
    fmt = format or by_suffix or "onnx"
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if by_suffix is not None and fmt != by_suffix:  # a .onnx file holding TorchScript would fool every reader
        want = ".onnx" if fmt == "onnx" else ".torchscript"
        raise ConfigError(
            f"format {fmt} does not match the output {os.fspath(output)} (its suffix {suffix} means {by_suffix}); "
            f"name the output *{want}, or choose format {by_suffix}",
            option="output",
        )
    if extra_outputs and fmt != "onnx":
        raise ConfigError(
            f"the extra logits and features outputs are available in ONNX exports only, not {fmt}; "
            "name the output *.onnx or leave them out",
            option="extra_outputs",
        )
    if extra_outputs and cal.method != "temperature":
        raise ConfigError(
            f"the extra logits and features outputs need temperature scaling, but the calibrator is {cal.method} "
            "(a reader of the export could not apply it to the raw logits); export without them",
            option="extra_outputs",
        )
    return fmt


def _check_paths(model: Any, output: str | os.PathLike[str], profile: str | os.PathLike[str] | None, fmt: str) -> None:
    """Before spending time on the export: ``output`` is writable and no input, ``model`` has weights to fold."""
    inputs = [model if isinstance(model, str | os.PathLike) else None, profile]
    check_output(output, option="output", inputs=inputs, what=f"an {fmt} export", example=f"model.{fmt}")
    if isinstance(model, str | os.PathLike) and Path(model).suffix.lower() in EXPORTED_SUFFIXES:
        raise ModelError(
            f"{os.fspath(model)} is already exported and has no weights to fold a temperature into; "
            "export from the PyTorch checkpoint (.pt)"
        )


def _provenance(model: Any, cal: Calibrator, layer: str, profile: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The export's yolo_probs metadata: what is folded in, into which layer, from which model and profile."""
    source = model if isinstance(model, str | os.PathLike) else type(model).__name__
    return {
        **_calibrator_meta(cal),
        f"{META_PREFIX}layer": layer,
        f"{META_PREFIX}source": os.fspath(source),
        f"{META_PREFIX}profile": os.fspath(profile) if profile is not None else None,
    }


def _calibrator_meta(cal: Calibrator) -> dict[str, Any]:
    """The metadata that tells a loader what is folded in: ``temperature``, or the calibrator's mapping."""
    if cal.method == "temperature":
        return {f"{META_PREFIX}temperature": cal.temperature}
    return {f"{META_PREFIX}calibrator": json.dumps(cal.to_dict())}
