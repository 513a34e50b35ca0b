"""``yolo-probs predict``: classify images, folders, globs and videos from the shell."""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yolo_probs.cli import app, error
from yolo_probs.cli.model_options import (
    MODEL_HELP,
    BgrOption,
    EngineOption,
    LayerOption,
    MeanOption,
    NamesOption,
    ProfileOption,
    ResizeOption,
    StdOption,
    StretchOption,
    VerboseOption,
    build_classifier,
    model_kwargs,
    set_verbose,
)
from yolo_probs.cli.progress import progress_bar

if TYPE_CHECKING:
    from collections.abc import Iterator

    from yolo_probs.overlay.annotate import AnnotatedCopies
    from yolo_probs.sources import Frame, InputFailure
    from yolo_probs.writers import Writer


def _output_formats() -> type[StrEnum]:
    from yolo_probs.writers import WRITERS

    return StrEnum("OutputFormat", {name: name for name in WRITERS})  # type: ignore[return-value]


#: The ``--format`` choices: one per registered writer (:data:`yolo_probs.writers.WRITERS`).
OutputFormat = _output_formats()


@contextlib.contextmanager
def _open_output(path: Path | None, binary: bool = False) -> Iterator[Any]:
    if path is None:
        yield sys.stdout
        return
    try:
        stream = path.open("wb") if binary else path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {path} ({exc.strerror}); choose a writable path", param_hint="--output"
        ) from None
    with stream:
        yield stream


def _count_frames(sources: list[str]) -> int:
    """Images plus announced video frames: the progress bar's total (cheap: no decoding)."""
    from yolo_probs.sources import ImageInput, StreamInput, expand

    total = 0
    for item in expand(sources):
        if isinstance(item, ImageInput):
            total += 1
        elif isinstance(item, StreamInput):
            total += item.frame_count() or 0
    return total


@app.command()
def predict(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="Image files, folders, globs, video files, webcam index or stream URL.", metavar="SOURCE..."
        ),
    ],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help=f"{MODEL_HELP} [default: the profile's, else yolo26n-cls.pt]")
    ] = None,
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
    imgsz: Annotated[
        int | None, typer.Option("--imgsz", help="Inference size. [default: the profile's, else the checkpoint's own]")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu, 0, cuda:0, ...; default: Ultralytics' choice.")
    ] = None,
    batch: Annotated[int, typer.Option("--batch", help="Images per forward pass.")] = 1,
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
    from yolo_probs.sources import InputFailure
    from yolo_probs.writers import WRITERS, format_for_path, make_writer

    set_verbose(verbose)
    chosen = fmt.value if fmt is not None else format_for_path(output)
    binary = WRITERS[chosen].binary
    if binary and output is None:  # a Parquet file on a terminal or in a pipe helps no one
        raise typer.BadParameter(f"--format {chosen} writes a binary file; pass e.g. --output out.{chosen}")
    if ray is not None and save is not None:
        raise typer.BadParameter("--save draws on this machine; run without --ray to save annotated copies")
    copies = None
    if save is not None:  # checked (and created) before the model loads
        from yolo_probs.overlay.annotate import AnnotatedCopies

        copies = AnnotatedCopies(save)
    extra = model_kwargs(
        layer=layer, names=names, imgsz=imgsz, resize=resize, stretch=stretch, mean=mean, std=std, bgr=bgr
    )
    if ray is not None:
        from yolo_probs.cli.ray_predict import predict_on_ray

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
    bar = progress_bar("classifying", _count_frames(sources) if sys.stderr.isatty() else 0)
    frames: deque[Frame] = deque()  # decoded, waiting for their prediction (--save only)
    with clf, _open_output(output, binary) as stream:
        writer: Writer = make_writer(chosen, stream, logits)
        with bar or contextlib.nullcontext():
            try:
                for item in clf.predict_each(_tap(sources, frames, clf.batch) if copies else sources):
                    if isinstance(item, InputFailure):
                        failed.append(item.source)
                        error(str(item))
                    else:
                        seen.add(item.source)
                        writer.write(item)
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
    if failed:
        error(f"{len(failed)} of {len(failed) + len(seen)} inputs failed (listed above); the others were written")
        raise typer.Exit(1)
    if copies is not None and copies.failures:
        raise typer.Exit(1)


def _tap(sources: list[str], frames: deque[Frame], batch: int) -> Iterator[Frame | InputFailure]:
    """Decode ``sources`` once and keep each frame until its prediction comes back (at most a batch ahead)."""
    import os

    from yolo_probs.sources import Frame, iter_frames

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
