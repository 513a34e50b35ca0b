"""Benchmark: does ``yolo-probs monitor`` see a shift, how well does it estimate accuracy, and how often does
it cry wolf?

The shipped digits model (``examples/models/digits-yolo26n-cls.pt``) sees the digits data set's val and
test images (``examples/train_digits.py --dataset-only`` builds them) and unknown photos
(``examples/make_unknowns.py``). The logits of every image, clean and shifted, are computed once; then,
over ``--splits`` random halvings of the 719 val + test images into calibration and test images, each split
fits an energy unknown-input threshold at 95% TPR and the monitor's references
(:func:`yolo_probs.decisions.monitor.fit_monitor`, as ``calibrate`` does) on its calibration half, and feeds
its test half, in a random order, to a :class:`~yolo_probs.decisions.monitor.DriftMonitor`. The temperature
is fitted once on all 719 images (a half of them holds two or three errors of this 99%-accurate model, too
few for a temperature of its own). The logits are kept in ``runs/bench_monitor_logits.npz`` for the next run.

- ``none``: the test images as they are (every alarm is a false alarm; nominal level ``--alpha``);
- ``blur``, ``noise``, ``dark``: Gaussian blur (sigma 2 px), Gaussian noise (sigma 40 grey levels), the
  image at 35% brightness;
- ``class mix``: digits 5-9 kept at one in five (the model's errors do not change, the mix does);
- ``unknowns 5/20/50%``: unknown photos mixed in at that share (an unknown counts as an error).

Per condition it prints the true accuracy, ATC's and DoC's label-free estimates (and their mean absolute
errors), the share of splits whose report says drift, the share whose stream alarm (the conformal test
martingale) rang, and the median images until it rang. About a minute on two cores.

Usage:
    python benchmarks/bench_monitor.py [--splits 200] [--alpha 0.05]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.make_unknowns import write_unknowns  # noqa: E402
from examples.train_digits import build_dataset  # noqa: E402
from yolo_probs import YoloProbs  # noqa: E402
from yolo_probs.calibration.temperature import fit_temperature  # noqa: E402
from yolo_probs.core.probs import softmax  # noqa: E402
from yolo_probs.decisions.monitor import DriftMonitor, fit_monitor  # noqa: E402
from yolo_probs.decisions.ood import ood_scores, threshold_at_tpr  # noqa: E402
from yolo_probs.inputs.labelled import load_labelled_folder  # noqa: E402

MODEL = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
SHIFTS = {
    "blur": lambda im, rng: cv2.GaussianBlur(im, (0, 0), 2.0),
    "noise": lambda im, rng: np.clip(im + rng.normal(0, 40, im.shape), 0, 255).astype(np.uint8),
    "dark": lambda im, rng: (im * 0.35).astype(np.uint8),
}


@dataclass
class Images:
    """Logits of the clean images (with labels), of their shifted copies, and of the unknowns."""

    logits: np.ndarray
    labels: np.ndarray
    shifted: dict[str, np.ndarray]
    unknowns: np.ndarray


def _logits(clf: YoloProbs, images: list[np.ndarray]) -> np.ndarray:
    return np.stack([p.logits for p in clf.predict(images)]).astype(np.float64)


CACHE = ROOT / "runs" / "bench_monitor_logits.npz"


def collect(work: Path) -> Images:
    """Read the data once (or from :data:`CACHE`): the val + test images (clean and shifted) and 400 unknowns."""
    if CACHE.is_file():
        with np.load(CACHE) as f:
            return Images(f["logits"], f["labels"], {k: f[k] for k in SHIFTS}, f["unknowns"])
    data = work / "digits"
    build_dataset(data)
    unknown_files = write_unknowns(work / "unknowns", count=400)
    with YoloProbs(MODEL, device="cpu") as clf:
        folders = [load_labelled_folder(data, clf.names, split) for split in ("val", "test")]
        files = [f for folder in folders for f in folder.files]
        labels = np.concatenate([folder.labels for folder in folders])
        images = [cv2.imread(f) for f in files]
        rng = np.random.default_rng(0)
        shifted = {name: _logits(clf, [shift(im, rng) for im in images]) for name, shift in SHIFTS.items()}
        found = Images(_logits(clf, images), labels, shifted, _logits(clf, [cv2.imread(str(f)) for f in unknown_files]))
    CACHE.parent.mkdir(exist_ok=True)
    np.savez(CACHE, logits=found.logits, labels=found.labels, unknowns=found.unknowns, **found.shifted)
    return found


def _scores(z: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    probs = softmax(z, t)
    return probs.max(axis=1), probs.argmax(axis=1), ood_scores("energy", z, temperature=t)


def _fit(data: Images, cal: np.ndarray, t: float) -> dict:
    z, y = data.logits[cal], data.labels[cal]
    conf, pred, energy = _scores(z, t)
    entry = fit_monitor(conf, pred == y, pred, n_classes=z.shape[1], unknown_scores=energy,
                        unknown_threshold=threshold_at_tpr(energy, 0.95))  # fmt: skip
    return {**entry, "calibrator": {"method": "temperature", "temperature": t}}


def _stream(data: Images, test: np.ndarray, condition: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The logits of the condition's test stream (in a random order) and whether each image is right (-1: unknown)."""
    z, y = data.logits[test], data.labels[test]
    if condition in SHIFTS:
        z = data.shifted[condition][test]
    elif condition == "class mix":
        keep = (y < 5) | (rng.uniform(size=y.size) < 0.2)
        z, y = z[keep], y[keep]
    elif condition.startswith("unknowns"):
        share = int(condition.split()[1].rstrip("%")) / 100
        n = min(len(data.unknowns), round(share / (1 - share) * y.size))
        z = np.concatenate([z, data.unknowns[rng.choice(len(data.unknowns), n, replace=False)]])
        y = np.concatenate([y, np.full(n, -1)])
    order = rng.permutation(y.size)
    return z[order], y[order]


