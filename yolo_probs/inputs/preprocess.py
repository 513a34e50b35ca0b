"""Explicit preprocessing for classifiers that are not run by Ultralytics' own predictor.

A :class:`Preprocess` turns BGR frames (what :mod:`yolo_probs.inputs.sources` yields) into the float32 NCHW
batch a classifier expects: resize, center crop, channel order, scale to [0, 1], mean/std. It uses
torchvision's transforms on PIL images, the same as Ultralytics' classify transforms, so an exported
Ultralytics model sees exactly the pixels the PyTorch path sees.

Example:
    >>> import numpy as np
    >>> from yolo_probs.inputs.preprocess import Preprocess
    >>> pre = Preprocess.imagenet(size=32)
    >>> pre.resize, pre([np.zeros((48, 64, 3), np.uint8)]).shape
    (37, (1, 3, 32, 32))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from yolo_probs.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "MAX_IMGSZ", "Preprocess", "check_size"]

#: Largest accepted inference size: 4096 px (a 3 x 4096 x 4096 float32 input is 200 MB per image).
MAX_IMGSZ = 4096
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_size(value: Any, what: str, option: str | None = None, *, hint: str = "pass e.g. 224") -> int | None:
    """``value`` if it is None or a whole number in ``[1, MAX_IMGSZ]``, else :class:`ConfigError` naming ``what``.

    ``option`` is the setting the error is reported against; ``hint`` ends each message.

    Example:
        >>> check_size(224, "imgsz"), check_size(None, "imgsz")
        (224, None)
        >>> check_size(5000, "imgsz")
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: imgsz 5000 is above the limit of 4096 pixels; pass e.g. 224
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}; {hint}", option=option)
    if value > MAX_IMGSZ:
        raise ConfigError(f"{what} {value} is above the limit of {MAX_IMGSZ} pixels; {hint}", option=option)
    return value


def _triple(value: Any, what: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ConfigError(f"{what} needs 3 numbers (one per channel), got {value!r}; pass e.g. 0.485,0.456,0.406")
    return values  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocess:
    """How to turn a BGR frame into the model's input tensor.

    Attributes:
        size: side of the square input the model gets.
        resize: ``mode="crop"``: the shortest image side is resized to this, then the center ``size`` x
            ``size`` is cropped (torchvision's eval recipe: 256 then 224); None means ``size`` (Ultralytics).
            Ignored for ``mode="stretch"``.
        mode: ``"crop"`` (keep the aspect ratio, center crop) or ``"stretch"`` (resize to size x size).
        mean: per-channel mean subtracted after scaling pixels to [0, 1], in the model's channel order.
        std: per-channel standard deviation divided by after the mean.
        rgb: feed channels as RGB (torchvision, timm, Ultralytics); False feeds BGR (some OpenCV-trained models).
    """

    size: int = 224
    resize: int | None = 256
    mode: Literal["crop", "stretch"] = "crop"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    rgb: bool = True

    def __post_init__(self) -> None:
        check_size(self.size, "preprocess size")
        check_size(self.resize, "preprocess resize")
        if self.mode not in ("crop", "stretch"):
            raise ConfigError(f"preprocess mode must be 'crop' or 'stretch', got {self.mode!r}")
        object.__setattr__(self, "mean", _triple(self.mean, "mean"))
        object.__setattr__(self, "std", _triple(self.std, "std"))
        if any(s <= 0 for s in self.std):
            raise ConfigError(f"std values must be > 0, got {self.std!r}; pass e.g. 0.229,0.224,0.225")

    @classmethod
    def imagenet(cls, size: int = 224) -> Preprocess:
        """torchvision / timm ImageNet eval preprocessing: resize to size/0.875, center crop, ImageNet mean/std."""
        return cls(size=size, resize=round(size / 0.875))

    @classmethod
    def ultralytics(cls, size: int) -> Preprocess:
        """Ultralytics' classify transforms: shortest side to ``size``, center crop, /255, no mean/std."""
        return cls(size=size, resize=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def transform(self) -> Any:
        """The torchvision transform for one PIL image (built once per call of :meth:`__call__`)."""
        import torchvision.transforms as T

        resize = (self.size, self.size) if self.mode == "stretch" else (self.resize or self.size)
        # Normalisation runs on RGB tensors; mean/std are given in the model's order, so reverse them for BGR.
        mean, std = (self.mean, self.std) if self.rgb else (self.mean[::-1], self.std[::-1])
        return T.Compose(
            [
                T.Resize(resize, interpolation=T.InterpolationMode.BILINEAR),
                T.CenterCrop(self.size),
                T.ToTensor(),
                T.Normalize(mean=mean, std=std),
            ]
        )

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Stack BGR uint8 images (H, W, 3) into a float32 (N, 3, size, size) array."""
        import cv2
        import torch
        from PIL import Image

        tf = self.transform()
        # Convert to RGB for PIL/torchvision either way; a BGR model gets its channels flipped back after.
        batch = torch.stack([tf(Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB))) for im in images])
        if not self.rgb:
            batch = batch.flip(1)
        return batch.numpy().astype(np.float32, copy=False)
