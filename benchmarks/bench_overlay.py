"""Overlay loop throughput against a bare Ultralytics predict loop, and drawing time per 1080p frame.

Both loops read the same generated video (the shipped digit images, upscaled) with OpenCV; the
overlay loop also captures logits, draws and records an MP4, headless. Goals: ratio >= 0.9 on CPU,
drawing <= 2 ms per 1080p frame.

Run from the repository root:
    YOLO_OFFLINE=1 python benchmarks/bench_overlay.py --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_probs.api.model import YoloProbs  # noqa: E402
from yolo_probs.overlay import OverlayDrawer  # noqa: E402
from yolo_probs.overlay.loop import run_overlay  # noqa: E402


def make_video(path: Path, frames: int, size: tuple[int, int]) -> None:
    images = [cv2.resize(cv2.imread(str(p)), size) for p in sorted((ROOT / "examples/images").glob("digit_*.png"))]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, size)
    for i in range(frames):
        writer.write(images[(i // 10) % len(images)])
    writer.release()


def bare_loop(yolo, video: Path, imgsz: int | None, device: str | None) -> float:
    """Frames per second of: read a frame, ``YOLO.predict`` it (Ultralytics' own probabilities)."""
    cap = cv2.VideoCapture(str(video))
    n, start = 0, time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yolo.predict(frame, device=device, verbose=False, **({"imgsz": imgsz} if imgsz else {}))
        n += 1
    cap.release()
    return n / (time.perf_counter() - start)


def overlay_loop(clf: YoloProbs, video: Path, out: Path | None) -> float:
    stats = run_overlay(clf, str(video), drawer=OverlayDrawer(min_prob=0.5), show=False, save=out)
    return stats.fps


def draw_ms(size: tuple[int, int], repeat: int) -> float:
    from yolo_probs.core.prediction import Prediction

    pred = Prediction.from_logits(np.linspace(3, -2, 10), tuple("0123456789"), top_k=5)
    frame = np.full((size[1], size[0], 3), 127, np.uint8)
    drawer = OverlayDrawer(min_prob=0.5)
    drawer.draw(frame, pred, fps=30.0)  # the layout is computed once per frame size
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        drawer.draw(frame, pred, fps=30.0)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "examples/models/digits-yolo26n-cls.pt"))
    parser.add_argument("--imgsz", type=int, default=None, help="default: the checkpoint's own (64 for digits)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the best of each is kept")
    args = parser.parse_args()

    from ultralytics import YOLO

    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "digits.avi"
        make_video(video, args.frames, (args.width, args.height))
        yolo = YOLO(args.model)
        clf = YoloProbs(args.model, imgsz=args.imgsz, device=args.device)
        bare_loop(yolo, video, args.imgsz, args.device)  # warm-up both (predictor set-up, first-call costs)
        overlay_loop(clf, video, Path(tmp) / "warm.mp4")
        bare, over, nosave = [], [], []
        for _ in range(args.rounds):
            bare.append(bare_loop(yolo, video, args.imgsz, args.device))
            over.append(overlay_loop(clf, video, Path(tmp) / "out.mp4"))
            nosave.append(overlay_loop(clf, video, None))
        b, o, n = max(bare), max(over), max(nosave)
    print(f"video: {args.frames} frames {args.width}x{args.height}, model {Path(args.model).name}, "
          f"imgsz {args.imgsz or 'checkpoint'}, device {args.device}")  # fmt: skip
    print(f"bare Ultralytics predict loop:            {b:7.1f} fps")
    print(f"overlay loop (headless, saving MP4):      {o:7.1f} fps")
    print(f"ratio overlay / bare:                     {o / b:7.3f}  (goal >= 0.9)")
    print(f"overlay loop (headless, not saving):      {n:7.1f} fps, ratio {n / b:.3f}")
    for size in [(1920, 1080), (640, 480), (3840, 2160)]:
        print(f"draw only, {size[0]}x{size[1]}:{' ' * (20 - len(str(size[0])) - len(str(size[1])))}"
              f"{draw_ms(size, 300):7.3f} ms/frame (median; goal <= 2 ms at 1920x1080)")  # fmt: skip


if __name__ == "__main__":
    main()
