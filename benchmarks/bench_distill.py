"""Benchmark: a small digits student trained with and without distillation from the shipped model.

The teacher is the shipped ``examples/models/digits-yolo26n-cls.pt`` (imgsz 64, trained on all 1,078
training images). The student is ``yolo26n-cls.yaml`` from scratch at imgsz 32 (a quarter of the
pixels) on a stratified subset of the training images (``--per-class`` each). Both arms go through
the same trainer (:func:`yolo_probs.distill.train.distill`: Ultralytics' classification trainer, the same
augmentation, epochs, batch and seed); only the loss differs: ``alpha = 0`` is plain cross-entropy
(Ultralytics' own loss), the other arm uses ``--alpha`` and ``--temperature``. Each student is then
evaluated on the untouched ``test`` split at T = 1: top-1 accuracy, NLL and ECE (15 equal-width bins,
torchmetrics' convention), and again at a temperature fitted on the ``val`` split, so that the
distilled student is also compared with a calibrated labels-only one. The teacher's own row is
printed for reference.

Usage:
    nice python benchmarks/bench_distill.py                       # about 10 to 20 minutes on 2 (shared) CPU cores
    nice python benchmarks/bench_distill.py --epochs 2 --seeds 0  # a quick check
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("YOLO_OFFLINE", "1")

from yolo_probs.api.model import YoloProbs  # noqa: E402
from yolo_probs.api.workflow import collect_logits  # noqa: E402
from yolo_probs.calibration import fit_temperature  # noqa: E402
from yolo_probs.core.metrics import evaluate_logits  # noqa: E402
from yolo_probs.distill.train import distill  # noqa: E402
from yolo_probs.errors import ConfigError  # noqa: E402
from yolo_probs.inputs.labelled import load_labelled_folder  # noqa: E402

TEACHER = ROOT / "examples" / "models" / "digits-yolo26n-cls.pt"
DATA = ROOT / "examples" / "data" / "digits"
# As examples/train_digits.py: no mirroring or erasing (a mirrored 2 is not a 2).
TRAIN_ARGS = {"fliplr": 0.0, "erasing": 0.0, "auto_augment": None, "workers": 0, "amp": False}


@dataclass
class Row:
    name: str
    seed: int | None
    accuracy: float
    nll: float
    ece: float
    seconds: float
    temperature: float = float("nan")  # fitted on the val split
    nll_t: float = float("nan")  # on test, at that temperature
    ece_t: float = float("nan")


def subset(data: Path, out: Path, per_class: int, seed: int = 0) -> int:
    """Copy ``per_class`` random training images of each class (and the whole val split) to ``out``."""
    rng = np.random.default_rng(seed)
    count = 0
    for folder in sorted((data / "train").iterdir()):
        files = sorted(folder.iterdir())
        chosen = [files[i] for i in sorted(rng.choice(len(files), min(per_class, len(files)), replace=False))]
        (out / "train" / folder.name).mkdir(parents=True)
        for f in chosen:
            shutil.copy(f, out / "train" / folder.name / f.name)
        count += len(chosen)
    shutil.copytree(data / "val", out / "val")
    return count


def evaluate(model: Path, data: Path, name: str, seed: int | None, seconds: float) -> Row:
    """Accuracy, NLL and ECE (15 bins) of ``model`` on ``data/test`` at T = 1, and at a T fitted on ``data/val``."""
    with YoloProbs(model, device="cpu", batch=32) as clf:
        test = collect_logits(clf, load_labelled_folder(data / "test", clf.names))
        val = collect_logits(clf, load_labelled_folder(data / "val", clf.names))
    report = evaluate_logits(test.logits, test.labels, temperature=1.0)
    row = Row(name, seed, report.accuracy, report.nll, report.ece, seconds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a few hundred val images: the fit says its T is noisy
            t = fit_temperature(val.logits, val.labels)
    except ConfigError:  # e.g. every val image right: no finite best T
        return row
    scaled = evaluate_logits(test.logits, test.labels, temperature=t)
    row.temperature, row.nll_t, row.ece_t = t, scaled.nll, scaled.ece
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="digits dataset (built if missing)")
    parser.add_argument("--per-class", type=int, default=30, help="training images per class for the student")
    parser.add_argument("--imgsz", type=int, default=32, help="student input size (the teacher's is 64)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--temperature", "-t", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()

    if not (args.data / "test").is_dir():
        sys.path.insert(0, str(ROOT / "examples"))
        from train_digits import build_dataset

        build_dataset(args.data)
    test = args.data / "test"
    rows = [evaluate(TEACHER, args.data, "teacher (shipped, imgsz 64, all 1078 images)", None, 0.0)]
    with tempfile.TemporaryDirectory(prefix="bench-distill-") as tmp:
        work = Path(tmp)
        n_train = subset(args.data, work / "data", args.per_class)
        for seed in args.seeds:
            for name, alpha in (
                ("student, labels only (alpha 0)", 0.0),
                (f"student, distilled (alpha {args.alpha:g})", args.alpha),
            ):
                out = work / f"student-{alpha:g}-{seed}.pt"
                start = time.perf_counter()
                distill(
                    work / "data",
                    teacher=TEACHER,
                    student="yolo26n-cls.yaml",
                    output=out,
                    temperature=args.temperature,
                    alpha=alpha,
                    epochs=args.epochs,
                    imgsz=args.imgsz,
                    batch=args.batch,
                    device="cpu",
                    seed=seed,
                    **TRAIN_ARGS,
                )
                rows.append(evaluate(out, args.data, name, seed, time.perf_counter() - start))
                r = rows[-1]
                print(
                    f"  seed {seed} {name}: acc {r.accuracy:.4f} nll {r.nll:.4f} ece {r.ece:.4f}; "
                    f"T {r.temperature:.3f}: nll {r.nll_t:.4f} ece {r.ece_t:.4f} ({r.seconds:.0f} s)"
                )

    print(
        f"\nStudent: yolo26n-cls.yaml from scratch, imgsz {args.imgsz}, {n_train} training images "
        f"({args.per_class} per class), {args.epochs} epochs, batch {args.batch}, seeds {args.seeds}; "
        f"T = {args.temperature:g}. Test split: {len(list(test.rglob('*.png')))} images, T = 1, ECE 15 bins.\n"
    )
    print("| model | test accuracy | NLL | ECE | T fitted on val | NLL at that T | ECE at that T |")
    print("|---|---|---|---|---|---|---|")
    names = list(dict.fromkeys(r.name for r in rows))
    keys = ("accuracy", "nll", "ece", "temperature", "nll_t", "ece_t")
    for name in names:
        group = [r for r in rows if r.name == name]
        mean = {k: float(np.mean([getattr(r, k) for r in group])) for k in keys}
        each = "" if len(group) == 1 else " (" + ", ".join(f"{r.accuracy:.3f}" for r in group) + ")"
        print(
            f"| {name} | {mean['accuracy']:.3f}{each} | {mean['nll']:.3f} | {mean['ece']:.3f} "
            f"| {mean['temperature']:.2f} | {mean['nll_t']:.3f} | {mean['ece_t']:.3f} |"
        )
    print("\nStudent rows: mean over seeds (per-seed accuracy in brackets). Test metrics; T fitted on the val split.")


if __name__ == "__main__":
    main()
