"""``yolo-probs predict``: classify images, folders, globs and videos from the shell."""

from __future__ import annotations

import contextlib
import os
import sys
from collections import deque
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yolo_probs.cli.console import error, note, set_verbose
from yolo_probs.cli.options import (
    BatchOption,
    BgrOption,
    DeviceOption,
    EngineOption,
    ImgszOption,
    LayerOption,
    MeanOption,
    ModelOption,
    NamesOption,
    ProfileOption,
    ResizeOption,
    StdOption,
    StretchOption,
    VerboseOption,
    build_classifier,
    model_kwargs,
)
from yolo_probs.cli.progress import progress_bar
from yolo_probs.cli.ray_predict import predict_on_ray
from yolo_probs.inputs.sources import Frame, ImageInput, InputFailure, StreamInput, count_frames, expand, iter_frames
from yolo_probs.outputs.files import check_not_input
from yolo_probs.outputs.formats import WRITERS, format_for_path, make_writer, open_records
from yolo_probs.overlay.annotate import AnnotatedCopies

if TYPE_CHECKING:
    from collections.abc import Iterator

    from yolo_probs.inputs.sources import Frame, InputFailure
    from yolo_probs.outputs.formats import Writer
    from yolo_probs.overlay.annotate import AnnotatedCopies


def _output_formats() -> type[StrEnum]:
    return StrEnum("OutputFormat", {name: name for name in WRITERS})  # type: ignore[return-value]


#: The ``--format`` choices: one per registered writer (:data:`yolo_probs.outputs.formats.WRITERS`).
OutputFormat = _output_formats()


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


