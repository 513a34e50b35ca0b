"""``yolo-probs predict``: classify images, folders, globs and videos from the shell.

The command checks its options and output first (before the model loads), builds the classifier,
writes one record per image or frame as predictions come (:func:`_classify`), then reports what it
wrote and what failed (:func:`_report`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import numpy as np
import typer

from yolo_probs._util.console import error, note, set_verbose, warn, wrote
from yolo_probs._util.threads import decode_workers
from yolo_probs.api.detect_classify import DetectThenClassify, load_classifier
from yolo_probs.api.monitor import monitor_of
from yolo_probs.api.smoothing import SmoothedStream
from yolo_probs.cli.options import (
    FORMAT,
    LOGITS,
    MIN_PROB,
    OUTPUT,
    RAY,
    SAVE,
    SMOOTH,
    SOURCES,
    TOP_K,
    BatchOption,
    ClassifierOption,
    ConfOption,
    DeviceOption,
    EngineOption,
    ImgszOption,
    IouOption,
    ModelOption,
    Preprocessing,
    ProfileOption,
    TemperatureOption,
    VerboseOption,
    build_classifier,
    option_groups,
    tailored,
)
from yolo_probs.cli.progress import progress_bar
from yolo_probs.cli.ray_predict import predict_on_ray
from yolo_probs.core.boxes import Detections
from yolo_probs.errors import YoloProbsError
from yolo_probs.inputs.sources import Frame, ImageInput, InputFailure, StreamInput, count_frames, expand, iter_frames
from yolo_probs.outputs.files import check_not_input
from yolo_probs.outputs.formats import WRITERS, format_for_path, make_writer, open_records
from yolo_probs.overlay.annotate import AnnotatedCopies

if TYPE_CHECKING:
    from collections.abc import Iterator

    from yolo_probs.api.model import YoloProbs
    from yolo_probs.core.prediction import Prediction
    from yolo_probs.outputs.formats import Writer


def _output_formats() -> type[StrEnum]:
    return StrEnum("OutputFormat", {name: name for name in WRITERS})  # type: ignore[return-value]


#: The ``--format`` choices: one per registered writer (:data:`yolo_probs.outputs.formats.WRITERS`).
OutputFormat = _output_formats()


# How predict shows the shared options (declared in yolo_probs.cli.options), and its own --ray.
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_Sources = Annotated[list[str], tailored(SOURCES, detail="Also a webcam index or a stream URL.")]
_TopK = Annotated[Optional[int], tailored(TOP_K, default="the profile's, else 5")]  # noqa: UP045
_MinProb = Annotated[
    Optional[float],  # noqa: UP045
    tailored(MIN_PROB, detail="Classes below it are dropped.", default="the profile's, else none"),
]
_Smooth = Annotated[
    Optional[float],  # noqa: UP045
    tailored(SMOOTH, detail="Each record then holds the smoothed top-k, and the frame's own under 'raw'."),
]
_Format = Annotated[
    Optional[OutputFormat],  # type: ignore[valid-type]  # noqa: UP045
    tailored(FORMAT, default="from the --output suffix, else table"),
]
_Output = Annotated[Optional[Path], tailored(OUTPUT, detail="the records, instead of stdout.")]  # noqa: UP045
_Save = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(SAVE, detail="annotated copies in this folder, one image per image, one video per video."),
]
_Ray = Annotated[
    Optional[str],  # noqa: UP045
    tailored(
        RAY, detail="Scores image files there and writes Parquet to --output. Needs 'pip install yolo-probs[ray]'."
    ),
]


@option_groups
def predict(
    sources: _Sources,
    model: ModelOption = None,
    profile: ProfileOption = None,
    temperature: TemperatureOption = None,
    top_k: _TopK = None,
    min_prob: _MinProb = None,
    smooth: _Smooth = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    batch: BatchOption = 1,
    fmt: _Format = None,
    output: _Output = None,
    logits: Annotated[bool, LOGITS] = False,
    save: _Save = None,
    prep: Preprocessing = Preprocessing(),  # noqa: B008  (Typer shows its fields; see option_groups)
    ray: _Ray = None,
    engine: EngineOption = None,
    conf: ConfOption = None,
    iou: IouOption = None,
    classifier: ClassifierOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Classify SOURCE... and print temperature-scaled top-k probabilities.

    With a detection or segmentation model (-m yolo26n.pt, a -seg model, or their YAML) each record holds
    the image's boxes, each with its calibrated top-k classes (see the Boxes page of the docs); with
    --classifier each box's crop is also classified.

    Exit code 0 when every input succeeded, 1 when some failed (the others are still written and the
    failures listed on stderr), 2 for usage errors.
    """
    set_verbose(verbose)
    inputs = [model, profile, prep.names, classifier]
    chosen = _checked_format(sources, fmt.value if fmt is not None else None, output, inputs)
    if ray is not None and classifier is not None:
        raise typer.BadParameter("--classifier crops the boxes on this machine; run without --ray")
    if ray is not None and save is not None:
        raise typer.BadParameter("--save draws on this machine; run without --ray to save annotated copies")
    if ray is not None and smooth is not None:
        raise typer.BadParameter("--smooth needs the frames in order on this machine; run without --ray")
    copies = AnnotatedCopies(save) if save is not None else None  # checked (and created) before the model loads
    options: dict[str, Any] = {"temperature": temperature, "top_k": top_k, "min_prob": min_prob, "imgsz": imgsz}
    options |= {"device": device, "batch": batch, "engine": engine, **prep.model_kwargs(imgsz)}
    if ray is not None:
        predict_on_ray(sources, address=ray, fmt=chosen, output=output, logits=logits,
                       model=model, profile=profile, options=options)  # fmt: skip
        return
    box_options = {k: v for k, v in (("conf", conf), ("iou", iou)) if v is not None}
    # The second-stage classifier is loaded (and checked) first: it is the quick one.
    second = load_classifier(classifier, batch=max(batch, 16), device=device) if classifier is not None else None
    clf: YoloProbs | DetectThenClassify = build_classifier(model=model, profile=profile, **options, **box_options)
    _check_box_options(clf, smooth=smooth)
    if second is not None:
        try:
            clf = DetectThenClassify(clf, second)
        except YoloProbsError:
            second.close()
            raise
    smoother = SmoothedStream(smooth, note=note) if smooth is not None else None
    done = _classify(clf, sources, output=output, fmt=chosen, logits=logits, copies=copies, smoother=smoother)
    _drift_summary(clf, profile)
    _report(done, output, copies)


