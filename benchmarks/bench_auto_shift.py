"""Benchmark: does ``--method auto`` do harm on the next images, under a mild shift?

Each setting trains a small classifier on one part of sklearn's digits (8x8 images), calibrates on
clean images from another part and tests on the rest, mildly shifted (Gaussian blur of ``--blur``
pixels plus noise of ``--noise`` grey levels out of 16). Over ``--splits`` random calibration/test
splits it compares, on the test images, the NLL of:

- ``temperature``: temperature scaling;
- ``auto before``: the selection rule before issue 19 (the simplest candidate within a 0.2% near-tie
  margin of the best CV NLL, whatever the evidence), rebuilt here from the same cross-validation table;
- ``auto``: :func:`yolo_probs.calibration.select.select_calibrator` as it is now (evidence rule and
  one-standard-error rule).

The settings (logits from the model's last linear layer):

- ``3 classes, <2% errors``: logistic regression, weakly regularised, on digits 3/5/8 (a calibration
  split with fewer than 2% errors: the case where Dirichlet once lost 2.8x);
- ``10 classes, LR``: logistic regression on all ten digits, weakly regularised (over-confident);
- ``10 classes, MLP``: an over-fitted one-hidden-layer MLP (sklearn), logits from its last layer;
- ``10 classes, prior shift``: logistic regression trained with five digits at one sixth of their
  images (per-class biases a per-class method can fix; calibration and test are balanced): where the
  data supports a richer method, auto should still win clearly.

For each it prints the test NLL ratio auto / temperature: its mean, its worst split, how often auto is
more than 2% worse, and what auto chose. About 2 minutes on two idle cores (torch on one thread).

Usage:
    python benchmarks/bench_auto_shift.py [--splits 10] [--blur 0.5] [--noise 1.0]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from yolo_probs.calibration.select import TIE_ABSOLUTE, TIE_RELATIVE, Selection, _make, select_calibrator
from yolo_probs.calibration.temperature import CalibrationWarning
from yolo_probs.core.probs import log_softmax


@dataclass(frozen=True)
class Setting:
    name: str
    classes: tuple[int, ...]
    model: Callable[[], object]
    train_drop: tuple[int, ...] = ()  # classes kept at one sixth of their training images


def _lr() -> LogisticRegression:
    return LogisticRegression(C=10.0, max_iter=3000)


def _mlp() -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=(32,), alpha=1e-5, max_iter=600, random_state=0)


SETTINGS = (
    Setting("3 classes, <2% errors", (3, 5, 8), _lr),
    Setting("10 classes, LR", tuple(range(10)), _lr),
    Setting("10 classes, MLP", tuple(range(10)), _mlp),
    Setting("10 classes, prior shift", tuple(range(10)), _lr, train_drop=(1, 3, 5, 7, 9)),
)


def logits_of(model: object, x: np.ndarray) -> np.ndarray:
    """The last linear layer's output (for 2-class LR, the two-column form)."""
    if isinstance(model, MLPClassifier):
        h = x
        for w, b in zip(model.coefs_[:-1], model.intercepts_[:-1], strict=True):
            h = np.maximum(h @ w + b, 0.0)
        return h @ model.coefs_[-1] + model.intercepts_[-1]
    return np.asarray(model.decision_function(x), dtype=np.float64)  # type: ignore[attr-defined]


def shifted(images: np.ndarray, rng: np.random.Generator, blur: float, noise: float) -> np.ndarray:
    """Each 8x8 image blurred and noised (clipped to the 0..16 grey levels), flattened."""
    out = np.stack([gaussian_filter(im, blur) for im in images]) + rng.normal(0.0, noise, images.shape)
    return np.clip(out, 0.0, 16.0).reshape(len(images), -1)


def nll(cal: object, z: np.ndarray, y: np.ndarray) -> float:
    lp = np.asarray(cal.log_probs(z), dtype=np.float64)  # type: ignore[attr-defined]
    return float(-lp[np.arange(y.size), y].mean())


