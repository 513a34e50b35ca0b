"""``run_overlay(..., save=...)`` and snapshots go through the one file writer, headless, on private nodes only.

A character device is written into and stays a device; a symlink stays a link and its target gets the
video; a FIFO receives the finished video; a folder is refused in one line; a failed recording leaves
the output as it was and no temporary file behind. The moved names of ``yolo_probs.overlay.loop`` still
work, with a warning.
"""

from __future__ import annotations

import errno
import importlib
import os
import stat
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.overlay.media import MODEL, make_video, read_video
from tests.targets import char_device
from yolo_probs.errors import ConfigError
from yolo_probs.overlay import recorder
from yolo_probs.overlay.loop import run_overlay
from yolo_probs.overlay.recorder import frames_in, save_snapshot


@pytest.fixture(scope="module")
def clf():
    from yolo_probs.api.model import YoloProbs

    with YoloProbs(MODEL, imgsz=64, device="cpu", top_k=3) as model:
        yield model


def _names(folder: Path) -> list[str]:
    """Everything in ``folder``, hidden temporary files included."""
    return sorted(p.name for p in folder.iterdir())


def test_recording_into_a_null_device_streams_it_and_keeps_the_device(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 6)
    node = char_device(tmp_path / "null.avi", "null")
    stats = run_overlay(clf, str(video), show=False, save=node)
    assert stat.S_ISCHR(os.lstat(node).st_mode) and os.lstat(node).st_rdev == os.makedev(1, 3)
    # Counted in the temporary file before it was streamed in: a device cannot be read back.
    assert (stats.frames, stats.saved, stats.saved_frames, stats.save_error) == (6, str(node), 6, None)
    assert _names(tmp_path) == ["digits.avi", "null.avi"]


def test_a_device_that_is_full_is_reported_in_one_line_and_stays_a_device(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 4)
    node = char_device(tmp_path / "full.avi", "full")  # every write: no space left
    stats = run_overlay(clf, str(video), show=False, save=node)
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert stats.frames == 4 and stats.saved is None and stats.saved_frames == 0
    assert stats.save_error is not None and "\n" not in stats.save_error
    assert stats.save_error.startswith("--save: cannot write ") and "No space left on device" in stats.save_error
    assert _names(tmp_path) == ["digits.avi", "full.avi"]


def test_recording_through_a_symlink_writes_its_target_and_keeps_the_link(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 5)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "clip.avi"
    target.write_bytes(b"an older recording")
    target.chmod(0o640)
    link = tmp_path / "link.avi"
    link.symlink_to(Path("real") / "clip.avi")
    stats = run_overlay(clf, str(video), show=False, save=link)
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "clip.avi")
    assert stat.S_ISREG(os.lstat(target).st_mode) and stat.S_IMODE(target.stat().st_mode) == 0o640
    frames, _ = read_video(target)
    assert len(frames) == 5 and frames[0].shape == (480, 640, 3)
    assert (stats.saved, stats.saved_frames, stats.save_error) == (str(link), 5, None)
    assert _names(tmp_path / "real") == ["clip.avi"] and _names(tmp_path) == ["digits.avi", "link.avi", "real"]


def test_recording_into_a_fifo_sends_the_whole_video(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 4)
    fifo = tmp_path / "pipe.avi"
    os.mkfifo(fifo)
    received: list[bytes] = []
    thread = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    thread.start()
    try:
        stats = run_overlay(clf, str(video), show=False, save=fifo)
    finally:
        if thread.is_alive() and not received:  # nothing was written: let the reader see an end of file
            with open(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK), "wb"):
                pass
        thread.join(timeout=10)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert (stats.frames, stats.saved, stats.saved_frames, stats.save_error) == (4, str(fifo), 4, None)
    copy = tmp_path / "copy.avi"
    copy.write_bytes(received[0])
    assert received[0][:4] == b"RIFF" and frames_in(copy) == 4  # a whole AVI, not a stream cut short


def test_a_folder_is_refused_in_one_line_before_anything_starts(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 2)
    folder = tmp_path / "clips.mp4"  # a video's suffix: refused for being a folder, not for its name
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError) as caught:
        run_overlay(clf, str(video), show=False, save=folder)
    assert "\n" not in str(caught.value) and "is a folder" in str(caught.value)
    assert str(caught.value).endswith(f"name a file in it, e.g. {folder}/out.mp4")
    assert recorder.check_output(folder / "out.mp4") == folder / "out.mp4"  # what it suggests is a video
    assert folder.is_dir() and _names(folder) == ["keep.txt"]