def _check_box_options(clf: YoloProbs | DetectThenClassify, *, smooth: float | None) -> None:
    """One line (exit 2) for a classifier-only option on a detection or segmentation model."""
    if clf.task == "classify" or smooth is None:
        return
    with contextlib.suppress(Exception):
        clf.close()
    raise typer.BadParameter(
        f"--smooth averages one class distribution per frame; {clf.task!r} models give boxes: leave it out"
    )


def _drift_summary(clf: YoloProbs | DetectThenClassify, profile: Path | None) -> None:
    """One warning line when the profile's drift monitor found the images unlike the calibration images.

    Only the order-free tests count here (a folder is read sorted by name, often by class, which the
    stream martingale would rightly call a change over time); ``yolo-probs monitor`` shuffles and runs all.
    """
    monitor = monitor_of(clf)
    if monitor is None or monitor.images == 0:
        return
    report = monitor.report()
    found = [t for t in report.tests if t.drift and t.name != "martingale"]
    if not found:
        return
    tests = ", ".join(f"{t.name} p={t.p_value:.2g}" for t in found)
    warn(
        f"drift: these {report.images} images differ from the calibration images ({tests}); estimated accuracy "
        f"{report.estimated_accuracy:.1%} against {report.expected_accuracy:.1%} at calibration; "
        f"see 'yolo-probs monitor SOURCE... -p {profile}'"
    )


def _checked_format(sources: list[str], fmt: str | None, output: Path | None, others: list[Any]) -> str:
    """The output format, after checking (before the model loads) that ``output`` can take it."""
    chosen = fmt or format_for_path(output)
    if output is not None:  # never destroy an input, fail in one line
        check_not_input(output, _local_inputs(sources, *others))
    if WRITERS[chosen].binary and output is None:  # a Parquet file on a terminal or in a pipe helps no one
        raise typer.BadParameter(f"--format {chosen} writes a binary file; pass e.g. --output out.{chosen}")
    return chosen


def _local_inputs(sources: list[str], *others: Any) -> list[Any]:
    """The local files this run reads (images, videos, model, profile, names): never to be overwritten."""
    found: list[Any] = [x for x in others if x is not None]
    found += [s for s in sources if os.path.isfile(s)]  # named on the command line, readable or not
    for item in expand(sources):
        if isinstance(item, ImageInput):
            found.append(item.path)
        elif isinstance(item, StreamInput) and isinstance(item.target, str):
            found.append(item.target)
    return found


