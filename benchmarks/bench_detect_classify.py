"""Cost of the second stage of detect-then-classify: crops classified in batches versus one by one.

Cuts ``--boxes`` boxes at random places and sizes out of scikit-image photos (640x480) and gives them
to :func:`yolo_probs.api.detect_classify.classify_boxes` with a classifier of batch 1 and of batch
``--batch``; rounds alternate so drifts hit both. Prints the median milliseconds per image for each, and
the speed-up of batching (the CLI's ``--classifier`` uses batches of 16). Also draws every image's
boxes with :class:`~yolo_probs.overlay.boxes.BoxDrawer` and prints the median drawing time.

Usage:
    python benchmarks/bench_detect_classify.py                   # CPU, 20 boxes per image
    python benchmarks/bench_detect_classify.py --boxes 50 --device 0
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "examples/models/digits-yolo26n-cls.pt"))
    parser.add_argument("--boxes", type=int, default=20)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import cv2
    import numpy as np
    from skimage import data

    from yolo_probs import BoxDrawer, YoloProbs
    from yolo_probs.api.detect_classify import classify_boxes
    from yolo_probs.core.boxes import Detections

    rng = np.random.default_rng(0)
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    images = [cv2.resize(cv2.cvtColor(photos[i % 4], cv2.COLOR_RGB2BGR), (640, 480)) for i in range(args.images)]
    names = tuple(f"class{i}" for i in range(10))
    dets = []
    for _ in images:
        x0, y0 = rng.uniform(0, 560, args.boxes), rng.uniform(0, 400, args.boxes)
        wh = rng.uniform(20, 200, (args.boxes, 2))
        xyxy = np.stack([x0, y0, np.minimum(x0 + wh[:, 0], 640), np.minimum(y0 + wh[:, 1], 480)], axis=1)
        logits = rng.normal(0, 2, (args.boxes, 10))
        conf = 1 / (1 + np.exp(-logits.max(axis=1)))
        dets.append(Detections.from_logits(xyxy, conf, logits.argmax(axis=1), logits, names, shape=(480, 640)))

    one = YoloProbs(args.model, batch=1, device=args.device)
    many = YoloProbs(args.model, batch=args.batch, device=args.device)
    for clf in (one, many):  # warm-up
        classify_boxes(dets[0], images[0], clf)
    times: dict[str, list[float]] = {"batch 1": [], f"batch {args.batch}": []}
    for _ in range(args.rounds):
        for label, clf in (("batch 1", one), (f"batch {args.batch}", many)):
            start = time.perf_counter()
            done = [classify_boxes(d, im, clf) for d, im in zip(dets, images, strict=True)]
            times[label].append((time.perf_counter() - start) / len(images))
    drawer, drawn = BoxDrawer(), []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for d, im in zip(done, images, strict=True):
            drawer.draw(im.copy(), d)
        drawn.append((time.perf_counter() - start) / len(images))
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    for label, ms in med.items():
        print(f"{label:>9}: {ms:8.1f} ms per image ({args.boxes} crops)")
    print(f"batching speed-up: {med['batch 1'] / med[f'batch {args.batch}']:.2f}x")
    print(f"drawing {args.boxes} boxes with their classifier bars: {statistics.median(drawn) * 1000:.1f} ms per image")


if __name__ == "__main__":
    main()
