"""The overlay loop and the ``yolo-probs overlay`` command, headless, on videos made from the shipped digits."""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tests.overlay.media import MODEL, corrupt_frame, digit_frames, make_video, read_video
from yolo_probs.cli import main
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.overlay import OverlayDrawer
from yolo_probs.overlay.controls import Controls
from yolo_probs.overlay.loop import run_overlay
from yolo_probs.overlay.readers import LatestFrameReader, VideoFileReader, open_source


@pytest.fixture(scope="module")
def clf():
    from yolo_probs.api.model import YoloProbs

    with YoloProbs(MODEL, imgsz=64, device="cpu", top_k=3) as model:
        yield model


def _panel_changed(source: np.ndarray, drawn: np.ndarray) -> float:
    """Share of the top-left panel area (a quarter of the frame) that differs from the source by a lot."""
    h, w = source.shape[:2]
    a, b = source[: h // 4, : w // 4].astype(int), drawn[: h // 4, : w // 4].astype(int)
    return float((np.abs(a - b).max(axis=2) > 40).mean())


# -- the loop --
def test_headless_recording_keeps_every_frame_size_and_rate(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 12, (640, 480), fps=12.0)  # 480 tall: recorded at its own size
    out = tmp_path / "out.avi"
    stats = run_overlay(clf, str(video), drawer=OverlayDrawer(min_prob=0.5), show=False, save=out)
    assert (stats.frames, stats.dropped, stats.corrupt) == (12, 0, 0)
    assert (stats.saved, stats.saved_frames, stats.save_error) == (str(out), 12, None)
    frames, fps = read_video(out)
    assert len(frames) == 12 and frames[0].shape == (480, 640, 3) and fps == pytest.approx(12.0)
    source, _ = read_video(video)
    for src, drawn in zip(source, frames, strict=True):
        assert _panel_changed(src, drawn) > 0.2  # the panel is drawn on every frame
        # ... and the scene outside the panel, the status line and the centre-square outline is left alone.
        assert np.abs(src[300:440, 500:620].astype(int) - drawn[300:440, 500:620]).mean() < 4


def test_mp4_output_and_max_frames(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 10, (320, 240))
    out = tmp_path / "out.mp4"
    stats = run_overlay(clf, str(video), show=False, save=out, max_frames=4)
    frames, fps = read_video(out)
    # A 240-pixel video is drawn, and recorded, on a canvas twice its size (at least 480 tall).
    assert stats.frames == 4 and len(frames) == 4 and frames[0].shape == (480, 640, 3) and fps == pytest.approx(10)


def test_overlay_shows_the_model_answer(tmp_path: Path, clf) -> None:
    # The first frames show digit_0, the next ones digit_3: the drawn bars change with the answer.
    video = make_video(tmp_path / "digits.avi", 6, (320, 240))
    out = tmp_path / "out.avi"
    run_overlay(clf, str(video), show=False, save=out)
    drawn, _ = read_video(out)
    top = [clf.predict(f)[0] for f in digit_frames(6)]
    assert [clf.names[p.top1] for p in top] == ["0", "0", "0", "3", "3", "3"]
    panel = [f[: 240 // 2, : 320 // 2].astype(int) for f in drawn]
    assert np.abs(panel[0] - panel[1]).mean() < np.abs(panel[2] - panel[3]).mean()


def test_corrupt_frames_are_skipped_and_counted(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 10, (320, 240))
    corrupt_frame(video, 4)
    out = tmp_path / "out.avi"
    stats = run_overlay(clf, str(video), show=False, save=out)
    assert (stats.frames, stats.corrupt) == (9, 1)
    assert len(read_video(out)[0]) == 9


def test_image_folder_frame_by_frame_with_bad_image(tmp_path: Path, clf) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, frame in enumerate(digit_frames(9)[::3]):
        cv2.imwrite(str(folder / f"{i}.png"), frame)
    (folder / "9.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    out = tmp_path / "out.avi"
    stats = run_overlay(clf, str(folder), show=False, save=out)
    assert (stats.frames, stats.corrupt) == (3, 1)
    assert "9.png" in stats.failures[0]
    assert len(read_video(out)[0]) == 3


def test_live_reader_keeps_only_the_newest_frame(tmp_path: Path) -> None:
    video = make_video(tmp_path / "digits.avi", 30, (160, 120))
    reader = open_source(str(video), live=True)
    assert isinstance(reader, LatestFrameReader)
    try:
        got = [reader.read()]
        time.sleep(0.5)  # a slow model: the capture thread reads all 30 frames meanwhile
        while (frame := reader.read(timeout=2.0)) is not None:
            got.append(frame)
    finally:
        reader.close()
    assert len(got) < 30 and reader.dropped > 0
    assert len(got) + reader.dropped == 30  # every frame was either used or dropped, never queued


def test_video_files_are_read_frame_by_frame(tmp_path: Path) -> None:
    reader = open_source(str(make_video(tmp_path / "d.avi", 8)))
    assert isinstance(reader, VideoFileReader) and reader.fps == pytest.approx(10)
    n = 0
    time.sleep(0.2)
    while reader.read() is not None:
        n += 1
    reader.close()
    assert n == 8 and reader.dropped == 0


def test_controls() -> None:
    c = Controls(temperature=2.0, top_k=2, num_classes=3)
    for key, want in [("+", 2.2), ("+", 2.42), ("-", 2.2), ("=", 2.42), ("_", 2.2), ("r", 2.0)]:
        assert c.handle(ord(key)) == "temperature" and c.temperature == pytest.approx(want)
    assert [c.handle(ord("]")) for _ in range(3)] == ["top_k"] * 3 and c.top_k == 3  # clipped to the classes
    assert [c.handle(ord("[")) for _ in range(4)] == ["top_k"] * 4 and c.top_k == 1
    assert c.handle(ord(" ")) == "pause" and c.paused and c.handle(ord(" ")) == "pause" and not c.paused
    assert c.handle(ord("s")) == "snapshot"
    assert c.handle(ord("q")) == "quit" and c.handle(27) == "quit"
    assert c.handle(-1) is None and c.handle(ord("x")) is None


# -- the command --
def _one_error_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("yolo-probs: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_cli_headless_save(tmp_path: Path, capsys) -> None:
    video = make_video(tmp_path / "digits.avi", 6, (320, 240))
    out = tmp_path / "out.avi"
    code = main(["overlay", str(video), "--model", str(MODEL), "--no-show", "--save", str(out), "--imgsz", "64",
                 "--device", "cpu", "-t", "1.5", "--min-prob", "0.6", "--top-k", "3", "--max-frames", "5"])  # fmt: skip
    assert code == 0
    assert "5 frames" in capsys.readouterr().out
    frames, _ = read_video(out)
    assert len(frames) == 5 and frames[0].shape == (480, 640, 3)


def test_cli_corrupt_frames_exit_1_after_recording(tmp_path: Path, capsys) -> None:
    video = make_video(tmp_path / "digits.avi", 8)
    corrupt_frame(video, 2)
    corrupt_frame(video, 5)
    out = tmp_path / "out.avi"
    code = main(["overlay", str(video), "-m", str(MODEL), "--no-show", "--save", str(out), "--imgsz", "64"])
    assert code == 1
    assert capsys.readouterr().err.splitlines() == [  # what the recording holds, then the one error
        f"yolo-probs: wrote 6 frames to {out} (the overlay recording)",
        f"yolo-probs: error: {video}: skipped 2 corrupt frame(s) of 8; re-encode it",
    ]
    assert len(read_video(out)[0]) == 6


def test_cli_webcam_that_does_not_exist(capsys, tmp_path: Path, monkeypatch, no_webcams: list[int]) -> None:
    monkeypatch.chdir(tmp_path)  # so that "63" cannot name a file
    assert main(["overlay", "63", "--no-show", "--save", "out.avi"]) == 1
    _one_error_line(capsys, "63", "cannot open webcam 63")
    assert no_webcams == [63]  # asked of the stand-in, never of the machine's cameras


class _InterruptedAfter:
    """A reader that gives ``frames`` frames of ``reader``, then raises KeyboardInterrupt (Ctrl-C) on the next read."""

    def __init__(self, reader: Any, frames: int) -> None:
        self.reader, self.left = reader, frames

    def read(self) -> np.ndarray | None:
        if self.left == 0:
            raise KeyboardInterrupt
        self.left -= 1
        return self.reader.read()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


def test_ctrl_c_ends_the_loop_like_q_and_keeps_the_recording(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 8, (320, 240))
    out = tmp_path / "out.avi"
    stats = run_overlay(clf, _InterruptedAfter(open_source(str(video)), 3), show=False, save=out)
    assert (stats.frames, stats.interrupted) == (3, True)
    assert (stats.saved, stats.saved_frames, stats.save_error) == (str(out), 3, None)
    assert len(read_video(out)[0]) == 3


def test_cli_ctrl_c_during_a_headless_recording_reports_it_like_q(tmp_path: Path, capsys, monkeypatch) -> None:
    command = importlib.import_module("yolo_probs.cli.overlay")  # the name overlay is the command, in cli
    real = command.open_source
    monkeypatch.setattr(command, "open_source", lambda source: _InterruptedAfter(real(source), 3))
    video = make_video(tmp_path / "digits.avi", 8, (320, 240))
    out = tmp_path / "out.avi"
    code = main(["overlay", str(video), "-m", str(MODEL), "--no-show", "--save", str(out), "--imgsz", "64"])
    stdout, err = capsys.readouterr()
    assert code == 0 and stdout.startswith("3 frames at ")  # the summary, as after 'q'
    assert err.splitlines() == [f"yolo-probs: wrote 3 frames to {out} (the overlay recording)"]
    assert len(read_video(out)[0]) == 3


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("junk.mp4", b"not a video at all", "cannot open the video"),
        ("missing.mp4", None, "no such file"),
        ("notes.txt", b"hello", "unsupported file type"),
    ],
)
def test_cli_video_that_cannot_be_opened(tmp_path: Path, capsys, name: str, content: bytes | None, needle: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert main(["overlay", str(path), "--no-show", "--save", str(tmp_path / "out.avi")]) == 1
    _one_error_line(capsys, name, needle)


def test_cli_show_without_display(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = make_video(tmp_path / "digits.avi", 2)
    assert main(["overlay", str(video)]) == 2
    _one_error_line(capsys, "no display", "--no-show --save out.mp4")
    assert main(["overlay", str(video), "--show"]) == 2
    _one_error_line(capsys, "no display")


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        ("no/such/folder/out.mp4", "cannot write it"),
        ("out.gif", "unsupported video type"),
        (".", "is a folder"),
        ("digits.avi/out.mp4", "is a file, not a folder"),
    ],
)
def test_cli_output_that_cannot_be_written(tmp_path: Path, capsys, target: str, needle: str) -> None:
    video = make_video(tmp_path / "digits.avi", 2)
    out = tmp_path / target
    assert main(["overlay", str(video), "--no-show", "--save", str(out)]) == 2
    _one_error_line(capsys, "--save", needle)
    assert not (tmp_path / "no").exists()


def test_cli_output_in_read_only_folder(tmp_path: Path, capsys) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root can write into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    video = make_video(tmp_path / "digits.avi", 2)
    try:
        assert main(["overlay", str(video), "--no-show", "--save", str(folder / "out.mp4")]) == 2
    finally:
        folder.chmod(0o700)
    _one_error_line(capsys, "cannot write it")


def test_api_errors_are_one_line_exceptions(tmp_path: Path, clf) -> None:
    (tmp_path / "x.mp4").write_bytes(b"x")
    with pytest.raises(SourceError, match="cannot open the video"):
        run_overlay(clf, str(tmp_path / "x.mp4"), show=False)
    with pytest.raises(ConfigError, match="max-frames"):
        run_overlay(clf, "whatever.mp4", show=False, max_frames=0)
