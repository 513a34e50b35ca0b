"""Cost of per-box probabilities: Ultralytics detection predict with and without yolo-probs, in one process.

Both sides run the same detection model on the same folder of N photos (scikit-image's, resized to
640x480 JPEGs) with the same image size, device, batch and ``conf``; rounds alternate (plain,
yolo-probs, plain, ...) so drifts hit both. yolo-probs' side also builds a ``Detections`` per image:
every box's sigmoid scores, softmax at T and top-k. Prints the median seconds per round, the boxes per
image, and the ratio yolo-probs / plain (goal: <= 1.05).

The default model is built from ``--yaml`` with a random class head (seeded), so that it keeps boxes
(up to ``max_det`` = 300 per image at ``--conf 0.01``: the most work yolo-probs can add); pass ``--model``
for a trained checkpoint.

Usage:
    python benchmarks/bench_boxes.py                         # CPU, yolov8n head, 40 images, imgsz 320
    python benchmarks/bench_boxes.py --yaml yolo26n.yaml     # YOLO26's end-to-end head
    python benchmarks/bench_boxes.py --device 0 --imgsz 640 --batch 16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_images(folder: Path, n: int, size: tuple[int, int] = (640, 480)) -> None:
    """N JPEG photos from scikit-image at a camera-like size (no download)."""
    import cv2
    from skimage import data

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for i in range(n):
        image = cv2.resize(photos[i % len(photos)], size, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def random_head_model(yaml: str, seed: int = 0):
    """A YOLO built from ``yaml`` whose class head is drawn at random, so that boxes differ and exist."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO(yaml)
    head = model.model.model[-1]
    for branch in [head.cv3] + ([head.one2one_cv3] if getattr(head, "one2one_cv3", None) is not None else []):
        for block in branch:
            torch.nn.init.normal_(block[-1].weight, std=0.05)
            torch.nn.init.constant_(block[-1].bias, -4.0)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a detection checkpoint (default: --yaml, random head)")
    parser.add_argument("--yaml", default="yolov8n.yaml")
    parser.add_argument("--n", type=int, default=40, help="number of images")
    parser.add_argument("--imgsz", type=int, default=320)
    parser.add_argument("--conf", type=float, default=0.01)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds per side")
    args = parser.parse_args()

    import torch
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        make_images(folder, args.n)
        path = args.model
        if path is None:
            path = str(Path(tmp) / "det.pt")
            random_head_model(args.yaml).save(path)
        common = {"imgsz": args.imgsz, "device": args.device, "batch": args.batch, "conf": args.conf}
        plain_model = YOLO(path)
        ours = YoloProbs(path, temperature=1.5, **common)
        boxes: list[int] = []

        def plain() -> int:
            return sum(1 for _ in plain_model.predict(str(folder), stream=True, verbose=False, **common))

        def probs() -> int:
            n = 0
            for d in ours.predict(str(folder), stream=True):
                boxes.append(len(d.boxes))
                n += 1
            return n

        def timed(fn) -> float:
            if args.device != "cpu":
                torch.cuda.synchronize()
            start = time.perf_counter()
            count = fn()
            if args.device != "cpu":
                torch.cuda.synchronize()
            assert count == args.n, count
            return time.perf_counter() - start

        plain(), probs()  # warm-up: model setup, first-batch warm-up, caches
        times: dict[str, list[float]] = {"ultralytics": [], "yolo-probs": []}
        for _ in range(args.rounds):
            times["ultralytics"].append(timed(plain))
            times["yolo-probs"].append(timed(probs))
        ours.close()

    device = torch.cuda.get_device_name(0) if args.device != "cpu" else f"CPU ({os.cpu_count()} cores)"
    model = args.model or f"{args.yaml} (random head)"
    print(f"{model}: {args.n} images 640x480 JPEG, imgsz {args.imgsz}, batch {args.batch}, conf {args.conf}, {device}")
    print(f"boxes per image: median {statistics.median(boxes):.0f}, max {max(boxes)}")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(
            f"  {name:12s} median {t:7.3f} s  ({args.n / t:6.1f} img/s)  "
            f"rounds: {', '.join(f'{x:.3f}' for x in times[name])}"
        )
    best = {k: min(v) for k, v in times.items()}
    print(
        f"ratio yolo-probs / ultralytics = {med['yolo-probs'] / med['ultralytics']:.3f} (medians), "
        f"{best['yolo-probs'] / best['ultralytics']:.3f} (best rounds); goal <= 1.05"
    )


if __name__ == "__main__":
    main()
