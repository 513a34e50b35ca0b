"""Preprocessing without torch: the same pixels as :class:`~yolo_probs.inputs.preprocess.Preprocess`, numpy/PIL only.

Ultralytics' classify transforms (and torchvision's eval recipe) are PIL bilinear resize of the
shortest side, centre crop, ``ToTensor`` (uint8 / 255 in float32) and ``Normalize``. This module does
the same operations with PIL and numpy, so the fast engines see bit-identical input while the hot
path never touches torch (no torch import, no torch thread pool fighting the engine for the cores).
One shortcut keeps it cheap and exact: the channels are resized in BGR order and flipped on the
small crop (bilinear filtering treats each channel on its own), so the full frame is never converted.
Resizing only the cropped box (``resize(box=...)``) would be faster but is not exact: PIL takes the
box in float32, which moves the filter taps enough to change about 1 pixel value in 2,000.

Example:
    >>> import numpy as np
    >>> from yolo_probs.inputs.fast_preprocess import fast_preprocess
    >>> from yolo_probs.inputs.preprocess import Preprocess
    >>> frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> pre = Preprocess.ultralytics(32)
    >>> batch = fast_preprocess(pre, [frame])
    >>> batch.shape, batch.dtype, bool(np.array_equal(batch, pre([frame])))
    ((1, 3, 32, 32), dtype('float32'), True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    from PIL import Image

    from yolo_probs.inputs.preprocess import Preprocess

__all__ = ["crop_box", "fast_preprocess", "resize_crop", "supports"]


def supports(pre: Preprocess) -> bool:
    """Whether :func:`fast_preprocess` reproduces ``pre`` exactly (all recipes but a crop larger than the resize)."""
    return pre.mode == "stretch" or (pre.resize or pre.size) >= pre.size


def crop_box(width: int, height: int, pre: Preprocess) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """The resized size ``(w, h)`` and the crop ``(left, top, right, bottom)`` in it, as torchvision computes them.

    Example:
        >>> from yolo_probs.inputs.preprocess import Preprocess
        >>> crop_box(640, 480, Preprocess.ultralytics(224))
        ((298, 224), (37, 0, 261, 224))
    """
    size = pre.size
    if pre.mode == "stretch":
        return (size, size), (0, 0, size, size)
    short_target = pre.resize or size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(short_target * long / short)  # torchvision's _compute_resized_output_size
    new_w, new_h = (short_target, new_long) if width <= height else (new_long, short_target)
    # torchvision's center_crop rounds half to even (Python's round), so keep round() here.
    top, left = round((new_h - size) / 2.0), round((new_w - size) / 2.0)
    return (new_w, new_h), (left, top, left + size, top + size)


def resize_crop(image: np.ndarray | Image.Image, pre: Preprocess) -> np.ndarray:
    """One frame -> the ``size x size x C`` uint8 crop the model sees, channel order kept.

    ``image`` is an HxWx3 (or HxW) uint8 array, or a Pillow image in RGB or L mode (as
    :mod:`yolo_probs.inputs.fast_decode` gives), which is resized where it lies, with no copy in.
    """
    from PIL import Image

    if isinstance(image, Image.Image):
        width, height = image.size
    else:
        height, width = image.shape[:2]
    (new_w, new_h), (left, top, right, bottom) = crop_box(width, height, pre)
    if (new_w, new_h) == (width, height):
        return np.asarray(image)[top:bottom, left:right]
    if not isinstance(image, Image.Image):
        image = Image.fromarray(np.ascontiguousarray(image))
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    # Crop after resizing: PIL's resize(box=...) takes the box in float32, which moves the filter taps.
    return np.asarray(resized)[top:bottom, left:right]


def _as_rgb(crop: np.ndarray, source: np.ndarray | Image.Image) -> np.ndarray:
    """A crop in RGB order: arrays are BGR (or gray), Pillow images RGB (or L)."""
    if crop.ndim == 2:
        return np.repeat(crop[:, :, None], 3, axis=2)
    return crop if not isinstance(source, np.ndarray) else crop[:, :, ::-1]


def fast_preprocess(pre: Preprocess, images: Sequence[np.ndarray | Image.Image]) -> np.ndarray:
    """Stack frames into the float32 ``(N, 3, size, size)`` batch ``pre(images)`` would give.

    ``images`` are BGR uint8 arrays (HxWx3, or HxW gray), or Pillow images in RGB or L mode; a batch
    may mix them.

    Raises:
        ValueError: ``pre`` crops more than it resizes (torchvision pads then); use ``pre(images)``.
    """
    if not supports(pre):
        raise ValueError("a crop larger than the resize pads the image; use Preprocess.__call__ for it")
    crops = np.stack([_as_rgb(resize_crop(im, pre), im) for im in images])
    if not pre.rgb:
        crops = crops[:, :, :, ::-1]
    batch = crops.transpose(0, 3, 1, 2).astype(np.float32, order="C")
    batch /= np.float32(255.0)  # ToTensor: float32 division, bit for bit
    if pre.mean != (0.0, 0.0, 0.0) or pre.std != (1.0, 1.0, 1.0):
        mean = np.asarray(pre.mean, np.float32).reshape(1, 3, 1, 1)
        std = np.asarray(pre.std, np.float32).reshape(1, 3, 1, 1)
        batch -= mean
        batch /= std
    return batch
