"""The calibration workflow as library functions: :func:`calibrate` and :func:`evaluate`.

Both read an Ultralytics classification folder (``DATA/<class>/*.jpg`` or ``DATA/<split>/<class>/...``),
collect the classifier's logits (unreadable images are skipped and counted) and score the
probabilities before (T = 1) and after calibration. They return result objects; the CLI only prints
them, and :meth:`CalibrationResult.to_profile` turns a calibration into a deployment profile. Nothing
here prints: warnings are collected in ``result.warnings``.

Example:
    >>> import pathlib, shutil, tempfile
    >>> from yolo_probs import YoloProbs, calibrate
    >>> data = pathlib.Path(tempfile.mkdtemp())  # a tiny labelled folder: DATA/<class>/*.png
    >>> for image, label in [("digit_3", "3"), ("digit_5", "5"), ("digit_7", "7"), ("hard_3", "8")]:
    ...     (data / label).mkdir(exist_ok=True)
    ...     _ = shutil.copy(f"examples/images/{image}.png", data / label)
    >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt") as clf:
    ...     result = calibrate(clf, data)
    >>> result.calibrator.method, result.after.nll < result.before.nll, result.warnings[0][:30]
    ('temperature', True, 'only 4 labelled samples: the f')
    >>> result.to_profile("examples/models/digits-yolo26n-cls.pt", name="demo").temperature > 1
    True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from yolo_probs.api.fit import build_profile, fit_quietly
from yolo_probs.api.profile import Profile
from yolo_probs.calibration import CALIBRATORS, SELECTORS
from yolo_probs.core.checks import check_callable, check_mapping, check_text, describe
from yolo_probs.core.metrics import BINNING, DEFAULT_BINS, CalibrationReport, check_bins, evaluate_logits
from yolo_probs.decisions import DECISIONS
from yolo_probs.errors import ConfigError, SourceError
from yolo_probs.inputs.labelled import LabelledFolder, load_labelled_folder

if TYPE_CHECKING:
    from yolo_probs.api.model import YoloProbs
    from yolo_probs.calibration import Calibrator

__all__ = ["CalibrationResult", "CollectedLogits", "EvaluationResult", "calibrate", "collect_logits", "evaluate"]


@dataclass(frozen=True)
class CollectedLogits:
    """Logits of the readable images of a :class:`LabelledFolder`; ``failures`` are the one-line skip reasons.

    ``features`` are the ``(N, D)`` inputs of the final layer when they were asked for (else None).
    """

    logits: np.ndarray
    labels: np.ndarray
    files: list[str]
    failures: list[str]
    features: np.ndarray | None = None


def collect_logits(
    model: Any,
    folder: str | os.PathLike[str] | LabelledFolder,
    progress: Callable[[int], None] | None = None,
    *,
    features: bool = False,
    split: str = "val",
) -> CollectedLogits:
    """The logits (and, with ``features``, the final layer's inputs) of a labelled folder's images, with their labels.

    The arrays every fit of :mod:`yolo_probs.api.fit` starts from: collect them once (e.g. save them with
    ``numpy.savez``) and fit calibrators and decisions from them as often as you like, without the model.

    Args:
        model: a :class:`~yolo_probs.api.model.YoloProbs` (its calibrator is not used: logits are raw).
        folder: a folder of class folders (``DATA/<class>/*.jpg``), a dataset root holding ``split``, or a
            loaded :class:`~yolo_probs.inputs.labelled.LabelledFolder`; class folders are the model's class names.
        progress: called with 1 after each image.
        features: keep the ``(N, D)`` features entering the final layer too (None if the backend has none).
        split: the split to read when ``folder`` holds splits.

    Unreadable images are skipped and listed in ``failures`` (one line each).

    Raises:
        SourceError: no such folder, or not one image could be read.
        ConfigError: ``model``, ``folder`` or ``progress`` is not what it should be.

    Example:
        >>> import pathlib, shutil, tempfile
        >>> from yolo_probs import YoloProbs, collect_logits
        >>> data = pathlib.Path(tempfile.mkdtemp())
        >>> for image, label in [("digit_3", "3"), ("digit_5", "5"), ("hard_3", "8")]:
        ...     (data / label).mkdir()
        ...     _ = shutil.copy(f"examples/images/{image}.png", data / label)
        >>> with YoloProbs("examples/models/digits-yolo26n-cls.pt") as clf:
        ...     got = collect_logits(clf, data, features=True)
        >>> got.logits.shape, got.labels.tolist(), got.features.shape[0], got.failures
        ((3, 10), [3, 5, 8], 3, [])
    """
    _check_classifier(model, "model")
    if isinstance(folder, str | os.PathLike):
        check_text(split, "split", "'val'")
        folder = load_labelled_folder(folder, model.names, split)
    if not isinstance(folder, LabelledFolder):
        raise ConfigError(
            f"folder must be a labelled folder's path (DATA/<class>/*.jpg) or a LabelledFolder, got {describe(folder)}",
            option="folder",
        )
    check_callable(progress, "progress", "called with 1 after each image")
    label_of = dict(zip(folder.files, folder.labels.tolist(), strict=True))
    rows: list[np.ndarray] = []
    labels: list[int] = []
    files: list[str] = []
    failures: list[str] = []
    feats: list[np.ndarray | None] = []
    for item in model.predict_each(folder.files, features=features):
        if hasattr(item, "logits"):
            rows.append(np.asarray(item.logits, dtype=np.float32))
            feats.append(item.features)
            labels.append(label_of[item.source])
            files.append(item.source)
        else:
            failures.append(str(item))
        if progress is not None:
            progress(1)
    if not rows:
        raise SourceError(
            str(folder.root), f"none of its {len(folder.files)} images could be read (first: {failures[0]})"
        )
    present = [f for f in feats if f is not None]
    kept = np.stack(present).astype(np.float32) if features and len(present) == len(rows) else None
    return CollectedLogits(np.stack(rows), np.asarray(labels, dtype=np.int64), files, failures, kept)


def _where(folder: LabelledFolder) -> str:
    return f"{folder.root}" + (f" (split {folder.split})" if folder.split else "")


@dataclass
class _Scored:
    """What both results hold: the calibrator, its metrics before (T = 1) and after, and the data scored."""

    calibrator: Calibrator
    before: CalibrationReport
    after: CalibrationReport
    collected: CollectedLogits
    folder: LabelledFolder
    bins: int = DEFAULT_BINS
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """``root (split s)``: where the images came from."""
        return _where(self.folder)


@dataclass
class CalibrationResult(_Scored):
    """What :func:`calibrate` found.

    Attributes:
        calibrator: the fitted calibrator (its ``method`` and parameters go into the profile).
        before: metrics at T = 1 on the calibration images.
        after: metrics with ``calibrator``.
        collected: the logits, labels (and features, if a decision needed them) of the readable images.
        folder: the labelled folder that was read.
        bins: equal-width bins of ECE/MCE.
        details: what the method reported (e.g. the candidates a selector tried).
        warnings: one-line warnings (too few samples, a bound hit, images skipped...).
        decisions: profile entries of the decisions that were fitted (``{"ood": {...}, ...}``).
        scores: per decision, the calibration images' scores its threshold was set from (``{"ood": array}``:
            leave-one-out for ``knn``, cross-fitted for ``vim``), which the drift monitor's reference must match.
    """

    decisions: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        """The profile's ``calibration`` provenance: data, split, counts, date, binning, metrics before and after."""
        metrics = {
            name: {k: v for k, v in report.to_dict().items() if k not in ("n_bins", "binning")}
            for name, report in (("before", self.before), ("after", self.after))
        }
        return {
            "data": str(self.folder.root),
            "split": self.folder.split,
            "samples": int(self.collected.labels.size),
            "skipped": len(self.collected.failures),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),  # noqa: UP017 (explicit for readers)
            "bins": self.bins,
            "binning": BINNING,
            "method": self.calibrator.method,
            **metrics,
        }

    def to_profile(
        self,
        model: str | os.PathLike[str],
        *,
        name: str = "",
        top_k: int | None = None,
        min_prob: float | None = None,
        imgsz: int | None = None,
        engine: str | None = None,
    ) -> Profile:
        """A deployment profile for ``model`` holding this calibration (and the decisions fitted with it).

        A fitted ``reject`` decision sets ``min_prob`` to its guaranteed threshold.
        """
        return build_profile(
            model, self.calibrator, self.decisions, self.record(),
            name=name, top_k=top_k, min_prob=min_prob, imgsz=imgsz, engine=engine,
        )  # fmt: skip


@dataclass
class EvaluationResult(_Scored):
    """What :func:`evaluate` measured.

    Attributes:
        calibrator: the calibrator evaluated (the classifier's).
        before, after: metrics at T = 1 and with ``calibrator``.
        collected, folder, bins, warnings: as in :class:`CalibrationResult`.
        details: one report section per decision of the classifier's profile (``{"ood": {...}, ...}``).
    """

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``yolo-probs evaluate --format json``."""
        return {
            "data": str(self.folder.root),
            "split": self.folder.split,
            "samples": int(self.collected.labels.size),
            "skipped": len(self.collected.failures),
            "temperature": self.after.temperature,
            "method": self.calibrator.method,
            "bins": self.bins,
            "before": self.before.to_dict(),
            "after": self.after.to_dict(),
            **self.details,
        }


def _check_classifier(classifier: Any, name: str = "classifier") -> None:
    if not callable(getattr(classifier, "predict_each", None)) or not hasattr(classifier, "names"):
        raise ConfigError(
            f"{name} must be a yolo_probs.YoloProbs, got {describe(classifier)}; pass e.g. YoloProbs('model.pt')"
        )


def _check_run(classifier: Any, data: Any, split: Any, bins: Any, progress: Any) -> None:
    """The arguments :func:`calibrate` and :func:`evaluate` share, checked before minutes of inference."""
    _check_classifier(classifier)
    if not isinstance(data, str | os.PathLike | LabelledFolder):
        raise ConfigError(
            f"data must be the path of a labelled folder (DATA/<class>/*.jpg), got {describe(data)}", option="data"
        )
    check_text(split, "split", "'val'")
    check_bins(bins, "bins")
    check_callable(progress, "progress", "called with 1 after each image")


def _options_of(value: Any, name: str, example: str) -> dict[str, dict[str, Any]]:
    """``{key: {option: value}}`` per decision, as new dicts, else :class:`ConfigError` naming ``name``."""
    asked = check_mapping(value, name, example)
    for key, options in asked.items():
        asked[key] = check_mapping(options, f"{name}[{key!r}]", "{'tpr': 0.95}")
    return asked


def _skipped(collected: CollectedLogits, total: int) -> list[str]:
    if not collected.failures:
        return []
    return [f"{len(collected.failures)} of {total} images could not be read and were skipped"]


def _accuracy_drop(result: _Scored, images: str) -> list[str]:
    """A warning when a calibrator that can change the predicted class lowers accuracy."""
    cal, before, after = result.calibrator, result.before, result.after
    if not cal.changes_ranking or after.accuracy >= before.accuracy:
        return []
    return [
        f"{cal.method} calibration changes the predicted class and lowers accuracy on the {images} images from "
        f"{before.accuracy:.2%} to {after.accuracy:.2%}; check it on other labelled images or use temperature scaling"
    ]


_Result = TypeVar("_Result", bound=_Scored)


def _scored(
    kind: type[_Result],
    classifier: YoloProbs,
    data: str | os.PathLike[str] | LabelledFolder,
    *,
    split: str,
    bins: int,
    progress: Callable[[int], None] | None,
    features: bool,
    images: str,
    get_calibrator: Callable[[CollectedLogits], tuple[Calibrator, dict[str, Any], list[str]]],
) -> _Result:
    """What :func:`calibrate` and :func:`evaluate` share: read the labelled images, get the calibrator, score it.

    ``get_calibrator(collected)`` gives the calibrator, its details and its warnings; the result's
    warnings are the skipped images, those, and a drop in accuracy on the ``images`` images.
    """
    folder = data if isinstance(data, LabelledFolder) else load_labelled_folder(data, classifier.names, split)
    collected = collect_logits(classifier, folder, progress, features=features)
    found = _skipped(collected, len(folder.files))
    calibrator, details, notes = get_calibrator(collected)
    result = kind(
        calibrator=calibrator,
        before=evaluate_logits(collected.logits, collected.labels, 1.0, bins),
        after=evaluate_logits(collected.logits, collected.labels, n_bins=bins, calibrator=calibrator),
        collected=collected,
        folder=folder,
        bins=bins,
        details=details,
        warnings=found + notes,
    )
    result.warnings.extend(_accuracy_drop(result, images))
    return result


def _fit(method: str, collected: CollectedLogits) -> tuple[Calibrator, dict[str, Any], list[str]]:
    """Fit ``method``; its :class:`CalibrationWarning` lines are returned, other warnings go on as warnings."""
    return fit_quietly(method, collected.logits, collected.labels)


def calibrate(
    classifier: YoloProbs,
    data: str | os.PathLike[str] | LabelledFolder,
    *,
    split: str = "val",
    method: str = "temperature",
    bins: int = DEFAULT_BINS,
    decisions: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> CalibrationResult:
    """Fit a calibrator (and the asked-for decisions) on the labelled images of ``data``.

    Args:
        classifier: the model to calibrate (its current calibrator and decision rules are not used).
        data: a folder of class folders, or a dataset root holding ``split`` (or a loaded
            :class:`~yolo_probs.inputs.labelled.LabelledFolder`).
        split: the split to fit on when ``data`` holds splits.
        method: a calibration method (``"temperature"`` or another registered one, see
            :mod:`yolo_probs.calibration`).
        bins: equal-width bins of ECE/MCE.
        decisions: ``{key: options}`` of registered decisions to fit (see :mod:`yolo_probs.decisions`).
        progress: called with 1 after each image.

    Raises:
        SourceError: no such folder, or not one image could be read.
        ConfigError: degenerate data for the fit, an unknown method or decision.
    """
    _check_run(classifier, data, split, bins, progress)
    check_text(method, "method", "'temperature'")
    if method not in CALIBRATORS and method not in SELECTORS:  # before minutes of inference
        known = ", ".join(dict.fromkeys([*CALIBRATORS, *SELECTORS]))
        raise ConfigError(f"unknown calibration method {method!r}; choose one of {known}", option="method")
    asked = _options_of(decisions, "decisions", "{'ood': {'tpr': 0.95}}")
    unknown = sorted(k for k in asked if k not in DECISIONS or DECISIONS[k].fit is None)
    if unknown:
        raise ConfigError(f"unknown decisions {', '.join(unknown)}; known: {', '.join(DECISIONS) or 'none'}")
    result = _scored(
        CalibrationResult,
        classifier,
        data,
        split=split,
        bins=bins,
        progress=progress,
        features=any(DECISIONS[k].fit_needs_features for k in asked),
        images="calibration",
        get_calibrator=lambda collected: _fit(method, collected),
    )
    for key, options in asked.items():
        fit = DECISIONS[key].fit
        assert fit is not None
        result.decisions[key] = fit(options, result, classifier)
    return result


def evaluate(
    classifier: YoloProbs,
    data: str | os.PathLike[str] | LabelledFolder,
    *,
    split: str = "test",
    bins: int = DEFAULT_BINS,
    profile: Profile | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EvaluationResult:
    """Score the classifier's calibrator (and its profile's decisions) on labelled images of ``data``.

    Args:
        classifier: the model, with the calibrator to evaluate.
        data: a folder of class folders, or a dataset root holding ``split`` (or a loaded
            :class:`~yolo_probs.inputs.labelled.LabelledFolder`).
        split: the split to evaluate when ``data`` holds splits.
        bins: equal-width bins of ECE/MCE.
        profile: the profile the classifier came from; its ``decisions`` are evaluated too.
        options: per-decision evaluation options (e.g. ``{"ood": {"ood_data": "unknowns/"}}``).
        progress: called with 1 after each image.
    """
    _check_run(classifier, data, split, bins, progress)
    if profile is not None and not isinstance(profile, Profile):
        raise ConfigError(
            f"profile must be a Profile (yolo_probs.load_profile(path)) or None, got {describe(profile)}",
            option="profile",
        )
    options = _options_of(options, "options", "{'ood': {'ood_data': 'unknowns/'}}")
    entries = (profile.decisions if profile is not None else None) or {}
    missing = sorted(k for k in options if k not in entries)
    if missing:  # before minutes of inference
        raise ConfigError(
            f"the profile has no {', '.join(missing)} entry to evaluate; calibrate with it first",
            option={"ood": "ood_tpr", "conformal": "conformal", "reject": "target_accuracy"}.get(missing[0]),
        )
    result = _scored(
        EvaluationResult,
        classifier,
        data,
        split=split,
        bins=bins,
        progress=progress,
        features=classifier.wants_features,
        images="evaluation",
        get_calibrator=lambda _: (classifier.calibrator, {}, []),
    )
    for key, kind in DECISIONS.items():
        if key in entries and kind.evaluate is not None:
            result.details[key] = kind.evaluate(entries[key], result, classifier, options.get(key, {}))
    return result
