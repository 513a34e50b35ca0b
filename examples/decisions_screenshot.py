"""Render overlay frames from a profile with decisions (docs/decisions.md shows examples/overlay_decisions.png).

Left: a hard digit whose conformal prediction set holds more than one class (members outlined).
Right: a photograph the digits model never saw, flagged UNKNOWN by the profile's detector.
The profile is the one the docs' decisions walk-through writes (``yolo-probs calibrate ... --ood-tpr 0.95
--conformal ALPHA``); each 64x64 input is drawn on the enlarged canvas exactly as ``yolo-probs
overlay`` draws it.

    YOLO_OFFLINE=1 python examples/decisions_screenshot.py --profile digits.yaml   # writes runs/overlay_decisions.png

The picture goes under the git-ignored ``runs/`` unless ``--out`` says otherwise; to refresh the one the
docs show, pass ``--out examples/overlay_decisions.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = ROOT / "runs" / "overlay_decisions.png"

from examples.make_unknowns import SIZE, sample_photos  # noqa: E402
from yolo_probs.api.model import YoloProbs  # noqa: E402
from yolo_probs.overlay import OverlayDrawer  # noqa: E402
from yolo_probs.overlay.canvas import to_canvas  # noqa: E402


def square(image: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The centre square of a photo at the digits' size, as ``examples/make_unknowns.py`` writes unknowns."""
    h, w = image.shape[:2]
    side = min(h, w)
    y, x = (h - side) // 2, (w - side) // 2
    return cv2.resize(image[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile with ood and conformal decisions")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the PNG (default: %(default)s)")
    parser.add_argument("--image", default=str(ROOT / "examples" / "images" / "hard_3.png"))
    parser.add_argument("--photo", default="chelsea", help="a scikit-image/scikit-learn sample photo")
    args = parser.parse_args()
    images = [cv2.imread(args.image), square(sample_photos()[args.photo])]
    drawer = OverlayDrawer(min_prob=0.5)
    panes = []
    with YoloProbs.from_profile(args.profile, device="cpu", top_k=3) as clf:
        for image in images:
            p = clf.predict(image)[0]
            # as the overlay window draws it: the enlarged canvas and the key help line
            panes.append(drawer.draw(to_canvas(image).copy(), p, help=True))
            members = [c.name for c in p.set or []]
            print(f"top {p.names[p.top1]} {p.top1conf:.1%}, set {members}, ood {p.ood_score:.3f}, unknown {p.unknown}")
    gap = np.full((panes[0].shape[0], 8, 3), 255, np.uint8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), np.hstack([panes[0], gap, panes[1]]), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        sys.exit(f"decisions_screenshot: cannot write {args.out}; pass --out FILE.png in a writable folder")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
