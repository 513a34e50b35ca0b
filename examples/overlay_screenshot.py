"""Render the overlay window on two shipped digits, as a user sees it (examples/overlay_digits.png).

``yolo-probs overlay examples/images -m examples/models/digits-yolo26n-cls.pt -t 2 --min-prob 0.5``
shows each 64x64 digit enlarged to 480x480 (``yolo_probs.overlay.canvas.to_canvas``) with the
drawing of ``OverlayDrawer.draw``. This script draws the same two frames side by side: a clear 8
and the thin 3 that looks like an 8 (UNCERTAIN below --min-prob).

    ~/.cache/yolo-probs-venv/bin/python examples/overlay_screenshot.py     # writes runs/overlay_digits.png

The picture goes under the git-ignored ``runs/`` unless ``--out`` says otherwise; to refresh the one the
README and docs show, pass ``--out examples/overlay_digits.png``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_OUT = ROOT / "runs" / "overlay_digits.png"

from yolo_probs.api.model import YoloProbs  # noqa: E402
from yolo_probs.overlay import OverlayDrawer  # noqa: E402
from yolo_probs.overlay.canvas import to_canvas  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the PNG (default: %(default)s)")
    parser.add_argument(
        "--images",
        nargs="+",
        default=[str(ROOT / "examples" / "images" / n) for n in ("digit_8.png", "hard_3.png")],
    )
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--min-prob", type=float, default=0.5)
    args = parser.parse_args()
    drawer = OverlayDrawer(min_prob=args.min_prob)
    panes = []
    with YoloProbs(ROOT / "examples/models/digits-yolo26n-cls.pt", temperature=args.temperature, device="cpu") as clf:
        for path in args.images:
            image = cv2.imread(path)
            prediction = clf.predict(image)[0]
            # As the window draws it: the enlarged canvas and the key help line (no fps on a still image).
            panes.append(drawer.draw(to_canvas(image).copy(), prediction, help=True))
            top = ", ".join(f"{c.name} {c.prob:.1%}" for c in prediction.top[:3])
            print(f"{Path(path).name}: T {prediction.temperature:g}, top {top}")
    gap = np.full((panes[0].shape[0], 8, 3), 255, np.uint8)
    row = [panes[0]]
    for pane in panes[1:]:
        row += [gap, pane]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), np.hstack(row)):
        sys.exit(f"overlay_screenshot: cannot write {args.out}; pass --out FILE.png in a writable folder")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
