"""Compare the calibration methods on a deliberately miscalibrated model: ECE, classwise ECE, NLL on a test split.

The model: a small MLP trained for a few seconds on scikit-learn's 8x8 digits, on a class-imbalanced
training subset (classes 0-4 keep all their images, classes 5-9 a fifth) with no regularisation, so
it is over-confident overall and differently so per class. Its logits on a calibration split and a
test split (both untouched by training, stratified, fixed seed) are scored for each method fitted on
the calibration split, and for ``auto`` (5-fold cross-validation on the calibration split).

Takes about 10 s on 2 idle CPU cores (most of it the Dirichlet and ``auto`` cross-validations, a few
seconds each); each row prints as soon as its method is fitted.

Usage:
    python examples/compare_calibration.py [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_probs.calibration import CalibrationWarning, fit_calibrator
from yolo_probs.core.metrics import evaluate_logits


def miscalibrated_logits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logits and labels of the calibration and test splits from a briefly trained, imbalanced MLP."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.6, stratify=y, random_state=seed)
    x_cal, x_test, y_cal, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest, random_state=seed)
    rng = np.random.default_rng(seed)
    keep = (y_train < 5) | (rng.random(y_train.size) < 0.2)  # imbalance: classes 5-9 keep a fifth
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x_train[keep]), torch.from_numpy(y_train[keep])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny MLP: more threads only wait for each other (10x slower on a busy machine)
    try:
        for _ in range(300):  # full batch, no weight decay: it fits the training set and grows over-confident
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
        with torch.no_grad():
            return net(torch.from_numpy(x_cal)).numpy(), y_cal, net(torch.from_numpy(x_test)).numpy(), y_test
    finally:
        torch.set_num_threads(threads)


def _row(label: str, r: Any, seconds: float) -> None:
    """One line of the table, printed at once (each fit takes up to a few seconds)."""
    print(f"{label:<24}{r.accuracy:>9.2%}{r.nll:>8.4f}{r.ece:>8.2%}{r.classwise_ece:>15.2%}{seconds:>7.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    z_cal, y_cal, z_test, y_test = miscalibrated_logits(args.seed)
    print(f"calibration split {y_cal.size} images, test split {y_test.size} images, 10 classes", flush=True)
    print(f"{'method':<24}{'accuracy':>9}{'NLL':>8}{'ECE':>8}{'classwise ECE':>15}{'fit s':>7}", flush=True)
    base = evaluate_logits(z_test, y_test)
    _row("none (T = 1)", base, 0.0)
    for method in ("temperature", "ets", "vector", "dirichlet", "auto"):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)
            cal, details = fit_calibrator(method, z_cal, y_cal)
        seconds = time.perf_counter() - start
        label = method if method != "auto" else f"auto -> {details.get('chosen', cal.method)}"
        _row(label, evaluate_logits(z_test, y_test, calibrator=cal), seconds)
    print(f"ECE: {base.n_bins} equal-width bins, top-1 confidence; classwise ECE: Kull et al. 2019, same bins")


if __name__ == "__main__":
    main()
