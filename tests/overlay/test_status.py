"""What the overlay says about what is on screen: the status line, still images, --no-show, and --smooth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import IMAGES
from tests.overlay.media import MODEL, make_video
from yolo_probs.cli import main
from yolo_probs.cli.overlay import _shown
from yolo_probs.core.prediction import Prediction
from yolo_probs.errors import ConfigError
from yolo_probs.overlay import OverlayDrawer
from yolo_probs.overlay.loop import OverlayStats, run_overlay
from yolo_probs.overlay.readers import open_source


@pytest.fixture(scope="module")
def clf():
    from yolo_probs.api.model import YoloProbs

    with YoloProbs(MODEL, imgsz=64, device="cpu", top_k=3) as model:
        yield model


def test_readers_say_which_file_and_frame(tmp_path: Path) -> None:
    video = make_video(tmp_path / "clip.avi", 3, fps=10.0)
    reader = open_source(str(video))
    try:
        labels, times = [], []
        while reader.read() is not None:
            labels.append(reader.label)
            times.append(reader.time)
    finally:
        reader.close()
    assert labels == ["clip.avi  frame 1/3  0.00 s", "clip.avi  frame 2/3  0.10 s", "clip.avi  frame 3/3  0.20 s"]
    assert times == pytest.approx([0.0, 0.1, 0.2])  # the video's own timestamps
    folder = open_source(str(IMAGES))
    try:
        folder.read()
        folder.read()
        assert folder.label == "digit_3.png  2/6" and folder.time is None and folder.still
    finally:
        folder.close()


def test_status_line_is_drawn_along_the_bottom() -> None:
    p = Prediction.from_logits(np.array([3.0, 1.0, 0.0]), names=("cat", "dog", "owl"), top_k=3)
    frame = np.full((480, 640, 3), 200, np.uint8)
    plain = OverlayDrawer().draw(frame.copy(), p, help=False)
    status = OverlayDrawer().draw(frame.copy(), p, help=False, status="clip.mp4  frame 12/300  0.40 s")
    changed = np.flatnonzero(np.any(plain != status, axis=(1, 2)))
    assert changed.min() > 400 and changed.max() == 479  # a band at the bottom, nothing else moved
    long = OverlayDrawer().draw(frame.copy(), p, help=True, status="x" * 400 + "name.mp4")
    assert long.shape == frame.shape  # a name too long for the frame is cut, never drawn off it


@pytest.mark.parametrize(
    ("frames", "stills", "summary"),
    [
        (6, 6, "6 still images"),
        (1, 1, "1 still image"),
        (5, 2, "5 frames (2 still images among them)"),
        (30, 0, "30 frames at 12.5 fps"),
    ],
)
def test_summary_of_stills_has_no_frame_rate(frames: int, stills: int, summary: str) -> None:
    assert _shown(OverlayStats(frames=frames, stills=stills, fps=12.5)) == summary


def test_cli_no_show_without_save_is_refused(capsys) -> None:
    assert main(["overlay", str(IMAGES), "-m", "missing.pt", "--no-show"]) == 2  # before the model loads
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--no-show without --save would keep nothing" in err[0]


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "7200"])
def test_cli_bad_smooth_is_a_usage_error(capsys, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "out.avi"
    assert main(["overlay", str(IMAGES), "-m", "missing.pt", "--no-show", "--save", str(out), "--smooth", bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'--smooth'" in err[0] and "half-life in seconds" in err[0]
    assert not out.exists()


def test_smoothing_in_the_overlay(tmp_path: Path, clf, capsys) -> None:
    video = make_video(tmp_path / "clip.avi", 12, fps=10.0)
    stats = run_overlay(clf, str(video), show=False, save=tmp_path / "out.avi", smooth=0.15)
    assert (stats.frames, stats.saved_frames, stats.save_error) == (12, 12, None)
    with pytest.raises(ConfigError, match=r"^smooth must be") as info:
        run_overlay(clf, str(video), show=False, smooth=float("nan"))
    assert info.value.option == "smooth"
    capsys.readouterr()
    stats = run_overlay(clf, str(IMAGES), show=False, save=tmp_path / "stills.avi", smooth=0.15)
    assert stats.stills == stats.frames == 6
    notes = [line for line in capsys.readouterr().err.splitlines() if "still images" in line]
    assert notes == [
        "yolo-probs: smoothing does nothing on still images (only the frames of videos and streams are smoothed)"
    ]


def test_the_smoother_s_uncertain_state_is_what_is_drawn() -> None:
    p = Prediction.from_logits(np.array([0.2, 0.0, -0.1]), names=("cat", "dog", "owl"), top_k=3)  # top-1 about 0.39
    frame = np.full((240, 320, 3), 120, np.uint8)
    by_frame = OverlayDrawer(min_prob=0.5).draw(frame.copy(), p)  # UNCERTAIN: this frame alone is below 0.5
    held = OverlayDrawer(min_prob=0.5).draw(frame.copy(), p, uncertain=False)  # the hysteresis says not yet
    plain = OverlayDrawer().draw(frame.copy(), p)
    assert np.array_equal(held, plain) and not np.array_equal(by_frame, plain)
