"""Fit and evaluate all decision rules at once, on collected logits: what ``calibrate``/``evaluate`` call.

:class:`DecisionOptions` holds what the user asked for (checked before any inference);
:func:`fit_decisions` turns calibration logits, labels and features into the profile's ``decisions:``
entries (and the k-NN feature bank, written beside the profile by :meth:`DecisionFit.save`);
:func:`evaluate_decisions` scores a profile's rules on labelled images and a folder of unknowns.

Example:
    >>> import numpy as np
    >>> from yolo_probs.calibration import TemperatureScaling
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(300, 3)) * 3
    >>> y = z.argmax(1)
    >>> fit = fit_decisions(z, y, None, TemperatureScaling(1.0), DecisionOptions(conformal=0.1, score="lac"), ("a", "b", "c"))
    >>> sorted(fit.entries), fit.entries["conformal"]["n"]
    (['conformal'], 300)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from yolo_probs.decisions import conformal as _cp
from yolo_probs.decisions import ood as _ood
from yolo_probs.decisions import selective as _sel
from yolo_probs.decisions._common import check_fraction
from yolo_probs.errors import ConfigError, SourceError

if TYPE_CHECKING:
    from yolo_probs.calibration import Calibrator

__all__ = [
    "DecisionFit",
    "DecisionOptions",
    "DecisionReport",
    "OODFolderWarning",
    "evaluate_decisions",
    "fit_decisions",
    "list_unknowns",
]


class OODFolderWarning(UserWarning):
    """An ``ood_data`` folder holds class folders named like the model's own classes."""


@dataclass(frozen=True)
class DecisionOptions:
    """Which decisions to fit, validated on construction (before minutes of inference).

    Attributes:
        ood_tpr: fit an unknown-input detector accepting this fraction of calibration images (None: no).
        ood_score: its score (:data:`~yolo_probs.decisions.ood.OOD_SCORES`); ``ood_k`` for ``knn``.
        conformal: fit conformal sets at this alpha (None: no); ``score``, ``randomized``,
            ``class_conditional``, ``penalty``, ``k_reg`` as in :mod:`~yolo_probs.decisions.conformal`.
        target_accuracy: choose a guaranteed reject threshold for this accuracy (None: no), at ``delta``.
    """

    ood_tpr: float | None = None
    ood_score: str = _ood.DEFAULT_SCORE
    ood_k: int = _ood.DEFAULT_K
    conformal: float | None = None
    score: str = "aps"
    randomized: bool = False
    class_conditional: bool = False
    penalty: float = _cp.DEFAULT_PENALTY
    k_reg: int = _cp.DEFAULT_K_REG
    target_accuracy: float | None = None
    delta: float = 0.1

    def __post_init__(self) -> None:
        if self.ood_tpr is not None:
            check_fraction(self.ood_tpr, "the OOD true-positive rate (ood_tpr)", option="ood_tpr")
        if self.ood_score not in _ood.OOD_SCORES:
            raise ConfigError(
                f"unknown OOD score {self.ood_score!r}; choose one of {', '.join(_ood.OOD_SCORES)}", option="ood_score"
            )
        if isinstance(self.ood_k, bool) or not isinstance(self.ood_k, int) or self.ood_k < 1:
            raise ConfigError(f"k must be a whole number >= 1, got {self.ood_k!r}", option="ood_k")
        if self.conformal is not None:
            check_fraction(self.conformal, "alpha (the conformal error level)", option="conformal")
        if self.score not in _cp.CONFORMAL_SCORES:
            raise ConfigError(
                f"unknown conformal score {self.score!r}; choose one of {', '.join(_cp.CONFORMAL_SCORES)}",
                option="score",
            )
        if self.target_accuracy is not None:
            check_fraction(self.target_accuracy, "the target accuracy", option="target_accuracy")
        check_fraction(self.delta, "delta (the risk of missing the target)", option="delta")

    @property
    def any(self) -> bool:
        """Whether any decision was asked for."""
        return self.ood_tpr is not None or self.conformal is not None or self.target_accuracy is not None

    @property
    def needs_features(self) -> bool:
        """Whether fitting needs the features entering the final layer (the k-NN score)."""
        return self.ood_tpr is not None and self.ood_score == "knn"


@dataclass
class DecisionFit:
    """The fitted entries (``decisions:`` of a profile) and what the CLI reports about them."""

    entries: dict[str, Any] = field(default_factory=dict)
    ood_fit: _ood.OODFit | None = None
    reject: _sel.RejectChoice | None = None
    curve: dict[str, np.ndarray] | None = None

    def save(self, profile_path: str | os.PathLike[str]) -> dict[str, Any]:
        """Write the k-NN bank beside the profile (``<stem>.ood-bank.npy``); the entries to store in it."""
        entries = dict(self.entries)
        if self.ood_fit is not None:
            target = Path(profile_path)
            bank = target.with_name(f"{target.stem}.ood-bank.npy") if self.ood_fit.bank is not None else None
            entries["ood"] = self.ood_fit.save(bank, target.parent)
        return entries


