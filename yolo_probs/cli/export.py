"""``yolo-probs export``: fold a temperature into an ONNX or TorchScript export of a classifier."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

from yolo_probs._util.console import wrote
from yolo_probs.cli.options import (
    FORMAT,
    LOGITS,
    OUTPUT,
    PROFILE,
    TEMPERATURE,
    ImgszOption,
    ModelOrProfileOption,
    Preprocessing,
    merged_options,
    option_groups,
    tailored,
)
from yolo_probs.errors import ConfigError
from yolo_probs.export.exporter import ExportResult, export_folded


class ExportFormat(str, Enum):  # noqa: UP042  (Typer needs a str Enum it can list in --help)
    """Export formats."""

    onnx = "onnx"
    torchscript = "torchscript"


# How export shows the shared options (declared in yolo_probs.cli.options).
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_Output = Annotated[Path, tailored(OUTPUT, detail="the export (.onnx or .torchscript).")]
_Profile = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(PROFILE, help="Deployment profile (model, calibration, imgsz); flags given override it."),
]
_Temperature = Annotated[
    Optional[float],  # noqa: UP045
    tailored(
        TEMPERATURE,
        detail="Folded into the final linear layer.",
        default="the profile's calibrator; without --profile it is needed",
    ),
]
_Format = Annotated[Optional[ExportFormat], tailored(FORMAT, default="from the --output suffix, else onnx")]  # noqa: UP045
_Logits = Annotated[
    bool,
    tailored(
        LOGITS,
        detail="As ONNX outputs 'logits' (before the temperature) and 'features' (the final layer's input), "
        "after the calibrated probabilities, so energy, max-logit and knn unknown-input scores work on the "
        "export (ONNX, temperature scaling only).",
    ),
]


@option_groups
def export_command(
    output: _Output,
    model: ModelOrProfileOption = None,
    profile: _Profile = None,
    temperature: _Temperature = None,
    fmt: _Format = None,
    imgsz: ImgszOption = None,
    prep: Preprocessing = Preprocessing(),  # noqa: B008  (Typer shows its fields; see option_groups)
    logits: _Logits = False,
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
    result = export_folded(
        model,
        output=output,
        temperature=temperature if temperature is not None else 1.0,
        calibrator=calibrator,
        format=fmt.value if fmt else None,
        imgsz=imgsz,
        profile=profile,
        extra_outputs=logits,
        **prep.model_kwargs(imgsz),
    )
    wrote(result.path, detail=_what_was_folded(result, logits))


def _what_was_folded(result: ExportResult, logits: bool) -> str:
    """The detail of the ``wrote`` line: format, what was folded where, and the extra outputs."""
    what = f"T={result.temperature:g}" if result.method == "temperature" else f"the {result.method} calibrator"
    extra = "; raw logits and features as outputs 'logits' and 'features'" if logits else ""
    return (
        f"{result.format}; {what} folded into layer {result.layer}; its softmax output is the calibrated probability"
        + extra
    )
