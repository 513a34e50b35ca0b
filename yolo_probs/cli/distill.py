"""``yolo-probs distill``: train a smaller student on a teacher's softened probabilities (knowledge distillation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from yolo_probs._util.console import wrote
from yolo_probs.cli.options import ALPHA, BATCH, DATA, DEVICE, IMGSZ, OUTPUT, SEED, TEMPERATURE, tailored
from yolo_probs.distill.train import DistillEpoch, DistillResult, distill
from yolo_probs.errors import ConfigError


def _train_args(items: list[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, values read as YAML scalars (``0.0`` -> float, ``false`` -> bool, ``none`` -> None)."""
    import yaml

    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--train-arg needs KEY=VALUE, got {item!r}; pass e.g. --train-arg fliplr=0")
        text = value.strip()
        parsed[key.strip()] = None if text.lower() == "none" else yaml.safe_load(text) if text else ""
    return parsed


# How distill shows the shared options (declared in yolo_probs.cli.options), and its own.
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_Data = Annotated[
    Path,
    tailored(
        DATA,
        help="Dataset root holding DATA/train/<class>/*.jpg and DATA/val/<class>/... (val/ may also be named "
        "validation/ or valid/).",
    ),
]
_Teacher = Annotated[
    str, typer.Option("--teacher", help="The teacher: an Ultralytics -cls checkpoint (or any model predict takes).")
]
_Student = Annotated[
    str,
    typer.Option(
        "--student", help="Model YAML (e.g. yolo26n-cls.yaml) or a .pt classifier with the teacher's classes."
    ),
]
_Temperature = Annotated[
    float, tailored(TEMPERATURE, detail="Here: of the soft term, teacher and student alike (2 to 8 is usual).")
]
_Output = Annotated[Path, tailored(OUTPUT, detail="the student checkpoint (.pt).")]
_Alpha = Annotated[float, tailored(ALPHA, help="Weight of the soft term in [0, 1]; 1 - alpha weighs the labels.")]
_Epochs = Annotated[int, typer.Option("--epochs", help="Training epochs.")]
_Imgsz = Annotated[
    Optional[int],  # noqa: UP045
    tailored(IMGSZ, detail="The student trains at it.", default="the teacher's own (224 if unknown)"),
]
_Batch = Annotated[int, tailored(BATCH, help="Images per training batch.")]
_Device = Annotated[Optional[str], tailored(DEVICE, detail="One device.", default="Ultralytics' choice")]  # noqa: UP045
_Seed = Annotated[int, tailored(SEED, help="Random seed (Ultralytics trains deterministically).")]
_TrainArg = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--train-arg",
        help="Any other Ultralytics training argument, KEY=VALUE, repeatable (e.g. fliplr=0, lr0=0.01, "
        "project=runs/distill to keep the run folder).",
    ),
]


def distill_command(
    data: _Data,
    teacher: _Teacher,
    student: _Student,
    temperature: _Temperature,
    output: _Output,
    alpha: _Alpha = 0.9,
    epochs: _Epochs = 10,
    imgsz: _Imgsz = None,
    batch: _Batch = 16,
    device: _Device = None,
    seed: _Seed = 0,
    train_arg: _TrainArg = None,
) -> None:
    """Train --student on DATA with Ultralytics' classification trainer and a distillation loss.

    Loss: alpha * T^2 * KL(teacher at T || student at T) + (1 - alpha) * cross-entropy, the teacher
    (frozen) seeing the same augmented batch. The student keeps the teacher's class names and order;
    -o is an ordinary Ultralytics checkpoint (the best epoch). Exit code 0 on success, 2 for usage errors.
    """
    extra = _train_args(train_arg)
    result = distill(
        data,
        teacher=teacher,
        student=student,
        output=output,
        temperature=temperature,
        alpha=alpha,
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        seed=seed,
        progress=_print_epoch,
        **extra,
    )
    top1 = result.metrics.get("metrics/accuracy_top1")
    if top1 is not None:
        typer.echo(f"best checkpoint: val top-1 {top1:.3f}", err=True)
    wrote(result.path, detail=_student(result))
    if result.run_dir is not None:  # kept when --train-arg project=... asked for it
        wrote(result.run_dir, detail="Ultralytics' run folder")


def _print_epoch(e: DistillEpoch) -> None:
    """One line on stderr per epoch: its losses and validation accuracy."""
    top1 = e.metrics.get("metrics/accuracy_top1")
    val = f"val top-1 {top1:.3f}" if top1 is not None else ""
    losses = "  ".join(f"{k} {v:.4f}" for k, v in e.losses.items())
    typer.echo(f"epoch {e.epoch}/{e.epochs}  {losses}  {val}", err=True)


def _student(result: DistillResult) -> str:
    """The detail of the ``wrote`` line: the student's size, the training settings and its classes."""
    teacher_size = f", teacher at {result.teacher_imgsz}" if result.teacher_imgsz != result.imgsz else ""
    epochs = f"{result.epochs} epoch{'s' if result.epochs != 1 else ''}"
    classes = ", ".join(result.names[:10]) + (", ..." if len(result.names) > 10 else "")
    return (
        f"student at imgsz {result.imgsz}{teacher_size}; T={result.temperature:g}, alpha={result.alpha:g}, "
        f"{epochs}; classes: {classes}"
    )
