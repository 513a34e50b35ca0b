"""``yolo-probs export``: fold a temperature into an ONNX or TorchScript export of a classifier."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from yolo_probs.cli.options import (
    MODEL_HELP,
    BgrOption,
    LayerOption,
    MeanOption,
    NamesOption,
    ProfileOption,
    ResizeOption,
    StdOption,
    StretchOption,
    merged_options,
    model_kwargs,
)
from yolo_probs.errors import ConfigError
from yolo_probs.export.folded import export_folded


class ExportFormat(str, Enum):  # noqa: UP042  (Typer needs a str Enum it can list in --help)
    """Export formats."""

    onnx = "onnx"
    torchscript = "torchscript"


def export_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.onnx or .torchscript).")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP)] = None,  # noqa: UP045
    profile: ProfileOption = None,
    temperature: Annotated[
        Optional[float],  # noqa: UP045
        typer.Option("--temperature", "-t", help="Temperature to fold into the final linear layer (T > 0)."),
    ] = None,
    fmt: Annotated[
        Optional[ExportFormat],  # noqa: UP045
        typer.Option("--format", "-f", help="Export format; default: from the --output suffix, else onnx."),
    ] = None,
    imgsz: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--imgsz", help="Input size; default: the checkpoint's own (224 for plain modules)."),
    ] = None,
    layer: LayerOption = None,
    names: NamesOption = None,
    resize: ResizeOption = None,
    stretch: StretchOption = False,
    mean: MeanOption = None,
    std: StdOption = None,
    bgr: BgrOption = False,
    logits: Annotated[
        bool,
        typer.Option(
            "--logits",
            help="Also output the raw logits ('logits', before the temperature) and the final layer's input "
            "('features') after the calibrated probabilities, so energy, max-logit and knn unknown-input "
            "scores work on the export (ONNX, temperature scaling only).",
        ),
    ] = False,
) -> None:
    """Export --model with --temperature folded in: the export's own softmax is the calibrated probability.

    The final linear layer's weight and bias are divided by T in a copy of the model; T and the
    source are recorded in the export's metadata. Exit code 0 on success, 2 for usage errors.
    """

    kwargs, _ = merged_options(profile, model=model, temperature=temperature, imgsz=imgsz)
    model, calibrator, imgsz = kwargs.get("model"), kwargs.get("calibrator"), kwargs.get("imgsz")
    if model is None:
        raise ConfigError("pass --model M (the PyTorch checkpoint or module to export), or --profile P")
    if calibrator is None and temperature is None:
        raise ConfigError("pass --temperature T (the temperature to fold into the export), or --profile P")
    extra = model_kwargs(
        layer=layer, names=names, imgsz=imgsz, resize=resize, stretch=stretch, mean=mean, std=std, bgr=bgr
    )
    result = export_folded(
        model,
        output=output,
        temperature=temperature if temperature is not None else 1.0,
        calibrator=calibrator,
        format=fmt.value if fmt else None,
        imgsz=imgsz,
        profile=profile,
        extra_outputs=logits,
        **extra,
    )
    what = f"T={result.temperature:g}" if result.method == "temperature" else f"the {result.method} calibrator"
    typer.echo(
        f"wrote {result.path} ({result.format}; {what} folded into layer {result.layer}; "
        "its softmax output is the calibrated probability"
        + ("; raw logits and features as outputs 'logits' and 'features')" if logits else ")")
    )