def test_the_input_video_is_refused_as_the_output(tmp_path: Path, clf) -> None:
    video = make_video(tmp_path / "digits.avi", 2)
    before = video.read_bytes()
    with pytest.raises(ConfigError, match="is also an input of this run"):
        run_overlay(clf, str(video), show=False, save=tmp_path / "." / "digits.avi")
    assert video.read_bytes() == before


def test_a_failed_recording_leaves_the_old_file_and_no_temporary_file(tmp_path: Path, clf, monkeypatch) -> None:
    video = make_video(tmp_path / "digits.avi", 3)
    out = tmp_path / "out.avi"
    out.write_bytes(b"yesterday's recording")
    monkeypatch.setitem(recorder._FOURCC, ".avi", "ZZZZ")  # no encoder has this fourcc
    stats = run_overlay(clf, str(video), show=False, save=out)
    assert stats.saved is None and stats.save_error is not None and "cannot encode" in stats.save_error
    assert stats.frames == 1  # a headless run stops when its recording cannot be made
    assert out.read_bytes() == b"yesterday's recording"
    assert _names(tmp_path) == ["digits.avi", "out.avi"]


def test_a_recording_that_reads_back_empty_is_discarded(tmp_path: Path, clf, monkeypatch) -> None:
    seen: list[Path] = []
    # An encoder that wrote nothing.
    monkeypatch.setattr(recorder, "frames_in", lambda path: seen.append(Path(path)) or 0)
    video = make_video(tmp_path / "digits.avi", 3)
    out = tmp_path / "out.avi"
    out.write_bytes(b"yesterday's recording")
    stats = run_overlay(clf, str(video), show=False, save=out)
    assert stats.save_error is not None and "wrote no frame of 3" in stats.save_error and stats.saved is None
    # It was read back in the writer's temporary file beside the output, which is then removed.
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".out.avi.") and not seen[0].exists()
    assert out.read_bytes() == b"yesterday's recording" and _names(tmp_path) == ["digits.avi", "out.avi"]


def test_a_source_with_no_frame_leaves_the_old_file(tmp_path: Path, clf) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_text("not an image")
    out = tmp_path / "out.avi"
    out.write_bytes(b"yesterday's recording")
    stats = run_overlay(clf, str(folder), show=False, save=out)
    assert stats.save_error is not None and "nothing was recorded" in stats.save_error
    assert out.read_bytes() == b"yesterday's recording" and _names(tmp_path) == ["bad", "out.avi"]


def test_snapshots_are_written_whole_or_reported(tmp_path: Path, capsys) -> None:
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    path = save_snapshot(image, tmp_path, frame=12, number=1)
    assert path is not None and Path(path).parent == tmp_path and path.endswith("-frame000012-1.png")
    assert np.array_equal(cv2.imread(path), image) and _names(tmp_path) == [Path(path).name]
    assert save_snapshot(image, tmp_path / "missing", frame=13, number=2) is None
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"yolo-probs: wrote {path} (snapshot)"
    assert len(lines) == 2 and lines[1].startswith("yolo-probs: error: cannot write snapshot ")
    assert lines[1].endswith(" (No such file or directory); check that the folder is writable")
    assert not (tmp_path / "missing").exists()


def test_a_snapshot_on_a_full_disk_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    from yolo_probs.outputs import files

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "_settle", full)  # the writer's last step before the rename fails: disk full
    assert save_snapshot(np.zeros((8, 8, 3), np.uint8), tmp_path, frame=3, number=0) is None
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"yolo-probs: error: cannot write snapshot {tmp_path}/yolo-probs-")
    assert line.endswith("-frame000003-0.png (No space left on device); free some space")
    assert _names(tmp_path) == []  # no temporary file left behind


MOVED = {
    "Reader": "readers",
    "LatestFrameReader": "readers",
    "VideoFileReader": "readers",
    "FolderReader": "readers",
    "open_source": "readers",
    "BackgroundWriter": "recorder",
    "check_output": "recorder",
    "frames_in": "recorder",
    "Controls": "controls",
    "NEXT_KEYS": "controls",
    "T_STEP": "controls",
}


@pytest.mark.parametrize(("name", "home"), sorted(MOVED.items()))
def test_names_moved_out_of_the_loop_warn_and_are_the_same_objects(name: str, home: str) -> None:
    import yolo_probs.overlay.loop as loop

    with pytest.warns(DeprecationWarning, match=f"loop.{name} moved to yolo_probs.overlay.{home}.{name}"):
        old = getattr(loop, name)
    assert old is getattr(importlib.import_module(f"yolo_probs.overlay.{home}"), name)


def test_what_run_overlay_users_need_stays_in_the_loop_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from yolo_probs.overlay.loop import OverlayStats, check_display, run_overlay

    assert OverlayStats.__module__ == check_display.__module__ == run_overlay.__module__ == "yolo_probs.overlay.loop"
