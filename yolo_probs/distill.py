"""Knowledge distillation: train a small student classifier on a teacher's softened probabilities.

Hinton et al. (2015): at a high temperature T the teacher's small probabilities (that a 3 looks a bit
like an 8) carry information that hard labels do not. The student is trained by Ultralytics' own
classification trainer (its data loading, augmentation, schedule and checkpoints) with the loss

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy,

where the teacher (eval mode, no gradients) sees the same augmented batch as the student, resized to
its own input size when the student trains at another one. The T^2 factor keeps the soft term's
gradients on the scale of the hard term's as T changes. The result is an ordinary Ultralytics
checkpoint with the teacher's class names and order.

Example:
    >>> import torch
    >>> from yolo_probs.distill import distillation_loss
    >>> student, teacher = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[3.0, 1.0, -2.0]])
    >>> total, parts = distillation_loss(student, teacher, torch.tensor([0]), temperature=4.0, alpha=0.5)
    >>> sorted(parts), round(float(total), 4)
    (['ce', 'kd', 'loss'], 0.2288)
"""

from __future__ import annotations

import contextlib
import numbers
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolo_probs.errors import ConfigError, ModelError, SourceError, YoloProbsError, first_line
from yolo_probs.probs import check_temperature

if TYPE_CHECKING:
    import torch

    from yolo_probs.model import YoloProbs

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

