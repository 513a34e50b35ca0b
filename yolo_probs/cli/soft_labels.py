"""``yolo-probs soft-labels``: a teacher's probabilities at a high temperature, one row per image, for distillation."""

from __future__ import annotations

import contextlib
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from yolo_probs._util.console import error, note, wrote
from yolo_probs.cli.options import (
    FORMAT,
    OUTPUT,
    PROFILE,
    SOURCES,
    TEMPERATURE,
    BatchOption,
    DeviceOption,
    ImgszOption,
    ModelOption,
    Preprocessing,
    build_classifier,
    option_groups,
    tailored,
)
from yolo_probs.cli.progress import progress_bar
from yolo_probs.distill.soft_labels import expand_class_folders, format_for_soft_labels, write_soft_labels
from yolo_probs.inputs.sources import count_frames


class SoftLabelFormat(str, Enum):  # noqa: UP042  (Typer needs a str Enum it can list in --help)
    """Soft-label file formats (see :data:`yolo_probs.distill.soft_labels.SOFT_LABEL_FORMATS`)."""

    parquet = "parquet"
    jsonl = "jsonl"


_Profile = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(
        PROFILE,
        help="Deployment profile (model, imgsz, engine); flags given override it. -t replaces its calibration; "
        "its top-k, min-prob and decisions do not apply here.",
    ),
]


@option_groups
def soft_labels_command(
    sources: Annotated[list[str], SOURCES],
    temperature: Annotated[float, tailored(TEMPERATURE, detail="A high T softens the teacher (e.g. 4).")],
    output: Annotated[Path, tailored(OUTPUT, detail="the soft labels, .parquet or .jsonl (written atomically).")],
    model: ModelOption = None,
    profile: _Profile = None,
    fmt: Annotated[
        Optional[SoftLabelFormat],  # noqa: UP045
        tailored(FORMAT, default="from the --output suffix"),
    ] = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    batch: BatchOption = 1,
    prep: Preprocessing = Preprocessing(),  # noqa: B008  (Typer shows its fields; see option_groups)
) -> None:
    """Write one row per image: source, frame, label (its class folder, if any), probs at T, logits.

    Knowledge distillation (Hinton et al. 2015) trains a small student on these soft probabilities.
    Bad inputs are listed on stderr and skipped; the others are written. Exit code 0 when every input
    succeeded, 1 when some failed, 2 for usage errors.
    """
    chosen = format_for_soft_labels(output, fmt.value if fmt is not None else None)  # checked before the model loads
    extra = prep.model_kwargs(imgsz)
    clf = build_classifier(
        model=model,
        profile=profile,
        temperature=temperature,
        imgsz=imgsz,
        device=device,
        batch=batch,
        decisions=[],
        **extra,
    )
    counted = expand_class_folders(sources, clf.names) if sys.stderr.isatty() else []
    bar = progress_bar("soft labels", count_frames(counted) if counted else 0)

    def report(item: object) -> None:
        if not hasattr(item, "probs"):
            error(str(item))
        if bar:
            bar.advance(bar.task_ids[0])

    protect = [p for p in (model, profile) if p is not None and Path(p).is_file()]
    with clf, bar or contextlib.nullcontext():
        result = write_soft_labels(clf, sources, output, fmt=chosen, on_item=report, protect=protect)
    wrote(result.path, result.rows, "row", f"{result.format}, T={clf.temperature:g}")
    if result.unlabelled:
        note(
            f"{result.unlabelled} of {result.rows} images are not in a folder named after a class of the model: "
            "their label is null"
        )
    if result.failures:
        total = result.rows + len(result.failures)
        error(f"{len(result.failures)} of {total} inputs failed (listed above); the others were written")
        raise typer.Exit(1)
