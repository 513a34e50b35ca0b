"""Render examples/overlay_decisions.png: overlay frames from a profile with decisions.

Left: a hard digit whose conformal prediction set holds more than one class (members outlined).
Right: a photograph the digits model never saw, flagged UNKNOWN by the profile's detector.
The profile is the one the README walk-through writes (``yolo-probs calibrate ... --ood-tpr 0.95
--conformal ALPHA``); frames are drawn exactly as ``yolo-probs overlay`` draws them.

    YOLO_OFFLINE=1 python examples/decisions_screenshot.py --profile digits.yaml [--out examples/overlay_decisions.png]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.make_unknowns import sample_photos  # noqa: E402
from examples.overlay_screenshot import scene  # noqa: E402
from yolo_probs.model import YoloProbs  # noqa: E402
from yolo_probs.overlay import OverlayDrawer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile with ood and conformal decisions")
    parser.add_argument("--out", default=str(ROOT / "examples" / "overlay_decisions.png"))
    parser.add_argument("--image", default=str(ROOT / "examples" / "images" / "hard_3.png"))
    parser.add_argument("--photo", default="chelsea", help="a scikit-image/scikit-learn sample photo")
    args = parser.parse_args()
    frames = [scene(cv2.imread(args.image), (768, 432)), scene(sample_photos()[args.photo], (768, 432))]
    drawer = OverlayDrawer(min_prob=0.5)
    with YoloProbs.from_profile(args.profile, device="cpu", top_k=3) as clf:
        for frame in frames:
            p = clf.predict(frame)[0]
            drawer.draw(frame, p, help=False)
            members = [c.name for c in p.set or []]
            print(f"top {p.names[p.top1]} {p.top1conf:.1%}, set {members}, ood {p.ood_score:.3f}, unknown {p.unknown}")
    gap = np.full((432, 12, 3), 255, np.uint8)
    cv2.imwrite(args.out, np.hstack([frames[0], gap, frames[1]]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