def run_condition(data: Images, condition: str, splits: int, alpha: float) -> dict[str, float]:
    """Every split's estimate errors, drift report and alarm for one condition."""
    rows = []
    n = data.labels.size
    t = float(fit_temperature(data.logits, data.labels))
    for seed in range(splits):
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        cal, test = order[: n // 2], order[n // 2 :]
        entry = _fit(data, cal, t)
        z, y = _stream(data, test, condition, rng)
        conf, pred, energy = _scores(z, t)
        monitor = DriftMonitor(entry, alpha=alpha, seed=seed)
        for c, k, s in zip(conf, pred, energy, strict=True):
            monitor.add(float(c), int(k), float(s))
        report = monitor.report()
        true = float(np.mean(pred == y))
        rows.append((true, report.estimated_accuracy, report.estimated_accuracy_doc, report.drift, monitor.alarm_at))
    true, atc, doc = (np.array([r[i] for r in rows], dtype=float) for i in range(3))
    alarms = [r[4] for r in rows if r[4] is not None]
    return {
        "true": true.mean(), "atc": atc.mean(), "doc": doc.mean(),
        "atc_err": np.abs(atc - true).mean(), "doc_err": np.abs(doc - true).mean(),
        "drift": np.mean([r[3] for r in rows]), "alarm": len(alarms) / splits,
        "to_alarm": float(np.median(alarms)) if alarms else float("nan"),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--splits", type=int, default=200)
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        data = collect(Path(work))
    took = time.perf_counter() - start
    print(f"logits of {data.labels.size} digits (x{1 + len(SHIFTS)}), {len(data.unknowns)} unknowns in {took:.0f} s; "
          f"{args.splits} calibration/test splits, alpha {args.alpha}")  # fmt: skip
    head = f"{'condition':15} {'true acc':>8} {'ATC est':>8} {'DoC est':>8} {'ATC err':>8} {'DoC err':>8}"
    print(f"{head} {'drift':>6} {'alarm':>6} {'images to alarm':>16}")
    conditions = ["none", *SHIFTS, "class mix", "unknowns 5%", "unknowns 20%", "unknowns 50%"]
    for condition in conditions:
        r = run_condition(data, condition, args.splits, args.alpha)
        estimates = f"{r['true']:8.1%} {r['atc']:8.1%} {r['doc']:8.1%} {r['atc_err']:8.1%} {r['doc_err']:8.1%}"
        print(f"{condition:15} {estimates} {r['drift']:6.0%} {r['alarm']:6.0%} {r['to_alarm']:16.0f}")
    print(f"done in {time.perf_counter() - start:.0f} s; 'none' is the false-alarm rate (nominal {args.alpha:.0%})")


if __name__ == "__main__":
    main()
