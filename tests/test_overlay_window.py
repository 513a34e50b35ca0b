"""A real OpenCV window under Xvfb, driven with xdotool: space pauses, '+' changes T, 's' snapshots, 'q' quits.

Skipped (with the reason) where Xvfb or xdotool are not installed, e.g. ``apt-get install xvfb xdotool``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from .overlay_media import MODEL, ROOT, make_video

pytestmark = pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")) or not sys.platform.startswith("linux"),
    reason="needs Xvfb and xdotool on Linux (apt-get install xvfb xdotool)",
)


@pytest.fixture
def display() -> Iterator[str]:
    """A private virtual screen; Xvfb picks a free display number and writes it to our pipe."""
    read, write = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


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
    assert before.shape == after.shape == (240, 320, 3)
    diff = np.any(before != after, axis=2)
    # Paused: the same frame, redrawn with the new temperature: only the panel changed.
    ys, xs = np.nonzero(diff)
    assert diff.any() and xs.max() < 200 and ys.max() < 150