def fit_decisions(
    logits: np.ndarray,
    labels: np.ndarray,
    features: np.ndarray | None,
    calibrator: Calibrator,
    options: DecisionOptions,
    names: Any,
) -> DecisionFit:
    """Fit every decision ``options`` asks for, at ``calibrator`` (already fitted on these logits)."""
    fit = DecisionFit()
    z = np.asarray(logits, dtype=np.float64)
    probs = np.asarray(calibrator.probs(z), dtype=np.float64)
    at = calibrator.to_dict()
    if options.ood_tpr is not None:
        fit.ood_fit = _ood.fit_ood(
            z, calibrator, score=options.ood_score, tpr=options.ood_tpr, features=features, k=options.ood_k
        )
        fit.entries["ood"] = fit.ood_fit.entry
    if options.conformal is not None:
        entry = _cp.fit_conformal(
            probs,
            labels,
            options.conformal,
            options.score,
            penalty=options.penalty,
            k_reg=options.k_reg,
            randomized=options.randomized,
            class_conditional=options.class_conditional,
            names=names,
        )
        fit.entries["conformal"] = {**entry, "calibrator": at}
    if options.target_accuracy is not None:
        correct = probs.argmax(axis=1) == np.asarray(labels)
        fit.reject, fit.curve = _sel.choose_min_prob(
            probs.max(axis=1), correct, options.target_accuracy, options.delta
        )
        fit.entries["reject"] = fit.reject.to_entry(at)
    return fit


def list_unknowns(folder: str | os.PathLike[str], names: Any) -> list[str]:
    """The images under an ``ood_data`` folder (recursively).

    Warns (:class:`OODFolderWarning`) when sub-folders are named like the model's classes: those are
    probably not unknowns. SourceError when the folder is missing or holds no image.
    """
    from yolo_probs.sources import IMAGE_SUFFIXES

    root = Path(folder)
    if not root.is_dir():
        raise SourceError(str(root), "no such folder; pass a folder of images of no trained class")
    files = sorted(str(p) for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise SourceError(str(root), "holds no images; pass a folder of images of no trained class")
    own = sorted({p.name for p in root.iterdir() if p.is_dir()} & {str(n) for n in names})
    if own:
        warnings.warn(
            f"{root} has folders named like the model's classes ({', '.join(own[:5])}): images of trained classes "
            "are not unknowns, and count as false positives here",
            OODFolderWarning,
            stacklevel=2,
        )
    return files


@dataclass(frozen=True)
class DecisionReport:
    """What ``evaluate`` reports for a profile's decisions (None where the profile has no such entry)."""

    ood: _ood.OODReport | None = None
    conformal: _cp.ConformalReport | None = None
    reject: _sel.RejectReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k).to_dict() for k in ("ood", "conformal", "reject") if getattr(self, k) is not None}


def evaluate_decisions(
    rules: list[Any],
    logits: np.ndarray,
    labels: np.ndarray,
    probs: np.ndarray,
    names: Any,
    *,
    features: np.ndarray | None = None,
    ood_logits: np.ndarray | None = None,
    ood_probs: np.ndarray | None = None,
    ood_features: np.ndarray | None = None,
) -> DecisionReport:
    """Score the rules of a classifier (``YoloProbs.decisions``) on labelled images (and unknowns).

    ``probs`` are the classifier's calibrated probabilities of ``logits`` (the rules were checked to be
    made at its calibrator when they were built).
    """
    found: dict[str, Any] = {}
    for rule in rules:
        if isinstance(rule, _ood.OODRule) and ood_logits is not None:
            assert ood_probs is not None
            id_scores = rule.scores(logits, probs, features)
            unknown = rule.scores(ood_logits, ood_probs, ood_features)
            base = (
                _ood.ood_scores("msp", logits, probs=probs),
                _ood.ood_scores("msp", ood_logits, probs=ood_probs),
            )
            found["ood"] = _ood.evaluate_ood(rule.score, rule.threshold, id_scores, unknown, base)
        elif isinstance(rule, _cp.ConformalRule):
            found["conformal"] = _cp.evaluate_conformal(rule.entry, probs, labels, names)
        elif isinstance(rule, _sel.RejectRule):
            correct = probs.argmax(axis=1) == labels
            entry = {"min_prob": rule.min_prob, "target_accuracy": rule.target_accuracy}
            found["reject"] = _sel.evaluate_reject(entry, probs.max(axis=1), correct)
    if ood_logits is not None and "ood" not in found:
        raise ConfigError(
            "the profile has no unknown-input detector to evaluate; calibrate one first (e.g. at a TPR of 0.95)",
            option="ood_tpr",
        )
    return DecisionReport(**found)
