"""``yolo-probs distill``: train a smaller student on a teacher's softened probabilities (knowledge distillation)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from yolo_probs.distill.train import DistillEpoch, distill
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


def distill_command(
    data: Annotated[
        Path, typer.Argument(help="Dataset root with train/<class>/ and val/<class>/ image folders.", metavar="DATA")
    ],
    teacher: Annotated[
        str, typer.Option("--teacher", help="The teacher: an Ultralytics -cls checkpoint (or any model predict takes).")
    ],
    student: Annotated[
        str,
        typer.Option(
            "--student", help="Model YAML (e.g. yolo26n-cls.yaml) or a .pt classifier with the teacher's classes."
        ),
    ],
    temperature: Annotated[
        float,
        typer.Option(
            "--temperature",
            "-t",
            help="Softening temperature T > 0 of the soft term (2 to 8 is usual).",
            show_default=False,
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Student checkpoint to write (.pt).")],
    alpha: Annotated[
        float, typer.Option("--alpha", help="Weight of the soft term in [0, 1]; 1 - alpha weighs the labels.")
    ] = 0.9,
    epochs: Annotated[int, typer.Option("--epochs", help="Training epochs.")] = 10,
    imgsz: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option("--imgsz", help="Student input size; default: the teacher's own."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Images per training batch.")] = 16,
    device: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--device", help="cpu, 0, cuda:0, ... (one device); default: Ultralytics' choice."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (Ultralytics trains deterministically).")] = 0,
    train_arg: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--train-arg",
            help="Any other Ultralytics training argument, KEY=VALUE, repeatable (e.g. fliplr=0, lr0=0.01, "
            "project=runs/distill to keep the run folder).",
        ),
    ] = None,
) -> None:
    """Train --student on DATA with Ultralytics' classification trainer and a distillation loss.

    Loss: alpha * T^2 * KL(teacher at T || student at T) + (1 - alpha) * cross-entropy, the teacher
    (frozen) seeing the same augmented batch. The student keeps the teacher's class names and order;
    -o is an ordinary Ultralytics checkpoint (the best epoch). Exit code 0 on success, 2 for usage errors.
    """
    extra = _train_args(train_arg)

    def report(e: DistillEpoch) -> None:
        top1 = e.metrics.get("metrics/accuracy_top1")
        val = f"val top-1 {top1:.3f}" if top1 is not None else ""
        if e.final:
            typer.echo(f"best checkpoint: {val}", err=True)
            return
        losses = "  ".join(f"{k} {v:.4f}" for k, v in e.losses.items())
        typer.echo(f"epoch {e.epoch}/{e.epochs}  {losses}  {val}", err=True)

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
        progress=report,
        **extra,
    )
    teacher_size = f", teacher at {result.teacher_imgsz}" if result.teacher_imgsz != result.imgsz else ""
    typer.echo(
        f"wrote {result.path} (student at imgsz {result.imgsz}{teacher_size}; T={result.temperature:g}, "
        f"alpha={result.alpha:g}, {result.epochs} epoch{'s' if result.epochs != 1 else ''}; "
        f"classes: {', '.join(result.names[:10])}{', ...' if len(result.names) > 10 else ''})"
    )
