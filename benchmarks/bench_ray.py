"""Ray Data on one machine vs the local loop: the same N images to Parquet, records checked equal.

Times, in one process: the local run (``YoloProbs.predict`` on the folder, records to a Parquet
file, as ``yolo-probs predict DIR -o out.parquet``), and :func:`yolo_probs.integrations.ray.predict_files` on a
local cluster (``ray.init(num_cpus=CPUS)``, actors planned by :func:`~yolo_probs.integrations.ray.plan_actors`),
records to Parquet, as ``yolo-probs predict DIR --ray -o out.parquet``. Cluster start-up is timed
apart; each Ray round starts its actors anew (part of the cost of a job). Then checks that both
files hold the same records.

Usage:
    python benchmarks/bench_ray.py --n 500
    python benchmarks/bench_ray.py --n 2000 --cpus 2 --rounds 2
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"))
    parser.add_argument("--n", type=int, default=500, help="number of 640x480 JPEGs")
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="CPUs of the local Ray cluster")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    from bench_device import make_images

    from yolo_probs import YoloProbs
    from yolo_probs.integrations.ray import connect, plan_actors, predict_files
    from yolo_probs.outputs.formats import make_writer
    from yolo_probs.outputs.parquet import read_records

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        make_images(folder, args.n)
        paths = sorted(str(p) for p in folder.iterdir())

        def local() -> None:
            with YoloProbs(args.model) as clf, open(Path(tmp) / "local.parquet", "wb") as f:
                writer = make_writer("parquet", f)
                for p in clf.predict(str(folder), stream=True):
                    writer.write(p)
                writer.close()

        def on_ray() -> None:
            with open(Path(tmp) / "ray.parquet", "wb") as f:
                writer = make_writer("parquet", f)
                for record in predict_files(paths, args.model):
                    writer.write_record(record)  # type: ignore[attr-defined]
                writer.close()

        start = time.perf_counter()
        ray = connect("local") if args.cpus == (os.cpu_count() or 1) else None
        if ray is None:
            import ray

            ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        startup = time.perf_counter() - start
        times: dict[str, list[float]] = {"local loop": [], "ray": []}
        for _ in range(args.rounds):
            for name, fn in (("local loop", local), ("ray", on_ray)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        plan = plan_actors(float(ray.cluster_resources()["CPU"]))
        same = read_records(Path(tmp) / "local.parquet") == read_records(Path(tmp) / "ray.parquet")
        print(f"{args.n} 640x480 JPEGs, {Path(args.model).name}, {os.cpu_count()} cores; Ray start-up {startup:.1f} s")
        print(f"  plan: {plan.actors} actors x {plan.cpus_per_actor} CPU, {plan.threads} torch thread each")
        for name, ts in times.items():
            t = statistics.median(ts)
            print(f"  {name:10s} {t:7.1f} s  {args.n / t:7.1f} img/s")
        print(f"  records identical: {same}")


if __name__ == "__main__":
    main()