@dataclass
class _Done:
    """What a run did: records written, inputs that failed, video frames lost, sources seen."""

    written: int = 0
    failed: list[str] = field(default_factory=list)
    lost_frames: int = 0
    seen: set[str] = field(default_factory=set)
    frames: deque[Frame] = field(default_factory=deque)  # decoded, waiting for their prediction (--save, --smooth)


def _classify(
    clf: YoloProbs | DetectThenClassify,
    sources: list[str],
    *,
    output: Path | None,
    fmt: str,
    logits: bool,
    copies: AnnotatedCopies | None,
    smoother: SmoothedStream | None = None,
) -> _Done:
    """Write one record per prediction (and its annotated copy) as they come; failures are listed as they come.

    With ``smoother`` each video frame's record is smoothed over time (with the frame's own under ``raw``).
    """
    done = _Done()
    tapped = copies is not None or smoother is not None  # the frames are kept until their prediction comes
    bar = progress_bar("classifying", count_frames(sources) if sys.stderr.isatty() else 0)
    try:
        # inputs=(): predict checked the output against the inputs before the model loaded
        with clf, open_records(output, fmt) as stream:
            writer: Writer = make_writer(fmt, stream, logits)
            with bar or contextlib.nullcontext():
                try:
                    for item in clf.predict_each(_tap(sources, done.frames, clf.batch) if tapped else sources):
                        _take(item, done, writer, copies, smoother)
                        if bar:
                            bar.advance(bar.task_ids[0])
                finally:
                    if bar:
                        bar.stop()  # erase the bar before the table prints, or it stays glued to it
                    writer.close()
                    if copies is not None:
                        _report_copies(copies)
    except KeyboardInterrupt:
        if output is not None:
            note(f"interrupted: kept the {_records(done.written)} written so far in {output}")
        raise
    return done


def _take(
    item: Prediction | Detections | InputFailure,
    done: _Done,
    writer: Writer,
    copies: AnnotatedCopies | None,
    smoother: SmoothedStream | None = None,
) -> None:
    """Write one prediction (smoothed, with its annotated copy), or list one failure."""
    if isinstance(item, InputFailure):
        if item.frame is None:
            done.failed.append(item.source)
        else:
            done.lost_frames += item.frames
        error(str(item))
        waiting = (done.frames[0].source, done.frames[0].frame) if done.frames else None
        if waiting == (item.source, item.frame):
            done.frames.popleft()  # decoded, but the model gave NaN for it
        return
    done.seen.add(item.source)
    image = done.frames.popleft().image if done.frames else None
    if smoother is not None and not isinstance(item, Detections):  # a detection model refused --smooth
        item = smoother.step(item, image if isinstance(image, np.ndarray) else None)
    writer.write(item)  # type: ignore[arg-type]  # the writers take Detections too (by their boxes)
    done.written += 1
    if copies is not None and image is not None:
        copies.add(image, item)


def _report(done: _Done, output: Path | None, copies: AnnotatedCopies | None) -> None:
    """The file written, then what failed; exit 1 when anything failed."""
    if output is not None:
        wrote(output, done.written, "record")
    if done.failed or done.lost_frames:
        parts = []
        if done.lost_frames:
            parts.append(f"{done.lost_frames} video frame{'s were' if done.lost_frames != 1 else ' was'} skipped")
        if done.failed:
            parts.append(f"{len(done.failed)} of {len(done.failed) + len(done.seen)} inputs failed")
        error(f"{' and '.join(parts)} (listed above); the others were written")
        raise typer.Exit(1)
    if copies is not None and copies.failures:
        raise typer.Exit(1)


def _records(n: int) -> str:
    return f"{n} record{'s' if n != 1 else ''}"


def _tap(sources: list[str], frames: deque[Frame], batch: int) -> Iterator[Frame | InputFailure]:
    """Decode ``sources`` once and keep each frame until its prediction comes back (at most a batch ahead)."""
    for item in iter_frames(sources, workers=decode_workers(batch)):
        if isinstance(item, Frame):
            frames.append(item)
        yield item


def _report_copies(copies: AnnotatedCopies) -> None:
    """Finish the copies; list those that failed, then one line for the folder."""
    written = copies.close()
    for line in copies.failures:
        error(line)
    frames = sum(written.values())
    wrote(copies.folder, len(written), "file", f"annotated copies, {frames} frame{'s' if frames != 1 else ''}")
