"""Scaling with cores: img/s of Ultralytics predict and of yolo-probs' engines on 1..N cores of one machine.

Each core count runs in a child process pinned with ``os.sched_setaffinity`` to the first C cores,
so the engines size their thread pools from that affinity exactly as they do under ``taskset`` or a
container cpuset (:func:`yolo_probs._util.threads.engine_threads`). Inside a child, rounds alternate
between the contenders on the same folder of 640x480 JPEGs. Prints, per core count, the median
img/s of each contender, its ratio to Ultralytics, and its scaling efficiency against the smallest
core count: ``(rate_C / rate_C0) / (C / C0)`` (1.0 is linear; issue 23's goal is >= 0.7 from 2 to 16
cores for the fast engines).

On a machine with a GPU, hide it (``CUDA_VISIBLE_DEVICES=``) to measure the CPU path.

Usage:
    python benchmarks/bench_scaling.py                        # 2, 4, 8, 16 cores (as many as there are)
    python benchmarks/bench_scaling.py --cores 1 2 --n 64 --rounds 1 --engines onnxruntime   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(args: argparse.Namespace) -> None:
    """Runs pinned to ``args.pin`` cores: times every contender, prints one JSON line of img/s."""
    os.sched_setaffinity(0, set(range(args.pin)))
    from ultralytics import YOLO

    from yolo_probs import YoloProbs

    common = {"imgsz": args.imgsz, "batch": args.batch, "device": "cpu"}
    plain = YOLO(args.model, verbose=False)
    runs = {"ultralytics": lambda: sum(1 for _ in plain.predict(args.folder, stream=True, verbose=False, **common))}
    for engine in args.engines:
        clf = YoloProbs(args.model, engine=engine, **common)
        runs[f"yolo-probs {engine}"] = lambda clf=clf: sum(1 for _ in clf.predict(args.folder, stream=True))
    for fn in runs.values():  # warm-up: engine build or cache load, first-batch costs
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            time.sleep(0.2)  # let the previous contender's spinning pools settle
            start = time.perf_counter()
            count = fn()
            times[name].append(time.perf_counter() - start)
            assert count == args.n, (name, count)
    print(json.dumps({name: args.n / statistics.median(t) for name, t in times.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"))
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--engines", nargs="+", default=["torch", "onnxruntime", "auto"])
    parser.add_argument("--n", type=int, default=400, help="number of images")
    parser.add_argument("--imgsz", type=int, default=224)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", type=int, help=argparse.SUPPRESS)  # set in the child processes
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pin:
        child(args)
        return

    from bench_predict import make_images  # the same photo crops as the speed benchmark

    available = len(os.sched_getaffinity(0))
    cores = [c for c in args.cores if c <= available]
    skipped = [c for c in args.cores if c > available]
    if skipped:
        print(f"(skipping {skipped}: this machine lets this process use {available} cores)")
    rates: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        make_images(Path(tmp), args.n)
        for c in cores:
            argv = [sys.executable, __file__, "--pin", str(c), "--folder", tmp, "--model", args.model]
            argv += ["--n", str(args.n), "--imgsz", str(args.imgsz), "--batch", str(args.batch)]
            argv += ["--rounds", str(args.rounds), "--engines", *args.engines]
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                sys.exit(f"{c} cores failed:\n{done.stderr[-2000:]}")
            rates[c] = json.loads(done.stdout.strip().splitlines()[-1])
    report(rates, args)


def report(rates: dict[int, dict[str, float]], args: argparse.Namespace) -> None:
    """One table: rows are contenders, columns core counts, cells ``img/s (ratio to ultralytics, efficiency)``."""
    if not rates:
        return
    base_cores = min(rates)
    print(
        f"{args.n} JPEGs 640x480, {Path(args.model).name}, imgsz {args.imgsz}, batch {args.batch}, "
        f"{args.rounds} alternating rounds; cell: img/s (x ultralytics, scaling efficiency vs {base_cores} cores)"
    )
    print(f"  {'':28s}" + "".join(f"{str(c) + ' cores':>28s}" for c in rates))
    for name in rates[base_cores]:
        cells = ""
        for c, r in rates.items():
            eff = (r[name] / rates[base_cores][name]) / (c / base_cores)
            cells += f"{r[name]:10.1f} ({r[name] / r['ultralytics']:5.2f}x, {eff:4.2f})".rjust(28)
        print(f"  {name:28s}{cells}")


if __name__ == "__main__":
    main()
