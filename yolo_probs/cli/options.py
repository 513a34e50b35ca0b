"""Options shared by every command that loads a model: plain PyTorch modules and exported graphs.

Each command adds these parameters to its signature and passes ``**model_kwargs(...)`` to
:class:`~yolo_probs.api.model.YoloProbs` (or :func:`~yolo_probs.export.folded.export_folded`).

Example:
    >>> kw = model_kwargs(layer=None, names=None, imgsz=32, resize=None, stretch=True, mean=None, std="none", bgr=False)
    >>> kw["preprocess"].size, kw["preprocess"].mode, kw["preprocess"].std
    (32, 'stretch', (1.0, 1.0, 1.0))
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from yolo_probs.api.model import YoloProbs
from yolo_probs.api.profile import load_profile
from yolo_probs.backends.ultralytics import DEFAULT_MODEL
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.api.profile import Profile

MODEL_HELP = (
    "Ultralytics -cls checkpoint (.pt) or YAML; exported .onnx / .torchscript; a .pt holding a pickled "
    "nn.Module; or package.module:factory (e.g. torchvision.models:resnet18)."
)

# Optional[...] rather than X | None: Typer reads these annotations at runtime.
ProfileOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--profile",
        "-p",
        help="Deployment profile (model, temperature, top-k, min-prob, imgsz); explicit flags override it.",
    ),
]
LayerOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--layer", help="Plain PyTorch models: the layer whose output are the logits (default: found)."),
]
NamesOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--names", help="Class names file: one per line, JSON or YAML (list or index: name)."),
]
ResizeOption = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--resize", help="Preprocessing: resize the shortest side to this, then center crop --imgsz."),
]
StretchOption = Annotated[
    bool, typer.Option("--stretch", help="Preprocessing: resize straight to --imgsz x --imgsz (no crop).")
]
MeanOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--mean", help="Preprocessing: per-channel mean after /255: 'imagenet', 'none' or R,G,B."),
]
StdOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--std", help="Preprocessing: per-channel std after /255: 'imagenet', 'none' or R,G,B."),
]
BgrOption = Annotated[bool, typer.Option("--bgr", help="Preprocessing: feed BGR channels instead of RGB.")]
EngineOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--engine",
        help="Ultralytics checkpoints: torch (hook the PyTorch model), onnxruntime, openvino, or auto (the fastest "
        "installed for the device; --verbose says which). [default: the profile's, else torch]",
    ),
]
ModelOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model", "-m", help=f"{MODEL_HELP} [default: the profile's, else yolo26n-cls.pt]"),
]
ImgszOption = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--imgsz", help="Inference size. [default: the profile's, else the checkpoint's own]"),
]
DeviceOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--device", help="cpu, 0, cuda:0, ...; default: Ultralytics' choice."),
]
BatchOption = Annotated[int, typer.Option("--batch", help="Images per forward pass.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Say on stderr which engine runs the model and where it is cached.")
]


def _channels(text: str | None, which: str) -> tuple[float, float, float] | None:
    if text is None:
        return None
    low = text.strip().lower()
    if low == "imagenet":
        return IMAGENET_MEAN if which == "mean" else IMAGENET_STD
    if low == "none":
        return (0.0, 0.0, 0.0) if which == "mean" else (1.0, 1.0, 1.0)
    try:
        values = tuple(float(v) for v in low.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise ConfigError(f"--{which} needs 'imagenet', 'none' or three numbers like 0.5,0.5,0.5, got {text!r}")
    return values  # type: ignore[return-value]


def model_kwargs(
    *,
    layer: str | None,
    names: Path | None,
    imgsz: int | None,
    resize: int | None,
    stretch: bool,
    mean: str | None,
    std: str | None,
    bgr: bool,
) -> dict[str, Any]:
    """``layer``, ``names`` and ``preprocess`` keyword arguments from the command-line options.

    Without any preprocessing option ``preprocess`` is None, so the model's own recipe applies
    (ImageNet for plain modules, the recorded one for exports). Otherwise the given options
    override ImageNet preprocessing at ``--imgsz`` (224 by default).
    """
    preprocess = None
    if resize is not None or stretch or mean is not None or std is not None or bgr:
        base = Preprocess.imagenet(imgsz or 224)
        changes: dict[str, Any] = {"rgb": not bgr}
        if resize is not None:
            changes["resize"] = resize
        if stretch:
            changes["mode"] = "stretch"
        for which, text in (("mean", mean), ("std", std)):
            value = _channels(text, which)
            if value is not None:
                changes[which] = value
        preprocess = dataclasses.replace(base, **changes)
    return {"layer": layer, "names": names, "preprocess": preprocess}


def merged_options(profile: Path | None, **explicit: Any) -> tuple[dict[str, Any], Profile | None]:
    """Keyword arguments for :class:`~yolo_probs.api.model.YoloProbs` from ``--profile`` and the flags given.

    Flags left at None keep the profile's values (see :meth:`Profile.model_kwargs`); without a profile
    only the flags given are returned. The profile's model is checked against its sha256 unless
    ``model`` is given.
    """
    if profile is None:
        return {k: v for k, v in explicit.items() if v is not None}, None

    saved = load_profile(profile, check_model=explicit.get("model") is None)
    return saved.model_kwargs(**explicit), saved


def build_classifier(*, model: str | None, profile: Path | None, **options: Any) -> YoloProbs:
    """The classifier a command asked for: from ``--profile`` (flags given override it) or from ``--model``.

    Options left at None keep the profile's values, or the library defaults without a profile.
    """
    if profile is not None:
        return YoloProbs.from_profile(profile, model=model, **options)
    return YoloProbs(model or DEFAULT_MODEL, **{k: v for k, v in options.items() if v is not None})
