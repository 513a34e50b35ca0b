"""Overhead of yolo-probs over plain Ultralytics predict, measured in one process.

Both sides classify the same folder of N image files with the same model, image size, device and
batch size (a folder, as users pass one: Ultralytics then streams and batches it; a Python list of
paths would make Ultralytics open every image with PIL up front as one batch); rounds alternate
(plain, yolo-probs, plain, ...) so drifts hit both. Prints the median seconds per
round, images per second, and the ratio yolo-probs / plain (goal: <= 1.03).

Usage:
    python benchmarks/bench_overhead.py                       # CPU, shipped model, 200 images, imgsz 224
    python benchmarks/bench_overhead.py --device 0 --batch 32 # GPU
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
    """N JPEG photos-of-digits at a camera-like size, from the bundled digits (no download)."""
    import cv2
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits().images
    rng = np.random.default_rng(0)
    for i in range(n):
        ink = (255 - digits[i % len(digits)] * 15).clip(0, 255).astype(np.uint8)
        image = cv2.resize(ink, size, interpolation=cv2.INTER_CUBIC)
        noisy = (image.astype(np.int16) + rng.integers(-12, 13, image.shape)).clip(0, 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"img_{i:05d}.jpg"), cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"))
    parser.add_argument("--n", type=int, default=200, help="number of images")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9, help="timed rounds per side")
    args = parser.parse_args()

    import torch
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    with tempfile.TemporaryDirectory() as tmp:
        make_images(Path(tmp), args.n)
        common = {"imgsz": args.imgsz, "device": args.device, "batch": args.batch}
        plain_model = YOLO(args.model, verbose=False)
        ours = YoloProbs(args.model, **common)

        def plain() -> int:
            return sum(1 for _ in plain_model.predict(tmp, stream=True, verbose=False, **common))

        def probs() -> int:
            return sum(1 for _ in ours.predict(tmp, stream=True))

        def timed(fn) -> float:
            if args.device != "cpu":
                torch.cuda.synchronize()
            start, cpu_start = time.perf_counter(), time.process_time()
            count = fn()
            if args.device != "cpu":
                torch.cuda.synchronize()
            assert count == args.n, count
            cpu[fn.__name__].append(time.process_time() - cpu_start)
            return time.perf_counter() - start

        plain(), probs()  # warm-up: model setup, first-batch warm-up, caches
        times: dict[str, list[float]] = {"ultralytics": [], "yolo-probs": []}
        cpu: dict[str, list[float]] = {"plain": [], "probs": []}  # CPU seconds of this process, all threads
        for _ in range(args.rounds):
            times["ultralytics"].append(timed(plain))
            times["yolo-probs"].append(timed(probs))
        ours.close()

    device = torch.cuda.get_device_name(0) if args.device != "cpu" else f"CPU ({os.cpu_count()} cores)"
    print(f"{args.n} images 640x480 JPEG, imgsz {args.imgsz}, batch {args.batch}, {device}, {args.rounds} rounds")
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, t in med.items():
        print(
            f"  {name:12s} median {t:7.3f} s  ({args.n / t:7.1f} img/s)  "
            f"rounds: {', '.join(f'{x:.3f}' for x in times[name])}"
        )
    best = {k: min(v) for k, v in times.items()}
    # The work yolo-probs adds per image (softmax at T, top-k, the Prediction), timed alone: round-to-round
    # noise of a whole run on a shared CPU is larger than this, so it says what the ratio can be at most.
    import numpy as np

    from yolo_probs.core.prediction import Prediction

    row = np.random.default_rng(0).normal(size=len(ours.names)).astype(np.float32)
    reps = 2000
    start = time.perf_counter()
    for _ in range(reps):
        Prediction.from_logits(row, ours.names, temperature=1.5, top_k=5)
    extra = (time.perf_counter() - start) / reps
    per_image = med["ultralytics"] / args.n
    cpu_ratio = statistics.median(cpu["probs"]) / statistics.median(cpu["plain"])
    print(f"CPU time ratio yolo-probs / ultralytics = {cpu_ratio:.3f} (medians of process CPU seconds)")
    print(
        f"yolo-probs' own work per image ({len(ours.names)} classes): {extra * 1e6:.0f} us "
        f"= {extra / per_image:.2%} of Ultralytics' {per_image * 1e3:.2f} ms per image"
    )
    print(
        f"overhead ratio yolo-probs / ultralytics = {med['yolo-probs'] / med['ultralytics']:.3f} (medians), "
        f"{best['yolo-probs'] / best['ultralytics']:.3f} (best rounds); goal <= 1.03"
    )


if __name__ == "__main__":
    main()
