"""``yolo-probs overlay``: a live view of what the classifier believes, and how sure it is.

Cheap checks come first (the recording's path, the display, the source), so a bad option fails
before the model loads or a camera opens; then the loop runs and :func:`_report` says what it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from yolo_probs._util.console import error, set_verbose, wrote
from yolo_probs.cli.options import (
    MIN_PROB,
    SAVE,
    SMOOTH,
    TEMPERATURE,
    TOP_K,
    ConfOption,
    DeviceOption,
    EngineOption,
    ImgszOption,
    IouOption,
    ModelOption,
    Preprocessing,
    ProfileOption,
    VerboseOption,
    build_classifier,
    option_groups,
    tailored,
)
from yolo_probs.errors import SourceError
from yolo_probs.overlay import OverlayDrawer
from yolo_probs.overlay.loop import check_display, run_overlay
from yolo_probs.overlay.readers import open_source
from yolo_probs.overlay.recorder import check_output

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.overlay.loop import OverlayStats
    from yolo_probs.overlay.readers import Reader


# How overlay shows the shared options (declared in yolo_probs.cli.options), and its own.
# Optional[...] rather than X | None: Typer reads these annotations at runtime.
_Source = Annotated[
    str, typer.Argument(help="Webcam index (0), video file, stream URL (rtsp/http) or image folder.", metavar="SOURCE")
]
_Temperature = Annotated[
    Optional[float],  # noqa: UP045
    tailored(
        TEMPERATURE, detail="The starting T ('r' in the window comes back to it).", default="the profile's, else 1"
    ),
]
_TopK = Annotated[
    Optional[int],  # noqa: UP045
    tailored(TOP_K, detail="They are drawn as bars.", default="the profile's, else 5"),
]
_MinProb = Annotated[
    Optional[float],  # noqa: UP045
    tailored(
        MIN_PROB,
        detail="The frame shows UNCERTAIN when its top class is below it.",
        default="the profile's, else never",
    ),
]
_Save = Annotated[
    Optional[Path],  # noqa: UP045
    tailored(SAVE, detail="a video (.mp4 or .avi) at the source's frame rate (small frames enlarged)."),
]
_Smooth = Annotated[
    Optional[float],  # noqa: UP045
    tailored(SMOOTH, detail="The bars show the smoothed probabilities; UNCERTAIN gets a hysteresis."),
]
_Show = Annotated[
    bool,
    typer.Option(
        "--show/--no-show",
        help="Open a window (keys: +/- T, [/] k, r reset, space pause (stills: next), s snapshot, q quit).",
    ),
]
_MaxFrames = Annotated[Optional[int], typer.Option("--max-frames", min=1, help="Stop after this many frames.")]  # noqa: UP045
_Fast = Annotated[
    bool,
    typer.Option(
        "--fast", help="In the window, play video files as fast as the model runs, not at their own frame rate."
    ),
]
_StillDelay = Annotated[
    float,
    typer.Option(
        "--still-delay",
        min=0.0,
        help="Seconds each still image stays in the window; 0 waits for a key (space, n or Enter: next).",
    ),
]


@option_groups
def overlay(
    source: _Source,
    model: ModelOption = None,
    profile: ProfileOption = None,
    temperature: _Temperature = None,
    top_k: _TopK = None,
    min_prob: _MinProb = None,
    smooth: _Smooth = None,
    imgsz: ImgszOption = None,
    device: DeviceOption = None,
    save: _Save = None,
    show: _Show = True,
    max_frames: _MaxFrames = None,
    fast: _Fast = False,
    still_delay: _StillDelay = 0.0,
    prep: Preprocessing = Preprocessing(),  # noqa: B008  (Typer shows its fields; see option_groups)
    engine: EngineOption = None,
    conf: ConfOption = None,
    iou: IouOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Show (and/or record) SOURCE with the top-k probabilities, temperature, FPS and uncertainty drawn on it.

    With a detection or segmentation model every box is drawn with its label and top-k bars, per frame.

    Small frames are drawn enlarged (at least 480 pixels tall). In the window, video files play at
    their own frame rate (--fast: as fast as the model runs) and each still image stays until a key.

    Exit code 0 when every frame was used, 1 when the source could not be opened, some frames were
    corrupt (skipped and counted) or the recording holds fewer frames than were drawn (what it holds
    is reported), 2 for usage errors (no display, unwritable --save, bad option).
    """
    extra = prep.model_kwargs(imgsz)
    reader = _open(source, save=save, show=show)
    set_verbose(verbose)
    options = {"temperature": temperature, "top_k": top_k, "min_prob": min_prob, "imgsz": imgsz, "device": device}
    extra |= {k: v for k, v in (("conf", conf), ("iou", iou)) if v is not None}
    clf = _classifier(reader, model=model, profile=profile, **options, engine=engine, **extra)
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
            smooth=smooth,
        )
    _report(stats, source)


def _open(source: str, *, save: Path | None, show: bool) -> Reader:
    """The source, opened after the cheap checks; a source that cannot be opened exits 1 with one line.

    ``--no-show`` without ``--save`` is refused: such a run would use the model on every frame and keep
    nothing (no window, no file), which is never what was meant.
    """
    if not show and save is None:
        raise typer.BadParameter("--no-show without --save would keep nothing; add --save out.mp4, or drop --no-show")
    if save is not None:
        check_output(save, inputs=[source])  # never record over the video being shown
    if show:
        check_display()
    try:
        return open_source(source)
    except SourceError as exc:
        error(str(exc))
        raise typer.Exit(1) from None


def _classifier(reader: Reader, **options: Any) -> YoloProbs:
    """The classifier (see :func:`~yolo_probs.cli.options.build_classifier`); the source is closed if it fails."""
    try:
        return build_classifier(**options)
    except BaseException:
        reader.close()
        raise


def _shown(stats: OverlayStats) -> str:
    """What was shown: ``120 frames at 29.8 fps``; still images are counted, not timed (they wait for a key)."""
    stills = f"{stats.stills} still image{'s' if stats.stills != 1 else ''}"
    if stats.frames and stats.stills == stats.frames:
        return stills
    shown = f"{stats.frames} frame{'s' if stats.frames != 1 else ''}"
    if stats.stills:
        return f"{shown} ({stills} among them)"
    return f"{shown} at {stats.fps:.1f} fps"


def _report(stats: OverlayStats, source: str) -> None:
    """The summary on stdout, the recording written, then what went wrong (exit 1)."""
    for line in stats.failures:
        error(line)
    summary = f"{_shown(stats)}, final T {stats.temperature:.2f}, k {stats.top_k}"
    if stats.dropped:
        summary += f", {stats.dropped} live frames dropped to stay current"
    print(summary, flush=True)
    if stats.saved is not None:
        wrote(stats.saved, stats.saved_frames, "frame", "the overlay recording")
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
