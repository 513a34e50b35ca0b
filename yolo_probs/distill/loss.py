"""The knowledge-distillation loss (Hinton et al. 2015), as Ultralytics' trainer calls it.

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy

At a high temperature T the teacher's small probabilities (that a 3 looks a bit like an 8) carry
information that hard labels do not; the T^2 factor keeps the soft term's gradients on the scale of
the hard term's as T changes.

Example:
    >>> import torch
    >>> student, teacher = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[3.0, 1.0, -2.0]])
    >>> total, parts = distillation_loss(student, teacher, torch.tensor([0]), temperature=4.0, alpha=0.5)
    >>> sorted(parts), round(float(total), 4)
    (['ce', 'kd', 'loss'], 0.2288)
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

from yolo_probs.core.probs import check_temperature
from yolo_probs.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import torch

__all__ = ["DEFAULT_ALPHA", "DistillationLoss", "check_alpha", "distillation_loss"]

#: Weight of the soft (teacher) term; 1 - alpha weighs the cross-entropy with the true labels.
DEFAULT_ALPHA = 0.9  # Hinton et al.: a considerably lower weight on the hard-label term works best


def check_alpha(alpha: Any) -> float:
    """Return ``alpha`` as a float if it is a number in [0, 1], else raise :class:`ConfigError`.

    Example:
        >>> check_alpha(0.7)
        0.7
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0.0 <= float(alpha) <= 1.0:
        raise ConfigError(
            f"alpha (the weight of the teacher's soft term) must be in [0, 1], got {alpha!r}; pass e.g. 0.5",
            option="alpha",
        )
    return float(alpha)


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float,
    alpha: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)``, batch mean.

    Args:
        student_logits: ``(N, C)`` raw student logits (gradients flow through them).
        teacher_logits: ``(N, C)`` raw teacher logits (detached; ``-inf`` entries, from an export whose
            probability underflowed, count as probability 0).
        labels: ``(N,)`` class indices.
        temperature: T > 0, applied to both.
        alpha: weight of the soft term, in [0, 1].

    Returns:
        The loss, and its detached parts: ``loss``, ``kd`` (the T^2-scaled KL term) and ``ce``.
    """
    import torch
    import torch.nn.functional as F

    t, a = check_temperature(temperature), check_alpha(alpha)
    if student_logits.shape != teacher_logits.shape:
        raise ModelError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ; "
            "teacher and student need the same classes",
            option="student",
        )
    s = student_logits.float()
    log_q = F.log_softmax(s / t, dim=1)
    log_p = F.log_softmax(teacher_logits.detach().float() / t, dim=1)
    p = log_p.exp()
    kl = torch.where(p > 0, p * (log_p - log_q), torch.zeros_like(p)).sum(dim=1).mean()
    kd = kl * (t * t)
    ce = F.cross_entropy(s, labels.long())
    total = a * kd + (1.0 - a) * ce
    return total, {"loss": total.detach(), "kd": kd.detach(), "ce": ce.detach()}


class DistillationLoss:
    """The criterion Ultralytics' ``ClassificationModel.loss`` calls: ``(preds, batch) -> (loss, parts)``.

    It reads the teacher's logits from ``batch["teacher_logits"]`` (the trainer puts them there), so it
    holds no model and copies cheaply into Ultralytics' EMA.

    Example:
        >>> import torch
        >>> loss = DistillationLoss(temperature=2.0, alpha=0.0)
        >>> total, _ = loss(torch.zeros(2, 3), {"cls": torch.tensor([0, 1]), "teacher_logits": torch.ones(2, 3)})
        >>> round(float(total), 4)  # alpha 0: plain cross-entropy, log(3)
        1.0986
    """

    def __init__(self, temperature: float, alpha: float) -> None:
        self.temperature = check_temperature(temperature)
        self.alpha = check_alpha(alpha)

    def __call__(self, preds: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = preds[1] if isinstance(preds, list | tuple) else preds  # eval mode gives (softmax, logits)
        teacher = batch.get("teacher_logits")
        if teacher is None:
            raise ModelError(
                "the distillation loss needs batch['teacher_logits']; train with yolo_probs.distill.distill"
            )
        return distillation_loss(logits, teacher, batch["cls"], temperature=self.temperature, alpha=self.alpha)
