"""Knowledge distillation: a teacher's soft labels (:mod:`~yolo_probs.distill.soft_labels`), the loss
(:mod:`~yolo_probs.distill.loss`), the frozen teacher (:mod:`~yolo_probs.distill.teacher`) and the
training run on Ultralytics' trainer (:mod:`~yolo_probs.distill.train`).

Example:
    >>> from yolo_probs.distill import DEFAULT_ALPHA
    >>> DEFAULT_ALPHA
    0.9
"""

from __future__ import annotations

from yolo_probs.distill.loss import DEFAULT_ALPHA, DistillationLoss, check_alpha, distillation_loss
from yolo_probs.distill.teacher import Teacher
from yolo_probs.distill.train import DistillEpoch, DistillResult, check_distill_data, distill

__all__ = [
    "DEFAULT_ALPHA",
    "DistillEpoch",
    "DistillResult",
    "DistillationLoss",
    "Teacher",
    "check_alpha",
    "check_distill_data",
    "distill",
    "distillation_loss",
]
