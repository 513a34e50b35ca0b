"""The options more than one command takes, each declared once, and the groups of options that travel together.

Each ``typer.Option(...)`` below is the one declaration of its flags and of what the option does in
every command that takes it. A command shows it through an alias (``ModelOption``...) or through
:func:`tailored`, which adds what the option means in that command and what leaving it out means
there (``[default: ...]``), or gives it a help text of its own where the shared one is not true there,
without repeating the flags. Options only one command takes are declared in that command's module.
``tests/cli/test_options.py`` checks that no flag is declared twice and that no ``--help`` shows two
defaults for one option.

Options that always travel together are an :class:`OptionGroup`: a command takes the group as one
parameter (``prep: Preprocessing``) and :func:`option_groups` shows Typer the group's options in
its place.

Example:
    >>> Preprocessing(stretch=True, std="none").model_kwargs(32)["preprocess"].std
    (1.0, 1.0, 1.0)
    >>> tailored(FORMAT, default="table").help
    'Output format. [default: table]'
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar, get_type_hints

import typer

from yolo_probs.api.model import YoloProbs
from yolo_probs.api.profile import load_profile
from yolo_probs.backends.ultralytics import DEFAULT_MODEL
from yolo_probs.decisions.smoothing import DEFAULT_HALF_LIFE, check_half_life
from yolo_probs.errors import ConfigError
from yolo_probs.inputs.preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocess

if TYPE_CHECKING:
    from yolo_probs.api.profile import Profile

R = TypeVar("R")


def tailored(declared: Any, *, help: str | None = None, detail: str = "", default: str = "", **changes: Any) -> Any:
    """``declared`` (a ``typer.Option`` or ``typer.Argument`` below) as one command shows it.

    Args:
        declared: the one declaration of the option; its flags are kept.
        help: this command's own help text, instead of the shared one (where that is not true here).
        detail: what the option means in this command, after the (shared) help.
        default: what leaving the option out means in this command, shown as ``[default: ...]``; only
            for an option whose Python default is None (Typer shows any other default itself).
        changes: other settings of the declaration to change (``metavar``...), never its flags.

    Example:
        >>> tailored(MIN_PROB, detail="Classes below it are dropped.").help
        'Probability threshold (0..1). Classes below it are dropped.'
        >>> tailored(BATCH, help="Images per training batch.").help
        'Images per training batch.'
    """
    if "param_decls" in changes:
        raise ValueError("a tailored option keeps the flags of its declaration")
    shown = copy.copy(declared)
    base = declared.help if help is None else help
    shown.help = " ".join(part for part in (base, detail, f"[default: {default}]" if default else "") if part)
    for key, value in changes.items():
        setattr(shown, key, value)
    return shown


# -- the declarations (flags and shared help), one per option --
MODEL_HELP = (
    "Ultralytics -cls checkpoint (.pt) or YAML; exported .onnx / .torchscript; a .pt holding a pickled "
    "nn.Module; or package.module:factory (e.g. torchvision.models:resnet18)."
)
MODEL = typer.Option("--model", "-m", help=MODEL_HELP)
PROFILE = typer.Option(
    "--profile", "-p", help="Deployment profile (model, calibration, top-k, min-prob, imgsz); flags given override it."
)
TEMPERATURE = typer.Option(
    "--temperature", "-t", help="Divide the logits by T > 0 before the softmax (1: the model's own probabilities)."
)
TOP_K = typer.Option(
    "--top-k", "-k", help="How many of the most probable classes to keep per image (clipped to the number of classes)."
)
MIN_PROB = typer.Option("--min-prob", help="Probability threshold (0..1).")
IMGSZ = typer.Option("--imgsz", help="Input size in pixels.")
CONF = typer.Option(
    "--conf",
    help="Detection and segmentation models: Ultralytics' box confidence threshold (0..1) [default: 0.25].",
)
IOU = typer.Option(
    "--iou",
    help="Detection and segmentation models: Ultralytics' NMS IoU threshold (0..1) [default: Ultralytics' 0.7].",
)
CLASSIFIER = typer.Option(
    "--classifier",
    help="Detection and segmentation models: classify each box's crop with this classifier model or its "
    "calibrated profile (.yaml); each box then carries both distributions.",
)
DEVICE = typer.Option("--device", help="cpu, 0, cuda:0, ...")
BATCH = typer.Option("--batch", help="Images per batch (one forward pass).")
ENGINE = typer.Option(
    "--engine",
    help="Ultralytics checkpoints: torch (hook the PyTorch model), onnxruntime, openvino, or auto (the fastest "
    "installed for the device; --verbose says which).",
)
VERBOSE = typer.Option("--verbose", "-v", help="Say on stderr which engine runs the model and where it is cached.")
OUTPUT = typer.Option("--output", "-o", help="File to write:")
FORMAT = typer.Option("--format", "-f", help="Output format.")
LOGITS = typer.Option("--logits", help="Also write the raw logits.")
SAVE = typer.Option("--save", help="Also write what the overlay draws:")
PLOT = typer.Option("--plot", help="Also write a before/after reliability diagram (.png, .pdf, .svg...).")
BINS = typer.Option("--bins", help="Equal-width bins for ECE/MCE.", min=1)
SPLIT = typer.Option("--split", help="Split to use when DATA holds splits.")
OOD_DATA = typer.Option("--ood-data", metavar="DIR", help="Images of no trained class.")
ALPHA = typer.Option("--alpha", help="A level in [0, 1].")
RAY = typer.Option(
    "--ray",
    metavar="[ADDRESS]",
    help="Run on a Ray cluster: HOST:PORT, ray://HOST:PORT, auto (the cluster this node is in), local (a new "
    "local cluster, $RAY_ADDRESS ignored); bare --ray: $RAY_ADDRESS if set, else a new local cluster. An "
    "address that does not answer as Ray fails in seconds.",
)
SEED = typer.Option("--seed", help="Seed of the random draws, for a reproducible run.", min=0)
DATA = typer.Argument(
    help="Labelled images: DATA/<class>/*.jpg, or a dataset root holding DATA/<split>/<class>/...", metavar="DATA"
)


def _half_life(value: float | None) -> float | None:
    """``--smooth``, checked when the command line is read (0, negative, NaN, inf, over an hour: usage error)."""
    if value is None:
        return None
    try:
        return check_half_life(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None


SMOOTH = typer.Option(
    "--smooth",
    metavar="SECONDS",
    callback=_half_life,
    help="Smooth the probabilities of video and stream frames over time: a half-life in seconds (e.g. "
    f"{DEFAULT_HALF_LIFE:g}); a scene cut starts afresh. Still images are left as they are.",
)
SOURCES = typer.Argument(help="Image files, folders, globs or video files.", metavar="SOURCE...")

# -- how the commands show them (Optional[...] rather than X | None: Typer reads these at runtime) --
_PROFILE_ELSE = "the profile's, else {}"
ModelOption = Annotated[Optional[str], tailored(MODEL, default=_PROFILE_ELSE.format(DEFAULT_MODEL))]  # noqa: UP045
#: ``--model`` of the commands that need a model: from it or from ``--profile``.
ModelOrProfileOption = Annotated[
    Optional[str],  # noqa: UP045
    tailored(MODEL, default="the --profile's; without --profile it is needed"),
]
ProfileOption = Annotated[Optional[Path], PROFILE]  # noqa: UP045
TemperatureOption = Annotated[Optional[float], tailored(TEMPERATURE, default=_PROFILE_ELSE.format(1))]  # noqa: UP045
ImgszOption = Annotated[
    Optional[int],  # noqa: UP045
    tailored(IMGSZ, default=_PROFILE_ELSE.format("the checkpoint's own (224 for plain modules)")),
]
DeviceOption = Annotated[
    Optional[str],  # noqa: UP045
    tailored(DEVICE, default="a CUDA GPU if there is one, else cpu; exported .onnx / .torchscript: cpu"),
]
BatchOption = Annotated[int, BATCH]
ConfOption = Annotated[Optional[float], CONF]  # noqa: UP045
IouOption = Annotated[Optional[float], IOU]  # noqa: UP045
ClassifierOption = Annotated[Optional[str], CLASSIFIER]  # noqa: UP045
EngineOption = Annotated[Optional[str], tailored(ENGINE, default=_PROFILE_ELSE.format("torch"))]  # noqa: UP045
VerboseOption = Annotated[bool, VERBOSE]
SmoothOption = Annotated[Optional[float], SMOOTH]  # noqa: UP045
PlotOption = Annotated[Optional[Path], PLOT]  # noqa: UP045
BinsOption = Annotated[int, BINS]
SplitOption = Annotated[str, SPLIT]
DataArgument = Annotated[str, DATA]
SourcesArgument = Annotated[list[str], SOURCES]


class OptionGroup:
    """Base of a group of options that travel together: a dataclass whose fields are the options.

    A command takes the group as one parameter annotated with the class; :func:`option_groups` shows
    Typer the fields in that parameter's place and hands the command the object built from them.
    """


def option_groups(command: Callable[..., R]) -> Callable[..., R]:
    """``command`` with each :class:`OptionGroup` parameter shown to Typer as the group's own options.

    Typer reads ``inspect.signature``; the returned function's signature lists the group's fields
    where the group's parameter was, and a call gathers them back into the group. A call may also
    pass the group itself.

    Example:
        >>> @option_groups
        ... def show(source: str, prep: Preprocessing) -> str:
        ...     return f"{source}: mean {prep.mean}, bgr {prep.bgr}"
        >>> list(inspect.signature(show).parameters)
        ['source', 'layer', 'names', 'resize', 'stretch', 'mean', 'std', 'bgr']
        >>> show(source="a.png", mean="imagenet")
        'a.png: mean imagenet, bgr False'
    """
    hints = get_type_hints(command, include_extras=True)
    groups: dict[str, type[OptionGroup]] = {}
    shown: list[inspect.Parameter] = []
    for param in inspect.signature(command).parameters.values():
        kind = hints.get(param.name, param.annotation)
        if isinstance(kind, type) and issubclass(kind, OptionGroup):
            groups[param.name] = kind
            fields = get_type_hints(kind, include_extras=True)
            shown += [_keyword(f.name, fields[f.name], f.default) for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
        else:
            shown.append(_keyword(param.name, kind, param.default))

    @functools.wraps(command)
    def gathered(**kwargs: Any) -> R:
        for name, group in groups.items():
            if name not in kwargs:
                own = {f.name for f in dataclasses.fields(group)}  # type: ignore[arg-type]
                kwargs[name] = group(**{k: kwargs.pop(k) for k in list(kwargs) if k in own})
        return command(**kwargs)

    gathered.__signature__ = inspect.Signature(shown)  # type: ignore[attr-defined]
    gathered.__annotations__ = {p.name: p.annotation for p in shown}
    return gathered


def _keyword(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    # Keyword-only: Typer passes every value by name, and a required option may follow one with a default.
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


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


@dataclasses.dataclass(frozen=True)
class Preprocessing(OptionGroup):
    """How a plain PyTorch module or an exported graph is fed.

    predict, overlay, soft-labels and export take these options; calibrate, evaluate and distill do not.
    """

    layer: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--layer", help="Plain PyTorch models: the layer whose output are the logits (default: found)."),
    ] = None
    names: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--names", help="Class names file: one per line, JSON or YAML (list or index: name)."),
    ] = None
    resize: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--resize", help="Preprocessing: resize the shortest side to this, then center crop --imgsz."),
    ] = None
    stretch: Annotated[
        bool, typer.Option("--stretch", help="Preprocessing: resize straight to --imgsz x --imgsz (no crop).")
    ] = False
    mean: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--mean", help="Preprocessing: per-channel mean after /255: 'imagenet', 'none' or R,G,B."),
    ] = None
    std: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--std", help="Preprocessing: per-channel std after /255: 'imagenet', 'none' or R,G,B."),
    ] = None
    bgr: Annotated[bool, typer.Option("--bgr", help="Preprocessing: feed BGR channels instead of RGB.")] = False

    def model_kwargs(self, imgsz: int | None) -> dict[str, Any]:
        """``layer``, ``names`` and ``preprocess`` keyword arguments for :class:`~yolo_probs.api.model.YoloProbs`.

        Without any preprocessing option ``preprocess`` is None, so the model's own recipe applies
        (ImageNet for plain modules, the recorded one for exports). Otherwise the given options
        override ImageNet preprocessing at ``imgsz`` (224 when None).

        Example:
            >>> Preprocessing().model_kwargs(64)
            {'layer': None, 'names': None, 'preprocess': None}
        """
        preprocess = None
        if self.resize is not None or self.stretch or self.mean is not None or self.std is not None or self.bgr:
            changes: dict[str, Any] = {"rgb": not self.bgr}
            if self.resize is not None:
                changes["resize"] = self.resize
            if self.stretch:
                changes["mode"] = "stretch"
            for which, text in (("mean", self.mean), ("std", self.std)):
                value = _channels(text, which)
                if value is not None:
                    changes[which] = value
            preprocess = dataclasses.replace(Preprocess.imagenet(imgsz or 224), **changes)
        return {"layer": self.layer, "names": self.names, "preprocess": preprocess}


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
