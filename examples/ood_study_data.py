"""The datasets and models of the unknown-input study (examples/ood_study.py), built offline on the CPU.

- ``near``: the digits without 7, 8 and 9 (``train/val/test`` of classes 0-6) and a YOLO classifier
  trained on them; its unknowns are the test images of 7, 8 and 9 (the same scans, classes it never saw).
- ``photos``: 64x64 crops of eight scikit-image photos and textures (brick, grass, gravel, coffee, rocket,
  hubble_deep_field, retina, moon) and a YOLO classifier trained on them; ``train``/``val`` crops come
  from the left 70% of each photo and ``test`` crops from the right 30% (a mild shift); its unknowns
  are the digits' test images.

Usage:
    python examples/ood_study_data.py                  # both datasets and models into runs/ood-study
    python examples/ood_study_data.py --epochs 10

Example:
    >>> from examples.ood_study_data import build_photos  # doctest: +SKIP
    >>> build_photos("runs/ood-study/photos")             # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_unknowns import sample_photos  # noqa: E402
from train_digits import build_dataset, train  # noqa: E402

OUT = HERE.parent / "runs" / "ood-study"
HELD_OUT = (7, 8, 9)
PHOTOS = ("brick", "grass", "gravel", "coffee", "rocket", "hubble_deep_field", "retina", "moon")
PER_SPLIT = {"train": 150, "val": 60, "test": 60}


def build_near(root: str | Path, digits: str | Path) -> Path:
    """Classes 0-6 of the digits dataset at ``digits`` copied to ``root`` (train/val/test)."""
    root, digits = Path(root), Path(digits)
    if root.exists():
        shutil.rmtree(root)
    for split in PER_SPLIT:
        for label in range(10):
            if label not in HELD_OUT:
                shutil.copytree(digits / split / str(label), root / split / str(label))
    return root


def crop(image: np.ndarray, x0: int, x1: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """A random square crop whose columns lie in ``[x0, x1)``, resized to ``size``."""
    h = image.shape[0]
    side = int(rng.integers(min(h, x1 - x0) // 4, min(h, x1 - x0) // 2 + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(x0, x1 - side + 1))
    return cv2.resize(image[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)


def build_photos(root: str | Path, seed: int = 0) -> Path:
    """Crops of :data:`PHOTOS`: train/val from the left 70% of each photo, test from the right 30%."""
    root = Path(root)
    if root.exists():
        shutil.rmtree(root)
    photos, rng = sample_photos(), np.random.default_rng(seed)
    for name in PHOTOS:
        image = photos[name]
        cut = int(image.shape[1] * 0.7)
        for split, count in PER_SPLIT.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            x0, x1 = (cut, image.shape[1]) if split == "test" else (0, cut)
            for i in range(count):
                cv2.imwrite(str(folder / f"{i:03d}.png"), crop(image, x0, x1, rng))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    digits = args.out / "digits"
    build_dataset(digits)
    for name, data in (("near", build_near(args.out / "near", digits)), ("photos", build_photos(args.out / "photos"))):
        model = args.out / f"{name}-yolo26n-cls.pt"
        print(f"{name}: dataset {data}; training {args.epochs} epochs -> {train(data, model, args.epochs)}")


if __name__ == "__main__":
    main()
