"""The frozen teacher of a distillation run: any model :class:`~yolo_probs.api.model.YoloProbs` loads.

Example:
    >>> teacher = Teacher("examples/models/digits-yolo26n-cls.pt", device="cpu")
    >>> teacher.names[:3], teacher.imgsz
    (('0', '1', '2'), 64)
    >>> teacher.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from yolo_probs.api.model import YoloProbs
from yolo_probs.errors import ConfigError, ModelError, YoloProbsError

if TYPE_CHECKING:
    import torch

__all__ = ["Teacher"]


def _own_imgsz(clf: YoloProbs) -> int | None:
    """The input size a teacher was trained at (Ultralytics) or is preprocessed to (other backends)."""
    yolo = getattr(clf.backend, "yolo", None)
    size = None
    if yolo is not None:
        size = yolo.overrides.get("imgsz")
    else:
        size = getattr(getattr(clf.backend, "preprocess", None), "size", None)
    if isinstance(size, list | tuple):
        size = max(size)
    return int(size) if isinstance(size, int | float) and size > 0 else None


class Teacher:
    """A frozen teacher: any model :class:`~yolo_probs.api.model.YoloProbs` loads, run on training batches.

    Args:
        model: checkpoint path, ``YOLO`` object, ``torch.nn.Module``, export... (what ``YoloProbs`` takes).
        device: where the teacher runs (the trainer's device); None lets the backend choose.
        imgsz: the teacher's input size; batches of another size are resized to it (bilinear,
            antialiased). None: the teacher's own (its checkpoint's training size).

    :meth:`logits` takes a training batch as Ultralytics builds it (RGB floats in [0, 1]) and returns
    the teacher's raw logits on the batch's device. Ultralytics teachers get the batch as is (their
    own input convention); other backends get their recorded mean/std and channel order applied.

    Raises:
        ModelError: the teacher cannot be loaded or is not a classifier (``option="teacher"``).
    """

    def __init__(self, model: Any, *, device: str | None = None, imgsz: int | None = None) -> None:
        try:
            self.clf = YoloProbs(model, device=device, temperature=1.0)
        except YoloProbsError as exc:
            kind = ModelError if isinstance(exc, ModelError) else ConfigError
            raise kind(f"teacher: {exc}", option="teacher") from None
        if self.clf.task != "classify":
            self.clf.close()
            raise ModelError(
                f"teacher: {model} is a {self.clf.task!r} model, not a classifier; distil from a classifier "
                "(an Ultralytics -cls model or any PyTorch classifier)",
                option="teacher",
            )
        self.names: tuple[str, ...] = self.clf.names
        self.imgsz = imgsz or _own_imgsz(self.clf)
        self.preprocess = None if hasattr(self.clf.backend, "yolo") else getattr(self.clf.backend, "preprocess", None)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """The teacher's ``(N, C)`` logits for a batch of RGB images in [0, 1], ``(N, 3, H, W)``; no gradients."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            x = images.detach().float()
            if self.imgsz is not None and tuple(x.shape[-2:]) != (self.imgsz, self.imgsz):
                x = F.interpolate(
                    x, size=(self.imgsz, self.imgsz), mode="bilinear", antialias=True, align_corners=False
                )
            pre = self.preprocess
            if pre is not None:
                mean, std = (pre.mean, pre.std) if pre.rgb else (pre.mean[::-1], pre.std[::-1])
                x = (x - x.new_tensor(mean).view(1, 3, 1, 1)) / x.new_tensor(std).view(1, 3, 1, 1)
                if not pre.rgb:
                    x = x.flip(1)
            out = self.clf.backend.run_tensor(x)
        return torch.from_numpy(out.logits).to(images.device)

    def close(self) -> None:
        """Release the teacher's backend."""
        self.clf.close()
