"""Any PyTorch classifier in yolo-probs: a torchvision ResNet-18 on the shipped digit images.

Without ``--weights`` the network is built with **random weights** (``weights=None``): it runs, and
its softmax can still look confident, but the probabilities mean nothing. The script says so on
stderr and in its output. With your own trained weights, save them once with
``torch.save(model.state_dict(), "resnet18-digits.pt")`` and pass ``--weights resnet18-digits.pt``:
they are loaded with ``load_state_dict`` before yolo-probs wraps the module (nothing is downloaded).

torchvision's ImageNet weights work the same way (``resnet18(weights="IMAGENET1K_V1")``, 1,000
classes), but torchvision downloads them on first use, so this offline example does not.

Usage:
    python examples/torchvision_classifier.py                                   # random weights: says so
    python examples/torchvision_classifier.py --weights resnet18-digits.pt      # your state dict
    python examples/torchvision_classifier.py --weights w.pt --classes 0 1 2 --images a.png b.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RANDOM_NOTE = "random weights (no --weights given): these probabilities mean nothing; pass --weights STATE_DICT.pt"
DIGITS = [str(d) for d in range(10)]


def build(weights: str | Path | None, classes: int) -> Any:
    """A ResNet-18 with ``classes`` outputs: random weights, or the state dict saved at ``weights``."""
    import torch
    import torchvision

    net = torchvision.models.resnet18(weights=None, num_classes=classes)  # weights=None: no download
    if weights is not None:
        state = torch.load(weights, map_location="cpu", weights_only=True)  # a state dict, not a pickled module
        net.load_state_dict(state)
    return net.eval()


def main(argv: list[str] | None = None) -> None:
    from yolo_probs import YoloProbs
    from yolo_probs.inputs.preprocess import Preprocess

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, help="a state dict saved with torch.save(model.state_dict(), PATH)")
    parser.add_argument("--classes", nargs="+", default=DIGITS, help="class names, in the order of the outputs")
    parser.add_argument("--images", nargs="+", default=[str(ROOT / "examples" / "images" / "digit_3.png")])
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.weights is None:
        print(f"torchvision_classifier: {RANDOM_NOTE}", file=sys.stderr, flush=True)
    net = build(args.weights, len(args.classes))
    preprocess = Preprocess.imagenet(224)  # torchvision's own: resize 256, crop 224, ImageNet mean/std
    with YoloProbs(net, preprocess=preprocess, names=args.classes, temperature=args.temperature) as clf:
        for p in clf.predict(args.images):
            top = ", ".join(f"{c.name} {c.prob:.1%}" for c in p.top[:3])
            caveat = "  <- random weights: meaningless" if args.weights is None else ""
            print(f"{Path(p.source).name}: top {top}{caveat}")


if __name__ == "__main__":
    main()
