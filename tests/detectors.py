"""Detection models with varied class logits, built from Ultralytics YAMLs (nothing downloaded).

A model built from YAML has every class logit at one bias, so all its boxes tie. ``detector`` draws the
last class convolution's weights at random (seeded) so that boxes, classes and confidences differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def detector(yaml: str, seed: int = 0) -> Any:
    """An Ultralytics ``YOLO`` built from ``yaml`` with random class heads (confidences around 0.02)."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO(yaml)
    head = model.model.model[-1]
    branches = [head.cv3] + ([head.one2one_cv3] if getattr(head, "one2one_cv3", None) is not None else [])
    for branch in branches:
        for block in branch:
            conv = block[-1]
            torch.nn.init.normal_(conv.weight, std=0.05)
            torch.nn.init.constant_(conv.bias, -4.0)
    return model


def images() -> list[np.ndarray]:
    """Three BGR images of different sizes: a shipped digit and two scikit-image photos."""
    from skimage import data

    return [
        cv2.imread(str(ROOT / "examples/images/digit_3.png")),
        cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR),
        cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR),
    ]
