"""Knowledge distillation: train a small student classifier on a teacher's softened probabilities.

Hinton et al. (2015): at a high temperature T the teacher's small probabilities (that a 3 looks a bit
like an 8) carry information that hard labels do not. The student is trained by Ultralytics' own
classification trainer (its data loading, augmentation, schedule and checkpoints) with the loss

    alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * cross-entropy,

where the teacher (eval mode, no gradients) sees the same augmented batch as the student, resized to
its own input size when the student trains at another one. The T^2 factor keeps the soft term's
gradients on the scale of the hard term's as T changes. The result is an ordinary Ultralytics
checkpoint with the teacher's class names and order. The loss is in :mod:`yolo_probs.distill.loss`,
the teacher in :mod:`yolo_probs.distill.teacher`.

Example:
    >>> check_distill_data("no/such/data", ["0", "1"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    yolo_probs.errors.SourceError: no/such/data: no such folder; pass a dataset root with train/<class>/...
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolo_probs.backends.identify import is_ultralytics
from yolo_probs.backends.ultralytics import load_classifier
from yolo_probs.core.checks import check_path
from yolo_probs.core.probs import check_temperature
from yolo_probs.distill.loss import DEFAULT_ALPHA, DistillationLoss, check_alpha
from yolo_probs.distill.teacher import Teacher
from yolo_probs.errors import ConfigError, ModelError, SourceError, YoloProbsError, first_line
from yolo_probs.outputs.files import check_output, write_bytes

__all__ = ["DistillEpoch", "DistillResult", "check_distill_data", "distill"]

VAL_SPLITS = ("val", "validation", "valid")  # the names Ultralytics accepts for the validation split
# Set by distill() itself; passing them in **train_args would be ambiguous.
_OWN_ARGS = ("model", "data", "epochs", "imgsz", "batch", "device", "seed", "task", "mode")


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

    Reported once per epoch; the final validation of the best checkpoint is :attr:`DistillResult.metrics`.
    """

    epoch: int
    epochs: int
    losses: dict[str, float]
    metrics: dict[str, float]


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


def _check_output(output: Path, protect: Sequence[Any]) -> None:
    """Before training: ``output`` is a ``.pt`` path the writer can write, and none of the inputs."""
    if output.suffix.lower() != ".pt":
        raise ConfigError(f"output {output} must end in .pt (an Ultralytics checkpoint)", option="output")
    inputs = [p for p in protect if isinstance(p, str | os.PathLike)]
    check_output(output, option="output", inputs=inputs, what="a checkpoint", example="student.pt")


def _check_arguments(data: Any, teacher: Any, student: Any, output: Any, progress: Any) -> None:
    """ConfigError naming the argument whose type is wrong, before any model is loaded."""
    check_path(data, "data", "examples/data/digits")
    if teacher is None or isinstance(teacher, bool | numbers.Number):
        raise ConfigError(
            f"teacher must be a model (a checkpoint path, a YOLO object, a torch.nn.Module...), got {teacher!r}; "
            "pass e.g. 'teacher.pt'",
            option="teacher",
        )
    if not (isinstance(student, str | os.PathLike) and os.fspath(student)) and not is_ultralytics(student):
        raise ConfigError(
            f"student must be a model YAML or a .pt classifier, got {type(student).__name__}; "
            "pass e.g. 'yolo26n-cls.yaml'",
            option="student",
        )
    check_path(output, "output", "student.pt")
    if progress is not None and not callable(progress):
        raise ConfigError(f"progress must be a function or None, got {type(progress).__name__}", option="progress")


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
        progress: called once after every epoch with a :class:`DistillEpoch`.
        **train_args: any other Ultralytics training argument (``lr0``, ``fliplr``, ``workers``,
            ``fraction``, ``project`` to keep the run folder, ...). Ultralytics' own log (its INFO lines
            and progress bars) is off unless ``verbose=True``; its warnings still show.

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
    _check_arguments(data, teacher, student, output, progress)
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
    _check_output(out, [teacher, student, data])
    teach: Teacher | None = None
    with _ultralytics_log(verbose=bool(train_args.get("verbose", False))):
        try:
            teach = Teacher(teacher, device=device, imgsz=teacher_imgsz)
            check_distill_data(data, teach.names)
            _check_student(student, teach.names)
            size = imgsz or teach.imgsz or 224
            return _train(data, teach, student, out, t, a, epochs, size, batch, device, seed, progress, train_args)
        finally:
            if teach is not None:
                teach.close()


@contextlib.contextmanager
def _ultralytics_log(verbose: bool) -> Iterator[None]:
    """Ultralytics' INFO lines and progress bars off inside the block (its warnings stay), unless ``verbose``.

    Its logger prints the model table, every setting, the dataset scan and a progress bar per epoch on
    stdout; :func:`distill` reports progress through ``progress`` instead. Its bars follow the logger's level.
    """
    from ultralytics.utils import LOGGER

    level = LOGGER.level
    if not verbose:
        LOGGER.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        LOGGER.setLevel(level)


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
    from yolo_probs.distill._trainer import DistillationTrainer

    keep = "project" in train_args
    with contextlib.ExitStack() as stack:
        project = train_args.get("project") or stack.enter_context(tempfile.TemporaryDirectory(prefix="distill-"))
        own = {"epochs": epochs, "imgsz": imgsz, "batch": batch, "seed": seed, "device": device}
        overrides = _overrides(data, student, str(project), keep, own, train_args)
        try:
            trainer = DistillationTrainer(overrides, teacher, DistillationLoss(temperature, alpha))
        except (SyntaxError, TypeError, ValueError) as exc:
            raise ConfigError(f"Ultralytics rejected the training arguments: {first_line(exc)}") from None
        if progress is not None:
            trainer.add_callback("on_fit_epoch_end", _reporter(progress))
        # Ultralytics' Ray Tune callback warns on every epoch when ray is installed but not in use.
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*get_trial_id.*")
        trainer.train()
        best = trainer.best if Path(trainer.best).exists() else trainer.last
        write_bytes(out, Path(best).read_bytes(), option="output")
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


def _overrides(
    data: str | os.PathLike[str],
    student: str | os.PathLike[str],
    project: str,
    keep: bool,
    own: dict[str, Any],
    train_args: dict[str, Any],
) -> dict[str, Any]:
    """Ultralytics' training arguments: quiet, deterministic defaults, the user's ``train_args``, then ours."""
    device = own.pop("device")
    return {
        "plots": False,
        "verbose": False,
        "deterministic": True,
        "name": "distill",
        "exist_ok": not keep,
        **train_args,
        "project": project,
        "model": os.fspath(student),
        "data": str(Path(data).resolve()),
        **own,
        **({"device": device} if device is not None else {}),
    }


def _reporter(progress: Callable[[DistillEpoch], None]) -> Callable[[Any], None]:
    def report(trainer: Any) -> None:
        if trainer.epoch + 1 > trainer.epochs:  # Ultralytics' final_eval of the best checkpoint fires again
            return  # (with no losses): that is DistillResult.metrics, not an epoch
        losses = {k: float(v) for k, v in (trainer.tloss or {}).items()}
        metrics = {k: float(v) for k, v in (trainer.metrics or {}).items() if isinstance(v, int | float)}
        progress(DistillEpoch(trainer.epoch + 1, trainer.epochs, losses, metrics))

    return report
