"""Throughput of Ultralytics predict, yolo-probs on each engine, and the floors, measured in one process.

For each model (an untrained yolo26n-cls built from its YAML and saved as a checkpoint, and the
shipped digits model) and each batch size, every contender classifies the same folder of N 640x480
JPEGs (crops of scikit-image's photos) at imgsz 224 on the CPU, in alternating rounds (each round
runs every contender once, so drifts in machine load hit all of them):

- ``ultralytics``: plain ``YOLO(model).predict(folder, stream=True)``, the reference of the ratios;
- ``ultralytics-openvino``: Ultralytics predicting with its own OpenVINO export (if OpenVINO is installed);
- ``yolo-probs torch``: today's hook path; ``yolo-probs <engine>``: each installed fast engine and ``auto``;
- ``floor decode+preprocess``: the engines' decoding and preprocessing alone, one thread;
- ``floor forward <engine>``: the engine's forward alone on preprocessed batches held in memory.

Prints median img/s, the ratio to Ultralytics, and the process CPU milliseconds per image (all
threads; on a loaded machine the CPU time is the steadier figure) per batch size. ``--load N`` starts N busy processes
to measure under load. No assertion on time anywhere: these are figures to read.

Usage:
    python benchmarks/bench_predict.py            # 200 images, 5 rounds, batch 1 and 8, both models
    python benchmarks/bench_predict.py --quick    # 100 images, 2 rounds: meant for under 3 minutes on 2 idle cores
    python benchmarks/bench_predict.py --load 1   # with one busy process competing for the cores
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "motorcycle", "cat", "retina", "immunohistochemistry")


def make_images(folder: Path, n: int, size: tuple[int, int] = (640, 480)) -> None:
    """N camera-sized JPEGs: random crops of scikit-image's bundled photos, resized to ``size`` (no download)."""
    import cv2
    import numpy as np
    from skimage import data

    photos = []
    for name in PHOTOS:
        loader = getattr(data, "stereo_motorcycle" if name == "motorcycle" else name, None)
        try:
            image = loader() if loader else None
        except Exception:  # a photo missing from this scikit-image version
            continue
        if isinstance(image, tuple):
            image = image[0]
        if image is not None and image.ndim == 3 and image.shape[2] == 3:
            photos.append(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    rng = np.random.default_rng(0)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        frame = cv2.resize(photo[y : y + ch, x : x + cw], size, interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(folder / f"img_{i:04d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])


def _burn(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def contenders(model: str, folder: str, batch: int, imgsz: int, device: str) -> dict[str, Callable[[], int]]:
    """Name -> a function that classifies the folder once and returns how many images it saw."""
    from ultralytics import YOLO

    from yolo_probs import YoloProbs
    from yolo_probs.backends.base import engine_factories
    from yolo_probs.inputs.fast_preprocess import fast_preprocess
    from yolo_probs.inputs.sources import Frame, iter_frames

    engines = [name for name, f in engine_factories().items() if name != "auto" and f.available()]
    if device != "cpu":  # the fast engines are CPU engines: on a GPU compare the torch path only
        engines = []
    common = {"imgsz": imgsz, "device": device, "batch": batch}
    plain = YOLO(model, verbose=False)
    out: dict[str, Callable[[], int]] = {
        "ultralytics": lambda: sum(1 for _ in plain.predict(folder, stream=True, verbose=False, **common))
    }
    if "openvino" in engines:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exported = YOLO(model, verbose=False).export(format="openvino", imgsz=imgsz, batch=batch, verbose=False)
            theirs = YOLO(exported, task="classify", verbose=False)
            out["ultralytics-openvino"] = lambda: sum(
                1 for _ in theirs.predict(folder, stream=True, verbose=False, **common)
            )
        except Exception as exc:  # report and go on: this row is a comparison, not ours
            print(f"  (Ultralytics' OpenVINO export failed: {type(exc).__name__}: {exc})")
    for engine in ["torch", *engines, "auto"] if engines else ["torch"]:
        clf = YoloProbs(model, engine=engine, **common)
        label = f"yolo-probs {engine}"
        if engine == "auto":
            label += f" (= {getattr(clf.backend, 'engine', 'torch')})"
        out[label] = lambda clf=clf: sum(1 for _ in clf.predict(folder, stream=True))
    some = next(clf.backend for clf in [YoloProbs(model, engine=engines[0], **common)]) if engines else None
    if some is not None:
        pre = some.preprocess

        def floor_preprocess() -> int:
            count, pending = 0, []
            for item in iter_frames(folder, read=some.read):  # the engines' reader: Pillow for plain JPEGs
                assert isinstance(item, Frame)
                pending.append(item.image)
                if len(pending) == batch:
                    fast_preprocess(pre, pending)
                    count, pending = count + len(pending), []
            if pending:
                fast_preprocess(pre, pending)
                count += len(pending)
            return count

        out["floor decode+preprocess"] = floor_preprocess
        frames = [f.image for f in iter_frames(folder) if isinstance(f, Frame)]
        batches = [fast_preprocess(pre, frames[i : i + batch]) for i in range(0, len(frames), batch)]
        for engine in engines:
            backend = YoloProbs(model, engine=engine, **common).backend

            def forward(backend=backend) -> int:
                return sum(backend.run_tensor(b).logits.shape[0] for b in batches)

            out[f"floor forward {engine}"] = forward
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="checkpoint(s); default: yolo26n-cls (untrained) and digits")
    parser.add_argument("--n", type=int, default=200, help="number of images")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--device", default="cpu", help="cpu, or a GPU (0): then only Ultralytics vs the torch path")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed rounds")
    parser.add_argument("--quick", action="store_true", help="100 images, 2 rounds")
    parser.add_argument("--load", type=int, default=0, help="busy processes competing for the cores")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds = min(args.n, 100), min(args.rounds, 2)

    logging_off()
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(args.load)]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        folder = tmp / "images"
        folder.mkdir()
        make_images(folder, args.n)
        models = args.model or [str(untrained_checkpoint(tmp)), str(ROOT / "examples/models/digits-yolo26n-cls.pt")]
        for b in burners:
            b.start()
        try:
            for model in models:
                local = tmp / Path(model).name  # Ultralytics writes its exports next to the checkpoint
                if not local.exists():
                    shutil.copy(model, local)
                report(str(local), Path(model).name, str(folder), args)
        finally:
            stop.set()
            for b in burners:
                b.join()


def logging_off() -> None:
    import logging

    logging.getLogger("ultralytics").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")


def untrained_checkpoint(tmp: Path) -> Path:
    """yolo26n-cls built from its YAML (random weights; no download), saved so every engine can cache it."""
    from ultralytics import YOLO

    path = tmp / "yolo26n-cls.pt"
    YOLO("yolo26n-cls.yaml", verbose=False).save(str(path))
    return path


def sync(device: str) -> None:
    if device != "cpu":
        import torch

        torch.cuda.synchronize()


def settle(device: str) -> None:
    """Let the previous contender's leftovers die down before the next is timed, the same for all.

    Threads that spin after their work (OpenMP, TBB, ONNX Runtime pools) and a garbage collection
    that Ultralytics' objects would trigger mid-run otherwise land on whoever is timed next.
    """
    import gc

    sync(device)
    gc.collect()
    time.sleep(0.2)


def report(model: str, title: str, folder: str, args: argparse.Namespace) -> None:
    per_batch: dict[int, dict[str, float]] = {}
    cpu_ms: dict[int, dict[str, float]] = {}
    for batch in args.batch:
        runs = contenders(model, folder, batch, args.imgsz, args.device)
        for fn in runs.values():  # warm-up: set-up, first-batch costs, caches
            fn()
        times: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.rounds):
            for name, fn in runs.items():
                settle(args.device)
                start, cpu_start = time.perf_counter(), time.process_time()
                count = fn()
                sync(args.device)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - cpu_start)
                assert count == args.n, (name, count)
        per_batch[batch] = {name: args.n / statistics.median(t) for name, t in times.items()}
        cpu_ms[batch] = {name: 1e3 * statistics.median(t) / args.n for name, t in cpu.items()}
    load = f", {args.load} busy process(es)" if args.load else ""
    where = f"CPU ({os.cpu_count()} cores)" if args.device == "cpu" else f"device {args.device}"
    print(
        f"\n{title}: {args.n} JPEGs 640x480, imgsz {args.imgsz}, {where}{load}, "
        f"{args.rounds} alternating rounds: median img/s (ratio to ultralytics), CPU ms per image"
    )
    names = list(dict.fromkeys(n for b in per_batch.values() for n in b))
    header = "".join(f"{'batch ' + str(b):>30s}" for b in per_batch)
    print(f"  {'':34s}{header}")
    for name in names:
        cells = ""
        for batch, rates in per_batch.items():
            rate, ref = rates.get(name), rates["ultralytics"]
            cells += f"{rate:10.1f} ({rate / ref:5.2f}x) {cpu_ms[batch][name]:6.2f} ms" if rate else f"{'-':>30s}"
        print(f"  {name:34s}{cells}")


if __name__ == "__main__":
    main()
