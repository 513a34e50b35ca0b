"""Write images of no digit class, from the sample photos that ship inside scikit-image and scikit-learn.

Used as the "unknown" inputs of the decisions walk-through (docs/decisions.md): the digits model never saw
photographs, so every image written here is out of distribution for it. Each image is a random
square crop of one sample photo (astronaut, coffee, coins, text, ..., scikit-learn's china and flower,
and scikit-image's bundled LFW faces), resized to the digits' 64x64. Offline and deterministic.

Usage:
    python examples/make_unknowns.py                          # 300 images in examples/data/unknowns
    python examples/make_unknowns.py --out /tmp/u --count 50

Example:
    >>> from examples.make_unknowns import sample_photos  # doctest: +SKIP
    >>> len(sample_photos()) > 20                         # doctest: +SKIP
    True
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data" / "unknowns"
SIZE = 64
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def without_iccp(data: bytes) -> bytes:
    """PNG bytes without their iCCP chunk (an embedded colour profile); other bytes as they are.

    scikit-image's astronaut, chelsea, color and page PNGs carry a profile that libpng warns about on
    every read (``libpng warning: iCCP: ... invalid rendering intent``); OpenCV ignores profiles, so
    the pixels are the same without it.
    """
    if not data.startswith(PNG_SIGNATURE):
        return data
    kept, i = [PNG_SIGNATURE], len(PNG_SIGNATURE)
    while i + 12 <= len(data):
        end = i + 12 + int.from_bytes(data[i : i + 4], "big")  # length, type, data, CRC
        if data[i + 4 : i + 8] != b"iCCP":
            kept.append(data[i:end])
        i = end
    return b"".join([*kept, data[i:]])


def sample_photos() -> dict[str, np.ndarray]:
    """The photos bundled in scikit-image's data folder and scikit-learn's sample images, as BGR uint8."""
    import skimage
    import sklearn.datasets

    photos: dict[str, np.ndarray] = {}
    folders = [Path(skimage.__file__).parent / "data", Path(sklearn.datasets.__file__).parent / "images"]
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in (".png", ".jpg") or "chessboard" in path.name:
                continue
            image = cv2.imdecode(np.frombuffer(without_iccp(path.read_bytes()), np.uint8), cv2.IMREAD_COLOR)
            if image is not None and min(image.shape[:2]) >= 64:
                photos[path.stem] = image
    faces = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")  # (200, 25, 25) floats in [0, 1]
    for i, face in enumerate(faces[:40]):
        photos[f"face{i:02d}"] = cv2.cvtColor((face * 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)
    return photos


def write_unknowns(out: str | Path = DEFAULT_OUT, count: int = 300, seed: int = 0) -> list[Path]:
    """Write ``count`` random square crops of the sample photos, resized to 64x64, into ``out``."""
    rng = np.random.default_rng(seed)
    photos = sample_photos()
    names = sorted(photos)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i in range(count):
        name = names[i % len(names)]
        image = photos[name]
        h, w = image.shape[:2]
        side = int(rng.integers(min(h, w) // 4, min(h, w) + 1)) if min(h, w) > 64 else min(h, w)
        y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = cv2.resize(image[y : y + side, x : x + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
        path = folder / f"{name}_{i:03d}.png"
        cv2.imwrite(str(path), crop)
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: %(default)s)")
    parser.add_argument("--count", type=int, default=300, help="how many images (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    written = write_unknowns(args.out, args.count, args.seed)
    print(f"{len(written)} unknown images written to {args.out}")


if __name__ == "__main__":
    main()
