"""A real OpenCV window under Xvfb, driven with xdotool: space pauses, '+' changes T, 's' snapshots, 'q' quits.

Skipped (with the reason) where Xvfb or xdotool are not installed, e.g. ``apt-get install xvfb xdotool``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.overlay.media import MODEL, ROOT, make_video

pytestmark = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")) or not sys.platform.startswith("linux"),
    reason="needs Xvfb and xdotool on Linux (apt-get install xvfb xdotool)",
)


def _xdotool(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=10).stdout.strip()


def test_keys_in_a_real_window(tmp_path: Path, display: str) -> None:
    video = make_video(tmp_path / "digits.avi", 600, (320, 240))
    env = {**os.environ, "DISPLAY": display, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "yolo_probs", "overlay", str(video), "-m", str(MODEL), "--imgsz", "64", "-t", "1.0"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        window = ""
        deadline = time.monotonic() + 40
        while not window and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            window = _xdotool(env, "search", "--name", "^yolo-probs overlay$").split("\n")[0]
        assert window, f"no window appeared; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(1.0)  # let a few frames through so the window shows a prediction
        for key in ["space", "s", "plus", "plus", "s", "bracketleft", "q"]:
            _xdotool(env, "key", "--window", window, key)
            time.sleep(0.4)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "final T 1.21, k 4" in out  # two '+' from T=1.0, one '[' from k=5
    assert "Traceback" not in err
    shots = sorted(tmp_path.glob("yolo-probs-*.png"), key=lambda p: p.name[-5])
    assert len(shots) == 2, out
    before, after = (cv2.imread(str(p)) for p in shots)
    assert before.shape == after.shape == (480, 640, 3)  # 320x240 is shown enlarged
    diff = np.any(before != after, axis=2)
    # Paused: the same frame, redrawn with the new temperature: only the panel changed.
    ys, xs = np.nonzero(diff)
    assert diff.any() and xs.max() < 400 and ys.max() < 300


def _start(tmp_path: Path, display: str, *args: str) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    """Start the overlay in a window; return the process, its environment and the window id."""
    env = {**os.environ, "DISPLAY": display, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "yolo_probs", "overlay", *args, "-m", str(MODEL)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    window, deadline = "", time.monotonic() + 40
    while not window and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        window = _xdotool(env, "search", "--name", "^yolo-probs overlay$").split("\n")[0]
    if not window:
        proc.kill()
        pytest.fail(f"no window appeared; stderr: {proc.communicate()[1]}")
    return proc, env, window


def _finish(proc: subprocess.Popen[str], timeout: float = 30) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_still_images_stay_until_a_key_on_an_enlarged_canvas(tmp_path: Path, display: str) -> None:
    proc, env, window = _start(tmp_path, display, str(ROOT / "examples" / "images"))
    time.sleep(3.0)
    assert proc.poll() is None, "the window of a still image closed by itself"
    for key in ["s", "space", "space", "q"]:  # snapshot of image 1, next, next, quit on image 3
        _xdotool(env, "key", "--window", window, key)
        time.sleep(0.5)
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert out.splitlines()[-1].startswith("3 still images, final T"), out  # no frame rate for stills
    (shot,) = tmp_path.glob("yolo-probs-*.png")
    drawn = cv2.imread(str(shot))
    assert drawn.shape == (480, 480, 3)  # the 64x64 digit, enlarged for reading
    digit = cv2.resize(cv2.imread(str(ROOT / "examples" / "images" / "digit_0.png")), (480, 480), interpolation=0)
    # The digit is intact outside the panel and the two bands along the bottom (status line, key help).
    assert np.abs(drawn[250:420, 300:].astype(int) - digit[250:420, 300:]).mean() < 2


def _run_to_end(tmp_path: Path, display: str, *args: str) -> str:
    """Run the overlay in a window until it ends by itself; return its summary line (exit code 0 checked)."""
    env = {**os.environ, "DISPLAY": display, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "yolo_probs", "overlay", *args, "-m", str(MODEL)]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_still_delay_moves_on_by_itself(tmp_path: Path, display: str) -> None:
    summary = _run_to_end(tmp_path, display, str(ROOT / "examples" / "images"), "--still-delay", "0.3")
    assert summary.startswith("6 still images, final T"), summary


@pytest.mark.parametrize("fast", [False, True])
def test_video_plays_at_its_own_rate_unless_fast(tmp_path: Path, display: str, fast: bool) -> None:
    # 8 frames announced at 2 fps: at least 3.5 s at the file's own rate; --fast runs at the model's speed.
    video = make_video(tmp_path / "clip.avi", 8, (320, 240), fps=2.0)
    summary = _run_to_end(tmp_path, display, str(video), *(["--fast"] if fast else []))
    fps = float(summary.split(" frames at ")[1].split(" fps")[0])
    assert summary.startswith("8 frames"), summary
    paced_at_most = 2.0 * 8 / 7  # 7 intervals of 1/2 s at least: never faster than the file
    if fast:
        assert fps > paced_at_most + 0.05, summary  # 8 frames of a 64-pixel model take well under 3.5 s
    else:
        assert fps <= paced_at_most + 0.05, summary  # the summary rounds fps to 0.1 (2.29 prints as 2.3)


def test_keys_typed_quickly_are_all_taken(tmp_path: Path, display: str) -> None:
    # Three '+' 12 ms apart arrive between two frames: each one counts (T 1.0 -> 1.1**3).
    video = make_video(tmp_path / "digits.avi", 600, (320, 240))
    proc, env, window = _start(tmp_path, display, str(video), "--imgsz", "64", "-t", "1.0")
    time.sleep(1.0)
    _xdotool(env, "key", "--window", window, "--delay", "12", "plus", "plus", "plus")
    time.sleep(0.5)
    _xdotool(env, "key", "--window", window, "q")
    out, err = _finish(proc)
    assert proc.returncode == 0, err
    assert "final T 1.33, k 5" in out, out
