"""Build a small Ultralytics-format detection dataset from data inside installed packages (offline).

scikit-learn's bundled handwritten digits (``load_digits``, 1,797 real 8x8 scans) are upscaled to
random sizes and pasted, several per image, at random positions on crops of the photos bundled with
scikit-image (``skimage.data``) and scikit-learn (``load_sample_images``). Each digit's box is the
tight box of its ink, written in YOLO txt format (``class cx cy w h``, normalised). The splits use
disjoint digit scans; ``train`` and ``val`` (the calibration split) share one set of background
photos, ``test`` uses other photos: a mild shift between calibration and the held-out test split.

Usage:
    python examples/make_detection_data.py                       # runs/digits-det (400/150/150 images)
    python examples/make_detection_data.py --out runs/tiny --train 8 --val 4 --test 4

Example:
    >>> from examples.make_detection_data import build_detection_dataset
    >>> counts = build_detection_dataset("runs/doctest-det", n_train=2, n_val=1, n_test=1)
    >>> counts["train"]["images"]
    2
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parent / "runs" / "digits-det"
NAMES = [str(d) for d in range(10)]
SIZE = 256
TRAIN_BACKGROUNDS = (
    "astronaut",
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "moon",
    "horse",
    "clock",
    "grass",
    "gravel",
    "brick",
)
TEST_BACKGROUNDS = (
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "cat",
    "colorwheel",
    "page",
    "sklearn:china.jpg",
    "sklearn:flower.jpg",
)


@dataclass(frozen=True)
class Placed:
    """One digit placed in an image: its class and tight pixel box ``x1, y1, x2, y2``."""

    cls: int
    box: tuple[int, int, int, int]


def load_background(name: str) -> np.ndarray:
    """One bundled photo as a BGR uint8 image (``sklearn:<file>`` for scikit-learn's samples)."""
    if name.startswith("sklearn:"):
        from sklearn.datasets import load_sample_images

        bunch = load_sample_images()
        image = bunch.images[[Path(f).name for f in bunch.filenames].index(name.split(":", 1)[1])]
    else:
        import skimage.data

        image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    image = np.ascontiguousarray(image[..., :3])
    if image.dtype != np.uint8:
        image = (255 * (image.astype(np.float64) / max(float(image.max()), 1e-9))).astype(np.uint8)
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A random square crop of at least half the photo's short side, resized to ``size``."""
    h, w = photo.shape[:2]
    side = int(rng.integers(min(h, w) // 2, min(h, w) + 1))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return cv2.resize(photo[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)


def _overlaps(box: tuple[int, int, int, int], others: list[Placed], margin: int = 4) -> bool:
    x1, y1, x2, y2 = box
    return any(
        x1 < o.box[2] + margin and o.box[0] - margin < x2 and y1 < o.box[3] + margin and o.box[1] - margin < y2
        for o in others
    )


def paste_digit(
    canvas: np.ndarray, pixels: np.ndarray, label: int, rng: np.random.Generator, placed: list[Placed]
) -> Placed | None:
    """Paste one 8x8 digit (0..16) at a random size and free position; returns its tight ink box."""
    side = int(rng.integers(28, 81))
    ink = cv2.resize(pixels.reshape(8, 8).astype(np.float32) / 16.0, (side, side), interpolation=cv2.INTER_CUBIC)
    ink = ink.clip(0.0, 1.0)
    ys, xs = np.nonzero(ink > 0.25)
    if len(xs) == 0:
        return None
    h, w = canvas.shape[:2]
    for _ in range(20):
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        box = (x + int(xs.min()), y + int(ys.min()), x + int(xs.max()) + 1, y + int(ys.max()) + 1)
        if not _overlaps(box, placed):
            break
    else:
        return None
    patch = canvas[y : y + side, x : x + side].astype(np.float32)
    colour = np.array([0.0, 0.0, 0.0]) if patch.mean() > 110 else np.array([255.0, 255.0, 255.0])
    colour = np.clip(colour + rng.normal(0, 30, 3), 0, 255)
    alpha = ink[..., None]
    canvas[y : y + side, x : x + side] = (patch * (1 - alpha) + colour * alpha).astype(np.uint8)
    return Placed(label, box)


def yolo_lines(placed: list[Placed], size: int = SIZE) -> str:
    """YOLO txt labels: ``class cx cy w h`` normalised to the image size, one box a line."""
    rows = []
    for p in placed:
        x1, y1, x2, y2 = p.box
        rows.append(
            f"{p.cls} {(x1 + x2) / 2 / size:.6f} {(y1 + y2) / 2 / size:.6f} "
            f"{(x2 - x1) / size:.6f} {(y2 - y1) / size:.6f}"
        )
    return "\n".join(rows) + ("\n" if rows else "")


def _write_split(
    root: Path,
    split: str,
    n: int,
    backgrounds: list[np.ndarray],
    digits: np.ndarray,
    labels: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, int]:
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    boxes = 0
    for i in range(n):
        canvas = random_crop(backgrounds[int(rng.integers(len(backgrounds)))], rng)
        placed: list[Placed] = []
        for _ in range(int(rng.integers(1, 6))):
            k = int(rng.integers(len(digits)))
            p = paste_digit(canvas, digits[k], int(labels[k]), rng, placed)
            if p is not None:
                placed.append(p)
        cv2.imwrite(str(root / "images" / split / f"{split}_{i:04d}.png"), canvas)
        (root / "labels" / split / f"{split}_{i:04d}.txt").write_text(yolo_lines(placed))
        boxes += len(placed)
    return {"images": n, "boxes": boxes}


def build_detection_dataset(
    out: str | Path = DEFAULT_OUT, n_train: int = 400, n_val: int = 150, n_test: int = 150, seed: int = 0
) -> dict[str, dict[str, int]]:
    """Write ``out/{images,labels}/{train,val,test}`` and ``out/data.yaml``; returns counts per split."""
    from sklearn.datasets import load_digits

    root = Path(out)
    if root.exists():
        shutil.rmtree(root)
    digits = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    thirds = np.array_split(order, [int(0.6 * len(order)), int(0.8 * len(order))])
    train_bg = [load_background(n) for n in TRAIN_BACKGROUNDS]
    test_bg = [load_background(n) for n in TEST_BACKGROUNDS]
    plan = {
        "train": (n_train, train_bg, thirds[0]),
        "val": (n_val, train_bg, thirds[1]),
        "test": (n_test, test_bg, thirds[2]),
    }
    counts = {}
    for split, (n, bgs, idx) in plan.items():
        counts[split] = _write_split(root, split, n, bgs, digits.data[idx], digits.target[idx], rng)
    names = "\n".join(f"  {i}: '{n}'" for i, n in enumerate(NAMES))
    (root / "data.yaml").write_text(
        f"path: {root.resolve()}\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n{names}\n"
    )
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="dataset folder (replaced)")
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--val", type=int, default=150)
    parser.add_argument("--test", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    counts = build_detection_dataset(args.out, args.train, args.val, args.test, args.seed)
    for split, c in counts.items():
        print(f"{split}: {c['images']} images, {c['boxes']} boxes")
    print(f"wrote {Path(args.out) / 'data.yaml'}")


if __name__ == "__main__":
    main()
