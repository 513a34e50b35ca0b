"""Train a small digits detector from an Ultralytics YAML on the CPU (offline).

The data is the detection dataset of ``examples/make_detection_data.py`` (built first when missing).
The model is built from ``yolo26n.yaml`` (``--model yolov8n.yaml`` / ``yolo11n.yaml`` work too) and
trained from scratch on the CPU with ``workers=0``; the best checkpoint, optimizer stripped (half
precision), is copied to ``--out``.

Usage:
    python examples/train_detector.py                         # 30 epochs, about 40 minutes on 2 free cores
    python examples/train_detector.py --epochs 1 --train 8 --model yolov8n.yaml --out runs/v8.pt
    python examples/train_detector.py --out examples/models/digits-yolo26n-det.pt   # replace the shipped model

Example:
    >>> from examples.train_detector import train_detector  # doctest: +SKIP
    >>> path = train_detector("runs/digits-det/data.yaml", epochs=1)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent / "runs" / "digits-det"
DEFAULT_OUT = HERE.parent / "runs" / "digits-yolo26n-det.pt"


def train_detector(
    data_yaml: str | Path,
    model: str = "yolo26n.yaml",
    epochs: int = 30,
    imgsz: int = 256,
    out: str | Path = DEFAULT_OUT,
    seed: int = 0,
) -> Path:
    """Train ``model`` on ``data_yaml`` on the CPU and copy the stripped best checkpoint to ``out``."""
    from ultralytics import YOLO
    from ultralytics.utils.torch_utils import strip_optimizer

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="yolo-probs-det-") as tmp:
        yolo = YOLO(model)
        yolo.train(
            data=str(data_yaml),
            epochs=epochs,
            imgsz=imgsz,
            batch=16,
            device="cpu",
            workers=0,
            project=tmp,
            name="train",
            seed=seed,
            plots=False,
            verbose=False,
            amp=False,
            patience=epochs,
            mosaic=1.0,
            close_mosaic=max(1, epochs // 5),
            fliplr=0.0,
        )
        weights = Path(tmp) / "train" / "weights"
        best = weights / "best.pt" if (weights / "best.pt").exists() else weights / "last.pt"
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, out)
    strip_optimizer(str(out))  # weights only, half precision: about 5 MB for yolo26n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset folder (built when missing)")
    parser.add_argument("--model", default="yolo26n.yaml", help="Ultralytics model YAML to train from scratch")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--train", type=int, default=400, help="training images when the dataset is built")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="where the trained checkpoint goes")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "data.yaml").exists():
        from make_detection_data import build_detection_dataset

        build_detection_dataset(
            data, n_train=args.train, n_val=max(2, args.train * 3 // 8), n_test=max(2, args.train * 3 // 8)
        )
    path = train_detector(data / "data.yaml", args.model, args.epochs, args.imgsz, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
