"""Build a digits classification dataset from scikit-learn and train a small YOLO classifier on it.

The dataset is scikit-learn's bundled ``load_digits`` (1,797 real 8x8 handwritten digit scans), so
this runs offline. Images are upscaled to 64x64 PNGs (dark ink on a light background) and split
60/20/20 into ``train/``, ``val/`` and ``test/`` class folders, the layout Ultralytics expects.
The model is ``yolo26n-cls.yaml`` trained from scratch on the CPU.

Usage:
    python examples/train_digits.py                      # dataset + training (about 10 minutes on 2 cores)
    python examples/train_digits.py --dataset-only       # just write the dataset
    python examples/train_digits.py --epochs 5 --out /tmp/digits.pt

The dataset goes to the git-ignored ``examples/data/digits`` (the input of the docs' commands), the
trained checkpoint to the git-ignored ``runs/digits-yolo26n-cls.pt``; to replace the shipped model, pass
``--out examples/models/digits-yolo26n-cls.pt``.

Example:
    >>> from examples.train_digits import build_dataset  # doctest: +SKIP
    >>> counts = build_dataset("datasets/digits")         # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "data" / "digits"
DEFAULT_MODEL = HERE.parent / "runs" / "digits-yolo26n-cls.pt"
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}
SIZE = 64


def digit_to_image(pixels: np.ndarray, size: int = SIZE) -> np.ndarray:
    """Turn one 8x8 digit (values 0..16) into a ``size`` x ``size`` BGR uint8 image, dark ink on white."""
    gray = (255 - pixels.reshape(8, 8).astype(np.float32) * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    big = cv2.resize(gray, (size, size), interpolation=cv2.INTER_CUBIC)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def build_dataset(root: str | Path = DEFAULT_DATA, seed: int = 0) -> dict[str, int]:
    """Write ``root/{train,val,test}/<digit>/<n>.png``, stratified per class; returns images per split."""
    from sklearn.datasets import load_digits

    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    counts = dict.fromkeys(SPLITS, 0)
    for label in range(10):
        idx = np.flatnonzero(digits.target == label)
        rng.shuffle(idx)
        n_train = round(len(idx) * SPLITS["train"])
        n_val = round(len(idx) * SPLITS["val"])
        parts = {"train": idx[:n_train], "val": idx[n_train : n_train + n_val], "test": idx[n_train + n_val :]}
        for split, members in parts.items():
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in members:
                cv2.imwrite(str(folder / f"{i:04d}.png"), digit_to_image(digits.images[i]))
            counts[split] += len(members)
    return counts


def train(data: Path, out: Path, epochs: int, imgsz: int = SIZE, seed: int = 0) -> Path:
    """Train ``yolo26n-cls.yaml`` from scratch on ``data`` and copy the best checkpoint to ``out``."""
    from ultralytics import YOLO

    model = YOLO("yolo26n-cls.yaml")
    with tempfile.TemporaryDirectory() as runs:
        model.train(
            data=str(data),
            epochs=epochs,
            imgsz=imgsz,
            batch=64,
            device="cpu",
            workers=2,
            seed=seed,
            deterministic=True,
            pretrained=False,
            amp=False,
            plots=False,
            fliplr=0.0,  # a mirrored 2 is not a 2
            erasing=0.0,
            auto_augment=None,
            project=runs,
            name="digits",
            exist_ok=True,
            verbose=False,
        )
        best = Path(runs) / "digits" / "weights" / "best.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="where to write the dataset (default: %(default)s)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_MODEL, help="where to write the checkpoint (default: %(default)s)"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dataset-only", action="store_true", help="write the dataset and stop")
    args = parser.parse_args()
    counts = build_dataset(args.data, seed=args.seed)
    print(f"dataset written to {args.data}: {counts}")
    if not args.dataset_only:
        print(f"checkpoint written to {train(args.data, args.out, args.epochs, seed=args.seed)}")


if __name__ == "__main__":
    main()