def predict(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Image files, folders, globs, video files, webcam index or stream URL.", metavar="SOURCE..."
        ),
    ],
    model: ModelOption = None,
    profile: ProfileOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            "-t",
            help="Divide the logits by T before the softmax (T > 0; 1 = Ultralytics' own probabilities). "
            "[default: the profile's, else 1]",
        ),
    ] = None,
    top_k: Annotated[
        int | None,
        typer.Option(
            "--top-k",
            "-k",
            help="Classes to keep per image, clipped to the number of classes. [default: the profile's, else 5]",
        ),
    ] = None,
    min_prob: Annotated[
        float | None,
        typer.Option(
            "--min-prob", help="Drop classes below this probability (0..1). [default: the profile's, else none]"
        ),
    ] = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    batch: BatchOption = 1,
    fmt: Annotated[
        OutputFormat | None,  # type: ignore[valid-type]
        typer.Option("--format", "-f", help="Output format; default: from the --output suffix, else table."),
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead of stdout.")] = None,
    logits: Annotated[bool, typer.Option("--logits", help="Also write the raw logits.")] = False,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Also write annotated copies (the overlay's drawing) into this folder: one image per image, "
            "one video per video.",
        ),
    ] = None,
    layer: LayerOption = None,
    names: NamesOption = None,
    resize: ResizeOption = None,
    stretch: StretchOption = False,
    mean: MeanOption = None,
    std: StdOption = None,
    bgr: BgrOption = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Score image files on a Ray cluster and write Parquet to --output: HOST:PORT, ray://HOST:PORT, "
            "auto (the cluster this node is in); bare --ray: $RAY_ADDRESS, else a local cluster. "
            "Needs 'pip install yolo-probs[ray]'.",
        ),
    ] = None,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Classify SOURCE... and print temperature-scaled top-k probabilities.

    Exit code 0 when every input succeeded, 1 when some failed (the others are still written and the
    failures listed on stderr), 2 for usage errors.
    """

    set_verbose(verbose)
    chosen = fmt.value if fmt is not None else format_for_path(output)
    inputs = _local_inputs(sources, model, profile, names) if output is not None else []
    if output is not None:  # before the model loads: never destroy an input, fail in one line
        check_not_input(output, inputs)
    binary = WRITERS[chosen].binary
    if binary and output is None:  # a Parquet file on a terminal or in a pipe helps no one
        raise typer.BadParameter(f"--format {chosen} writes a binary file; pass e.g. --output out.{chosen}")
    if ray is not None and save is not None:
        raise typer.BadParameter("--save draws on this machine; run without --ray to save annotated copies")
    copies = None
    if save is not None:  # checked (and created) before the model loads
        copies = AnnotatedCopies(save)
    extra = model_kwargs(
        layer=layer, names=names, imgsz=imgsz, resize=resize, stretch=stretch, mean=mean, std=std, bgr=bgr
    )
    if ray is not None:
        options = {"temperature": temperature, "top_k": top_k, "min_prob": min_prob, "imgsz": imgsz, **extra}
        options |= {"device": device, "batch": batch, "engine": engine}
        predict_on_ray(
            sources,
            address=ray,
            fmt=chosen,
            output=output,
            logits=logits,
            model=model,
            profile=profile,
            options=options,
        )
        return
    clf = build_classifier(
        model=model,
        profile=profile,
        temperature=temperature,
        top_k=top_k,
        min_prob=min_prob,
        imgsz=imgsz,
        device=device,
        batch=batch,
        engine=engine,
        **extra,
    )
    failed: list[str] = []
    seen: set[str] = set()
    lost_frames = written = 0
    bar = progress_bar("classifying", count_frames(sources) if sys.stderr.isatty() else 0)
    frames: deque[Frame] = deque()  # decoded, waiting for their prediction (--save only)
    try:
        # inputs=(): check_not_input ran above, before the model loaded
        with clf, open_records(output, chosen) as stream:
            writer: Writer = make_writer(chosen, stream, logits)
            with bar or contextlib.nullcontext():
                try:
                    for item in clf.predict_each(_tap(sources, frames, clf.batch) if copies else sources):
                        if isinstance(item, InputFailure):
                            if item.frame is None:
                                failed.append(item.source)
                            else:
                                lost_frames += item.frames
                            error(str(item))
                            waiting = (frames[0].source, frames[0].frame) if copies is not None and frames else None
                            if waiting == (item.source, item.frame):
                                frames.popleft()  # decoded, but the model gave NaN for it
                        else:
                            seen.add(item.source)
                            writer.write(item)
                            written += 1
                            if copies is not None:
                                copies.add(frames.popleft().image, item)
                        if bar:
                            bar.advance(bar.task_ids[0])
                finally:
                    if bar:
                        bar.stop()  # erase the bar before the table prints, or it stays glued to it
                    writer.close()
                    if copies is not None:
                        _report_copies(copies, save)
    except KeyboardInterrupt:
        if output is not None:
            note(f"interrupted: kept the {_records(written)} written so far in {output}")
        raise
    if output is not None:
        note(f"wrote {_records(written)} to {output}")
    if failed or lost_frames:
        parts = []
        if lost_frames:
            parts.append(f"{lost_frames} video frame{'s were' if lost_frames != 1 else ' was'} skipped")
        if failed:
            parts.append(f"{len(failed)} of {len(failed) + len(seen)} inputs failed")
        error(f"{' and '.join(parts)} (listed above); the others were written")
        raise typer.Exit(1)
    if copies is not None and copies.failures:
        raise typer.Exit(1)


def _records(n: int) -> str:
    return f"{n} record{'s' if n != 1 else ''}"


def _tap(sources: list[str], frames: deque[Frame], batch: int) -> Iterator[Frame | InputFailure]:
    """Decode ``sources`` once and keep each frame until its prediction comes back (at most a batch ahead)."""
    workers = min(8, max(1, (os.cpu_count() or 1) - 1)) if batch >= 8 else 1
    for item in iter_frames(sources, workers=workers):
        if isinstance(item, Frame):
            frames.append(item)
        yield item


def _report_copies(copies: AnnotatedCopies, folder: Path | None) -> None:
    written = copies.close()
    for line in copies.failures:
        error(line)
    frames = sum(written.values())
    print(f"annotated copies: {len(written)} file(s), {frames} frame(s), in {folder}", file=sys.stderr, flush=True)
