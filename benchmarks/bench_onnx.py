"""PyTorch path vs ONNX Runtime path of the same classifier on CPU: throughput of each and the ratio.

The same N in-memory BGR images go through ``YoloProbs(model.pt)`` (Ultralytics' predictor, logits
hooked) and ``YoloProbs(model.onnx)`` (ONNX Runtime, logits = log p), in one run, after a warm-up.
Both include preprocessing and the temperature softmax. Prints one line per path and the ratio.

Usage:
    YOLO_OFFLINE=1 python benchmarks/bench_onnx.py                                  # shipped digits model, imgsz 64
    YOLO_OFFLINE=1 python benchmarks/bench_onnx.py --model yolo26n-cls.yaml --imgsz 224  # untrained, ImageNet size
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "examples/models/digits-yolo26n-cls.pt"))
    parser.add_argument("--imgsz", type=int, default=64)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch/ORT intra-op threads (default: library's)")
    args = parser.parse_args()

    import cv2
    import numpy as np
    import onnxruntime as ort
    import torch
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    if args.threads:
        torch.set_num_threads(args.threads)
    examples = [cv2.imread(str(p)) for p in sorted((ROOT / "examples/images").glob("*.png"))]
    rng = np.random.default_rng(0)
    # 200 distinct frames: the example digits with a little pixel noise, so no result can be cached.
    frames = [
        np.clip(examples[i % len(examples)].astype(np.int16) + rng.integers(-8, 9, examples[0].shape), 0, 255).astype(
            np.uint8
        )
        for i in range(args.images)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)  # an untrained YAML model is built with random weights
        source = f"{tmp}/model.pt"  # the exporter writes next to the checkpoint: work on a copy in tmp
        if args.model.endswith((".yaml", ".yml")):
            YOLO(args.model).save(source)
        else:
            shutil.copyfile(args.model, source)
        onnx_path = YOLO(source).export(format="onnx", imgsz=args.imgsz, dynamic=True, device="cpu", verbose=False)
        results = {}
        for name, model in (("pytorch", source), ("onnxruntime", onnx_path)):
            with YoloProbs(model, imgsz=args.imgsz, device="cpu", batch=args.batch, temperature=1.5) as clf:
                clf.predict(frames[: 2 * args.batch])  # warm-up: predictor setup, session, allocations
                start = time.perf_counter()
                preds = clf.predict(frames)
                results[name] = (len(preds) / (time.perf_counter() - start), np.stack([p.probs for p in preds]))
    gap = float(np.abs(results["pytorch"][1] - results["onnxruntime"][1]).max())
    print(
        f"model {Path(args.model).name} imgsz {args.imgsz} batch {args.batch} images {args.images} "
        f"torch threads {torch.get_num_threads()} onnxruntime {ort.__version__}"
    )
    for name, (ips, _) in results.items():
        print(f"{name:12s} {ips:8.1f} images/s")
    print(f"ratio onnxruntime / pytorch: {results['onnxruntime'][0] / results['pytorch'][0]:.2f}x")
    print(f"max |probs difference| at T=1.5: {gap:.2e}")


if __name__ == "__main__":
    main()
