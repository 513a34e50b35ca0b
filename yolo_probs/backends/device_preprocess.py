"""Ultralytics' classify preprocessing as batched tensor operations on the model's device (the GPU path).

Ultralytics resizes and crops every image with PIL on one CPU thread (about 3.7 ms per 640x480 frame),
which caps a GPU at a few hundred images per second. :class:`DevicePreprocess` uploads the uint8
frames as they are and does the rest on the device, one batch per frame size: BGR to RGB, resize the
shortest side to ``size`` with Pillow's own bilinear resampling (its filter taps, its fixed-point
weights, its rounding and its order of the two passes, so the pixels are the ones PIL gives), centre
crop (torchvision's offsets; only the cropped pixels are computed), scale to [0, 1], mean/std. The
same code runs on a CPU torch device, which is how it is tested without a GPU.

:class:`~yolo_probs.backends.ultralytics.UltralyticsBackend` uses it when the model runs on CUDA and
Ultralytics' transforms are the standard ones (:meth:`DevicePreprocess.for_predictor` says None
otherwise, and Ultralytics' own preprocessing is kept).

Example:
    >>> import numpy as np, torch
    >>> pre = DevicePreprocess(size=4)
    >>> frames = [np.full((6, 8, 3), (0, 128, 255), np.uint8), np.zeros((8, 8, 3), np.uint8)]
    >>> batch = pre(frames, torch.device("cpu"))
    >>> batch.shape, batch.dtype, [round(float(v), 3) for v in batch[0, :, 0, 0]]
    (torch.Size([2, 3, 4, 4]), torch.float32, [1.0, 0.502, 0.0])
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

__all__ = ["DevicePreprocess"]

_CHUNK_BYTES = 512 * 2**20
_PRECISION_BITS = 22  # Pillow's fixed point for 8-bit images (Resample.c: 32 - 8 - 2)


@functools.lru_cache(maxsize=64)
def _pil_taps(in_size: int, out_size: int, start: int, count: int) -> tuple[Any, Any]:
    """Pillow's bilinear taps for outputs ``start .. start + count`` of an ``in_size`` -> ``out_size`` resize.

    Returns ``(index, weight)``, both ``(count, ksize)``: input positions and Pillow's fixed-point
    integer weights (as float64), exactly as ``precompute_coeffs`` / ``normalize_coeffs_8bpc`` make them.
    """
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = 1.0 * filterscale  # the bilinear (triangle) filter has support 1
    ksize = math.ceil(support) * 2 + 1
    index = np.zeros((count, ksize), np.int64)
    weight = np.zeros((count, ksize), np.float64)
    for row, xx in enumerate(range(start, start + count)):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), in_size) - xmin
        taps = np.arange(xmax)
        k = np.maximum(0.0, 1.0 - np.abs((taps + xmin - center + 0.5) * (1.0 / filterscale)))
        total = k.sum()
        if total != 0.0:
            k = k / total
        fixed = np.where(k < 0, np.trunc(-0.5 + k * (1 << _PRECISION_BITS)), np.trunc(0.5 + k * (1 << _PRECISION_BITS)))
        index[row, :xmax] = taps + xmin
        weight[row, :xmax] = fixed
    return index, weight


@functools.lru_cache(maxsize=64)
def _pil_matrix(in_size: int, out_size: int, start: int, count: int, device: str) -> tuple[int, int, Any]:
    """The taps of :func:`_pil_taps` as ``(lo, hi, matrix)``: a dense ``(hi - lo, count)`` float64 matrix on
    ``device`` over the input positions ``lo .. hi`` that the outputs use (the crop needs fewer than all)."""
    import torch

    index, weight = _pil_taps(in_size, out_size, start, count)
    used = index[weight != 0]
    lo, hi = (int(used.min()), int(used.max()) + 1) if used.size else (0, 1)
    dense = np.zeros((count, hi - lo), np.float64)
    rows = np.repeat(np.arange(count), index.shape[1])
    keep = weight.ravel() != 0
    np.add.at(dense, (rows[keep], index.ravel()[keep] - lo), weight.ravel()[keep])
    return lo, hi, torch.as_tensor(dense.T.copy(), device=device)


def _resample_last(x: torch.Tensor, in_size: int, out_size: int, start: int, count: int) -> torch.Tensor:
    """One Pillow resampling pass along the last axis (float64 holding uint8 values), rounded as Pillow rounds.

    A matrix product: pixel values and weights are integers, so every partial sum is an integer
    below 2**53 and float64 holds it exactly, whatever order the device sums in.
    """
    import torch

    lo, hi, matrix = _pil_matrix(in_size, out_size, start, count, str(x.device))
    acc = x[..., lo:hi] @ matrix + float(1 << (_PRECISION_BITS - 1))
    # floor(acc / 2**22) is Pillow's shift, then its clip to 0..255.
    return torch.floor(acc / float(1 << _PRECISION_BITS)).clamp_(0, 255)


@dataclass(frozen=True)
class DevicePreprocess:
    """Shortest side to ``size``, centre crop ``size`` x ``size``, /255, mean/std: on a torch device.

    Attributes:
        size: side of the square model input.
        mean: per-channel (RGB) mean subtracted after scaling to [0, 1] (Ultralytics: zeros).
        std: per-channel (RGB) standard deviation (Ultralytics: ones).
        half: return float16 (for a model run in half precision); the resize is done in float64, exactly.
    """

    size: int
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    half: bool = False

    @classmethod
    def for_predictor(cls, predictor: Any) -> DevicePreprocess | None:
        """The device version of an Ultralytics classify predictor's transforms, or None if they are not standard.

        Standard means what ``classify_transforms`` builds: ``Resize(int, BILINEAR)``, ``CenterCrop``,
        ``ToTensor``, ``Normalize`` on a 3-channel model (Ultralytics splits exactly those).
        """
        import torchvision.transforms as T

        if getattr(predictor, "device_transform", None) is None:
            return None
        resize, crop, _, normalize = predictor.transforms.transforms
        size = resize.size[0] if isinstance(resize.size, (list, tuple)) and len(resize.size) == 1 else resize.size
        crop_hw = tuple(crop.size)
        if (
            not isinstance(size, int)
            or resize.interpolation != T.InterpolationMode.BILINEAR
            or resize.max_size is not None
            or crop_hw != (size, size)
        ):
            return None
        mean = tuple(float(v) for v in normalize.mean)
        std = tuple(float(v) for v in normalize.std)
        return cls(size=size, mean=mean, std=std, half=bool(getattr(predictor.model, "fp16", False)))  # type: ignore[arg-type]

    def _resize_crop(self, frames: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` float64 0..255 -> ``(N, 3, size, size)``: PIL's resize of the short side, then the crop."""
        h, w = frames.shape[-2:]
        short, long = (h, w) if h <= w else (w, h)
        new_long = int(self.size * long / short)  # torchvision's rounding of the long side
        new_h, new_w = (self.size, new_long) if h <= w else (new_long, self.size)
        top, left = round((new_h - self.size) / 2.0), round((new_w - self.size) / 2.0)  # CenterCrop's offsets
        x = frames
        # Each output pixel needs only its own row and column, so only the cropped ones are computed.
        # Pillow runs the horizontal pass first unless the height shrinks by more than twice what the
        # width does; the order matters, as each pass rounds to uint8.
        if (h - new_h) > 0 and (h - new_h) > (w - new_w) * 2:
            x = self._rows(x, h, new_h, top)
            x = self._columns(x, w, new_w, left)
        else:
            x = self._columns(x, w, new_w, left)
            x = self._rows(x, h, new_h, top)
        return x

    def _columns(self, x: torch.Tensor, w: int, new_w: int, left: int) -> torch.Tensor:
        if new_w == w:  # Pillow skips a pass that does not change the size
            return x[..., left : left + self.size]
        return _resample_last(x, w, new_w, left, self.size)

    def _rows(self, x: torch.Tensor, h: int, new_h: int, top: int) -> torch.Tensor:
        if new_h == h:
            return x[..., top : top + self.size, :]
        return _resample_last(x.transpose(-1, -2), h, new_h, top, self.size).transpose(-1, -2)

    def __call__(self, images: Sequence[np.ndarray], device: Any) -> torch.Tensor:
        """BGR uint8 ``HxWx3`` frames -> ``(N, 3, size, size)`` RGB batch on ``device``, in input order.

        Frames of one size are uploaded and resized together; a batch of mixed sizes takes one
        resize per size.
        """
        import torch

        device = torch.device(device)
        groups: dict[tuple[int, ...], list[int]] = {}  # frame shape -> positions in the batch
        for i, im in enumerate(images):
            groups.setdefault(im.shape, []).append(i)
        out = torch.empty((len(images), 3, self.size, self.size), dtype=torch.float32, device=device)
        pin = device.type == "cuda"
        for shape, same in groups.items():
            step = max(1, _CHUNK_BYTES // (8 * math.prod(shape)))  # float64 frames: about 512 MB at a time
            for k in range(0, len(same), step):
                idx = same[k : k + step]
                host = torch.from_numpy(np.ascontiguousarray(np.stack([images[i] for i in idx])))
                if pin:
                    host = host.pin_memory()
                x = host.to(device, non_blocking=pin).permute(0, 3, 1, 2).flip(1).double()  # NHWC BGR -> NCHW RGB
                out[torch.as_tensor(idx, device=device)] = self._resize_crop(x).float()
        out.div_(255.0)
        if any(self.mean) or any(s != 1.0 for s in self.std):
            mean = torch.tensor(self.mean, device=device).view(1, 3, 1, 1)
            std = torch.tensor(self.std, device=device).view(1, 3, 1, 1)
            out.sub_(mean).div_(std)
        return out.half() if self.half else out
