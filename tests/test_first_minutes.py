"""What a new user meets first: bare command, --version, help texts, the table, the progress bar on a
real terminal (tmux), ``predict --save DIR`` and what ``overlay --save`` reports."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.overlay.media import make_video
from yolo_probs import __version__
from yolo_probs.cli import main
from yolo_probs.core.prediction import Prediction
from yolo_probs.outputs.formats import TableWriter

from .conftest import MODEL, ROOT


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# -- the command itself --
def test_bare_command_prints_help_and_exits_0():
    done = subprocess.run([sys.executable, "-m", "yolo_probs"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: yolo-probs") and "predict" in done.stdout and done.stderr == ""


def test_version(capsys):
    code, out, err = run(capsys, "--version")
    assert (code, out, err) == (0, f"yolo-probs {__version__}\n", "")


@pytest.mark.parametrize("command", ["predict", "overlay", "calibrate", "evaluate", "export"])
def test_help_shows_argument_names_not_python_types(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    usage = out.splitlines()[0]
    assert code == 0 and "{" not in usage and "<list" not in out and "<str>  " not in out.split("Options:")[0]
    if command == "predict":
        assert usage == "Usage: yolo-probs predict [OPTIONS] SOURCE..."
    if command in ("calibrate", "evaluate"):
        assert usage.endswith("[OPTIONS] DATA") and ".onnx" in out  # ONNX models are accepted there too


def test_help_says_which_defaults_a_profile_overrides(capsys):
    _, out, _ = run(capsys, "predict", "--help")
    flat = " ".join(out.split())
    for option in ("--top-k", "--min-prob", "--imgsz", "--temperature"):
        text = flat.split(option, 1)[1].split(" -", 1)[0] if option != "--temperature" else flat
        assert "profile's" in text, option


# -- the table --
def _pred(source: str, probs: list[float], frame: int | None = None) -> Prediction:
    return Prediction.from_logits(np.log(np.array(probs)), names=("a", "b", "c"), top_k=3, source=source, frame=frame)


def test_table_tiny_probabilities_and_frame_column_only_for_videos():
    buf = io.StringIO()
    w = TableWriter(buf)
    w.write(_pred("x.png", [0.9996, 0.0003, 0.0001]))
    w.close()
    text = buf.getvalue()
    assert "a >99.9%" in text and "b <0.1%" in text and "0.0%" not in text
    assert "frame" not in text  # images only: no empty frame column
    buf = io.StringIO()
    w = TableWriter(buf)
    w.write(_pred("x.png", [0.5, 0.3, 0.2]))
    w.write(_pred("clip.mp4", [0.5, 0.3, 0.2], frame=7))
    w.close()
    assert "frame" in buf.getvalue() and " 7 " in buf.getvalue()


def test_table_cuts_long_paths_from_the_left_on_a_narrow_terminal():
    class Narrow(io.StringIO):
        def isatty(self) -> bool:
            return True

    source = "/very/long/path/" + "sub/" * 30 + "frame_000123.jpg"
    buf = Narrow()
    os.environ["COLUMNS"] = "80"
    try:
        w = TableWriter(buf)
        w.write(_pred(source, [0.7, 0.2, 0.1]))
        w.close()
    finally:
        del os.environ["COLUMNS"]
    lines = re.sub(r"\x1b\[[0-9;]*m", "", buf.getvalue()).splitlines()  # without the colour codes
    row = next(line for line in lines if "frame_000123.jpg" in line)
    assert "…" in row and "a 70.0%" in row and max(len(line) for line in lines) <= 80


# -- the progress bar on a real terminal --
def _tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=30).stdout


@pytest.mark.skipif(not shutil.which("tmux"), reason="needs tmux (apt-get install tmux)")
@pytest.mark.parametrize("frames", [6, 240])
def test_no_stale_progress_bar_on_a_real_terminal(tmp_path: Path, frames: int):
    # 6 frames end before the bar would appear; 240 take long enough to show it (progress.SHOW_AFTER):
    # either way the screen must hold the table alone, its border at the start of a line.
    make_video(tmp_path / "clip.avi", frames, (64, 48))
    session = f"yp{os.getpid()}{frames}"
    env = f"PYTHONPATH={ROOT} YOLO_OFFLINE=1 OMP_NUM_THREADS=1"
    cmd = f"cd {tmp_path} && env {env} {sys.executable} -m yolo_probs predict clip.avi -m {MODEL} -k 1; echo EXIT=$?"
    _tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "40", cmd + "; sleep 120")
    try:
        deadline, screen = time.monotonic() + 120, ""
        while "EXIT=" not in screen and time.monotonic() < deadline:
            time.sleep(0.5)
            screen = _tmux("capture-pane", "-p", "-J", "-S", "-", "-t", session)
    finally:
        _tmux("kill-session", "-t", session)
    assert "EXIT=0" in screen, screen
    lines = screen.splitlines()
    assert not any("classifying" in line for line in lines), screen
    top = [line for line in lines if "┏" in line]
    assert len(top) == 1 and top[0].startswith("┏"), screen
    assert sum("│ clip.avi" in line for line in lines) == frames


# -- predict --save DIR --
def test_predict_save_writes_annotated_copies(tmp_path: Path, capsys):
    images = tmp_path / "in"
    images.mkdir()
    for name in ("digit_3.png", "hard_3.png"):
        shutil.copy(ROOT / "examples" / "images" / name, images / name)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(ROOT / "examples" / "images" / "digit_8.png", other / "digit_3.png")  # same name, other folder
    video = make_video(tmp_path / "clip.avi", 5, (96, 64), fps=8.0)
    (images / "broken.png").write_text("not an image")
    out = tmp_path / "annotated"
    args = [str(images), str(other / "digit_3.png"), str(video), "-m", str(MODEL), "-f", "jsonl", "--save", str(out)]
    code, stdout, err = run(capsys, "predict", *args)
    assert code == 1  # broken.png failed; the rest is written and saved
    records = [json.loads(line) for line in stdout.splitlines()]
    assert len(records) == 2 + 1 + 5
    assert sorted(p.name for p in out.iterdir()) == ["clip.mp4", "digit_3-2.png", "digit_3.png", "hard_3.png"]
    assert f"yolo-probs: wrote 4 files to {out} (annotated copies, 8 frames)\n" in err and "broken.png" in err
    copy = cv2.imread(str(out / "hard_3.png"))
    source = cv2.resize(cv2.imread(str(images / "hard_3.png")), (480, 480), interpolation=cv2.INTER_NEAREST)
    assert copy.shape == (480, 480, 3)  # a 64x64 image is annotated on a 480x480 canvas
    changed = np.abs(copy.astype(int) - source).max(axis=2) > 40
    assert changed[:120, :160].mean() > 0.2 and changed[300:, 300:].mean() < 0.01  # panel top-left, digit intact
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 5 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(8.0)
    cap.release()


def test_predict_save_never_overwrites_an_input(tmp_path: Path, capsys):
    image = tmp_path / "digit_5.png"
    shutil.copy(ROOT / "examples" / "images" / "digit_5.png", image)
    before = image.read_bytes()
    code, _, _ = run(capsys, "predict", str(image), "-m", str(MODEL), "-f", "jsonl", "--save", str(tmp_path))
    assert code == 0 and image.read_bytes() == before
    assert cv2.imread(str(tmp_path / "digit_5-annotated.png")).shape == (480, 480, 3)


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_predict_save_bad_folder_is_a_usage_error(tmp_path: Path, capsys, kind: str):
    target = tmp_path / "x"
    if kind == "file":
        target.write_text("")
    else:
        if os.geteuid() == 0:
            target = Path("/proc/yolo-probs-out")  # even root cannot create folders there
        else:
            tmp_path.chmod(0o500)
    image = str(ROOT / "examples" / "images" / "digit_5.png")
    code, out, err = run(capsys, "predict", image, "-m", str(MODEL), "--save", str(target))
    tmp_path.chmod(0o700)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "--save" in err


# -- overlay --save reports what was written --
def test_overlay_save_with_no_frame_reports_nothing_written(tmp_path: Path, capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "a.png").write_text("not an image")
    out = tmp_path / "out.avi"
    code, stdout, err = run(capsys, "overlay", str(folder), "-m", str(MODEL), "--no-show", "--save", str(out))
    assert code == 1 and not out.exists()
    assert "wrote" not in stdout + err and "nothing was recorded" in err


def test_overlay_save_that_the_codec_cannot_open(tmp_path: Path, capsys, monkeypatch):
    from yolo_probs.overlay import recorder

    monkeypatch.setitem(recorder._FOURCC, ".avi", "ZZZZ")  # no encoder has this fourcc
    video = make_video(tmp_path / "clip.avi", 4, (96, 64))
    out = tmp_path / "out.avi"
    code, stdout, err = run(capsys, "overlay", str(video), "-m", str(MODEL), "--no-show", "--save", str(out))
    assert code == 1 and not out.exists() and "wrote" not in stdout + err
    assert "--save" in err and "cannot encode" in err


def test_overlay_save_that_holds_fewer_frames_than_drawn(tmp_path: Path, capsys, monkeypatch):
    from yolo_probs.overlay import recorder

    real = recorder.frames_in
    monkeypatch.setattr(recorder, "frames_in", lambda path: real(path) - 2)  # an encoder that dropped two frames
    video = make_video(tmp_path / "clip.avi", 5, (96, 64))
    out = tmp_path / "out.avi"
    code, stdout, err = run(capsys, "overlay", str(video), "-m", str(MODEL), "--no-show", "--save", str(out))
    assert code == 1 and "only 3 of 5 frames were recorded" in err
    assert f"yolo-probs: wrote 3 frames to {out}" in err and "wrote" not in stdout  # what the recording holds
