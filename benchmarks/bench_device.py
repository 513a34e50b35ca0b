"""The GPU path: yolo-probs with preprocessing on the device vs plain Ultralytics predict, in one process.

Both sides classify the same folder of N 640x480 JPEGs with the same model, image size, device and
batch size; rounds alternate (Ultralytics, yolo-probs, yolo-probs with Ultralytics' own host
preprocessing, ...) so drifts hit all. Prints the median images per second of each and the ratios
to Ultralytics (issue 13's goal on an H100: >= 20x at batch 32), then the agreement of the device
path with the host path over every image: the largest probability difference (goal < 1e-3) and the
top-1 agreement (goal >= 99.9%).

On a CPU device (``--device cpu``, the default) the device path is forced on, which checks the code
and the agreement but says nothing about GPU speed.

Usage:
    python benchmarks/bench_device.py --device 0 --batch 32 --n 2000           # a GPU, the shipped model
    python benchmarks/bench_device.py --device 0 --batch 32 --model yolo26n-cls.yaml --imgsz 224
    python benchmarks/bench_device.py --device 0 --batch 1 8 32 128 --cpu-reference  # every batch, vs the CPU
    python benchmarks/bench_device.py --n 64 --rounds 1                          # a CPU smoke check
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("YOLO_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_overhead import make_images  # noqa: E402  (the same photos-of-digits folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"))
    parser.add_argument("--n", type=int, default=512, help="number of images")
    parser.add_argument("--imgsz", type=int, default=None, help="default: the checkpoint's own")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[32], help="one or more batch sizes")
    parser.add_argument("--half", action="store_true", help="float16 model (GPU)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side")
    parser.add_argument(
        "--cpu-reference", action="store_true", help="also compare with the CPU torch path (float32) on every image"
    )
    args = parser.parse_args()

    import numpy as np

    from yolo_probs import YoloProbs

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_images(folder, args.n)
        reference = None
        if args.cpu_reference:
            cpu = YoloProbs(args.model, device="cpu", **({"imgsz": args.imgsz} if args.imgsz else {}))
            reference = np.stack([p.probs for p in cpu.predict(str(folder))])
            cpu.close()
        for batch in args.batch:
            measure(args, folder, batch, reference)


def measure(args: argparse.Namespace, folder: Path, batch: int, reference: Any) -> None:
    """Times the three sides at one batch size and prints their rates and agreements."""
    import numpy as np
    import torch
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    opts: dict[str, Any] = {"device": args.device, "batch": batch, "half": args.half}
    if args.imgsz:
        opts["imgsz"] = args.imgsz
    yolo = YOLO(args.model, verbose=False)
    fast = YoloProbs(args.model, **opts)
    host = YoloProbs(args.model, **opts)
    fast.backend.device_preprocess = True  # on CUDA this is the default; forced so a CPU run checks it too
    host.backend.device_preprocess = False

    def plain() -> int:
        kw = {k: v for k, v in opts.items() if k != "half"} | {"half": args.half, "verbose": False}
        return sum(1 for _ in yolo.predict(str(folder), stream=True, **kw))

    def ours(clf: YoloProbs) -> int:
        return sum(1 for _ in clf.predict(str(folder), stream=True))

    sides = {
        "ultralytics": plain,
        "yolo-probs (device)": lambda: ours(fast),
        "yolo-probs (host)": lambda: ours(host),
    }
    for fn in sides.values():  # warm-up: model set-up, cuDNN autotuning, page cache
        fn()
    times: dict[str, list[float]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            count = fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[name].append(time.perf_counter() - start)
            assert count == args.n, (name, count)

    device = fast.backend.device_type
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else f"CPU ({os.cpu_count()} cores)"
    dtype = "float16" if args.half else "float32"
    print(f"{args.n} 640x480 JPEGs, {Path(args.model).name}, batch {batch}, {dtype}, device {args.device} ({gpu})")
    base = statistics.median(times["ultralytics"])
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"  {name:22s} {args.n / t:9.1f} img/s   {base / t:6.2f}x ultralytics")

    a = np.stack([p.probs for p in fast.predict(str(folder))])
    b = np.stack([p.probs for p in host.predict(str(folder))])
    print(f"  device vs host preprocessing: {agreement(a, b)}")
    if reference is not None:
        print(f"  device vs the CPU torch path (float32): {agreement(a, reference)}")
    fast.close()
    host.close()


def agreement(a: Any, b: Any) -> str:
    """``max |dp|`` and top-1 agreement of two ``(N, C)`` probability arrays, as one phrase."""
    import numpy as np

    top1 = float((a.argmax(1) == b.argmax(1)).mean())
    return f"max |dp| {np.abs(a - b).max():.2e}, top-1 agreement {top1:.2%}"


if __name__ == "__main__":
    main()
