"""Short test videos and folders made from the shipped digit images (shared by the overlay tests)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
DIGITS = sorted((ROOT / "examples" / "images").glob("digit_*.png"))


def digit_frames(n: int, size: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """``n`` BGR frames (w, h = size): the shipped digits upscaled, each shown for 3 frames in turn."""
    images = [cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_LINEAR) for p in DIGITS]
    return [images[(i // 3) % len(images)] for i in range(n)]


def make_video(path: Path, n: int, size: tuple[int, int] = (320, 240), fps: float = 10.0) -> Path:
    """Write an MJPG AVI of ``n`` digit frames (MJPG: every frame is its own JPEG, so one can be damaged)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert writer.isOpened()
    for frame in digit_frames(n, size):
        writer.write(frame)
    writer.release()
    return path


def corrupt_frame(path: Path, index: int) -> None:
    """Wipe the JPEG data of frame ``index`` in an MJPG AVI so that it cannot be decoded."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    a, b = starts[index], starts[index + 1] - 16
    data[a:b] = bytes(b - a)
    path.write_bytes(bytes(data))


def read_video(path: Path) -> tuple[list[np.ndarray], float]:
    """All frames of a video and its announced frame rate."""
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames, fps