#: Weight of the soft (teacher) term; 1 - alpha weighs the cross-entropy with the true labels.
DEFAULT_ALPHA = 0.9  # Hinton et al.: a considerably lower weight on the hard-label term works best
VAL_SPLITS = ("val", "validation", "valid")  # the names Ultralytics accepts for the validation split
# Set by distill() itself; passing them in **train_args would be ambiguous.
_OWN_ARGS = ("model", "data", "epochs", "imgsz", "batch", "device", "seed", "task", "mode")


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
            raise ModelError("the distillation loss needs batch['teacher_logits']; train with yolo_probs.distill")
        return distillation_loss(logits, teacher, batch["cls"], temperature=self.temperature, alpha=self.alpha)


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
    """A frozen teacher: any model :class:`~yolo_probs.model.YoloProbs` loads, run on training batches.

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
        from yolo_probs.model import YoloProbs

        try:
            self.clf = YoloProbs(model, device=device, temperature=1.0)
        except YoloProbsError as exc:
            kind = ModelError if isinstance(exc, ModelError) else ConfigError
            raise kind(f"teacher: {exc}", option="teacher") from None
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


def _class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_distill_data(data: str | os.PathLike[str], names: Sequence[str]) -> tuple[Path, Path]:
    """Check a dataset root for training: ``train/`` and ``val/`` class folders that match ``names``.

    Ultralytics numbers the classes by their sorted folder names, so the ``train`` folders must be
    exactly the teacher's classes, and sort into the teacher's order; ``val`` may lack some classes.

    Returns:
        The ``train`` and validation folders.

    Raises:
        SourceError: the root, a split or a class is missing, or the order differs from the teacher's.

    Example:
        >>> check_distill_data("no/such/data", ["0", "1"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        yolo_probs.errors.SourceError: no/such/data: no such folder; pass a dataset root with train/<class>/...
    """
    layout = "pass a dataset root with train/<class>/... and val/<class>/..."
    root = Path(data)
    if not root.is_dir():
        raise SourceError(str(root), f"no such folder; {layout}")
    train = root / "train"
    val = next((root / s for s in VAL_SPLITS if (root / s).is_dir()), None)
    missing = [s for s, f in (("train", train.is_dir()), ("val", val is not None)) if not f]
    if missing:
        raise SourceError(str(root), f"has no {' and no '.join(m + '/' for m in missing)} split; {layout}")
    assert val is not None
    want = [str(n) for n in names]
    found = _class_folders(train)
    if set(found) != set(want):
        extra, lacking = sorted(set(found) - set(want)), [n for n in want if n not in set(found)]
        parts = ([f"not classes of the teacher: {', '.join(extra)}"] if extra else []) + (
            [f"missing: {', '.join(lacking)}"] if lacking else []
        )
        raise SourceError(
            str(train),
            f"its class folders must be the teacher's classes ({'; '.join(parts)}); "
            "rename the folders to the teacher's class names",
        )
    if found != want:
        raise SourceError(
            str(train),
            f"Ultralytics numbers classes by sorted folder name ({', '.join(found[:10])}...), but the teacher's "
            f"order is {', '.join(want[:10])}...; the student would not keep the teacher's order",
        )
    stray = [n for n in _class_folders(val) if n not in set(want)]
    if stray:
        raise SourceError(str(val), f"class folders {', '.join(stray)} are not classes of the teacher")
    return train, val


@dataclass(frozen=True)
class DistillEpoch:
    """Progress after one epoch: 1-based ``epoch`` of ``epochs``, mean training losses and validation metrics.

    ``final`` is True for the last report, the validation of the best checkpoint.
    """

    epoch: int
    epochs: int
    losses: dict[str, float]
    metrics: dict[str, float]
    final: bool = False


@dataclass(frozen=True)
class DistillResult:
    """What :func:`distill` wrote.

    Attributes:
        path: the student checkpoint (an ordinary Ultralytics ``.pt``).
        names: its class names, the teacher's.
        temperature, alpha, epochs, imgsz: the training settings.
        teacher_imgsz: the size the teacher saw the batches at.
        metrics: the final validation of the written checkpoint (``metrics/accuracy_top1``...).
        run_dir: Ultralytics' run folder when kept (``project=`` given), else None.
    """

    path: Path
    names: tuple[str, ...]
    temperature: float
    alpha: float
    epochs: int
    imgsz: int
    teacher_imgsz: int | None
    metrics: dict[str, float] = field(default_factory=dict)
    run_dir: Path | None = None


def _check_whole(value: Any, what: str, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ConfigError(f"{what} must be a whole number >= 1, got {value!r}", option=option)
    return int(value)


def _check_student(student: Any, names: tuple[str, ...]) -> None:
    """A ``.pt`` student must be a classifier with the teacher's classes; a YAML is built with them."""
    from yolo_probs.backends.ultralytics import load_classifier

    try:
        yolo = load_classifier(student)
    except YoloProbsError as exc:
        raise ModelError(f"student: {exc}", option="student") from None
    spec = os.fspath(student) if isinstance(student, str | os.PathLike) else ""
    if spec.lower().endswith((".yaml", ".yml")):
        return  # its nc is a template default: Ultralytics builds it with the dataset's (the teacher's) classes
    own = tuple(str(v) for v in yolo.names.values())
    if len(own) != len(names):
        raise ModelError(
            f"the student {spec or 'model'} has {len(own)} classes but the teacher has {len(names)}; "
            "pass a student with the teacher's classes, or a model YAML (built with them)",
            option="student",
        )
    if own != names:
        raise ModelError(
            f"the student's class names ({', '.join(own[:10])}) differ from the teacher's ({', '.join(names[:10])}); "
            "pass a student with the teacher's classes in the teacher's order, or a model YAML",
            option="student",
        )


def _claim(output: Path, protect: Sequence[Any]) -> bool:
    from yolo_probs._paths import claim_output

    if output.suffix.lower() != ".pt":
        raise ConfigError(f"output {output} must end in .pt (an Ultralytics checkpoint)", option="output")
    target = output.resolve()
    for p in protect:
        if isinstance(p, str | os.PathLike) and Path(p).exists() and Path(p).resolve() == target:
            raise ConfigError(f"output {output} is one of the inputs; choose another file name", option="output")
    try:
        return claim_output(output, "output")
    except ConfigError as exc:
        raise ConfigError(str(exc), option="output") from None


def distill(
    data: str | os.PathLike[str],
    *,
    teacher: Any,
    student: str | os.PathLike[str],
    output: str | os.PathLike[str],
    temperature: float,
    alpha: float = DEFAULT_ALPHA,
    epochs: int = 10,
    imgsz: int | None = None,
    batch: int = 16,
    device: str | None = None,
    seed: int = 0,
    teacher_imgsz: int | None = None,
    progress: Callable[[DistillEpoch], None] | None = None,
    **train_args: Any,
) -> DistillResult:
    """Train ``student`` on ``data`` with Ultralytics' classification trainer and the distillation loss.

    Args:
        data: dataset root with ``train/<class>/`` and ``val/<class>/`` image folders (Ultralytics' layout).
        teacher: the teacher: an Ultralytics ``-cls`` checkpoint, or anything :class:`YoloProbs` loads.
        student: a model YAML (``yolo26n-cls.yaml``, or your own narrower one) or a ``.pt`` classifier
            with the teacher's classes.
        output: where to write the student checkpoint (``.pt``; the best epoch by validation top-1).
        temperature: T > 0 for both teacher and student in the soft term (2 to 8 is usual).
        alpha: weight of the soft term in [0, 1]; 0 is plain training on the labels.
        epochs, batch, seed, device: Ultralytics training arguments.
        imgsz: the student's input size; None: the teacher's own (224 if unknown).
        teacher_imgsz: the size batches are resized to for the teacher; None: the teacher's own.
        progress: called after every epoch with a :class:`DistillEpoch`.
        **train_args: any other Ultralytics training argument (``lr0``, ``fliplr``, ``workers``,
            ``fraction``, ``project`` to keep the run folder, ...).

    Returns:
        A :class:`DistillResult`; the checkpoint loads in ``YoloProbs`` and ``ultralytics.YOLO``.

    Raises:
        ConfigError: T <= 0, alpha outside [0, 1], a bad size or count, an unwritable ``output``.
        ModelError: the teacher or student is not a classifier, or their classes differ.
        SourceError: ``data`` lacks ``train``/``val`` or its classes are not the teacher's.

    Example:
        >>> distill("examples/data/digits", teacher="examples/models/digits-yolo26n-cls.pt",
        ...         student="yolo26n-cls.yaml", output="student.pt", temperature=0)
        Traceback (most recent call last):
        ...
        yolo_probs.errors.ConfigError: temperature must be a finite number > 0, got 0; pass e.g. 1.5
    """
    t = check_temperature(temperature)
    a = check_alpha(alpha)
    epochs = _check_whole(epochs, "epochs", "epochs")
    batch = _check_whole(batch, "batch", "batch")
    if imgsz is not None:
        imgsz = _check_whole(imgsz, "imgsz", "imgsz")
    if teacher_imgsz is not None:
        teacher_imgsz = _check_whole(teacher_imgsz, "teacher_imgsz", "imgsz")
    given = sorted(set(train_args) & set(_OWN_ARGS))
    if given:
        raise ConfigError(f"pass {', '.join(given)} as distill()'s own arguments, not as Ultralytics arguments")
    if device is not None and ("," in str(device) or str(device).strip() == "-1"):
        raise ConfigError(
            f"distillation runs on one device; got device={device!r}, pass e.g. 0 or cpu", option="device"
        )
    if not Path(data).is_dir():  # before loading any model: the cheapest check first
        check_distill_data(data, [])
    out = Path(output)
    existed = _claim(out, [teacher, student, data])
    done = False
    teach: Teacher | None = None
    try:
        teach = Teacher(teacher, device=device, imgsz=teacher_imgsz)
        check_distill_data(data, teach.names)
        _check_student(student, teach.names)
        size = imgsz or teach.imgsz or 224
        result = _train(data, teach, student, out, t, a, epochs, size, batch, device, seed, progress, train_args)
        done = True
        return result
    finally:
        if teach is not None:
            teach.close()
        if not done and not existed:
            out.unlink(missing_ok=True)


def _train(
    data: str | os.PathLike[str],
    teacher: Teacher,
    student: str | os.PathLike[str],
    out: Path,
    temperature: float,
    alpha: float,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str | None,
    seed: int,
    progress: Callable[[DistillEpoch], None] | None,
    train_args: dict[str, Any],
) -> DistillResult:
    from yolo_probs._distill_trainer import DistillationTrainer

    keep = "project" in train_args
    with contextlib.ExitStack() as stack:
        project = train_args.get("project") or stack.enter_context(tempfile.TemporaryDirectory(prefix="distill-"))
        overrides = {
            "plots": False,
            "verbose": False,
            "deterministic": True,
            "name": "distill",
            "exist_ok": not keep,
            **train_args,
            "project": str(project),
            "model": os.fspath(student),
            "data": str(Path(data).resolve()),
            "epochs": epochs,
            "imgsz": imgsz,
            "batch": batch,
            "seed": seed,
            **({"device": device} if device is not None else {}),
        }
        try:
            trainer = DistillationTrainer(overrides, teacher, DistillationLoss(temperature, alpha))
        except (SyntaxError, TypeError, ValueError) as exc:
            first = first_line(exc)
            raise ConfigError(f"Ultralytics rejected the training arguments: {first}") from None
        if progress is not None:
            trainer.add_callback("on_fit_epoch_end", _reporter(progress))
        # Ultralytics' Ray Tune callback warns on every epoch when ray is installed but not in use.
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*get_trial_id.*")
        trainer.train()
        best = trainer.best if Path(trainer.best).exists() else trainer.last
        tmp = out.with_name(f".{out.name}.tmp")
        shutil.copyfile(best, tmp)
        os.replace(tmp, out)
        final: dict[str, Any] = dict(trainer.metrics or {})
        metrics = {k: float(v) for k, v in final.items() if isinstance(v, int | float)}
        run_dir = Path(trainer.save_dir) if keep else None
    return DistillResult(
        path=out,
        names=teacher.names,
        temperature=temperature,
        alpha=alpha,
        epochs=epochs,
        imgsz=imgsz,
        teacher_imgsz=teacher.imgsz,
        metrics=metrics,
        run_dir=run_dir,
    )


def _reporter(progress: Callable[[DistillEpoch], None]) -> Callable[[Any], None]:
    def report(trainer: Any) -> None:
        losses = {k: float(v) for k, v in (trainer.tloss or {}).items()}
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, int | float)}
        final = trainer.epoch + 1 > trainer.epochs  # Ultralytics' final_eval reports at epochs + 1
        epoch = min(trainer.epoch + 1, trainer.epochs)
        progress(DistillEpoch(epoch, trainer.epochs, losses if not final else {}, metrics, final))

    return report
