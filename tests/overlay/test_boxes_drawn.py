"""Boxes drawn by a detection model's front ends: predict --save, the headless overlay and a real window."""

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

from tests.conftest import IMAGES, ROOT
from tests.overlay.media import make_video
from yolo_probs import YoloProbs
from yolo_probs.cli import main
from yolo_probs.overlay.boxes import PALETTE, BoxDrawer
from yolo_probs.overlay.canvas import to_canvas
from yolo_probs.overlay.loop import run_overlay

DETECTOR = ["-m", "yolo26n.yaml", "--conf", "0.0001", "--imgsz", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def detector() -> Iterator[YoloProbs]:
    """An untrained yolo26n: its boxes are meaningless, but they exist at a tiny threshold."""
    with YoloProbs("yolo26n.yaml", conf=0.0001, imgsz=64, device="cpu", top_k=3) as det:
        yield det


def _colours(image: np.ndarray, classes: set[int]) -> int:
    """How many pixels have exactly the colour of one of ``classes``."""
    return sum(int(np.all(image == np.array(PALETTE[c % len(PALETTE)], np.uint8), axis=2).sum()) for c in classes)


def test_predict_save_draws_every_box_on_the_enlarged_copy(capsys, tmp_path: Path, detector: YoloProbs) -> None:
    image = IMAGES / "digit_3.png"
    code = main(["predict", str(image), *DETECTOR, "--save", str(tmp_path / "out"), "-f", "jsonl"])
    _, err = capsys.readouterr()
    assert code == 0, err
    drawn = cv2.imread(str(tmp_path / "out" / "digit_3.png"))
    (want,) = detector.predict(str(image))
    assert drawn.shape == (480, 480, 3) and want.boxes  # a 64x64 image is drawn at 480x480
    # Exactly what the drawer makes of the same detections on the same canvas.
    expected = BoxDrawer(header=False).draw(to_canvas(cv2.imread(str(image))).copy(), want)
    assert np.abs(drawn.astype(int) - expected.astype(int)).mean() < 2  # PNG is lossless; allow float jitter
    assert _colours(drawn, {b.cls for b in want.boxes}) > 100


def test_the_headless_overlay_records_the_boxes_per_frame(tmp_path: Path, detector: YoloProbs) -> None:
    video = make_video(tmp_path / "digits.avi", 4, (320, 240))
    stats = run_overlay(detector, str(video), show=False, save=tmp_path / "rec.avi")
    assert stats.frames == 4 and stats.saved_frames == 4, stats.save_error
    cap = cv2.VideoCapture(str(tmp_path / "rec.avi"))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (480, 640, 3)
    boxes = detector.predict(str(video))[0].boxes
    classes = {b.cls for b in boxes}
    # MJPG is lossy: count pixels near a box colour instead of exactly on it.
    near = sum(
        int((np.abs(frame.astype(int) - np.array(PALETTE[c % len(PALETTE)])).max(axis=2) < 40).sum()) for c in classes
    )
    assert near > 200


@pytest.mark.slow
@pytest.mark.skipif(
    not (shutil.which("Xvfb") and shutil.which("xdotool")) or not sys.platform.startswith("linux"),
    reason="needs Xvfb and xdotool on Linux (apt-get install xvfb xdotool)",
)
def test_boxes_in_a_real_window_follow_the_temperature_key(tmp_path: Path, display: str) -> None:
    video = make_video(tmp_path / "digits.avi", 300, (320, 240))
    env = {**os.environ, "DISPLAY": display, "YOLO_OFFLINE": "1", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    cmd = [sys.executable, "-m", "yolo_probs", "overlay", str(video), *DETECTOR, "-t", "1.0"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def xdotool(*args: str) -> str:
        return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        window, deadline = "", time.monotonic() + 60
        while not window and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            window = xdotool("search", "--name", "^yolo-probs overlay$").split("\n")[0]
        assert window, f"no window appeared; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        time.sleep(1.0)
        for key in ["space", "s", "plus", "s", "q"]:
            xdotool("key", "--window", window, key)
            time.sleep(0.4)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "final T 1.10" in out and "Traceback" not in err
    shots = sorted(tmp_path.glob("yolo-probs-*.png"), key=lambda p: p.name[-5])
    assert len(shots) == 2, out
    before, after = (cv2.imread(str(p)) for p in shots)
    assert before.shape == after.shape == (480, 640, 3)
    assert _colours(before, set(range(len(PALETTE)))) > 100  # the boxes are drawn in the window
    # Paused, then '+': the same frame and boxes re-drawn at the new temperature (the header says T 1.10).
    diff = np.any(before != after, axis=2)
    assert diff.any() and diff[:40, :200].any()