def before_rule(selection: Selection, z: np.ndarray, y: np.ndarray) -> tuple[object, str]:
    """The pre-issue-19 winner from the same CV table: simplest within the near-tie margin of the best CV NLL."""
    finite = [c for c in selection.candidates if math.isfinite(c.cv_nll)]
    if not finite:  # no cross-validation was possible (e.g. a training fold without errors): both keep temperature
        return selection.calibrator, f"{selection.method} (no CV)"
    best = min(c.cv_nll for c in finite)
    margin = max(TIE_ABSOLUTE, TIE_RELATIVE * abs(best))
    winner = next(c for c in finite if c.cv_nll <= best + margin)
    if (winner.method, winner.reg) == (selection.method, selection.reg):
        return selection.calibrator, winner.label
    return _make(winner.method, winner.reg).fit(z, y), winner.label


def run_setting(s: Setting, splits: int, blur: float, noise: float) -> dict[str, object]:
    digits = load_digits()
    keep = np.isin(digits.target, s.classes)
    images, labels = digits.images[keep], np.searchsorted(s.classes, digits.target[keep])
    rng = np.random.default_rng(0)
    order = rng.permutation(labels.size)
    train, rest = order[: labels.size // 3], order[labels.size // 3 :]
    if s.train_drop:
        dropped = np.isin(labels[train], [s.classes.index(c) for c in s.train_drop])
        train = train[~dropped | (rng.uniform(size=train.size) < 1 / 6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = s.model().fit(images[train].reshape(len(train), -1), labels[train])  # type: ignore[attr-defined]
    clean = logits_of(model, images[rest].reshape(len(rest), -1))
    ratios: dict[str, list[float]] = {"before": [], "after": []}
    chosen: dict[str, Counter[str]] = {"before": Counter(), "after": Counter()}
    errors, temp_nll = [], []
    for split in range(splits):
        srng = np.random.default_rng(1000 + split)
        perm = srng.permutation(rest.size)
        cal, test = perm[: rest.size // 2], perm[rest.size // 2 :]
        z_cal, y_cal = clean[cal], labels[rest][cal]
        z_test = logits_of(model, shifted(images[rest][test], srng, blur, noise))
        y_test = labels[rest][test]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CalibrationWarning)
            sel = select_calibrator(z_cal, y_cal)
            old, old_label = before_rule(sel, z_cal, y_cal)
            temp = _make("temperature", None).fit(z_cal, y_cal)
        t = nll(temp, z_test, y_test)
        temp_nll.append(t)
        ratios["before"].append(nll(old, z_test, y_test) / t)
        ratios["after"].append(nll(sel.calibrator, z_test, y_test) / t)
        chosen["before"][old_label] += 1
        chosen["after"][next((c.label for c in sel.candidates if c.chosen), f"{sel.method} (no CV)")] += 1
        errors.append(float(np.mean(z_cal.argmax(axis=1) != y_cal)))
    raw = float(np.mean(-log_softmax(clean)[np.arange(rest.size), labels[rest]]))
    return {"ratios": ratios, "chosen": chosen, "errors": errors, "cal": rest.size // 2, "temp": temp_nll, "raw": raw}


def report(s: Setting, r: dict[str, object]) -> None:
    errors = np.asarray(r["errors"])
    print(f"\n{s.name}: {r['cal']} calibration images, {errors.mean():.2%} errors (max {errors.max():.2%}), "
          f"temperature's test NLL {np.mean(r['temp']):.4f}")  # fmt: skip
    print(f"  {'rule':<8} {'mean ratio':>10} {'worst':>8} {'>2% worse':>10} {'<0.98 (wins)':>13}  chosen")
    for when in ("before", "after"):
        ratio = np.asarray(r["ratios"][when])  # type: ignore[index]
        picks = ", ".join(f"{k} {v}" for k, v in r["chosen"][when].most_common(4))  # type: ignore[index]
        print(f"  {when:<8} {ratio.mean():>10.3f} {ratio.max():>8.3f} {np.mean(ratio > 1.02):>10.0%} "
              f"{np.mean(ratio < 0.98):>13.0%}  {picks}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--blur", type=float, default=0.5)
    parser.add_argument("--noise", type=float, default=1.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    print(f"auto vs temperature on mildly shifted test images (blur {args.blur}, noise {args.noise}), "
          f"{args.splits} random calibration/test splits; ratio = auto's test NLL / temperature's")  # fmt: skip
    for s in SETTINGS:
        report(s, run_setting(s, args.splits, args.blur, args.noise))
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
