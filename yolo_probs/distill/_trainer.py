"""Ultralytics' classification trainer with the distillation loss: imported only when a student is trained.

The trainer is Ultralytics' own (data loading, augmentation, schedule, EMA, checkpoints); the changes
are small and local:

- the student's ``criterion`` (what ``ClassificationModel.loss`` calls) is a
  :class:`~yolo_probs.distill.loss.DistillationLoss` instead of ``v8ClassificationLoss``;
- ``preprocess_batch`` (training) and the validator's ``preprocess`` (validation during training) add
  ``batch["teacher_logits"]``: the teacher run on the same augmented images, in eval mode, without
  gradients.

Ultralytics strips ``criterion`` from every checkpoint it saves, so the result is a plain
``ClassificationModel`` checkpoint that does not need yolo-probs to load.
"""

from __future__ import annotations

from copy import copy
from typing import Any

from ultralytics.models.yolo.classify import ClassificationTrainer, ClassificationValidator

from yolo_probs.distill.loss import DistillationLoss
from yolo_probs.distill.teacher import Teacher


class DistillationValidator(ClassificationValidator):
    """Ultralytics' classification validator that also gives the teacher's logits to the loss while training."""

    teacher: Teacher | None = None

    def preprocess(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = super().preprocess(batch)
        if self.training and self.teacher is not None:
            batch["teacher_logits"] = self.teacher.logits(batch["img"])
        return batch


class DistillationTrainer(ClassificationTrainer):
    """Ultralytics' ``ClassificationTrainer`` whose loss is :class:`~yolo_probs.distill.loss.DistillationLoss`.

    Args:
        overrides: Ultralytics training arguments (``model`` is the student, ``data`` the dataset root).
        teacher: the frozen teacher.
        criterion: the distillation loss (temperature and alpha).
    """

    def __init__(self, overrides: dict[str, Any], teacher: Teacher, criterion: DistillationLoss) -> None:
        self.teacher = teacher
        self.criterion = criterion
        super().__init__(overrides=overrides)

    def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> Any:
        model = super().get_model(cfg=cfg, weights=weights, verbose=verbose)
        model.criterion = self.criterion  # read by BaseModel.loss; copied into the EMA; stripped on save
        return model

    def preprocess_batch(self, batch: dict[str, Any]) -> dict[str, Any]:
        batch = super().preprocess_batch(batch)
        batch["teacher_logits"] = self.teacher.logits(batch["img"])
        return batch

    def get_validator(self) -> DistillationValidator:
        validator = DistillationValidator(
            self.test_loader, self.save_dir, args=copy(self.args), _callbacks=self.callbacks
        )
        validator.teacher = self.teacher
        return validator
