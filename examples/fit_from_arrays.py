"""Collect a model's logits once, then fit a calibrator and every decision from the cached arrays.

Step 1 runs the digits model over the val split of ``examples/data/digits`` (written by
``python examples/train_digits.py --dataset-only``) and caches logits, labels and final-layer features
in ``runs/digits-val-logits.npz``. Step 2 needs only that file: temperature scaling, an unknown-input
threshold, conformal sets and a reject threshold, each fitted from the same arrays, become one
deployment profile, ``runs/digits-arrays.yaml``, that ``yolo-probs predict --profile`` uses.

About 5 s on 2 CPU cores (the model's pass over 359 images; the fits take milliseconds).

Usage:
    python examples/fit_from_arrays.py [--data examples/data/digits] [--output runs/digits-arrays.yaml]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_probs import (
    YoloProbs,
    collect_logits,
    fit_calibration,
    fit_reject,
    fit_sets,
    fit_unknown,
    profile_from_fits,
    save_profile,
)

MODEL = "examples/models/digits-yolo26n-cls.pt"


def cache_logits(data: str, cache: Path) -> None:
    """Step 1: the model's logits, labels and features of the val images, saved once."""
    with YoloProbs(MODEL, device="cpu") as clf:
        got = collect_logits(clf, data, split="val", features=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, logits=got.logits, labels=got.labels, features=got.features)
    print(f"cached {got.logits.shape[0]} images' logits {got.logits.shape} and features {got.features.shape}")


def fit_profile(cache: Path, output: str) -> None:
    """Step 2: every fit from the cached arrays, then one profile."""
    arrays = np.load(cache)
    logits, labels, features = arrays["logits"], arrays["labels"], arrays["features"]
    cal = fit_calibration(logits, labels)  # temperature scaling (method="auto" compares more)
    unknown = fit_unknown(logits, labels, features=features, calibrator=cal, tpr=0.95)  # default score: knn
    sets = fit_sets(logits, labels, features=features, calibrator=cal, alpha=0.05)
    reject = fit_reject(logits, labels, features=features, calibrator=cal, target_accuracy=0.98)
    print(f"T = {cal.calibrator.temperature:.4f}, NLL {cal.before.nll:.4f} -> {cal.after.nll:.4f}", *cal.warnings)
    print(f"unknown below {unknown.entry['score']} score {unknown.threshold:.4f}; sets: q-hat {sets.qhat:.4f}, "
          f"mean size {sets.report.mean_set_size:.2f}; reject below min_prob {reject.min_prob:.4f}")  # fmt: skip
    profile = profile_from_fits(MODEL, cal, unknown, sets, reject, name="digits-arrays", data=str(cache))
    print(f"wrote {save_profile(profile, output)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="examples/data/digits")
    parser.add_argument("--cache", default="runs/digits-val-logits.npz")
    parser.add_argument("--output", default="runs/digits-arrays.yaml")
    args = parser.parse_args()
    cache_logits(args.data, Path(args.cache))
    fit_profile(Path(args.cache), args.output)


if __name__ == "__main__":
    main()
