"""Benchmark: fit a temperature on 50,000 x 1,000 logits, ours against the popular LBFGS reference.

The reference is the temperature-scaling recipe of gpleiss/temperature_scaling (``nn.Parameter``
starting at 1.5, ``optim.LBFGS(lr=0.01, max_iter=50)``, cross-entropy of ``logits / T``), run on the
same float32 tensor in the same process. Both NLLs are then evaluated the same way (float64).

The synthetic logits are seeded and realistically miscalibrated: a noisy score per class plus a
per-sample signal on the true class (about 75% top-1), all multiplied by 5, so the model is over-confident
and the best T is well above 1.

``--auto`` times ``--method auto`` instead (5-fold cross-validation over temperature, ETS, vector
scaling and, up to 32 classes, Dirichlet, each regularised one at 4 strengths; then the refit on all
samples) on 10,000 x 100 and 50,000 x 1,000 logits of the same kind, and prints the method it chose
with the candidate table. Goal: 10,000 x 100 under 30 s on a 2-core machine.

Usage:
    OMP_NUM_THREADS=2 python benchmarks/bench_calibration.py [--samples 50000] [--classes 1000] [--repeat 3]
    OMP_NUM_THREADS=2 python benchmarks/bench_calibration.py --auto [--sizes 10000x100 50000x1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_probs.calibration import fit_temperature
from yolo_probs.core.probs import log_softmax


def synthetic_logits(n: int, c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident logits: ``2.5 * (noise + signal on the true class)``, float32, and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, c, n)
    logits = rng.standard_normal((n, c), dtype=np.float32)
    signal = rng.gamma(4.0, 1.0, n).astype(np.float32)  # easy and hard samples
    logits[np.arange(n), labels] += signal
    logits *= 5.0
    return logits, labels


def lbfgs_reference(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """gpleiss/temperature_scaling: T = 1.5, LBFGS(lr=0.01, max_iter=50) on the cross-entropy."""
    temperature = torch.nn.Parameter(torch.ones(1) * 1.5)
    optimizer = torch.optim.LBFGS([temperature], lr=0.01, max_iter=50)
    criterion = torch.nn.CrossEntropyLoss()

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = criterion(logits / temperature, labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(temperature.item())


def nll(logits: np.ndarray, labels: np.ndarray, t: float) -> float:
    """Mean NLL in float64 with the project's own log-softmax (one oracle for both fits)."""
    lp = log_softmax(logits.astype(np.float64), temperature=t)
    return float(-lp[np.arange(len(labels)), labels].mean())


def bench_auto(sizes: list[str]) -> None:
    """Time ``auto`` (cross-validated choice + refit) on each ``NxC`` size; print the choice and the candidates."""
    from yolo_probs.calibration.select import select_calibrator

    fit_temperature(*synthetic_logits(1000, 10, seed=1))  # warm up torch's kernels and imports
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])
    for size in sizes:
        n, c = (int(v) for v in size.lower().split("x"))
        logits, labels = synthetic_logits(n, c)
        start, cpu = time.perf_counter(), time.process_time()
        result = select_calibrator(logits, labels)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        chosen = next((t.label for t in result.candidates if t.chosen), result.method)
        threads = torch.get_num_threads()
        print(f"auto on {n} x {c}: {seconds:.1f} s wall, {cpu:.1f} s CPU, chose {chosen}; torch threads {threads}")
        for t in result.candidates:
            flag = "  <- chosen" if t.chosen else ""
            print(f"  {t.label:<22} CV NLL {t.cv_nll:.5f}  CV acc {t.cv_accuracy:.2%}  {t.seconds:6.1f} s{flag}")
        for note in result.notes:
            print(f"  note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of our fit (best is reported)")
    parser.add_argument("--auto", action="store_true", help="time the cross-validated choice (auto) instead")
    parser.add_argument("--sizes", nargs="+", default=["10000x100", "50000x1000"], help="NxC sizes for --auto")
    args = parser.parse_args()
    if args.auto:
        bench_auto(args.sizes)
        return

    logits, labels = synthetic_logits(args.samples, args.classes)
    acc = float((logits.argmax(1) == labels).mean())
    threads = torch.get_num_threads()
    print(f"data: {args.samples} x {args.classes} float32 logits, top-1 {acc:.1%}, torch threads {threads}")

    fit_temperature(logits[:1000], labels[:1000])  # warm up torch's kernels
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        t_ours = fit_temperature(logits, labels)
        times.append(time.perf_counter() - start)
    ours_s = min(times)

    lt, yt = torch.from_numpy(logits), torch.from_numpy(labels)
    start = time.perf_counter()
    t_ref = lbfgs_reference(lt, yt)
    ref_s = time.perf_counter() - start

    nll_ours, nll_ref, nll_one = nll(logits, labels, t_ours), nll(logits, labels, t_ref), nll(logits, labels, 1.0)
    print(f"NLL at T=1:          {nll_one:.6f}")
    print(f"ours (Newton/bracket): T={t_ours:.6f}  NLL={nll_ours:.6f}  time={ours_s:.3f} s (best of {args.repeat})")
    print(f"LBFGS reference:       T={t_ref:.6f}  NLL={nll_ref:.6f}  time={ref_s:.3f} s")
    print(f"speed-up: {ref_s / ours_s:.1f}x   NLL ours - LBFGS: {nll_ours - nll_ref:+.2e}")


if __name__ == "__main__":
    main()
