"""Render examples/overlay_digits.png: a real overlay frame from the shipped digits model.

A shipped digit image is placed in a 1280x720 frame (so the centre square the model sees is
outlined), classified with the shipped model, and drawn as the live overlay draws it.

    YOLO_OFFLINE=1 python examples/overlay_screenshot.py [--out examples/overlay_digits.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolo_probs.model import YoloProbs  # noqa: E402
from yolo_probs.overlay import OverlayDrawer  # noqa: E402


def scene(image: np.ndarray, size: tuple[int, int] = (1280, 720)) -> np.ndarray:
    """The digit, upscaled to the frame height, centred on a textured 16:9 background."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    background = (150 + 40 * np.sin(xx / 37.0) * np.cos(yy / 53.0)).astype(np.uint8)
    frame = cv2.cvtColor(background, cv2.COLOR_GRAY2BGR)
    x0 = (w - h) // 2
    frame[:, x0 : x0 + h] = cv2.resize(image, (h, h), interpolation=cv2.INTER_CUBIC)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "examples" / "overlay_digits.png"))
    parser.add_argument("--image", default=str(ROOT / "examples" / "images" / "digit_8.png"))
    parser.add_argument("--temperature", type=float, default=2.0)
    args = parser.parse_args()
    frame = scene(cv2.imread(args.image))
    with YoloProbs(ROOT / "examples/models/digits-yolo26n-cls.pt", temperature=args.temperature, device="cpu") as clf:
        prediction = clf.predict(frame)[0]
    OverlayDrawer(min_prob=0.5).draw(frame, prediction)  # no fps: a still frame has none to measure
    cv2.imwrite(args.out, frame)
    top = ", ".join(f"{c.name} {c.prob:.1%}" for c in prediction.top)
    print(f"{args.out}: T {prediction.temperature:g}, top {top}")


if __name__ == "__main__":
    main()
