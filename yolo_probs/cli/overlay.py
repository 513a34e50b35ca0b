"""``yolo-probs overlay``: a live view of what the classifier believes, and how sure it is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from yolo_probs.cli.console import error, set_verbose
from yolo_probs.cli.options import (
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
from yolo_probs.errors import SourceError
from yolo_probs.overlay import OverlayDrawer
from yolo_probs.overlay.loop import check_display, run_overlay
from yolo_probs.overlay.readers import open_source
from yolo_probs.overlay.recorder import check_output


def overlay(
    source: Annotated[
        str,
        typer.Argument(help="Webcam index (0), video file, stream URL (rtsp/http) or image folder.", metavar="SOURCE"),
    ],
    model: ModelOption = None,
    profile: ProfileOption = None,
    temperature: Annotated[
        float | None,
        typer.Option(
            "--temperature",
            "-t",
            help="Starting temperature T > 0 ('r' in the window comes back to it). [default: the profile's, else 1]",
        ),
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", help="Classes drawn as bars. [default: the profile's, else 5]")
    ] = None,
    min_prob: Annotated[
        float | None,
        typer.Option(
            "--min-prob",
            help="Show UNCERTAIN when the top probability is below this (0..1). [default: the profile's, else never]",
        ),
    ] = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Record the overlay to this video (.mp4 or .avi) at the source's frame rate, as drawn "
            "(small frames enlarged).",
        ),
    ] = None,
    show: Annotated[
        bool,
        typer.Option(
            "--show/--no-show",
            help="Open a window (keys: +/- T, [/] k, r reset, space pause (stills: next), s snapshot, q quit).",
        ),
    ] = True,
    max_frames: Annotated[int | None, typer.Option("--max-frames", min=1, help="Stop after this many frames.")] = None,
    fast: Annotated[
        bool,
        typer.Option(
            "--fast", help="In the window, play video files as fast as the model runs, not at their own frame rate."
        ),
    ] = False,
    still_delay: Annotated[
        float,
        typer.Option(
            "--still-delay",
            min=0.0,
            help="Seconds each still image stays in the window; 0 waits for a key (space, n or Enter: next).",
        ),
    ] = 0.0,
    layer: LayerOption = None,
    names: NamesOption = None,
    resize: ResizeOption = None,
    stretch: StretchOption = False,
    mean: MeanOption = None,
    std: StdOption = None,
    bgr: BgrOption = False,
    engine: EngineOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Show (and/or record) SOURCE with the top-k probabilities, temperature, FPS and uncertainty drawn on it.

    Small frames are drawn enlarged (at least 480 pixels tall). In the window, video files play at
    their own frame rate (--fast: as fast as the model runs) and each still image stays until a key.

    Exit code 0 when every frame was used, 1 when the source could not be opened, some frames were
    corrupt (skipped and counted) or the recording holds fewer frames than were drawn (what it holds
    is reported), 2 for usage errors (no display, unwritable --save, bad option).
    """

    extra = model_kwargs(
        layer=layer, names=names, imgsz=imgsz, resize=resize, stretch=stretch, mean=mean, std=std, bgr=bgr
    )
    # Cheap checks first, so a bad option fails before the model loads or a camera opens.
    if save is not None:
        check_output(save)
    if show:
        check_display()
    try:
        reader = open_source(source)
    except SourceError as exc:
        error(str(exc))
        raise typer.Exit(1) from None
    set_verbose(verbose)
    try:
        clf = build_classifier(
            model=model,
            profile=profile,
            temperature=temperature,
            top_k=top_k,
            min_prob=min_prob,
            imgsz=imgsz,
            device=device,
            engine=engine,
            **extra,
        )
    except BaseException:
        reader.close()
        raise
    # min_prob (the flag, else the profile's) marks the frame UNCERTAIN; the bars still show all k classes.
    drawer = OverlayDrawer(min_prob=clf.min_prob)
    clf.min_prob = None
    with clf:
        stats = run_overlay(
            clf,
            reader,
            drawer=drawer,
            show=show,
            save=save,
            max_frames=max_frames,
            fast=fast,
            still_seconds=still_delay,
        )
    for line in stats.failures:
        error(line)
    summary = f"{stats.frames} frames at {stats.fps:.1f} fps, final T {stats.temperature:.2f}, k {stats.top_k}"
    if stats.dropped:
        summary += f", {stats.dropped} live frames dropped to stay current"
    if stats.saved is not None:
        summary += f", saved {stats.saved_frames} frames to {stats.saved}"
    print(summary, flush=True)
    failed = False
    if stats.corrupt:
        error(f"{source}: skipped {stats.corrupt} corrupt frame(s) of {stats.frames + stats.corrupt}; re-encode it")
        failed = True
    elif stats.frames == 0:
        error(f"{source}: no frame could be read; check the source")
        failed = True
    if stats.save_error is not None:
        error(stats.save_error)
        failed = True
    if failed:
        raise typer.Exit(1)
